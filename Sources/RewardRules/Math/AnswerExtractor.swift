// Finds the final answer in a completion. Each method looks for its LAST
// occurrence; the first method (in the configured order) that finds a
// non-empty answer wins, so earlier drafts and candidates never count.
//
//   "... so \boxed{\frac{1}{2}}."        boxed          -> "\frac{1}{2}"
//   "<answer> 42 </answer>"              answer_tag     -> "42"
//   "Thus the final answer is $7$."      the_answer_is  -> "7"
//   "Final Answer: The final answer is $\$45$. I hope it is correct."    -> "\$45"
//   "**Final answer:** 0.25"             the_answer_is  -> "0.25"
//   "... so the result is 1,234."        the_answer_is  -> "1,234" (a closing sentence only)
//   "is $\frac12$ or $\frac13$, I'm not sure"            -> "\frac12$ or $\frac13" (a list)
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

    /// Content of the last `\boxed{...}` / `\fbox{...}` (nested braces balanced), or of
    /// `\boxed 5`. Boxes joined only by commas and "or"/"and" ("\boxed{2} or \boxed{3}")
    /// are one answer, a list: a hedge never counts as its last candidate.
    static func lastBoxed(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        guard var last = boxed(before: t.count, in: t) else { return nil }
        var contents = [last.content]
        while contents.count < 16, let previous = boxed(before: last.start, in: t),
            joinsAlternatives(t[previous.end..<last.start])
        {
            contents.append(previous.content)
            last = previous
        }
        guard contents.count > 1 else { return t[contents[0]] }
        let separator: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: " ")]
        return Array(contents.reversed().map { Array(t[$0]) }.joined(separator: separator))[...]
    }

    /// The last box that ends by `limit`: its content, where its command starts and where it
    /// ends. Tries at most 8 candidates from the end, so a completion full of unclosed
    /// `\boxed{` stays linear.
    private static func boxed(before limit: Int, in t: [UInt8]) -> (content: Range<Int>, start: Int, end: Int)? {
        var i = limit - 1
        var tried = 0
        while i >= 0 && tried < 8 {
            defer { i -= 1 }
            guard t[i] == UInt8(ascii: "\\") else { continue }
            let word: [UInt8]
            if has(t, boxedWord, at: i + 1) {
                word = boxedWord
            } else if has(t, fboxWord, at: i + 1) {
                word = fboxWord
            } else {
                continue
            }
            tried += 1
            var j = i + 1 + word.count
            while j < limit, t[j] == UInt8(ascii: " ") { j += 1 }
            guard j < limit else { continue }
            if t[j] == UInt8(ascii: "{") {
                if let end = matchingBrace(t, open: j), end < limit { return ((j + 1)..<end, i, end + 1) }
                continue
            }
            guard j > i + 1 + word.count else { continue }  // "\boxedx" is another command
            var k = j
            while k < limit, t[k] != UInt8(ascii: " "), t[k] != UInt8(ascii: "$"), t[k] != UInt8(ascii: "\n") { k += 1 }
            if k > j { return (j..<k, i, k) }
        }
        return nil
    }

    /// Whether the text between two boxes only joins them: spaces, `$`, commas and
    /// connectives (also as `\text{ or }`), with at least one comma or connective.
    private static func joinsAlternatives(_ gap: ArraySlice<UInt8>) -> Bool {
        guard gap.count <= 40 else { return false }
        let text = Array(gap)
        let plain: Set<UInt8> = [32, 10, UInt8(ascii: "$"), UInt8(ascii: "{"), UInt8(ascii: "}")]
        var k = 0
        var joined = false
        while k < text.count {
            if plain.contains(text[k]) {
                k += 1
                continue
            }
            if text[k] == UInt8(ascii: ",") {
                joined = true
                k += 1
                continue
            }
            if has(text, textWord, at: k) {
                k += textWord.count
                continue
            }
            guard let word = connectives.first(where: { has(text, $0, at: k, caseInsensitive: true) }),
                k + word.count == text.count || !MathNormalizer.isLetter(text[k + word.count])
            else { return false }
            joined = true
            k += word.count
        }
        return joined
    }

    private static let textWord = Array("\\text".utf8)

    /// Index of the `}` closing the `{` at `open` (escaped `\{` `\}` skipped), or nil.
    static func matchingBrace<Bytes: RandomAccessCollection>(_ t: Bytes, open: Int) -> Int?
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var depth = 0
        var k = open
        while k < t.endIndex {
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

    /// The text inside the last <answer>, up to its </answer>; an unclosed tag runs to the end
    /// of the text, or gives nil when `closedOnly` (the countdown rule's expression must be closed).
    static func lastAnswerTag(_ t: [UInt8], closedOnly: Bool = false) -> ArraySlice<UInt8>? {
        guard let start = lastIndex(of: openTag, in: t) else { return nil }
        let from = start + openTag.count
        guard let end = firstIndex(of: closeTag, in: t, from: from) ?? (closedOnly ? nil : t.count) else {
            return nil
        }
        return t[from..<end]
    }

    private static let answerIs = Array("answer is".utf8), finalAnswer = Array("final answer".utf8)
    private static let resultIs = Array("result is".utf8)

    /// After the last "answer is" / "final answer:" ("**Final answer:**" too), up to the end
    /// of the line or of the sentence (a period followed by a space or the end). Without
    /// either phrase, a closing "... the result is 1,234." sentence: the completion's last,
    /// its value starting like math (a digit, a sign, `$`, `\`), never "about 42 or so".
    static func lastAnswerIs(_ t: [UInt8]) -> ArraySlice<UInt8>? {
        let a = lastIndex(of: answerIs, in: t, caseInsensitive: true).map { $0 + answerIs.count }
        let b = lastFinalAnswerColon(t)
        let from = max(a ?? -1, b ?? -1)
        if from >= 0 { return value(after: from, in: t).value }
        guard let r = lastIndex(of: resultIs, in: t, caseInsensitive: true) else { return nil }
        let (value, end) = value(after: r + resultIs.count, in: t)
        guard let first = value.first,
            isDigit(first) || first == UInt8(ascii: "-") || first == UInt8(ascii: "+")
                || first == UInt8(ascii: "$") || first == UInt8(ascii: "\\")
        else { return nil }
        var k = end
        while k < t.count, t[k] == UInt8(ascii: ".") || t[k] == UInt8(ascii: "$") || isSpace(t[k]) { k += 1 }
        return k == t.count ? value : nil
    }

    /// Just past the colon of the last "final answer:", allowing Markdown emphasis before the
    /// colon ("**Final answer**: 7"). Each occurrence is checked in a bounded window.
    private static func lastFinalAnswerColon(_ t: [UInt8]) -> Int? {
        var i = t.count - finalAnswer.count
        while i >= 0 {
            if has(t, finalAnswer, at: i, caseInsensitive: true) {
                var k = i + finalAnswer.count
                let limit = min(t.count, i + finalAnswer.count + 4)
                while k < limit, t[k] == UInt8(ascii: "*") || t[k] == UInt8(ascii: "_") { k += 1 }
                if k < t.count, t[k] == UInt8(ascii: ":") { return k + 1 }
            }
            i -= 1
        }
        return nil
    }

    /// The value that starts at `from` (after its phrase) and where its sentence ends.
    /// A math span ("$\frac{1}{2}$, since ...") is the value; spans joined only by "or",
    /// "and" or commas ("$\frac12$ or $\frac13$, I'm not sure which") are one value, a
    /// list, so a hedge is never mistaken for its first candidate.
    private static func value(after from: Int, in t: [UInt8]) -> (value: ArraySlice<UInt8>, end: Int) {
        var from = from
        while from < t.count,
            t[from] == UInt8(ascii: ":") || t[from] == UInt8(ascii: " ") || t[from] == UInt8(ascii: "*")
        { from += 1 }
        if let first = mathSpan(t, at: from) {
            var last = first
            while let next = alternative(t, after: last.end) { last = next }
            return (t[first.content.lowerBound..<last.content.upperBound], last.end)
        }
        var end = from
        var dollars = 0
        while end < t.count {
            let c = t[end]
            if c == UInt8(ascii: "\n") { break }
            if c == UInt8(ascii: "$"), end == 0 || t[end - 1] != UInt8(ascii: "\\") { dollars += 1 }
            if c == UInt8(ascii: "."), dollars % 2 == 0,
                end + 1 == t.count || t[end + 1] == UInt8(ascii: " ") || t[end + 1] == UInt8(ascii: "\n")
            {
                break
            }
            end += 1
        }
        return (t[from..<end], end)
    }

    /// `$...$` or `$$...$$` opening at `at` on one line (an escaped `\$` inside is a dollar
    /// sign, as in "$\$45$"): the content and the index after the closing dollars.
    private static func mathSpan(_ t: [UInt8], at: Int) -> (content: Range<Int>, end: Int)? {
        guard at < t.count, t[at] == UInt8(ascii: "$") else { return nil }
        var open = at
        while open < t.count, open < at + 2, t[open] == UInt8(ascii: "$") { open += 1 }
        var close = open
        while close < t.count, t[close] != UInt8(ascii: "$"), t[close] != UInt8(ascii: "\n") {
            close += t[close] == UInt8(ascii: "\\") ? 2 : 1
        }
        guard close < t.count, t[close] == UInt8(ascii: "$"), close > open else { return nil }
        var end = close
        while end < t.count, end < close + (open - at), t[end] == UInt8(ascii: "$") { end += 1 }
        return (open..<close, end)
    }

    private static let connectives: [[UInt8]] = ["or", "and", "maybe", "perhaps", "possibly"].map { Array($0.utf8) }

    /// The next math span when only commas, spaces and connectives separate it from `after`.
    private static func alternative(_ t: [UInt8], after: Int) -> (content: Range<Int>, end: Int)? {
        var k = after
        var joined = false
        while k < t.count, k < after + 40 {
            if t[k] == UInt8(ascii: ",") {
                joined = true
                k += 1
                continue
            }
            if t[k] == UInt8(ascii: " ") {
                k += 1
                continue
            }
            if t[k] == UInt8(ascii: "$") { return joined ? mathSpan(t, at: k) : nil }
            guard let word = connectives.first(where: { has(t, $0, at: k, caseInsensitive: true) }),
                k + word.count < t.count, t[k + word.count] == UInt8(ascii: " ")
            else { return nil }
            joined = true
            k += word.count
        }
        return nil
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
        while start > 0,
            isDigit(t[start - 1])
                || ((t[start - 1] == UInt8(ascii: ",") || t[start - 1] == UInt8(ascii: "."))
                    && start >= 2 && isDigit(t[start - 2]))
        { start -= 1 }
        if start > 0, t[start - 1] == UInt8(ascii: "-") { start -= 1 }
        return t[start...end]
    }

    // MARK: - byte helpers

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 10 || c == 9 || c == 13 }

    /// Trimmed, without Markdown emphasis around it ("**42**").
    static func trimmedMarkdown(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var t = trimmed(s)
        while let f = t.first, f == UInt8(ascii: "*") || f == UInt8(ascii: "_") { t = t.dropFirst() }
        while let l = t.last, l == UInt8(ascii: "*") || l == UInt8(ascii: "_") { t = t.dropLast() }
        return trimmed(t)
    }

    static func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = s.startIndex
        var hi = s.endIndex
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
