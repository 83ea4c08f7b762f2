// `grpo export` and `grpo import` against transformers, through fixtures it
// made (Fixtures/huggingface/make_fixtures.py): the export of the toy
// checkpoint as transformers loaded it, with the logits it computed; a random
// Glm4MoeForCausalLM it made (grouped-query attention, bfloat16 shards, its
// own BPE tokenizer) with its logits and greedy continuations. Plus round
// trips (sharded, bfloat16, fused experts, interleaved RoPE rows) and every
// refusal by name.

import XCTest
import Foundation
import Kernels
import Policy

final class HuggingFaceTests: XCTestCase {
    static let fixtures = ModelGoldenTests.fixtures.appendingPathComponent("huggingface")
    var tmp: URL!

    override func setUpWithError() throws {
        let name = "grpo-hf-\(getpid())-\(UUID().uuidString.prefix(8))"
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    struct Expected: Decodable {
        let sequences: [[Int32]]
        let logits: [[[Double]]]
        let prompts: [String]?
        let greedy: [[Int32]]?
    }

    func expected(_ name: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent(name)))
    }

    func json(_ url: URL) throws -> NSDictionary {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! NSDictionary
    }

    /// Largest |logit - expected| over every position of every sequence.
    func worstLogitDifference(_ model: Transformer, _ e: Expected) -> Double {
        var worst = 0.0
        let v = model.config.vocabSize
        for (tokens, rows) in zip(e.sequences, e.logits) {
            let logits = model.logits(tokens: tokens, batch: 1, length: tokens.count)
            for (r, row) in rows.enumerated() {
                for j in 0..<v { worst = max(worst, abs(Double(logits[r * v + j]) - row[j])) }
            }
        }
        return worst
    }

    /// An export is file for file the fixture folder transformers loaded (JSON files as objects).
    func assertSameFolder(
        _ out: URL, _ summary: HuggingFaceExport.Summary, as fixture: String, line: UInt = #line
    ) throws {
        let reference = Self.fixtures.appendingPathComponent(fixture)
        let names = try FileManager.default.contentsOfDirectory(atPath: reference.path).sorted()
        XCTAssertEqual(summary.files, names, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path).sorted(), names, line: line)
        for name in names {
            let (a, b) = (out.appendingPathComponent(name), reference.appendingPathComponent(name))
            if name.hasSuffix(".json") {
                XCTAssertEqual(try json(a), try json(b), name, line: line)
            } else {
                XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b), name, line: line)
            }
        }
    }

    func testExportIsTheFolderTransformersLoadedAndItsLogitsAreOurs() throws {
        let model = try Checkpoint.loadModel(from: ModelGoldenTests.fixtures.appendingPathComponent("toy-model"))
        let out = tmp.appendingPathComponent("export")
        let summary = try HuggingFaceExport.export(model, to: out)
        try assertSameFolder(out, summary, as: "export-toy")
        let config = try json(out.appendingPathComponent("config.json"))
        XCTAssertEqual(config["architectures"] as? [String], ["Glm4MoeForCausalLM"])
        let stated = [("partial_rotary_factor", 1.0), ("first_k_dense_replace", 0), ("n_group", 1), ("topk_group", 1)]
        for (key, value) in stated {
            XCTAssertEqual((config[key] as? NSNumber)?.doubleValue, value, key)
        }
        for key in ["use_qk_norm", "attention_bias", "tie_word_embeddings"] {
            XCTAssertEqual(config[key] as? Bool, false, key)
        }
        XCTAssertEqual(config["hidden_act"] as? String, "silu")
        // The logits transformers computed from the exported folder are the policy's own.
        XCTAssertLessThan(worstLogitDifference(model, try expected("export-toy.json")), 1e-4)
    }

    /// Prediction modules go out as DeepSeek-V3 names them (layers past num_hidden_layers) and come
    /// back; a folder that states them without their tensors (as transformers saves) imports without.
    func testPredictionModulesExportAndImport() throws {
        var c = try ModelConfig.named("toy")
        c.numNextnPredictLayers = 1
        let model = Transformer(config: c)
        model.initialize(seed: 3)
        let out = tmp.appendingPathComponent("mtp")
        _ = try HuggingFaceExport.export(model, to: out)
        let config = try json(out.appendingPathComponent("config.json"))
        XCTAssertEqual(config["num_nextn_predict_layers"] as? Int, 1)
        let (back, summary) = try HuggingFaceImport.load(from: out)
        XCTAssertEqual(back.config.predictionModules, 1)
        XCTAssertEqual(back.parameters.array, model.parameters.array, "bit-exact, the module's tensors included")
        XCTAssertTrue(
            summary.notes.contains { $0.contains("1 multi-token prediction module(s) kept") }, "\(summary.notes)")

        // Without the module's tensors: the main model alone, said so.
        let bare = tmp.appendingPathComponent("bare")
        var main = c
        main.numNextnPredictLayers = nil
        let trunk = Transformer(config: main)
        trunk.parameters.data.update(from: model.parameters.data, count: trunk.layout.count)
        _ = try HuggingFaceExport.export(trunk, to: bare)
        var stated = try json(bare.appendingPathComponent("config.json")) as! [String: Any]
        stated["num_nextn_predict_layers"] = 1
        try JSONSerialization.data(withJSONObject: stated).write(to: bare.appendingPathComponent("config.json"))
        let (alone, notes) = try HuggingFaceImport.load(from: bare)
        XCTAssertEqual(alone.config.predictionModules, 0)
        XCTAssertTrue(notes.notes.contains { $0.contains("left out") }, "\(notes.notes)")
    }

    func testShardedExportReadsBackBitExactAndBFloat16Rounds() throws {
        let model = try Checkpoint.loadModel(from: ModelGoldenTests.fixtures.appendingPathComponent("toy-gqa-model"))
        let out = tmp.appendingPathComponent("sharded")
        let summary = try HuggingFaceExport.export(model, to: out, maxShardBytes: 20_000)
        XCTAssertGreaterThan(summary.shards, 2)
        let index = try json(out.appendingPathComponent("model.safetensors.index.json"))
        let map = index["weight_map"] as! [String: String]
        XCTAssertEqual(Set(map.keys), Set(model.layout.slots.map(\.name)))
        XCTAssertEqual(Set(map.values).count, summary.shards)
        XCTAssertEqual((index["metadata"] as! [String: Any])["total_size"] as? Int, model.layout.count * 4)
        for shard in Set(map.values) {
            let path = out.appendingPathComponent(shard).path
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
            XCTAssertLessThan(size, 20_000 + 4096, "a shard holds at most the limit of tensor bytes, plus its header")
        }
        let (back, s) = try HuggingFaceImport.load(from: out)
        XCTAssertEqual(back.config.keyValueHeads, 2)
        XCTAssertEqual(back.config.numAttentionHeads, 4)
        XCTAssertEqual(s.files, summary.shards)
        XCTAssertEqual(back.parameters.array, model.parameters.array, "float32 round trip is bit-exact")
        XCTAssertTrue(back.tokenizer is ByteTokenizer, "the exported byte tokenizer comes back as the byte tokenizer")

        let bf16 = tmp.appendingPathComponent("bf16")
        _ = try HuggingFaceExport.export(model, to: bf16, dtype: .bf16)
        let (rounded, r) = try HuggingFaceImport.load(from: bf16)
        XCTAssertEqual(r.dtypes, ["BF16", "F32"], "the selection bias stays float32")
        for slot in model.layout.slots {
            for i in slot.range {
                let x = model.parameters[i]
                let y = rounded.parameters[i]
                if slot.kind == .buffer {
                    XCTAssertEqual(x, y)
                } else {
                    XCTAssertEqual(y, x, accuracy: abs(x) / 256, "\(slot.name): bfloat16 keeps 8 bits of mantissa")
                }
            }
        }
    }

    func testImportedTransformersModelGivesItsLogitsAndGreedyTokens() throws {
        let e = try expected("glm4moe-gqa.json")
        let out = tmp.appendingPathComponent("imported")
        let summary = try HuggingFaceImport.run(from: Self.fixtures.appendingPathComponent("glm4moe-gqa"), to: out)
        XCTAssertEqual(summary.files, 3)
        XCTAssertEqual(summary.dtypes, ["BF16"])
        let model = try Checkpoint.loadModel(from: out)
        XCTAssertEqual(model.config.numAttentionHeads, 8)
        XCTAssertEqual(model.config.keyValueHeads, 2)
        XCTAssertTrue(model.tokenizer is BPETokenizer, "the checkpoint carries the imported tokenizer")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("tokenizer.json").path))
        for (prompt, tokens) in zip(e.prompts!, e.sequences) {
            XCTAssertEqual(model.tokenizer.encode(prompt, addBOS: true), tokens, prompt)
        }
        XCTAssertLessThan(worstLogitDifference(model, e), 1e-4)
        let sampler = Sampler(model: model)
        var params = SamplingParams.greedy
        params.maxNewTokens = e.greedy![0].count
        for (prompt, greedy) in zip(e.prompts!, e.greedy!) {
            let c = try sampler.generate(prompts: [prompt], completionsPerPrompt: 1, params: params)[0][0]
            XCTAssertEqual(c.tokens, greedy, prompt)
            XCTAssertEqual(c.text, model.tokenizer.decode(greedy))
        }
        // Saved again (a trained checkpoint), the tokenizer goes with it.
        let again = tmp.appendingPathComponent("again")
        try Checkpoint.save(to: again, model: model)
        let reloaded = try Checkpoint.loadModel(from: again)
        XCTAssertEqual(reloaded.tokenizer.encode(e.prompts![2]), model.tokenizer.encode(e.prompts![2]))
    }

    /// A transformers-made DeepseekV3ForCausalLM (multi-head latent attention through the query bottleneck,
    /// interleaved RoPE): imported, it gives transformers' logits and greedy tokens; exported, it is the
    /// folder transformers loaded (rope_interleave false) with the same logits, and reads back bit for bit.
    func testDeepseekV3LatentAttentionImportsAndExports() throws {
        let e = try expected("deepseekv3-mla.json")
        let (model, summary) = try HuggingFaceImport.load(from: Self.fixtures.appendingPathComponent("deepseekv3-mla"))
        let m = try XCTUnwrap(model.config.latentAttention)
        XCTAssertEqual([m.rank, m.queryRank, m.nopeDim, m.ropeDim, m.valueDim], [16, 12, 4, 4, 6])
        XCTAssertTrue(summary.notes.contains { $0.hasPrefix("rope_interleave") }, "\(summary.notes)")
        XCTAssertTrue(model.tokenizer is ByteTokenizer)
        XCTAssertLessThan(worstLogitDifference(model, e), 1e-4)
        let sampler = Sampler(model: model)
        var params = SamplingParams.greedy
        params.maxNewTokens = e.greedy![0].count
        let greedy = try sampler.generate(promptTokens: e.sequences, completionsPerPrompt: 1, params: params)
        XCTAssertEqual(greedy.map { $0[0].tokens }, e.greedy!)

        let out = tmp.appendingPathComponent("export")
        let exported = try HuggingFaceExport.export(model, to: out)
        XCTAssertEqual(exported.architecture, "DeepseekV3ForCausalLM")
        try assertSameFolder(out, exported, as: "export-mla")
        XCTAssertEqual(try json(out.appendingPathComponent("config.json"))["rope_interleave"] as? Bool, false)
        XCTAssertLessThan(worstLogitDifference(model, try expected("export-mla.json")), 1e-4)
        let (back, notes) = try HuggingFaceImport.load(from: out)
        XCTAssertEqual(back.config, model.config)
        XCTAssertEqual(back.parameters.array, model.parameters.array, "float32 round trip is bit-exact")
        XCTAssertFalse(notes.notes.contains { $0.hasPrefix("rope_interleave") })
    }

    /// A stop string may end inside a token of several bytes: generation stops at that token.
    func testStopStringEndingInsideAMultiByteToken() throws {
        let (model, _) = try HuggingFaceImport.load(from: Self.fixtures.appendingPathComponent("glm4moe-gqa"))
        let sampler = Sampler(model: model)
        var params = SamplingParams.greedy
        params.maxNewTokens = 12
        let full = try sampler.generate(prompts: ["Hello, world!"], completionsPerPrompt: 1, params: params)[0][0]
        // A stop string of ASCII ending one byte into a token of several bytes, found nowhere earlier.
        let tok = model.tokenizer
        let bytes = full.tokens.flatMap { tok.bytes(of: $0) }
        var start = 0
        var stop: (token: Int, text: String)?
        for (k, id) in full.tokens.enumerated() {
            defer { start += tok.bytes(of: id).count }
            guard k > 0, tok.bytes(of: id).count >= 2 else { continue }
            for j in 0..<start {
                let candidate = Array(bytes[(start - j)...start])
                guard candidate.allSatisfy({ $0 < 128 }) else { break }
                let earlier = (0..<(start - j)).contains { bytes[$0...].starts(with: candidate) }
                if !earlier {
                    stop = (k, String(decoding: candidate, as: UTF8.self))
                    break
                }
            }
            if stop != nil { break }
        }
        guard let stop else { return XCTFail("no token to stop inside in \(full.tokens)") }
        params.stop = [stop.text]
        let stopped = try sampler.generate(prompts: ["Hello, world!"], completionsPerPrompt: 1, params: params)[0][0]
        XCTAssertEqual(stopped.finishReason, .stop)
        XCTAssertEqual(stopped.tokens, Array(full.tokens[...stop.token]))
    }

    func refusal(_ edit: (inout [String: Any]) -> Void) throws -> String {
        var config =
            try JSONSerialization.jsonObject(
                with: Data(
                    contentsOf: Self.fixtures.appendingPathComponent(
                        "glm4moe-gqa/config.json"))) as! [String: Any]
        edit(&config)
        do { _ = try HuggingFaceConfig.imported(config, source: "config.json") } catch { return "\(error)" }
        return "no error"
    }

    func testImportRefusesWhatThePolicyCannotHonourByName() throws {
        XCTAssertEqual(try refusal { _ in }, "no error")
        let cases: [(key: String, edit: (inout [String: Any]) -> Void)] = [
            ("use_qk_norm", { $0["use_qk_norm"] = true }),
            ("first_k_dense_replace", { $0["first_k_dense_replace"] = 1 }),
            ("first_k_dense_replace", { $0["first_k_dense_replace"] = nil }),  // transformers' default is 1
            (
                "topk_group",
                {
                    $0["n_group"] = 2
                    $0["topk_group"] = 1
                }
            ),
            ("partial_rotary_factor", { $0["rope_parameters"] = ["rope_type": "default", "rope_theta": 10000.0] }),
            ("partial_rotary_factor", { $0["partial_rotary_factor"] = 0.5 }),
            (
                "rope_parameters.rope_type",
                {
                    $0["rope_parameters"] = ["rope_type": "yarn", "partial_rotary_factor": 1.0]
                }
            ),
            ("rope_scaling", { $0["rope_scaling"] = ["type": "linear", "factor": 2.0] }),
            ("attention_bias", { $0["attention_bias"] = true }),
            ("hidden_act", { $0["hidden_act"] = "gelu" }),
            ("tie_word_embeddings", { $0["tie_word_embeddings"] = true }),
            ("attention_dropout", { $0["attention_dropout"] = 0.1 }),
            ("kv_lora_rank", { $0["kv_lora_rank"] = 64 }),
            // DeepSeek-V3 is MLA unless kv_lora_rank is stated null, and MLA has one latent for every head.
            (
                "num_key_value_heads",
                {
                    $0["model_type"] = "deepseek_v3"
                    $0["head_dim"] = nil
                }
            ),
            (
                "head_dim",
                {
                    $0["model_type"] = "deepseek_v3"
                    $0["num_key_value_heads"] = 8
                }
            ),
            (
                "q_lora_rank",
                {
                    $0["model_type"] = "deepseek_v3"
                    $0["kv_lora_rank"] = NSNull()
                    $0["q_lora_rank"] = 16
                }
            ),
            ("model_type", { $0["model_type"] = "qwen3_moe" }),
            ("scoring_func", { $0["scoring_func"] = "softmax" }),
            ("head_dim", { $0["head_dim"] = 8 }),
            ("eos_token_id", { $0["eos_token_id"] = [1, 5] }),
            ("bos_token_id", { $0["bos_token_id"] = nil }),
            ("quantization_config", { $0["quantization_config"] = ["quant_method": "fp8"] }),
            ("sliding_window", { $0["sliding_window"] = 128 }),
            ("mlp_layer_types", { $0["mlp_layer_types"] = ["dense", "sparse"] }),
            ("hidden_size", { $0["hidden_size"] = "wide" }),
            ("vocab_size", { $0["vocab_size"] = nil }),
            ("some_new_setting", { $0["some_new_setting"] = 1 }),
        ]
        for (key, edit) in cases {
            let message = try refusal(edit)
            XCTAssertTrue(message.hasPrefix("config.json: key \"\(key)\""), "\(key): \(message)")
        }
        // Accepted: every group kept, an absent pad (eos pads), a list of one eos, MTP layers.
        XCTAssertEqual(
            try refusal {
                $0["n_group"] = 2
                $0["topk_group"] = 2
            }, "no error")
        var config =
            try JSONSerialization.jsonObject(
                with: Data(
                    contentsOf: Self.fixtures.appendingPathComponent(
                        "glm4moe-gqa/config.json"))) as! [String: Any]
        config["pad_token_id"] = nil
        config["eos_token_id"] = [1]
        config["num_nextn_predict_layers"] = 1
        let imported = try HuggingFaceConfig.imported(config, source: "config.json")
        XCTAssertEqual(imported.config.padTokenId, 1)
        XCTAssertEqual(imported.extraLayers, 1)
        XCTAssertEqual(imported.notes.count, 2)
    }

    /// A folder of one safetensors file made from `model`'s tensors, edited; config.json from `config`.
    func folder(
        _ model: Transformer, config: [String: Any], dtype: SafetensorsDType = .f32,
        edit: (inout [(name: String, shape: [Int], data: [Float])]) -> Void = { _ in }
    ) throws -> URL {
        let dir = tmp.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let parameters = model.parameters.array
        var tensors: [(name: String, shape: [Int], data: [Float])] = model.layout.slots.map {
            ($0.name, $0.shape, Array(parameters[$0.range]))
        }
        edit(&tensors)
        let storage = tensors.map { t -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, t.data.count))
            p.update(from: t.data, count: t.data.count)
            return p
        }
        defer { storage.forEach { $0.deallocate() } }
        try Safetensors.write(
            zip(tensors, storage).map { ($0.name, $0.shape, dtype, UnsafePointer($1)) },
            metadata: [:], to: dir.appendingPathComponent("model.safetensors"))
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        return dir
    }

    func testFusedExpertsAndInterleavedRoPERowsImportToTheSameModel() throws {
        let model = try Checkpoint.loadModel(from: ModelGoldenTests.fixtures.appendingPathComponent("toy-gqa-model"))
        var config = try HuggingFaceConfig.glm4Moe(model.config, dtype: .f32)
        config["rope_interleave"] = true
        let c = model.config
        let hd = c.headDim
        let d = c.hiddenSize
        let e = c.nRoutedExperts
        let i = c.moeIntermediateSize
        let dir = try folder(model, config: config) { tensors in
            var fused: [(name: String, shape: [Int], data: [Float])] = []
            for l in 0..<c.numHiddenLayers {
                let p = "model.layers.\(l).mlp.experts"
                func matrix(_ n: String) -> [Float] { tensors.first { $0.name == n }!.data }
                let gateUp = (0..<e).flatMap {
                    matrix("\(p).\($0).gate_proj.weight") + matrix("\(p).\($0).up_proj.weight")
                }
                fused.append(("\(p).gate_up_proj", [e, 2 * i, d], gateUp))
                fused.append(("\(p).down_proj", [e, d, i], (0..<e).flatMap { matrix("\(p).\($0).down_proj.weight") }))
            }
            tensors.removeAll { $0.name.contains(".mlp.experts.") }
            tensors += fused
            // Rotate-half rows (i, i + hd/2) written as interleaved pairs (2i, 2i + 1).
            for k in tensors.indices
            where tensors[k].name.hasSuffix("q_proj.weight") || tensors[k].name.hasSuffix("k_proj.weight") {
                let rows = tensors[k].data
                var out = rows
                for head in 0..<(rows.count / (hd * d)) {
                    for r in 0..<hd {
                        let to = r < hd / 2 ? 2 * r : 2 * (r - hd / 2) + 1
                        let base = head * hd * d
                        out.replaceSubrange(
                            (base + to * d)..<(base + to * d + d),
                            with: rows[(base + r * d)..<(base + r * d + d)])
                    }
                }
                tensors[k].data = out
            }
        }
        let (back, summary) = try HuggingFaceImport.load(from: dir)
        XCTAssertTrue(summary.notes.contains { $0.contains("rope_interleave") })
        let tokens: [Int32] = [257, 104, 101, 108, 108, 111, 33]
        let a = model.logits(tokens: tokens, batch: 1, length: tokens.count)
        let b = back.logits(tokens: tokens, batch: 1, length: tokens.count)
        for j in a.indices { XCTAssertEqual(a[j], b[j], accuracy: 1e-4) }
        // Read from the fused tensors, every expert matrix lands where the per-expert one was.
        let qk = (c.numAttentionHeads + c.keyValueHeads) * hd * d
        XCTAssertEqual(
            back.parameters.array,
            model.parameters.array.enumerated().map { k, x in
                back.layout.layers.contains { k >= $0.qkv && k < $0.qkv + qk } ? back.parameters[k] : x
            }, "everything but q and k (permuted, checked through the logits) is bit-exact")
    }

    func testImportNamesTheTensorAtFault() throws {
        let model = try Checkpoint.loadModel(from: ModelGoldenTests.fixtures.appendingPathComponent("toy-model"))
        let config = try HuggingFaceConfig.glm4Moe(model.config, dtype: .f32)
        func error(_ edit: @escaping (inout [(name: String, shape: [Int], data: [Float])]) -> Void) throws -> String {
            let dir = try folder(model, config: config, edit: edit)
            do {
                _ = try HuggingFaceImport.load(from: dir)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertEqual(try error { _ in }, "no error")
        let norm = [Float](repeating: 1, count: 8)
        XCTAssertTrue(
            try error { $0.append(("model.layers.0.self_attn.q_norm.weight", [8], norm)) }.contains(
                "tensor \"model.layers.0.self_attn.q_norm.weight\": not part of the policy"))
        XCTAssertTrue(
            try error { $0.removeAll { $0.name == "lm_head.weight" } }
                .contains("tensor \"lm_head.weight\": missing"))
        XCTAssertTrue(
            try error { t in
                let k = t.firstIndex { $0.name == "model.norm.weight" }!
                t[k] = (t[k].name, [8, 2], t[k].data)
            }.contains("tensor \"model.norm.weight\": shape [8, 2], expected [16]"))
        // A multi-token prediction layer past num_hidden_layers comes along when its tensors are
        // there (testPredictionModulesExportAndImport), all of them: one missing is named.
        var withMTP = config
        withMTP["num_nextn_predict_layers"] = 1
        let dir = try folder(model, config: withMTP) {
            $0.append(("model.layers.2.eh_proj.weight", [16, 32], [Float](repeating: 0, count: 512)))
        }
        XCTAssertThrowsError(try HuggingFaceImport.load(from: dir)) {
            XCTAssertTrue("\($0)".contains("tensor \"model.layers.2.enorm.weight\": missing"), "\($0)")
        }
        // A selection bias left out starts at zero.
        let noBias = try folder(model, config: config) { $0.removeAll { $0.name.hasSuffix("e_score_correction_bias") } }
        let (zeroed, summary) = try HuggingFaceImport.load(from: noBias)
        XCTAssertEqual(zeroed.parameters[zeroed.layout.layers[1].routerBias], 0)
        XCTAssertTrue(summary.notes.contains { $0.contains("e_score_correction_bias") })
        // Float16 weights widen exactly.
        let half = try folder(model, config: config, dtype: .f16)
        let (widened, h) = try HuggingFaceImport.load(from: half)
        XCTAssertEqual(h.dtypes, ["F16"])
        XCTAssertEqual(widened.parameters[0], Float(Float16(model.parameters[0])))
    }

    /// Exporting refuses what Glm4Moe cannot express, by key.
    func testExportRefusesWhatGlm4MoeCannotExpress() throws {
        var c = try ModelConfig.named("toy")
        c.scoringFunc = "softmax"
        let x = tmp.appendingPathComponent("x")
        XCTAssertThrowsError(try HuggingFaceExport.export(Transformer(config: c), to: x)) {
            XCTAssertTrue("\($0)".contains("key \"scoring_func\""), "\($0)")
        }
        c = try ModelConfig.named("toy")
        c.nSharedExperts = 0
        XCTAssertThrowsError(try HuggingFaceExport.export(Transformer(config: c), to: x)) {
            XCTAssertTrue("\($0)".contains("key \"n_shared_experts\""), "\($0)")
        }
        // Hyper-connections, with q/k/v attention (Glm4Moe) or MLA (DeepseekV3): neither has them.
        for latent in [false, true] {
            c = try ModelConfig.named("toy")
            if latent { ModelGradientTests.latent(&c, queryRank: nil) }
            ModelGradientTests.hyper(&c, streams: 4)
            XCTAssertThrowsError(try HuggingFaceExport.export(Transformer(config: c), to: x)) {
                guard case let .badConfig(_, key, message)? = $0 as? PolicyError else { return XCTFail("\($0)") }
                XCTAssertEqual(key, "hc_mult")
                XCTAssertTrue(message.contains("hyper-connections"), message)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: x.path))
    }
}
