// One table gives every tensor of the model its offset in the flat parameter
// buffer, its shape and its Hugging Face name. Parameters, gradients and Adam
// moments are flat buffers with this layout: the optimizer is one loop, a
// checkpoint is one write, and no tensor name is written anywhere else.
//
// Within a layer, q/k/v are adjacent (one [D + 2 Dkv, D] product, Dkv the
// key/value width, D under multi-head attention) and so are each expert's
// gate_proj/up_proj (one [2I, D] product).

public struct ParameterSlot: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A weight matrix: trained, with weight decay.
        case matrix
        /// A norm scale (or a hyper-connection's scale): trained, no weight decay, starts at one.
        case norm
        /// An offset (a hyper-connection's base): trained, no weight decay, starts at zero.
        case bias
        /// Not trained by gradients (the router's selection bias, moved by the balancer).
        case buffer
    }
    public let name: String
    public let offset: Int
    public let shape: [Int]
    public let kind: Kind
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// Offsets of one expert: gate_proj [I, D], up_proj [I, D] (adjacent), down_proj [D, I].
public struct ExpertSlots: Sendable {
    public let gateUp: Int
    public let down: Int
    public let intermediate: Int
}

/// Offsets of one layer's multi-head latent attention (H heads, r = kv_lora_rank, qk = qk_nope + qk_rope).
public struct LatentSlots: Sendable {
    /// q_proj [H qk, D]; or q_a_proj [q_lora_rank, D], q_a_layernorm and q_b_proj [H qk, q_lora_rank].
    public let q: Int, qANorm: Int?, qB: Int?
    /// kv_a_proj_with_mqa [r + qk_rope, D] (the latent's rows, then the RoPE key's), kv_a_layernorm [r],
    /// kv_b_proj [H (qk_nope + v_head_dim), r] (each head's key rows, then its value rows).
    public let kvA: Int, kvANorm: Int, kvB: Int
}

public struct LayerSlots: Sendable {
    /// Under mHC, the hyper-connections around attention (attn_hc) and around the MoE (ffn_hc).
    public let attentionHC: HyperSlots?, ffnHC: HyperSlots?
    public let inputNorm: Int
    /// q_proj [D, D], k_proj [Dkv, D], v_proj [Dkv, D], adjacent: one [D + 2 Dkv, D] matrix
    /// (under MLA, the offset of its first matrix; see `latent`).
    public let qkv: Int
    /// The latent attention's matrices, under MLA.
    public let latent: LatentSlots?
    public let o: Int
    public let postNorm: Int
    /// Router centroids [E, D] and selection bias [E].
    public let router: Int
    public let routerBias: Int
    public let routedExperts: [ExpertSlots]
    public let sharedExpert: ExpertSlots?
}

/// Offsets of one multi-token prediction module: enorm and hnorm [D], eh_proj [D, 2D] (over the
/// normed embedding, then the normed hidden state), a decoder layer, shared_head.norm [D].
public struct PredictorSlots: Sendable {
    public let enorm: Int, hnorm: Int, ehProj: Int
    public let layer: LayerSlots
    public let headNorm: Int
}

public struct ParameterLayout: Sendable {
    public let config: ModelConfig
    public let slots: [ParameterSlot]
    public let count: Int
    public let embed: Int
    public let layers: [LayerSlots]
    /// Under mHC, the last collapse of the streams (model.hc_head).
    public let hcHead: HyperSlots?
    public let finalNorm: Int
    public let lmHead: Int
    /// The multi-token prediction modules (num_nextn_predict_layers), after everything else.
    public let predictors: [PredictorSlots]
    /// Parameters of the main model: everything before the prediction modules.
    public let mainCount: Int
    private let index: [String: Int]

    public init(_ c: ModelConfig) {
        config = c
        var slots: [ParameterSlot] = []
        var offset = 0
        @discardableResult
        func add(_ name: String, _ shape: [Int], _ kind: ParameterSlot.Kind = .matrix) -> Int {
            let s = ParameterSlot(name: name, offset: offset, shape: shape, kind: kind)
            slots.append(s)
            offset += s.count
            return s.offset
        }
        let D = c.hiddenSize
        let I = c.moeIntermediateSize
        let E = c.nRoutedExperts
        let Dkv = c.keyValueWidth
        func expert(_ prefix: String, _ width: Int) -> ExpertSlots {
            let gu = add("\(prefix).gate_proj.weight", [width, D])
            add("\(prefix).up_proj.weight", [width, D])
            let down = add("\(prefix).down_proj.weight", [D, width])
            return ExpertSlots(gateUp: gu, down: down, intermediate: width)
        }
        // transformers' names: a layer's fn/base/scale, the head's hc_fn/hc_base/hc_scale (pre alone).
        func hyperConnection(_ prefix: String, head: Bool) -> HyperSlots? {
            guard let S = c.hyperConnections?.streams else { return nil }
            let M = head ? S : (2 + S) * S
            let names = head ? ["hc_fn", "hc_base", "hc_scale"] : ["fn", "base", "scale"]
            let fn = add("\(prefix).\(names[0])", [M, S * D])
            let base = add("\(prefix).\(names[1])", [M], .bias)
            return HyperSlots(fn: fn, base: base, scale: add("\(prefix).\(names[2])", [head ? 1 : 3], .norm))
        }
        func layer(_ p: String) -> LayerSlots {
            let attentionHC = hyperConnection("\(p).attn_hc", head: false)
            let inNorm = add("\(p).input_layernorm.weight", [D], .norm)
            let qkv: Int
            var latent: LatentSlots?
            if let m = c.latentAttention {
                let a = "\(p).self_attn"
                let H = c.numAttentionHeads
                if let qr = m.queryRank {
                    qkv = add("\(a).q_a_proj.weight", [qr, D])
                    let norm = add("\(a).q_a_layernorm.weight", [qr], .norm)
                    let qB = add("\(a).q_b_proj.weight", [H * m.qkDim, qr])
                    latent = LatentSlots(q: qkv, qANorm: norm, qB: qB, kvA: 0, kvANorm: 0, kvB: 0)
                } else {
                    qkv = add("\(a).q_proj.weight", [H * m.qkDim, D])
                }
                let kvA = add("\(a).kv_a_proj_with_mqa.weight", [m.keyWidth, D])
                let kvANorm = add("\(a).kv_a_layernorm.weight", [m.rank], .norm)
                let kvB = add("\(a).kv_b_proj.weight", [H * (m.nopeDim + m.valueDim), m.rank])
                latent = LatentSlots(
                    q: qkv, qANorm: latent?.qANorm, qB: latent?.qB, kvA: kvA, kvANorm: kvANorm, kvB: kvB)
            } else {
                qkv = add("\(p).self_attn.q_proj.weight", [D, D])
                add("\(p).self_attn.k_proj.weight", [Dkv, D])
                add("\(p).self_attn.v_proj.weight", [Dkv, D])
            }
            let o = add("\(p).self_attn.o_proj.weight", [D, c.attentionWidth])
            let ffnHC = hyperConnection("\(p).ffn_hc", head: false)
            let postNorm = add("\(p).post_attention_layernorm.weight", [D], .norm)
            let router = add("\(p).mlp.gate.weight", [E, D])
            let bias = add("\(p).mlp.gate.e_score_correction_bias", [E], .buffer)
            let routed = (0..<E).map { expert("\(p).mlp.experts.\($0)", I) }
            let shared = c.nSharedExperts > 0 ? expert("\(p).mlp.shared_experts", I * c.nSharedExperts) : nil
            return LayerSlots(
                attentionHC: attentionHC, ffnHC: ffnHC,
                inputNorm: inNorm, qkv: qkv, latent: latent, o: o, postNorm: postNorm, router: router,
                routerBias: bias, routedExperts: routed, sharedExpert: shared)
        }
        embed = add("model.embed_tokens.weight", [c.vocabSize, D])
        layers = (0..<c.numHiddenLayers).map { layer("model.layers.\($0)") }
        hcHead = hyperConnection("model.hc_head", head: true)
        finalNorm = add("model.norm.weight", [D], .norm)
        lmHead = add("lm_head.weight", [c.vocabSize, D])
        mainCount = offset
        // Prediction modules after the main model, named as DeepSeek-V3 checkpoints name them:
        // layers past num_hidden_layers. They share the main model's embedding and lm_head.
        predictors = (0..<c.predictionModules).map { k in
            let p = "model.layers.\(c.numHiddenLayers + k)"
            let enorm = add("\(p).enorm.weight", [D], .norm)
            let hnorm = add("\(p).hnorm.weight", [D], .norm)
            let eh = add("\(p).eh_proj.weight", [D, 2 * D])
            let block = layer(p)
            let headNorm = add("\(p).shared_head.norm.weight", [D], .norm)
            return PredictorSlots(enorm: enorm, hnorm: hnorm, ehProj: eh, layer: block, headNorm: headNorm)
        }
        self.slots = slots
        count = offset
        index = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
    }

    public func slot(named name: String) -> ParameterSlot? { index[name].map { slots[$0] } }

    /// Parameters of the main model used for one token: everything but the embedding table rows
    /// not looked up, the routed experts not chosen and the prediction modules.
    public var activeCount: Int {
        let c = config
        let D = c.hiddenSize
        let I = c.moeIntermediateSize
        let perExpert = 3 * D * I
        let unchosen = (c.nRoutedExperts - c.numExpertsPerTok) * perExpert * c.numHiddenLayers
        return mainCount - c.vocabSize * D + D - unchosen
    }

    /// Matrix-product FLOPs per token for a forward pass, excluding attention
    /// scores (2 x active parameters, less the embedding lookup and norms).
    public var forwardFlopsPerToken: Double {
        let c = config
        let D = c.hiddenSize
        let norms = D * (2 * c.numHiddenLayers + 1) + D  // + embedding row
        let biases = c.nRoutedExperts * c.numHiddenLayers
        return 2 * Double(activeCount - norms - biases)
    }
}
