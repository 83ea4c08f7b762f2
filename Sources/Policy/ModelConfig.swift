// The model's shape, as a Hugging Face `config.json` (DeepSeek-V3 key names
// where a DeepSeek-V3 key exists). Loading rejects unknown keys by name, so a
// typo never silently falls back to a default.

import Foundation
import Kernels
import Support

public struct ModelConfig: Codable, Equatable, Sendable {
    /// Always "swift_grpo_moe": DeepSeek-style MoE, with q/k/v/o attention or MLA (kv_lora_rank).
    public var modelType = "swift_grpo_moe"
    /// Token ids: 256 bytes plus pad, bos, eos (the byte tokenizer's), or a tokenizer.json's.
    public var vocabSize = 259
    /// Model width D.
    public var hiddenSize = 256
    /// Number of transformer blocks.
    public var numHiddenLayers = 4
    /// Attention heads H; head_dim * H must equal hidden_size.
    public var numAttentionHeads = 8
    /// Key/value heads (grouped-query attention): each serves num_attention_heads / num_key_value_heads
    /// query heads. Nil means one per query head (multi-head attention).
    public var numKeyValueHeads: Int?
    /// Width of one head.
    public var headDim = 32
    /// Multi-head latent attention (MLA, DeepSeek-V2/V3) when set: keys and values come from a
    /// kv_lora_rank-wide latent of each position, and the KV cache holds that latent and a small
    /// RoPE key (see LatentAttention). Nil: q/k/v/o attention.
    public var kvLoraRank: Int?
    /// MLA: queries through a q_lora_rank-wide bottleneck when set, else one q_proj.
    public var qLoraRank: Int?
    /// MLA: the widths of a query/key head's part without position (compared through the latent)
    /// and its rotated part (one RoPE key shared by every head), and of a value head.
    public var qkNopeHeadDim: Int?
    public var qkRopeHeadDim: Int?
    public var vHeadDim: Int?
    /// Multi-token prediction (DeepSeek-V3): this many modules after the main model, module k
    /// predicting the token k + 1 places ahead (see MultiTokenPrediction). Trained by SFT's
    /// mtp_loss_weight; the first drafts tokens for self-speculative sampling. Nil or 0: none.
    public var numNextnPredictLayers: Int?
    /// Manifold-constrained hyper-connections (mHC, DeepSeek-V4) when above 1: the residual is this many
    /// streams, collapsed into each sublayer's input and mixed with its output (see HyperConnection).
    /// Nil or 1: one residual stream.
    public var hcMult: Int?
    /// mHC: Sinkhorn-Knopp iterations that make the mixing of the streams doubly stochastic (default 20).
    public var hcSinkhornIters: Int?
    /// mHC: the floor added to the collapse weights and to every Sinkhorn-Knopp divisor (default 1e-6).
    public var hcEps: Float?
    /// Intermediate size I of each routed and shared expert (SwiGLU).
    public var moeIntermediateSize = 256
    /// Routed experts E per layer.
    public var nRoutedExperts = 8
    /// Shared experts per layer (always active).
    public var nSharedExperts = 1
    /// Routed experts chosen per token (top-k).
    public var numExpertsPerTok = 2
    /// Gate values are multiplied by this after normalisation.
    public var routedScalingFactor: Float = 1.0
    /// Router score function: "sigmoid" (DeepSeek-V3) or "softmax".
    public var scoringFunc = "sigmoid"
    /// Normalise the chosen experts' scores to sum to one before scaling.
    public var normTopkProb = true
    /// Weight alpha of the sequence-wise balance loss (0 turns it off).
    public var auxLossAlpha: Float = 0
    /// Step gamma of the auxiliary-loss-free bias update.
    public var biasUpdateSpeed: Float = 1e-3
    public var ropeTheta: Float = 10_000
    public var rmsNormEps: Float = 1e-6
    /// Longest context (prompt + completion).
    public var maxPositionEmbeddings = 512
    /// Standard deviation of the normal initialisation.
    public var initializerRange: Float = 0.02
    public var padTokenId = 256
    public var bosTokenId = 257
    public var eosTokenId = 258
    public var tieWordEmbeddings = false

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim", moeIntermediateSize = "moe_intermediate_size"
        case kvLoraRank = "kv_lora_rank", qLoraRank = "q_lora_rank", qkNopeHeadDim = "qk_nope_head_dim"
        case qkRopeHeadDim = "qk_rope_head_dim", vHeadDim = "v_head_dim"
        case numNextnPredictLayers = "num_nextn_predict_layers"
        case hcMult = "hc_mult", hcSinkhornIters = "hc_sinkhorn_iters", hcEps = "hc_eps"
        case nRoutedExperts = "n_routed_experts", nSharedExperts = "n_shared_experts"
        case numExpertsPerTok = "num_experts_per_tok", routedScalingFactor = "routed_scaling_factor"
        case scoringFunc = "scoring_func", normTopkProb = "norm_topk_prob"
        case auxLossAlpha = "aux_loss_alpha", biasUpdateSpeed = "bias_update_speed"
        case ropeTheta = "rope_theta", rmsNormEps = "rms_norm_eps"
        case maxPositionEmbeddings = "max_position_embeddings"
        case initializerRange = "initializer_range"
        case padTokenId = "pad_token_id", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case tieWordEmbeddings = "tie_word_embeddings"
    }

    /// Every key is optional in the file: a missing one takes the reference ("tiny") value.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func get<T: Decodable>(_ k: CodingKeys, _ d: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? d }
        let d = ModelConfig()
        modelType = try get(.modelType, d.modelType)
        vocabSize = try get(.vocabSize, d.vocabSize)
        hiddenSize = try get(.hiddenSize, d.hiddenSize)
        numHiddenLayers = try get(.numHiddenLayers, d.numHiddenLayers)
        numAttentionHeads = try get(.numAttentionHeads, d.numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads)
        headDim = try get(.headDim, hiddenSize / max(1, numAttentionHeads))
        kvLoraRank = try c.decodeIfPresent(Int.self, forKey: .kvLoraRank)
        qLoraRank = try c.decodeIfPresent(Int.self, forKey: .qLoraRank)
        qkNopeHeadDim = try c.decodeIfPresent(Int.self, forKey: .qkNopeHeadDim)
        qkRopeHeadDim = try c.decodeIfPresent(Int.self, forKey: .qkRopeHeadDim)
        vHeadDim = try c.decodeIfPresent(Int.self, forKey: .vHeadDim)
        numNextnPredictLayers = try c.decodeIfPresent(Int.self, forKey: .numNextnPredictLayers)
        hcMult = try c.decodeIfPresent(Int.self, forKey: .hcMult)
        hcSinkhornIters = try c.decodeIfPresent(Int.self, forKey: .hcSinkhornIters)
        hcEps = try c.decodeIfPresent(Float.self, forKey: .hcEps)
        moeIntermediateSize = try get(.moeIntermediateSize, d.moeIntermediateSize)
        nRoutedExperts = try get(.nRoutedExperts, d.nRoutedExperts)
        nSharedExperts = try get(.nSharedExperts, d.nSharedExperts)
        numExpertsPerTok = try get(.numExpertsPerTok, d.numExpertsPerTok)
        routedScalingFactor = try get(.routedScalingFactor, d.routedScalingFactor)
        scoringFunc = try get(.scoringFunc, d.scoringFunc)
        normTopkProb = try get(.normTopkProb, d.normTopkProb)
        auxLossAlpha = try get(.auxLossAlpha, d.auxLossAlpha)
        biasUpdateSpeed = try get(.biasUpdateSpeed, d.biasUpdateSpeed)
        ropeTheta = try get(.ropeTheta, d.ropeTheta)
        rmsNormEps = try get(.rmsNormEps, d.rmsNormEps)
        maxPositionEmbeddings = try get(.maxPositionEmbeddings, d.maxPositionEmbeddings)
        initializerRange = try get(.initializerRange, d.initializerRange)
        padTokenId = try get(.padTokenId, d.padTokenId)
        bosTokenId = try get(.bosTokenId, d.bosTokenId)
        eosTokenId = try get(.eosTokenId, d.eosTokenId)
        tieWordEmbeddings = try get(.tieWordEmbeddings, d.tieWordEmbeddings)
    }

    /// Reads a config.json, naming the file and the key of any error, and refuses a shape
    /// whose weights alone would not fit in the memory available.
    public static func load(_ url: URL) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PolicyError.missingFile(url.path)
        }
        let config = try decode(data, source: url.path)
        try config.checkMemory(copies: 1, source: url.path)
        return config
    }

    /// Float32 values of a model of this shape, from the shape alone (what ParameterLayout
    /// counts, without building it: a hostile config.json is refused before anything its
    /// size is allocated). A Double: the product of hostile sizes must not overflow.
    public var parameterCount: Double {
        let d = Double(hiddenSize)
        let i = Double(moeIntermediateSize)
        let e = Double(nRoutedExperts)
        let dkv = Double(keyValueHeads) * Double(headDim)  // k and v rows: fewer with grouped-query attention
        let shared = nSharedExperts > 0 ? 3 * i * Double(nSharedExperts) * d : 0
        var attention = 2 * d * d + 2 * dkv * d
        if let latent = latentAttention {
            let h = Double(numAttentionHeads)
            let (qk, r, rope) = (Double(latent.qkDim), Double(latent.rank), Double(latent.ropeDim))
            let q = latent.queryRank.map { Double($0) * (d + 1 + h * qk) } ?? h * qk * d
            attention = q + (r + rope) * d + r + h * Double(latent.nopeDim + latent.valueDim) * r
                + d * h * Double(latent.valueDim)
        }
        var perLayer = 2 * d + attention + e * d + e + e * 3 * i * d + shared
        var head = 0.0
        if let h = hyperConnections {
            let s = Double(h.streams)
            perLayer += 2 * ((2 + s) * s * (s * d + 1) + 3)  // attn_hc and ffn_hc: fn, base, scale
            head = s * (s * d + 1) + 1
        }
        // A prediction module: enorm, hnorm, eh_proj [D, 2D], a layer, shared_head.norm.
        let perModule = 3 * d + 2 * d * d + perLayer
        return 2 * Double(vocabSize) * d + Double(numHiddenLayers) * perLayer + d + head
            + Double(predictionModules) * perModule
    }

    /// Throws, naming the size key furthest above the reference shape, when `copies` float32
    /// copies of the weights (weights, gradients, optimizer moments, ...) exceed the memory
    /// available.
    public func checkMemory(copies: Int, source: String, purpose: String = "the weights") throws {
        let bytes = parameterCount * 4 * Double(copies)
        guard let shortfall = AvailableMemory.shortfall(needing: bytes) else { return }
        throw PolicyError.badConfig(
            file: source, key: largestSizeKey.rawValue,
            message:
                "a model of this shape has \(String(format: "%.3g", parameterCount)) parameters; \(purpose) need "
                + "\(shortfall)")
    }

    /// The size key furthest above its value in the reference ("tiny") shape: the likely typo.
    var largestSizeKey: CodingKeys {
        let weightSizes: Set<CodingKeys> = [
            .vocabSize, .hiddenSize, .numHiddenLayers, .moeIntermediateSize,
            .nRoutedExperts, .nSharedExperts, .hcMult,
        ]
        let ratios = zip(sizes, ModelConfig().sizes).filter { weightSizes.contains($0.0.0) }
            .map { ($0.0.0, Double($0.0.1) / Double(max($0.1.1, 1))) }
        return ratios.max { $0.1 < $1.1 }!.0
    }

    /// Each size key, its value and the largest it may take: far beyond what this CPU trainer
    /// can run, and small enough that products of sizes stay exact in an Int.
    private var sizes: [(CodingKeys, Int, Int)] {
        [
            (.vocabSize, vocabSize, 1 << 22), (.hiddenSize, hiddenSize, 1 << 16),
            (.numHiddenLayers, numHiddenLayers, 1 << 12),
            (.numAttentionHeads, numAttentionHeads, 1 << 12), (.headDim, headDim, 1 << 12),
            (.moeIntermediateSize, moeIntermediateSize, 1 << 18), (.nRoutedExperts, nRoutedExperts, 1 << 12),
            (.nSharedExperts, nSharedExperts, 1 << 6), (.maxPositionEmbeddings, maxPositionEmbeddings, 1 << 20),
            (.kvLoraRank, kvLoraRank ?? 0, 1 << 16), (.qLoraRank, qLoraRank ?? 0, 1 << 16),
            (.qkNopeHeadDim, qkNopeHeadDim ?? 0, 1 << 12), (.qkRopeHeadDim, qkRopeHeadDim ?? 0, 1 << 12),
            (.vHeadDim, vHeadDim ?? 0, 1 << 12), (.numNextnPredictLayers, predictionModules, 1 << 4),
            (.hcMult, hcMult ?? 1, 1 << 8), (.hcSinkhornIters, hcSinkhornIters ?? 0, 1 << 12),
        ]
    }

    public static func decode(_ data: Data, source: String) throws -> ModelConfig {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw PolicyError.badConfig(file: source, key: nil, message: "not a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        // Keys Hugging Face tools add to every config; harmless to us.
        let ignored: Set<String> = ["architectures", "torch_dtype", "transformers_version", "_name_or_path"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) && !ignored.contains($0) }) {
            throw PolicyError.badConfig(file: source, key: unknown, message: "unknown key")
        }
        let config: ModelConfig
        do {
            config = try JSONDecoder().decode(ModelConfig.self, from: data)
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw PolicyError.badConfig(
                file: source, key: ctx.codingPath.last?.stringValue,
                message: "wrong type (expected \(type))")
        } catch {
            // Foundation names no key for some errors (a fraction or an out-of-range integer where a
            // whole number goes): decoding one key at a time finds it.
            let culprit = object.keys.sorted().first { key in
                guard let one = try? JSONSerialization.data(withJSONObject: [key: object[key]!]) else { return true }
                return (try? JSONDecoder().decode(ModelConfig.self, from: one)) == nil
            }
            let given = culprit.map { "\(object[$0]!)" } ?? ""
            throw PolicyError.badConfig(
                file: source, key: culprit,
                message: culprit == nil
                    ? "\(error)"
                    : "\(given) is not a valid value here "
                        + "(a whole number, a number, true/false or text, as the key says)"
            )
        }
        try config.validate(source: source)
        return config
    }

    public func encoded() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try! e.encode(self)
    }

    public func validate(source: String = "config") throws {
        func fail(_ k: CodingKeys, _ m: String) -> PolicyError { .badConfig(file: source, key: k.rawValue, message: m) }
        guard modelType == "swift_grpo_moe" else {
            throw fail(.modelType, "expected \"swift_grpo_moe\", got \"\(modelType)\"")
        }
        guard vocabSize > 0 else { throw fail(.vocabSize, "must be positive") }
        for (key, value, bound) in sizes {
            guard value <= bound else {
                throw fail(key, "\(value) is beyond the largest this trainer takes (\(bound))")
            }
        }
        for (key, value) in [
            (CodingKeys.routedScalingFactor, routedScalingFactor), (.auxLossAlpha, auxLossAlpha),
            (.biasUpdateSpeed, biasUpdateSpeed), (.ropeTheta, ropeTheta), (.rmsNormEps, rmsNormEps),
            (.initializerRange, initializerRange),
        ] {
            guard value.isFinite else { throw fail(key, "must be a finite number, not \(value)") }
        }
        guard hiddenSize > 0 else { throw fail(.hiddenSize, "must be positive") }
        guard numHiddenLayers > 0 else { throw fail(.numHiddenLayers, "must be positive") }
        guard numAttentionHeads > 0 else { throw fail(.numAttentionHeads, "must be positive") }
        try validateLatent(fail)
        guard predictionModules >= 0 else { throw fail(.numNextnPredictLayers, "must be 0 or more") }
        try validateHyperConnections(fail)
        guard predictionModules == 0 || hyperConnections == nil else {
            throw fail(
                .numNextnPredictLayers, "multi-token prediction is not supported with hyper-connections (hc_mult > 1)")
        }
        guard latentAttention != nil || numAttentionHeads * headDim == hiddenSize else {
            throw fail(
                .numAttentionHeads,
                "num_attention_heads * head_dim (\(numAttentionHeads) * \(headDim)) must equal hidden_size "
                    + "\(hiddenSize)"
            )
        }
        if let kv = numKeyValueHeads, kv <= 0 || numAttentionHeads % kv != 0 {
            throw fail(.numKeyValueHeads, "must be positive and divide num_attention_heads (\(numAttentionHeads))")
        }
        guard latentAttention != nil || (headDim > 0 && headDim % 2 == 0) else {
            throw fail(.headDim, "must be positive and even (RoPE rotates pairs)")
        }
        guard moeIntermediateSize > 0 else { throw fail(.moeIntermediateSize, "must be positive") }
        guard nRoutedExperts >= 0, nSharedExperts >= 0, nRoutedExperts + nSharedExperts > 0 else {
            throw fail(.nRoutedExperts, "need at least one routed or shared expert")
        }
        guard nRoutedExperts == 0 || (1...nRoutedExperts).contains(numExpertsPerTok) else {
            throw fail(.numExpertsPerTok, "must be between 1 and n_routed_experts (\(nRoutedExperts))")
        }
        guard scoringFunc == "sigmoid" || scoringFunc == "softmax" else {
            throw fail(.scoringFunc, "must be \"sigmoid\" or \"softmax\"")
        }
        guard routedScalingFactor > 0 else { throw fail(.routedScalingFactor, "must be positive") }
        guard auxLossAlpha >= 0 else { throw fail(.auxLossAlpha, "must be >= 0") }
        guard rmsNormEps > 0 else { throw fail(.rmsNormEps, "must be positive") }
        guard maxPositionEmbeddings > 0 else { throw fail(.maxPositionEmbeddings, "must be positive") }
        // The byte tokenizer further needs them at 256 and above (ByteTokenizer.validate).
        for (k, v) in [(CodingKeys.padTokenId, padTokenId), (.bosTokenId, bosTokenId), (.eosTokenId, eosTokenId)] {
            guard (0..<vocabSize).contains(v) else { throw fail(k, "must be a token id in 0..<vocab_size") }
        }
        guard !tieWordEmbeddings else { throw fail(.tieWordEmbeddings, "tied embeddings are not supported") }
    }

    /// A named shape shipped with the package (Sources/Policy/Shapes/NAME.json).
    public static func named(_ name: String) throws -> ModelConfig {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Shapes") else {
            let names = shapeNames.joined(separator: ", ")
            throw PolicyError.badConfig(
                file: "--shape", key: nil, message: "unknown shape \"\(name)\" (known: \(names))")
        }
        return try load(url)
    }

    public static var shapeNames: [String] {
        guard let dir = Bundle.module.url(forResource: "Shapes", withExtension: nil),
            let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path)
        else { return [] }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    public var isSigmoid: Bool { scoringFunc == "sigmoid" }

    /// The MLA widths, when kv_lora_rank is set.
    public struct Latent: Equatable, Sendable {
        /// kv_lora_rank r, q_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim.
        public var rank: Int, queryRank: Int?, nopeDim: Int, ropeDim: Int, valueDim: Int
        /// A query/key head's width: qk_nope_head_dim + qk_rope_head_dim (the scores' scale is its root).
        public var qkDim: Int { nopeDim + ropeDim }
        /// What attention compares once the key projection is folded into the queries: the latent and
        /// the RoPE key, r + qk_rope_head_dim. The KV cache holds this much per position and layer.
        public var keyWidth: Int { rank + ropeDim }
    }

    public var latentAttention: Latent? {
        guard let r = kvLoraRank else { return nil }
        return Latent(
            rank: r, queryRank: qLoraRank, nopeDim: qkNopeHeadDim ?? 0, ropeDim: qkRopeHeadDim ?? 0,
            valueDim: vHeadDim ?? 0)
    }

    /// Width of the attention's output (o_proj's input): H * v_head_dim under MLA, else D.
    public var attentionWidth: Int { latentAttention.map { numAttentionHeads * $0.valueDim } ?? hiddenSize }

    /// Width RoPE rotates: qk_rope_head_dim under MLA, else head_dim.
    public var ropeWidth: Int { latentAttention?.ropeDim ?? headDim }

    /// Floats the KV cache keeps per position and layer: the latent and the RoPE key under MLA,
    /// else keys and values of every key/value head.
    public var cacheWidth: Int { latentAttention?.keyWidth ?? 2 * keyValueWidth }

    private func validateLatent(_ fail: (CodingKeys, String) -> PolicyError) throws {
        guard let r = kvLoraRank else {
            let stray: [(CodingKeys, Int?)] = [
                (.qLoraRank, qLoraRank), (.qkNopeHeadDim, qkNopeHeadDim), (.qkRopeHeadDim, qkRopeHeadDim),
                (.vHeadDim, vHeadDim),
            ]
            if let key = stray.first(where: { $0.1 != nil })?.0 {
                throw fail(key, "is a setting of multi-head latent attention: set kv_lora_rank too")
            }
            return
        }
        guard r > 0 else { throw fail(.kvLoraRank, "must be positive") }
        if let q = qLoraRank, q <= 0 { throw fail(.qLoraRank, "must be positive (or null: one q_proj)") }
        guard let rope = qkRopeHeadDim, rope > 0, rope % 2 == 0 else {
            throw fail(.qkRopeHeadDim, "must be set, positive and even with kv_lora_rank (RoPE rotates pairs)")
        }
        guard (qkNopeHeadDim ?? -1) >= 0 else {
            throw fail(.qkNopeHeadDim, "must be set (0 or more) with kv_lora_rank")
        }
        guard let v = vHeadDim, v > 0 else { throw fail(.vHeadDim, "must be set and positive with kv_lora_rank") }
        if let kv = numKeyValueHeads, kv != numAttentionHeads {
            throw fail(
                .numKeyValueHeads,
                "multi-head latent attention shares one latent across all heads; leave it out or set it to "
                    + "num_attention_heads")
        }
    }

    /// Multi-token prediction modules (num_nextn_predict_layers; 0 when unset).
    public var predictionModules: Int { numNextnPredictLayers ?? 0 }

    /// The mHC settings, when hc_mult is above 1.
    public struct HyperConnections: Equatable, Sendable {
        /// hc_mult S, hc_sinkhorn_iters, hc_eps.
        public var streams: Int, sinkhornIterations: Int, eps: Float
        public init(streams: Int, sinkhornIterations: Int, eps: Float) {
            (self.streams, self.sinkhornIterations, self.eps) = (streams, sinkhornIterations, eps)
        }
    }

    /// Defaults as transformers' DeepseekV4Config's.
    public var hyperConnections: HyperConnections? {
        guard let s = hcMult, s > 1 else { return nil }
        return HyperConnections(streams: s, sinkhornIterations: hcSinkhornIters ?? 20, eps: hcEps ?? 1e-6)
    }

    private func validateHyperConnections(_ fail: (CodingKeys, String) -> PolicyError) throws {
        if let s = hcMult, s < 1 { throw fail(.hcMult, "must be 1 (one residual stream) or more") }
        guard hyperConnections != nil else {
            let stray: [(CodingKeys, Bool)] = [(.hcSinkhornIters, hcSinkhornIters != nil), (.hcEps, hcEps != nil)]
            if let key = stray.first(where: \.1)?.0 {
                throw fail(key, "is a setting of hyper-connections (mHC): set hc_mult above 1 too")
            }
            return
        }
        if let n = hcSinkhornIters, n < 1 { throw fail(.hcSinkhornIters, "must be 1 or more") }
        if let e = hcEps, !(e.isFinite && e > 0) {
            // A softmax row can underflow to zero in a column: eps keeps every Sinkhorn-Knopp divisor positive.
            throw fail(.hcEps, "must be a positive finite number, not \(e)")
        }
    }

    /// Key/value heads Hkv (num_attention_heads when the config leaves it out).
    public var keyValueHeads: Int { numKeyValueHeads ?? numAttentionHeads }
    /// Width of the keys (and of the values) of one position: Hkv * head_dim.
    public var keyValueWidth: Int { keyValueHeads * headDim }
    /// Width of one row of the fused q/k/v projection: [q (D) | k (Hkv*hd) | v (Hkv*hd)].
    public var qkvWidth: Int { hiddenSize + 2 * keyValueWidth }
}
