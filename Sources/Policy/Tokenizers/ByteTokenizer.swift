// Byte-level tokenizer: ids 0...255 are the UTF-8 bytes, then pad, bos, eos.
// Every string round-trips exactly, because every byte is its own token.

public struct ByteTokenizer: Tokenizer {
    public let pad: Int32, bos: Int32, eos: Int32
    public let vocabSize: Int

    public init(config: ModelConfig = ModelConfig()) {
        pad = Int32(config.padTokenId)
        bos = Int32(config.bosTokenId)
        eos = Int32(config.eosTokenId)
        vocabSize = config.vocabSize
    }

    /// Throws unless `config` leaves room for the 256 bytes before its special ids.
    public static func validate(_ config: ModelConfig, source: String) throws {
        typealias Key = ModelConfig.CodingKeys
        func fail(_ k: Key, _ m: String) -> PolicyError { .badConfig(file: source, key: k.rawValue, message: m) }
        guard config.vocabSize >= 259 else {
            throw fail(.vocabSize, "must be at least 259 (256 bytes + pad, bos, eos)")
        }
        let specials = [
            (Key.padTokenId, config.padTokenId), (.bosTokenId, config.bosTokenId),
            (.eosTokenId, config.eosTokenId),
        ]
        for (k, v) in specials {
            guard (256..<config.vocabSize).contains(v) else {
                throw fail(k, "must be a special id in 256..<vocab_size (the byte tokenizer's ids 0...255 are bytes)")
            }
        }
    }

    public func encode(_ text: String, addBOS: Bool = false) -> [Int32] {
        var ids: [Int32] = addBOS ? [bos] : []
        ids.reserveCapacity(text.utf8.count + ids.count)
        for b in text.utf8 { ids.append(Int32(b)) }
        return ids
    }

    public func decode(_ ids: [Int32]) -> String {
        let bytes = ids.compactMap { $0 >= 0 && $0 < 256 ? UInt8($0) : nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func bytes(of id: Int32) -> [UInt8] { id >= 0 && id < 256 ? [UInt8(id)] : [] }
}
