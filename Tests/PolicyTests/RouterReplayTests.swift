// Router replay: a forward told which experts each token goes through uses
// exactly those, with gates from its own scores (checked by hand, against a
// selection bias that forces the same choice, and against finite
// differences); the sampler records the experts a full forward chooses.

import XCTest
import Kernels
import Policy
import Support

final class RouterReplayTests: XCTestCase {
    var rng = Xoshiro(seed: 23)

    func toyConfig() -> ModelConfig {
        var c = try! ModelConfig.named("toy")
        c.routedScalingFactor = 1.5
        return c
    }

    func toyModel(_ c: ModelConfig, seed: UInt64 = 4) -> Transformer {
        let m = Transformer(config: c)
        m.initialize(seed: seed)
        for slot in m.layout.slots where slot.kind == .matrix { for i in slot.range { m.parameters[i] *= 6 } }
        return m
    }

    /// Logits [2, 1, 0, -1]: the router's own choice is {0, 1}. A replayed {3, 2} is used as given,
    /// its gates from the unbiased scores of 3 and 2, and marked as a flip; a replayed {1, 0} is the
    /// same set (no flip); a row starting with -1 chooses for itself.
    func testReplayedChoiceTakesItsGatesFromTheScores() {
        var c = toyConfig()
        c.nRoutedExperts = 4
        let cfg = RouterConfig(c)
        let k = cfg.topK
        XCTAssertEqual(k, 2)
        let logits: [Float] = [2, 1, 0, -1]
        let s = logits.map { 1 / (1 + expf(-$0)) }
        let scores = Tensor([3, 4], logits + logits + logits)
        let chosen = Buffer<Int32>(3 * k)
        let gates = Tensor([3, k])
        let flipped = Buffer<Int32>(3)
        let replay: [Int32] = [3, 2, 1, 0, -1, -1]
        Router.forward(
            cfg, scores: scores.data, bias: [0, 0, 0, 0], chosen: chosen.pointer, gates: gates.data, rows: 3,
            replay: replay, flipped: flipped.pointer)
        XCTAssertEqual((0..<6).map { chosen[$0] }, [3, 2, 1, 0, 0, 1])
        XCTAssertEqual(gates[0], s[3] / (s[3] + s[2]) * 1.5, accuracy: 1e-6)
        XCTAssertEqual(gates[1], s[2] / (s[3] + s[2]) * 1.5, accuracy: 1e-6)
        XCTAssertEqual(gates[2], s[1] / (s[0] + s[1]) * 1.5, accuracy: 1e-6)
        XCTAssertEqual(gates[4], s[0] / (s[0] + s[1]) * 1.5, accuracy: 1e-6)
        XCTAssertEqual((0..<3).map { flipped[$0] }, [1, 0, 0])
    }

    /// Replaying one expert pair for every token of every layer is the forward of a model whose
    /// selection bias forces that pair (the bias only chooses); the flips are the (token, layer)
    /// choices a plain forward made otherwise.
    func testReplayEqualsAForcingBias() {
        let c = toyConfig()
        let k = c.numExpertsPerTok
        let model = toyModel(c)
        let b = 2
        let t = 7
        let n = b * t
        let tokens = (0..<n).map { _ in Int32(rng.next() % 60) + 40 }
        let plain = Activations()
        model.forward(tokens: tokens, batch: b, length: t, into: plain)
        var expectedFlips = 0
        for l in 0..<c.numHiddenLayers {
            for row in 0..<n
            where Set((0..<k).map { plain.moeState(layer: l).choice(token: row, k: $0, topK: k) }) != [1, 3] {
                expectedFlips += 1
            }
        }
        XCTAssertGreaterThan(expectedFlips, 0)

        let routes = (0..<c.numHiddenLayers).map { _ in (0..<n).flatMap { _ in [Int32(3), Int32(1)] } }
        let replayed = Activations()
        let logits = routes[0].withUnsafeBufferPointer { r0 in
            routes[1].withUnsafeBufferPointer { r1 in
                Array(
                    UnsafeBufferPointer(
                        start: model.forward(
                            tokens: tokens, batch: b, length: t, into: replayed,
                            routes: [r0.baseAddress!, r1.baseAddress!]),
                        count: n * c.vocabSize))
            }
        }
        XCTAssertEqual(c.numHiddenLayers, 2)
        XCTAssertEqual(replayed.routingFlips, expectedFlips)

        let forced = model.copy()
        for l in forced.layout.layers {
            forced.parameters[l.routerBias + 1] = 100
            forced.parameters[l.routerBias + 3] = 100
        }
        let reference = forced.logits(tokens: tokens, batch: b, length: t)
        var worst: Float = 0
        for (x, y) in zip(logits, reference) { worst = max(worst, abs(x - y)) }
        XCTAssertLessThan(worst, 1e-4, "replayed vs bias-forced logits")
    }

    /// With the choice replayed, the MoE layer's gradients (input, router, experts) match finite
    /// differences with no probe skipped: the choice cannot flip.
    func testReplayedMoEGradients() {
        let c = toyConfig()
        let k = c.numExpertsPerTok
        let e = c.nRoutedExperts
        let model = Transformer(config: c)
        model.initialize(seed: 3)
        let slots = model.layout.layers[0]
        let shape = MoEShape(c)
        let n = 6
        let d = c.hiddenSize
        let x = Tensor([n, d], randomArray(n * d, rng: &rng))
        let out = Tensor([n, d])
        let r = randomArray(n * d, rng: &rng)
        // Distinct experts per token, mostly not the router's own choice; the last row chooses itself.
        var replay = (0..<n).flatMap { t in [Int32((t * 3) % e), Int32((t * 3 + 5) % e)] }
        replay[(n - 1) * k] = -1
        let state = MoEState()
        let loss = { () -> Double in
            MoE.forward(
                shape, params: model.parameters.data, slots: slots, x: x.data, out: out.data, rows: n,
                state: state, replay: replay)
            return probe(out.data, r)
        }
        _ = loss()
        XCTAssertGreaterThan(state.flips, 0)
        for t in 0..<(n - 1) {
            XCTAssertEqual(state.choice(token: t, k: 0, topK: k), Int(replay[t * k]))
            XCTAssertEqual(state.choice(token: t, k: 1, topK: k), Int(replay[t * k + 1]))
        }
        model.zeroGradients()
        let dx = Tensor([n, d])
        MoE.backward(
            shape, params: model.parameters.data, grads: model.gradients.data, slots: slots, x: x.data,
            dout: r, dx: dx.data, state: state, scratch: MoEGradScratch())
        let gc = GradientCheck()
        gc.check("dx replayed", x.data, analytic: dx.data, indices: Array(0..<(n * d)), loss: loss, stable: { true })
        for name in ["mlp.gate.weight", "mlp.experts.0.gate_proj.weight", "mlp.experts.\(e - 1).down_proj.weight"] {
            let slot = model.layout.slot(named: "model.layers.0." + name)!
            let idx = sampleIndices(slot.count, 40, rng: &rng).map { $0 + slot.offset }
            gc.check(
                "\(name) replayed", model.parameters.data, analytic: model.gradients.data, indices: idx,
                loss: loss, stable: { true })
        }
    }

    /// Every completion carries the experts each fed token went through, [P + T - 1, L, K], the
    /// same a full forward over the sequence chooses; replaying them changes nothing then.
    func testSamplerRecordsTheRoutesOfAFullForward() throws {
        let c = toyConfig()
        let k = c.numExpertsPerTok
        let layers = c.numHiddenLayers
        let model = toyModel(c)
        let sampler = Sampler(model: model)
        let tokenizer = ByteTokenizer(config: c)
        let prompts = ["12+7=", "hello there"]
        let groups = try sampler.generate(
            prompts: prompts, completionsPerPrompt: 3,
            params: SamplingParams(temperature: 1, maxNewTokens: 9, seed: 5))
        for (prompt, group) in zip(prompts, groups) {
            for completion in group {
                let sequence = tokenizer.encode(prompt, addBOS: true) + completion.tokens
                let fed = sequence.count - 1
                XCTAssertEqual(completion.routes.count, fed * layers * k)
                let acts = Activations()
                model.forward(tokens: sequence, batch: 1, length: sequence.count, into: acts)
                for l in 0..<layers {
                    for p in 0..<fed {
                        let full = (0..<k).map { Int32(acts.moeState(layer: l).choice(token: p, k: $0, topK: k)) }
                        let recorded = Array(completion.routes[((p * layers + l) * k)..<((p * layers + l) * k + k)])
                        XCTAssertEqual(recorded, full, "layer \(l) position \(p)")
                    }
                }
            }
        }
    }
}
