// DeepSeek-V3 router. Legend: N tokens, E routed experts, K chosen per token.
//   logits [N, E] = x E^T (computed by the caller with one product)
//   gateScores s [N, E] = sigmoid(logits)  (or softmax over E)
//   selectionScores = s + bias             bias [E] only ever CHOOSES experts
//   chosen [N, K]: top-k of selectionScores
//   gates  [N, K]: g_k = s_k / sum_{j in chosen} s_j * routed_scaling_factor
// The gate values never see the bias, so balancing changes which experts are
// chosen but not how much a chosen expert counts.
//
// Router replay: `replay` [N, K] (a row starting with -1 chooses for itself)
// overrides the choice with experts chosen elsewhere (by the sampler, on the
// same weights). Only the discrete choice is replayed: the gates still come
// from this forward's scores, so the router keeps its gradient. Two
// implementations of the same forward sum in different orders; where two
// experts' selection scores lie within rounding of each other they can choose
// differently, and a token's log-probability then moves by whole nats, not
// by rounding. `flipped` [N] marks the rows whose own choice differed.
//
// Backward reads s, chosen: dgates [N, K] -> dlogits [N, E] (the choice
// itself is not differentiated):
//   ds_k = rsf * (dg_k / Z - sum_i dg_i s_i / Z^2)   for k chosen, Z = sum_chosen s
//   sigmoid: dlogit_k = ds_k s_k (1 - s_k);  softmax: dlogit_j = s_j (ds_j - sum ds s)
//
// Sequence-wise balance loss (DeepSeek-V3, optional, weight alpha), per
// sequence of L tokens: f_i = E / (K L) * (tokens choosing i), P_i = mean_t s'_ti
// with s' = s / sum_E s; loss = alpha * sum_i f_i P_i, averaged over sequences.
// Its gradient flows through P only: d loss / d s'_ti = alpha f_i / (L B).

import Kernels

public struct RouterConfig: Sendable {
    public var experts: Int
    public var topK: Int
    public var sigmoid: Bool
    public var normalize: Bool
    public var scaling: Float

    public init(_ c: ModelConfig) {
        experts = c.nRoutedExperts
        topK = c.numExpertsPerTok
        sigmoid = c.isSigmoid
        normalize = c.normTopkProb
        scaling = c.routedScalingFactor
    }
}

public enum Router {
    /// Turns `scores` (holding logits on entry) into gate scores, and fills chosen/gates.
    /// With `replay`, its rows that do not start with -1 replace the choice (indices must be
    /// distinct experts); `flipped[t]` is then 1 where row t's own top-k was another set.
    public static func forward(
        _ cfg: RouterConfig, scores: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
        chosen: UnsafeMutablePointer<Int32>, gates: UnsafeMutablePointer<Float>, rows n: Int,
        replay: UnsafePointer<Int32>? = nil, flipped: UnsafeMutablePointer<Int32>? = nil
    ) {
        let e = cfg.experts
        let k = cfg.topK
        Parallel.forRanges(n, minPerThread: 256) { range in
            for t in range {
                let s = scores + t * e
                if cfg.sigmoid {
                    for i in 0..<e { s[i] = sigmoid(s[i]) }
                } else {
                    var mx = -Float.infinity
                    for i in 0..<e { mx = max(mx, s[i]) }
                    var sum: Float = 0
                    for i in 0..<e {
                        s[i] = exp(s[i] - mx)
                        sum += s[i]
                    }
                    for i in 0..<e { s[i] /= sum }
                }
                // Top-k of selectionScores = s + bias; ties go to the lower index. A score that is
                // NaN or -inf never wins, yet a row of them still chooses k distinct valid experts
                // (the lowest unchosen ones): the dispatch indexes expert buffers with these.
                let ch = chosen + t * k
                for j in 0..<k {
                    var best = -1
                    var bestScore = -Float.infinity
                    for i in 0..<e where !(0..<j).contains(where: { ch[$0] == Int32(i) }) {
                        let selectionScore = s[i] + bias[i]
                        if best < 0 || selectionScore > bestScore {
                            best = i
                            bestScore = selectionScore.isNaN ? -.infinity : selectionScore
                        }
                    }
                    ch[j] = Int32(best)
                }
                if let replay, replay[t * k] >= 0 {
                    let r = replay + t * k
                    let same = (0..<k).allSatisfy { j in (0..<k).contains { r[$0] == ch[j] } }
                    flipped?[t] = same ? 0 : 1
                    for j in 0..<k {
                        precondition(r[j] >= 0 && Int(r[j]) < e, "replayed expert \(r[j]) outside 0..<\(e)")
                        ch[j] = r[j]
                    }
                } else {
                    flipped?[t] = 0
                }
                var z: Float = 0
                for j in 0..<k { z += s[Int(ch[j])] }
                let g = gates + t * k
                for j in 0..<k {
                    let gateScore = s[Int(ch[j])]
                    g[j] = (cfg.normalize ? gateScore / z : gateScore) * cfg.scaling
                }
            }
        }
    }

    /// Writes dlogits [N, E] from dgates [N, K], plus the balance-loss gradient
    /// when `auxCoefficient(t)` gives the per-expert d loss / d s' of token t's sequence.
    public static func backward(
        _ cfg: RouterConfig, dgates: UnsafePointer<Float>, scores: UnsafePointer<Float>,
        chosen: UnsafePointer<Int32>, dlogits: UnsafeMutablePointer<Float>, rows n: Int,
        auxCoefficient: ((Int) -> UnsafePointer<Float>?)? = nil
    ) {
        let e = cfg.experts
        let k = cfg.topK
        Parallel.forRanges(n, minPerThread: 256) { range in
            for t in range {
                let s = scores + t * e
                let ch = chosen + t * k
                let dg = dgates + t * k
                let ds = dlogits + t * e
                for i in 0..<e { ds[i] = 0 }
                var z: Float = 0
                var dot: Float = 0
                for j in 0..<k {
                    let sj = s[Int(ch[j])]
                    z += sj
                    dot += dg[j] * sj
                }
                for j in 0..<k {
                    let i = Int(ch[j])
                    ds[i] += cfg.normalize ? cfg.scaling * (dg[j] / z - dot / (z * z)) : cfg.scaling * dg[j]
                }
                if let coef = auxCoefficient?(t) {
                    // s' = s / sum(s): ds_j += (c_j - sum_i c_i s'_i) / sum(s)
                    var total: Float = 0
                    for i in 0..<e { total += s[i] }
                    var cs: Float = 0
                    for i in 0..<e { cs += coef[i] * s[i] / total }
                    for i in 0..<e { ds[i] += (coef[i] - cs) / total }
                }
                if cfg.sigmoid {
                    for i in 0..<e { ds[i] *= s[i] * (1 - s[i]) }
                } else {
                    var sum: Float = 0
                    for i in 0..<e { sum += ds[i] * s[i] }
                    for i in 0..<e { ds[i] = s[i] * (ds[i] - sum) }
                }
            }
        }
    }

    /// The balance loss of sequences [start, start + length) of a batch, and per
    /// sequence the coefficients alpha f_i / (L B) its backward needs ([B, E]).
    public static func balanceLoss(
        _ cfg: RouterConfig, alpha: Float, scores: UnsafePointer<Float>,
        chosen: UnsafePointer<Int32>, sequences: [Range<Int>],
        coefficients: UnsafeMutablePointer<Float>
    ) -> Float {
        let e = cfg.experts
        let k = cfg.topK
        var loss: Float = 0
        let b = Float(max(1, sequences.count))
        for (si, rows) in sequences.enumerated() {
            let c = coefficients + si * e
            for i in 0..<e { c[i] = 0 }
            guard !rows.isEmpty else { continue }
            let l = Float(rows.count)
            var count = [Float](repeating: 0, count: e)
            var meanScore = [Float](repeating: 0, count: e)
            for t in rows {
                for j in 0..<k { count[Int(chosen[t * k + j])] += 1 }
                let s = scores + t * e
                var total: Float = 0
                for i in 0..<e { total += s[i] }
                for i in 0..<e { meanScore[i] += s[i] / total / l }
            }
            for i in 0..<e {
                let f = Float(e) / (Float(k) * l) * count[i]
                loss += alpha * f * meanScore[i] / b
                c[i] = alpha * f / (l * b)
            }
        }
        return loss
    }
}
