// Batched sampling with the KV cache: G completions per prompt, the prompt
// prefilled once. Each completion draws from its own RNG stream (seed, prompt
// index, completion index), so a completion does not depend on what else is
// in the batch. The log-probability recorded for every sampled token is under
// the policy at the sampling temperature, softmax(logits / T), before top-k /
// top-p truncation: the same quantity the trainer recomputes for pi_old. The
// experts every fed token went through are recorded too: the trainer replays
// them, so that it scores a completion through the experts that produced it.
// With num_speculative_tokens the steps after the first are self-speculative
// (Speculation): the same distribution, log-probabilities and experts.

import Foundation
import Kernels
import Support

public struct SamplingParams: Codable, Equatable, Sendable {
    /// 0 means greedy decoding (log-probabilities then at temperature 1).
    public var temperature: Float = 1
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches top_p.
    public var topP: Float = 1
    /// Keep only the top_k most likely tokens (0 = all).
    public var topK = 0
    public var maxNewTokens = 64
    /// Generation stops after any of these strings (which stay in the text, as their tokens do).
    public var stop: [String] = []
    public var seed: UInt64 = 0
    /// Keep going after eos (benchmarks that need exact lengths).
    public var ignoreEOS = false
    /// Self-speculative sampling: the model's first multi-token prediction module drafts this
    /// many tokens a step and the model verifies them in one pass; what is sampled keeps exactly
    /// the distribution above (see Speculation). 0: one token a step.
    public var numSpeculativeTokens = 0

    public init(
        temperature: Float = 1, topP: Float = 1, topK: Int = 0, maxNewTokens: Int = 64,
        stop: [String] = [], seed: UInt64 = 0, ignoreEOS: Bool = false, numSpeculativeTokens: Int = 0
    ) {
        self.numSpeculativeTokens = numSpeculativeTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.maxNewTokens = maxNewTokens
        self.stop = stop
        self.seed = seed
        self.ignoreEOS = ignoreEOS
    }

    enum CodingKeys: String, CodingKey {
        case temperature, topP = "top_p", topK = "top_k", maxNewTokens = "max_new_tokens", stop, seed
        case ignoreEOS = "ignore_eos", numSpeculativeTokens = "num_speculative_tokens"
    }

    public static let greedy = SamplingParams(temperature: 0)
    public static let maxSpeculativeTokens = 16

    public func validate() throws {
        guard temperature >= 0, temperature.isFinite else {
            throw PolicyError.invalidArgument("temperature must be >= 0")
        }
        guard topP > 0, topP <= 1 else { throw PolicyError.invalidArgument("top_p must be in (0, 1]") }
        guard topK >= 0 else { throw PolicyError.invalidArgument("top_k must be >= 0") }
        guard maxNewTokens > 0 else { throw PolicyError.invalidArgument("max_new_tokens must be positive") }
        guard !stop.contains("") else { throw PolicyError.invalidArgument("stop strings must not be empty") }
        guard (0...Self.maxSpeculativeTokens).contains(numSpeculativeTokens) else {
            throw PolicyError.invalidArgument("num_speculative_tokens must be in 0...\(Self.maxSpeculativeTokens)")
        }
    }
}

public enum FinishReason: String, Codable, Sendable {
    case eos, stop, length
}

public struct Completion: Sendable, Equatable {
    /// Sampled token ids (including the eos if it ended the completion).
    public var tokens: [Int32]
    public var text: String
    public var finishReason: FinishReason
    /// log pi(token) for every sampled token, at the sampling temperature.
    public var logprobs: [Float]
    /// Routed experts [P + T - 1, L, K] of every token the model was fed: the prompt's P, then
    /// the completion's but its last (empty for a model without routed experts).
    public var routes: [Int32] = []

    public init(tokens: [Int32], text: String, finishReason: FinishReason, logprobs: [Float], routes: [Int32] = []) {
        self.tokens = tokens
        self.text = text
        self.finishReason = finishReason
        self.logprobs = logprobs
        self.routes = routes
    }
}

public final class Sampler: @unchecked Sendable {
    public let model: Transformer
    public let tokenizer: any Tokenizer
    private let prefillScratch = Activations()
    private let decodeScratch = DecodeScratch()
    /// Reused by every call (one generation at a time, like the scratch buffers).
    private lazy var cache = KVCache(config: model.config)
    private lazy var speculation = Speculation(sampler: self)
    /// Drafts made and kept in the last speculative generation (num_speculative_tokens > 0), and its
    /// verifying passes (one a sequence a step).
    public private(set) var lastSpeculation: (drafted: Int, accepted: Int, passes: Int)?

    public init(model: Transformer) {
        self.model = model
        tokenizer = model.tokenizer
    }

    /// Prompts as text: each becomes [bos] + its bytes.
    public func generate(
        prompts: [String], completionsPerPrompt g: Int, params: SamplingParams
    ) throws -> [[Completion]] {
        try generate(
            promptTokens: prompts.map { tokenizer.encode($0, addBOS: true) }, completionsPerPrompt: g, params: params)
    }

    /// Returns, for each prompt, its `g` completions.
    public func generate(
        promptTokens: [[Int32]], completionsPerPrompt g: Int, params: SamplingParams
    ) throws -> [[Completion]] {
        // The weights do not change during a generation: pack each once, not once per token.
        try PackedWeights.using(model.parameters.data, count: model.parameters.count) {
            try generateWithPackedWeights(promptTokens: promptTokens, completionsPerPrompt: g, params: params)
        }
    }

    private func generateWithPackedWeights(
        promptTokens: [[Int32]], completionsPerPrompt g: Int, params: SamplingParams
    ) throws -> [[Completion]] {
        try params.validate()
        let c = model.config
        let v = c.vocabSize
        for (i, p) in promptTokens.enumerated() {
            guard !p.isEmpty else { throw PolicyError.invalidArgument("prompt \(i) is empty") }
            guard p.count + params.maxNewTokens <= c.maxPositionEmbeddings else {
                throw PolicyError.invalidArgument(
                    "prompt \(i): \(p.count) tokens + max_new_tokens \(params.maxNewTokens) exceed "
                        + "max_position_embeddings \(c.maxPositionEmbeddings)"
                )
            }
            guard p.allSatisfy({ $0 >= 0 && Int($0) < v }) else {
                throw PolicyError.invalidArgument("prompt \(i): token id out of range")
            }
        }
        if params.numSpeculativeTokens > 0 {
            guard !model.layout.predictors.isEmpty else {
                throw PolicyError.invalidArgument(
                    "num_speculative_tokens needs a model with multi-token prediction modules "
                        + "(num_nextn_predict_layers), which drafts them")
            }
        }
        cache.reset()
        let run = Run(params: params, tokenizer: tokenizer, vocab: v)
        var active: [Int] = []
        let speculative = params.numSpeculativeTokens > 0 ? speculation : nil
        speculative?.reset()
        lastSpeculation = nil
        for (pi, prompt) in promptTokens.enumerated() {
            let logits = model.prefill(
                prompt, completions: g, maxNewTokens: params.maxNewTokens + params.numSpeculativeTokens, cache: cache,
                scratch: prefillScratch)
            speculative?.prefill(prompt, hidden: prefillScratch.hidden!, completions: g, params: params)
            let rows = (pi * g)..<(pi * g + g)
            for s in rows { run.add(stream: s) }
            // Every completion's first token comes from the same prompt logits.
            let repeated = Array((0..<g).map { _ in logits }.joined())
            let drawn = repeated.withUnsafeBufferPointer { run.drawAll(Array(rows), $0.baseAddress!) }
            for (i, s) in rows.enumerated() where run.accept(s, drawn[i].token, drawn[i].logp) {
                active.append(s)
                speculative?.start(
                    s, hidden: prefillScratch.hidden! + (prompt.count - 1) * c.hiddenSize, first: drawn[i].token)
            }
        }
        if let speculative {
            while !active.isEmpty {
                active = speculative.step(active, run: run, modelCache: cache, modelScratch: decodeScratch)
            }
            lastSpeculation = (speculative.drafted, speculative.accepted, speculative.passes)
        }
        while !active.isEmpty {
            let logits = model.decodeStep(
                tokens: active.map { run.next[$0] }, sequences: active, cache: cache, scratch: decodeScratch)
            let drawn = run.drawAll(active, logits)
            active = active.enumerated()
                .filter { run.accept($0.element, drawn[$0.offset].token, drawn[$0.offset].logp) }
                .map(\.element)
        }
        return (0..<promptTokens.count).map { p in
            ((p * g)..<(p * g + g)).map { s in
                var completion = run.out[s]
                completion.text = tokenizer.decode(completion.tokens)
                completion.routes = cache.routes(of: s)
                return completion
            }
        }
    }

    /// The completions being written: their tokens, log-probabilities, text so far and random
    /// streams, and the rules that end them.
    final class Run {
        let params: SamplingParams, tokenizer: any Tokenizer, vocab: Int
        let stops: [[UInt8]]
        var out: [Completion] = [], rngs: [Xoshiro] = [], bytes: [[UInt8]] = []
        /// The last token of each completion, which the model has not been fed yet.
        var next: [Int32] = []

        init(params: SamplingParams, tokenizer: any Tokenizer, vocab: Int) {
            self.params = params
            self.tokenizer = tokenizer
            self.vocab = vocab
            stops = params.stop.map { Array($0.utf8) }
        }

        /// A new completion, drawing from the random stream `stream` of the seed.
        func add(stream: Int) {
            rngs.append(Xoshiro(seed: params.seed, stream: UInt64(stream)))
            out.append(Completion(tokens: [], text: "", finishReason: .length, logprobs: []))
            bytes.append([])
            next.append(0)
        }

        /// Appends the token drawn for sequence s; returns whether it continues.
        func accept(_ s: Int, _ token: Int32, _ logp: Float) -> Bool {
            out[s].tokens.append(token)
            out[s].logprobs.append(logp)
            if token == tokenizer.eos && !params.ignoreEOS {
                out[s].finishReason = .eos
                return false
            }
            let added = tokenizer.bytes(of: token)
            if !added.isEmpty {
                bytes[s] += added
                // A token of several bytes may hold a stop string's end anywhere, not only at its own end.
                if stops.contains(where: { stop in
                    let tail = bytes[s].suffix(stop.count + added.count - 1)
                    return tail.count >= stop.count
                        && (0...(tail.count - stop.count)).contains { i in
                            tail.dropFirst(i).prefix(stop.count).elementsEqual(stop)
                        }
                }) {
                    out[s].finishReason = .stop
                    return false
                }
            }
            if out[s].tokens.count >= params.maxNewTokens {
                out[s].finishReason = .length
                return false
            }
            next[s] = token
            return true
        }

        /// Draws the next token of sequence rows[i] from row i of `logits`.
        func drawAll(_ rows: [Int], _ logits: UnsafePointer<Float>) -> [(token: Int32, logp: Float)] {
            let (v, params) = (vocab, params)
            return eachSequence(rows, empty: (token: 0, logp: 0)) { i, scratch, rng in
                Sampler.draw(logits + i * v, vocab: v, params: params, rng: &rng, scratch: scratch)
            }
        }

        /// body(i, scratch, &rng) for every i in 0..<seqs.count, rng sequence seqs[i]'s random stream,
        /// in parallel (each sequence has its own stream, so the split does not matter), each thread
        /// with its own scratch.
        func eachSequence<T>(
            _ seqs: [Int], minPerThread: Int = 8, empty: T, _ body: (Int, RowScratch, inout Xoshiro) -> T
        ) -> [T] {
            let v = vocab
            var result = [T](repeating: empty, count: seqs.count)
            result.withUnsafeMutableBufferPointer { result in
                rngs.withUnsafeMutableBufferPointer { rngs in
                    Parallel.forRanges(seqs.count, minPerThread: minPerThread) { range in
                        let scratch = RowScratch(vocab: v)
                        defer { scratch.deallocate() }
                        for i in range { result[i] = body(i, scratch, &rngs[seqs[i]]) }
                    }
                }
            }
            return result
        }
    }

    /// How many of the most likely tokens sampling keeps, as Hugging Face's warpers chain them:
    /// top-k first, then top-p over the distribution renormalised to those k (the smallest
    /// prefix whose renormalised mass reaches top_p). `probability(i)`: the i-th largest
    /// probability, unnormalised.
    public static func keptCount(vocab v: Int, topK: Int, topP: Float, probability: (Int) -> Float) -> Int {
        let count = topK > 0 ? min(v, topK) : v
        guard topP < 1 else { return count }
        var mass: Float = 0
        for i in 0..<count { mass += probability(i) }
        var cumulative: Float = 0
        for i in 0..<count {
            cumulative += probability(i) / mass
            if cumulative >= topP { return i + 1 }
        }
        return count
    }

    /// Per-thread room for one row's distribution: unnormalised probabilities and the kept tokens,
    /// and a dense distribution [V] (Speculation's).
    struct RowScratch {
        let probs: UnsafeMutablePointer<Float>, order: UnsafeMutablePointer<Int32>, dense: UnsafeMutablePointer<Float>
        init(vocab v: Int) {
            probs = .allocate(capacity: v)
            order = .allocate(capacity: v)
            dense = .allocate(capacity: v)
        }
        func deallocate() {
            probs.deallocate()
            order.deallocate()
            dense.deallocate()
        }
    }

    /// The distribution sampling draws from for a row of logits, in `scratch`: probs[j] =
    /// exp((l_j - max) / T), and order[0..<count] the tokens top-k then top-p keep (in descending
    /// probability when they cut), whose probs sum to `kept`. Greedy keeps the argmax alone.
    struct RowDistribution {
        let count: Int, kept: Float
        let argmax: Int
        let logits: UnsafePointer<Float>, invT: Float, mx: Float, logSum: Float
        /// log softmax(logits / T) at token j: what the sampler records, before any cut.
        func logp(_ j: Int) -> Float { logits[j] * invT - mx * invT - logSum }
    }

    static func distribution(
        _ logits: UnsafePointer<Float>, vocab v: Int, params: SamplingParams, scratch: RowScratch
    ) -> RowDistribution {
        let (probs, order) = (scratch.probs, scratch.order)
        let greedy = params.temperature == 0
        let invT = greedy ? 1 : 1 / params.temperature
        var mx = -Float.infinity
        var argmax = 0
        for j in 0..<v where logits[j] > mx {
            mx = logits[j]
            argmax = j
        }
        probs.update(from: logits, count: v)
        let sum = Vector.expShifted(probs, v, scale: invT, shift: mx * invT)
        let logSum = logf(sum)
        if greedy {
            order[0] = Int32(argmax)
            return RowDistribution(
                count: 1, kept: probs[argmax], argmax: argmax, logits: logits, invT: invT, mx: mx, logSum: logSum)
        }
        // Candidates in descending probability, cut by top-k then top-p.
        var count = v
        for j in 0..<v { order[j] = Int32(j) }
        if params.topK > 0 || params.topP < 1 {
            var buffer = UnsafeMutableBufferPointer(start: order, count: v)
            buffer.sort { probs[Int($0)] > probs[Int($1)] }
            count = keptCount(vocab: v, topK: params.topK, topP: params.topP) { probs[Int(order[$0])] }
        }
        var kept: Float = 0
        for i in 0..<count { kept += probs[Int(order[i])] }
        return RowDistribution(
            count: count, kept: kept, argmax: argmax, logits: logits, invT: invT, mx: mx, logSum: logSum)
    }

    /// A token drawn from `d` (made in `scratch`; not greedy, which takes the argmax without a draw).
    static func draw(_ d: RowDistribution, scratch: RowScratch, rng: inout Xoshiro) -> Int {
        let (probs, order) = (scratch.probs, scratch.order)
        var u = rng.uniform() * d.kept
        for i in 0..<d.count {
            let j = Int(order[i])
            u -= probs[j]
            if u < 0 { return j }
        }
        return Int(order[d.count - 1])  // rounding left u just above zero
    }

    /// One token from a row of logits, and its log-probability at the sampling temperature.
    static func draw(
        _ logits: UnsafePointer<Float>, vocab v: Int, params: SamplingParams, rng: inout Xoshiro, scratch: RowScratch
    ) -> (Int32, Float) {
        let d = distribution(logits, vocab: v, params: params, scratch: scratch)
        let j = params.temperature == 0 ? d.argmax : draw(d, scratch: scratch, rng: &rng)
        return (Int32(j), d.logp(j))
    }
}
