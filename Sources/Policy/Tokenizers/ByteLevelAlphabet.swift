// GPT-2's byte-level alphabet: every byte is written as one printable Unicode
// character, so a byte-level BPE vocabulary is a JSON map of ordinary strings.
// Printable Latin-1 bytes ('!'...'~', '¡'...'¬', '®'...'ÿ') stand for
// themselves; the other 68 take U+0100 onwards in byte order (space is 'Ġ').

enum ByteLevelAlphabet {
    /// The character of each byte.
    static let characters: [Unicode.Scalar] = {
        var printable = Set<UInt8>()
        for r in [33...126, 161...172, 174...255] as [ClosedRange<UInt8>] { for b in r { printable.insert(b) } }
        var next: UInt32 = 256
        return (0...255).map { (b: Int) -> Unicode.Scalar in
            if printable.contains(UInt8(b)) { return Unicode.Scalar(UInt8(b)) }
            defer { next += 1 }
            return Unicode.Scalar(next)!
        }
    }()

    /// Byte of each alphabet character.
    static let bytes: [Unicode.Scalar: UInt8] = Dictionary(
        uniqueKeysWithValues: characters.enumerated().map { ($1, UInt8($0)) })

    /// `bytes` as alphabet characters (the form a vocabulary entry takes).
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(characters[Int(b)]) }
        return String(s)
    }

    /// The bytes a token string stands for, as the `tokenizers` ByteLevel decoder reads it:
    /// character by character through the alphabet, or, when any character is outside
    /// it (an added token such as "<|user|> "), the string's own UTF-8 bytes.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for c in token.unicodeScalars {
            guard let b = bytes[c] else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}
