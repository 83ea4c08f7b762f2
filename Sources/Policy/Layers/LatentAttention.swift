// Multi-head latent attention (MLA, DeepSeek-V2/V3), with kv_b_proj's key and
// value halves folded ("absorbed") into the queries and the output, so that
// attention runs on the latent itself, as one key/value head.
// Legend: N rows, D width, H heads, r = kv_lora_rank, e = qk_rope_head_dim,
// n = qk_nope_head_dim, qk = n + e, dv = v_head_dim; W_uk[h] [n, r] and
// W_uv[h] [dv, r] are head h's rows of kv_b_proj (its key rows, then its value rows).
//   q    [N, H qk]   xn W_q^T, or RMSNorm(xn W_qa^T) W_qb^T;  head h: [q_nope (n) | q_pe (e)]
//   c    [N, r]      xn W_kva[:r]^T, the latent before its norm;  k_pe [N, e] = xn W_kva[r:]^T
//   rows [N, (H + 1)(r + e)]  head h: [q_nope W_uk[h] (r) | rope(q_pe) (e)], then the key
//                    [RMSNorm(c) (r) | rope(k_pe) (e)], whose first r columns are also the value
//   y    [N, H r]    Attention over rows (Attention.Shape(config): one key/value head, scale 1/sqrt(qk))
//   o    [N, H dv]   head h: y_h W_uv[h]^T;  then out = o W_o^T (the caller's o_proj)
// This is MLA exactly: q_nope . (W_uk[h] c) = (q_nope W_uk[h]) . c, and sum_j p_j W_uv[h] c_j =
// W_uv[h] sum_j p_j c_j. The forward computes it in this form too, not only the decode, so that
// sampling and training run the same chains on the same numbers and agree bit for bit; the
// price is attention over r + e columns instead of qk (and r instead of dv). The KV cache keeps
// r + e floats of a position per layer where q/k/v attention keeps 2 Hkv hd.
// Backward, in reverse:
//   dy_h = do_h W_uv[h];  dW_uv[h] += do_h^T y_h
//   drows from Attention.backward, un-rotated;  dq_nope_h = drows_h[:r] W_uk[h]^T,
//   dW_uk[h] += q_nope_h^T drows_h[:r];  dq_pe_h = drows_h[r:];  dc through the latent's RMSNorm;
//   dxn = dq W_q (or through q_b, its norm and q_a) + dc W_kva[:r] + dk_pe W_kva[r:]

import Kernels

/// What an MLA layer's forward keeps for its backward.
final class LatentSaved {
    let qa = FloatBuffer(), qan = FloatBuffer(), rstdQ = FloatBuffer(), q = FloatBuffer()
    let c = FloatBuffer(), rstdKv = FloatBuffer(), y = FloatBuffer()
}

/// Scratch of the MLA backward (and of the forward's W_uk^T), shared by the layers.
final class LatentScratch {
    let keyRowsT = FloatBuffer(), dq = FloatBuffer(), dqan = FloatBuffer(), dqa = FloatBuffer()
    let dc = FloatBuffer(), dy = FloatBuffer()
}

enum LatentAttention {
    /// rows [N, (H + 1)(r + e)] from xn [N, D] (rotated: row i at position(i)).
    static func project(
        _ xn: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>, slots: LatentSlots,
        config cfg: ModelConfig, rope: RoPE, into rows: UnsafeMutablePointer<Float>, saved s: LatentSaved,
        scratch: LatentScratch, position: (Int) -> Int
    ) {
        let m = cfg.latentAttention!
        let (d, h, r, e, nope, qk) = (cfg.hiddenSize, cfg.numAttentionHeads, m.rank, m.ropeDim, m.nopeDim, m.qkDim)
        let kw = m.keyWidth
        let ld = Attention.Shape(cfg).ld  // (H + 1)(r + e): the row layout is defined there
        let q = s.q.reserve(n * h * qk)
        if let qr = m.queryRank {
            let qa = s.qa.reserve(n * qr)
            let qan = s.qan.reserve(n * qr)
            Linear.forward(xn, w + slots.q, qa, rows: n, inFeatures: d, outFeatures: qr)
            RMSNorm.forward(
                qa, w + slots.qANorm!, qan, rstd: s.rstdQ.reserve(n), rows: n, width: qr, eps: cfg.rmsNormEps)
            Linear.forward(qan, w + slots.qB!, q, rows: n, inFeatures: qr, outFeatures: h * qk)
        } else {
            Linear.forward(xn, w + slots.q, q, rows: n, inFeatures: d, outFeatures: h * qk)
        }
        // The key: the latent through its norm, and the RoPE key beside it.
        let c = s.c.reserve(n * r)
        let key = rows + h * kw
        Linear.forward(xn, w + slots.kvA, c, rows: n, inFeatures: d, outFeatures: r)
        Linear.forward(xn, w + slots.kvA + r * d, key + r, ldy: ld, rows: n, inFeatures: d, outFeatures: e)
        RMSNorm.forward(
            c, w + slots.kvANorm, key, ldy: ld, rstd: s.rstdKv.reserve(n), rows: n, width: r, eps: cfg.rmsNormEps)
        // Each head's query: q_nope W_uk[h] through the ordered product, whose weight must be [out, in]:
        // W_uk[h]^T, made here (H n r floats, small next to the layer's other weights).
        let ukT = scratch.keyRowsT.reserve(h * r * nope)
        for head in 0..<h {
            let uk = w + slots.kvB + head * (nope + m.valueDim) * r
            let t = ukT + head * r * nope
            for j in 0..<nope { for i in 0..<r { t[i * nope + j] = uk[j * r + i] } }
        }
        for head in 0..<h {
            let qh = q + head * qk
            let out = rows + head * kw
            if nope > 0 {
                Linear.forward(
                    qh, ldx: h * qk, ukT + head * r * nope, out, ldy: ld, rows: n, inFeatures: nope, outFeatures: r)
            } else {
                for i in 0..<n { (out + i * ld).update(repeating: 0, count: r) }
            }
            for i in 0..<n { (out + i * ld + r).update(from: qh + i * h * qk + nope, count: e) }
        }
        rope.apply(rows + r, ld: ld, rows: n, heads: h + 1, stride: kw, position: position)
    }

    /// o [N, H dv] from the attention's output y [N, H r].
    static func expand(
        _ y: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>, slots: LatentSlots,
        config cfg: ModelConfig, into o: UnsafeMutablePointer<Float>
    ) {
        let m = cfg.latentAttention!
        let (h, r, dv) = (cfg.numAttentionHeads, m.rank, m.valueDim)
        for head in 0..<h {
            let uv = w + slots.kvB + (head * (m.nopeDim + dv) + m.nopeDim) * r
            Linear.forward(
                y + head * r, ldx: h * r, uv, o + head * dv, ldy: h * dv, rows: n, inFeatures: r, outFeatures: dv)
        }
    }

    /// dy [N, H r] from do [N, H dv]; adds to W_uv's gradients.
    static func expandBackward(
        _ dout: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>, grads g: UnsafeMutablePointer<Float>,
        slots: LatentSlots, config cfg: ModelConfig, saved s: LatentSaved, into dy: UnsafeMutablePointer<Float>
    ) {
        let m = cfg.latentAttention!
        let (h, r, dv) = (cfg.numAttentionHeads, m.rank, m.valueDim)
        for head in 0..<h {
            let uv = slots.kvB + (head * (m.nopeDim + dv) + m.nopeDim) * r
            Linear.backward(
                dout + head * dv, ldy: h * dv, s.y.pointer + head * r, ldx: h * r, w + uv, g + uv, dy + head * r,
                ldDx: h * r, rows: n, inFeatures: r, outFeatures: dv)
        }
    }

    /// dxn [N, D] from drows [N, (H + 1)(r + e)] (un-rotated here, in place); adds to the layer's
    /// attention gradients but o_proj's and W_uv's.
    static func projectBackward(
        _ drows: UnsafeMutablePointer<Float>, rows n: Int, xn: UnsafePointer<Float>, params w: UnsafePointer<Float>,
        grads g: UnsafeMutablePointer<Float>, slots: LatentSlots, config cfg: ModelConfig, rope: RoPE,
        saved s: LatentSaved, scratch: LatentScratch, into dxn: UnsafeMutablePointer<Float>, position: (Int) -> Int
    ) {
        let m = cfg.latentAttention!
        let (d, h, r, e, nope, qk) = (cfg.hiddenSize, cfg.numAttentionHeads, m.rank, m.ropeDim, m.nopeDim, m.qkDim)
        let kw = m.keyWidth
        let ld = Attention.Shape(cfg).ld  // (H + 1)(r + e): the row layout is defined there
        rope.apply(drows + r, ld: ld, rows: n, heads: h + 1, stride: kw, inverse: true, position: position)
        let q = s.q.pointer
        let dq = scratch.dq.reserve(n * h * qk)
        for head in 0..<h {
            let uk = slots.kvB + head * (nope + m.valueDim) * r
            let dlat = drows + head * kw
            if nope > 0 {
                // q_lat = q_nope W_uk: dq_nope = dq_lat W_uk^T, dW_uk += q_nope^T dq_lat.
                gemm(
                    transB: true, m: n, n: nope, k: r, a: dlat, lda: ld, b: w + uk, ldb: r, c: dq + head * qk,
                    ldc: h * qk)
                gemm(
                    transA: true, m: nope, n: r, k: n, a: q + head * qk, lda: h * qk, b: dlat, ldb: ld, beta: 1,
                    c: g + uk, ldc: r)
            }
            for i in 0..<n { (dq + i * h * qk + head * qk + nope).update(from: dlat + i * ld + r, count: e) }
        }
        if let qr = m.queryRank {
            let dqan = scratch.dqan.reserve(n * qr)
            let dqa = scratch.dqa.reserve(n * qr)
            Linear.backward(
                dq, s.qan.pointer, w + slots.qB!, g + slots.qB!, dqan, rows: n, inFeatures: qr, outFeatures: h * qk)
            RMSNorm.backward(
                dqan, s.qa.pointer, w + slots.qANorm!, rstd: s.rstdQ.pointer, dqa, g + slots.qANorm!, rows: n,
                width: qr)
            Linear.backward(dqa, xn, w + slots.q, g + slots.q, dxn, rows: n, inFeatures: d, outFeatures: qr)
        } else {
            Linear.backward(dq, xn, w + slots.q, g + slots.q, dxn, rows: n, inFeatures: d, outFeatures: h * qk)
        }
        let dkey = drows + h * kw
        let dc = scratch.dc.reserve(n * r)
        RMSNorm.backward(
            dkey, ldDy: ld, s.c.pointer, w + slots.kvANorm, rstd: s.rstdKv.pointer, dc, g + slots.kvANorm, rows: n,
            width: r)
        Linear.backward(
            dc, xn, w + slots.kvA, g + slots.kvA, dxn, rows: n, inFeatures: d, outFeatures: r, accumulate: true)
        Linear.backward(
            dkey + r, ldy: ld, xn, w + slots.kvA + r * d, g + slots.kvA + r * d, dxn, rows: n, inFeatures: d,
            outFeatures: e, accumulate: true)
    }
}
