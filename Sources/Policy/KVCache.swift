// The key/value cache for sampling, and the decode step: one token a sequence, or several
// consecutive ones (a speculative step's verification, Speculation).
// A prompt is prefilled once (the same forward as training, on the prompt
// alone); its keys and values become a prefix segment shared by the G
// completions of that prompt; each completion appends to its own segment.
// Legend: L layers, D width, Dkv key/value width (Hkv * hd: D without
// grouped-query attention, D / G with it), P prompt length, M max new tokens,
// K experts per token.
//   prefix[g].keys[l]  [ceil(P / 16), Dkv, 16]  rotated keys in tiles of 16 positions (ck_attn_tile_keys)
//   prefix[g].values[l] [P, Dkv]
//   own[s].keys[l] [ceil(M / 16), Dkv, 16], own[s].values[l] [M, Dkv]
//   prefix[g].routes [P, L, K], own[s].routes [M, L, K]: the experts each fed token went
//   through, which the trainer replays (see Router).
// Under MLA a position's key is its latent and RoPE key (r + e floats, kept in
// the same tiles) and there are no separate values: they are the latent.

import CKernels
import Kernels

public final class KVCache: @unchecked Sendable {
    final class Segment {
        let keys: [FloatBuffer], values: [FloatBuffer]
        let routes = Buffer<Int32>(fill: -1)
        var count = 0
        init(layers: Int) {
            keys = (0..<layers).map { _ in FloatBuffer() }
            values = (0..<layers).map { _ in FloatBuffer() }
        }
        /// Room for `rows` positions and `routeWidth` expert choices each, emptied.
        func reset(rows: Int, shape: Attention.Shape, routeWidth: Int) -> Segment {
            let blocks = (rows + 15) / 16 * 16
            for b in keys { b.reserve(blocks * shape.kvHeads * shape.keyDim) }
            if !shape.valuesInKeys { for b in values { b.reserve(blocks * shape.kvHeads * shape.valueDim) } }
            routes.reserve(rows * routeWidth)
            count = 0
            return self
        }

        /// Stores layer l's keys and values of `n` positions from `first` on, taken from the rows
        /// attention reads (shape.ld floats apart).
        func store(layer l: Int, qkv: UnsafePointer<Float>, rows n: Int, first: Int, shape: Attention.Shape) {
            ck_attn_tile_keys(
                qkv + shape.keyOffset, shape.ld, n, shape.kvHeads * shape.keyDim, keys[l].pointer, first)
            guard !shape.valuesInKeys else { return }
            let dv = shape.kvHeads * shape.valueDim
            let v = values[l].pointer + first * dv
            for t in 0..<n { (v + t * dv).update(from: qkv + t * shape.ld + shape.valueOffset, count: dv) }
        }

        /// Layer l's first `count` positions, as the decode reads them.
        func cached(layer l: Int, count: Int, shape: Attention.Shape) -> Attention.Cached {
            Attention.Cached(
                keys: keys[l].pointer, values: shape.valuesInKeys ? nil : values[l].pointer, count: count)
        }
    }
    let config: ModelConfig
    let shape: Attention.Shape
    /// The segments in use: prefixes[0..<prefixCount], own[0..<ownCount]; the rest wait
    /// for the next generation, so the cache is allocated once, not every step.
    private(set) var prefixes: [Segment] = []
    private(set) var own: [Segment] = []
    private(set) var prefixCount = 0, ownCount = 0
    /// own[s] continues prefixes[groupOf[s]].
    var groupOf: [Int] = []

    /// Expert choices per position: L x K (none in a model without routed experts).
    let routeWidth: Int
    /// Layers cached: the model's, or one for a prediction module.
    let layers: Int

    public convenience init(config: ModelConfig) { self.init(config: config, layers: config.numHiddenLayers) }

    init(config: ModelConfig, layers: Int) {
        self.config = config
        self.layers = layers
        shape = Attention.Shape(config)
        routeWidth = config.nRoutedExperts > 0 ? layers * config.numExpertsPerTok : 0
    }

    public func length(of s: Int) -> Int { prefixes[groupOf[s]].count + own[s].count }

    /// Keeps sequence s's first `count` own positions: what a speculative step verified.
    func truncate(_ s: Int, to count: Int) {
        precondition(count <= own[s].count, "truncate: \(count) > \(own[s].count) positions")
        own[s].count = count
    }

    /// Forgets every sequence; keeps the memory.
    func reset() {
        prefixCount = 0
        ownCount = 0
        groupOf.removeAll(keepingCapacity: true)
    }

    /// A new prompt segment of `rows` positions; its index is the group of the sequences that continue it.
    func addPrefix(rows: Int) -> (group: Int, segment: Segment) {
        if prefixCount == prefixes.count { prefixes.append(Segment(layers: layers)) }
        defer { prefixCount += 1 }
        return (
            prefixCount, prefixes[prefixCount].reset(rows: rows, shape: shape, routeWidth: routeWidth)
        )
    }

    /// A new sequence continuing prefix `group`, with room for `rows` tokens.
    func addSequence(group: Int, rows: Int) {
        if ownCount == own.count { own.append(Segment(layers: layers)) }
        _ = own[ownCount].reset(rows: rows, shape: shape, routeWidth: routeWidth)
        groupOf.append(group)
        ownCount += 1
    }

    /// The expert choices [P + n, L, K] of every token sequence s has fed so far: its prompt's
    /// and its own n.
    func routes(of s: Int) -> [Int32] {
        let prefix = prefixes[groupOf[s]]
        let mine = own[s]
        return Array(UnsafeBufferPointer(start: prefix.routes.pointer, count: prefix.count * routeWidth))
            + Array(UnsafeBufferPointer(start: mine.routes.pointer, count: mine.count * routeWidth))
    }
}

/// Scratch for decode steps: a handful of rows, reused every step.
final class DecodeScratch {
    let x = FloatBuffer(), xn = FloatBuffer(), qkv = FloatBuffer(), att = FloatBuffer(), moeOut = FloatBuffer()
    let logits = FloatBuffer()
    let moe = MoEState()
    let latent = LatentSaved(), latentScratch = LatentScratch()
    /// A prediction module's embedded tokens [R, D] and joined input [R, 2D] (Speculation).
    let embedded = FloatBuffer(), joined = FloatBuffer()
    /// mHC: the hyper-connection in use, and the streams' second buffer (merge writes apart from its input).
    let hyper = HyperState(), merged = FloatBuffer()
}

extension Transformer {
    /// Prefills `prompt` (whose last token has not been answered yet) and adds
    /// `completions` sequences continuing it. Returns the logits [V] after the prompt.
    func prefill(
        _ prompt: [Int32], completions: Int, maxNewTokens: Int, cache: KVCache, scratch: Activations
    ) -> [Float] {
        let c = config
        let p = prompt.count
        let topK = c.numExpertsPerTok
        let width = cache.routeWidth
        let (g, prefix) = cache.addPrefix(rows: p)
        let logits = forward(
            tokens: prompt, batch: 1, length: p, into: scratch, saving: false,
            keys: { l, qkv in
                prefix.store(layer: l, qkv: qkv, rows: p, first: 0, shape: cache.shape)
            },
            routed: { l, chosen in
                guard width > 0 else { return }
                for t in 0..<p {
                    (prefix.routes.pointer + t * width + l * topK).update(from: chosen + t * topK, count: topK)
                }
            })
        prefix.count = p
        for _ in 0..<completions { cache.addSequence(group: g, rows: maxNewTokens) }
        return Array(UnsafeBufferPointer(start: logits + (p - 1) * c.vocabSize, count: c.vocabSize))
    }

    /// Feeds tokens to `sequences` (cache indices, in cache order; a sequence named on several
    /// consecutive rows gets consecutive positions) and returns each row's next-token logits
    /// [R, V]. Each token sits at its sequence's next position; every fed position stays in the
    /// cache (KVCache.truncate takes back what a speculative step rejected). The rows' last hidden
    /// states [R, D], before the final norm, are left in scratch.x for the prediction modules
    /// (without mHC, which prediction modules do not take).
    func decodeStep(
        tokens: [Int32], sequences: [Int], cache: KVCache, scratch s: DecodeScratch
    ) -> UnsafeMutablePointer<Float> {
        let d = config.hiddenSize
        let r = tokens.count
        let w = parameters.data
        var x = s.x.reserve(r * d * streams)
        tokens.withUnsafeBufferPointer {
            Embedding.forward($0.baseAddress!, w + layout.embed, x, count: r, width: d, streams: streams)
        }
        let rows = DecodeRows(sequences: sequences, cache: cache)
        for (l, slots) in layout.layers.enumerated() {
            x = decodeLayer(slots, x: x, rows: rows, cache: cache, layer: l, scratch: s)
        }
        rows.commit(cache)
        let top = layout.hcHead.map {
            HyperHead.forward(x, rows: r, params: w, slots: $0, shape: hyper!, state: s.hyper)
        }
        return decodeLogits(top ?? x, rows: r, norm: layout.finalNorm, scratch: s)
    }

    /// lm_head(RMSNorm(x)) [R, V] of decode rows x [R, D], with the norm's weights at `norm`.
    func decodeLogits(
        _ x: UnsafePointer<Float>, rows r: Int, norm: Int, scratch s: DecodeScratch
    ) -> UnsafeMutablePointer<Float> {
        let (c, w) = (config, parameters.data)
        let xn = s.xn.reserve(r * c.hiddenSize)
        RMSNorm.forward(x, w + norm, xn, rstd: nil, rows: r, width: c.hiddenSize, eps: c.rmsNormEps)
        let logits = s.logits.reserve(r * c.vocabSize)
        Linear.forward(xn, w + layout.lmHead, logits, rows: r, inFeatures: c.hiddenSize, outFeatures: c.vocabSize)
        return logits
    }

    /// One decoder layer over decode rows x [R, D] (under mHC [R, S D]) with cache layer `l`:
    /// stores the rows' keys and values and routes, then attends over the prompt's and each row's
    /// own. Returns where the layer's output is: x itself, or under mHC the scratch's other
    /// streams buffer (a merge writes apart from its input).
    func decodeLayer(
        _ slots: LayerSlots, x: UnsafeMutablePointer<Float>, rows: DecodeRows, cache: KVCache, layer l: Int,
        scratch s: DecodeScratch
    ) -> UnsafeMutablePointer<Float> {
        let c = config
        let (d, aw, r) = (c.hiddenSize, c.attentionWidth, rows.sequences.count)
        let w = parameters.data
        let sequences = rows.sequences
        let hc = hyper
        var x = x
        var merged = hc == nil ? x : (x == s.x.pointer ? s.merged.reserve(r * d * hc!.streams) : s.x.pointer)
        let xn = s.xn.reserve(r * d)
        let qkv = s.qkv.reserve(r * attention.ld)
        let att = s.att.reserve(r * aw)
        let moeOut = s.moeOut.reserve(r * d)
        let h1 = slots.attentionHC.map {
            HyperConnection.forward(x, rows: r, params: w, slots: $0, shape: hc!, state: s.hyper)
        }
        RMSNorm.forward(h1 ?? x, w + slots.inputNorm, xn, rstd: nil, rows: r, width: d, eps: c.rmsNormEps)
        queriesAndKeys(xn, rows: r, slots: slots, into: qkv, saved: s.latent, scratch: s.latentScratch) {
            rows.positions[$0]
        }
        for (row, seq) in sequences.enumerated() {
            let own = cache.own[seq]
            own.store(
                layer: l, qkv: qkv + row * attention.ld, rows: 1, first: own.count + rows.offsets[row],
                shape: attention)
        }
        let groups = rows.groups.map { g in
            let prompt = cache.prefixes[g.group]
            return Attention.Group(rows: g.rows, prompt: prompt.cached(layer: l, count: prompt.count, shape: attention))
        }
        // MLA's attention output is the latent's, [R, H r], made [R, H dv] after.
        let y = slots.latent == nil ? att : s.latent.y.reserve(r * attention.outWidth)
        Attention.decode(q: qkv, y: y, shape: attention, groups: groups) { row in
            let own = cache.own[sequences[row]]
            return own.cached(layer: l, count: own.count + rows.offsets[row] + 1, shape: attention)
        }
        if let latent = slots.latent {
            LatentAttention.expand(y, rows: r, params: w, slots: latent, config: c, into: att)
        }
        if slots.attentionHC != nil {
            let out = s.hyper.output.reserve(r * d)
            Linear.forward(att, w + slots.o, out, rows: r, inFeatures: aw, outFeatures: d)
            HyperConnection.merge(out, streams: x, rows: r, shape: hc!, state: s.hyper, into: merged)
            swap(&x, &merged)
        } else {
            Linear.forward(att, w + slots.o, x, rows: r, inFeatures: aw, outFeatures: d, accumulate: true)
        }
        let h2 = slots.ffnHC.map {
            HyperConnection.forward(x, rows: r, params: w, slots: $0, shape: hc!, state: s.hyper)
        }
        RMSNorm.forward(h2 ?? x, w + slots.postNorm, xn, rstd: nil, rows: r, width: d, eps: c.rmsNormEps)
        MoE.forward(moeShape, params: w, slots: slots, x: xn, out: moeOut, rows: r, state: s.moe)
        let topK = c.numExpertsPerTok
        let chosen = s.moe.chosen.pointer
        for (row, seq) in sequences.enumerated() where cache.routeWidth > 0 {
            let own = cache.own[seq]
            (own.routes.pointer + (own.count + rows.offsets[row]) * cache.routeWidth + l * topK).update(
                from: chosen + row * topK, count: topK)
        }
        if h2 != nil {
            HyperConnection.merge(moeOut, streams: x, rows: r, shape: hc!, state: s.hyper, into: merged)
            swap(&x, &merged)
        } else {
            add(moeOut, into: x, count: r * d)
        }
        return x
    }
}

/// Where decode rows sit: each row's sequence, its offset past the sequence's cached positions
/// (a sequence on several consecutive rows takes consecutive positions), its position, and the
/// runs of rows continuing the same prompt (one attention group each).
struct DecodeRows {
    let sequences: [Int], offsets: [Int], positions: [Int]
    let groups: [(group: Int, rows: Range<Int>)]

    init(sequences: [Int], cache: KVCache) {
        self.sequences = sequences
        var offsets: [Int] = []
        var groups: [(group: Int, rows: Range<Int>)] = []
        for (row, seq) in sequences.enumerated() {
            offsets.append(row > 0 && sequences[row - 1] == seq ? offsets[row - 1] + 1 : 0)
            let g = cache.groupOf[seq]
            if let last = groups.last, last.group == g, last.rows.upperBound == row {
                groups[groups.count - 1].rows = last.rows.lowerBound..<(row + 1)
            } else {
                groups.append((g, row..<(row + 1)))
            }
        }
        self.offsets = offsets
        positions = zip(sequences, offsets).map { cache.length(of: $0) + $1 }
        self.groups = groups
    }

    /// Every fed row becomes a cached position.
    func commit(_ cache: KVCache) { for seq in sequences { cache.own[seq].count += 1 } }
}
