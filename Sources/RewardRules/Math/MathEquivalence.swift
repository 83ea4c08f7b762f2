// Decides whether an extracted answer is equivalent to the gold answer.
//
// Semantics (the rule's documented contract):
// - Exact numbers (integers, fractions, powers, factorials, rational roots) compare
//   exactly: 1/2^60 is not 1/2^61, 0.1 + 0.2 is 3/10.
// - The gold decides how close an answer must be (`Tolerance`). A gold written with a
//   decimal point ("0.33", "2.50") allows the rule's relative tolerance. An exact gold
//   (an integer, a fraction, a radical, pi) needs an exact answer: 0.25 is 1/4, but
//   0.142857 is not 1/7 and 3.14159 is not pi. A task set's `numeric_tolerance`
//   replaces both with one relative tolerance for every gold.
// - Values that involve irrationals (pi, e, sqrt 2, sin, ln) are computed in Double and
//   must agree to 1e-9 relative (or the tolerance, whichever is larger). A decimal answer
//   is rational, so against an exact gold it must agree to floating-point error only
//   (0.5 is sin(pi/6); 3.14159265359 is not pi).
// - Percent: "p%" equals p and p/100 ("50\%" = "50" = "0.5"); never anything else.
// - Expressions with variables are equal when they agree at 4 fixed points with
//   rational non-integer coordinates (exact arithmetic where possible), and at least
//   2 of the points are defined on both sides.
// - Tuples and intervals are ordered, and their brackets must match ((1,2] is not (1,2));
//   sets, bare lists ("1, 2") and unions are unordered multisets; a one-element set equals
//   its element. A list never equals a single value ("1, 2, 3 or 4" is not 3).
// - Multiple choice: a gold "B" / "(B)" / "\text{(B)}" matches an answer that is that
//   letter, optionally in parentheses and followed by its text ("(B) 12").
// - Anything that does not parse as math compares as normalised text (case-insensitive,
//   spaces ignored).
// - Bounds: values beyond 8,192 bits, exponents beyond that, factorials beyond 300!,
//   answers beyond 1,000 bytes, 100 levels of nesting (each operand of a chain
//   counts as one) or 400 tokens throw `tooComplex`.

import Foundation

/// A value at one evaluation point.
enum MathValue {
    case exact(Rational)
    case approx(Double)

    /// The value as a Double; an exact value too large for one is refused rather than made infinite.
    func double() throws -> Double {
        switch self {
        case .exact(let r):
            let d = r.doubleValue
            guard d.isFinite else { throw MathError.tooComplex }
            return d
        case .approx(let d): return d
        }
    }
}

enum MathEquivalence {
    /// Internal tolerance for values computed through irrationals.
    static let irrationalTolerance = 1e-9

    /// A decimal answer against a value computed through irrationals: floating-point error only.
    static let decimalAgainstExactTolerance = 8 * Double.ulpOfOne

    /// How close a numeric answer must be to the gold.
    struct Tolerance: Sendable, Equatable {
        /// Relative tolerance when the gold is written with a decimal point.
        var decimalGold: Double
        /// One relative tolerance for every gold, exact ones included (a task set's `numeric_tolerance`);
        /// nil: an exact gold needs an exact answer.
        var everyGold: Double? = nil

        /// How one scalar answer (`answerDecimal`: written with a decimal point) is compared with one gold.
        func closeness(answerDecimal: Bool, goldDecimal: Bool) -> Closeness {
            if let everyGold { return .relative(everyGold) }
            return goldDecimal ? .relative(decimalGold) : .exact(decimalAnswer: answerDecimal)
        }
    }

    enum Closeness: Equatable {
        /// Within this relative tolerance (and never closer than irrationals are computed).
        case relative(Double)
        /// Exact values equal; values through irrationals to 1e-9, or to floating-point error
        /// when the answer is a decimal.
        case exact(decimalAnswer: Bool)
    }

    /// Whether `answer` (extracted from a completion) is equivalent to `gold` (the task's answer text).
    static func equivalent(answer: ArraySlice<UInt8>, gold: ArraySlice<UInt8>, tolerance: Tolerance) throws -> Bool {
        let goldText = try MathNormalizer.normalize(AnswerExtractor.goldAnswer(Array(gold)))
        let answerText = try MathNormalizer.normalize(answer)
        if let letter = choiceLetter(goldText, strict: true) {
            return choiceLetter(answerText, strict: false) == letter
        }
        if goldText == answerText { return true }
        let g = try MathParser.parse(goldText)
        let a = try MathParser.parse(answerText)
        return try equal(a, g, tolerance: tolerance)
    }

    /// "B", "(B)" (strict: the gold); also "(B) 12", "B)", "B." (an answer).
    static func choiceLetter(_ s: [UInt8], strict: Bool) -> UInt8? {
        var t = s[...]
        if t.first == UInt8(ascii: "(") { t = t.dropFirst() }
        guard let c = t.first, c >= 65, c <= 74 else { return nil }
        t = t.dropFirst()
        if t.first == UInt8(ascii: ")") {
            t = t.dropFirst()
        } else if !strict, t.first == UInt8(ascii: ".") || t.first == UInt8(ascii: ":") {
            t = t.dropFirst()
        }
        if t.isEmpty { return c }
        if !strict, t.first == 32,
            s.first == UInt8(ascii: "(") || s.dropFirst().first == UInt8(ascii: ")")
                || s.dropFirst().first == UInt8(ascii: ".")
        {
            return c
        }
        return nil
    }

    /// `a` is the answer, `b` the gold: the gold decides the tolerance.
    static func equal(_ a: MathAnswer, _ b: MathAnswer, tolerance: Tolerance) throws -> Bool {
        switch (a, b) {
        case let (.scalar(x, dx), .scalar(y, dy)):
            return try scalarsEqual(x, y, tolerance.closeness(answerDecimal: dx, goldDecimal: dy))
        case let (.set(xs), .set(ys)), let (.union(xs), .union(ys)):
            return try unorderedEqual(xs, ys, tolerance: tolerance)
        case let (.set(xs), .scalar), let (.set(xs), .bracketed):
            return try xs.count == 1 && equal(xs[0], b, tolerance: tolerance)
        case let (.scalar, .set(ys)), let (.bracketed, .set(ys)):
            return try ys.count == 1 && equal(a, ys[0], tolerance: tolerance)
        case let (.bracketed(o1, c1, xs), .bracketed(o2, c2, ys)):
            guard o1 == o2, c1 == c2, xs.count == ys.count else { return false }
            for (x, y) in zip(xs, ys) where try !equal(x, y, tolerance: tolerance) { return false }
            return true
        case let (.text(x), .text(y)):
            return textKey(x) == textKey(y)
        case let (.choice(x), .choice(y)):
            return x == y
        default:
            return false
        }
    }

    private static func textKey(_ s: [UInt8]) -> [UInt8] {
        s.compactMap { c in c == 32 ? nil : (c >= 65 && c <= 90 ? c + 32 : c) }
    }

    private static func unorderedEqual(_ xs: [MathAnswer], _ ys: [MathAnswer], tolerance: Tolerance) throws -> Bool {
        guard xs.count == ys.count, xs.count <= 64 else { return false }
        var used = [Bool](repeating: false, count: ys.count)
        outer: for x in xs {
            for (j, y) in ys.enumerated() where !used[j] {
                if try equal(x, y, tolerance: tolerance) {
                    used[j] = true
                    continue outer
                }
            }
            return false
        }
        return true
    }

    // MARK: - scalars

    /// Fixed evaluation coordinates: rational, non-integer, mostly positive (so that
    /// roots and logs are defined), different for each variable at one point.
    private static let coordinates: [(Int, Int)] = [
        (7, 3), (11, 5), (-5, 7), (13, 4), (17, 9), (3, 11), (-9, 4), (19, 6), (23, 10), (5, 13),
    ]

    static func scalarsEqual(_ x: MathExpr, _ y: MathExpr, _ closeness: Closeness) throws -> Bool {
        // "50%" equals 50 and 0.5.
        if case .percent(let inner) = x {
            return try scalarsEqual(inner, y, closeness)
                || scalarsEqual(.divide(inner, .number(Rational(100))), y, closeness)
        }
        if case .percent = y { return try scalarsEqual(y, x, closeness) }

        var names = Set<String>()
        collectVariables(x, into: &names)
        collectVariables(y, into: &names)
        if names.isEmpty {
            let vx = try evaluate(x, [:])
            let vy = try evaluate(y, [:])
            return try close(vx, vy, closeness)
        }
        guard names.count <= 6 else { throw MathError.tooComplex }
        let sorted = names.sorted()
        var defined = 0
        for point in 0..<4 {
            var env: [String: MathValue] = [:]
            for (j, name) in sorted.enumerated() {
                let (n, d) = coordinates[(point * 3 + j) % coordinates.count]
                env[name] = .exact(
                    Rational(negative: n < 0, num: BoundedUInt(UInt64(abs(n))), den: BoundedUInt(UInt64(d))))
            }
            let vx: MathValue?
            let vy: MathValue?
            do { vx = try evaluate(x, env) } catch MathError.undefined { vx = nil }
            do { vy = try evaluate(y, env) } catch MathError.undefined { vy = nil }
            switch (vx, vy) {
            case (nil, nil): continue
            case let (a?, b?):
                guard try close(a, b, closeness) else { return false }
                defined += 1
            default: return false
            }
        }
        return defined >= 2
    }

    static func close(_ a: MathValue, _ b: MathValue, _ closeness: Closeness) throws -> Bool {
        if case .exact(let p) = a, case .exact(let q) = b {
            if p == q { return true }
            guard case .relative(let tolerance) = closeness else { return false }
            return relativelyClose(p.doubleValue, q.doubleValue, tolerance)
        }
        let da = try a.double()
        let db = try b.double()
        if da.isNaN || db.isNaN { return false }
        if da.isInfinite || db.isInfinite { return da == db }
        switch closeness {
        case .relative(let tolerance): return relativelyClose(da, db, max(tolerance, irrationalTolerance))
        case .exact(let decimalAnswer):
            return relativelyClose(da, db, decimalAnswer ? decimalAgainstExactTolerance : irrationalTolerance)
        }
    }

    static func relativelyClose(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool {
        a == b || abs(a - b) <= tolerance * max(abs(a), abs(b))
    }

    private static func collectVariables(_ e: MathExpr, into names: inout Set<String>) {
        switch e {
        case .variable(let n): names.insert(n)
        case .number, .constant, .infinity: break
        case .negate(let a), .function(_, let a), .factorial(let a), .percent(let a), .absolute(let a):
            collectVariables(a, into: &names)
        case .add(let a, let b), .subtract(let a, let b), .multiply(let a, let b), .divide(let a, let b),
            .power(let a, let b),
            .root(let a, let b), .log(let a, let b), .binomial(let a, let b):
            collectVariables(a, into: &names)
            collectVariables(b, into: &names)
        }
    }

    // MARK: - evaluation

    private static func approx(_ d: Double) throws -> MathValue {
        if d.isNaN { throw MathError.undefined }
        if d.isInfinite { throw MathError.tooComplex }
        return .approx(d)
    }

    static func evaluate(_ e: MathExpr, _ env: [String: MathValue]) throws -> MathValue {
        switch e {
        case .number(let r): return .exact(r)
        case .variable(let n): return env[n] ?? .approx(.nan)
        case .constant(let d): return .approx(d)
        case .infinity: return .approx(.infinity)
        case .negate(let a):
            switch try evaluate(a, env) {
            case .exact(let r): return .exact(-r)
            case .approx(let d): return .approx(-d)
            }
        case .add(let a, let b): return try arithmetic(a, b, env, { try $0 + $1 }, { $0 + $1 })
        case .subtract(let a, let b): return try arithmetic(a, b, env, { try $0 - $1 }, { $0 - $1 })
        case .multiply(let a, let b): return try arithmetic(a, b, env, { try $0 * $1 }, { $0 * $1 })
        case .divide(let a, let b):
            return try arithmetic(
                a, b, env, { try $0 / $1 },
                { x, y in
                    guard y != 0 else { throw MathError.undefined }
                    return x / y
                })
        case .power(let a, let b): return try power(try evaluate(a, env), try evaluate(b, env))
        case .root(let a, let index):
            let x = try evaluate(a, env)
            let k = try evaluate(index, env)
            guard case .exact(let kr) = k, let n = kr.intValue, n >= 1, n <= 64 else {
                return try power(x, .approx(1 / k.double()))
            }
            return try power(x, .exact(try Rational.one / Rational(n)))
        case .function(let name, let a):
            let x = try evaluate(a, env).double()
            switch name {
            case "sin": return try approx(Foundation.sin(x))
            case "cos": return try approx(Foundation.cos(x))
            case "tan": return try approx(Foundation.tan(x))
            case "sec": return try approx(1 / Foundation.cos(x))
            case "csc": return try approx(1 / Foundation.sin(x))
            case "cot": return try approx(1 / Foundation.tan(x))
            case "arcsin": return try approx(Foundation.asin(x))
            case "arccos": return try approx(Foundation.acos(x))
            case "arctan": return try approx(Foundation.atan(x))
            case "sinh": return try approx(Foundation.sinh(x))
            case "cosh": return try approx(Foundation.cosh(x))
            case "tanh": return try approx(Foundation.tanh(x))
            case "exp": return try approx(Foundation.exp(x))
            case "ln", "log":
                guard x > 0 else { throw MathError.undefined }
                return .approx(Foundation.log(x))
            default: throw MathError.undefined
            }
        case .log(let a, let base):
            let x = try evaluate(a, env).double()
            let b = try evaluate(base, env).double()
            guard x > 0, b > 0, b != 1 else { throw MathError.undefined }
            return .approx(Foundation.log(x) / Foundation.log(b))
        case .factorial(let a):
            guard case .exact(let r) = try evaluate(a, env), r.isInteger, !r.negative else { throw MathError.undefined }
            guard let n = r.intValue else { throw MathError.tooComplex }
            guard n <= 300 else { throw MathError.tooComplex }
            return .exact(try factorial(n))
        case .binomial(let a, let b):
            guard case .exact(let rn) = try evaluate(a, env), case .exact(let rk) = try evaluate(b, env),
                rn.isInteger, rk.isInteger
            else { throw MathError.undefined }
            guard let n = rn.intValue, let k = rk.intValue else { throw MathError.tooComplex }
            guard n >= 0, k >= 0, k <= n else { return .exact(.zero) }
            guard n <= 300 else { throw MathError.tooComplex }
            return .exact(try factorial(n) / (try factorial(k) * factorial(n - k)))
        case .percent(let a):
            return try arithmetic(a, .number(Rational(100)), env, { try $0 / $1 }, { $0 / $1 })
        case .absolute(let a):
            switch try evaluate(a, env) {
            case .exact(let r):
                var m = r
                m.negative = false
                return .exact(m)
            case .approx(let d): return .approx(abs(d))
            }
        }
    }

    private static func factorial(_ n: Int) throws -> Rational {
        var r = Rational.one
        if n > 1 { for k in 2...n { r = try r * Rational(k) } }
        return r
    }

    private static func arithmetic(
        _ a: MathExpr, _ b: MathExpr, _ env: [String: MathValue],
        _ exact: (Rational, Rational) throws -> Rational,
        _ inexact: (Double, Double) throws -> Double
    ) throws -> MathValue {
        let x = try evaluate(a, env)
        let y = try evaluate(b, env)
        if case .exact(let p) = x, case .exact(let q) = y { return .exact(try exact(p, q)) }
        let dx = try x.double()
        let dy = try y.double()
        let d = try inexact(dx, dy)
        if d.isNaN { throw MathError.undefined }
        if d.isInfinite, dx.isFinite, dy.isFinite { throw MathError.tooComplex }  // overflow, not \infty
        return .approx(d)
    }

    /// x^y: exact for rational x and integer y (refused from a size estimate when
    /// too large), exact for rational roots that come out rational, Double otherwise.
    static func power(_ x: MathValue, _ y: MathValue) throws -> MathValue {
        if case .exact(let base) = x, case .exact(let e) = y {
            if base.isZero {
                if e.isZero { return .exact(.one) }
                if e.negative { throw MathError.undefined }
                return .exact(.zero)
            }
            if base == .one { return .exact(.one) }
            if e.isInteger {
                if base == Rational(-1) { return .exact((e.num.limbs.first ?? 0) & 1 == 0 ? .one : base) }
                guard let n = e.intValue else { throw MathError.tooComplex }
                guard abs(n) <= BoundedUInt.maxBits else { throw MathError.tooComplex }
                return .exact(try base.power(n))
            }
            // p/q: the exact q-th root when it is rational.
            if let q = e.den.small, q <= 64, let p = e.num.small, p <= UInt64(BoundedUInt.maxBits) {
                if let r = base.root(Int(q)) { return .exact(try r.power(e.negative ? -Int(p) : Int(p))) }
                if base.negative && q % 2 == 1 {
                    // odd root of a negative number: real
                    let m = Foundation.pow(-base.doubleValue, 1 / Double(q))
                    let v = Foundation.pow(m, Double(p)) * (p % 2 == 1 ? -1 : 1)
                    return try finite(e.negative ? 1 / v : v)
                }
            }
        }
        let b = try x.double()
        let e = try y.double()
        if b < 0 && e != e.rounded() { throw MathError.undefined }
        return try finite(Foundation.pow(b, e))
    }

    private static func finite(_ d: Double) throws -> MathValue {
        if d.isNaN { throw MathError.undefined }
        if d.isInfinite { throw MathError.tooComplex }
        return .approx(d)
    }
}
