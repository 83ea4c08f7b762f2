// The policy: a DeepSeek-style MoE transformer over flat parameter buffers.
// Legend: B sequences, T positions, N = B*T rows, D width, V vocabulary.
//   tokens [N] -> embed -> L x [x += attn(norm1(x)); x += moe(norm2(x))]
//   -> final norm -> lm_head -> logits [N, V]
// attn is q/k/v/o attention, or multi-head latent attention (LatentAttention)
// when the config sets kv_lora_rank; both run through Attention.
// Under mHC (hc_mult S > 1) x is S streams [N, S D], and each `x += f(norm(x))`
// is x = merge(f(norm(collapse(x))), x) (HyperConnection); HyperHead collapses
// the streams before the final norm.
// `forward` saves what `backward` needs in an `Activations`; `backward`
// accumulates d(loss)/d(params) into `gradients` from d(loss)/d(logits), and
// adds the gradient of the balance loss (reported as `Activations.auxLoss`)
// when aux_loss_alpha > 0.
// `predict` runs the multi-token prediction modules over the last forward
// (MultiTokenPrediction); `backward` then takes their dlogits too.

import Foundation
import Kernels
import Support

public final class Transformer: @unchecked Sendable {
    public let config: ModelConfig
    public let layout: ParameterLayout
    /// Flat parameters [layout.count]; see ParameterLayout.
    public let parameters: Tensor
    /// Flat gradients, same layout; allocated on first backward.
    public private(set) lazy var gradients = Tensor([layout.count])
    let rope: RoPE
    let moeShape: MoEShape
    /// Where attention finds its queries, keys and values in the rows a layer makes.
    let attention: Attention.Shape
    /// The residual's hyper-connections (mHC); nil: one stream.
    let hyper: HyperConnection.Shape?
    /// Residual streams: hc_mult under mHC, else 1.
    var streams: Int { hyper?.streams ?? 1 }
    /// How text becomes ids for this model: the byte tokenizer unless its checkpoint carried a
    /// tokenizer.json. Checkpoints saved from the model carry the same tokenizer.
    public var tokenizer: any Tokenizer

    public init(config: ModelConfig, parameters: Tensor? = nil) {
        self.config = config
        layout = ParameterLayout(config)
        if let parameters {
            precondition(
                parameters.count == layout.count, "parameter count \(parameters.count) != layout \(layout.count)")
            self.parameters = parameters
        } else {
            self.parameters = Tensor([layout.count])
        }
        rope = RoPE(headDim: config.ropeWidth, maxPositions: config.maxPositionEmbeddings, theta: config.ropeTheta)
        moeShape = MoEShape(config)
        attention = Attention.Shape(config)
        hyper = HyperConnection.Shape(config)
        tokenizer = ByteTokenizer(config: config)
    }

    /// Normal(0, initializer_range) matrices (output projections scaled down by
    /// sqrt(2 L) so the residual stream does not grow with depth), unit norms, zero biases.
    public func initialize(seed: UInt64) {
        var rng = Xoshiro(seed: seed)
        let p = parameters.data
        let residualScale = 1 / Float(2 * config.numHiddenLayers).squareRoot()
        for slot in layout.slots {
            switch slot.kind {
            case .norm: (p + slot.offset).update(repeating: 1, count: slot.count)
            case .buffer, .bias: (p + slot.offset).update(repeating: 0, count: slot.count)
            case .matrix:
                let isOutput = slot.name.hasSuffix("o_proj.weight") || slot.name.hasSuffix("down_proj.weight")
                let std = config.initializerRange * (isOutput ? residualScale : 1)
                for i in slot.range { p[i] = rng.normal() * std }
            }
        }
    }

    public func zeroGradients() { gradients.zero() }

    /// A deep copy (a frozen reference policy, for instance).
    public func copy() -> Transformer {
        let t = Transformer(config: config)
        t.parameters.data.update(from: parameters.data, count: layout.count)
        t.tokenizer = tokenizer
        return t
    }
}

/// What a forward pass keeps for its backward, reused across steps.
public final class Activations: @unchecked Sendable {
    final class Layer {
        let xIn = FloatBuffer(), rstd1 = FloatBuffer(), xn1 = FloatBuffer(), qkv = FloatBuffer()
        let probs = FloatBuffer(), att = FloatBuffer(), xMid = FloatBuffer(), rstd2 = FloatBuffer()
        let xn2 = FloatBuffer()
        let moe = MoEState()
        let latent = LatentSaved()
        let attentionHC = HyperState(), ffnHC = HyperState()
    }
    var layers: [Layer] = []
    let xOut = FloatBuffer(), rstdF = FloatBuffer(), xnF = FloatBuffer()
    public let logits = FloatBuffer()
    /// The last layer's output [B*T, D] of the last forward, before the final norm: what the
    /// prediction modules read.
    var hidden: UnsafePointer<Float>?
    /// The prediction modules' saved state (MultiTokenPrediction), and whether `predict` ran
    /// after the last forward.
    var predictors: [Predictor] = []
    var predicted = false
    let predictorScratch = PredictorScratch()
    let tokens = Buffer<Int32>()
    // Backward scratch.
    let dx = FloatBuffer(), dxMid = FloatBuffer(), dtmp = FloatBuffer(), dqkv = FloatBuffer()
    let moeGrad = MoEGradScratch()
    let latentScratch = LatentScratch()
    let headHC = HyperState(), hyperScratch = HyperScratch()
    public internal(set) var batch = 0, length = 0
    var canBackward = false
    public internal(set) var sequences: [Range<Int>] = []
    public var rows: Int { batch * length }

    public init() {}

    /// Sum of the layers' balance losses from the last forward (and its `predict`).
    public var auxLoss: Float {
        layers.reduce(0) { $0 + $1.moe.auxLoss } + (predicted ? predictors.reduce(0) { $0 + $1.layer.moe.auxLoss } : 0)
    }
    /// Tokens routed to each expert, per layer, in the last forward (real tokens only).
    public var expertLoad: [[Int]] { layers.map(\.moe.load) }
    /// (token, layer) choices of the last forward where the replayed experts were not the
    /// ones this forward would have chosen (0 without replay).
    public internal(set) var routingFlips = 0
    /// The MoE state of layer l (router choices and gates), for tests and inspection; past the
    /// model's layers, prediction module l - L's (as Hugging Face numbers them).
    public func moeState(layer l: Int) -> MoEState {
        l < layers.count ? layers[l].moe : predictors[l - layers.count].layer.moe
    }
}

extension Transformer {
    /// Logits [B*T, V] for B sequences of T tokens (row-major tokens [B*T]).
    /// `lengths[b]` (default T) marks the real tokens of sequence b; the rest is
    /// padding, which causal attention keeps from affecting real tokens.
    /// The returned pointer is `a.logits`: valid while `a` lives and until its next forward.
    /// With `saving: false` (log-probs, prefill) every layer reuses the first
    /// layer's buffers: a fraction of the memory, and no backward possible.
    /// `keys(l, qkv)` sees each layer's rotated rows as attention reads them (Attention.Shape) as they are made,
    /// `routed(l, chosen)` each layer's expert choices [B*T, K]. `routes[l]` [B*T, K] replays layer l's
    /// choices (rows starting with -1 choose for themselves): the experts the sampler chose, so that
    /// the trainer scores a completion through the experts that produced it.
    @discardableResult
    public func forward(
        tokens: [Int32], batch b: Int, length t: Int, lengths: [Int]? = nil,
        into a: Activations, saving: Bool = true, routes: [UnsafePointer<Int32>]? = nil,
        keys: ((Int, UnsafePointer<Float>) -> Void)? = nil,
        routed: ((Int, UnsafePointer<Int32>) -> Void)? = nil
    ) -> UnsafeMutablePointer<Float> {
        let c = config
        let d = c.hiddenSize
        let v = c.vocabSize
        let n = b * t
        let w = parameters.data
        precondition(tokens.count == n, "tokens: \(tokens.count) for batch \(b) x length \(t)")
        precondition(
            t <= c.maxPositionEmbeddings, "length \(t) beyond max_position_embeddings \(c.maxPositionEmbeddings)")
        precondition(tokens.allSatisfy { $0 >= 0 && Int($0) < v }, "token id outside the vocabulary")
        precondition(routes == nil || routes!.count == c.numHiddenLayers, "routes: one per layer")
        a.batch = b
        a.length = t
        a.routingFlips = 0
        a.predicted = false
        a.sequences = (0..<b).map { s in (s * t)..<(s * t + min(t, lengths?[s] ?? t)) }
        if a.layers.count != c.numHiddenLayers { a.layers = (0..<c.numHiddenLayers).map { _ in .init() } }
        a.canBackward = saving
        let ids = a.tokens.reserve(n)
        tokens.withUnsafeBufferPointer { ids.update(from: $0.baseAddress!, count: n) }
        let sd = d * streams  // the residual's floats per row

        var x = a.layers[0].xIn.reserve(n * sd)
        Embedding.forward(ids, w + layout.embed, x, count: n, width: d, streams: streams)
        for (l, slots) in layout.layers.enumerated() {
            // Without saving, the layer's input is dead once x_mid exists: its buffer takes the output.
            let next =
                !saving ? x : l + 1 < c.numHiddenLayers ? a.layers[l + 1].xIn.reserve(n * sd) : a.xOut.reserve(n * sd)
            let s = a.layers[saving ? l : 0]
            layerForward(
                slots, x: x, out: next, saved: s, in: a, replay: routes?[l],
                keys: keys.map { hook in { hook(l, $0) } })
            routed?(l, s.moe.chosen.pointer)
            x = next
        }
        a.hidden = UnsafePointer(x)
        let xnF = a.xnF.reserve(n * d)
        let rstdF = a.rstdF.reserve(n)
        let top = layout.hcHead.map {
            HyperHead.forward(x, rows: n, params: w, slots: $0, shape: hyper!, state: a.headHC)
        }
        RMSNorm.forward(top ?? x, w + layout.finalNorm, xnF, rstd: rstdF, rows: n, width: d, eps: c.rmsNormEps)
        let logits = a.logits.reserve(n * v)
        Linear.forward(xnF, w + layout.lmHead, logits, rows: n, inFeatures: d, outFeatures: v)
        return logits
    }

    /// One decoder layer of `a`'s batch, x [N, D] -> out [N, D] (under mHC [N, S D]; out may be x
    /// when `s` is shared):
    ///   x_mid = x + o_proj(attn(norm1(x))); out = x_mid + moe(norm2(x_mid)),
    /// or under mHC each `x + f(norm(x))` is merge(f(norm(collapse(x))), x) (HyperConnection).
    /// `s` keeps what layerBackward needs; x must be s.xIn for that.
    func layerForward(
        _ slots: LayerSlots, x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, saved s: Activations.Layer,
        in a: Activations, replay: UnsafePointer<Int32>? = nil, keys: ((UnsafePointer<Float>) -> Void)? = nil
    ) {
        let c = config
        let (d, h, aw) = (c.hiddenSize, c.numAttentionHeads, c.attentionWidth)
        let (b, t, n) = (a.batch, a.length, a.rows)
        let w = parameters.data
        let hc = hyper
        let sd = d * streams  // the residual's floats per row
        let xn1 = s.xn1.reserve(n * d)
        let rstd1 = s.rstd1.reserve(n)
        let h1 = slots.attentionHC.map {
            UnsafePointer(HyperConnection.forward(x, rows: n, params: w, slots: $0, shape: hc!, state: s.attentionHC))
        }
        RMSNorm.forward(h1 ?? x, w + slots.inputNorm, xn1, rstd: rstd1, rows: n, width: d, eps: c.rmsNormEps)
        let qkv = s.qkv.reserve(n * attention.ld)
        queriesAndKeys(xn1, rows: n, slots: slots, into: qkv, saved: s.latent, scratch: a.latentScratch) { $0 % t }
        keys?(qkv)
        let att = s.att.reserve(n * aw)
        let probs = s.probs.reserve(b * h * t * t)
        if let latent = slots.latent {
            let y = s.latent.y.reserve(n * attention.outWidth)
            Attention.forward(qkv: qkv, y: y, probs: probs, batch: b, length: t, shape: attention)
            LatentAttention.expand(y, rows: n, params: w, slots: latent, config: c, into: att)
        } else {
            Attention.forward(qkv: qkv, y: att, probs: probs, batch: b, length: t, shape: attention)
        }
        let xMid = s.xMid.reserve(n * sd)
        if slots.attentionHC != nil {
            let y = s.attentionHC.output.reserve(n * d)
            Linear.forward(att, w + slots.o, y, rows: n, inFeatures: aw, outFeatures: d)
            HyperConnection.merge(y, streams: x, rows: n, shape: hc!, state: s.attentionHC, into: xMid)
        } else {
            xMid.update(from: x, count: n * d)
            Linear.forward(att, w + slots.o, xMid, rows: n, inFeatures: aw, outFeatures: d, accumulate: true)
        }

        let xn2 = s.xn2.reserve(n * d)
        let rstd2 = s.rstd2.reserve(n)
        let h2 = slots.ffnHC.map {
            HyperConnection.forward(xMid, rows: n, params: w, slots: $0, shape: hc!, state: s.ffnHC)
        }
        RMSNorm.forward(h2 ?? xMid, w + slots.postNorm, xn2, rstd: rstd2, rows: n, width: d, eps: c.rmsNormEps)
        MoE.forward(
            moeShape, params: w, slots: slots, x: xn2, out: h2 == nil ? out : s.ffnHC.output.reserve(n * d),
            rows: n, state: s.moe, sequences: a.sequences, replay: replay)
        a.routingFlips += s.moe.flips
        if h2 != nil {
            HyperConnection.merge(s.ffnHC.output.pointer, streams: xMid, rows: n, shape: hc!, state: s.ffnHC, into: out)
        } else {
            add(xMid, into: out, count: n * d)
        }
    }

    /// Logits [B*T * V] as an array (a copy): for tests and one-off uses.
    public func logits(tokens: [Int32], batch b: Int, length t: Int, lengths: [Int]? = nil) -> [Float] {
        let a = Activations()
        return withExtendedLifetime(a) {
            let p = forward(tokens: tokens, batch: b, length: t, lengths: lengths, into: a, saving: false)
            return Array(UnsafeBufferPointer(start: p, count: b * t * config.vocabSize))
        }
    }

    /// Accumulates gradients from dlogits [B*T, V] of the last `forward` into `a`, and from
    /// `predicted[k]` [B*T, V], d(loss)/d(logits) of prediction module k's last `predict` (see
    /// MultiTokenPrediction), whose gradient reaches the main model through its hidden state.
    public func backward(dlogits: UnsafePointer<Float>, predicted: [UnsafePointer<Float>] = [], from a: Activations) {
        let c = config
        let d = c.hiddenSize
        let v = c.vocabSize
        precondition(a.canBackward, "backward after a forward with saving: false")
        let n = a.rows
        let w = parameters.data
        let g = gradients.data
        let dx = a.dx.reserve(n * d * streams)
        let dtmp = a.dtmp.reserve(n * max(d, c.attentionWidth))
        let dHidden = predicted.isEmpty ? nil : predictBackward(predicted, from: a)

        Linear.backward(
            dlogits, a.xnF.pointer, w + layout.lmHead, g + layout.lmHead, dtmp, rows: n, inFeatures: d, outFeatures: v)
        if let head = layout.hcHead {
            let dh = a.hyperScratch.dh.reserve(n * d)
            RMSNorm.backward(
                dtmp, a.headHC.collapsed.pointer, w + layout.finalNorm, rstd: a.rstdF.pointer, dh,
                g + layout.finalNorm, rows: n, width: d)
            HyperHead.backward(
                dh, streams: a.xOut.pointer, rows: n, params: w, grads: g, slots: head, shape: hyper!, state: a.headHC,
                scratch: a.hyperScratch, into: dx)
        } else {
            RMSNorm.backward(
                dtmp, a.xOut.pointer, w + layout.finalNorm, rstd: a.rstdF.pointer, dx, g + layout.finalNorm, rows: n,
                width: d)
        }
        if let dHidden { add(dHidden, into: dx, count: n * d) }
        for (l, slots) in layout.layers.enumerated().reversed() {
            layerBackward(slots, dx: dx, saved: a.layers[l], in: a)
        }
        Embedding.backward(a.tokens.pointer, dx, g + layout.embed, count: n, width: d, streams: streams)
    }
}

extension Transformer {
    /// layerForward's backward: dx [N, D] (under mHC [N, S D]) holds d(loss)/d(out) on entry,
    /// d(loss)/d(x) on return.
    func layerBackward(
        _ slots: LayerSlots, dx: UnsafeMutablePointer<Float>, saved s: Activations.Layer, in a: Activations
    ) {
        let c = config
        let (d, aw) = (c.hiddenSize, c.attentionWidth)
        let (b, t, n) = (a.batch, a.length, a.rows)
        let w = parameters.data
        let g = gradients.data
        let dxMid = a.dxMid.reserve(n * d * streams)
        let dtmp = a.dtmp.reserve(n * max(d, aw))
        let dqkv = a.dqkv.reserve(n * attention.ld)
        // out = x_mid + moe(norm2(x_mid)), or its mHC form (ResidualBackward.swift)
        let dMoE = sublayerOutputBackward(
            dx, streams: s.xMid.pointer, hyper: slots.ffnHC, state: s.ffnHC, from: a, into: dxMid)
        MoE.backward(
            moeShape, params: w, grads: g, slots: slots, x: s.xn2.pointer, dout: dMoE, dx: dtmp, state: s.moe,
            scratch: a.moeGrad)
        sublayerInputBackward(
            dtmp, streams: s.xMid.pointer, norm: slots.postNorm, rstd: s.rstd2.pointer, hyper: slots.ffnHC,
            state: s.ffnHC, from: a, into: dxMid, residual: dx)
        // x_mid = x + o_proj(attn(rope(qkv(norm1(x)))))
        let dAttention = sublayerOutputBackward(
            dxMid, streams: s.xIn.pointer, hyper: slots.attentionHC, state: s.attentionHC, from: a, into: dx)
        Linear.backward(
            dAttention, s.att.pointer, w + slots.o, g + slots.o, dtmp, rows: n, inFeatures: aw, outFeatures: d)
        if let latent = slots.latent {
            let dy = a.latentScratch.dy.reserve(n * attention.outWidth)
            LatentAttention.expandBackward(
                dtmp, rows: n, params: w, grads: g, slots: latent, config: c, saved: s.latent, into: dy)
            Attention.backward(
                dy: dy, qkv: s.qkv.pointer, probs: s.probs.pointer, dqkv: dqkv, batch: b, length: t, shape: attention)
            LatentAttention.projectBackward(
                dqkv, rows: n, xn: s.xn1.pointer, params: w, grads: g, slots: latent, config: c, rope: rope,
                saved: s.latent, scratch: a.latentScratch, into: dtmp) { $0 % t }
        } else {
            Attention.backward(
                dy: dtmp, qkv: s.qkv.pointer, probs: s.probs.pointer, dqkv: dqkv, batch: b, length: t,
                shape: attention)
            rope.apply(dqkv, ld: attention.ld, rows: n, heads: attention.heads + attention.kvHeads, inverse: true) {
                $0 % t
            }
            Linear.backward(
                dqkv, s.xn1.pointer, w + slots.qkv, g + slots.qkv, dtmp, rows: n, inFeatures: d,
                outFeatures: attention.ld)
        }
        sublayerInputBackward(
            dtmp, streams: s.xIn.pointer, norm: slots.inputNorm, rstd: s.rstd1.pointer, hyper: slots.attentionHC,
            state: s.attentionHC, from: a, into: dx, residual: dxMid)
    }
}

extension Transformer {
    /// A layer's rows for Attention (Attention.Shape), rotated, from its normed input xn [N, D]:
    /// [q | k | v] through one product, or MLA's (LatentAttention.project). Row i sits at position(i).
    func queriesAndKeys(
        _ xn: UnsafePointer<Float>, rows n: Int, slots: LayerSlots, into qkv: UnsafeMutablePointer<Float>,
        saved: LatentSaved, scratch: LatentScratch, position: (Int) -> Int
    ) {
        let w = parameters.data
        if let latent = slots.latent {
            LatentAttention.project(
                xn, rows: n, params: w, slots: latent, config: config, rope: rope, into: qkv, saved: saved,
                scratch: scratch, position: position)
        } else {
            Linear.forward(xn, w + slots.qkv, qkv, rows: n, inFeatures: config.hiddenSize, outFeatures: attention.ld)
            // q and k heads are adjacent.
            rope.apply(qkv, ld: attention.ld, rows: n, heads: attention.heads + attention.kvHeads, position: position)
        }
    }
}

@inline(__always)
func add(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    Parallel.forRanges(count, minPerThread: 16384) { r in for i in r { dst[i] += src[i] } }
}
