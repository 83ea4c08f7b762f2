// Finite-difference checking shared by the layer and model gradient tests.
// Central differences in Float32 with a Double-accumulated loss; the
// tolerance is set from the step size (truncation ~h^2, rounding ~1e-7/h).

import XCTest
import Kernels
import Support

struct GradientCheck {
    var h: Float = 2e-3
    var relativeTolerance: Double = 2e-2
    var absoluteTolerance: Double = 2e-4

    /// Perturbs `x[i]` for each index and compares (L(x+h) - L(x-h)) / 2h with
    /// `analytic[i]`. `stable()` returns false when the perturbation changed a
    /// discrete choice (a top-k flip); such coordinates are skipped, and at
    /// most a tenth may be.
    func check(
        _ name: String, _ x: UnsafeMutablePointer<Float>, analytic: UnsafePointer<Float>, indices: [Int],
        loss: () -> Double, stable: () -> Bool = { true },
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var skipped = 0
        var worst = 0.0
        for i in indices {
            let x0 = x[i]
            x[i] = x0 + h
            let lp = loss()
            let okPlus = stable()
            x[i] = x0 - h
            let lm = loss()
            let okMinus = stable()
            x[i] = x0
            if !(okPlus && okMinus) {
                skipped += 1
                continue
            }
            let numeric = (lp - lm) / (2 * Double(h))
            let a = Double(analytic[i])
            let err = abs(numeric - a)
            worst = max(worst, err / (abs(numeric) + abs(a) + 1e-12))
            XCTAssertLessThanOrEqual(
                err, absoluteTolerance + relativeTolerance * max(abs(numeric), abs(a)),
                "\(name)[\(i)]: numeric \(numeric) vs analytic \(a)", file: file, line: line)
        }
        Self.assertFewSkipped(skipped, of: indices.count, name, file: file, line: line)
    }

    /// The derivative along a random direction over a whole tensor: a larger
    /// signal than one coordinate, so Float32 rounding in the forward matters less.
    /// Returns false when the probe flipped a discrete choice and was skipped: the caller
    /// counts the skipped directions and bounds them (`assertFewSkipped`).
    @discardableResult
    func checkDirection(
        _ name: String, _ x: UnsafeMutablePointer<Float>, analytic: UnsafePointer<Float>, range: Range<Int>,
        rng: inout Xoshiro, loss: () -> Double, stable: () -> Bool = { true },
        file: StaticString = #filePath, line: UInt = #line
    ) -> Bool {
        let dir = range.map { _ in rng.normal() }
        let saved = range.map { x[$0] }
        var expected = 0.0
        for (j, i) in range.enumerated() { expected += Double(dir[j]) * Double(analytic[i]) }
        func shift(_ s: Float) { for (j, i) in range.enumerated() { x[i] = saved[j] + s * dir[j] } }
        shift(h)
        let lp = loss()
        let okPlus = stable()
        shift(-h)
        let lm = loss()
        let okMinus = stable()
        shift(0)
        guard okPlus && okMinus else { return false }
        let numeric = (lp - lm) / (2 * Double(h))
        XCTAssertLessThanOrEqual(
            abs(numeric - expected), absoluteTolerance + relativeTolerance * max(abs(numeric), abs(expected)),
            "\(name) along a random direction: numeric \(numeric) vs analytic \(expected)", file: file, line: line)
        return true
    }

    /// At most a tenth of the probes may be skipped, and at least one must have been checked.
    static func assertFewSkipped(
        _ skipped: Int, of total: Int, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertGreaterThan(total - skipped, 0, "\(what): every probe was skipped", file: file, line: line)
        XCTAssertLessThanOrEqual(
            skipped * 10, total, "\(what): \(skipped) of \(total) probes flipped a choice",
            file: file, line: line)
    }
}

/// A reproducible random fill.
func randomFill(_ p: UnsafeMutablePointer<Float>, _ n: Int, std: Float = 1, rng: inout Xoshiro) {
    for i in 0..<n { p[i] = rng.normal() * std }
}

func randomArray(_ n: Int, std: Float = 1, rng: inout Xoshiro) -> [Float] {
    (0..<n).map { _ in rng.normal() * std }
}

/// sum(y * r) in Double: the probe loss whose gradient w.r.t. y is r.
func probe(_ y: UnsafePointer<Float>, _ r: [Float]) -> Double {
    var s = 0.0
    for i in 0..<r.count { s += Double(y[i]) * Double(r[i]) }
    return s
}

/// Indices to probe: all of a small tensor, or an even spread of a large one.
func sampleIndices(_ count: Int, _ most: Int = 60, rng: inout Xoshiro) -> [Int] {
    if count <= most { return Array(0..<count) }
    return (0..<most).map { _ in Int(rng.next() % UInt64(count)) }
}

extension Array where Element == Float {
    func withPointer<R>(_ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        var copy = self
        return copy.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    }
}
