// The policy's shape as a transformers `Glm4MoeForCausalLM` config.json (or,
// with multi-head latent attention, `DeepseekV3ForCausalLM`), and back.
// Glm4Moe is the policy's architecture exactly: a sigmoid router whose
// e_score_correction_bias only chooses, gates from the unbiased scores,
// norm_topk_prob, routed_scaling_factor, shared experts of
// moe_intermediate_size * n_shared_experts, plain q/k/v/o projections, RoPE
// in the rotate-half layout (both apply it to the first and second halves of
// a head, so no q/k row is permuted). Exporting states every setting whose
// transformers or vLLM default differs from the policy (partial_rotary_factor
// defaults to 0.5, first_k_dense_replace to 1, ...). Importing maps a Glm4Moe
// or DeepSeek-V3-style config onto ModelConfig and refuses, by key, every
// setting the policy cannot honour rather than train something else.
// DeepseekV3 is the same MoE with MLA for attention; its RoPE rotates
// interleaved pairs unless rope_interleave is false, which an export states
// (an import permutes the rotated rows of an interleaved checkpoint instead).

import Foundation

public enum HuggingFaceConfig {
    /// Model types `grpo import` reads.
    public static let importableTypes = ["glm4_moe", "deepseek_v3"]

    /// config.json for the architecture of this shape: Glm4Moe, or DeepseekV3 under MLA.
    public static func exported(_ c: ModelConfig, dtype: SafetensorsDType) throws -> [String: Any] {
        c.latentAttention == nil ? try glm4Moe(c, dtype: dtype) : try deepseekV3(c, dtype: dtype)
    }

    /// config.json for `DeepseekV3ForCausalLM`: a shape with multi-head latent attention.
    public static func deepseekV3(_ c: ModelConfig, dtype: SafetensorsDType) throws -> [String: Any] {
        guard let m = c.latentAttention else {
            throw PolicyError.badConfig(
                file: "config.json", key: ModelConfig.CodingKeys.kvLoraRank.rawValue,
                message: "DeepseekV3's attention is MLA: kv_lora_rank must be set")
        }
        var o = try glm4Moe(c, dtype: dtype)
        // Glm4Moe's keys that DeepseekV3 does not have; its head_dim is qk_rope_head_dim, set by transformers.
        for key in ["use_qk_norm", "partial_rotary_factor", "head_dim"] { o[key] = nil }
        o["architectures"] = ["DeepseekV3ForCausalLM"]
        o["model_type"] = "deepseek_v3"
        o["num_key_value_heads"] = c.numAttentionHeads
        o["rope_parameters"] = ["rope_type": "default", "rope_theta": decimal(c.ropeTheta)] as [String: Any]
        o["rope_interleave"] = false
        o["kv_lora_rank"] = m.rank
        o["q_lora_rank"] = m.queryRank.map { $0 as Any } ?? NSNull()
        o["qk_nope_head_dim"] = m.nopeDim
        o["qk_rope_head_dim"] = m.ropeDim
        o["v_head_dim"] = m.valueDim
        o["pretraining_tp"] = 1
        return o
    }

    /// config.json for `Glm4MoeForCausalLM`. Throws where the policy has no Glm4Moe equivalent.
    public static func glm4Moe(_ c: ModelConfig, dtype: SafetensorsDType) throws -> [String: Any] {
        func fail(_ key: ModelConfig.CodingKeys, _ message: String) -> PolicyError {
            .badConfig(file: "config.json", key: key.rawValue, message: message)
        }
        guard c.hyperConnections == nil else {
            throw fail(
                .hcMult, "\(c.hcMult!) residual streams (mHC): neither Glm4Moe nor DeepseekV3 has hyper-connections")
        }
        guard c.isSigmoid else {
            throw fail(.scoringFunc, "\"\(c.scoringFunc)\": the router of Glm4Moe and DeepseekV3 is sigmoid")
        }
        // Glm4Moe sums each group's two best scores, so it needs two routed experts at least.
        guard c.nRoutedExperts >= 2 else { throw fail(.nRoutedExperts, "Glm4Moe needs at least 2 routed experts") }
        guard c.nSharedExperts >= 1 else { throw fail(.nSharedExperts, "Glm4Moe always has a shared expert") }
        let rope: [String: Any] = [
            "rope_type": "default", "rope_theta": decimal(c.ropeTheta),
            "partial_rotary_factor": 1.0,
        ]
        let torchType = dtype == .bf16 ? "bfloat16" : dtype == .f16 ? "float16" : "float32"
        return [
            "architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe",
            "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize, "num_hidden_layers": c.numHiddenLayers,
            "num_attention_heads": c.numAttentionHeads, "num_key_value_heads": c.keyValueHeads, "head_dim": c.headDim,
            // The size of dense MLP layers, of which there are none (first_k_dense_replace 0).
            "intermediate_size": c.moeIntermediateSize, "moe_intermediate_size": c.moeIntermediateSize,
            "n_routed_experts": c.nRoutedExperts, "n_shared_experts": c.nSharedExperts,
            "num_experts_per_tok": c.numExpertsPerTok, "routed_scaling_factor": decimal(c.routedScalingFactor),
            "norm_topk_prob": c.normTopkProb, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 0,
            "num_nextn_predict_layers": c.predictionModules, "use_qk_norm": false, "attention_bias": false,
            "attention_dropout": 0.0,
            "hidden_act": "silu",
            // Both spellings: transformers 5 reads rope_parameters, vLLM and older transformers the top-level keys.
            "partial_rotary_factor": 1.0, "rope_theta": decimal(c.ropeTheta), "rope_scaling": NSNull(),
            "rope_parameters": rope,
            "rms_norm_eps": decimal(c.rmsNormEps), "max_position_embeddings": c.maxPositionEmbeddings,
            "initializer_range": decimal(c.initializerRange), "tie_word_embeddings": false,
            "pad_token_id": c.padTokenId, "bos_token_id": c.bosTokenId, "eos_token_id": c.eosTokenId,
            "use_cache": true, "dtype": torchType, "torch_dtype": torchType,
            // Training settings of this policy, kept for a round trip (transformers ignores them).
            "scoring_func": "sigmoid", "topk_method": "noaux_tc", "aux_loss_alpha": decimal(c.auxLossAlpha),
            "bias_update_speed": decimal(c.biasUpdateSpeed),
        ]
    }

    /// A JSON file's bytes: keys sorted (the same object always gives the same file), and every
    /// Double written with a decimal point or exponent, because transformers' typed configs refuse
    /// `1` where they expect a float (JSONSerialization writes 1.0 as `1`). Takes the values these
    /// files hold: String, Int, Double, Bool, NSNull, lists and string-keyed maps of them.
    static func json(_ object: Any) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        func write(_ v: Any, _ indent: String, into out: inout String) {
            let inner = indent + "  "
            switch v {
            case let s as String:
                out += String(decoding: (try? encoder.encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
            case let b as Bool where type(of: v) == Bool.self: out += b ? "true" : "false"
            case let i as Int where type(of: v) == Int.self: out += String(i)
            case let d as Double: out += d.isFinite ? "\(d)" : "null"
            case let list as [Any]:
                guard !list.isEmpty else {
                    out += "[]"
                    return
                }
                out += "[\n"
                for (k, item) in list.enumerated() {
                    out += inner
                    write(item, inner, into: &out)
                    out += k + 1 < list.count ? ",\n" : "\n"
                }
                out += indent + "]"
            case let map as [String: Any]:
                guard !map.isEmpty else {
                    out += "{}"
                    return
                }
                out += "{\n"
                for (k, key) in map.keys.sorted().enumerated() {
                    out += inner
                    write(key, inner, into: &out)
                    out += ": "
                    write(map[key]!, inner, into: &out)
                    out += k + 1 < map.count ? ",\n" : "\n"
                }
                out += indent + "}"
            default: out += "null"  // NSNull
            }
        }
        var text = ""
        write(object, "", into: &text)
        return Data((text + "\n").utf8)
    }

    /// A Float setting as the decimal it was written as (1e-6, not 9.99999997e-07).
    static func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// generation_config.json: how a completion ends and what pads a batch.
    public static func generation(_ c: ModelConfig) -> [String: Any] {
        ["bos_token_id": c.bosTokenId, "eos_token_id": c.eosTokenId, "pad_token_id": c.padTokenId]
    }

    /// What `grpo import` took from a config.json.
    public struct Imported: Sendable {
        public var config: ModelConfig
        /// Layers past num_hidden_layers (multi-token prediction) whose tensors are left out.
        public var extraLayers: Int
        /// q and k rotate interleaved pairs (2i, 2i+1) rather than halves (i, i + hd/2): the import
        /// permutes their rows (under MLA, those of q_pe and k_pe) into the policy's layout.
        public var ropeInterleaved: Bool
        /// What was mapped with a consequence a user should know.
        public var notes: [String]
    }

    /// Maps a Glm4Moe or DeepSeek-V3-style config.json (transformers' defaults for missing keys)
    /// onto ModelConfig, refusing by key every setting the policy cannot honour.
    public static func imported(_ o: [String: Any], source: String) throws -> Imported {
        var reader = KeyReader(object: o, source: source)
        let type: String = try reader.value("model_type", default: "")
        guard importableTypes.contains(type) else {
            throw reader.fail(
                "model_type",
                "\"\(type)\" is not supported (glm4_moe or deepseek_v3)")
        }
        var notes: [String] = []
        var c = ModelConfig()
        c.vocabSize = try reader.required("vocab_size")
        c.hiddenSize = try reader.required("hidden_size")
        c.numHiddenLayers = try reader.required("num_hidden_layers")
        c.numAttentionHeads = try reader.required("num_attention_heads")
        c.moeIntermediateSize = try reader.required("moe_intermediate_size")
        c.nRoutedExperts = try reader.required("n_routed_experts")
        c.numExpertsPerTok = try reader.required("num_experts_per_tok")
        // transformers' Glm4MoeConfig defaults to 8 key/value heads.
        let kvHeads: Int = try reader.value(
            "num_key_value_heads",
            default: type == "glm4_moe" ? 8 : c.numAttentionHeads)
        c.numKeyValueHeads = kvHeads == c.numAttentionHeads ? nil : kvHeads
        // DeepSeek-V3's attention is multi-head latent attention unless kv_lora_rank is stated null.
        if type == "deepseek_v3" && (o["kv_lora_rank"] == nil || reader.isSet("kv_lora_rank")) {
            c.kvLoraRank = try reader.value("kv_lora_rank", default: 512)
            c.qLoraRank = o["q_lora_rank"] == nil ? 1536 : try reader.optional("q_lora_rank")
            c.qkNopeHeadDim = try reader.value("qk_nope_head_dim", default: 128)
            c.qkRopeHeadDim = try reader.value("qk_rope_head_dim", default: 64)
            c.vHeadDim = try reader.value("v_head_dim", default: 128)
            // transformers writes head_dim = qk_rope_head_dim and qk_head_dim = qk_nope + qk_rope;
            // the policy's head_dim is unused under MLA.
            let rope = c.qkRopeHeadDim!
            let qk = c.qkNopeHeadDim! + rope
            for (key, expected, what) in [("head_dim", rope, "qk_rope_head_dim"), ("qk_head_dim", qk, "their sum")] {
                let stated: Int? = try reader.optional(key)
                if let stated, stated != expected {
                    throw reader.fail(key, "\(stated) differs from \(what), \(expected)")
                }
            }
        }
        c.headDim = try reader.value("head_dim", default: c.hiddenSize / max(1, c.numAttentionHeads))
        if c.kvLoraRank != nil { c.headDim = c.hiddenSize / max(1, c.numAttentionHeads) }  // unused under MLA
        guard c.kvLoraRank != nil || c.headDim * c.numAttentionHeads == c.hiddenSize else {
            throw reader.fail(
                "head_dim",
                "num_attention_heads * head_dim (\(c.numAttentionHeads) * \(c.headDim)) "
                    + "differs from hidden_size \(c.hiddenSize) (the policy's attention output is that wide)")
        }
        c.nSharedExperts = try reader.value("n_shared_experts", default: 1)
        c.routedScalingFactor = Float(try reader.value("routed_scaling_factor", default: 1.0))
        c.normTopkProb = try reader.value("norm_topk_prob", default: true)
        c.rmsNormEps = Float(try reader.value("rms_norm_eps", default: 1e-5))
        c.maxPositionEmbeddings = try reader.value("max_position_embeddings", default: 131_072)
        c.initializerRange = Float(try reader.value("initializer_range", default: 0.02))
        c.auxLossAlpha = Float(try reader.value("aux_loss_alpha", default: 0.0))
        c.biasUpdateSpeed = Float(try reader.value("bias_update_speed", default: Double(ModelConfig().biasUpdateSpeed)))

        // Settings the policy cannot honour, each refused by its key.
        try reader.require(
            "scoring_func", default: "sigmoid", equals: "sigmoid",
            "transformers routes with sigmoid scores")
        if c.kvLoraRank == nil {
            let latentKeys = ["kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"]
            if let key = latentKeys.first(where: { reader.isSet($0) }) {
                throw reader.fail(
                    key, "a setting of multi-head latent attention (deepseek_v3 with kv_lora_rank), not on here")
            }
        }
        try reader.require("use_qk_norm", default: false, equals: false, "QK-norm is not supported")
        try reader.require("attention_bias", default: false, equals: false, "q/k/v biases are not supported")
        try reader.require("hidden_act", default: "silu", equals: "silu", "the experts are SwiGLU (silu)")
        try reader.require("tie_word_embeddings", default: false, equals: false, "tied embeddings are not supported")
        try reader.require(
            "first_k_dense_replace", default: 1, equals: 0,
            "dense first layers are not supported; every layer of the policy is MoE")
        try reader.require("moe_layer_freq", default: 1, equals: 1, "dense layers between MoE layers are not supported")
        try reader.require(
            "decoder_sparse_step", default: 1, equals: 1,
            "dense layers between MoE layers are not supported")
        try reader.require("pretraining_tp", default: 1, equals: 1, "tensor-parallel slicing is not supported")
        let dropout: Double = try reader.value("attention_dropout", default: 0.0)
        guard dropout == 0 else { throw reader.fail("attention_dropout", "dropout is not supported") }
        let layerTypes: [String] = try reader.value("mlp_layer_types", default: [])
        if layerTypes.contains(where: { $0 != "sparse" }) {
            throw reader.fail("mlp_layer_types", "dense layers are not supported; every layer of the policy is MoE")
        }
        if !reader.isNull("sliding_window") {
            throw reader.fail("sliding_window", "sliding-window attention is not supported")
        }
        if !reader.isNull("quantization_config") {
            throw reader.fail("quantization_config", "quantized weights are not supported (float32, bfloat16, float16)")
        }
        let groups: Int = try reader.value("n_group", default: 1)
        let topkGroup: Int = try reader.value("topk_group", default: 1)
        // With every group kept, choosing groups first changes nothing.
        guard topkGroup >= groups else {
            throw reader.fail("topk_group", "group-limited routing (\(topkGroup) of \(groups) groups) is not supported")
        }

        // RoPE: rope_parameters (transformers 5) or the top-level keys; Glm4Moe rotates half a head unless told.
        let rope: [String: Any] = try reader.optional("rope_parameters") ?? [:]
        if let scaling: [String: Any] = try reader.optional("rope_scaling"), !scaling.isEmpty {
            throw reader.fail("rope_scaling", "RoPE scaling is not supported")
        }
        let ropeType = rope["rope_type"] as? String ?? rope["type"] as? String ?? "default"
        guard ropeType == "default" else {
            throw reader.fail("rope_parameters.rope_type", "\"\(ropeType)\" is not supported")
        }
        // Each may be in rope_parameters, at the top level (older files) or both (`grpo export`'s).
        func ropeSetting(_ key: String, default d: Double) throws -> Double {
            let top: Double? = try reader.optional(key)
            let nested = (rope[key] as? NSNumber)?.doubleValue
            if let top, let nested, top != nested {
                throw reader.fail(key, "\(top) differs from rope_parameters.\(key) \(nested)")
            }
            return nested ?? top ?? d
        }
        c.ropeTheta = Float(try ropeSetting("rope_theta", default: 10_000))
        // transformers' DeepseekV3 rotates interleaved pairs unless told otherwise.
        let interleaved: Bool = try reader.value("rope_interleave", default: type == "deepseek_v3")
        if interleaved { notes.append("rope_interleave: q and k rows permuted to the rotate-half layout") }
        let partial = try ropeSetting("partial_rotary_factor", default: type == "glm4_moe" ? 0.5 : 1.0)
        guard partial == 1 else {
            throw reader.fail(
                "partial_rotary_factor",
                "\(partial): partial rotary embedding is not supported "
                    + "(Glm4Moe's default is 0.5; the policy rotates whole heads)")
        }
        // Special ids.
        let eosIds: [Int]
        if let list: [Int] = try? reader.value("eos_token_id", default: [Int]()) {
            eosIds = list
        } else {
            eosIds = [try reader.required("eos_token_id") as Int]
        }
        guard let eos = eosIds.first else {
            throw reader.fail("eos_token_id", "missing; the policy ends a completion on it")
        }
        guard Set(eosIds).count == 1 else {
            throw reader.fail("eos_token_id", "\(eosIds.count) ids; the policy ends a completion on one")
        }
        c.eosTokenId = eos
        guard let bos: Int = try reader.optional("bos_token_id") else {
            throw reader.fail("bos_token_id", "missing; the policy puts bos before every prompt")
        }
        c.bosTokenId = bos
        if let pad: Int = try reader.optional("pad_token_id") {
            c.padTokenId = pad
        } else {
            c.padTokenId = eos
            notes.append("pad_token_id absent: eos (\(eos)) pads batches")
        }

        let nextn: Int? = try reader.optional("num_nextn_predict_layers")
        let mtp: Int = try nextn ?? reader.optional("num_mtp_layers") ?? 0
        if mtp > 0 {
            notes.append("\(mtp) multi-token-prediction layer(s) left out (transformers does not run them either)")
        }

        // Keys with no effect on the policy's computation.
        reader.ignore([
            "architectures", "transformers_version", "torch_dtype", "dtype", "use_cache", "_name_or_path",
            "output_router_logits", "router_aux_loss_coef", "topk_method", "seq_aux", "ep_size",
            "intermediate_size", "num_experts", "output_attentions", "output_hidden_states", "return_dict",
        ])
        if let unknown = reader.unread.first {
            throw reader.fail(unknown, "unknown setting; refusing rather than guessing what it changes")
        }
        try c.validate(source: source)
        return Imported(config: c, extraLayers: mtp, ropeInterleaved: interleaved, notes: notes)
    }
}

/// Typed reads of a config.json object that remember which keys were read.
private struct KeyReader {
    let object: [String: Any]
    let source: String
    private(set) var read = Set<String>()

    init(object: [String: Any], source: String) {
        self.object = object
        self.source = source
    }

    var unread: [String] { object.keys.filter { !read.contains($0) }.sorted() }

    func fail(_ key: String, _ message: String) -> PolicyError { .badConfig(file: source, key: key, message: message) }

    mutating func ignore(_ keys: [String]) { read.formUnion(keys) }

    /// Present with a value other than null.
    mutating func isSet(_ key: String) -> Bool {
        read.insert(key)
        return !isNull(key)
    }

    func isNull(_ key: String) -> Bool { object[key] == nil || object[key] is NSNull }

    mutating func optional<T>(_ key: String) throws -> T? {
        read.insert(key)
        guard let raw = object[key], !(raw is NSNull) else { return nil }
        guard let v = Self.cast(raw, to: T.self) else { throw fail(key, "wrong type (\(type(of: raw)))") }
        return v
    }

    mutating func value<T>(_ key: String, default d: T) throws -> T { try optional(key) ?? d }

    mutating func required<T>(_ key: String) throws -> T {
        guard let v: T = try optional(key) else { throw fail(key, "missing") }
        return v
    }

    /// Throws `message` unless the key (or its default) equals `expected`.
    mutating func require<T: Equatable>(_ key: String, default d: T, equals expected: T, _ message: String) throws {
        let v: T = try value(key, default: d)
        guard v == expected else { throw fail(key, "\(v): \(message)") }
    }

    /// JSON numbers and booleans both reach Swift as NSNumber, which casts to Int, Double and Bool
    /// alike: a boolean is told apart by its Objective-C type code, "c".
    private static func cast<T>(_ raw: Any, to: T.Type) -> T? {
        let number = raw as? NSNumber
        let isBoolean = number.map { String(cString: $0.objCType) == "c" } ?? (raw is Bool)
        if T.self == Bool.self { return isBoolean ? number?.boolValue as? T ?? raw as? T : nil }
        if T.self == Int.self {
            guard !isBoolean, let n = number, n.doubleValue == n.doubleValue.rounded() else { return nil }
            return n.intValue as? T
        }
        if T.self == Double.self { return isBoolean ? nil : number?.doubleValue as? T }
        return raw as? T
    }
}
