// Matrix products. Every product in the project goes through `gemm` (OpenBLAS
// sgemm); `naiveGemm` is the definition it is tested against.
//
// All matrices are row-major. op(A) is [M,K], op(B) is [K,N], C is [M,N]:
//     C = alpha * op(A) * op(B) + beta * C
// `transA`/`transB` say whether A/B are stored transposed; `lda`, `ldb`, `ldc`
// are row strides, so a matrix can be a strided view into a wider buffer (the
// attention heads of a [T, H*hd] projection, for instance).

import COpenBLAS

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
    if k == 0 {
        // BLAS treats k = 0 as "C = beta * C"; make that explicit so no caller relies on it.
        for i in 0..<m { let row = c + i * ldc; for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] } }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
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
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}

/// y = alpha * op(A) x + beta * y, A row-major [M, N] with row stride lda;
/// op(A) is A ([M]-vector result) or A^T ([N]-vector result).
@inline(__always)
public func gemv(transA: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
    if m == 0 || n == 0 { return }
    cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha,
                a, Int32(lda), x, 1, beta, y, 1)
}
