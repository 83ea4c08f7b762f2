// Causal multi-head self-attention over whole sequences (training, prefill).
// Legend: B sequences, T positions, H heads, hd head width, D = H * hd.
//   qkv [B*T, 3D]  rows [q | k | v], RoPE already applied to q and k
//   y   [B*T, D]   attention output before o_proj
//   P   [B, H, T, T] softmax probabilities, saved for backward
// Per (b, h), with Q, K, V the [T, hd] strided views into qkv:
//   S = Q K^T / sqrt(hd), masked to j <= i;  P = softmax_row(S);  Y = P V
// Backward reads qkv and P:
//   dP = dY V^T;  dV = P^T dY;  dS = P * (dP - rowsum(P * dP))
//   dQ = dS K / sqrt(hd);  dK = dS^T Q / sqrt(hd)
// Heads run in parallel over the cores; each head's products are small enough
// that OpenBLAS runs them on the calling thread.

import Foundation
import Kernels

public enum Attention {
    public static func forward(qkv: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               batch b: Int, length t: Int, heads: Int, headDim hd: Int) {
        let d = heads * hd, ld = 3 * d
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forEach(b * heads) { bh in
            let s = bh / heads, h = bh % heads
            let q = qkv + s * t * ld + h * hd, k = q + d, v = q + 2 * d
            let p = probs + bh * t * t
            gemm(transB: true, m: t, n: t, k: hd, alpha: scale, a: q, lda: ld, b: k, ldb: ld, c: p, ldc: t)
            for i in 0..<t { softmaxCausalRow(p + i * t, valid: i + 1, width: t) }
            gemm(m: t, n: hd, k: t, a: p, lda: t, b: v, ldb: ld, c: y + s * t * d + h * hd, ldc: d)
        }
    }

    /// Writes dqkv [B*T, 3D] (gradients w.r.t. the rotated q and k, and v).
    public static func backward(dy: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                dqkv: UnsafeMutablePointer<Float>, batch b: Int, length t: Int, heads: Int, headDim hd: Int) {
        let d = heads * hd, ld = 3 * d
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forRanges(b * heads, minPerThread: 1) { range in
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: t * t)
            defer { dp.deallocate() }
            for bh in range {
                let s = bh / heads, h = bh % heads
                let q = qkv + s * t * ld + h * hd, k = q + d, v = q + 2 * d
                let dq = dqkv + s * t * ld + h * hd, dk = dq + d, dv = dq + 2 * d
                let p = probs + bh * t * t
                let dyh = dy + s * t * d + h * hd
                gemm(transB: true, m: t, n: t, k: hd, a: dyh, lda: d, b: v, ldb: ld, c: dp, ldc: t)
                gemm(transA: true, m: t, n: hd, k: t, a: p, lda: t, b: dyh, ldb: d, c: dv, ldc: ld)
                for i in 0..<t {
                    let pr = p + i * t, dpr = dp + i * t
                    var dot: Float = 0
                    for j in 0...i { dot += pr[j] * dpr[j] }
                    for j in 0...i { dpr[j] = pr[j] * (dpr[j] - dot) }
                    for j in (i + 1)..<t { dpr[j] = 0 }
                }
                gemm(m: t, n: hd, k: t, alpha: scale, a: dp, lda: t, b: k, ldb: ld, c: dq, ldc: ld)
                gemm(transA: true, m: t, n: hd, k: t, alpha: scale, a: dp, lda: t, b: q, ldb: ld, c: dk, ldc: ld)
            }
        }
    }

    /// Softmax over the first `valid` entries of a row; the masked rest set to 0.
    @inline(__always)
    static func softmaxCausalRow(_ row: UnsafeMutablePointer<Float>, valid: Int, width: Int) {
        var mx = -Float.infinity
        for j in 0..<valid { mx = max(mx, row[j]) }
        var sum: Float = 0
        // The max is subtracted only for numerical stability.
        for j in 0..<valid { let e = expf(row[j] - mx); row[j] = e; sum += e }
        let inv = 1 / sum
        for j in 0..<valid { row[j] *= inv }
        for j in valid..<width { row[j] = 0 }
    }
}

extension Attention {
    /// One new token per sequence attending to its cached keys and values
    /// (decoding). The keys of a sequence come in two segments: the prompt's,
    /// shared by every completion of that prompt, and the sequence's own.
    /// Legend: R rows (sequences), P prompt length, n_r own tokens so far.
    ///   q [R, D] (row stride ldq, rotated), y [R, D]
    ///   segments(r) -> (prefix K, prefix V, P, own K, own V, n_r): [*, D] rows
    /// Each (row, head) is two gemv for scores and two for the output.
    public struct Segments {
        public var prefixK: UnsafePointer<Float>, prefixV: UnsafePointer<Float>, prefixCount: Int
        public var ownK: UnsafePointer<Float>, ownV: UnsafePointer<Float>, ownCount: Int
        public init(prefixK: UnsafePointer<Float>, prefixV: UnsafePointer<Float>, prefixCount: Int,
                    ownK: UnsafePointer<Float>, ownV: UnsafePointer<Float>, ownCount: Int) {
            self.prefixK = prefixK; self.prefixV = prefixV; self.prefixCount = prefixCount
            self.ownK = ownK; self.ownV = ownV; self.ownCount = ownCount
        }
    }

    public static func decode(q: UnsafePointer<Float>, ldq: Int, y: UnsafeMutablePointer<Float>, rows: Int,
                              heads: Int, headDim hd: Int, maxKeys: Int, segments: (Int) -> Segments) {
        let d = heads * hd
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forRanges(rows, minPerThread: 4) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: maxKeys)
            defer { scores.deallocate() }
            for r in range {
                let seg = segments(r)
                let p = seg.prefixCount, n = seg.ownCount
                for h in 0..<heads {
                    let qh = q + r * ldq + h * hd, yh = y + r * d + h * hd
                    gemv(m: p, n: hd, alpha: scale, a: seg.prefixK + h * hd, lda: d, x: qh, y: scores)
                    gemv(m: n, n: hd, alpha: scale, a: seg.ownK + h * hd, lda: d, x: qh, y: scores + p)
                    softmaxCausalRow(scores, valid: p + n, width: p + n)
                    gemv(transA: true, m: p, n: hd, a: seg.prefixV + h * hd, lda: d, x: scores, y: yh)
                    gemv(transA: true, m: n, n: hd, a: seg.ownV + h * hd, lda: d, x: scores + p,
                         beta: p > 0 ? 1 : 0, y: yh)
                }
            }
        }
    }
}
