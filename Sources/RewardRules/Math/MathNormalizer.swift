// Text-level clean-up of an extracted answer before parsing (bytes in, bytes out).
//
//   "$\left( 1,\! 000 \right)$"     -> "(1000)"        LaTeX noise, thousands separators
//   "5 \text{ cm}"  "5 cm"           -> "5"             trailing unit words
//   "90^\circ"  "90°"                -> "90"            degrees
//   "\dfrac{1}{2}"  "\dfrac12"       -> "\frac{1}{2}"   (braceless: one digit per argument)
//   "50\%"                           -> "50%"           (the parser keeps the percent)
//   "\text{(B)}"                     -> "(B)"           text that is the whole answer is kept
//
// Bounded: answers longer than `maxLength` bytes are refused (too_complex).

enum MathNormalizer {
    static let maxLength = 1000

    /// Commands dropped outright.
    private static let dropped: Set<String> = [
        "left", "right", "displaystyle", "textstyle", "quad", "qquad", "limits",
        "big", "Big", "bigl", "bigr", "Bigl", "Bigr", "middle", "circ", "degree",
        "bigg", "Bigg", "biggl", "biggr", "hspace", "mathstrut", "phantom",
    ]
    /// Commands whose braced argument is text: unit-like text after something is dropped, otherwise kept.
    private static let textual: Set<String> = [
        "text", "textrm", "textup", "mbox", "mathrm", "textnormal", "textit", "textsf",
    ]
    /// Commands whose braced argument is kept as is.
    private static let unwrapped: Set<String> = [
        "textbf", "mathbf", "boldsymbol", "mathit", "operatorname", "bm", "mathsf", "emph", "pmb",
    ]

    static func normalize(_ input: ArraySlice<UInt8>) throws -> [UInt8] {
        guard input.count <= maxLength else { throw MathError.tooComplex }
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        try clean(input, into: &out, depth: 0)
        trimSpaces(&out)
        while let last = out.last, last == UInt8(ascii: ".") || last == UInt8(ascii: ",") || last == UInt8(ascii: ";") {
            out.removeLast()
            trimSpaces(&out)
        }
        out = removeThousandsSeparators(out)
        stripTrailingUnits(&out)
        return out
    }

    private static func clean(_ s: ArraySlice<UInt8>, into out: inout [UInt8], depth: Int) throws {
        guard depth < 8 else { throw MathError.tooComplex }
        var i = s.startIndex
        let end = s.endIndex
        while i < end {
            let c = s[i]
            switch c {
            case UInt8(ascii: "$"): i += 1
            case 10, 9, 13, UInt8(ascii: "~"):
                out.append(32)
                i += 1
            case 0xC2 where i + 1 < end && s[i + 1] == 0xB0:  // "°"
                i += 2
            case 0xC2, 0xC3, 0xCF, 0xE2:
                // Unicode math a model may write: − × · ÷ π √ ∞ (anything else is kept as is)
                if let (ascii, length) = unicodeSymbol(s, i) {
                    out.append(contentsOf: ascii.utf8)
                    i += length
                } else {
                    out.append(c)
                    i += 1
                }
            case UInt8(ascii: "^")
            where matches(s, i + 1, "{\\circ}") || matches(s, i + 1, "\\circ") || matches(s, i + 1, "{\\circ }"):
                i += 1
                while i < end, s[i] != UInt8(ascii: "}"), !matches(s, i, "\\circ") { i += 1 }
                if matches(s, i, "\\circ") {
                    i += 5
                    if i < end, s[i] == UInt8(ascii: "}") {
                        i += 1
                    } else if i + 1 < end, s[i] == 32, s[i + 1] == UInt8(ascii: "}") {
                        i += 2
                    }
                } else {
                    i += 1
                }
            case UInt8(ascii: "{") where matches(s, i, "{,}"):
                i += 3
            case UInt8(ascii: "\\"):
                i += 1
                guard i < end else { break }
                let n = s[i]
                if !isLetter(n) {
                    i += 1
                    switch n {
                    case UInt8(ascii: "%"): out.append(n)
                    case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "|"):
                        out.append(UInt8(ascii: "\\"))
                        out.append(n)
                    case UInt8(ascii: " "): out.append(32)
                    default: break  // \, \! \; \: \$ \( \) \[ \]
                    }
                    continue
                }
                var j = i
                while j < end, isLetter(s[j]) { j += 1 }
                var name = String(decoding: s[i..<j], as: UTF8.self)
                i = j
                if dropped.contains(name) {
                    if (name == "left" || name == "right"), i < end, s[i] == UInt8(ascii: ".") { i += 1 }
                    continue
                }
                if name == "dfrac" || name == "tfrac" || name == "cfrac" { name = "frac" }
                if textual.contains(name) || unwrapped.contains(name) {
                    var k = i
                    while k < end, s[k] == 32 { k += 1 }
                    guard k < end, s[k] == UInt8(ascii: "{"), let close = AnswerExtractor.matchingBrace(s, open: k)
                    else { continue }
                    let content = s[(k + 1)..<close]
                    i = close + 1
                    let hasContentBefore = out.contains { $0 != 32 }
                    if textual.contains(name), hasContentBefore, isUnitLike(content) {
                        let word = AnswerExtractor.trimmed(content)
                        if word.elementsEqual("and".utf8) || word.elementsEqual("or".utf8) {
                            out.append(UInt8(ascii: ","))
                        }
                        // the unit's power goes with it: "5 \text{ cm}^2" is 5, not 25
                        var p = i
                        while p < end, s[p] == 32 { p += 1 }
                        if p + 1 < end, s[p] == UInt8(ascii: "^") {
                            if AnswerExtractor.isDigit(s[p + 1]) {
                                i = p + 2
                            } else if s[p + 1] == UInt8(ascii: "{"),
                                let c = AnswerExtractor.matchingBrace(s, open: p + 1),
                                s[(p + 2)..<c].allSatisfy(AnswerExtractor.isDigit)
                            {
                                i = c + 1
                            }
                        }
                        continue
                    }
                    out.append(32)
                    try clean(content, into: &out, depth: depth + 1)
                    out.append(32)
                    continue
                }
                out.append(UInt8(ascii: "\\"))
                out.append(contentsOf: name.utf8)
                // "\frac12", "\dfrac 12" -> "\frac{1}{2}" (TeX takes one digit per argument);
                // "\frac1{2}" and "\sqrt2" stay for the parser.
                var k = i
                while name == "frac", k < end, s[k] == 32 { k += 1 }
                if name == "frac", k + 1 < end, AnswerExtractor.isDigit(s[k]), AnswerExtractor.isDigit(s[k + 1]) {
                    let (open, close) = (UInt8(ascii: "{"), UInt8(ascii: "}"))
                    out.append(contentsOf: [open, s[k], close, open, s[k + 1], close])
                    i = k + 2
                } else if i < end, isLetter(s[i]) == false, s[i] != UInt8(ascii: "{"), s[i] != UInt8(ascii: "["),
                    s[i] != UInt8(ascii: "(")
                {
                    out.append(32)  // keep "\pi x" apart from what follows
                }
            default:
                out.append(c)
                i += 1
            }
        }
    }

    // MARK: - helpers

    private static let unicodeSymbols: [([UInt8], String)] = [
        ([0xE2, 0x88, 0x92], "-"), ([0xC3, 0x97], "*"), ([0xC2, 0xB7], "*"), ([0xE2, 0x8B, 0x85], "*"),
        ([0xC3, 0xB7], "/"),
        ([0xCF, 0x80], "\\pi "), ([0xE2, 0x88, 0x9A], "\\sqrt "), ([0xE2, 0x88, 0x9E], "\\infty "),
        ([0xE2, 0x80, 0x89], ""),
    ]

    private static func unicodeSymbol(_ s: ArraySlice<UInt8>, _ i: Int) -> (String, Int)? {
        for (bytes, ascii) in unicodeSymbols
        where i + bytes.count <= s.endIndex && s[i..<(i + bytes.count)].elementsEqual(bytes) {
            return (ascii, bytes.count)
        }
        return nil
    }

    static func isLetter(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }

    private static func matches(_ s: ArraySlice<UInt8>, _ at: Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard at >= s.startIndex, at + n <= s.endIndex else { return false }
        let p = word.utf8Start
        for k in 0..<n where s[at + k] != p[k] { return false }
        return true
    }

    /// Letters, spaces, dots, `/` and `^2`-style powers: "cm", " square units", "m/s", "cm^2".
    private static func isUnitLike(_ s: ArraySlice<UInt8>) -> Bool {
        var letters = 0
        for c in s {
            if isLetter(c) {
                letters += 1
                continue
            }
            if c == 32 || c == UInt8(ascii: ".") || c == UInt8(ascii: "/") || c == UInt8(ascii: "^")
                || AnswerExtractor.isDigit(c)
            {
                continue
            }
            return false
        }
        return letters > 0
    }

    private static func trimSpaces(_ out: inout [UInt8]) {
        while let l = out.last, l == 32 { out.removeLast() }
        var lead = 0
        while lead < out.count, out[lead] == 32 { lead += 1 }
        if lead > 0 { out.removeFirst(lead) }
    }

    /// "1,000,000" and "1 000 000" -> "1000000": groups of exactly three digits
    /// after a first group of one to three, not inside a longer number.
    static func removeThousandsSeparators(_ s: [UInt8]) -> [UInt8] {
        guard s.contains(UInt8(ascii: ",")) || s.contains(32) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            let startsNumber =
                AnswerExtractor.isDigit(s[i])
                && (i == 0 || !(AnswerExtractor.isDigit(s[i - 1]) || s[i - 1] == UInt8(ascii: ".")))
            guard startsNumber else {
                out.append(s[i])
                i += 1
                continue
            }
            var j = i
            while j < s.count, AnswerExtractor.isDigit(s[j]) { j += 1 }
            var groups = [i..<j]
            if j - i <= 3, j < s.count, s[j] == UInt8(ascii: ",") || s[j] == 32 {
                let sep = s[j]
                var k = j
                while k + 3 < s.count, s[k] == sep, AnswerExtractor.isDigit(s[k + 1]),
                    AnswerExtractor.isDigit(s[k + 2]),
                    AnswerExtractor.isDigit(s[k + 3]), k + 4 == s.count || !AnswerExtractor.isDigit(s[k + 4])
                {
                    groups.append((k + 1)..<(k + 4))
                    k += 4
                }
            }
            for g in groups { out.append(contentsOf: s[g]) }
            i = groups.last!.upperBound
        }
        return out
    }

    private static let mathWords: Set<String> = [
        "pi", "sin", "cos", "tan", "sec", "csc", "cot", "ln", "log", "exp", "or", "and",
        "sqrt", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "inf", "infty", "infinity",
    ]

    /// "12 apples" -> "12", "5 square units" -> "5", "3 cm^2" -> "3": words of two
    /// or more letters after a space that follows a number or a closing bracket.
    private static func stripTrailingUnits(_ out: inout [UInt8]) {
        for _ in 0..<4 {
            var end = out.count
            // optional "^2" / "^{2}"
            var k = end
            while k > 0,
                AnswerExtractor.isDigit(out[k - 1]) || out[k - 1] == UInt8(ascii: "{")
                    || out[k - 1] == UInt8(ascii: "}")
            { k -= 1 }
            if k < end, k > 0, out[k - 1] == UInt8(ascii: "^") { end = k - 1 }
            var start = end
            while start > 0, isLetter(out[start - 1]) { start -= 1 }
            guard end - start >= 2, start > 1, out[start - 1] == 32 else { return }
            let word = String(decoding: out[start..<end], as: UTF8.self).lowercased()
            guard !mathWords.contains(word) else { return }
            var before = start - 1
            while before > 0, out[before - 1] == 32 { before -= 1 }
            guard before > 0 else { return }
            let p = out[before - 1]
            guard AnswerExtractor.isDigit(p) || p == UInt8(ascii: ")") || p == UInt8(ascii: "}") || isLetter(p) else {
                return
            }
            if isLetter(p) {
                // another unit word ("square units"): only when a number comes before it
                var q = before - 1
                while q > 0, isLetter(out[q - 1]) { q -= 1 }
                guard q > 1, out[q - 1] == 32 else { return }
            }
            out.removeSubrange((before)..<out.count)
        }
    }
}
