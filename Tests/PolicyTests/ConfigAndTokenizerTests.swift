// The byte tokenizer, model configs and the expert balancer on hand cases.

import XCTest
import Foundation
import Kernels
import Policy

final class ConfigAndTokenizerTests: XCTestCase {
    func testTokenizerRoundTripsAnyUTF8() {
        let tok = ByteTokenizer()
        let samples = ["", "plain ascii 123", "é ß ü", "数学 12+7=19", "emoji 👩🏽‍🔬 and \u{0}nul", "\\boxed{\\frac{1}{2}}", "tab\tnew\nline"]
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
        for s in layout.slots { XCTAssertEqual(s.offset, next); next += s.count }
        XCTAssertEqual(next, layout.count)
        XCTAssertEqual(Set(layout.slots.map(\.name)).count, layout.slots.count)
        let l0 = layout.layers[0]
        XCTAssertEqual(layout.slot(named: "model.layers.0.self_attn.v_proj.weight")!.offset, l0.qkv + 2 * 256 * 256)
        XCTAssertEqual(layout.slot(named: "model.layers.0.mlp.experts.3.up_proj.weight")!.offset, l0.routedExperts[3].gateUp + 256 * 256)
    }

    func testConfigRoundTripAndErrors() throws {
        var c = try ModelConfig.named("toy")
        c.scoringFunc = "softmax"; c.auxLossAlpha = 0.01
        XCTAssertEqual(try ModelConfig.decode(c.encoded(), source: "x"), c)
        func error(_ json: String) -> String {
            do { _ = try ModelConfig.decode(Data(json.utf8), source: "cfg.json"); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(error("{\"hidden_sise\": 8}"), "cfg.json: key \"hidden_sise\": unknown key")
        XCTAssertEqual(error("{\"hidden_size\": \"big\"}"), "cfg.json: key \"hidden_size\": wrong type")
        XCTAssertTrue(error("{\"num_experts_per_tok\": 9}").contains("key \"num_experts_per_tok\""))
        XCTAssertTrue(error("{\"scoring_func\": \"relu\"}").contains("key \"scoring_func\""))
        XCTAssertTrue(error("[1]").contains("not a JSON object"))
        // Keys Hugging Face adds everywhere are accepted.
        XCTAssertEqual(error("{\"architectures\": [\"X\"], \"torch_dtype\": \"float32\"}"), "no error")
    }

    func testBalancerMovesBiasTowardUnderloadedExperts() throws {
        var c = try ModelConfig.named("toy")
        c.biasUpdateSpeed = 0.01
        let model = Transformer(config: c)
        let balancer = ExpertBalancer(model: model)
        balancer.update(load: [[10, 2, 4, 0], [4, 4, 4, 4]])
        let b0 = model.layout.layers[0].routerBias, b1 = model.layout.layers[1].routerBias
        // Mean load 4: overloaded experts go down by gamma, underloaded up, balanced stay.
        XCTAssertEqual((0..<4).map { model.parameters[b0 + $0] }, [-0.01, 0.01, 0, 0.01])
        XCTAssertEqual((0..<4).map { model.parameters[b1 + $0] }, [0, 0, 0, 0])
        XCTAssertEqual(ExpertBalancer.imbalance([[10, 2, 4, 0], [4, 4, 4, 4]]), [2.5, 1])
    }
}
