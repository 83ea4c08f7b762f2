// The router and the MoE layer: gradients through the gate values against
// finite differences (skipping probes that flip a top-k choice), and pinned
// hand cases for the selection bias.

import XCTest
import Kernels
import Policy
import Support

final class RouterTests: XCTestCase {
    var rng = Xoshiro(seed: 11)

    func toyConfig(scoring: String = "sigmoid", alpha: Float = 0, shared: Int = 1) -> ModelConfig {
        var c = try! ModelConfig.named("toy")
        c.scoringFunc = scoring
        c.auxLossAlpha = alpha
        c.nSharedExperts = shared
        c.routedScalingFactor = 1.5
        return c
    }

    /// One-hot router weights: token x = e_j scores expert j highest. A bias
    /// on another expert changes WHICH experts are chosen, never the gate
    /// values of the chosen ones (those come from the unbiased scores).
    func testBiasChangesChoiceButNotGateValues() {
        let e = 4
        let d = 4
        let k = 2
        let cfg = RouterConfig(toyConfig())
        // logits = x E^T with E = identity: token 0 has logits [2, 1, 0, -1].
        let logits: [Float] = [2, 1, 0, -1]
        let s = logits.map { 1 / (1 + expf(-$0)) }
        let scores = Tensor([1, e], logits)
        let chosen = Buffer<Int32>(k)
        let gates = Tensor([1, k])
        Router.forward(
            cfg, scores: scores.data, bias: [0, 0, 0, 0], chosen: chosen.pointer, gates: gates.data, rows: 1)
        XCTAssertEqual([chosen[0], chosen[1]], [0, 1])
        XCTAssertEqual(gates[0], s[0] / (s[0] + s[1]) * 1.5, accuracy: 1e-6)
        XCTAssertEqual(gates[1], s[1] / (s[0] + s[1]) * 1.5, accuracy: 1e-6)

        // A large bias on expert 3 makes it chosen first; its gate uses its own score s[3].
        let biased = Tensor([1, e], logits)
        Router.forward(
            cfg, scores: biased.data, bias: [0, 0, 0, 5], chosen: chosen.pointer, gates: gates.data, rows: 1)
        XCTAssertEqual([chosen[0], chosen[1]], [3, 0])
        XCTAssertEqual(gates[0], s[3] / (s[3] + s[0]) * 1.5, accuracy: 1e-6)
        XCTAssertEqual(gates[1], s[0] / (s[3] + s[0]) * 1.5, accuracy: 1e-6)
        // The scores kept for backward are the unbiased ones.
        for i in 0..<e { XCTAssertEqual(biased[i], s[i], accuracy: 1e-6) }
        _ = d
    }

    /// Scores that are all NaN (a damaged router) or -inf still choose k distinct valid experts:
    /// the dispatch indexes expert buffers with them (NaN once left index -1 and corrupted the heap).
    func testNaNScoresStillChooseValidDistinctExperts() {
        for scoring in ["sigmoid", "softmax"] {
            let cfg = RouterConfig(toyConfig(scoring: scoring))
            let e = cfg.experts
            let k = cfg.topK
            // Row 0 all NaN; row 1 NaN but for expert 2; row 2 NaN bias on expert 0 and -inf logits elsewhere.
            var logits = [Float](repeating: .nan, count: 3 * e)
            logits[e + 2] = 1
            for i in 0..<e { logits[2 * e + i] = i == 1 ? 0.5 : -.infinity }
            let scores = Tensor([3, e], logits)
            let chosen = Buffer<Int32>(3 * k)
            let gates = Tensor([3, k])
            var bias = [Float](repeating: 0, count: e)
            Router.forward(cfg, scores: scores.data, bias: bias, chosen: chosen.pointer, gates: gates.data, rows: 3)
            for row in 0..<3 {
                let picked = (0..<k).map { Int(chosen[row * k + $0]) }
                XCTAssertTrue(picked.allSatisfy { (0..<e).contains($0) }, "\(scoring) row \(row): \(picked)")
                XCTAssertEqual(Set(picked).count, k, "\(scoring) row \(row): distinct")
            }
            XCTAssertEqual((0..<k).map { Int(chosen[$0]) }, Array(0..<k), "\(scoring): all NaN: the lowest experts")
            if scoring == "sigmoid" {
                XCTAssertEqual(Int(chosen[k]), 2, "the one real score wins")
                XCTAssertEqual(Int(chosen[2 * k]), 1, "a finite score beats -inf")
            }
            bias[0] = .nan
            let again = Tensor([3, e], logits)
            Router.forward(cfg, scores: again.data, bias: bias, chosen: chosen.pointer, gates: gates.data, rows: 3)
            XCTAssertTrue((0..<(3 * k)).allSatisfy { (0..<e).contains(Int(chosen[$0])) }, "\(scoring): NaN bias")
        }
    }

    /// The whole model with a NaN router (built in memory: loading refuses such weights) samples
    /// without touching memory outside its buffers; its logits are NaN, its tokens in range.
    func testModelWithNaNRouterSamplesWithoutCorruptingMemory() throws {
        let model = Transformer(config: toyConfig())
        model.initialize(seed: 5)
        for layer in model.layout.layers {
            let count = model.config.nRoutedExperts * model.config.hiddenSize
            for i in 0..<count { model.parameters[layer.router + i] = .nan }
        }
        let params = SamplingParams(temperature: 1, maxNewTokens: 4, seed: 3, ignoreEOS: true)
        let completions = try Sampler(model: model).generate(
            prompts: ["1+1=", "abc"], completionsPerPrompt: 3,
            params: params)
        for c in completions.joined() {
            XCTAssertEqual(c.tokens.count, 4)
            XCTAssertTrue(c.tokens.allSatisfy { (0..<Int32(model.config.vocabSize)).contains($0) }, "\(c.tokens)")
        }
    }

    func testSoftmaxScoresWithoutNormalisation() {
        var c = toyConfig(scoring: "softmax")
        c.normTopkProb = false
        let cfg = RouterConfig(c)
        let logits: [Float] = [0.5, -1, 2, 0]
        let ex = logits.map { expf($0) }
        let z = ex.reduce(0, +)
        let scores = Tensor([1, 4], logits)
        let chosen = Buffer<Int32>(2)
        let gates = Tensor([1, 2])
        Router.forward(
            cfg, scores: scores.data, bias: [0, 0, 0, 0], chosen: chosen.pointer, gates: gates.data, rows: 1)
        XCTAssertEqual([chosen[0], chosen[1]], [2, 0])
        XCTAssertEqual(gates[0], ex[2] / z * 1.5, accuracy: 1e-6)
        XCTAssertEqual(gates[1], ex[0] / z * 1.5, accuracy: 1e-6)
    }

    func testRouterBackward() {
        for (scoring, normalize) in [("sigmoid", true), ("softmax", true), ("softmax", false)] {
            var c = toyConfig(scoring: scoring)
            c.normTopkProb = normalize
            let cfg = RouterConfig(c)
            let n = 6
            let e = cfg.experts
            let k = cfg.topK
            let logits = Tensor([n, e], randomArray(n * e, rng: &rng))
            let scores = Tensor([n, e])
            let chosen = Buffer<Int32>(n * k)
            let gates = Tensor([n, k])
            let r = randomArray(n * k, rng: &rng)
            let bias = randomArray(e, std: 0.1, rng: &rng)
            var reference: [Int32] = []
            let run = { () -> Double in
                scores.data.update(from: logits.data, count: n * e)
                Router.forward(cfg, scores: scores.data, bias: bias, chosen: chosen.pointer, gates: gates.data, rows: n)
                return probe(gates.data, r)
            }
            _ = run()
            reference = (0..<(n * k)).map { chosen[$0] }
            let dlogits = Tensor([n, e])
            Router.backward(cfg, dgates: r, scores: scores.data, chosen: chosen.pointer, dlogits: dlogits.data, rows: n)
            GradientCheck().check(
                "router \(scoring) norm=\(normalize)", logits.data, analytic: dlogits.data,
                indices: Array(0..<(n * e)), loss: run,
                stable: { (0..<(n * k)).map { chosen[$0] } == reference })
        }
    }

    /// The whole MoE layer (shared + routed experts, router, balance loss) against finite differences.
    func testMoELayerGradients() {
        for (scoring, alpha, shared) in [
            ("sigmoid", Float(0), 1), ("softmax", Float(0.1), 1), ("sigmoid", Float(0.05), 0),
        ] {
            let c = toyConfig(scoring: scoring, alpha: alpha, shared: shared)
            let model = Transformer(config: c)
            model.initialize(seed: 3)
            let layout = model.layout
            let slots = layout.layers[0]
            let shape = MoEShape(c)
            // Larger router weights spread the scores so few probes flip a choice.
            for i in 0..<(c.nRoutedExperts * c.hiddenSize) { model.parameters[slots.router + i] *= 20 }
            for i in 0..<c.nRoutedExperts { model.parameters[slots.routerBias + i] = rng.normal() * 0.05 }
            let n = 7
            let d = c.hiddenSize
            let x = Tensor([n, d], randomArray(n * d, rng: &rng))
            let out = Tensor([n, d])
            let r = randomArray(n * d, rng: &rng)
            let state = MoEState()
            let sequences = [0..<3, 3..<7]
            let loss = { () -> Double in
                MoE.forward(
                    shape, params: model.parameters.data, slots: slots, x: x.data, out: out.data, rows: n,
                    state: state, sequences: sequences)
                return probe(out.data, r) + Double(state.auxLoss)
            }
            _ = loss()
            if alpha > 0 { XCTAssertGreaterThan(state.auxLoss, 0) }
            XCTAssertEqual(state.load.reduce(0, +), n * c.numExpertsPerTok)
            let choices = {
                (0..<n).flatMap { t in
                    (0..<c.numExpertsPerTok).map { state.choice(token: t, k: $0, topK: c.numExpertsPerTok) }
                }
            }
            let reference = choices()
            model.zeroGradients()
            let dx = Tensor([n, d])
            MoE.backward(
                shape, params: model.parameters.data, grads: model.gradients.data, slots: slots, x: x.data,
                dout: r, dx: dx.data, state: state, scratch: MoEGradScratch())
            let gc = GradientCheck()
            let tag = "\(scoring) alpha=\(alpha) shared=\(shared)"
            gc.check(
                "dx \(tag)", x.data, analytic: dx.data, indices: Array(0..<(n * d)), loss: loss,
                stable: { choices() == reference })
            var names = [
                "mlp.gate.weight", "mlp.experts.0.gate_proj.weight", "mlp.experts.1.up_proj.weight",
                "mlp.experts.2.down_proj.weight", "mlp.experts.3.gate_proj.weight",
            ]
            if shared > 0 { names += ["mlp.shared_experts.up_proj.weight", "mlp.shared_experts.down_proj.weight"] }
            for name in names {
                let slot = layout.slot(named: "model.layers.0." + name)!
                let idx = sampleIndices(slot.count, 40, rng: &rng).map { $0 + slot.offset }
                gc.check(
                    "\(name) \(tag)", model.parameters.data, analytic: model.gradients.data, indices: idx, loss: loss,
                    stable: { choices() == reference })
            }
        }
    }
}
