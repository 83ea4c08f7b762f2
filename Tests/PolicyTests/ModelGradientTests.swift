// Whole-model gradients on the 2-layer toy shape: logits -> log-probs -> a
// weighted sum, checked against finite differences for a sample of every
// tensor; plus the overfitting check (the loss of a tiny model falls).

import XCTest
import Kernels
import Policy
import Support

final class ModelGradientTests: XCTestCase {
    func makeBatch(_ model: Transformer, b: Int, t: Int, rng: inout Xoshiro) -> [Int32] {
        (0..<(b * t)).map { _ in Int32(rng.next() % 40) + 60 }
    }

    /// Multi-head latent attention on the toy width: a latent of 8, query/key heads of 4 + 4 (RoPE),
    /// value heads of 6 (unlike the query/key width, so that a mixed-up width shows), with or without
    /// the query bottleneck.
    static func latent(_ c: inout ModelConfig, queryRank: Int?) {
        c.kvLoraRank = 8
        c.qLoraRank = queryRank
        c.qkNopeHeadDim = 4
        c.qkRopeHeadDim = 4
        c.vHeadDim = 6
    }

    /// Hyper-connections (mHC) of S streams, the base and scale of every one of them moved away from
    /// their initial zeros and ones so that their gradients reach every path.
    static func hyper(_ c: inout ModelConfig, streams: Int, iterations: Int? = nil, eps: Float? = nil) {
        c.hcMult = streams
        c.hcSinkhornIters = iterations
        c.hcEps = eps
    }

    static func spreadHyperConnections(_ model: Transformer, rng: inout Xoshiro) {
        for slot in model.layout.slots where slot.kind == .bias || slot.name.hasSuffix("scale") {
            for i in slot.range {
                model.parameters[i] = slot.kind == .bias ? rng.normal() * 0.5 : 1 + rng.normal() * 0.3
            }
        }
    }

    func testWholeModelGradients() {
        // Cases 3-5 change the attention: grouped-query (four query heads of width 4 on two key/value
        // heads), then MLA with one q_proj, then MLA through the query bottleneck. Cases 6-7 add
        // hyper-connections: three streams, three Sinkhorn-Knopp iterations and a coarse hc_eps on
        // q/k/v attention, then four streams with transformers' defaults on MLA.
        let cases: [(scoring: String, alpha: Float, attention: String)] = [
            ("sigmoid", 0, "mha"), ("softmax", 0.02, "mha"), ("sigmoid", 0, "gqa"), ("sigmoid", 0, "mla"),
            ("softmax", 0.02, "mla-q-lora"), ("sigmoid", 0, "mha-mhc"), ("softmax", 0.02, "mla-mhc"),
        ]
        for (k, (scoring, alpha, attention)) in cases.enumerated() {
            var rng = Xoshiro(seed: 5)
            var c = try! ModelConfig.named("toy")
            c.scoringFunc = scoring
            c.auxLossAlpha = alpha
            switch attention {
            case "gqa":
                c.numAttentionHeads = 4
                c.headDim = 4
                c.numKeyValueHeads = 2
            case "mla": Self.latent(&c, queryRank: nil)
            case "mla-q-lora": Self.latent(&c, queryRank: 6)
            case "mha-mhc": Self.hyper(&c, streams: 3, iterations: 3, eps: 0.05)
            case "mla-mhc":
                Self.latent(&c, queryRank: nil)
                Self.hyper(&c, streams: 4)
            default: break
            }
            checkWholeModel(c, seed: [1, 1, 3, 3, 2, 1, 1][k], label: "\(scoring), \(attention)", rng: &rng)
        }
    }

    /// Multi-token prediction: two modules (the second reads the first's hidden state), their
    /// losses added to the model's, through MLA and plain attention.
    func testMultiTokenPredictionGradients() {
        for (k, attention) in ["mha", "mla"].enumerated() {
            var rng = Xoshiro(seed: 6)
            var c = try! ModelConfig.named("toy")
            c.numNextnPredictLayers = 2
            if attention == "mla" { Self.latent(&c, queryRank: nil) }
            checkWholeModel(c, seed: [1, 6][k], label: "mtp, \(attention)", rng: &rng)
        }
    }

    /// Finite differences of every tensor of a model of shape `c` (bigger weights than at
    /// initialisation), on a loss of random weights over the log-probs of the targets: the
    /// model's, plus each prediction module's of the target k places later.
    func checkWholeModel(_ c: ModelConfig, seed: UInt64, label: String, rng: inout Xoshiro) {
        let model = Transformer(config: c)
        model.initialize(seed: seed)  // seeds whose routing margins outlast the probes
        Self.spreadHyperConnections(model, rng: &rng)
        // Bigger weights than at initialisation so every path carries a visible gradient.
        for slot in model.layout.slots where slot.kind == .matrix {
            for i in slot.range { model.parameters[i] *= 4 }
        }
        // Router scores spread apart so that few probes flip a top-k choice.
        for l in model.layout.layers + model.layout.predictors.map(\.layer) {
            for i in 0..<(c.nRoutedExperts * c.hiddenSize) { model.parameters[l.router + i] *= 5 }
        }
        let b = 2
        let t = 6
        let v = c.vocabSize
        let modules = c.predictionModules
        let tokens = makeBatch(model, b: b, t: t, rng: &rng)
        // Targets: next tokens; the last position of each sequence and a padded tail have none.
        var targets = [Int32](repeating: -1, count: b * t)
        let lengths = [6, 4]
        for s in 0..<b { for p in 0..<(lengths[s] - 1) { targets[s * t + p] = tokens[s * t + p + 1] } }
        // Module m's row i scores the target of row i + m + 1.
        let shifted = (0..<modules).map { m in
            (0..<(b * t)).map { r in r % t + m + 1 < t ? targets[r + m + 1] : -1 }
        }
        let coef = randomArray(b * t, rng: &rng)
        let moduleCoef = (0..<modules).map { _ in randomArray(b * t, rng: &rng) }
        let acts = Activations()
        let logp = Tensor([b * t])
        let loss = { () -> Double in
            let logits = model.forward(tokens: tokens, batch: b, length: t, lengths: lengths, into: acts)
            LogProbs.forward(logits, targets: targets, rows: b * t, vocab: v, logp: logp.data)
            var total = probe(logp.data, coef) + Double(acts.auxLoss)
            for (m, moduleLogits) in (modules > 0 ? model.predict(into: acts) : []).enumerated() {
                LogProbs.forward(moduleLogits, targets: shifted[m], rows: b * t, vocab: v, logp: logp.data)
                total += probe(logp.data, moduleCoef[m])
            }
            return total
        }
        _ = loss()
        let layers = c.numHiddenLayers + modules
        let choices = {
            acts.expertLoad.flatMap { $0 }
                + (0..<layers).flatMap { l in
                    (0..<(b * t * c.numExpertsPerTok)).map { i in
                        acts.moeState(layer: l).choice(
                            token: i / c.numExpertsPerTok, k: i % c.numExpertsPerTok, topK: c.numExpertsPerTok)
                    }
                }
        }
        let reference = choices()
        let dlogits = Tensor([b * t, v])
        LogProbs.backward(
            acts.logits.pointer, targets: targets, dlogp: coef, rows: b * t, vocab: v, dlogits: dlogits.data)
        var predicted: [Tensor] = []
        for (m, moduleLogits) in (modules > 0 ? model.predict(into: acts) : []).enumerated() {
            predicted.append(Tensor([b * t, v]))
            LogProbs.backward(
                moduleLogits, targets: shifted[m], dlogp: moduleCoef[m], rows: b * t, vocab: v,
                dlogits: predicted[m].data)
        }
        model.zeroGradients()
        model.backward(dlogits: dlogits.data, predicted: predicted.map { UnsafePointer($0.data) }, from: acts)
        // Single coordinates: small gradients, so an absolute tolerance above Float32 rounding noise.
        let coordinates = GradientCheck(h: 4e-3, relativeTolerance: 5e-2, absoluteTolerance: 1e-3)
        let directions = GradientCheck(h: 1e-3, relativeTolerance: 2e-2, absoluteTolerance: 1e-3)
        // A hyper-connection's base and scale move the loss little: a longer step lifts the difference
        // above the Float32 rounding of the loss.
        let longDirections = GradientCheck(h: 1e-2, relativeTolerance: 2e-2, absoluteTolerance: 1e-3)
        var skippedDirections = 0
        var slots = 0
        for slot in model.layout.slots where slot.kind != .buffer {
            let idx = sampleIndices(slot.count, 8, rng: &rng).map { $0 + slot.offset }
            let name = "\(slot.name) [\(label)]"
            coordinates.check(
                name, model.parameters.data, analytic: model.gradients.data, indices: idx,
                loss: loss, stable: { choices() == reference })
            let hyperOffset = slot.name.hasSuffix("base") || slot.name.hasSuffix("scale")
            let checked = (hyperOffset ? longDirections : directions).checkDirection(
                name, model.parameters.data,
                analytic: model.gradients.data, range: slot.range, rng: &rng,
                loss: loss, stable: { choices() == reference })
            slots += 1
            if !checked { skippedDirections += 1 }
        }
        GradientCheck.assertFewSkipped(skippedDirections, of: slots, "random directions [\(label)]")
        // The selection bias gets no gradient: it only chooses.
        for l in model.layout.layers + model.layout.predictors.map(\.layer) {
            for i in 0..<c.nRoutedExperts { XCTAssertEqual(model.gradients[l.routerBias + i], 0) }
        }
    }

    /// Padding after a sequence's length never changes its real tokens' logits.
    func testPaddingDoesNotLeakBackwards() {
        var rng = Xoshiro(seed: 9)
        let model = Transformer(config: try! ModelConfig.named("toy"))
        model.initialize(seed: 2)
        var tokens = makeBatch(model, b: 1, t: 8, rng: &rng)
        let before = Array(model.logits(tokens: tokens, batch: 1, length: 8)[..<(5 * 259)])
        for p in 5..<8 { tokens[p] = 256 }
        let after = Array(model.logits(tokens: tokens, batch: 1, length: 8)[..<(5 * 259)])
        // Equal up to summation order: the padding changes how many rows each expert's product has.
        for i in 0..<before.count { XCTAssertEqual(before[i], after[i], accuracy: 1e-5) }
    }
}
