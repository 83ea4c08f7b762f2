// Exact rational arithmetic on bounded big integers, for the math rule.
//
//   BoundedUInt: magnitude, little-endian UInt64 limbs, at most `maxBits` bits.
//   Rational:    sign x num / den, den > 0, reduced whenever num and den fit in 64 bits.
//
// Every operation that would exceed `maxBits` throws `MathError.tooComplex`
// instead of allocating: `9^{9^{9^9}}` is refused from a size estimate before
// any multiplication. Equality is exact (cross-multiplication), so 1/2^60 and
// 1/2^61 never compare equal. Overflow is checked with the *ReportingOverflow
// operations explicitly: the release build uses -Ounchecked, which drops Swift's
// trapping checks.

import Foundation

/// Why a math answer could not be judged.
public enum MathError: Error, Equatable {
    /// Beyond the size, depth or length bounds (reported as "too_complex").
    case tooComplex
    /// Not parseable as math (falls back to comparing text).
    case invalid
    /// Division by zero, root of a negative, ... at an evaluation point.
    case undefined
}

public struct BoundedUInt: Equatable {
    /// Size bound of every intermediate value (about 2,466 decimal digits).
    static let maxBits = 8192
    /// Little-endian, no trailing zero limbs (zero is []).
    var limbs: [UInt64]

    public init(_ v: UInt64) { limbs = v == 0 ? [] : [v] }
    init(limbs: [UInt64]) {
        var l = limbs
        while let last = l.last, last == 0 { l.removeLast() }
        self.limbs = l
    }

    var isZero: Bool { limbs.isEmpty }
    var isOne: Bool { limbs.count == 1 && limbs[0] == 1 }
    /// The value when it fits in 64 bits.
    var small: UInt64? { limbs.count <= 1 ? (limbs.first ?? 0) : nil }

    var bitWidth: Int {
        guard let last = limbs.last else { return 0 }
        return (limbs.count - 1) * 64 + (64 - last.leadingZeroBitCount)
    }

    static func compare(_ a: BoundedUInt, _ b: BoundedUInt) -> Int {
        if a.limbs.count != b.limbs.count { return a.limbs.count < b.limbs.count ? -1 : 1 }
        var i = a.limbs.count - 1
        while i >= 0 {
            if a.limbs[i] != b.limbs[i] { return a.limbs[i] < b.limbs[i] ? -1 : 1 }
            i -= 1
        }
        return 0
    }

    static func + (a: BoundedUInt, b: BoundedUInt) throws -> BoundedUInt {
        if let x = a.small, let y = b.small {
            let (s, o) = x.addingReportingOverflow(y)
            return o ? BoundedUInt(limbs: [s, 1]) : BoundedUInt(s)
        }
        let n = max(a.limbs.count, b.limbs.count)
        var out = [UInt64](repeating: 0, count: n + 1)
        var carry: UInt64 = 0
        for i in 0..<n {
            let x = i < a.limbs.count ? a.limbs[i] : 0
            let y = i < b.limbs.count ? b.limbs[i] : 0
            let (s1, o1) = x.addingReportingOverflow(y)
            let (s2, o2) = s1.addingReportingOverflow(carry)
            out[i] = s2
            carry = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        out[n] = carry
        let r = BoundedUInt(limbs: out)
        guard r.bitWidth <= maxBits else { throw MathError.tooComplex }
        return r
    }

    /// a - b for a >= b.
    static func - (a: BoundedUInt, b: BoundedUInt) -> BoundedUInt {
        if let x = a.small, let y = b.small { return BoundedUInt(x - y) }
        var out = a.limbs
        var borrow: UInt64 = 0
        for i in 0..<out.count {
            let y = i < b.limbs.count ? b.limbs[i] : 0
            let (d1, o1) = out[i].subtractingReportingOverflow(y)
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            out[i] = d2
            borrow = (o1 ? 1 : 0) + (o2 ? 1 : 0)
        }
        return BoundedUInt(limbs: out)
    }

    public static func * (a: BoundedUInt, b: BoundedUInt) throws -> BoundedUInt { try multiply(a, b, limit: maxBits) }

    /// a * b, refusing results beyond `limit` bits.
    static func multiply(_ a: BoundedUInt, _ b: BoundedUInt, limit: Int) throws -> BoundedUInt {
        if a.isZero || b.isZero { return BoundedUInt(0) }
        if let x = a.small, let y = b.small {
            let (hi, lo) = x.multipliedFullWidth(by: y)
            return BoundedUInt(limbs: [lo, hi])
        }
        guard a.bitWidth + b.bitWidth <= limit + 1 else { throw MathError.tooComplex }
        var out = [UInt64](repeating: 0, count: a.limbs.count + b.limbs.count)
        for i in 0..<a.limbs.count {
            var carry: UInt64 = 0
            let x = a.limbs[i]
            for j in 0..<b.limbs.count {
                let (hi, lo) = x.multipliedFullWidth(by: b.limbs[j])
                let (s1, o1) = out[i + j].addingReportingOverflow(lo)
                let (s2, o2) = s1.addingReportingOverflow(carry)
                out[i + j] = s2
                carry = hi &+ (o1 ? 1 : 0) &+ (o2 ? 1 : 0)  // cannot overflow: hi <= 2^64 - 2
            }
            out[i + b.limbs.count] = carry
        }
        let r = BoundedUInt(limbs: out)
        guard r.bitWidth <= limit else { throw MathError.tooComplex }
        return r
    }

    /// a^e, refusing from the size estimate before multiplying.
    func power(_ e: Int) throws -> BoundedUInt {
        if e == 0 { return BoundedUInt(1) }
        if isZero || isOne { return self }
        guard e <= BoundedUInt.maxBits, (bitWidth - 1) * e <= BoundedUInt.maxBits else { throw MathError.tooComplex }
        var result = BoundedUInt(1)
        var base = self
        var k = e
        while true {
            if k & 1 == 1 { result = try result * base }
            k >>= 1
            if k == 0 { break }
            base = try base * base
        }
        return result
    }

    /// Decimal digits (ASCII) to a value; at most ~2,400 digits.
    public init(decimalDigits digits: ArraySlice<UInt8>) throws {
        guard digits.count <= 2400 else { throw MathError.tooComplex }
        var r = BoundedUInt(0)
        var chunk: UInt64 = 0
        var chunkLen = 0
        for d in digits {
            chunk = chunk * 10 + UInt64(d &- 48)
            chunkLen += 1
            if chunkLen == 18 {
                r = try r * BoundedUInt(1_000_000_000_000_000_000) + BoundedUInt(chunk)
                chunk = 0
                chunkLen = 0
            }
        }
        if chunkLen > 0 {
            var scale: UInt64 = 1
            for _ in 0..<chunkLen { scale *= 10 }
            r = try r * BoundedUInt(scale) + BoundedUInt(chunk)
        }
        self = r
    }

    /// (m, e) with value ~= m * 2^e, m < 2^64 (the top 64 bits).
    var doubleParts: (Double, Int) {
        let w = bitWidth
        if w <= 64 { return (Double(small ?? 0), 0) }
        let shift = w - 64
        let limb = shift / 64
        let bit = shift % 64
        var top = limbs[limb] >> UInt64(bit)
        if bit > 0, limb + 1 < limbs.count { top |= limbs[limb + 1] << UInt64(64 - bit) }
        return (Double(top), shift)
    }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var a = a
        var b = b
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }

    /// The exact integer k-th root when there is one (values that fit in 64 bits only).
    func exactRoot(_ k: Int) -> BoundedUInt? {
        guard let v = small, k >= 1 else { return nil }
        if k == 1 || v < 2 { return self }
        var r = UInt64(Foundation.pow(Double(v), 1 / Double(k)).rounded())
        for candidate in [r &- 1, r, r &+ 1] where candidate < (1 << 32) || k == 1 {
            var p: UInt64 = 1
            var overflow = false
            for _ in 0..<k {
                let (m, o) = p.multipliedReportingOverflow(by: candidate)
                if o {
                    overflow = true
                    break
                }
                p = m
            }
            if !overflow, p == v {
                r = candidate
                return BoundedUInt(r)
            }
        }
        return nil
    }
}

/// An exact rational number; equality is exact.
public struct Rational: Equatable {
    var negative: Bool
    var num: BoundedUInt
    var den: BoundedUInt

    init(negative: Bool = false, num: BoundedUInt, den: BoundedUInt = BoundedUInt(1)) {
        self.negative = negative && !num.isZero
        self.num = num
        self.den = den
        reduceIfSmall()
    }

    public init(_ v: Int) { self.init(negative: v < 0, num: BoundedUInt(UInt64(v.magnitude))) }

    static let zero = Rational(0), one = Rational(1)

    var isZero: Bool { num.isZero }
    var isInteger: Bool { den.isOne }

    private mutating func reduceIfSmall() {
        if den.isOne { return }
        if num.isZero {
            den = BoundedUInt(1)
            return
        }
        if let n = num.small, let d = den.small {
            let g = BoundedUInt.gcd(n, d)
            if g > 1 {
                num = BoundedUInt(n / g)
                den = BoundedUInt(d / g)
            }
        }
    }

    public static func == (a: Rational, b: Rational) -> Bool {
        if a.negative != b.negative { return false }
        if a.den == b.den { return a.num == b.num }
        // Unreduced big values: cross-multiply (operands are bounded, so the products are).
        let limit = 2 * BoundedUInt.maxBits + 64
        guard let l = try? BoundedUInt.multiply(a.num, b.den, limit: limit),
            let r = try? BoundedUInt.multiply(b.num, a.den, limit: limit)
        else { return false }
        return l == r
    }

    static prefix func - (a: Rational) -> Rational {
        var r = a
        r.negative = !a.negative && !a.num.isZero
        return r
    }

    public static func + (a: Rational, b: Rational) throws -> Rational {
        let (x, y, d): (BoundedUInt, BoundedUInt, BoundedUInt)
        if a.den == b.den {
            (x, y, d) = (a.num, b.num, a.den)
        } else {
            (x, y, d) = (try a.num * b.den, try b.num * a.den, try a.den * b.den)
        }
        if a.negative == b.negative { return Rational(negative: a.negative, num: try x + y, den: d) }
        let c = BoundedUInt.compare(x, y)
        if c == 0 { return .zero }
        return c > 0
            ? Rational(negative: a.negative, num: x - y, den: d) : Rational(negative: b.negative, num: y - x, den: d)
    }

    public static func - (a: Rational, b: Rational) throws -> Rational { try a + (-b) }

    public static func * (a: Rational, b: Rational) throws -> Rational {
        Rational(negative: a.negative != b.negative, num: try a.num * b.num, den: try a.den * b.den)
    }

    public static func / (a: Rational, b: Rational) throws -> Rational {
        guard !b.isZero else { throw MathError.undefined }
        return Rational(negative: a.negative != b.negative, num: try a.num * b.den, den: try a.den * b.num)
    }

    public func power(_ e: Int) throws -> Rational {
        if e < 0 {
            guard !isZero else { throw MathError.undefined }
            return Rational(negative: negative && e % 2 != 0, num: try den.power(-e), den: try num.power(-e))
        }
        return Rational(negative: negative && e % 2 != 0, num: try num.power(e), den: try den.power(e))
    }

    /// The exact k-th root when it is rational (small values only).
    func root(_ k: Int) -> Rational? {
        if negative && k % 2 == 0 { return nil }
        guard let n = num.exactRoot(k), let d = den.exactRoot(k) else { return nil }
        return Rational(negative: negative, num: n, den: d)
    }

    /// The value as an Int when it is a (small) integer.
    var intValue: Int? {
        guard den.isOne, let v = num.small, v <= UInt64(Int.max) else { return nil }
        return negative ? -Int(v) : Int(v)
    }

    public var doubleValue: Double {
        let (nm, ne) = num.doubleParts
        let (dm, de) = den.doubleParts
        let v = Foundation.scalbn(nm / dm, ne - de)
        return negative ? -v : v
    }
}
