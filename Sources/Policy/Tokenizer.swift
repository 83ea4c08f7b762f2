// Byte-level tokenizer: ids 0...255 are the UTF-8 bytes, then pad, bos, eos.
// Every string round-trips exactly, because every byte is its own token.

public struct ByteTokenizer: Sendable {
    public let pad: Int32, bos: Int32, eos: Int32
    public let vocabSize: Int

    public init(config: ModelConfig = ModelConfig()) {
        pad = Int32(config.padTokenId); bos = Int32(config.bosTokenId); eos = Int32(config.eosTokenId)
        vocabSize = config.vocabSize
    }

    public func encode(_ text: String, addBOS: Bool = false) -> [Int32] {
        var ids: [Int32] = addBOS ? [bos] : []
        ids.reserveCapacity(text.utf8.count + ids.count)
        for b in text.utf8 { ids.append(Int32(b)) }
        return ids
    }

    /// Special ids are dropped; byte sequences that are not valid UTF-8 (a
    /// completion cut mid-character) decode with U+FFFD replacement.
    public func decode(_ ids: some Sequence<Int32>) -> String {
        let bytes = ids.compactMap { $0 >= 0 && $0 < 256 ? UInt8($0) : nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
