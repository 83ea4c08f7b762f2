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
                    let dot = Vector.dot(pr, dpr, i + 1)
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
        // The max is subtracted only for numerical stability.
        let mx = Vector.max(row, valid)
        let sum = Vector.expShifted(row, valid, shift: mx)
        Vector.scale(row, valid, by: 1 / sum)
        for j in valid..<width { row[j] = 0 }
    }
}

extension Attention {
    /// One new token per sequence attending to its cached keys and values
    /// (decoding). A sequence's keys come in two segments: its prompt's,
    /// shared by all completions of that prompt (a "group"), and its own.
    /// Legend: R rows (one per sequence, a group's rows contiguous), P prompt
    /// length, n_r own keys of row r (including the new token's).
    ///   q [R, D] (row stride ldq, rotated), y [R, D]
    ///   prefix K, V [P, D] per group; own K, V [n_r, D] per row
    /// Per (group, head), the prompt segment is one product for all the
    /// group's rows, scores [G, P] = Q K^T and outputs P V; each row's own
    /// segment is a matrix-vector product.
    public struct Group {
        public var rows: Range<Int>
        public var keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int
        public init(rows: Range<Int>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int) {
            self.rows = rows; self.keys = keys; self.values = values; self.count = count
        }
    }

    public static func decode(q: UnsafePointer<Float>, ldq: Int, y: UnsafeMutablePointer<Float>, heads: Int, headDim hd: Int,
                              groups: [Group], own: (Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int)) {
        let d = heads * hd
        let scale = 1 / Float(hd).squareRoot()
        let maxRows = groups.map(\.rows.count).max() ?? 0
        let maxOwn = groups.flatMap { $0.rows }.map { own($0).count }.max() ?? 0
        let maxPrefix = groups.map(\.count).max() ?? 0
        let width = maxPrefix + maxOwn
        Parallel.forRanges(groups.count * heads, minPerThread: 4) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * width))
            defer { scores.deallocate() }
            for gh in range {
                let g = groups[gh / heads], h = gh % heads, p = g.count, rows = g.rows.count
                let q0 = q + g.rows.lowerBound * ldq + h * hd
                gemm(transB: true, m: rows, n: p, k: hd, alpha: scale, a: q0, lda: ldq, b: g.keys + h * hd, ldb: d,
                     c: scores, ldc: width)
                for (i, r) in g.rows.enumerated() {
                    let o = own(r), row = scores + i * width
                    gemv(m: o.count, n: hd, alpha: scale, a: o.keys + h * hd, lda: d, x: q + r * ldq + h * hd, y: row + p)
                    softmaxCausalRow(row, valid: p + o.count, width: p + o.count)
                }
                let y0 = y + g.rows.lowerBound * d + h * hd
                gemm(m: rows, n: hd, k: p, a: scores, lda: width, b: g.values + h * hd, ldb: d, c: y0, ldc: d)
                for (i, r) in g.rows.enumerated() {
                    let o = own(r)
                    gemv(transA: true, m: o.count, n: hd, a: o.values + h * hd, lda: d, x: scores + i * width + p,
                         beta: 1, y: y + r * d + h * hd)
                }
            }
        }
    }
}
