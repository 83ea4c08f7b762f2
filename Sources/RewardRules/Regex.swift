// A PCRE2 pattern compiled (and JIT-compiled) once, matched from many threads.
// Completions are Swift strings, hence valid UTF-8: matching skips PCRE2's
// UTF check. Each match allocates its own small match-data block, so a
// compiled pattern is shared without locks. A match can also fail (PCRE2's
// match or depth limit on a pattern that backtracks catastrophically, the JIT
// stack): that is neither a match nor a miss, and callers must say so.

import CPCRE2

public final class PCRE2Pattern: @unchecked Sendable {
    public let pattern: String
    private let code: OpaquePointer
    public let isJIT: Bool

    public struct CompileError: Error, CustomStringConvertible {
        public let message: String
        public let offset: Int
        public var description: String { "\(message) at offset \(offset)" }
    }

    /// `flags`: dotall, multiline, caseless (or ignorecase), extended, ungreedy, anchored.
    public init(_ pattern: String, flags: [String] = []) throws {
        self.pattern = pattern
        var options = cpcre2_utf() | cpcre2_ucp()
        for f in flags {
            switch f.lowercased() {
            case "dotall", "s": options |= cpcre2_dotall()
            case "multiline", "m": options |= cpcre2_multiline()
            case "caseless", "ignorecase", "i": options |= cpcre2_caseless()
            case "extended", "x": options |= cpcre2_extended()
            case "ungreedy", "u": options |= cpcre2_ungreedy()
            case "anchored": options |= cpcre2_anchored()
            default:
                throw CompileError(
                    message: "unknown flag \"\(f)\" (dotall, multiline, caseless, extended, ungreedy, anchored)",
                    offset: 0)
            }
        }
        var error: Int32 = 0
        var offset = 0
        let compiled = pattern.withCString { p in
            pcre2_compile_8(
                UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), cpcre2_zero_terminated(),
                options, &error, &offset, nil)
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = pcre2_get_error_message_8(error, &buffer, buffer.count)
            throw CompileError(message: String(decoding: buffer.prefix(max(0, Int(n))), as: UTF8.self), offset: offset)
        }
        code = compiled
        isJIT = pcre2_jit_compile_8(compiled, cpcre2_jit_complete()) == 0
    }

    deinit { pcre2_code_free_8(code) }

    public enum Match: Sendable, Equatable {
        case matched, missed
        /// PCRE2 gave up (its message): `(a+)+$` on forty a's and a "!" hits the match limit.
        case failed(String)
    }

    /// Whether the pattern matches anywhere in `text` (anchors in the pattern decide).
    public func match(_ text: String) -> Match {
        let rc = match(text, options: 0)
        if rc >= 0 { return .matched }
        if rc == cpcre2_error_nomatch() { return .missed }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pcre2_get_error_message_8(rc, &buffer, buffer.count)
        return .failed(String(decoding: buffer.prefix(max(0, Int(n))), as: UTF8.self))
    }

    /// pcre2_match's result on `text`: JIT code for a plain match, the interpreter
    /// when `options` ask for more (partial matching, say).
    private func match(_ text: String, options: UInt32) -> Int32 {
        var text = text
        return text.withUTF8 { buf in
            guard let data = pcre2_match_data_create_8(1, nil) else { return cpcre2_error_nomatch() }
            defer { pcre2_match_data_free_8(data) }
            let subject = buf.baseAddress ?? UnsafePointer<UInt8>(bitPattern: 1)!
            return isJIT && options == 0
                ? pcre2_jit_match_8(code, subject, buf.count, 0, 0, data, nil)
                : pcre2_match_8(code, subject, buf.count, 0, options | cpcre2_no_utf_check(), data, nil)
        }
    }

    /// Every match starts at the start of the text (^, \A, or the anchored flag; PCRE2
    /// works this out when it compiles the pattern).
    public var isAnchored: Bool {
        var options: UInt32 = 0
        return pcre2_pattern_info_8(code, cpcre2_info_alloptions(), &options) == 0 && options & cpcre2_anchored() != 0
    }

    /// Whether `text` is the start of some match that begins at offset 0: a whole match,
    /// or a prefix that more text could complete (PCRE2's hard partial matching).
    /// `^\s*<think>` accepts "<think>" and "<thi", and refuses "The".
    public func canStartMatch(with text: String) -> Bool {
        let rc = match(text, options: cpcre2_anchored() | cpcre2_partial_hard())
        return rc >= 0 || rc == cpcre2_error_partial()
    }
}
