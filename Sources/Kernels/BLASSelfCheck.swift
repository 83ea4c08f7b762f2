// A numerical self-check of the BLAS kernel in use: products of the shapes the
// policy runs (a decode row, small and blocked tiles, both transposes, strided
// views, beta accumulation, the split over cores) against `naiveGemm`. A
// kernel that computes wrong values fails it; one that crashes kills the
// child process it runs in (BLASStartup), which counts as a failure too.

import Support

public enum BLASSelfCheck {
    /// A matrix product with `gemm`'s signature, so tests can hand in a faulty one.
    public typealias Product = (
        _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
        _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
    ) -> Void

    /// (m, n, k) of each checked product: a decode row, odd sizes that leave
    /// partial register tiles, and products large enough to be split over the
    /// cores and to run the kernel's blocked main loop.
    static let shapes: [(Int, Int, Int)] = [(1, 67, 129), (7, 33, 65), (64, 48, 70), (130, 40, 64)]

    /// nil when every product agrees with `naiveGemm`, else what differed.
    public static func run(
        product: Product = {
            gemm(
                transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5,
                a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
        }
    )
        -> String?
    {
        var rng = Xoshiro(seed: 11)
        for (m, n, k) in shapes {
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                let lda = (transA ? m : k) + 1
                let ldb = (transB ? k : n) + 2
                let ldc = n + 3
                let a = (0..<((transA ? k : m) * lda)).map { _ in rng.normal() }
                let b = (0..<((transB ? n : k) * ldb)).map { _ in rng.normal() }
                let c0 = (0..<(m * ldc)).map { _ in rng.normal() }
                var fast = c0
                var slow = c0
                product(transA, transB, m, n, k, 0.75, a, lda, b, ldb, 0.5, &fast, ldc)
                naiveGemm(
                    transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.75, a: a, lda: lda, b: b,
                    ldb: ldb, beta: 0.5, c: &slow, ldc: ldc)
                for i in 0..<m {
                    for j in 0..<ldc {
                        let got = fast[i * ldc + j]
                        let want = slow[i * ldc + j]
                        // Columns past n must be untouched; inside, a float32 sum of k products
                        // is within k ulps of the magnitude of its terms.
                        var magnitude: Float = abs(0.5 * c0[i * ldc + j])
                        if j < n {
                            for p in 0..<k {
                                let av = transA ? a[p * lda + i] : a[i * lda + p]
                                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                                magnitude += abs(0.75 * av * bv)
                            }
                        }
                        let tolerance = j < n ? Float(k + 2) * Float.ulpOfOne * magnitude : 0
                        if !(abs(got - want) <= tolerance) {
                            return "m \(m) n \(n) k \(k) transA \(transA) transB \(transB): c[\(i), \(j)] = \(got),"
                                + " expected \(want)"
                        }
                    }
                }
            }
        }
        return nil
    }
}
