// Matrix products. Every product in the project goes through `gemm` (OpenBLAS
// sgemm); `naiveGemm` is the definition it is tested against.
//
// All matrices are row-major. op(A) is [M,K], op(B) is [K,N], C is [M,N]:
//     C = alpha * op(A) * op(B) + beta * C
// `transA`/`transB` say whether A/B are stored transposed; `lda`, `ldb`, `ldc`
// are row strides, so a matrix can be a strided view into a wider buffer (the
// attention heads of a [T, H*hd] projection, for instance).

import COpenBLAS
import Foundation

@inline(__always)
public func gemm(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if GemmRecorder.isRecording { GemmRecorder.record(GemmShape(transA: transA, transB: transB, m: m, n: n, k: k)) }
    // Large products are split over the cores, each part one single-threaded
    // sgemm. Every part packs the whole of the operand it shares, so split C by
    // rows when A is the larger operand (m >= n) and by columns otherwise: in
    // decoding (m = a few tokens, B = a weight) a row split would pack every
    // weight twice.
    let parts = Parallel.cores
    if parts > 1 && m * n * k >= 1 << 18 && Parallel.canSplit {
        if m >= n && m >= 16 * parts {
            Parallel.run(parts: parts) { p in
                let lo = m * p / parts
                let hi = m * (p + 1) / parts
                let ap = transA ? a + lo : a + lo * lda
                sgemmCall(transA, transB, hi - lo, n, k, alpha, ap, lda, b, ldb, beta, c + lo * ldc, ldc)
            }
            return
        }
        if n >= 16 * parts {
            Parallel.run(parts: parts) { p in
                let lo = n * p / parts
                let hi = n * (p + 1) / parts
                let bp = transB ? b + lo * ldb : b + lo
                sgemmCall(transA, transB, m, hi - lo, k, alpha, a, lda, bp, ldb, beta, c + lo, ldc)
            }
            return
        }
    }
    sgemmCall(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

@inline(__always)
private func sgemmCall(
    _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    if k == 0 {
        for i in 0..<m {
            let row = c + i * ldc
            for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The definition of `gemm`: three loops, accumulated in Double.
public func naiveGemm(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var acc = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                acc += Double(av) * Double(bv)
            }
            let prior = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * acc + prior)
        }
    }
}

public enum BLAS {
    /// OpenBLAS's name for the kernel it chose at run time (e.g. "Haswell", "SkylakeX").
    public static var coreName: String {
        String(cString: openblas_get_corename()).trimmingCharacters(in: .whitespaces)
    }
    /// Whether this OpenBLAS carries kernels for many CPUs and picks one at load time
    /// (OPENBLAS_CORETYPE can then choose another).
    public static var isDynamicArch: Bool { String(cString: openblas_get_config()).contains("DYNAMIC_ARCH") }
}

/// y = alpha * op(A) x + beta * y, A row-major [M, N] with row stride lda;
/// op(A) is A ([M]-vector result) or A^T ([N]-vector result).
@inline(__always)
public func gemv(
    transA: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
) {
    if m == 0 || n == 0 { return }
    _ = Parallel.cores  // OpenBLAS set to one thread before its first use
    cblas_sgemv(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha,
        a, Int32(lda), x, 1, beta, y, 1)
}

/// One product's shape, as `gemm` was called.
public struct GemmShape: Hashable, Sendable, CustomStringConvertible {
    public var transA: Bool, transB: Bool
    public var m: Int, n: Int, k: Int

    public init(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int) {
        self.transA = transA
        self.transB = transB
        self.m = m
        self.n = n
        self.k = k
    }

    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    public var description: String { "\(m)x\(n)x\(k)\(transA ? " A^T" : "")\(transB ? " B^T" : "")" }
}

/// Counts the products `gemm` runs while recording (the benchmark finds the shapes
/// a training step uses, to measure the best rate over them). Off, it costs one
/// load of a flag per product.
public enum GemmRecorder {
    nonisolated(unsafe) public private(set) static var isRecording = false
    nonisolated(unsafe) private static var calls: [GemmShape: Int] = [:]
    private static let lock = NSLock()

    /// Runs `body` and returns how many times each shape was multiplied in it.
    public static func recording(_ body: () throws -> Void) rethrows -> [GemmShape: Int] {
        lock.lock()
        calls = [:]
        isRecording = true
        lock.unlock()
        defer {
            lock.lock()
            isRecording = false
            lock.unlock()
        }
        try body()
        lock.lock()
        defer { lock.unlock() }
        return calls
    }

    public static func record(_ shape: GemmShape) {
        lock.lock()
        calls[shape, default: 0] += 1
        lock.unlock()
    }
}
