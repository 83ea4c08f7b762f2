// The sampler against the definition: every recorded log-probability equals
// the one a full forward pass (no cache) computes for the same sequence, so
// the KV cache, the shared prompt prefill and the trainer agree.

import XCTest
import Foundation
import Kernels
import Policy
import Support

final class SamplerTests: XCTestCase {
    /// kvHeads > 0: grouped-query attention, four query heads of width 4 on that many key/value heads.
    /// latent: multi-head latent attention (ModelGradientTests.latent), with that query rank.
    /// streams > 1: hyper-connections (mHC) of that many streams.
    func toyModel(seed: UInt64 = 4, kvHeads: Int = 0, latent: Int?? = nil, streams: Int = 1) -> Transformer {
        var c = try! ModelConfig.named("toy")
        if let queryRank = latent { ModelGradientTests.latent(&c, queryRank: queryRank) }
        if streams > 1 { ModelGradientTests.hyper(&c, streams: streams) }
        if kvHeads > 0 {
            c.numAttentionHeads = 4
            c.headDim = 4
            c.numKeyValueHeads = kvHeads
        }
        let m = Transformer(config: c)
        m.initialize(seed: seed)
        // Larger weights than at initialisation: a peaked, input-dependent distribution.
        for slot in m.layout.slots where slot.kind == .matrix { for i in slot.range { m.parameters[i] *= 6 } }
        var rng = Xoshiro(seed: seed)
        ModelGradientTests.spreadHyperConnections(m, rng: &rng)
        return m
    }

    /// log softmax(logits / T) of each completion token, by a full forward over prompt + completion.
    static func recomputedLogprobs(
        _ m: Transformer, prompt: [Int32], completion: [Int32], temperature: Float
    ) -> [Float] {
        let seq = prompt + completion
        let logits = m.logits(tokens: seq, batch: 1, length: seq.count)
        let v = m.config.vocabSize
        var targets = [Int32](repeating: -1, count: seq.count)
        for (i, t) in completion.enumerated() { targets[prompt.count - 1 + i] = t }
        let logp = Tensor([seq.count])
        LogProbs.forward(logits, targets: targets, rows: seq.count, vocab: v, temperature: temperature, logp: logp.data)
        return (0..<completion.count).map { logp[prompt.count - 1 + $0] }
    }

    func testCachedDecodingMatchesFullRecompute() throws {
        try checkCachedDecoding(toyModel())
    }

    func testCachedDecodingWithGroupedQueryAttentionMatchesFullRecompute() throws {
        try checkCachedDecoding(toyModel(kvHeads: 2))
        try checkCachedDecoding(toyModel(kvHeads: 1))
    }

    /// MLA decodes from its cache of latents and RoPE keys through the same chains as the forward.
    func testCachedDecodingWithLatentAttentionMatchesFullRecompute() throws {
        try checkCachedDecoding(toyModel(latent: .some(nil)))
        try checkCachedDecoding(toyModel(latent: 6))
    }

    /// Under mHC the decode carries each token's streams through the same collapses and merges as the forward.
    func testCachedDecodingWithHyperConnectionsMatchesFullRecompute() throws {
        try checkCachedDecoding(toyModel(streams: 3))
        try checkCachedDecoding(toyModel(latent: 6, streams: 4))
    }

    func checkCachedDecoding(_ m: Transformer, file: StaticString = #filePath, line: UInt = #line) throws {
        let sampler = Sampler(model: m)
        let tok = ByteTokenizer(config: m.config)
        // A bigger generation first: the sampler reuses its cache, whose stale rows must not leak in.
        _ = try sampler.generate(
            prompts: ["a longer prompt than any below", "x", "y", "z"], completionsPerPrompt: 5,
            params: SamplingParams(temperature: 1, maxNewTokens: 30, seed: 9, ignoreEOS: true))
        let prompts = ["12+7=", "hello", "a"]
        let params = SamplingParams(temperature: 0.8, maxNewTokens: 20, seed: 1, ignoreEOS: true)
        let groups = try sampler.generate(prompts: prompts, completionsPerPrompt: 3, params: params)
        XCTAssertEqual(groups.count, 3, file: file, line: line)
        var worst: Float = 0
        for (p, group) in zip(prompts, groups) {
            XCTAssertEqual(group.count, 3, file: file, line: line)
            for c in group {
                XCTAssertEqual(c.tokens.count, 20, file: file, line: line)
                XCTAssertEqual(c.finishReason, .length, file: file, line: line)
                let ref = Self.recomputedLogprobs(
                    m, prompt: tok.encode(p, addBOS: true), completion: c.tokens, temperature: 0.8)
                for (a, b) in zip(c.logprobs, ref) { worst = max(worst, abs(a - b)) }
            }
            // Completions of one prompt differ (independent streams) but share the prompt's cache.
            XCTAssertNotEqual(group[0].tokens, group[1].tokens, file: file, line: line)
        }
        // Not merely close: the decode and the full forward round every product the same way.
        XCTAssertEqual(worst, 0, "sampler vs full-forward log-prob mismatch", file: file, line: line)
    }

    func testSeedReproducibleAndIndependentOfBatch() throws {
        let sampler = Sampler(model: toyModel())
        let params = SamplingParams(temperature: 1, topP: 0.9, topK: 50, maxNewTokens: 12, seed: 42, ignoreEOS: true)
        let a = try sampler.generate(prompts: ["x=1", "y=2"], completionsPerPrompt: 2, params: params)
        let b = try sampler.generate(prompts: ["x=1", "y=2"], completionsPerPrompt: 2, params: params)
        XCTAssertEqual(a, b)
        var other = params
        other.seed = 43
        XCTAssertNotEqual(try sampler.generate(prompts: ["x=1", "y=2"], completionsPerPrompt: 2, params: other), a)
        // The first prompt's stream is the same whatever follows it in the batch.
        let alone = try sampler.generate(prompts: ["x=1"], completionsPerPrompt: 2, params: params)
        XCTAssertEqual(alone[0].map(\.tokens), a[0].map(\.tokens))
    }

    func testGreedyIsArgmaxAndTopKOneIsGreedy() throws {
        let m = toyModel()
        let sampler = Sampler(model: m)
        let tok = ByteTokenizer(config: m.config)
        var greedy = SamplingParams.greedy
        greedy.maxNewTokens = 10
        greedy.ignoreEOS = true
        let g = try sampler.generate(prompts: ["abc"], completionsPerPrompt: 2, params: greedy)[0]
        XCTAssertEqual(g[0].tokens, g[1].tokens)
        // Argmax of the full forward, token by token.
        var seq = tok.encode("abc", addBOS: true)
        for t in g[0].tokens {
            let logits = m.logits(tokens: seq, batch: 1, length: seq.count)
            let row = (0..<m.config.vocabSize).map { logits[(seq.count - 1) * m.config.vocabSize + $0] }
            XCTAssertEqual(Int32(row.indices.max { row[$0] < row[$1] }!), t)
            seq.append(t)
        }
        let topK1 = SamplingParams(temperature: 1.5, topK: 1, maxNewTokens: 10, seed: 9, ignoreEOS: true)
        XCTAssertEqual(
            try sampler.generate(prompts: ["abc"], completionsPerPrompt: 1, params: topK1)[0][0].tokens, g[0].tokens)
        let tinyP = SamplingParams(temperature: 1.5, topP: 1e-6, maxNewTokens: 10, seed: 9, ignoreEOS: true)
        XCTAssertEqual(
            try sampler.generate(prompts: ["abc"], completionsPerPrompt: 1, params: tinyP)[0][0].tokens, g[0].tokens)
    }

    /// top-p after top-k acts on the k tokens renormalised (Hugging Face's warper order).
    func testTopPActsOnTheTopKRenormalisedDistribution() throws {
        let probs: [Float] = [0.4, 0.3, 0.2, 0.1]
        func kept(_ k: Int, _ p: Float) -> Int { Sampler.keptCount(vocab: 4, topK: k, topP: p) { probs[$0] } }
        XCTAssertEqual(kept(2, 0.5), 1, "0.4 / 0.7 = 0.57 reaches 0.5; over all four it would keep 2")
        XCTAssertEqual(kept(0, 0.5), 2)
        XCTAssertEqual(kept(3, 0.75), 2, "0.44, then 0.78")
        XCTAssertEqual(kept(3, 0.8), 3)
        XCTAssertEqual(kept(2, 1), 2)
        XCTAssertEqual(kept(0, 1), 4)
        // The top token of two always holds at least half of their mass: top-k 2 then top-p 0.5 is greedy.
        let m = Transformer(config: try ModelConfig.named("toy"))
        m.initialize(seed: 4)
        let sampler = Sampler(model: m)
        var greedy = SamplingParams.greedy
        greedy.maxNewTokens = 12
        greedy.ignoreEOS = true
        let g = try sampler.generate(prompts: ["abc"], completionsPerPrompt: 1, params: greedy)[0][0]
        let twoThenHalf = SamplingParams(temperature: 1, topP: 0.5, topK: 2, maxNewTokens: 12, seed: 3, ignoreEOS: true)
        let sampled = try sampler.generate(prompts: ["abc"], completionsPerPrompt: 4, params: twoThenHalf)[0]
        for c in sampled { XCTAssertEqual(c.tokens, g.tokens) }
        // Without top-k, top-p 0.5 of this flat distribution keeps many tokens: the completions differ.
        let nucleus = SamplingParams(temperature: 1, topP: 0.5, maxNewTokens: 12, seed: 3, ignoreEOS: true)
        let free = try sampler.generate(prompts: ["abc"], completionsPerPrompt: 4, params: nucleus)[0]
        XCTAssertTrue(free.contains { $0.tokens != g.tokens })
    }

    func testFinishReasons() throws {
        let m = toyModel()
        let sampler = Sampler(model: m)
        var greedy = SamplingParams.greedy
        greedy.maxNewTokens = 30
        greedy.ignoreEOS = true
        let free = try sampler.generate(prompts: ["q"], completionsPerPrompt: 1, params: greedy)[0][0]
        XCTAssertEqual(free.finishReason, .length)
        XCTAssertEqual(free.tokens.count, 30)
        // Stop string: the first ASCII byte produced; generation ends right after it, and it stays in the text.
        if let i = free.tokens.firstIndex(where: { $0 < 128 && $0 > 0 }) {
            var stopping = greedy
            stopping.stop = [String(UnicodeScalar(UInt8(free.tokens[i])))]
            let c = try sampler.generate(prompts: ["q"], completionsPerPrompt: 1, params: stopping)[0][0]
            XCTAssertEqual(c.finishReason, .stop)
            XCTAssertEqual(c.tokens, Array(free.tokens[...i]))
        } else {
            XCTFail("the toy model produced no ASCII byte in 30 tokens")
        }
        // eos: make the eos row of lm_head twice the row of the first greedy token, so eos wins.
        let lm = m.layout.slot(named: "lm_head.weight")!
        let d = m.config.hiddenSize
        let eos = m.config.eosTokenId
        for j in 0..<d {
            m.parameters[lm.offset + eos * d + j] = 2 * m.parameters[lm.offset + Int(free.tokens[0]) * d + j]
        }
        var stopAtEOS = greedy
        stopAtEOS.ignoreEOS = false
        let e = try sampler.generate(prompts: ["q"], completionsPerPrompt: 1, params: stopAtEOS)[0][0]
        XCTAssertEqual(e.finishReason, .eos)
        XCTAssertEqual(e.tokens, [Int32(eos)])
        XCTAssertEqual(e.text, "")
    }

    /// First-token frequencies over many draws (a fixed seed) match softmax(logits / T) of a full
    /// forward pass, over the whole vocabulary: Pearson's chi-square below its 1e-4 critical value,
    /// while the same counts reject the distributions of a sampler that ignored the temperature or
    /// was off by one token.
    func testSamplingDistribution() throws {
        let m = toyModel(seed: 8)
        let sampler = Sampler(model: m)
        let t: Float = 0.7
        let draws = 4000
        let v = m.config.vocabSize
        let params = SamplingParams(temperature: t, maxNewTokens: 1, seed: 3, ignoreEOS: true)
        let out = try sampler.generate(prompts: ["z"], completionsPerPrompt: draws, params: params)[0]
        var counts = [Int](repeating: 0, count: v)
        for c in out { counts[Int(c.tokens[0])] += 1 }
        let prompt = ByteTokenizer(config: m.config).encode("z", addBOS: true)
        let logits = m.logits(tokens: prompt, batch: 1, length: prompt.count)
        let last = (0..<v).map { Double(logits[(prompt.count - 1) * v + $0]) }
        func softmax(_ temperature: Double) -> [Double] {
            let top = last.max()!
            let e = last.map { Foundation.exp(($0 - top) / temperature) }
            let sum = e.reduce(0, +)
            return e.map { $0 / sum }
        }
        let expected = softmax(Double(t))
        let fit = Self.chiSquare(counts: counts, probabilities: expected)
        XCTAssertGreaterThanOrEqual(fit.bins, 10, "the test needs a spread distribution")
        XCTAssertLessThan(
            fit.statistic, fit.critical,
            "chi-square \(fit.statistic) with \(fit.bins - 1) degrees of freedom")
        // The test has power: the wrong distributions are rejected by the same counts.
        let untempered = Self.chiSquare(counts: counts, probabilities: softmax(1))
        XCTAssertGreaterThan(untempered.statistic, untempered.critical, "temperature ignored")
        let shifted = Self.chiSquare(counts: counts, probabilities: (0..<v).map { expected[($0 + 1) % v] })
        XCTAssertGreaterThan(shifted.statistic, shifted.critical, "off by one token")
        // Every completion's recorded log-probability is that of its token under the tempered distribution.
        for c in out {
            XCTAssertEqual(Double(c.logprobs[0]), Foundation.log(expected[Int(c.tokens[0])]), accuracy: 1e-4)
        }
    }

    /// Pearson's chi-square of `counts` against `probabilities`, tokens expected fewer than 5 times
    /// pooled into one bin, and its critical value at p = 1e-4 (Wilson-Hilferty).
    static func chiSquare(
        counts: [Int], probabilities: [Double]
    )
        -> (statistic: Double, critical: Double, bins: Int)
    {
        let n = Double(counts.reduce(0, +))
        var statistic = 0.0
        var bins = 0
        var pooledObserved = 0.0
        var pooledExpected = 0.0
        for (observed, p) in zip(counts, probabilities) {
            let e = n * p
            if e < 5 {
                pooledObserved += Double(observed)
                pooledExpected += e
                continue
            }
            statistic += (Double(observed) - e) * (Double(observed) - e) / e
            bins += 1
        }
        if pooledExpected > 0 {
            statistic += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected
            bins += 1
        }
        let df = Double(bins - 1)
        let z = 3.719  // the standard normal's 1 - 1e-4 quantile
        let critical = df * Foundation.pow(1 - 2 / (9 * df) + z * (2 / (9 * df)).squareRoot(), 3)
        return (statistic, critical, bins)
    }

    func testRejectsBadRequests() {
        let sampler = Sampler(model: toyModel())
        for (params, message) in [
            (SamplingParams(maxNewTokens: 1000), "max_position_embeddings"),
            (SamplingParams(topP: 0), "top_p"),
            (SamplingParams(stop: [""]), "stop strings"), (SamplingParams(topK: -1), "top_k"),
            (SamplingParams(temperature: -1), "temperature"),
        ] {
            XCTAssertThrowsError(
                try sampler.generate(prompts: ["a"], completionsPerPrompt: 1, params: params),
                message
            ) {
                guard case PolicyError.invalidArgument(let text)? = $0 as? PolicyError else { return XCTFail("\($0)") }
                XCTAssertTrue(text.contains(message), text)
            }
        }
    }
}
