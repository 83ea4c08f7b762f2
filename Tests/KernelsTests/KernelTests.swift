// The fast kernels against their definitions: sgemm (with strides, transposes,
// and the split over cores) against the naive triple loop, and the SIMD exp
// and reductions against Double arithmetic.

import XCTest
import Foundation
import Kernels
import Support

final class KernelTests: XCTestCase {
    /// Float32's unit roundoff, 2^-24.
    static let unitRoundoff = Double(Float.ulpOfOne) / 2
    /// gamma_n = n u / (1 - n u): the relative error bound of n float32 roundings in a row.
    static func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }

    /// How far a float32 gemm element may be from the exact alpha * sum_p a_ip b_pj + beta * c_ij in any
    /// summation order, with or without FMA: gamma_(k+4) (|alpha| sum_p |a_ip b_pj| + |beta c_ij|), four
    /// roundings more for scaling by alpha and beta and adding; the reference (Double, rounded once to
    /// float32) adds u |reference|.
    static func productErrorBound(k: Int, magnitude: Double, prior: Double, reference: Double) -> Double {
        gamma(k + 4) * (magnitude + prior) + unitRoundoff * abs(reference)
    }

    func testGemmMatchesNaiveInEveryLayout() {
        var rng = Xoshiro(seed: 1)
        // Sizes below and above the split threshold, odd shapes, strided views.
        for (m, n, k) in [(3, 5, 7), (17, 33, 9), (130, 70, 64), (600, 512, 300), (8, 600, 256)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let lda = (transA ? m : k) + 3
                    let ldb = (transB ? k : n) + 1
                    let ldc = n + 2
                    let a = (0..<((transA ? k : m) * lda)).map { _ in rng.normal() }
                    let b = (0..<((transB ? n : k) * ldb)).map { _ in rng.normal() }
                    let c0 = (0..<(m * ldc)).map { _ in rng.normal() }
                    var fast = c0
                    var slow = c0
                    let alpha: Float = 0.5
                    let beta: Float = 0.25
                    gemm(
                        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                        ldb: ldb, beta: beta, c: &fast, ldc: ldc)
                    naiveGemm(
                        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b,
                        ldb: ldb, beta: beta, c: &slow, ldc: ldc)
                    func element(_ x: [Float], _ ld: Int, _ row: Int, _ col: Int, _ t: Bool) -> Double {
                        Double(t ? x[col * ld + row] : x[row * ld + col])
                    }
                    var excess = 0.0
                    var worstRatio = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            let magnitude = (0..<k).reduce(0.0) {
                                $0 + abs(element(a, lda, i, $1, transA) * element(b, ldb, $1, j, transB))
                            }
                            let bound = Self.productErrorBound(
                                k: k, magnitude: Double(abs(alpha)) * magnitude,
                                prior: Double(abs(beta)) * abs(Double(c0[i * ldc + j])),
                                reference: Double(slow[i * ldc + j]))
                            let error = abs(Double(fast[i * ldc + j]) - Double(slow[i * ldc + j]))
                            excess = max(excess, error - bound)
                            worstRatio = max(worstRatio, error / bound)
                        }
                    }
                    XCTAssertLessThanOrEqual(
                        excess, 0,
                        "m \(m) n \(n) k \(k) tA \(transA) tB \(transB): "
                            + "worst error / bound \(worstRatio)")
                    // Padding columns of C are never touched.
                    for i in 0..<m { for j in n..<ldc { XCTAssertEqual(fast[i * ldc + j], c0[i * ldc + j]) } }
                }
            }
        }
    }

    func testGemvMatchesNaive() {
        var rng = Xoshiro(seed: 2)
        let m = 37
        let n = 19
        let lda = 23
        let a = (0..<(m * lda)).map { _ in rng.normal() }
        let x = (0..<max(m, n)).map { _ in rng.normal() }
        var y = [Float](repeating: 0, count: max(m, n))
        gemv(m: m, n: n, alpha: 2, a: a, lda: lda, x: x, y: &y)
        for i in 0..<m {
            let want = 2 * (0..<n).reduce(0.0) { $0 + Double(a[i * lda + $1]) * Double(x[$1]) }
            let magnitude = 2 * (0..<n).reduce(0.0) { $0 + abs(Double(a[i * lda + $1]) * Double(x[$1])) }
            let bound = Self.productErrorBound(k: n, magnitude: magnitude, prior: 0, reference: want)
            XCTAssertEqual(Double(y[i]), want, accuracy: bound)
        }
        gemv(transA: true, m: m, n: n, a: a, lda: lda, x: x, y: &y)
        for j in 0..<n {
            let want = (0..<m).reduce(0.0) { $0 + Double(a[$1 * lda + j]) * Double(x[$1]) }
            let magnitude = (0..<m).reduce(0.0) { $0 + abs(Double(a[$1 * lda + j]) * Double(x[$1])) }
            let bound = Self.productErrorBound(k: m, magnitude: magnitude, prior: 0, reference: want)
            XCTAssertEqual(Double(y[j]), want, accuracy: bound)
        }
    }

    func testSIMDExpAccuracy() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let got = Double(Kernels.exp(x))
            let want = Foundation.exp(Double(x))
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(Kernels.exp(Float(0)), 1)
        XCTAssertEqual(Kernels.exp(-Float.infinity), Kernels.exp(Float(-87.3)), "clamped, never NaN")
        XCTAssertEqual(Double(sigmoid(Float(2))), 1 / (1 + Foundation.exp(-2.0)), accuracy: 1e-7)
    }

    func testReductions() {
        var rng = Xoshiro(seed: 3)
        for n in [0, 1, 15, 16, 17, 100] {
            let a = (0..<n).map { _ in rng.normal() }
            let b = (0..<n).map { _ in rng.normal() }
            let c = (0..<n).map { _ in rng.normal() }
            XCTAssertEqual(
                Double(Vector.dot(a, b, n)), zip(a, b).reduce(0.0) { $0 + Double($1.0 * $1.1) }, accuracy: 1e-4)
            XCTAssertEqual(
                Double(Vector.dot(a, b, c, n)), (0..<n).reduce(0.0) { $0 + Double(a[$1] * b[$1] * c[$1]) },
                accuracy: 1e-4)
            if n > 0 { XCTAssertEqual(Vector.max(a, n), a.max()!) }
            var e = a
            let s = Vector.expShifted(&e, n, scale: 0.5, shift: 1)
            XCTAssertEqual(
                Double(s), a.reduce(0.0) { $0 + Foundation.exp(Double($1) * 0.5 - 1) },
                accuracy: 1e-4 * Double(max(1, n)))
            let (s2, w) = Vector.sumExp(a, n, scale: 0.5, shift: 1)
            XCTAssertEqual(s2, s, accuracy: 1e-5 * Float(max(1, n)))
            XCTAssertEqual(
                Double(w),
                a.reduce(0.0) {
                    let z = Double($1) * 0.5 - 1
                    return $0 + Foundation.exp(z) * z
                }, accuracy: 1e-4 * Double(max(1, n)))
        }
    }

    func testParallelForCoversEveryIndexOnce() {
        for count in [0, 1, 5, 1000, 100_003] {
            let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, count))
            hits.initialize(repeating: 0, count: max(1, count))
            Parallel.forRanges(count, minPerThread: 7) { r in for i in r { hits[i] += 1 } }
            XCTAssertTrue((0..<count).allSatisfy { hits[$0] == 1 })
            hits.deallocate()
        }
        // Nested sections run inline instead of deadlocking.
        var inner = [Int](repeating: 0, count: 2)
        inner.withUnsafeMutableBufferPointer { buf in
            Parallel.run(parts: 2) { p in Parallel.forRanges(1000, minPerThread: 1) { r in buf[p] += r.count } }
        }
        XCTAssertEqual(inner, [1000, 1000])
        // Two threads using the pool at once: the one that finds it taken runs inline.
        let count = 200_000
        let a = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        let b = UnsafeMutablePointer<Int32>.allocate(capacity: count)
        a.initialize(repeating: 0, count: count)
        b.initialize(repeating: 0, count: count)
        defer {
            a.deallocate()
            b.deallocate()
        }
        DispatchQueue.concurrentPerform(iterations: 2) { t in
            let hits = t == 0 ? a : b
            for _ in 0..<50 { Parallel.forRanges(count, minPerThread: 1000) { r in for i in r { hits[i] += 1 } } }
        }
        XCTAssertTrue((0..<count).allSatisfy { a[$0] == 50 && b[$0] == 50 })
    }

    /// Large buffers are zeroed, mapped apart and left out of forks (the sandbox forks the
    /// trainer for every program); growing keeps the contents; small ones come from malloc.
    func testLargeBuffersAreLeftOutOfForks() {
        let big = FloatBuffer(HostMemory.mappedBytes / 4)
        XCTAssertTrue(HostMemory.isLeftOutOfForks(big.pointer))
        XCTAssertTrue((0..<big.capacity).allSatisfy { big[$0] == 0 })
        big[7] = 3
        let grown = big.reserve(big.capacity * 3)
        XCTAssertTrue(HostMemory.isLeftOutOfForks(grown + big.capacity - 1))
        XCTAssertEqual(grown[7], 3)
        XCTAssertEqual(grown[big.capacity - 1], 0)
        let small = FloatBuffer(16)
        XCTAssertFalse(HostMemory.isLeftOutOfForks(small.pointer))
        let tensor = Tensor([1024, 1024])
        XCTAssertTrue(HostMemory.isLeftOutOfForks(tensor.data))
        XCTAssertEqual(Buffer<Int32>(8, fill: -1)[7], -1)
    }
}
