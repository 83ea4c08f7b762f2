// Which tokenizer a checkpoint folder uses: the byte-level BPE of its
// tokenizer.json when it has one, else the byte tokenizer. A BPE tokenizer's
// files go back into every checkpoint saved from the model, unchanged.

import Foundation

public enum TokenizerFiles {
    /// Read when present, written back as they were.
    public static let names = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

    /// The tokenizer of the checkpoint folder `directory`, whose config is `config`.
    public static func load(from directory: URL, config: ModelConfig) throws -> any Tokenizer {
        let json = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: json.path) else {
            try ByteTokenizer.validate(config, source: directory.appendingPathComponent("config.json").path)
            return ByteTokenizer(config: config)
        }
        return try bpe(files: try read(directory), source: json.path, config: config)
    }

    /// A BPE tokenizer from the contents of `names`, its ids checked against `config`.
    public static func bpe(files: [String: Data], source: String, config: ModelConfig) throws -> BPETokenizer {
        let tokenizer = try TokenizerJSON.read(
            files: files, source: source, pad: Int32(config.padTokenId),
            bos: Int32(config.bosTokenId), eos: Int32(config.eosTokenId))
        guard tokenizer.vocabSize <= config.vocabSize else {
            let message = "ids up to \(tokenizer.vocabSize - 1), beyond the model's vocab_size \(config.vocabSize)"
            throw PolicyError.badConfig(file: source, key: "model.vocab", message: message)
        }
        return tokenizer
    }

    /// The BPE tokenizer of a tokenizer.json (a file, or a folder holding one with its
    /// tokenizer_config.json) on its own, with no model: no special ids of the policy's.
    public static func standalone(_ url: URL) throws -> BPETokenizer {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw PolicyError.missingFile(url.path)
        }
        let files = isFolder.boolValue ? try read(url) : ["tokenizer.json": try contents(of: url)]
        let source = isFolder.boolValue ? url.appendingPathComponent("tokenizer.json").path : url.path
        guard files["tokenizer.json"] != nil else { throw PolicyError.missingFile(source) }
        return try TokenizerJSON.read(files: files, source: source, pad: -1, bos: -1, eos: -1)
    }

    /// Those of `names` present in `directory`.
    private static func read(_ directory: URL) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for name in names {
            let url = directory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path) { files[name] = try contents(of: url) }
        }
        return files
    }

    private static func contents(of url: URL) throws -> Data {
        do { return try Data(contentsOf: url) } catch {
            throw PolicyError.badConfig(file: url.path, key: nil, message: "cannot read: \(error.localizedDescription)")
        }
    }

    /// The files `tokenizer` was read from, if any (none for the byte tokenizer).
    public static func files(of tokenizer: any Tokenizer) -> [String: Data] {
        (tokenizer as? BPETokenizer)?.files ?? [:]
    }
}
