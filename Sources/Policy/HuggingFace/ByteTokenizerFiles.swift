// Hugging Face tokenizer files that encode and decode exactly as the byte
// tokenizer does: a byte-level BPE with no merges whose vocabulary gives byte
// b the id b (written in GPT-2's byte alphabet), and pad, bos, eos as special
// added tokens at the config's ids. `split_special_tokens` keeps transformers
// from reading "<|bos|>" typed in a prompt as the special id, which the byte
// tokenizer never does; the post-processor puts bos first, as the policy's
// prompts have it.

import Foundation

public enum ByteTokenizerFiles {
    /// The special tokens' text, in pad, bos, eos order.
    public static let specialTokens = ["<|pad|>", "<|bos|>", "<|eos|>"]

    /// tokenizer.json, tokenizer_config.json and special_tokens_map.json for `config`.
    public static func files(for config: ModelConfig) -> [String: Data] {
        let (pad, bos, eos) = (specialTokens[0], specialTokens[1], specialTokens[2])
        let ids = [config.padTokenId, config.bosTokenId, config.eosTokenId]
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(ByteLevelAlphabet.characters[b])] = b }
        let added: [[String: Any]] = zip(ids, specialTokens).sorted { $0.0 < $1.0 }.map { id, content in
            [
                "id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": true,
            ]
        }
        let byteLevel: [String: Any] = [
            "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
            "use_regex": false,
        ]
        func piece(_ kind: String, _ id: String) -> [String: Any] { [kind: ["id": id, "type_id": 0]] }
        let template: [String: Any] = [
            "type": "TemplateProcessing",
            "single": [piece("SpecialToken", bos), piece("Sequence", "A")],
            "pair": [piece("SpecialToken", bos), piece("Sequence", "A"), piece("Sequence", "B")],
            "special_tokens": [bos: ["id": bos, "ids": [config.bosTokenId], "tokens": [bos]]],
        ]
        let tokenizer: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": NSNull(), "pre_tokenizer": byteLevel, "post_processor": template, "decoder": byteLevel,
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": [String](),
            ] as [String: Any],
        ]
        let map = ["pad_token": pad, "bos_token": bos, "eos_token": eos]
        var settings: [String: Any] = map
        settings["tokenizer_class"] = "PreTrainedTokenizerFast"
        settings["model_max_length"] = config.maxPositionEmbeddings
        settings["split_special_tokens"] = true
        settings["clean_up_tokenization_spaces"] = false
        return [
            "tokenizer.json": HuggingFaceConfig.json(tokenizer),
            "tokenizer_config.json": HuggingFaceConfig.json(settings),
            "special_tokens_map.json": HuggingFaceConfig.json(map),
        ]
    }
}
