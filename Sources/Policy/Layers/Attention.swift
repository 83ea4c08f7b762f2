// Causal self-attention over whole sequences (training, prefill), multi-head
// or grouped-query: query head h reads key/value head h / G.
// Legend: B sequences, T positions, H query heads, Hkv key/value heads,
// G = H / Hkv, hd head width, D = H * hd, Dkv = Hkv * hd, W = D + 2 Dkv.
//   qkv [B*T, W]   rows [q (D) | k (Dkv) | v (Dkv)], RoPE already applied to q and k
//   y   [B*T, D]   attention output before o_proj
//   P   [B, H, T, T] softmax probabilities, saved for backward
// Per (b, h), with Q the [T, hd] strided view of head h and K, V those of head h / G:
//   S = Q K^T / sqrt(hd), masked to j <= i;  P = softmax_row(S);  Y = P V
// Backward reads qkv and P:
//   dP = dY V^T;  dV = sum over the G heads of P^T dY;  dS = P * (dP - rowsum(P * dP))
//   dQ = dS K / sqrt(hd);  dK = sum over the G heads of dS^T Q / sqrt(hd)
// Forward runs (b, h) in parallel; backward runs (b, key/value head) in
// parallel, so the G heads that add into one dK and dV do so in turn on one
// thread. Each head's products are small enough that OpenBLAS runs them on
// the calling thread.

import Foundation
import Kernels

public enum Attention {
    public static func forward(
        qkv: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        batch b: Int, length t: Int, heads: Int, kvHeads: Int, headDim hd: Int
    ) {
        let d = heads * hd
        let dkv = kvHeads * hd
        let ld = d + 2 * dkv
        let group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forEach(b * heads) { bh in
            let s = bh / heads
            let h = bh % heads
            let row0 = qkv + s * t * ld
            let q = row0 + h * hd
            let k = row0 + d + (h / group) * hd
            let v = k + dkv
            let p = probs + bh * t * t
            gemm(transB: true, m: t, n: t, k: hd, alpha: scale, a: q, lda: ld, b: k, ldb: ld, c: p, ldc: t)
            for i in 0..<t { softmaxCausalRow(p + i * t, valid: i + 1, width: t) }
            gemm(m: t, n: hd, k: t, a: p, lda: t, b: v, ldb: ld, c: y + s * t * d + h * hd, ldc: d)
        }
    }

    /// Writes dqkv [B*T, W] (gradients w.r.t. the rotated q and k, and v).
    public static func backward(
        dy: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dqkv: UnsafeMutablePointer<Float>, batch b: Int, length t: Int, heads: Int,
        kvHeads: Int, headDim hd: Int
    ) {
        let d = heads * hd
        let dkv = kvHeads * hd
        let ld = d + 2 * dkv
        let group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forRanges(b * kvHeads, minPerThread: 1) { range in
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: t * t)
            defer { dp.deallocate() }
            for bk in range {
                let s = bk / kvHeads
                let kh = bk % kvHeads
                let k = qkv + s * t * ld + d + kh * hd
                let v = k + dkv
                let dk = dqkv + s * t * ld + d + kh * hd
                let dv = dk + dkv
                for h in (kh * group)..<((kh + 1) * group) {
                    // The group's first head writes dK and dV, the others add to them.
                    let beta: Float = h == kh * group ? 0 : 1
                    let q = qkv + s * t * ld + h * hd
                    let dq = dqkv + s * t * ld + h * hd
                    let p = probs + (s * heads + h) * t * t
                    let dyh = dy + s * t * d + h * hd
                    gemm(transB: true, m: t, n: t, k: hd, a: dyh, lda: d, b: v, ldb: ld, c: dp, ldc: t)
                    gemm(transA: true, m: t, n: hd, k: t, a: p, lda: t, b: dyh, ldb: d, beta: beta, c: dv, ldc: ld)
                    for i in 0..<t {
                        let pr = p + i * t
                        let dpr = dp + i * t
                        let dot = Vector.dot(pr, dpr, i + 1)
                        for j in 0...i { dpr[j] = pr[j] * (dpr[j] - dot) }
                        for j in (i + 1)..<t { dpr[j] = 0 }
                    }
                    gemm(m: t, n: hd, k: t, alpha: scale, a: dp, lda: t, b: k, ldb: ld, c: dq, ldc: ld)
                    gemm(
                        transA: true, m: t, n: hd, k: t, alpha: scale, a: dp, lda: t, b: q, ldb: ld, beta: beta,
                        c: dk, ldc: ld)
                }
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
    /// length, n_r own keys of row r (including the new token's), G query
    /// heads per key/value head.
    ///   q [R, D] (row stride ldq, rotated), y [R, D]
    ///   prefix K, V [P, Dkv] per group; own K, V [n_r, Dkv] per row
    /// Per (group, key/value head), the G query heads of every row of the
    /// group are gathered into one [rows * G, hd] matrix, so the prompt
    /// segment is one product (scores [rows * G, P] = Q K^T, outputs P V) and
    /// each row's own segment one product of its G heads: a key/value head is
    /// read once for the G query heads it serves.
    public struct Group {
        public var rows: Range<Int>
        public var keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int
        public init(rows: Range<Int>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int) {
            self.rows = rows
            self.keys = keys
            self.values = values
            self.count = count
        }
    }

    public static func decode(
        q: UnsafePointer<Float>, ldq: Int, y: UnsafeMutablePointer<Float>, heads: Int,
        kvHeads: Int, headDim hd: Int, groups: [Group],
        own: (Int) -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int)
    ) {
        let d = heads * hd
        let dkv = kvHeads * hd
        let g = heads / kvHeads
        let gw = g * hd
        let scale = 1 / Float(hd).squareRoot()
        let maxRows = groups.map(\.rows.count).max() ?? 0
        let maxOwn = groups.flatMap { $0.rows }.map { own($0).count }.max() ?? 0
        let maxPrefix = groups.map(\.count).max() ?? 0
        let width = maxPrefix + maxOwn
        Parallel.forRanges(groups.count * kvHeads, minPerThread: 2) { range in
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * width))
            let qs = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * gw))
            let ys = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * gw))
            defer {
                scores.deallocate()
                qs.deallocate()
                ys.deallocate()
            }
            for gk in range {
                let grp = groups[gk / kvHeads]
                let kh = gk % kvHeads
                let p = grp.count
                let rows = grp.rows.count
                // Row (r, j) of qs and ys: query head kh * G + j of the group's r-th row.
                for (i, r) in grp.rows.enumerated() { (qs + i * gw).update(from: q + r * ldq + kh * gw, count: gw) }
                gemm(
                    transB: true, m: rows * g, n: p, k: hd, alpha: scale, a: qs, lda: hd, b: grp.keys + kh * hd,
                    ldb: dkv, c: scores, ldc: width)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    let block = scores + i * g * width + p
                    if g == 1 {
                        gemv(m: o.count, n: hd, alpha: scale, a: o.keys + kh * hd, lda: dkv, x: qs + i * hd, y: block)
                    } else {
                        gemm(
                            transB: true, m: g, n: o.count, k: hd, alpha: scale, a: qs + i * gw, lda: hd,
                            b: o.keys + kh * hd, ldb: dkv, c: block, ldc: width)
                    }
                    for j in 0..<g {
                        softmaxCausalRow(scores + (i * g + j) * width, valid: p + o.count, width: p + o.count)
                    }
                }
                gemm(m: rows * g, n: hd, k: p, a: scores, lda: width, b: grp.values + kh * hd, ldb: dkv, c: ys, ldc: hd)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    let block = scores + i * g * width + p
                    if g == 1 {
                        gemv(
                            transA: true, m: o.count, n: hd, a: o.values + kh * hd, lda: dkv, x: block, beta: 1,
                            y: ys + i * hd)
                    } else {
                        gemm(
                            m: g, n: hd, k: o.count, a: block, lda: width, b: o.values + kh * hd, ldb: dkv, beta: 1,
                            c: ys + i * gw, ldc: hd)
                    }
                    (y + r * d + kh * gw).update(from: ys + i * gw, count: gw)
                }
            }
        }
    }
}
