// Multi-token prediction (DeepSeek-V3): module k (1-based) reads the hidden state of each position
// i from the module before it (the main model's last layer, before the final norm, for k = 1) and
// the embedding of token i + k, and predicts token i + k + 1.
// Legend: B sequences, T positions, N = B*T rows, D width, V vocabulary.
//   e = enorm(embed(t[i + k]))  [N, D]      g = hnorm(h^(k-1)[i])  [N, D]
//   x = eh_proj([e | g])        [N, 2D] -> [N, D]
//   h^k = layer_k(x)            one decoder layer, causal over the sequence, [N, D]
//   logits^k = lm_head(shared_head.norm(h^k))  [N, V]
// The embedding and lm_head are the main model's. A row whose token i + k lies past its
// sequence reads the pad token: causal attention keeps it from the rows before, and it has no
// target. SFT adds mtp_loss_weight times the modules' mean cross-entropy; its gradient reaches
// the main model through h^0, as in DeepSeek-V3, which is what makes the modules' drafts agree
// with the main model. The first module drafts tokens for self-speculative sampling
// (SpeculativeSampling).

import Kernels

/// What a prediction module's forward keeps for its backward.
final class Predictor {
    let tokens = Buffer<Int32>(), embedded = FloatBuffer(), rstdE = FloatBuffer(), rstdH = FloatBuffer()
    /// [e | g], [N, 2D].
    let joined = FloatBuffer()
    let layer = Activations.Layer()
    let out = FloatBuffer(), rstdF = FloatBuffer(), xnF = FloatBuffer()
    let logits = FloatBuffer()
}

/// Backward scratch of the prediction modules.
final class PredictorScratch {
    let dx = FloatBuffer(), dCarry = FloatBuffer(), dJoined = FloatBuffer(), dNormed = FloatBuffer()
    let dEmbedded = FloatBuffer()
}

extension Transformer {
    /// Each prediction module's logits [B*T, V] over the batch of the last `forward` (which must
    /// have saved): row i of module k scores token i + k + 1. Valid until the next forward.
    public func predict(into a: Activations) -> [UnsafeMutablePointer<Float>] {
        let c = config
        let (d, v, n, t) = (c.hiddenSize, c.vocabSize, a.rows, a.length)
        precondition(a.canBackward, "predict after a forward with saving: false")
        let w = parameters.data
        if a.predictors.count != layout.predictors.count { a.predictors = layout.predictors.map { _ in .init() } }
        // The module sees a sequence k tokens shorter: its balance loss and expert load count those rows.
        let sequences = a.sequences
        defer { a.sequences = sequences }
        var hidden = a.hidden!
        a.predicted = true
        return layout.predictors.enumerated().map { (m, slots) in
            let k = m + 1
            let p = a.predictors[m]
            a.sequences = sequences.map { $0.lowerBound..<max($0.lowerBound, $0.upperBound - k) }
            let ids = p.tokens.reserve(n)
            for r in 0..<n { ids[r] = r % t + k < t ? a.tokens.pointer[r + k] : Int32(c.padTokenId) }
            let x = p.layer.xIn.reserve(n * d)
            predictorInput(
                slots, tokens: ids, hidden: hidden, rows: n, embedded: p.embedded.reserve(n * d),
                joined: p.joined.reserve(n * 2 * d), rstdE: p.rstdE.reserve(n), rstdH: p.rstdH.reserve(n), into: x)
            let out = p.out.reserve(n * d)
            layerForward(slots.layer, x: x, out: out, saved: p.layer, in: a)
            let xnF = p.xnF.reserve(n * d)
            RMSNorm.forward(
                out, w + slots.headNorm, xnF, rstd: p.rstdF.reserve(n), rows: n, width: d, eps: c.rmsNormEps)
            let logits = p.logits.reserve(n * v)
            Linear.forward(xnF, w + layout.lmHead, logits, rows: n, inFeatures: d, outFeatures: v)
            hidden = UnsafePointer(out)
            return logits
        }
    }

    /// A module's input x = eh_proj([enorm(embed(tokens)) | hnorm(hidden)]) [N, D], keeping the
    /// embedded rows [N, D] and the joined rows [N, 2D] (and the norms' rstd when asked).
    func predictorInput(
        _ slots: PredictorSlots, tokens: UnsafePointer<Int32>, hidden: UnsafePointer<Float>, rows n: Int,
        embedded: UnsafeMutablePointer<Float>, joined: UnsafeMutablePointer<Float>,
        rstdE: UnsafeMutablePointer<Float>?, rstdH: UnsafeMutablePointer<Float>?, into x: UnsafeMutablePointer<Float>
    ) {
        let (c, w, d) = (config, parameters.data, config.hiddenSize)
        Embedding.forward(tokens, w + layout.embed, embedded, count: n, width: d)
        RMSNorm.forward(
            embedded, w + slots.enorm, joined, ldy: 2 * d, rstd: rstdE, rows: n, width: d, eps: c.rmsNormEps)
        RMSNorm.forward(
            hidden, w + slots.hnorm, joined + d, ldy: 2 * d, rstd: rstdH, rows: n, width: d, eps: c.rmsNormEps)
        Linear.forward(joined, w + slots.ehProj, x, rows: n, inFeatures: 2 * d, outFeatures: d)
    }

    /// Accumulates the gradients of the modules' last `predict` from their dlogits, last module
    /// first, and returns d(loss)/d(h^0) [N, D], which the main model's backward adds to its own.
    func predictBackward(_ dlogits: [UnsafePointer<Float>], from a: Activations) -> UnsafePointer<Float> {
        let c = config
        let (d, v, n) = (c.hiddenSize, c.vocabSize, a.rows)
        precondition(dlogits.count == layout.predictors.count, "one dlogits per prediction module")
        let (w, g) = (parameters.data, gradients.data)
        let sc = a.predictorScratch
        let dx = sc.dx.reserve(n * d)
        let dNormed = sc.dNormed.reserve(n * d)
        let dJoined = sc.dJoined.reserve(n * 2 * d)
        let dEmbedded = sc.dEmbedded.reserve(n * d)
        // d(loss)/d(h^k) from the modules after k (none after the last).
        let dCarry = sc.dCarry.reserve(n * d)
        dCarry.update(repeating: 0, count: n * d)
        for (m, slots) in layout.predictors.enumerated().reversed() {
            let p = a.predictors[m]
            let input = m == 0 ? a.hidden! : UnsafePointer(a.predictors[m - 1].out.pointer)
            Linear.backward(
                dlogits[m], p.xnF.pointer, w + layout.lmHead, g + layout.lmHead, dNormed, rows: n, inFeatures: d,
                outFeatures: v)
            RMSNorm.backward(
                dNormed, p.out.pointer, w + slots.headNorm, rstd: p.rstdF.pointer, dx, g + slots.headNorm, rows: n,
                width: d)
            add(dCarry, into: dx, count: n * d)
            layerBackward(slots.layer, dx: dx, saved: p.layer, in: a)
            Linear.backward(
                dx, p.joined.pointer, w + slots.ehProj, g + slots.ehProj, dJoined, rows: n, inFeatures: 2 * d,
                outFeatures: d)
            RMSNorm.backward(
                dJoined, ldDy: 2 * d, p.embedded.pointer, w + slots.enorm, rstd: p.rstdE.pointer, dEmbedded,
                g + slots.enorm, rows: n, width: d)
            Embedding.backward(p.tokens.pointer, dEmbedded, g + layout.embed, count: n, width: d)
            RMSNorm.backward(
                dJoined + d, ldDy: 2 * d, input, w + slots.hnorm, rstd: p.rstdH.pointer, dCarry, g + slots.hnorm,
                rows: n, width: d)
        }
        return UnsafePointer(dCarry)
    }
}
