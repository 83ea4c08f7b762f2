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
// Forward runs (b, h) in parallel, a query row at a time through `row`, the
// one place that turns a query and its keys into an output (the decode uses it
// too). Backward runs (b, key/value head) in parallel, so the G heads that add
// into one dK and dV do so in turn on one thread; its products are small
// enough that OpenBLAS runs them on the calling thread.

import CKernels
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
            let k = row0 + d + (h / group) * hd
            let v = k + dkv
            let p = probs + bh * t * t
            if GemmRecorder.isRecording {
                // The two products this row-wise pass computes: Q K^T and P V.
                GemmRecorder.record(GemmShape(transB: true, m: t, n: t, k: hd))
                GemmRecorder.record(GemmShape(m: t, n: hd, k: t))
            }
            for i in 0..<t {
                row(
                    q: row0 + i * ld + h * hd, headDim: hd, scale: scale, stride: ld, scores: p + i * t, width: t,
                    y: y + (s * t + i) * d + h * hd, Segment(keys: k, values: v, count: i + 1))
            }
        }
    }

    /// Keys and values of consecutive positions, rows `stride` apart.
    struct Segment {
        var keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int
    }

    /// One query row over the keys of `first` then `second`: the scores, softmax, the
    /// probabilities in scores[0..<width] (0 past the keys), and y = P V. The forward
    /// and the decode both go through here, with CKernels' fixed-order products, so a
    /// cached decode computes exactly what the batched forward does: the same keys
    /// give the same bits, whether the keys sit in one segment or in two.
    @inline(__always)
    static func row(
        q: UnsafePointer<Float>, headDim hd: Int, scale: Float, stride: Int, scores: UnsafeMutablePointer<Float>,
        width: Int, y: UnsafeMutablePointer<Float>, _ first: Segment, _ second: Segment? = nil
    ) {
        ck_attn_scores(q, first.keys, stride, first.count, hd, scale, scores)
        if let second { ck_attn_scores(q, second.keys, stride, second.count, hd, scale, scores + first.count) }
        softmaxCausalRow(scores, valid: first.count + (second?.count ?? 0), width: width)
        y.update(repeating: 0, count: hd)
        ck_attn_values(scores, first.values, stride, first.count, hd, y)
        if let second { ck_attn_values(scores + first.count, second.values, stride, second.count, hd, y) }
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
    /// length, n_r own keys of row r (including the new token's).
    ///   q [R, D] (row stride ldq, rotated), y [R, D]
    ///   prefix K, V [P, Dkv] per group; own K, V [n_r, Dkv] per row
    /// Each (row, query head) gets the arithmetic of `row` over the two segments,
    /// the same as the forward over the whole sequence. A thread takes (group,
    /// key/value head) pairs and computes the scores of all the group's queries
    /// of that head at once: the prompt's keys are read once for its rows x G
    /// queries, a row's own keys once for its G (ck_attn_scores_multi).
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
        let scale = 1 / Float(hd).squareRoot()
        let maxOwn = groups.flatMap { $0.rows }.map { own($0).count }.max() ?? 0
        let width = (groups.map(\.count).max() ?? 0) + maxOwn
        let maxRows = groups.map(\.rows.count).max() ?? 0
        Parallel.forRanges(groups.count * kvHeads, minPerThread: 2) { range in
            // The group's queries of this key/value head, [rows * G, hd] (row-major by row, then head),
            // and their scores [rows * G, width].
            let queries = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * hd))
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * width))
            defer {
                queries.deallocate()
                scores.deallocate()
            }
            for gk in range {
                let grp = groups[gk / kvHeads]
                let kh = gk % kvHeads
                for (i, r) in grp.rows.enumerated() {
                    (queries + i * g * hd).update(from: q + r * ldq + kh * g * hd, count: g * hd)
                }
                // The prompt's keys once for every query of the group, then each row's own keys
                // for its G heads: the scores `row` would compute, bit for bit.
                let p = grp.count
                ck_attn_scores_multi(
                    queries, hd, grp.rows.count * g, grp.keys + kh * hd, dkv, p, hd, scale, scores, width)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    let mine = Segment(keys: o.keys + kh * hd, values: o.values + kh * hd, count: o.count)
                    let rowScores = scores + i * g * width
                    ck_attn_scores_multi(
                        queries + i * g * hd, hd, g, mine.keys, dkv, mine.count, hd, scale, rowScores + p, width)
                    for j in 0..<g {
                        let s = rowScores + j * width
                        let out = y + r * d + (kh * g + j) * hd
                        softmaxCausalRow(s, valid: p + mine.count, width: p + mine.count)
                        out.update(repeating: 0, count: hd)
                        ck_attn_values(s, grp.values + kh * hd, dkv, p, hd, out)
                        ck_attn_values(s + p, mine.values, dkv, mine.count, hd, out)
                    }
                }
            }
        }
    }
}
