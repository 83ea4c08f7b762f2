// Causal self-attention over whole sequences (training, prefill), multi-head
// or grouped-query: query head h reads key/value head h / G. MLA runs through
// the same code as one key/value head whose values are its keys' first columns
// (LatentAttention builds those rows).
// Legend: B sequences, T positions, H query heads, Hkv key/value heads,
// G = H / Hkv, dk the width of a query/key head, dv of a value head (both hd
// in q/k/v attention), W the row stride (D + 2 Dkv there; see Shape).
//   qkv [B*T, W]   rows [q (H dk) | k (Hkv dk) | v (Hkv dv)], RoPE already applied to q and k
//   y   [B*T, H dv] attention output before o_proj
//   P   [B, H, T, T] softmax probabilities, saved for backward
// Per (b, h), with Q the [T, dk] strided view of head h and K, V those of head h / G:
//   S = Q K^T * scale, masked to j <= i;  P = softmax_row(S);  Y = P V
// Backward reads qkv and P:
//   dP = dY V^T;  dV = sum over the G heads of P^T dY;  dS = P * (dP - rowsum(P * dP))
//   dQ = dS K * scale;  dK = sum over the G heads of dS^T Q * scale
// (when V is K's first columns, dV and dK add into the same numbers).
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
    /// Where a row's queries, keys and values are, and how wide.
    public struct Shape: Equatable, Sendable {
        /// Query heads H and key/value heads Hkv (each serves G = H / Hkv query heads).
        public var heads: Int, kvHeads: Int
        /// Width dk of a query/key head (the scores' chain) and dv of a value head.
        public var keyDim: Int, valueDim: Int
        /// Row stride W of the [q | k | v] rows, and where in a row the keys and the values start.
        /// Equal offsets: the values are the first dv columns of the keys (MLA's latent).
        public var ld: Int, keyOffset: Int, valueOffset: Int
        public var scale: Float

        public var group: Int { heads / kvHeads }
        /// Width of the output y: H dv.
        public var outWidth: Int { heads * valueDim }
        public var valuesInKeys: Bool { valueOffset == keyOffset }

        public init(
            heads: Int, kvHeads: Int, keyDim: Int, valueDim: Int, ld: Int, keyOffset: Int, valueOffset: Int,
            scale: Float
        ) {
            (self.heads, self.kvHeads, self.keyDim, self.valueDim) = (heads, kvHeads, keyDim, valueDim)
            (self.ld, self.keyOffset, self.valueOffset, self.scale) = (ld, keyOffset, valueOffset, scale)
        }

        /// Rows [q (H hd) | k (Hkv hd) | v (Hkv hd)] of q/k/v attention, scaled by 1/sqrt(hd).
        public init(heads: Int, kvHeads: Int, headDim hd: Int) {
            let d = heads * hd
            let dkv = kvHeads * hd
            self.init(
                heads: heads, kvHeads: kvHeads, keyDim: hd, valueDim: hd, ld: d + 2 * dkv, keyOffset: d,
                valueOffset: d + dkv, scale: 1 / Float(hd).squareRoot())
        }

        /// The model's attention: rows [q | k | v] of q/k/v attention, or under MLA LatentAttention's
        /// rows [H queries of r + qk_rope | the latent and RoPE key], scaled by 1/sqrt(qk_nope + qk_rope).
        public init(_ c: ModelConfig) {
            if let m = c.latentAttention {
                let w = m.keyWidth
                self.init(
                    heads: c.numAttentionHeads, kvHeads: 1, keyDim: w, valueDim: m.rank,
                    ld: (c.numAttentionHeads + 1) * w, keyOffset: c.numAttentionHeads * w,
                    valueOffset: c.numAttentionHeads * w, scale: 1 / Float(m.qkDim).squareRoot())
            } else {
                self.init(heads: c.numAttentionHeads, kvHeads: c.keyValueHeads, headDim: c.headDim)
            }
        }
    }

    public static func forward(
        qkv: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        batch b: Int, length t: Int, shape: Shape
    ) {
        let (heads, kvHeads, dk, dv, ld) = (shape.heads, shape.kvHeads, shape.keyDim, shape.valueDim, shape.ld)
        let group = shape.group
        let yw = shape.outWidth
        Parallel.forRanges(b * kvHeads, minPerThread: 1) { range in
            // Key/value head kh's keys as tiles of 16 positions (ck_attn_tile_keys): [ceil(T / 16), dk, 16],
            // made once for its G query heads.
            let tiles = UnsafeMutablePointer<Float>.allocate(capacity: (t + 15) / 16 * 16 * dk)
            defer { tiles.deallocate() }
            for bk in range {
                let s = bk / kvHeads
                let kh = bk % kvHeads
                let row0 = qkv + s * t * ld
                let k = row0 + shape.keyOffset + kh * dk
                let v = row0 + shape.valueOffset + kh * dv
                ck_attn_tile_keys(k, ld, t, dk, tiles, 0)
                for h in (kh * group)..<((kh + 1) * group) {
                    let p = probs + (s * heads + h) * t * t
                    let yh = y + s * t * yw + h * dv
                    if GemmRecorder.isRecording {
                        // The two products this pass computes: Q K^T and P V.
                        GemmRecorder.record(GemmShape(transB: true, m: t, n: t, k: dk))
                        GemmRecorder.record(GemmShape(m: t, n: dv, k: t))
                    }
                    // Query i scores keys 0...i, then softmax; y_i = the chain over those keys in order.
                    ck_attn_scores_tiled(row0 + h * dk, ld, t, tiles, 16 * dk, 1, 1, dk, shape.scale, p, t)
                    for i in 0..<t {
                        softmaxCausalRow(p + i * t, valid: i + 1, width: t)
                        (yh + i * yw).update(repeating: 0, count: dv)
                    }
                    ck_attn_values_multi(p, t, t, v, ld, 1, 1, dv, yh, yw)
                }
            }
        }
    }

    /// Writes dqkv [B*T, W] (gradients w.r.t. the rotated q and k, and v).
    public static func backward(
        dy: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dqkv: UnsafeMutablePointer<Float>, batch b: Int, length t: Int, shape: Shape
    ) {
        let (heads, kvHeads, kd, vd, ld) = (shape.heads, shape.kvHeads, shape.keyDim, shape.valueDim, shape.ld)
        let group = shape.group
        let yw = shape.outWidth
        let scale = shape.scale
        Parallel.forRanges(b * kvHeads, minPerThread: 1) { range in
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: t * t)
            defer { dp.deallocate() }
            for bk in range {
                let s = bk / kvHeads
                let kh = bk % kvHeads
                let k = qkv + s * t * ld + shape.keyOffset + kh * kd
                let v = qkv + s * t * ld + shape.valueOffset + kh * vd
                let dk = dqkv + s * t * ld + shape.keyOffset + kh * kd
                let dv = dqkv + s * t * ld + shape.valueOffset + kh * vd
                // Values inside the keys: dV and dK add into the same numbers, from zero.
                if shape.valuesInKeys { for i in 0..<t { (dk + i * ld).update(repeating: 0, count: kd) } }
                for h in (kh * group)..<((kh + 1) * group) {
                    // The group's first head writes dK and dV, the others add to them.
                    let beta: Float = h == kh * group && !shape.valuesInKeys ? 0 : 1
                    let q = qkv + s * t * ld + h * kd
                    let dq = dqkv + s * t * ld + h * kd
                    let p = probs + (s * heads + h) * t * t
                    let dyh = dy + s * t * yw + h * vd
                    gemm(transB: true, m: t, n: t, k: vd, a: dyh, lda: yw, b: v, ldb: ld, c: dp, ldc: t)
                    gemm(
                        transA: true, m: t, n: vd, k: t, a: p, lda: t, b: dyh, ldb: yw, beta: beta, c: dv, ldc: ld)
                    for i in 0..<t {
                        let pr = p + i * t
                        let dpr = dp + i * t
                        let dot = Vector.dot(pr, dpr, i + 1)
                        for j in 0...i { dpr[j] = pr[j] * (dpr[j] - dot) }
                        for j in (i + 1)..<t { dpr[j] = 0 }
                    }
                    gemm(m: t, n: kd, k: t, alpha: scale, a: dp, lda: t, b: k, ldb: ld, c: dq, ldc: ld)
                    gemm(
                        transA: true, m: t, n: kd, k: t, alpha: scale, a: dp, lda: t, b: q, ldb: ld, beta: beta,
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
    ///   q [R, W] (rotated; the H query heads first), y [R, H dv]
    ///   a segment's keys [ceil(n / 16), Hkv dk, 16] (tiles of 16 positions, ck_attn_tile_keys),
    ///   values [n, Hkv dv], or none where they are the keys' first dv columns: those are copied out
    ///   as rows for the values' chains (at most 1/G of the work of those chains).
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

    /// The cached positions of one segment: `count` keys in tiles, their values in rows of Hkv dv, or
    /// nil where the values are the keys' first dv columns (MLA's latent).
    public struct Cached {
        public var keys: UnsafePointer<Float>, values: UnsafePointer<Float>?, count: Int
        public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>?, count: Int) {
            self.keys = keys
            self.values = values
            self.count = count
        }
    }

    /// Queries: rows of `shape.ld` floats, the H query heads first; y [R, H dv].
    public static func decode(
        q: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, shape: Shape, groups: [Group],
        own: (Int) -> Cached
    ) {
        let (kvHeads, hd, vd, ldq) = (shape.kvHeads, shape.keyDim, shape.valueDim, shape.ld)
        let yw = shape.outWidth
        let g = shape.group
        // A position's keys (tiled) and values: Hkv heads each.
        let (keyBlock, ldv) = (kvHeads * hd * 16, kvHeads * vd)
        let maxOwn = groups.flatMap { $0.rows }.map { own($0).count }.max() ?? 0
        let maxPrompt = groups.map(\.prompt.count).max() ?? 0
        let width = maxPrompt + maxOwn
        let maxRows = groups.map(\.rows.count).max() ?? 0
        precondition(!shape.valuesInKeys || kvHeads == 1, "values inside the keys need one key/value head")
        Parallel.forRanges(groups.count * kvHeads, minPerThread: 2) { range in
            // The group's queries of this key/value head, [rows * G, hd] (row-major by row, then head),
            // their scores [rows * G, width] and their outputs [rows * G, dv].
            let queries = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * hd))
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * width))
            let outputs = UnsafeMutablePointer<Float>.allocate(capacity: max(1, maxRows * g * vd))
            // Values kept inside tiled keys, as rows for ck_attn_values_multi: the prompt's, then a row's own.
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: shape.valuesInKeys ? max(1, width * vd) : 1)
            defer {
                queries.deallocate()
                scores.deallocate()
                outputs.deallocate()
                rows.deallocate()
            }
            func values(_ c: Cached, _ kh: Int, into out: UnsafeMutablePointer<Float>) -> UnsafePointer<Float> {
                if let v = c.values { return v + kh * vd }
                for t in 0..<c.count {
                    let lane = c.keys + (t / 16) * keyBlock + t % 16
                    for j in 0..<vd { out[t * vd + j] = lane[j * 16] }
                }
                return UnsafePointer(out)
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
                    queries, hd, nq, prompt.keys + kh * hd * 16, keyBlock, p, 0, hd, shape.scale, scores, width)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    let rowScores = scores + i * g * width
                    ck_attn_scores_tiled(
                        queries + i * g * hd, hd, g, o.keys + kh * hd * 16, keyBlock, o.count, 0, hd, shape.scale,
                        rowScores + p, width)
                    for j in 0..<g { softmaxCausalRow(rowScores + j * width, valid: p + o.count, width: p + o.count) }
                }
                outputs.update(repeating: 0, count: nq * vd)
                let promptValues = values(prompt, kh, into: rows)
                let ldPrompt = prompt.values == nil ? vd : ldv
                ck_attn_values_multi(scores, width, nq, promptValues, ldPrompt, p, 0, vd, outputs, vd)
                for (i, r) in grp.rows.enumerated() {
                    let o = own(r)
                    let ownValues = values(o, kh, into: rows + maxPrompt * vd)
                    ck_attn_values_multi(
                        scores + i * g * width + p, width, g, ownValues, o.values == nil ? vd : ldv, o.count, 0, vd,
                        outputs + i * g * vd, vd)
                    (y + r * yw + kh * g * vd).update(from: outputs + i * g * vd, count: g * vd)
                }
            }
        }
    }
}
