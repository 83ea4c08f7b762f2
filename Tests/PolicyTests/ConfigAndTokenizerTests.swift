// The byte tokenizer, model configs and the expert balancer on hand cases.

import XCTest
import Foundation
import Kernels
import Policy
import Support

final class ConfigAndTokenizerTests: XCTestCase {
    func testTokenizerRoundTripsAnyUTF8() {
        let tok = ByteTokenizer()
        let samples = [
            "", "plain ascii 123", "é ß ü", "数学 12+7=19", "emoji 👩🏽‍🔬 and \u{0}nul", "\\boxed{\\frac{1}{2}}",
            "tab\tnew\nline",
        ]
        var rng = Xoshiro(seed: 4)
        var random = ""
        for _ in 0..<500 {
            // Random scalars from all planes, skipping surrogates.
            var v = UInt32(rng.next() % 0x10FFFF)
            if (0xD800...0xDFFF).contains(v) { v = 0x41 }
            random.unicodeScalars.append(Unicode.Scalar(v)!)
        }
        for s in samples + [random] {
            let ids = tok.encode(s)
            XCTAssertEqual(ids.count, s.utf8.count)
            XCTAssertEqual(tok.decode(ids), s)
            XCTAssertEqual(tok.decode(tok.encode(s, addBOS: true) + [tok.eos]), s, "special ids are dropped")
        }
        XCTAssertEqual(tok.encode("A", addBOS: true), [257, 65])
        // A completion cut in the middle of a character decodes with a replacement, not a crash.
        XCTAssertEqual(tok.decode(Array(tok.encode("é").prefix(1))), "\u{FFFD}")
    }

    func testNamedShapesAndParameterCounts() throws {
        let tiny = try ModelConfig.named("tiny")
        XCTAssertEqual(tiny, ModelConfig(), "tiny is the default")
        let layout = ParameterLayout(tiny)
        // By hand: embed + lm_head 2*259*256; per layer 2 norms, 4 attention, router + bias, 9 experts of 3 matrices.
        let perLayer = 2 * 256 + 4 * 256 * 256 + 8 * 256 + 8 + 9 * 3 * 256 * 256
        XCTAssertEqual(layout.count, 2 * 259 * 256 + 4 * perLayer + 256)
        XCTAssertEqual(layout.activeCount, layout.count - 259 * 256 + 256 - 4 * 6 * 3 * 256 * 256)
        XCTAssertTrue(ModelConfig.shapeNames.contains("toy"))
        // Slots tile the buffer exactly, names are unique, q/k/v and gate/up are adjacent.
        var next = 0
        for s in layout.slots {
            XCTAssertEqual(s.offset, next)
            next += s.count
        }
        XCTAssertEqual(next, layout.count)
        XCTAssertEqual(Set(layout.slots.map(\.name)).count, layout.slots.count)
        let l0 = layout.layers[0]
        XCTAssertEqual(layout.slot(named: "model.layers.0.self_attn.v_proj.weight")!.offset, l0.qkv + 2 * 256 * 256)
        XCTAssertEqual(
            layout.slot(named: "model.layers.0.mlp.experts.3.up_proj.weight")!.offset,
            l0.routedExperts[3].gateUp + 256 * 256)
    }

    /// tiny-mla: MLA's matrices in place of q/k/v, counted by hand, and its settings checked by key.
    func testLatentAttentionShapeAndSettings() throws {
        let mla = try ModelConfig.named("tiny-mla")
        let m = try XCTUnwrap(mla.latentAttention)
        XCTAssertEqual([m.rank, m.nopeDim, m.ropeDim, m.valueDim, m.qkDim, m.keyWidth], [64, 16, 16, 32, 32, 80])
        XCTAssertNil(m.queryRank)
        // Per layer: q_proj [8 * 32, 256], kv_a [64 + 16, 256], kv_a norm [64], kv_b [8 * (16 + 32), 64],
        // o_proj [256, 8 * 32]; the rest as tiny.
        let attention = 256 * 256 + 80 * 256 + 64 + 8 * 48 * 64 + 256 * 256
        let perLayer = 2 * 256 + attention + 8 * 256 + 8 + 9 * 3 * 256 * 256
        XCTAssertEqual(ParameterLayout(mla).count, 2 * 259 * 256 + 4 * perLayer + 256)
        // The cache keeps 80 floats a position and layer, against 512 for tiny's keys and values.
        XCTAssertEqual(mla.cacheWidth, 80)
        XCTAssertEqual(ModelConfig().cacheWidth, 512)
        XCTAssertEqual(try ModelConfig.decode(mla.encoded(), source: "x"), mla)
        XCTAssertFalse(
            String(decoding: ModelConfig().encoded(), as: UTF8.self).contains("lora"),
            "a shape without MLA writes none of its keys")
        let base = "\"kv_lora_rank\": 8, \"qk_nope_head_dim\": 4, \"qk_rope_head_dim\": 4, \"v_head_dim\": 4"
        XCTAssertEqual(decodeError("{\(base)}"), "no error")
        for (json, key) in [
            ("\"q_lora_rank\": 8", "q_lora_rank"), ("\"v_head_dim\": 4", "v_head_dim"),
            ("\"kv_lora_rank\": 8, \"qk_nope_head_dim\": 4, \"qk_rope_head_dim\": 3", "qk_rope_head_dim"),
            ("\(base), \"q_lora_rank\": 0", "q_lora_rank"),
            ("\(base), \"num_key_value_heads\": 2", "num_key_value_heads"),
            ("\"kv_lora_rank\": 8, \"qk_nope_head_dim\": 4, \"qk_rope_head_dim\": 4", "v_head_dim"),
            ("\"kv_lora_rank\": 0", "kv_lora_rank"),
        ] {
            let message = decodeError("{\(json)}")
            XCTAssertTrue(message.hasPrefix("cfg.json: key \"\(key)\""), "\(json): \(message)")
        }
    }

    /// tiny-mtp: one prediction module after tiny's weights, named as DeepSeek-V3 names it, counted
    /// by hand; the main model's offsets and active count are tiny's.
    func testPredictionModuleShapeAndSettings() throws {
        let mtp = try ModelConfig.named("tiny-mtp")
        XCTAssertEqual(mtp.predictionModules, 1)
        let layout = ParameterLayout(mtp)
        let tiny = ParameterLayout(ModelConfig())
        let perLayer = 2 * 256 + 4 * 256 * 256 + 8 * 256 + 8 + 9 * 3 * 256 * 256
        // enorm, hnorm, eh_proj [256, 512], a layer, shared_head.norm.
        XCTAssertEqual(layout.count, tiny.count + 3 * 256 + 256 * 512 + perLayer)
        XCTAssertEqual(layout.mainCount, tiny.count)
        XCTAssertEqual(layout.activeCount, tiny.activeCount)
        XCTAssertEqual(layout.slots.prefix(tiny.slots.count).map(\.name), tiny.slots.map(\.name))
        XCTAssertEqual(layout.slot(named: "model.layers.4.eh_proj.weight")?.shape, [256, 512])
        XCTAssertEqual(layout.slot(named: "model.layers.4.shared_head.norm.weight")?.offset, layout.count - 256)
        XCTAssertEqual(
            layout.predictors[0].layer.inputNorm, layout.slot(named: "model.layers.4.input_layernorm.weight")?.offset)
        XCTAssertEqual(try ModelConfig.decode(mtp.encoded(), source: "x"), mtp)
        XCTAssertFalse(
            String(decoding: ModelConfig().encoded(), as: UTF8.self).contains("nextn"),
            "a shape without prediction modules writes no key for them")
        XCTAssertEqual(decodeError("{\"num_nextn_predict_layers\": 0}"), "no error")
        for json in [
            "{\"num_nextn_predict_layers\": -1}", "{\"num_nextn_predict_layers\": 100}",
            "{\"num_nextn_predict_layers\": 1, \"hc_mult\": 2}",
        ] {
            XCTAssertTrue(decodeError(json).hasPrefix("cfg.json: key \"num_nextn_predict_layers\""), decodeError(json))
        }
    }

    /// tiny-mhc: tiny with four residual streams; per layer two hyper-connections of fn [24, 4 * 256],
    /// base [24] and scale [3], and the head's hc_fn [4, 4 * 256], hc_base [4], hc_scale [1]; its
    /// settings checked by key.
    func testHyperConnectionShapeAndSettings() throws {
        let mhc = try ModelConfig.named("tiny-mhc")
        XCTAssertEqual(mhc.hyperConnections, .init(streams: 4, sinkhornIterations: 20, eps: 1e-6))
        let tinyPerLayer = 2 * 256 + 4 * 256 * 256 + 8 * 256 + 8 + 9 * 3 * 256 * 256
        let perLayer = tinyPerLayer + 2 * (24 * 1024 + 24 + 3)
        let layout = ParameterLayout(mhc)
        XCTAssertEqual(layout.count, 2 * 259 * 256 + 4 * perLayer + 256 + 4 * 1024 + 4 + 1)
        XCTAssertEqual(layout.slot(named: "model.layers.3.attn_hc.fn")?.shape, [24, 1024])
        XCTAssertEqual(layout.slot(named: "model.layers.0.ffn_hc.base")?.kind, .bias)
        XCTAssertEqual(layout.slot(named: "model.layers.0.ffn_hc.scale")?.shape, [3])
        XCTAssertEqual(layout.slot(named: "model.hc_head.hc_fn")?.shape, [4, 1024])
        XCTAssertEqual(layout.slot(named: "model.hc_head.hc_scale")?.shape, [1])
        XCTAssertEqual(try ModelConfig.decode(mhc.encoded(), source: "x"), mhc)
        // Off: no streams, the default layout, and none of the keys written.
        XCTAssertNil(ModelConfig().hyperConnections)
        XCTAssertFalse(String(decoding: ModelConfig().encoded(), as: UTF8.self).contains("hc_"))
        XCTAssertNil(try ModelConfig.decode(Data("{\"hc_mult\": 1}".utf8), source: "x").hyperConnections)
        XCTAssertEqual(decodeError("{\"hc_mult\": 2, \"hc_sinkhorn_iters\": 1, \"hc_eps\": 0.001}"), "no error")
        for (json, key) in [
            ("\"hc_sinkhorn_iters\": 20", "hc_sinkhorn_iters"), ("\"hc_mult\": 1, \"hc_eps\": 1e-6", "hc_eps"),
            ("\"hc_mult\": 0", "hc_mult"), ("\"hc_mult\": 4, \"hc_sinkhorn_iters\": 0", "hc_sinkhorn_iters"),
            ("\"hc_mult\": 4, \"hc_eps\": 0", "hc_eps"), ("\"hc_mult\": 100000", "hc_mult"),
            ("\"hc_mult\": 4, \"hc_eps\": 1e39", "hc_eps"),
        ] {
            let message = decodeError("{\(json)}")
            XCTAssertTrue(message.hasPrefix("cfg.json: key \"\(key)\""), "\(json): \(message)")
        }
    }

    /// The error decoding `json` as a config.json gives, or "no error".
    func decodeError(_ json: String) -> String {
        do {
            _ = try ModelConfig.decode(Data(json.utf8), source: "cfg.json")
            return "no error"
        } catch { return "\(error)" }
    }

    func testConfigRoundTripAndErrors() throws {
        var c = try ModelConfig.named("toy")
        c.scoringFunc = "softmax"
        c.auxLossAlpha = 0.01
        XCTAssertEqual(try ModelConfig.decode(c.encoded(), source: "x"), c)
        let error = decodeError
        XCTAssertEqual(error("{\"hidden_sise\": 8}"), "cfg.json: key \"hidden_sise\": unknown key")
        XCTAssertEqual(error("{\"hidden_size\": \"big\"}"), "cfg.json: key \"hidden_size\": wrong type (expected Int)")
        // Foundation names no key for a fraction where a whole number goes: the key is still named.
        XCTAssertEqual(
            error("{\"hidden_size\": 64, \"num_hidden_layers\": 2.5}"),
            "cfg.json: key \"num_hidden_layers\": 2.5 is not a valid value here "
                + "(a whole number, a number, true/false or text, as the key says)")
        XCTAssertTrue(error("{\"num_experts_per_tok\": 9}").contains("key \"num_experts_per_tok\""))
        XCTAssertTrue(error("{\"scoring_func\": \"relu\"}").contains("key \"scoring_func\""))
        XCTAssertTrue(error("[1]").contains("not a JSON object"))
        // Keys Hugging Face adds everywhere are accepted.
        XCTAssertEqual(error("{\"architectures\": [\"X\"], \"torch_dtype\": \"float32\"}"), "no error")
    }

    /// The parameter count from the shape alone is the layout's, for every shipped shape and a
    /// few odd ones (no shared expert, several, softmax).
    func testParameterCountFromTheShapeIsTheLayouts() throws {
        var shapes = try ModelConfig.shapeNames.map { try ModelConfig.named($0) }
        var odd = try ModelConfig.named("toy")
        odd.nSharedExperts = 0
        shapes.append(odd)
        odd.nSharedExperts = 3
        odd.nRoutedExperts = 5
        odd.numExpertsPerTok = 3
        shapes.append(odd)
        ModelGradientTests.latent(&odd, queryRank: 6)
        shapes.append(odd)
        odd.numNextnPredictLayers = 2
        shapes.append(odd)
        odd.numNextnPredictLayers = nil
        ModelGradientTests.hyper(&odd, streams: 3)
        shapes.append(odd)
        for c in shapes { XCTAssertEqual(c.parameterCount, Double(ParameterLayout(c).count), "\(c)") }
    }

    /// A size typed with a few digits too many is refused before anything is allocated: past a
    /// hard bound by the key, below it by the memory the weights would need.
    func testHugeSizesAreRefusedByKeyBeforeAllocating() throws {
        XCTAssertEqual(
            decodeError("{\"num_hidden_layers\": 1000000000}"),
            "cfg.json: key \"num_hidden_layers\": 1000000000 is beyond the largest this trainer takes "
                + "(4096)")
        XCTAssertTrue(
            decodeError("{\"vocab_size\": 100000000000000}")
                .hasPrefix("cfg.json: key \"vocab_size\": 100000000000000 is beyond"))
        XCTAssertTrue(
            decodeError("{\"rope_theta\": 1e39}").contains("key \"rope_theta\""),
            "a Float overflows to infinity")
        // Within the bounds, but 64 layers of 4096 experts 4096 wide: about 8e11 weights (3 TB), beyond any machine.
        let huge = "{\"num_hidden_layers\": 64, \"n_routed_experts\": 4096, \"moe_intermediate_size\": 4096}"
        XCTAssertEqual(decodeError(huge), "no error", "decoding alone allocates nothing")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("huge-\(UUID().uuidString).json")
        try Data(huge.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try ModelConfig.load(url)) { error in
            guard case let .badConfig(file, key, message)? = error as? PolicyError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, url.path)
            XCTAssertEqual(key, "n_routed_experts", "the key furthest above the reference shape")
            XCTAssertTrue(message.contains("parameters; the weights need about"), message)
            XCTAssertTrue(message.contains("available"), message)
        }
    }

    func testBalancerMovesBiasTowardUnderloadedExperts() throws {
        var c = try ModelConfig.named("toy")
        c.biasUpdateSpeed = 0.01
        let model = Transformer(config: c)
        let balancer = ExpertBalancer(model: model)
        balancer.update(load: [[10, 2, 4, 0], [4, 4, 4, 4]])
        let b0 = model.layout.layers[0].routerBias
        let b1 = model.layout.layers[1].routerBias
        // Mean load 4: overloaded experts go down by gamma, underloaded up, balanced stay.
        XCTAssertEqual((0..<4).map { model.parameters[b0 + $0] }, [-0.01, 0.01, 0, 0.01])
        XCTAssertEqual((0..<4).map { model.parameters[b1 + $0] }, [0, 0, 0, 0])
        XCTAssertEqual(ExpertBalancer.imbalance([[10, 2, 4, 0], [4, 4, 4, 4]]), [2.5, 1])
    }
}
