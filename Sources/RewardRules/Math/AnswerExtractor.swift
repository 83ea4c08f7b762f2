// Finds the final answer in a completion. Each method looks for its LAST
// occurrence; the first method (in the configured order) that finds a
// non-empty answer wins, so earlier drafts and candidates never count.
//
//   "... so \boxed{\frac{1}{2}}."        boxed          -> "\frac{1}{2}"
//   "<answer> 42 </answer>"              answer_tag     -> "42"
//   "Thus the final answer is $7$."      the_answer_is  -> "$7$"
//   "... #### 1,000"                     gsm8k          -> "1,000"
//   "... we get 12 apples"               (fallback_last_number only) -> "12"
//
// All scans are linear in the completion's length (bytes, never Characters).

/// One way of locating the final answer.
public enum AnswerExtraction: String, CaseIterable, Sendable {
    case boxed, answerTag = "answer_tag", theAnswerIs = "the_answer_is", gsm8k
}

struct AnswerExtractor: Sendable {
    var methods: [AnswerExtraction] = AnswerExtraction.allCases
    var fallbackLastNumber = false

    /// The answer's bytes, or nil when no method finds one.
    func extract(_ text: [UInt8]) -> ArraySlice<UInt8>? {
        for method in methods {
            let found: ArraySlice<UInt8>?
            switch method {
            case .boxed: found = Self.lastBoxed(text)
            case .answerTag: found = Self.lastAnswerTag(text)
            case .theAnswerIs: found = Self.lastAnswerIs(text)
            case .gsm8k: found = Self.lastHashes(text)
            }
            if let f = found.map(Self.trimmedMarkdown), !f.isEmpty { return f }
        }
        if fallbackLastNumber, let n = Self.lastNumber(text) { return n }
        return nil
    }

    /// The gold answer's own text: MATH golds may be boxed, GSM8K golds may carry "####".
    static func goldAnswer(_ gold: [UInt8]) -> ArraySlice<UInt8> {
        if let b = lastBoxed(gold) { return trimmed(b) }
        if let h = lastHashes(gold) { return trimmed(h) }
        return trimmed(gold[...])
    }

    // MARK: - methods

    private static let boxedWord = Array("boxed".utf8), fboxWord = Array("fbox".utf8)

    /// Content of the last `\boxed{...}` / `\fbox{...}` (nested braces balanced),
    /// or of `\boxed 5`. Tries at most 8 candidates from the end, so a completion
    /// full of unclosed `\boxed{` stays linear.
    static func lastBoxed(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        var i = t.count - 1, tried = 0
        while i >= 0 && tried < 8 {
            defer { i -= 1 }
            guard t[i] == UInt8(ascii: "\\") else { continue }
            let word: [UInt8]
            if has(t, boxedWord, at: i + 1) { word = boxedWord } else if has(t, fboxWord, at: i + 1) { word = fboxWord } else { continue }
            tried += 1
            var j = i + 1 + word.count
            while j < t.count, t[j] == UInt8(ascii: " ") { j += 1 }
            guard j < t.count else { continue }
            if t[j] == UInt8(ascii: "{") {
                if let end = matchingBrace(t, open: j) { return t[(j + 1)..<end] }
                continue
            }
            guard j > i + 1 + word.count else { continue }   // "\boxedx" is another command
            var k = j
            while k < t.count, t[k] != UInt8(ascii: " "), t[k] != UInt8(ascii: "$"), t[k] != UInt8(ascii: "\n") { k += 1 }
            if k > j { return t[j..<k] }
        }
        return nil
    }

    /// Index of the `}` closing the `{` at `open` (escaped `\{` `\}` skipped), or nil.
    static func matchingBrace(_ t: [UInt8], open: Int) -> Int? {
        var depth = 0, k = open
        while k < t.count {
            switch t[k] {
            case UInt8(ascii: "\\"): k += 1
            case UInt8(ascii: "{"): depth += 1
            case UInt8(ascii: "}"):
                depth -= 1
                if depth == 0 { return k }
            default: break
            }
            k += 1
        }
        return nil
    }

    private static let openTag = Array("<answer>".utf8), closeTag = Array("</answer>".utf8)

    static func lastAnswerTag(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        guard let start = lastIndex(of: openTag, in: t) else { return nil }
        let from = start + openTag.count
        let end = firstIndex(of: closeTag, in: t, from: from) ?? t.count
        return t[from..<end]
    }

    private static let answerIs = Array("answer is".utf8), finalAnswerColon = Array("final answer:".utf8)

    /// After the last "answer is" / "final answer:", up to the end of the line
    /// or of the sentence (a period followed by a space or the end).
    static func lastAnswerIs(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        let a = lastIndex(of: answerIs, in: t, caseInsensitive: true).map { $0 + answerIs.count }
        let b = lastIndex(of: finalAnswerColon, in: t, caseInsensitive: true).map { $0 + finalAnswerColon.count }
        var from = max(a ?? -1, b ?? -1)
        guard from >= 0 else { return nil }
        while from < t.count, t[from] == UInt8(ascii: ":") || t[from] == UInt8(ascii: " ") || t[from] == UInt8(ascii: "*") { from += 1 }
        // "$\frac{1}{2}$, since ...": the math span is the answer.
        if from < t.count, t[from] == UInt8(ascii: "$") {
            var open = from
            while open < t.count, t[open] == UInt8(ascii: "$") { open += 1 }
            var close = open
            while close < t.count, t[close] != UInt8(ascii: "$"), t[close] != UInt8(ascii: "\n") { close += 1 }
            if close < t.count, t[close] == UInt8(ascii: "$") { return t[open..<close] }
        }
        var end = from, dollars = 0
        while end < t.count {
            let c = t[end]
            if c == UInt8(ascii: "\n") { break }
            if c == UInt8(ascii: "$") { dollars += 1 }
            if c == UInt8(ascii: "."), dollars % 2 == 0, end + 1 == t.count || t[end + 1] == UInt8(ascii: " ") || t[end + 1] == UInt8(ascii: "\n") { break }
            end += 1
        }
        return t[from..<end]
    }

    private static let hashes = Array("####".utf8)

    static func lastHashes(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        guard let start = lastIndex(of: hashes, in: t) else { return nil }
        let from = start + hashes.count
        var end = from
        while end < t.count, t[end] != UInt8(ascii: "\n") { end += 1 }
        return t[from..<end]
    }

    /// The last run of digits (with `,` and `.` inside, and a leading `-`).
    static func lastNumber(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        var end = t.count - 1
        while end >= 0, !isDigit(t[end]) { end -= 1 }
        guard end >= 0 else { return nil }
        var start = end
        while start > 0, isDigit(t[start - 1]) || ((t[start - 1] == UInt8(ascii: ",") || t[start - 1] == UInt8(ascii: "."))
                                                   && start >= 2 && isDigit(t[start - 2])) { start -= 1 }
        if start > 0, t[start - 1] == UInt8(ascii: "-") { start -= 1 }
        return t[start...end]
    }

    // MARK: - byte helpers

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// Trimmed, without Markdown emphasis around it ("**42**").
    static func trimmedMarkdown(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var t = trimmed(s)
        while let f = t.first, f == UInt8(ascii: "*") || f == UInt8(ascii: "_") { t = t.dropFirst() }
        while let l = t.last, l == UInt8(ascii: "*") || l == UInt8(ascii: "_") { t = t.dropLast() }
        return trimmed(t)
    }

    static func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi, s[lo] == 32 || s[lo] == 10 || s[lo] == 9 || s[lo] == 13 { lo += 1 }
        while hi > lo, s[hi - 1] == 32 || s[hi - 1] == 10 || s[hi - 1] == 9 || s[hi - 1] == 13 { hi -= 1 }
        return s[lo..<hi]
    }

    static func has(_ t: [UInt8], _ word: [UInt8], at i: Int, caseInsensitive: Bool = false) -> Bool {
        guard i >= 0, i + word.count <= t.count else { return false }
        for k in 0..<word.count {
            var c = t[i + k]
            if caseInsensitive, c >= 65, c <= 90 { c += 32 }
            if c != word[k] { return false }
        }
        return true
    }

    static func lastIndex(of word: [UInt8], in t: [UInt8], caseInsensitive: Bool = false) -> Int? {
        var i = t.count - word.count
        while i >= 0 {
            if has(t, word, at: i, caseInsensitive: caseInsensitive) { return i }
            i -= 1
        }
        return nil
    }

    static func firstIndex(of word: [UInt8], in t: [UInt8], from: Int) -> Int? {
        var i = from
        while i + word.count <= t.count {
            if has(t, word, at: i) { return i }
            i += 1
        }
        return nil
    }
}
