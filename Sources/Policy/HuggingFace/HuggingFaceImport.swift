// `grpo import`: a Hugging Face folder of the policy's family into a policy
// checkpoint. Reads config.json (HuggingFaceConfig.imported maps it and
// refuses what the policy cannot honour), the weights from model.safetensors
// or the shards model.safetensors.index.json lists (float32, bfloat16 or
// float16, widened to float32 exactly), and the tokenizer: a tokenizer.json
// that encodes as the byte tokenizer becomes the byte tokenizer, any other is
// kept as byte-level BPE (TokenizerJSON refuses what it cannot follow).
// Experts are read per expert (mlp.experts.M.gate_proj.weight, as checkpoints
// on the Hub and transformers' save_pretrained write them) or fused
// (mlp.experts.gate_up_proj [E, 2I, D], mlp.experts.down_proj [E, D, I]).
// Every tensor of the folder must find its place, except rotary tables and
// multi-token-prediction layers past num_hidden_layers. A DeepseekV3 folder
// (multi-head latent attention) reads the same way: its tensor names are the
// policy's under MLA.

import Foundation

public enum HuggingFaceImport {
    public struct Summary: Sendable {
        public var config: ModelConfig
        /// Tensors read, and the files they came from.
        public var tensors: Int
        public var files: Int
        /// Stored dtypes found (F32, BF16, F16).
        public var dtypes: [String]
        /// "byte tokenizer", or a description of the BPE tokenizer kept.
        public var tokenizer: String
        public var notes: [String]
    }

    /// Reads `directory` into a model (with its tokenizer).
    public static func load(from directory: URL) throws -> (model: Transformer, summary: Summary) {
        let configURL = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw PolicyError.missingFile(configURL.path)
        }
        guard let data = try? Data(contentsOf: configURL),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else {
            throw PolicyError.badConfig(file: configURL.path, key: nil, message: "not a JSON object")
        }
        let imported = try HuggingFaceConfig.imported(object, source: configURL.path)
        var config = imported.config
        var notes = imported.notes
        let weights = try WeightFiles(directory: directory)
        // Multi-token prediction modules come along when the folder holds them (DeepSeek's own
        // checkpoints and this project's exports do; transformers drops them when it saves).
        if imported.extraLayers > 0, weights.count(of: "model.layers.\(config.numHiddenLayers).eh_proj.weight") > 0 {
            config.numNextnPredictLayers = imported.extraLayers
            notes.removeAll { $0.contains("multi-token-prediction") }
            notes.append("\(imported.extraLayers) multi-token prediction module(s) kept (num_nextn_predict_layers)")
        }
        let model = Transformer(config: config)
        var used = Set<String>()
        var zeroed = 0
        let p = model.parameters.data
        for slot in model.layout.slots {
            if try weights.read(slot.name, shape: slot.shape, into: p + slot.offset) {
                used.insert(slot.name)
            } else if let fused = try readFused(slot, weights: weights, into: p + slot.offset) {
                used.insert(fused)
            } else if slot.kind == .buffer {
                // transformers starts a missing selection bias at zero as well.
                (p + slot.offset).update(repeating: 0, count: slot.count)
                zeroed += 1
            } else {
                throw PolicyError.badCheckpoint(file: directory.path, tensor: slot.name, message: "missing")
            }
        }
        if zeroed > 0 { notes.append("e_score_correction_bias absent in \(zeroed) layer(s): zeros") }
        let leftover = weights.names.filter { name in
            let extraLayer =
                imported.extraLayers > 0
                && layerIndex(of: name).map { $0 >= config.numHiddenLayers } == true
            let emptyShared =
                config.nSharedExperts == 0 && name.contains(".mlp.shared_experts.")
                && weights.count(of: name) == 0
            return !used.contains(name) && !name.hasSuffix("rotary_emb.inv_freq") && !extraLayer && !emptyShared
        }
        if let extra = leftover.sorted().first {
            throw PolicyError.badCheckpoint(
                file: weights.file(of: extra), tensor: extra,
                message: "not part of the policy (a setting config.json does not state?)")
        }
        if imported.ropeInterleaved { permuteInterleavedRows(model) }
        model.tokenizer = try tokenizer(in: directory, config: config)
        let kind =
            (model.tokenizer as? BPETokenizer).map { "byte-level BPE from tokenizer.json (\($0.vocabSize) ids)" }
            ?? "byte tokenizer"
        let summary = Summary(
            config: config, tensors: used.count, files: weights.fileCount, dtypes: weights.dtypes,
            tokenizer: kind, notes: notes)
        return (model, summary)
    }

    /// Imports `source` and saves the policy checkpoint at `destination`.
    @discardableResult
    public static func run(from source: URL, to destination: URL) throws -> Summary {
        let (model, summary) = try load(from: source)
        try Checkpoint.save(to: destination, model: model)
        return summary
    }

    /// The tokenizer of an imported folder.
    static func tokenizer(in directory: URL, config: ModelConfig) throws -> any Tokenizer {
        let json = directory.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: json.path) else {
            let source = directory.appendingPathComponent("config.json").path
            do { try ByteTokenizer.validate(config, source: source) } catch {
                throw PolicyError.badConfig(
                    file: json.path, key: nil,
                    message: "missing, and the byte tokenizer does not fit: \(error)")
            }
            return ByteTokenizer(config: config)
        }
        let tokenizer = try TokenizerFiles.load(from: directory, config: config)
        if let bpe = tokenizer as? BPETokenizer, bpe.encodesAsByteTokenizer {
            try ByteTokenizer.validate(config, source: json.path)
            return ByteTokenizer(config: config)
        }
        return tokenizer
    }

    /// The index N of a "model.layers.N." name.
    static func layerIndex(of name: String) -> Int? {
        guard name.hasPrefix("model.layers.") else { return nil }
        return Int(name.dropFirst("model.layers.".count).prefix { $0 != "." })
    }

    /// Reads an expert's matrix from the fused tensors of its layer; the fused name, or nil where absent.
    private static func readFused(
        _ slot: ParameterSlot, weights: WeightFiles,
        into destination: UnsafeMutablePointer<Float>
    ) throws -> String? {
        // model.layers.N.mlp.experts.M.{gate_proj,up_proj,down_proj}.weight
        let parts = slot.name.split(separator: ".")
        guard parts.count == 8, parts[3] == "mlp", parts[4] == "experts", let expert = Int(parts[5]) else { return nil }
        let prefix = parts[0..<5].joined(separator: ".")
        let matrix = parts[6]
        let fused = matrix == "down_proj" ? "\(prefix).down_proj" : "\(prefix).gate_up_proj"
        guard let entry = weights.entry(fused) else { return nil }
        let rows = slot.shape[0]
        let columns = slot.shape[1]
        let perExpert = matrix == "down_proj" ? rows : 2 * rows
        guard entry.shape.count == 3, entry.shape[0] > expert, entry.shape[1] == perExpert, entry.shape[2] == columns
        else {
            let message = "shape \(entry.shape), expected [experts, \(perExpert), \(columns)]"
            throw PolicyError.badCheckpoint(file: weights.file(of: fused), tensor: fused, message: message)
        }
        // gate_up_proj holds each expert's gate rows, then its up rows.
        let firstRow = expert * perExpert + (matrix == "up_proj" ? rows : 0)
        try weights.read(fused, elements: (firstRow * columns)..<((firstRow + rows) * columns), into: destination)
        return fused
    }

    /// Within each q and k head, rows (2i, 2i+1) become (i, i + hd/2): an interleaved RoPE
    /// layout turned into rotate-half. q.k is unchanged, as both get the same permutation.
    /// Under MLA the rotated rows are each query head's last qk_rope_head_dim (of q_proj or
    /// q_b_proj) and kv_a_proj_with_mqa's last qk_rope_head_dim.
    static func permuteInterleavedRows(_ model: Transformer) {
        let c = model.config
        let p = model.parameters.data
        // (first row, row width) of each block of rotated rows.
        var blocks: [(UnsafeMutablePointer<Float>, Int)] = []
        for slots in model.layout.layers {
            if let m = c.latentAttention, let latent = slots.latent {
                let (q, width) = m.queryRank.map { (latent.qB!, $0) } ?? (latent.q, c.hiddenSize)
                for h in 0..<c.numAttentionHeads { blocks.append((p + q + (h * m.qkDim + m.nopeDim) * width, width)) }
                blocks.append((p + latent.kvA + m.rank * c.hiddenSize, c.hiddenSize))
            } else {
                // k_proj's heads follow q_proj's.
                for h in 0..<(c.numAttentionHeads + c.keyValueHeads) {
                    blocks.append((p + slots.qkv + h * c.headDim * c.hiddenSize, c.hiddenSize))
                }
            }
        }
        let hd = c.ropeWidth
        for (base, width) in blocks {
            let old = Array(UnsafeBufferPointer(start: base, count: hd * width))
            for r in 0..<hd {
                let from = r < hd / 2 ? 2 * r : 2 * (r - hd / 2) + 1
                for j in 0..<width { base[r * width + j] = old[from * width + j] }
            }
        }
    }
}

/// The safetensors files of a folder, one or sharded, and where each tensor is.
struct WeightFiles {
    private var files: [SafetensorsFile] = []
    private var location: [String: (file: Int, entry: SafetensorsFile.Entry)] = [:]

    init(directory: URL) throws {
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        let single = directory.appendingPathComponent("model.safetensors")
        var shardNames: [String]
        var expected: [String: String] = [:]
        if FileManager.default.fileExists(atPath: index.path) {
            guard let data = try? Data(contentsOf: index),
                let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                let map = object["weight_map"] as? [String: String]
            else {
                throw PolicyError.badConfig(
                    file: index.path, key: "weight_map",
                    message: "must map tensor names to files")
            }
            expected = map
            shardNames = Array(Set(map.values)).sorted()
        } else if FileManager.default.fileExists(atPath: single.path) {
            shardNames = ["model.safetensors"]
        } else {
            throw PolicyError.missingFile(single.path)
        }
        for name in shardNames {
            guard !name.contains("/") else {
                throw PolicyError.badConfig(
                    file: index.path, key: "weight_map",
                    message: "\"\(name)\" is not a file of the folder")
            }
            let file = try Safetensors.read(directory.appendingPathComponent(name), dtypes: [.f32, .bf16, .f16])
            for e in file.entries {
                if let other = location[e.name] {
                    throw PolicyError.badCheckpoint(
                        file: file.url.path, tensor: e.name,
                        message: "also in \(files[other.file].url.lastPathComponent)")
                }
                location[e.name] = (files.count, e)
            }
            files.append(file)
        }
        for (tensor, file) in expected.sorted(by: { $0.key < $1.key })
        where location[tensor].map({ files[$0.file].url.lastPathComponent }) != file {
            throw PolicyError.badCheckpoint(
                file: directory.appendingPathComponent(file).path, tensor: tensor,
                message: "listed in model.safetensors.index.json but not in this file")
        }
    }

    var names: [String] { Array(location.keys) }
    var fileCount: Int { files.count }
    var dtypes: [String] { Set(location.values.map(\.entry.dtype.rawValue)).sorted() }
    func entry(_ name: String) -> SafetensorsFile.Entry? { location[name]?.entry }
    func count(of name: String) -> Int { location[name]?.entry.count ?? 0 }
    func file(of name: String) -> String { location[name].map { files[$0.file].url.path } ?? name }

    /// Reads tensor `name` (of `shape`) as float32; false when the folder has no such tensor.
    func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws -> Bool {
        guard let e = entry(name) else { return false }
        guard e.shape == shape else {
            throw PolicyError.badCheckpoint(
                file: file(of: name), tensor: name,
                message: "shape \(e.shape), expected \(shape)")
        }
        try read(name, elements: 0..<e.count, into: destination)
        return true
    }

    /// Reads `elements` of tensor `name` (flat, row-major) as float32, refusing a NaN or an
    /// infinity (as a checkpoint's weights are: see `SafetensorsFile.copyFinite`).
    func read(_ name: String, elements: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        guard let (f, e) = location[name], elements.upperBound <= e.count else {
            throw PolicyError.badCheckpoint(
                file: file(of: name), tensor: name,
                message: "fewer elements than the policy needs")
        }
        guard !elements.isEmpty else { return }
        files[f].withBytes(of: e) { raw in
            e.dtype.decode(
                raw.baseAddress! + elements.lowerBound * e.dtype.width, count: elements.count,
                into: destination)
        }
        if let bad = (0..<elements.count).first(where: { !destination[$0].isFinite }) {
            throw PolicyError.badCheckpoint(
                file: file(of: name), tensor: name,
                message:
                    "value \(destination[bad]) at index \(elements.lowerBound + bad) is not finite; refusing damaged "
                    + "weights"
            )
        }
    }
}
