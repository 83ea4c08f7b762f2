// Text to token ids and back. Two kinds: the byte tokenizer (the default: ids
// 0...255 are the UTF-8 bytes, then pad, bos, eos) and byte-level BPE read
// from a Hugging Face tokenizer.json (an imported model keeps its own).
// A model carries its tokenizer (`Transformer.tokenizer`), and a checkpoint
// folder with a tokenizer.json uses it.

public protocol Tokenizer: Sendable {
    /// Fills the rows of a batch after a sequence's end.
    var pad: Int32 { get }
    /// Put before every prompt.
    var bos: Int32 { get }
    /// Ends a completion.
    var eos: Int32 { get }
    /// Token ids of `text`, with bos first when `addBOS`.
    func encode(_ text: String, addBOS: Bool) -> [Int32]
    /// Special ids are dropped; bytes that are not valid UTF-8 (a completion
    /// cut mid-character) decode with U+FFFD replacement.
    func decode(_ ids: [Int32]) -> String
    /// The bytes token `id` adds to decoded text (none for a special token).
    func bytes(of id: Int32) -> [UInt8]
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int32] { encode(text, addBOS: false) }

    public func decode(_ ids: [Int32]) -> String {
        String(decoding: ids.flatMap { bytes(of: $0) }, as: UTF8.self)
    }
}
