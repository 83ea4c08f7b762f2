// Self-speculative sampling against the definition: greedy gives plain greedy's completions
// (tokens, log-probabilities, experts, finish reasons); sampling records the model's own
// log-probabilities, bit for bit those of a full forward; and the tokens it draws follow the
// model's sampling distribution exactly (a chi-square test of the joint distribution of the first
// three tokens, two of them drafted, against the probabilities a full forward gives).

import Foundation
import Kernels
import Policy
import Support
import XCTest

final class SpeculationTests: XCTestCase {
    /// The toy shape with one prediction module (and MLA when asked), weights grown as in
    /// SamplerTests so that the distributions are peaked and depend on the input.
    func model(seed: UInt64 = 4, latent: Bool = false) -> Transformer {
        var c = try! ModelConfig.named("toy")
        c.numNextnPredictLayers = 1
        if latent { ModelGradientTests.latent(&c, queryRank: nil) }
        let m = Transformer(config: c)
        m.initialize(seed: seed)
        for slot in m.layout.slots where slot.kind == .matrix { for i in slot.range { m.parameters[i] *= 6 } }
        return m
    }

    func testGreedyGivesPlainGreedysCompletions() throws {
        for latent in [false, true] {
            let m = model(latent: latent)
            let sampler = Sampler(model: m)
            // "" is bos alone: the module's prefix is empty.
            let prompts = ["12+7=", "a", "", "hello there"]
            var params = SamplingParams(temperature: 0, maxNewTokens: 24, stop: ["q"])
            let plain = try sampler.generate(prompts: prompts, completionsPerPrompt: 2, params: params)
            for k in [1, 3] {
                params.numSpeculativeTokens = k
                let fast = try sampler.generate(prompts: prompts, completionsPerPrompt: 2, params: params)
                XCTAssertEqual(fast, plain, "greedy, \(k) drafts, latent \(latent)")
                let stats = try XCTUnwrap(sampler.lastSpeculation)
                XCTAssertGreaterThan(stats.drafted, 0)
            }
        }
    }

    func testRecordedLogprobsAreTheModels() throws {
        let m = model(seed: 5)
        let sampler = Sampler(model: m)
        let tok = ByteTokenizer(config: m.config)
        let prompts = ["12+7=", "hello"]
        let params = SamplingParams(
            temperature: 0.8, maxNewTokens: 20, seed: 1, ignoreEOS: true, numSpeculativeTokens: 3)
        let groups = try sampler.generate(prompts: prompts, completionsPerPrompt: 3, params: params)
        let stats = try XCTUnwrap(sampler.lastSpeculation)
        XCTAssertGreaterThan(stats.accepted, 0, "some drafts kept")
        XCTAssertLessThan(stats.accepted, stats.drafted, "some drafts refused")
        var worst: Float = 0
        for (p, group) in zip(prompts, groups) {
            for c in group {
                XCTAssertEqual(c.tokens.count, 20)
                // Experts [P + 19, L, K] of every token fed.
                XCTAssertEqual(c.routes.count, (tok.encode(p, addBOS: true).count + 19) * 2 * 2)
                let ref = SamplerTests.recomputedLogprobs(
                    m, prompt: tok.encode(p, addBOS: true), completion: c.tokens, temperature: 0.8)
                for (a, b) in zip(c.logprobs, ref) { worst = max(worst, abs(a - b)) }
            }
        }
        XCTAssertEqual(worst, 0, "speculative sampler vs full-forward log-prob mismatch")
        // The same seed gives the same completions, and a sequence's do not depend on the batch.
        XCTAssertEqual(try sampler.generate(prompts: prompts, completionsPerPrompt: 3, params: params), groups)
        let alone = try sampler.generate(prompts: ["12+7="], completionsPerPrompt: 3, params: params)
        XCTAssertEqual(alone[0], groups[0])
    }

    /// The toy shape with one prediction module, trained (the model and the module) on a Markov
    /// chain over four tokens: token s is followed by s + 1, s + 2 or s + 3 (mod 4) with
    /// probabilities 0.6, 0.3 and 0.1. Given the next token, the module's target is one step of
    /// the chain, so its drafts are mostly kept and sometimes refused (a random module's are almost
    /// never kept), and sampling spreads over few tokens.
    static func markovModel() -> Transformer {
        var c = try! ModelConfig.named("toy")
        c.numNextnPredictLayers = 1
        let m = Transformer(config: c)
        m.initialize(seed: 3)
        var optimizer = OptimizerConfig()
        optimizer.learningRate = 1e-2
        let adam = AdamW(layout: m.layout, config: optimizer)
        var rng = Xoshiro(seed: 2)
        let (b, t, v) = (16, 16, c.vocabSize)
        let acts = Activations()
        let dlogits = Tensor([b * t, v]), dpredicted = Tensor([b * t, v])
        for _ in 0..<200 {
            var tokens: [Int32] = []
            for _ in 0..<b {
                var s = Int32(rng.next() % 4)
                for _ in 0..<t {
                    tokens.append(60 + s)
                    let u = rng.uniform()
                    s = (s + (u < 0.6 ? 1 : u < 0.9 ? 2 : 3)) % 4
                }
            }
            let targets = (0..<(b * t)).map { r in r % t + 1 < t ? tokens[r + 1] : -1 }
            let shifted = (0..<(b * t)).map { r in r % t + 2 < t ? tokens[r + 2] : -1 }
            let logits = m.forward(tokens: tokens, batch: b, length: t, into: acts)
            let scale = [Float](repeating: -1 / Float(b * t), count: b * t)
            LogProbs.backward(logits, targets: targets, dlogp: scale, rows: b * t, vocab: v, dlogits: dlogits.data)
            let predicted = m.predict(into: acts)[0]
            LogProbs.backward(
                predicted, targets: shifted, dlogp: scale, rows: b * t, vocab: v, dlogits: dpredicted.data)
            m.zeroGradients()
            m.backward(dlogits: dlogits.data, predicted: [UnsafePointer(dpredicted.data)], from: acts)
            adam.update(params: m.parameters.data, grads: m.gradients.data, lr: optimizer.learningRate)
        }
        return m
    }

    /// The first three tokens of 4,000 completions of four: the first drawn from the prompt's
    /// logits, the next two through drafts (the second chained on the first), kept or refused. Their
    /// joint frequencies against the model's probabilities (from full forwards), under temperature
    /// alone, top-k and top-p.
    func testTokensFollowTheModelsDistribution() throws {
        let m = Self.markovModel()
        let v = m.config.vocabSize
        let prompt: [Int32] = [Int32(m.config.bosTokenId), 60, 61, 63, 60]
        for (temperature, topK, topP) in [(Float(1), 0, Float(1)), (1.5, 3, 1), (1.2, 0, 0.9)] {
            let params = SamplingParams(
                temperature: temperature, topP: topP, topK: topK, maxNewTokens: 4, seed: 11, ignoreEOS: true,
                numSpeculativeTokens: 2)
            let sampler = Sampler(model: m)
            let out = try sampler.generate(promptTokens: [prompt], completionsPerPrompt: 4000, params: params)[0]
            let stats = try XCTUnwrap(sampler.lastSpeculation)
            let label = "T \(temperature), top-k \(topK), top-p \(topP)"
            XCTAssertGreaterThan(stats.accepted, stats.drafted / 10, "drafts kept, \(label)")
            XCTAssertGreaterThanOrEqual(stats.drafted - stats.accepted, 100, "drafts refused, \(label)")

            // The sampling distribution after a sequence, from a full forward: token -> probability,
            // for the tokens holding nearly all of it.
            func distribution(_ seq: [Int32]) -> [Int: Double] {
                let logits = m.logits(tokens: seq, batch: 1, length: seq.count)
                let row = (0..<v).map { Double(logits[(seq.count - 1) * v + $0]) / Double(temperature) }
                let top = row.max()!
                let e = row.map { Foundation.exp($0 - top) }
                let order = (0..<v).sorted { e[$0] > e[$1] }
                let kept = Sampler.keptCount(vocab: v, topK: topK, topP: topP) { Float(e[order[$0]]) }
                let mass = order.prefix(kept).reduce(0) { $0 + e[$1] }
                return Dictionary(uniqueKeysWithValues: order.prefix(min(kept, 12)).map { ($0, e[$0] / mass) })
            }
            var expected: [[Int32]: Double] = [:]
            for (a, pa) in distribution(prompt) {
                for (b, pb) in distribution(prompt + [Int32(a)]) {
                    for (c, pc) in distribution(prompt + [Int32(a), Int32(b)]) {
                        expected[[Int32(a), Int32(b), Int32(c)]] = pa * pb * pc
                    }
                }
            }
            var observed: [[Int32]: Int] = [:]
            for c in out { observed[Array(c.tokens.prefix(3)), default: 0] += 1 }
            // What the 12 likeliest tokens of a position leave out, pooled into one bin.
            let keys = Array(expected.keys)
            let counts = keys.map { observed[$0] ?? 0 } + [out.count - keys.reduce(0) { $0 + (observed[$1] ?? 0) }]
            let probabilities = keys.map { expected[$0]! } + [max(0, 1 - expected.values.reduce(0, +))]
            let fit = SamplerTests.chiSquare(counts: counts, probabilities: probabilities)
            XCTAssertGreaterThanOrEqual(fit.bins, 8, "the test needs a spread distribution, \(label)")
            XCTAssertLessThan(fit.statistic, fit.critical, "chi-square \(fit.statistic), \(fit.bins - 1) dof, \(label)")
            // The same counts reject the distribution with the drafted tokens' probabilities swapped.
            let swapped = keys.map { k in expected[[k[0], k[2], k[1]]] ?? 0 }
            let norm = swapped.reduce(0, +) / (1 - probabilities.last!)
            let wrong = SamplerTests.chiSquare(
                counts: counts, probabilities: swapped.map { $0 / norm } + [probabilities.last!])
            XCTAssertGreaterThan(wrong.statistic, wrong.critical, "second and third tokens swapped, \(label)")
        }
    }

    func testNeedsPredictionModules() {
        var c = try! ModelConfig.named("toy")
        c.numNextnPredictLayers = nil
        let m = Transformer(config: c)
        m.initialize(seed: 1)
        let params = SamplingParams(maxNewTokens: 4, numSpeculativeTokens: 2)
        XCTAssertThrowsError(try Sampler(model: m).generate(prompts: ["a"], completionsPerPrompt: 1, params: params)) {
            guard case PolicyError.invalidArgument(let text)? = $0 as? PolicyError else { return XCTFail("\($0)") }
            XCTAssertTrue(text.contains("num_nextn_predict_layers"), text)
        }
        let tooMany = SamplingParams(maxNewTokens: 4, numSpeculativeTokens: SamplingParams.maxSpeculativeTokens + 1)
        XCTAssertThrowsError(
            try Sampler(model: model()).generate(prompts: ["a"], completionsPerPrompt: 1, params: tooMany))
    }
}
