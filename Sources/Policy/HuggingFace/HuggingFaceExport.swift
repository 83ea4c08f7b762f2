// `grpo export`: a policy checkpoint as a folder that transformers'
// AutoModelForCausalLM / AutoTokenizer and vLLM load with no custom code:
//   config.json                       Glm4MoeForCausalLM, or DeepseekV3ForCausalLM under MLA
//                                     (HuggingFaceConfig.exported)
//   generation_config.json            bos, eos, pad
//   model.safetensors                 every tensor under its Hugging Face name, float32 or bfloat16
//                                     (e_score_correction_bias stays float32, as transformers keeps it);
//   or model-0000K-of-0000N.safetensors + model.safetensors.index.json past the shard size limit
//   tokenizer.json, tokenizer_config.json, special_tokens_map.json
//                                     the model's BPE files as they came, or ByteTokenizerFiles
// The folder is written beside its final name and renamed into place, as a checkpoint is.

import Foundation

public enum HuggingFaceExport {
    /// transformers' default shard limit (5 GB).
    public static let defaultMaxShardBytes = 5_000_000_000

    public struct Summary: Sendable {
        /// Every file written, sorted.
        public var files: [String]
        public var shards: Int
        /// Bytes of tensor data.
        public var tensorBytes: Int
        public var dtype: SafetensorsDType
        /// Glm4MoeForCausalLM, or DeepseekV3ForCausalLM under MLA.
        public var architecture: String
        /// "byte tokenizer" or "tokenizer.json (BPE)".
        public var tokenizer: String
    }

    public static func export(
        _ model: Transformer, to directory: URL, dtype: SafetensorsDType = .f32,
        maxShardBytes: Int = defaultMaxShardBytes
    ) throws -> Summary {
        guard dtype != .f16 else { throw PolicyError.invalidArgument("--dtype: float32 or bfloat16") }
        guard maxShardBytes > 0 else { throw PolicyError.invalidArgument("the shard size limit must be positive") }
        let c = model.config
        let config = try HuggingFaceConfig.exported(c, dtype: dtype)
        // The selection bias keeps float32: it decides between scores closer than bfloat16 resolves.
        func storage(_ slot: ParameterSlot) -> SafetensorsDType { slot.kind == .buffer ? .f32 : dtype }

        var shards: [[ParameterSlot]] = [[]]
        var size = 0
        for slot in model.layout.slots {
            let bytes = slot.count * storage(slot).width
            if !shards[shards.count - 1].isEmpty && size + bytes > maxShardBytes {
                shards.append([])
                size = 0
            }
            shards[shards.count - 1].append(slot)
            size += bytes
        }
        let names =
            shards.count == 1
            ? ["model.safetensors"]
            : (1...shards.count).map { String(format: "model-%05d-of-%05d.safetensors", $0, shards.count) }
        var text: [String: Data] = [
            "config.json": HuggingFaceConfig.json(config),
            "generation_config.json": HuggingFaceConfig.json(HuggingFaceConfig.generation(c)),
        ]
        let bpe = TokenizerFiles.files(of: model.tokenizer)
        text.merge(bpe.isEmpty ? ByteTokenizerFiles.files(for: c) : bpe) { a, _ in a }
        let total = model.layout.slots.reduce(0) { $0 + $1.count * storage($1).width }
        if shards.count > 1 {
            var map: [String: String] = [:]
            for (name, shard) in zip(names, shards) { for slot in shard { map[slot.name] = name } }
            text["model.safetensors.index.json"] = HuggingFaceConfig.json(
                ["metadata": ["total_size": total], "weight_map": map] as [String: Any])
        }
        let weights = UnsafePointer(model.parameters.data)
        try Checkpoint.writeDirectory(directory) { folder in
            for (name, data) in text {
                try writeFile(folder.appendingPathComponent(name)) { try $0.write(contentsOf: data) }
            }
            for (name, shard) in zip(names, shards) {
                try Safetensors.write(
                    shard.map { ($0.name, $0.shape, storage($0), weights + $0.offset) },
                    metadata: ["format": "pt"], to: folder.appendingPathComponent(name))
            }
        }
        return Summary(
            files: (Array(text.keys) + names).sorted(), shards: shards.count, tensorBytes: total,
            dtype: dtype, architecture: (config["architectures"] as? [String])?.first ?? "",
            tokenizer: bpe.isEmpty ? "byte tokenizer" : "tokenizer.json (byte-level BPE)")
    }
}
