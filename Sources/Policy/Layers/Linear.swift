// Linear layer without bias. Legend: N rows (tokens), In/Out features.
//   x  [N, In]   (row stride ldx)
//   W  [Out, In] (Hugging Face layout: out_features x in_features)
//   y  [N, Out]  y = x W^T
// The forward goes through orderedLinear (one rounding per output whatever the
// batch, so decoding and training agree bit for bit); backward through BLAS.
// Backward reads x saved by the caller:
//   dx (+)= dy W        dW += dy^T x

import Kernels

public enum Linear {
    @inline(__always)
    public static func forward(
        _ x: UnsafePointer<Float>, ldx: Int? = nil, _ w: UnsafePointer<Float>,
        _ y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
        rows n: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
    ) {
        orderedLinear(
            m: n, n: outFeatures, k: inFeatures, x: x, ldx: ldx ?? inFeatures, w: w, ldw: inFeatures,
            y: y, ldy: ldy ?? outFeatures, accumulate: accumulate)
    }

    /// dx = dy W (or dx += dy W when `accumulate`), and dW += dy^T x.
    @inline(__always)
    public static func backward(
        _ dy: UnsafePointer<Float>, ldy: Int? = nil,
        _ x: UnsafePointer<Float>, ldx: Int? = nil,
        _ w: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
        _ dx: UnsafeMutablePointer<Float>?, ldDx: Int? = nil,
        rows n: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
    ) {
        if let dx {
            gemm(
                m: n, n: inFeatures, k: outFeatures, a: dy, lda: ldy ?? outFeatures,
                b: w, ldb: inFeatures, beta: accumulate ? 1 : 0, c: dx, ldc: ldDx ?? inFeatures)
        }
        gemm(
            transA: true, m: outFeatures, n: inFeatures, k: n, a: dy, lda: ldy ?? outFeatures,
            b: x, ldb: ldx ?? inFeatures, beta: 1, c: dw, ldc: inFeatures)
    }
}
