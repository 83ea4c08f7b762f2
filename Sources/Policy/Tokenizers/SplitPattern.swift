// A pre-tokenizer's split pattern (tokenizer.json "Split" or ByteLevel's
// built-in GPT-2 pattern), compiled once with PCRE2 in UTF mode with Unicode
// properties (\p{L}, \s over all of Unicode), as the `tokenizers` library runs
// it with Oniguruma. It works on UTF-8 bytes, so matches are byte ranges.

import CPCRE2

final class SplitPattern: @unchecked Sendable {
    let pattern: String
    private let code: OpaquePointer

    struct CompileError: Error, CustomStringConvertible {
        let message: String, offset: Int
        var description: String { "\(message) at offset \(offset)" }
    }

    /// `literal`: match `pattern` as plain text (a "String" pattern in tokenizer.json).
    init(_ pattern: String, literal: Bool = false) throws {
        self.pattern = pattern
        // PCRE2 refuses Unicode properties with a literal pattern (which has no classes anyway).
        let options = cpcre2_utf() | (literal ? cpcre2_literal() : cpcre2_ucp())
        var error: Int32 = 0
        var offset = 0
        let bytes = Array(pattern.utf8)
        let compiled = bytes.withUnsafeBufferPointer {
            pcre2_compile_8($0.baseAddress, $0.count, options, &error, &offset, nil)
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = pcre2_get_error_message_8(error, &buffer, buffer.count)
            throw CompileError(message: String(decoding: buffer.prefix(max(0, Int(n))), as: UTF8.self), offset: offset)
        }
        code = compiled
        _ = pcre2_jit_compile_8(compiled, cpcre2_jit_complete())  // the interpreter runs where JIT cannot
    }

    deinit { pcre2_code_free_8(code) }

    /// The successive non-overlapping matches in `text` (valid UTF-8), leftmost first.
    /// After an empty match the search moves on by one character, as Oniguruma's does.
    func matches(in text: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        guard let data = pcre2_match_data_create_from_pattern_8(code, nil) else { return [] }
        defer { pcre2_match_data_free_8(data) }
        let subject = text.baseAddress ?? UnsafePointer<UInt8>(bitPattern: 1)!
        var found: [Range<Int>] = []
        var start = 0
        while start <= text.count {
            let rc = pcre2_match_8(code, subject, text.count, start, cpcre2_no_utf_check(), data, nil)
            guard rc >= 0 else { break }
            let ovector = pcre2_get_ovector_pointer_8(data)!
            let lo = Int(ovector[0])
            let hi = Int(ovector[1])
            if hi > lo {
                found.append(lo..<hi)
                start = hi
            } else {
                guard lo < text.count else { break }
                start = lo + 1
                while start < text.count && text[start] & 0xC0 == 0x80 { start += 1 }  // to the next character
            }
        }
        return found
    }
}
