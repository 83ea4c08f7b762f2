// Self-speculative sampling: the model's first multi-token prediction module drafts k tokens, the
// model scores them all in one decode step, and the standard rule (Leviathan et al. 2023, Chen et
// al. 2023) keeps a prefix, so that every token is exactly a draw from the model's own sampling
// distribution p (temperature, top-k, top-p), whatever the drafts:
//   draft d_j ~ q_j;  keep it with probability min(1, p_j(d_j) / q_j(d_j));
//   at the first refusal draw from norm(max(0, p_j - q_j)) and stop; if all k are kept, draw
//   one more token from p_(k+1).
// A step makes 1 to k + 1 tokens for the price of one model pass over k + 1 rows and k module
// passes. It pays when a pass costs about the same for 1 or k + 1 rows (few sequences), not when
// the batch already keeps the machine busy. Greedy keeps a draft when it is the model's argmax,
// which gives exactly the tokens of plain greedy decoding. The recorded log-probability of every
// token is the model's, from the verifying pass: the same rows, bit for bit, as plain decoding.
//
// The module reads the model's hidden state of position i and the token at i + 1; it keeps its own
// one-layer KV cache, one position behind the model's. After a step, the module first catches up
// on the positions the model verified (hidden states kept from the verifying pass), the last of
// which drafts d_1; d_2... chain the module on its own hidden state, and those positions of its
// cache are taken back after drafting.
// Legend: R rows, D width, V vocabulary, k drafts a step.

import Kernels

final class Speculation {
    let model: Transformer
    let cache: KVCache
    private let prefillScratch = Activations(), scratch = DecodeScratch()
    /// Each draft's distribution q, [V] per draft.
    private let draftDistributions = FloatBuffer()
    /// Per sequence: the positions the model has verified and the module has not yet read: the
    /// model's hidden states there [n, D] and the token after each [n].
    private var pendingHidden: [[Float]] = [], pendingTokens: [[Int32]] = []
    /// Drafts made and kept by the last generation, and its verifying passes (one a sequence a step).
    private(set) var drafted = 0, accepted = 0, passes = 0

    init(sampler: Sampler) {
        model = sampler.model
        cache = KVCache(config: model.config, layers: 1)
    }

    /// Before a generation's first prompt.
    func reset() {
        cache.reset()
        pendingHidden.removeAll()
        pendingTokens.removeAll()
        drafted = 0
        accepted = 0
        passes = 0
    }

    /// The module's prefix for a prompt of P tokens, from the model's hidden states [P, D] over
    /// it: positions 0..<P-1 (the last one waits for each completion's first token).
    func prefill(_ prompt: [Int32], hidden: UnsafePointer<Float>, completions: Int, params: SamplingParams) {
        let p = prompt.count - 1
        let (group, prefix) = cache.addPrefix(rows: p)
        if p > 0 {
            model.draftPrefill(Array(prompt.dropFirst()), hidden: hidden, into: prefix, scratch: prefillScratch)
        }
        prefix.count = p
        for _ in 0..<completions {
            cache.addSequence(group: group, rows: params.maxNewTokens + params.numSpeculativeTokens + 1)
            pendingHidden.append([])
            pendingTokens.append([])
        }
    }

    /// Sequence s has drawn its first token; `hidden` [D] is its prompt's last position's.
    func start(_ s: Int, hidden: UnsafePointer<Float>, first: Int32) {
        pendingHidden[s] = Array(UnsafeBufferPointer(start: hidden, count: model.config.hiddenSize))
        pendingTokens[s] = [first]
    }

    /// One speculative step of the `active` sequences; returns those that go on.
    func step(_ active: [Int], run: Sampler.Run, modelCache: KVCache, modelScratch: DecodeScratch) -> [Int] {
        let params = run.params
        let (d, v) = (model.config.hiddenSize, model.config.vocabSize)
        // Drafts per sequence: none past its last token.
        let budget = active.map { min(params.numSpeculativeTokens, params.maxNewTokens - run.out[$0].tokens.count - 1) }
        let most = budget.max() ?? 0
        // The drafts, and each draft's distribution q (dense, [V]) for the acceptance rule.
        var drafts = active.map { _ in [Int32]() }
        let qs = draftDistributions.reserve(max(1, active.count * most * v))

        // The module catches up, then chains: the last row of each drafting sequence draws its next draft.
        let drafting = active.indices.filter { budget[$0] > 0 }
        let caughtUp = active.map { cache.own[$0].count + pendingTokens[$0].count }  // indexed like active
        var rows: [Int] = [], tokens: [Int32] = [], hidden: [Float] = []
        var lastRow: [Int: Int] = [:]
        for i in drafting {
            let s = active[i]
            rows += Array(repeating: s, count: pendingTokens[s].count)
            tokens += pendingTokens[s]
            hidden += pendingHidden[s]
            lastRow[i] = rows.count - 1
        }
        for j in 0..<most {
            let logits = hidden.withUnsafeBufferPointer { h in
                model.draftStep(tokens: tokens, hidden: h.baseAddress!, sequences: rows, cache: cache, scratch: scratch)
            }
            let ids = drafting.filter { budget[$0] > j }
            let drawn = run.drawDrafts(
                ids.map { active[$0] }, logits: ids.map { UnsafePointer(logits + lastRow[$0]! * v) },
                into: ids.map { qs + ($0 * most + j) * v })
            for (n, i) in ids.enumerated() { drafts[i].append(drawn[n]) }
            // The next link: the module's own hidden state and the new draft.
            let next = ids.filter { budget[$0] > j + 1 }
            hidden = next.flatMap { UnsafeBufferPointer(start: scratch.x.pointer + lastRow[$0]! * d, count: d) }
            rows = next.map { active[$0] }
            tokens = next.map { drafts[$0].last! }
            lastRow = Dictionary(uniqueKeysWithValues: next.enumerated().map { ($1, $0) })
        }
        for i in drafting { cache.truncate(active[i], to: caughtUp[i]) }

        // The model verifies [next, d_1, ..., d_b] of each sequence in one pass.
        var verifyRows: [Int] = [], verifyTokens: [Int32] = [], first: [Int] = []
        for (i, s) in active.enumerated() {
            first.append(verifyRows.count)
            verifyRows += Array(repeating: s, count: budget[i] + 1)
            verifyTokens += [run.next[s]] + drafts[i]
        }
        let before = active.map { modelCache.own[$0].count }
        let logits = model.decodeStep(
            tokens: verifyTokens, sequences: verifyRows, cache: modelCache, scratch: modelScratch)
        let made = run.verify(
            active, drafts: drafts, logits: logits, first: first,
            q: active.indices.map { i in (0..<budget[i]).map { UnsafePointer(qs + (i * most + $0) * v) } })

        var going: [Int] = []
        for (i, s) in active.enumerated() {
            drafted += budget[i]
            accepted += made[i].count - 1
            passes += 1
            var kept = 0
            var goesOn = true
            for (token, logp) in made[i] where goesOn {
                kept += 1
                goesOn = run.accept(s, token, logp)
            }
            // The model keeps the rows fed before each kept token; the module reads them next.
            modelCache.truncate(s, to: before[i] + kept)
            guard goesOn else { continue }
            pendingTokens[s] = made[i].map(\.token)
            pendingHidden[s] = Array(UnsafeBufferPointer(start: modelScratch.x.pointer + first[i] * d, count: kept * d))
            going.append(s)
        }
        return going
    }
}

extension Sampler.Run {
    /// Draws a draft for sequence seqs[i] from the module's logits[i], keeping its dense
    /// distribution q in qs[i] [V] (greedy: the argmax, q unused).
    func drawDrafts(
        _ seqs: [Int], logits: [UnsafePointer<Float>], into qs: [UnsafeMutablePointer<Float>]
    ) -> [Int32] {
        let (v, params) = (vocab, params)
        return eachSequence(seqs, empty: 0) { i, scratch, rng in
            let dist = Sampler.distribution(logits[i], vocab: v, params: params, scratch: scratch)
            guard params.temperature > 0 else { return Int32(dist.argmax) }
            dist.dense(scratch: scratch, into: qs[i], vocab: v)
            return Int32(Sampler.draw(dist, scratch: scratch, rng: &rng))
        }
    }

    /// The tokens each sequence makes from one verifying pass: its kept drafts, then one token
    /// from the model (the residual at a refusal, or the row after the last draft), each with
    /// the model's log-probability. Row first[i] + j of `logits` scores the token after draft j.
    func verify(
        _ seqs: [Int], drafts: [[Int32]], logits: UnsafePointer<Float>, first: [Int],
        q: [[UnsafePointer<Float>]]
    ) -> [[(token: Int32, logp: Float)]] {
        let (v, params) = (vocab, params)
        return eachSequence(seqs, minPerThread: 4, empty: []) { i, scratch, rng in
            let p = scratch.dense
            var out: [(token: Int32, logp: Float)] = []
            for j in 0...drafts[i].count {
                let dist = Sampler.distribution(logits + (first[i] + j) * v, vocab: v, params: params, scratch: scratch)
                guard j < drafts[i].count else {
                    // Every draft kept: one more token from the model.
                    let t = params.temperature == 0 ? dist.argmax : Sampler.draw(dist, scratch: scratch, rng: &rng)
                    out.append((Int32(t), dist.logp(t)))
                    break
                }
                let draft = Int(drafts[i][j])
                if params.temperature == 0 {
                    out.append((Int32(dist.argmax), dist.logp(dist.argmax)))
                    if dist.argmax == draft { continue } else { break }
                }
                dist.dense(scratch: scratch, into: p, vocab: v)
                if rng.uniform() * q[i][j][draft] < p[draft] {
                    out.append((Int32(draft), dist.logp(draft)))
                    continue
                }
                // Refused: draw from the part of p that q leaves out.
                var mass: Float = 0
                for t in 0..<v {
                    p[t] = max(0, p[t] - q[i][j][t])
                    mass += p[t]
                }
                var u = rng.uniform() * mass
                var pick = -1
                for t in 0..<v where p[t] > 0 {
                    pick = t
                    u -= p[t]
                    if u < 0 { break }
                }
                // mass 0 would mean p == q, where the draft is never refused.
                if pick < 0 { pick = dist.argmax }
                out.append((Int32(pick), dist.logp(pick)))
                break
            }
            return out
        }
    }
}

extension Sampler.RowDistribution {
    /// The normalised distribution over the whole vocabulary: zero outside the kept tokens.
    func dense(scratch: Sampler.RowScratch, into out: UnsafeMutablePointer<Float>, vocab v: Int) {
        out.update(repeating: 0, count: v)
        for i in 0..<count {
            let t = Int(scratch.order[i])
            out[t] = scratch.probs[t] / kept
        }
    }
}

extension Transformer {
    /// Prediction module 0 over decode rows: tokens [R] (the token after each row's position) and
    /// the hidden states [R, D] there. Every row becomes a position of `cache` (one layer); the
    /// module's hidden states are left in scratch.x. Returns the draft logits [R, V].
    func draftStep(
        tokens: [Int32], hidden: UnsafePointer<Float>, sequences: [Int], cache: KVCache, scratch s: DecodeScratch
    ) -> UnsafeMutablePointer<Float> {
        let (d, r) = (config.hiddenSize, tokens.count)
        let slots = layout.predictors[0]
        let x = s.x.reserve(r * d)
        tokens.withUnsafeBufferPointer { ids in
            predictorInput(
                slots, tokens: ids.baseAddress!, hidden: hidden, rows: r, embedded: s.embedded.reserve(r * d),
                joined: s.joined.reserve(r * 2 * d), rstdE: nil, rstdH: nil, into: x)
        }
        let rows = DecodeRows(sequences: sequences, cache: cache)
        _ = decodeLayer(slots.layer, x: x, rows: rows, cache: cache, layer: 0, scratch: s)
        rows.commit(cache)
        return decodeLogits(x, rows: r, norm: slots.headNorm, scratch: s)
    }

    /// Prediction module 0 over a prompt's positions 0..<n, from the model's hidden states
    /// [n, D] there and the tokens after them [n]: its keys into `prefix` (layer 0).
    func draftPrefill(
        _ next: [Int32], hidden: UnsafePointer<Float>, into prefix: KVCache.Segment, scratch a: Activations
    ) {
        let (c, n) = (config, next.count)
        let d = c.hiddenSize
        let slots = layout.predictors[0]
        a.batch = 1
        a.length = n
        a.sequences = [0..<n]
        a.canBackward = false
        if a.layers.isEmpty { a.layers = [.init()] }
        let s = a.layers[0]
        let x = s.xIn.reserve(n * d)
        // The embedded rows and the joined input are dead once x exists: xn2 and dtmp hold them.
        next.withUnsafeBufferPointer { ids in
            predictorInput(
                slots, tokens: ids.baseAddress!, hidden: hidden, rows: n, embedded: s.xn2.reserve(n * d),
                joined: a.dtmp.reserve(n * 2 * d), rstdE: nil, rstdH: nil, into: x)
        }
        layerForward(slots.layer, x: x, out: x, saved: s, in: a) { qkv in
            prefix.store(layer: 0, qkv: qkv, rows: n, first: 0, shape: self.attention)
        }
    }
}
