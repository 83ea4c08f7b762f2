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
// Forward runs (b, key/value head) in parallel, the keys tiled once for its G
// query heads. Scores and outputs come from CKernels'
// fixed-order chains (ck_attn_scores_tiled over keys laid out in tiles of 16
// positions, ck_attn_values_multi), the same calls the decode makes on its
// cache, so a cached decode computes exactly what the batched forward does,
// bit for bit, whether a sequence's keys sit in one segment or in two.
// Backward runs (b, key/value head) in parallel, so the G heads that add
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
        Parallel.forRanges(b * kvHeads, minPerThread: 1) { range in
            // Key/value head kh's keys as tiles of 16 positions (ck_attn_tile_keys): [ceil(T / 16), hd, 16],
            // made once for its G query heads.
            let tiles = UnsafeMutablePointer<Float>.allocate(capacity: (t + 15) / 16 * 16 * hd)
            defer { tiles.deallocate() }
            for bk in range {
                let s = bk / kvHeads
                let kh = bk % kvHeads
                let row0 = qkv + s * t * ld
                let k = row0 + d + kh * hd
                let v = k + dkv
                ck_attn_tile_keys(k, ld, t, hd, tiles, 0)
                for h in (kh * group)..<((kh + 1) * group) {
                    let p = probs + (s * heads + h) * t * t
                    let yh = y + s * t * d + h * hd
                    if GemmRecorder.isRecording {
                        // The two products this pass computes: Q K^T and P V.
                        GemmRecorder.record(GemmShape(transB: true, m: t, n: t, k: hd))
                        GemmRecorder.record(GemmShape(m: t, n: hd, k: t))
                    }
                    // Query i scores keys 0...i, then softmax; y_i = the chain over those keys in order.
                    ck_attn_scores_tiled(row0 + h * hd, ld, t, tiles, 16 * hd, 1, 1, hd, scale, p, t)
                    for i in 0..<t {
                        softmaxCausalRow(p + i * t, valid: i + 1, width: t)
                        (yh + i * d).update(repeating: 0, count: hd)
                    }
                    ck_attn_values_multi(p, t, t, v, ld, 1, 1, hd, yh, d)
                }
            }
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
    /// Legend: R rows (one per sequence, a group's rows contiguous), n the
    /// positions of a segment (for a row's own: including the new token's).
    ///   q [R, D] (row stride ldq, rotated), y [R, D]
    ///   a segment's keys [ceil(n / 16), Dkv, 16] (tiles of 16 positions, ck_attn_tile_keys), values [n, Dkv]
    /// Each (row, query head) gets the forward's chains over the two segments,
    /// the same as the forward over the whole sequence. A thread takes (group,
    /// key/value head) pairs and computes all the group's queries of that head
    /// at once: the prompt's keys and values are read once for its rows x G
    /// queries, a row's own once for its G. (Storing each head's keys and values
    /// as one contiguous stretch instead measured 7% slower.)
    public struct Group {
        public var rows: Range<Int>
        public var prompt: Cached
        public init(rows: Range<Int>, prompt: Cached) {
            self.rows = rows
            self.prompt = prompt
        }
    }

    /// The cached positions of one segment: `count` keys in tiles, their values in rows of Dkv.
    public struct Cached {
        public var keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int
        public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, count: Int) {
            self.keys = keys
            self.values = values
            self.count = count
        }
    }

    public static func decode(
        q: UnsafePointer<Float>, ldq: Int, y: UnsafeMutablePointer<Float>, heads: Int,
        kvHeads: Int, headDim hd: Int, groups: [Group], own: (Int) -> Cached
    ) {
        let d = heads * hd
        let dkv = kvHeads * hd
        let g = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let maxOwn = groups.flatMap { $0.rows }.map { own($0).count }.max() ?? 0
        let width = (groups.map(\.prompt.count).max() ?? 0) + maxOwn
        let maxRows = groups.map(\.rows.count).max() ?? 0
        Parallel.forRanges(groups.count * kvHeads, minPerThread: 2) { range in
            // The group's queries of this key/value head, [rows * G, hd] (row-major by row, then head),
            // their scores [rows * G, width] and their outputs [rows * G, hd].
            let queries = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * hd))
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * width))
            let outputs = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * hd))
            defer {
                queries.deallocate()
                scores.deallocate()
                outputs.deallocate()
            }
            for gk in range {
                let grp = groups[gk / kvHeads]
                let kh = gk % kvHeads
                let nq = grp.rows.count * g
                for (i, r) in grp.rows.enumerated() {
                    (queries + i * g * hd).update(from: q + r * ldq + kh * g * hd, count: g * hd)
                }
                // The prompt's keys and values once for every query of the group, then each row's own
                // for its G heads: the same chains as the forward over the whole sequence.
                let prompt = grp.prompt
                let p = prompt.count
                ck_attn_scores_tiled(
                    queries, hd, nq, prompt.keys + kh * hd * 16, dkv * 16, p, 0, hd, scale, scores, width)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    let rowScores = scores + i * g * width
                    ck_attn_scores_tiled(
                        queries + i * g * hd, hd, g, o.keys + kh * hd * 16, dkv * 16, o.count, 0, hd, scale,
                        rowScores + p, width)
                    for j in 0..<g { softmaxCausalRow(rowScores + j * width, valid: p + o.count, width: p + o.count) }
                }
                outputs.update(repeating: 0, count: nq * hd)
                ck_attn_values_multi(scores, width, nq, prompt.values + kh * hd, dkv, p, 0, hd, outputs, hd)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    ck_attn_values_multi(
                        scores + i * g * width + p, width, g, o.values + kh * hd, dkv, o.count, 0, hd,
                        outputs + i * g * hd, hd)
                    (y + r * d + kh * g * hd).update(from: outputs + i * g * hd, count: g * hd)
                }
            }
        }
    }
}
