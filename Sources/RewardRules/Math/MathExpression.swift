// Parses a normalised answer into a structured value and evaluates its expressions.
//
//   answer   := "\{" items "\}"                       set (unordered)
//             | ("(" | "[") item "," item ... (")" | "]")   tuple / interval (ordered, brackets kept)
//             | answer ("\cup" answer)+               union (unordered)
//             | item ("," | "or" | "and") item ...    bare list (unordered)
//             | item
//   item     := [letter ("=" | \in | \approx)] expr  "x = 3" is "3"
//   expr     := unary (("+" | "-" | "\pm") unary)*
//   unary    := ("-" | "+" | "\pm") unary | term      "-x^2" is -(x^2)
//   term     := power (("*" | "/" | implicit) power)*  "2x", "3\sqrt{2}", "(x+1)(x-1)"; "2\frac{1}{3}" is 7/3
//   power    := postfix ["^" ["-"] power]             right-associative
//   postfix  := atom ("!" | "%")*
//   atom     := number | letter | \pi | e | \infty | "(" expr ")" | "{" expr "}" | "|" expr "|"
//             | \frac{a}{b} | \sqrt[n]{a} | \binom{n}{k} | function atom (sin, ln, \log_{b}, ...)
//
// Letters are variables (one letter each: "xy" is x*y), `e` is Euler's number,
// `i` is a variable (so 3+2i and 2i+3 agree at every point). A run of four or
// more letters that is not a function name makes the answer text.
// Bounded: at most `maxTokens` tokens and `maxDepth` nested levels.

import Foundation

indirect enum MathExpr {
    case number(Rational)
    case variable(String)
    case constant(Double)
    case infinity
    case negate(MathExpr)
    case add(MathExpr, MathExpr)
    case subtract(MathExpr, MathExpr)
    case multiply(MathExpr, MathExpr)
    case divide(MathExpr, MathExpr)
    case power(MathExpr, MathExpr)
    case root(MathExpr, index: MathExpr)
    case function(String, MathExpr)
    case log(MathExpr, base: MathExpr)
    case factorial(MathExpr)
    case percent(MathExpr)
    case absolute(MathExpr)
    case binomial(MathExpr, MathExpr)
}

/// A parsed answer.
indirect enum MathAnswer {
    /// `decimal`: a decimal literal ("0.5") appears, so the relative tolerance applies.
    case scalar(MathExpr, decimal: Bool)
    case set([MathAnswer])
    case bracketed(open: UInt8, close: UInt8, [MathAnswer])
    case union([MathAnswer])
    case choice(UInt8)
    case text([UInt8])
}

struct MathParser {
    static let maxTokens = 400
    static let maxDepth = 100

    enum Kind: Equatable { case number, letter, word, command, symbol }
    struct Token {
        var kind: Kind
        var text: String = ""  // letter / word / command name
        var symbol: UInt8 = 0
        var range: Range<Int> = 0..<0  // number digits in the source
    }
    /// Symbols for commands that act as operators.
    static let plusMinus: UInt8 = 1, cup: UInt8 = 2, setOpen: UInt8 = 3, setClose: UInt8 = 4

    let source: [UInt8]
    var tokens: [Token] = []
    var pos = 0
    var end = 0
    var depth = 0
    var sawDecimal = false
    /// +1 or -1: the sign `\pm` takes in this parse; `sawPlusMinus` asks for the other parse.
    var plusMinusSign = 1
    var sawPlusMinus = false

    static let functions: Set<String> = [
        "sin", "cos", "tan", "sec", "csc", "cot", "ln", "log", "exp", "arcsin", "arccos", "arctan",
        "sinh", "cosh", "tanh", "sqrt",
    ]

    /// The answer for normalised text; `.text` when it is not math.
    static func parse(_ text: [UInt8]) throws -> MathAnswer {
        var p = MathParser(source: text)
        do {
            try p.tokenize()
            p.end = p.tokens.count
            guard p.end > 0 else { return .text(text) }
            return try p.answer(0, p.end)
        } catch MathError.invalid {
            return .text(text)
        }
    }

    // MARK: - tokens

    private mutating func tokenize() throws {
        let s = source
        var i = 0
        while i < s.count {
            guard tokens.count < MathParser.maxTokens else { throw MathError.tooComplex }
            let c = s[i]
            if c == 32 {
                i += 1
                continue
            }
            if AnswerExtractor.isDigit(c)
                || (c == UInt8(ascii: ".") && i + 1 < s.count && AnswerExtractor.isDigit(s[i + 1]))
            {
                let start = i
                while i < s.count, AnswerExtractor.isDigit(s[i]) { i += 1 }
                if i + 1 < s.count, s[i] == UInt8(ascii: "."), AnswerExtractor.isDigit(s[i + 1]) {
                    i += 1
                    while i < s.count, AnswerExtractor.isDigit(s[i]) { i += 1 }
                } else if i < s.count, s[i] == UInt8(ascii: "."), start < i,
                    !(i + 1 < s.count && MathNormalizer.isLetter(s[i + 1]))
                {
                    i += 1  // "5." is 5
                }
                // scientific notation: 1e3, 2.5E-4 (a digit must follow)
                if i < s.count, s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E") {
                    var j = i + 1
                    if j < s.count, s[j] == UInt8(ascii: "+") || s[j] == UInt8(ascii: "-") { j += 1 }
                    if j < s.count, AnswerExtractor.isDigit(s[j]) {
                        while j < s.count, AnswerExtractor.isDigit(s[j]) { j += 1 }
                        i = j
                    }
                }
                tokens.append(Token(kind: .number, range: start..<i))
                continue
            }
            if MathNormalizer.isLetter(c) {
                var j = i
                while j < s.count, MathNormalizer.isLetter(s[j]) { j += 1 }
                let run = String(decoding: s[i..<j], as: UTF8.self)
                if run == "or" || run == "and" {
                    tokens.append(Token(kind: .symbol, symbol: UInt8(ascii: ",")))
                } else if run == "pi" || run == "infty" || run == "inf" || run == "infinity"
                    || MathParser.functions.contains(run)
                {
                    tokens.append(Token(kind: .word, text: run))
                } else if run.utf8.count >= 4 {
                    throw MathError.invalid
                } else {
                    for b in s[i..<j] { tokens.append(Token(kind: .letter, text: String(UnicodeScalar(b)))) }
                }
                i = j
                continue
            }
            if c == UInt8(ascii: "\\") {
                var j = i + 1
                if j < s.count, s[j] == UInt8(ascii: "{") {
                    tokens.append(Token(kind: .symbol, symbol: MathParser.setOpen))
                    i = j + 1
                    continue
                }
                if j < s.count, s[j] == UInt8(ascii: "}") {
                    tokens.append(Token(kind: .symbol, symbol: MathParser.setClose))
                    i = j + 1
                    continue
                }
                if j < s.count, s[j] == UInt8(ascii: "|") {
                    tokens.append(Token(kind: .symbol, symbol: UInt8(ascii: "|")))
                    i = j + 1
                    continue
                }
                while j < s.count, MathNormalizer.isLetter(s[j]) { j += 1 }
                guard j > i + 1 else { throw MathError.invalid }
                let name = String(decoding: s[(i + 1)..<j], as: UTF8.self)
                i = j
                switch name {
                case "pm", "mp": tokens.append(Token(kind: .symbol, symbol: MathParser.plusMinus))
                // "x \in [0,1]", "x \approx 2"
                case "in", "approx": tokens.append(Token(kind: .symbol, symbol: UInt8(ascii: "=")))
                case "cup": tokens.append(Token(kind: .symbol, symbol: MathParser.cup))
                case "cdot", "times", "ast": tokens.append(Token(kind: .symbol, symbol: UInt8(ascii: "*")))
                case "div": tokens.append(Token(kind: .symbol, symbol: UInt8(ascii: "/")))
                case "pi", "infty": tokens.append(Token(kind: .word, text: name))
                case "frac", "sqrt", "binom", "log", "ln", "exp", "sin", "cos", "tan", "sec", "csc", "cot", "arcsin",
                    "arccos", "arctan",
                    "sinh", "cosh", "tanh", "lvert", "rvert", "vert", "mid":
                    if name == "lvert" || name == "rvert" || name == "vert" || name == "mid" {
                        tokens.append(Token(kind: .symbol, symbol: UInt8(ascii: "|")))
                    } else {
                        tokens.append(Token(kind: .command, text: name))
                    }
                case "alpha", "beta", "gamma", "delta", "theta", "lambda", "mu", "phi", "omega", "sigma", "tau", "rho",
                    "epsilon":
                    tokens.append(Token(kind: .letter, text: name))
                default: throw MathError.invalid
                }
                continue
            }
            switch c {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"), UInt8(ascii: "^"),
                UInt8(ascii: "_"),
                UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"),
                UInt8(ascii: "}"),
                UInt8(ascii: ","), UInt8(ascii: "!"), UInt8(ascii: "%"), UInt8(ascii: "|"), UInt8(ascii: "="):
                tokens.append(Token(kind: .symbol, symbol: c))
                i += 1
            default:
                throw MathError.invalid
            }
        }
    }

    // MARK: - answers

    private func isSymbol(_ i: Int, _ s: UInt8) -> Bool {
        i < end && tokens[i].kind == .symbol && tokens[i].symbol == s
    }

    private static func isOpen(_ t: Token) -> Bool {
        t.kind == .symbol
            && (t.symbol == UInt8(ascii: "(") || t.symbol == UInt8(ascii: "[") || t.symbol == UInt8(ascii: "{")
                || t.symbol == setOpen)
    }
    private static func isClose(_ t: Token) -> Bool {
        t.kind == .symbol
            && (t.symbol == UInt8(ascii: ")") || t.symbol == UInt8(ascii: "]") || t.symbol == UInt8(ascii: "}")
                || t.symbol == setClose)
    }

    /// Ranges of [lo, hi) split at top-level `separator` symbols.
    private func split(_ lo: Int, _ hi: Int, at separator: UInt8) throws -> [Range<Int>] {
        var parts: [Range<Int>] = []
        var level = 0
        var start = lo
        for i in lo..<hi {
            let t = tokens[i]
            if MathParser.isOpen(t) {
                level += 1
            } else if MathParser.isClose(t) {
                level -= 1
                guard level >= 0 else { throw MathError.invalid }
            } else if level == 0, t.kind == .symbol, t.symbol == separator {
                parts.append(start..<i)
                start = i + 1
            }
        }
        guard level == 0 else { throw MathError.invalid }
        parts.append(start..<hi)
        return parts
    }

    /// Index of the token closing the bracket opened at `open` (any bracket kind, for intervals).
    private func closing(_ open: Int, _ hi: Int) -> Int? {
        var level = 0
        for i in open..<hi {
            if MathParser.isOpen(tokens[i]) {
                level += 1
            } else if MathParser.isClose(tokens[i]) {
                level -= 1
                if level == 0 { return i }
            }
        }
        return nil
    }

    private mutating func answer(_ lo: Int, _ hi: Int) throws -> MathAnswer {
        depth += 1
        defer { depth -= 1 }
        guard depth < MathParser.maxDepth else { throw MathError.tooComplex }
        guard lo < hi else { throw MathError.invalid }
        let unionParts = try split(lo, hi, at: MathParser.cup)
        if unionParts.count > 1 { return .union(try unionParts.map { try answer($0.lowerBound, $0.upperBound) }) }

        if let s = try structured(lo, hi) { return s }
        let parts = try split(lo, hi, at: UInt8(ascii: ","))
        if parts.count > 1 { return .set(try parts.map { try item($0.lowerBound, $0.upperBound) }) }
        return try item(lo, hi)
    }

    /// A set `\{...\}` / `{...}`, or a tuple / interval with at least two items; nil otherwise.
    private mutating func structured(_ lo: Int, _ hi: Int) throws -> MathAnswer? {
        guard lo < hi else { throw MathError.invalid }
        let first = tokens[lo]
        guard first.kind == .symbol, closing(lo, hi) == hi - 1 else { return nil }
        if first.symbol == MathParser.setOpen || first.symbol == UInt8(ascii: "{") {
            let inner = try split(lo + 1, hi - 1, at: UInt8(ascii: ","))
            if first.symbol == UInt8(ascii: "{"), inner.count < 2 { return nil }  // a plain group
            guard hi - lo > 2 else { return .set([]) }
            return .set(try inner.map { try item($0.lowerBound, $0.upperBound) })
        }
        if first.symbol == UInt8(ascii: "(") || first.symbol == UInt8(ascii: "[") {
            let inner = try split(lo + 1, hi - 1, at: UInt8(ascii: ","))
            if inner.count > 1 {
                return .bracketed(
                    open: first.symbol, close: tokens[hi - 1].symbol,
                    try inner.map { try item($0.lowerBound, $0.upperBound) })
            }
        }
        return nil
    }

    /// One value: "x = 3" is 3; a `\pm` gives the set of both signs.
    private mutating func item(_ lo: Int, _ hi: Int) throws -> MathAnswer {
        var lo = lo
        guard lo < hi else { throw MathError.invalid }  // "1,,2"
        if hi - lo > 1, isSymbol(lo, UInt8(ascii: "=")) { lo += 1 }  // "= 3"
        if hi - lo > 2, tokens[lo].kind == .letter, isSymbol(lo + 1, UInt8(ascii: "=")) { lo += 2 }
        if let s = try structured(lo, hi) { return s }  // a nested tuple or set
        sawDecimal = false
        sawPlusMinus = false
        plusMinusSign = 1
        let e = try expression(lo, hi)
        let decimal = sawDecimal
        if sawPlusMinus {
            plusMinusSign = -1
            let other = try expression(lo, hi)
            return .set([.scalar(e, decimal: decimal), .scalar(other, decimal: decimal)])
        }
        return .scalar(e, decimal: decimal)
    }

    // MARK: - expressions

    private mutating func expression(_ lo: Int, _ hi: Int) throws -> MathExpr {
        let saved = (pos, end)
        pos = lo
        end = hi
        defer { (pos, end) = saved }
        let e = try sum()
        guard pos == hi else { throw MathError.invalid }
        return e
    }

    private mutating func enter() throws {
        depth += 1
        guard depth < MathParser.maxDepth else { throw MathError.tooComplex }
    }

    private mutating func sum() throws -> MathExpr {
        // Each operand deepens the (left-leaning) tree, so each counts towards the depth bound.
        try enter()
        var levels = 1
        defer { depth -= levels }
        var e = try unary()
        while pos < end, tokens[pos].kind == .symbol {
            try enter()
            levels += 1
            let s = tokens[pos].symbol
            if s == UInt8(ascii: "+") {
                pos += 1
                e = .add(e, try unary())
            } else if s == UInt8(ascii: "-") {
                pos += 1
                e = .subtract(e, try unary())
            } else if s == MathParser.plusMinus {
                pos += 1
                sawPlusMinus = true
                let t = try term()
                e = plusMinusSign > 0 ? .add(e, t) : .subtract(e, t)
            } else {
                break
            }
        }
        return e
    }

    private mutating func term() throws -> MathExpr {
        var e = try power()
        var levels = 0
        defer { depth -= levels }
        while pos < end {
            try enter()
            levels += 1
            let t = tokens[pos]
            if t.kind == .symbol, t.symbol == UInt8(ascii: "*") {
                pos += 1
                e = .multiply(e, try power())
                continue
            }
            if t.kind == .symbol, t.symbol == UInt8(ascii: "/") {
                pos += 1
                e = .divide(e, try power())
                continue
            }
            if startsAtom(t) {
                // "2\frac{1}{3}" is the mixed number 7/3, not 2/3.
                if case .number(let whole) = e, whole.isInteger, t.kind == .command, t.text == "frac",
                    let (n, d) = simpleFraction(at: pos)
                {
                    pos += 7
                    e = .add(e, .divide(.number(n), .number(d)))
                    continue
                }
                e = .multiply(e, try power())
                continue
            }
            break
        }
        return e
    }

    /// `\frac{n}{d}` with plain integers at `i`: the 7 tokens of a mixed number's fraction.
    private mutating func simpleFraction(at i: Int) -> (Rational, Rational)? {
        guard i + 6 < end, isSymbol(i + 1, UInt8(ascii: "{")), tokens[i + 2].kind == .number,
            isSymbol(i + 3, UInt8(ascii: "}")),
            isSymbol(i + 4, UInt8(ascii: "{")), tokens[i + 5].kind == .number, isSymbol(i + 6, UInt8(ascii: "}")),
            let n = try? number(tokens[i + 2].range), let d = try? number(tokens[i + 5].range), n.isInteger,
            d.isInteger, !d.isZero
        else { return nil }
        return (n, d)
    }

    private func startsAtom(_ t: Token) -> Bool {
        switch t.kind {
        case .number, .letter, .word, .command: return true
        case .symbol:
            return t.symbol == UInt8(ascii: "(") || t.symbol == UInt8(ascii: "[") || t.symbol == UInt8(ascii: "{")
        }
    }

    /// A leading sign, then a term ("-x^2" is -(x^2)).
    private mutating func unary() throws -> MathExpr {
        try enter()
        defer { depth -= 1 }
        if isSymbol(pos, UInt8(ascii: "-")) {
            pos += 1
            return .negate(try unaryTerm())
        }
        if isSymbol(pos, UInt8(ascii: "+")) {
            pos += 1
            return try unaryTerm()
        }
        if isSymbol(pos, MathParser.plusMinus) {
            pos += 1
            sawPlusMinus = true
            let t = try unaryTerm()
            return plusMinusSign > 0 ? t : .negate(t)
        }
        return try term()
    }

    private mutating func unaryTerm() throws -> MathExpr {
        if isSymbol(pos, UInt8(ascii: "-")) || isSymbol(pos, UInt8(ascii: "+")) { return try unary() }
        return try term()
    }

    private mutating func power() throws -> MathExpr {
        try enter()
        defer { depth -= 1 }
        let base = try postfix()
        guard isSymbol(pos, UInt8(ascii: "^")) else { return base }
        pos += 1
        var exponent: MathExpr
        if isSymbol(pos, UInt8(ascii: "-")) {
            pos += 1
            exponent = .negate(try power())
        } else {
            exponent = try power()
        }
        exponent = try postfixOperators(exponent)
        return .power(base, exponent)
    }

    private mutating func postfix() throws -> MathExpr { try postfixOperators(try atom()) }

    private mutating func postfixOperators(_ e: MathExpr) throws -> MathExpr {
        var e = e
        while pos < end, tokens[pos].kind == .symbol {
            if tokens[pos].symbol == UInt8(ascii: "!") {
                pos += 1
                e = .factorial(e)
            } else if tokens[pos].symbol == UInt8(ascii: "%") {
                pos += 1
                e = .percent(e)
            } else {
                break
            }
        }
        return e
    }

    /// `{...}` (or a single atom when there is no brace: `\frac12`, `\sqrt2`).
    private mutating func argument() throws -> MathExpr {
        if isSymbol(pos, UInt8(ascii: "{")) { return try group(close: UInt8(ascii: "}")) }
        return try atom()
    }

    private mutating func group(close: UInt8) throws -> MathExpr {
        pos += 1
        let e = try sum()
        guard isSymbol(pos, close) else { throw MathError.invalid }
        pos += 1
        return e
    }

    private mutating func atom() throws -> MathExpr {
        try enter()
        defer { depth -= 1 }
        guard pos < end else { throw MathError.invalid }
        let t = tokens[pos]
        switch t.kind {
        case .number:
            pos += 1
            return .number(try number(t.range))
        case .letter:
            pos += 1
            if t.text == "e" { return .constant(M_E) }
            return .variable(t.text)
        case .word:
            pos += 1
            if t.text == "pi" { return .constant(Double.pi) }
            if t.text == "infty" || t.text == "inf" || t.text == "infinity" { return .infinity }
            return try functionCall(t.text)
        case .command:
            pos += 1
            switch t.text {
            case "frac": return .divide(try argument(), try argument())
            case "binom": return .binomial(try argument(), try argument())
            case "sqrt":
                var index = MathExpr.number(Rational(2))
                if isSymbol(pos, UInt8(ascii: "[")) { index = try group(close: UInt8(ascii: "]")) }
                return .root(try argument(), index: index)
            default: return try functionCall(t.text)
            }
        case .symbol:
            switch t.symbol {
            case UInt8(ascii: "("): return try group(close: UInt8(ascii: ")"))
            case UInt8(ascii: "["): return try group(close: UInt8(ascii: "]"))
            case UInt8(ascii: "{"): return try group(close: UInt8(ascii: "}"))
            case UInt8(ascii: "|"):
                pos += 1
                let e = try sum()
                guard isSymbol(pos, UInt8(ascii: "|")) else { throw MathError.invalid }
                pos += 1
                return .absolute(e)
            default: throw MathError.invalid
            }
        }
    }

    /// `\sin x`, `\sin(x)`, `\sin^2 x`, `\log_{2} 8`, `\ln 2`.
    private mutating func functionCall(_ name: String) throws -> MathExpr {
        if name == "sqrt" { return .root(try argument(), index: .number(Rational(2))) }
        var base: MathExpr?
        if isSymbol(pos, UInt8(ascii: "_")) {
            pos += 1
            base = try argument()
        }
        var exponent: MathExpr?
        if isSymbol(pos, UInt8(ascii: "^")) {
            pos += 1
            exponent = try argument()
        }
        let arg = try power()
        var e: MathExpr = base.map { .log(arg, base: $0) } ?? .function(name, arg)
        if let exponent { e = .power(e, exponent) }
        return e
    }

    /// A decimal literal as an exact rational: "2.50" is 5/2, "1e-3" is 1/1000.
    private mutating func number(_ r: Range<Int>) throws -> Rational {
        let s = source[r]
        var digits: [UInt8] = []
        var fractionDigits = 0
        var inFraction = false
        var k = s.startIndex
        while k < s.endIndex, s[k] != UInt8(ascii: "e"), s[k] != UInt8(ascii: "E") {
            if s[k] == UInt8(ascii: ".") {
                inFraction = true
            } else {
                digits.append(s[k])
                if inFraction { fractionDigits += 1 }
            }
            k += 1
        }
        if fractionDigits > 0 { sawDecimal = true }
        var exponent = 0
        if k < s.endIndex {
            k += 1
            var negative = false
            if s[k] == UInt8(ascii: "-") {
                negative = true
                k += 1
            } else if s[k] == UInt8(ascii: "+") {
                k += 1
            }
            guard s.endIndex - k <= 5 else { throw MathError.tooComplex }
            for d in s[k..<s.endIndex] { exponent = exponent * 10 + Int(d - 48) }
            if negative { exponent = -exponent }
        }
        let mantissa = try BoundedUInt(decimalDigits: digits[...])
        let scale = exponent - fractionDigits
        guard abs(scale) <= 2400 else { throw MathError.tooComplex }
        if scale == 0 { return Rational(num: mantissa) }
        return try Rational(num: mantissa) * Rational(10).power(scale)
    }
}
