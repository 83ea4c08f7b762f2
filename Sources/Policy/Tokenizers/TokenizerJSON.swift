// Reads a Hugging Face tokenizer.json into a BPETokenizer, refusing by its
// key path every setting this implementation does not follow (WordPiece or
// Unigram models, byte fallback, BPE dropout, a normalizer other than NFC,
// pre-tokenizers other than ByteLevel / Split / Digits, ...), so that a
// tokenizer is either encoded exactly as `tokenizers` does or not at all.
// The post-processor is not read: the policy puts bos before a prompt itself.

import Foundation

enum TokenizerJSON {
    /// GPT-2's pattern: what ByteLevel with use_regex splits on.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// `files["tokenizer.json"]` must be there; tokenizer_config.json is read for split_special_tokens.
    static func read(files: [String: Data], source: String, pad: Int32, bos: Int32, eos: Int32) throws -> BPETokenizer {
        func fail(_ key: String?, _ message: String) -> PolicyError {
            .badConfig(file: source, key: key, message: message)
        }
        guard let data = files["tokenizer.json"],
            let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw fail(nil, "not a JSON object")
        }
        guard let model = root["model"] as? [String: Any] else { throw fail("model", "missing") }
        guard (model["type"] as? String ?? "BPE") == "BPE" else {
            throw fail("model.type", "\"\(model["type"]!)\" is not supported (only byte-level BPE)")
        }
        if let dropout = model["dropout"] as? Double, dropout > 0 {
            throw fail("model.dropout", "BPE dropout is not supported")
        }
        if model["byte_fallback"] as? Bool == true {
            throw fail("model.byte_fallback", "byte fallback is not supported")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty { throw fail("model.\(key)", "\"\(s)\" is not supported") }
        }
        guard let vocab = model["vocab"] as? [String: Int] else { throw fail("model.vocab", "must map strings to ids") }

        var added: [BPETokenizer.Vocabulary.AddedToken] = []
        var addedContent: [Int: String] = [:]
        for (i, item) in (root["added_tokens"] as? [[String: Any]] ?? []).enumerated() {
            let key = "added_tokens[\(i)]"
            guard let id = item["id"] as? Int, id >= 0, let content = item["content"] as? String else {
                throw fail(key, "needs an id and a content")
            }
            if item["single_word"] as? Bool == true { throw fail("\(key).single_word", "single_word is not supported") }
            func flag(_ key: String) -> Bool { item[key] as? Bool ?? false }
            added.append(
                .init(
                    id: Int32(id), content: Array(content.utf8), special: flag("special"),
                    normalized: flag("normalized"), lstrip: flag("lstrip"), rstrip: flag("rstrip")))
            addedContent[id] = content
        }

        let size = max(vocab.values.max() ?? -1, addedContent.keys.max() ?? -1) + 1
        var tokenBytes = [[UInt8]](repeating: [], count: size)
        var isSpecial = [Bool](repeating: false, count: size)
        var idsByBytes: [[UInt8]: Int32] = [:]
        var byteIds = [Int32](repeating: -1, count: 256)
        for (token, id) in vocab {
            guard id >= 0 else { throw fail("model.vocab", "negative id \(id) for \"\(token)\"") }
            let bytes = ByteLevelAlphabet.decode(token)
            tokenBytes[id] = bytes
            // Only strings written in the byte alphabet can come out of merging.
            if token.unicodeScalars.allSatisfy({ ByteLevelAlphabet.bytes[$0] != nil }) {
                idsByBytes[bytes] = Int32(id)
                if bytes.count == 1 { byteIds[Int(bytes[0])] = Int32(id) }
            }
        }
        for t in added {
            tokenBytes[Int(t.id)] = ByteLevelAlphabet.decode(addedContent[Int(t.id)]!)
            isSpecial[Int(t.id)] = t.special
        }
        if let missing = byteIds.firstIndex(of: -1) {
            let character = String(ByteLevelAlphabet.characters[missing])
            throw fail("model.vocab", "no token for byte \(missing) (\"\(character)\"): not a byte-level vocabulary")
        }

        var merges: [UInt64: (rank: Int32, id: Int32)] = [:]
        for (rank, item) in (model["merges"] as? [Any] ?? []).enumerated() {
            let pair: [String]
            // Older files write a merge as "left right", newer ones as ["left", "right"].
            if let s = item as? String {
                pair = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {
                pair = item as? [String] ?? []
            }
            guard pair.count == 2, let a = vocab[pair[0]], let b = vocab[pair[1]],
                let m = vocab[pair[0] + pair[1]]
            else {
                throw fail("model.merges[\(rank)]", "\"\(item)\" is not a pair of vocabulary tokens whose join is one")
            }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if merges[key] == nil { merges[key] = (Int32(rank), Int32(m)) }
        }

        let splitSpecial: Bool
        if let configData = files["tokenizer_config.json"] {
            let config = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any]
            splitSpecial = config?["split_special_tokens"] as? Bool ?? false
        } else {
            splitSpecial = false
        }
        let vocabulary = BPETokenizer.Vocabulary(
            tokenBytes: tokenBytes, isSpecial: isSpecial, byteIds: byteIds, merges: merges,
            ignoreMerges: model["ignore_merges"] as? Bool ?? false, idsByBytes: idsByBytes, addedTokens: added,
            splitSpecialTokens: splitSpecial, normalizesNFC: try normalizer(root["normalizer"], fail),
            preTokenizers: try preTokenizers(root["pre_tokenizer"], fail))
        try decoder(root["decoder"], fail)
        return BPETokenizer(pad: pad, bos: bos, eos: eos, files: files, vocabulary: vocabulary)
    }

    /// True for NFC, false for none; anything else is refused.
    private static func normalizer(_ value: Any?, _ fail: (String?, String) -> PolicyError) throws -> Bool {
        guard let n = value as? [String: Any] else { return false }
        let type = n["type"] as? String ?? "?"
        switch type {
        case "NFC": return true
        case "Sequence":
            let steps = n["normalizers"] as? [[String: Any]] ?? []
            for (i, s) in steps.enumerated() where s["type"] as? String != "NFC" {
                throw fail("normalizer.normalizers[\(i)].type", "\"\(s["type"] ?? "?")\" is not supported (only NFC)")
            }
            return !steps.isEmpty
        default: throw fail("normalizer.type", "\"\(type)\" is not supported (only NFC)")
        }
    }

    private static func preTokenizers(
        _ value: Any?, _ fail: (String?, String) -> PolicyError
    ) throws
        -> [BPETokenizer.Vocabulary.PreTokenizer]
    {
        guard let root = value as? [String: Any] else {
            throw fail("pre_tokenizer", "missing; only byte-level BPE (a ByteLevel pre-tokenizer) is supported")
        }
        var steps: [(String, [String: Any])] = [("pre_tokenizer", root)]
        if root["type"] as? String == "Sequence" {
            steps = (root["pretokenizers"] as? [[String: Any]] ?? []).enumerated().map {
                ("pre_tokenizer.pretokenizers[\($0)]", $1)
            }
        }
        var out: [BPETokenizer.Vocabulary.PreTokenizer] = []
        var byteLevel = false
        for (key, step) in steps {
            let type = step["type"] as? String ?? "?"
            switch type {
            case "ByteLevel":
                byteLevel = true
                if step["add_prefix_space"] as? Bool == true {
                    throw fail("\(key).add_prefix_space", "true is not supported")
                }
                if step["use_regex"] as? Bool ?? true {
                    out.append(.split(try compile(gpt2Pattern, literal: false, key, fail), .isolated))
                }
            case "Digits":
                let pattern = step["individual_digits"] as? Bool == true ? #"\p{N}"# : #"\p{N}+"#
                out.append(.split(try compile(pattern, literal: false, key, fail), .isolated))
            case "Split":
                if step["invert"] as? Bool == true { throw fail("\(key).invert", "true is not supported") }
                let pattern = step["pattern"] as? [String: String] ?? [:]
                guard let text = pattern["Regex"] ?? pattern["String"] else {
                    throw fail("\(key).pattern", "needs Regex or String")
                }
                let behaviors: [String: BPETokenizer.Vocabulary.SplitBehavior] = [
                    "Isolated": .isolated, "Removed": .removed, "MergedWithPrevious": .mergedWithPrevious,
                    "MergedWithNext": .mergedWithNext,
                ]
                let name = step["behavior"] as? String ?? "?"
                guard let behavior = behaviors[name] else {
                    throw fail("\(key).behavior", "\"\(name)\" is not supported")
                }
                out.append(.split(try compile(text, literal: pattern["Regex"] == nil, key, fail), behavior))
            default:
                throw fail("\(key).type", "\"\(type)\" is not supported (ByteLevel, Split, Digits)")
            }
        }
        guard byteLevel else { throw fail("pre_tokenizer", "no ByteLevel step; only byte-level BPE is supported") }
        return out
    }

    private static func compile(
        _ pattern: String, literal: Bool, _ key: String,
        _ fail: (String?, String) -> PolicyError
    ) throws -> SplitPattern {
        do { return try SplitPattern(pattern, literal: literal) } catch {
            throw fail("\(key).pattern", "does not compile: \(error)")
        }
    }

    private static func decoder(_ value: Any?, _ fail: (String?, String) -> PolicyError) throws {
        let type = (value as? [String: Any])?["type"] as? String
        guard type == "ByteLevel" else {
            throw fail("decoder.type", "\"\(type ?? "none")\" is not supported (only ByteLevel)")
        }
    }
}
