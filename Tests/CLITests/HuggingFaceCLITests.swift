// `grpo export`, `grpo import`, `grpo logits` and `grpo tokenize` as a user
// runs them: a round trip through bfloat16 shards, a refusal that names the
// setting, and a BPE tokenizer from a tokenizer.json.

import XCTest
import Foundation

extension CLITests {
    static let huggingFace = root.appendingPathComponent("Tests/PolicyTests/Fixtures/huggingface")

    func testExportImportRoundTripAndLogits() throws {
        let model = tmp.appendingPathComponent("toy").path
        let exported = tmp.appendingPathComponent("hf").path
        try grpo(["init-model", "--shape", "toy", "--out", model, "--seed", "3"], timeout: 120)
        let out = try grpo(
            [
                "export", "--model", model, "--out", exported, "--dtype", "bfloat16",
                "--max-shard-size", "20000",
            ], timeout: 120
        ).out
        XCTAssertTrue(out.contains("Glm4MoeForCausalLM, bfloat16"), out)
        for name in [
            "config.json", "generation_config.json", "model.safetensors.index.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json",
        ] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: exported + "/" + name), name)
        }
        let back = tmp.appendingPathComponent("back").path
        let imported = try grpo(["import", "--from", exported, "--out", back], timeout: 120).out
        XCTAssertTrue(imported.contains("BF16, F32 to float32"), imported)
        XCTAssertTrue(imported.contains("byte tokenizer"), imported)
        // The same logits, to bfloat16's precision.
        func logits(_ checkpoint: String) throws -> [[Double]] {
            let out = try grpo(["logits", "--checkpoint", checkpoint, "--prompt", "1+1="], timeout: 120).out
            let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
            XCTAssertEqual(object["tokens"] as? [Int], [257, 49, 43, 49, 61])
            return object["logits"] as! [[Double]]
        }
        let (a, b) = (try logits(model), try logits(back))
        XCTAssertEqual(a.count, 5)
        for (x, y) in zip(a.joined(), b.joined()) { XCTAssertEqual(x, y, accuracy: 0.05) }
        try grpo(["export", "--model", model, "--out", exported, "--dtype", "float16"], expect: 64, timeout: 60)
    }

    func testImportRefusalNamesTheSetting() throws {
        let folder = tmp.appendingPathComponent("qknorm")
        try FileManager.default.copyItem(at: Self.huggingFace.appendingPathComponent("glm4moe-gqa"), to: folder)
        let configURL = folder.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["use_qk_norm"] = true
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let err = try grpo(
            ["import", "--from", folder.path, "--out", tmp.appendingPathComponent("x").path], expect: 1,
            timeout: 60
        ).err
        XCTAssertTrue(err.contains("key \"use_qk_norm\": true: QK-norm is not supported"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("x").path))
    }

    func testTokenizeWithATokenizerJSON() throws {
        let input = tmp.appendingPathComponent("in.jsonl")
        try "\"Hello, world!\"\n\"12+7=19 😀\"\n".write(to: input, atomically: true, encoding: .utf8)
        let tokenizer = Self.huggingFace.appendingPathComponent("bpe/gpt2.json").path
        let ids = try grpo(["tokenize", "--tokenizer", tokenizer], input: input, timeout: 60).out
        let lines = ids.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let decodeInput = tmp.appendingPathComponent("ids.jsonl")
        try ids.write(to: decodeInput, atomically: true, encoding: .utf8)
        let text = try grpo(["tokenize", "--tokenizer", tokenizer, "--decode"], input: decodeInput, timeout: 60).out
        XCTAssertEqual(text, "\"Hello, world!\"\n\"12+7=19 😀\"\n")
    }
}
