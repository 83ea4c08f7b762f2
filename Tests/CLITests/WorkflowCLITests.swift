// The commands of a user's workflow not run elsewhere, as the built binary: `tasks
// import` then `tasks validate` (math, and code through the sandbox), `train --config
// FILE` (the file's options reach the trainer, flags win), `traces export` of that run,
// `sample --top-k/--top-p/--stop`, and `bench` on a tiny budget. Everything they write
// goes to this test's temporary folder.

import XCTest
import Foundation

extension CLITests {
    /// One JSON object a line, as `--json` commands print them.
    func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
        }
    }

    func write(_ name: String, _ lines: [String]) throws -> String {
        let url = tmp.appendingPathComponent(name)
        try lines.joined(separator: "\n").write(to: url, atomically: false, encoding: .utf8)
        return url.path
    }

    func testTasksImportThenValidate() throws {
        let gsm = try write(
            "gsm.jsonl",
            [
                #"{"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"}"#,
                #"{"question": "Half of 1,200?", "answer": "1200 / 2 = 600\n#### 600"}"#,
                #"{"question": "Ten tens?", "answer": "10 * 10 = 100\n#### 100"}"#,
            ])
        let out = tmp.appendingPathComponent("gsm").path
        let imported = try grpo([
            "tasks", "import", "--format", "gsm8k", gsm, "--out", out, "--test", "1",
            "--seed", "2",
        ])
        XCTAssertTrue(imported.out.contains("wrote \(out): train 2, test 1, sft 2 (gsm8k)"), imported.out)
        let valid = try grpo(["tasks", "validate", out, "--quiet"])
        XCTAssertTrue(valid.out.contains("gsm: 3 tasks, 2 demonstrations; schema, ids and rule set math ok"), valid.out)
        let shown = try jsonLines(grpo(["tasks", "show", out, "--split", "train", "--json"]).out)
        XCTAssertEqual(Set(shown.compactMap { $0["answer"] as? String }).count, 2)
        XCTAssertTrue(Set(shown.compactMap { $0["answer"] as? String }).isSubset(of: ["7", "600", "100"]))

        // A broken line after the import: validate names the file, line and field, and fails.
        try #"{"id": "x", "prompt": 5, "answer": "1"}"#.write(
            toFile: out + "/test.jsonl", atomically: false,
            encoding: .utf8)
        let broken = try grpo(["tasks", "validate", out, "--quiet"], expect: 1)
        XCTAssertTrue(broken.err.contains("\(out)/test.jsonl:1: field \"prompt\": expected a string"), broken.err)
        // An import error names the input's line and field and writes nothing.
        let bad = try write("bad.jsonl", [#"{"question": "No answer marker", "answer": "5"}"#])
        let nowhere = tmp.appendingPathComponent("b").path
        let refused = try grpo(["tasks", "import", "--format", "gsm8k", bad, "--out", nowhere], expect: 1)
        XCTAssertTrue(refused.err.contains("\(bad):1: field \"answer\""), refused.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("b").path))
    }

    func testImportedCodeTasksValidateInTheSandbox() throws {
        guard geteuid() == 0 else { throw XCTSkip("`tasks validate` runs code in the sandbox, which needs root") }
        let he = try write(
            "he.jsonl",
            [
                #"{"task_id": "t/0", "prompt": "def add(a, b):\n", "canonical_solution": "    return a + b\n", "#
                    + #""test": "def check(candidate):\n    assert candidate(2, 3) == 5\n", "entry_point": "add"}"#,
                #"{"task_id": "t/1", "prompt": "def neg(a):\n", "canonical_solution": "    return a\n", "#
                    + #""test": "def check(candidate):\n    assert candidate(2) == -2\n", "entry_point": "neg"}"#,
            ])
        let out = tmp.appendingPathComponent("he").path
        try grpo(["tasks", "import", "--format", "humaneval", he, "--out", out, "--test", "1"])
        // t/1's reference solution is wrong on purpose: the sandbox runs it and the set fails.
        let report = try grpo(["tasks", "validate", out, "--quiet"], expect: 1)
        XCTAssertTrue(report.out.contains("reference solutions: 1/2 pass their tests"), report.out)
        XCTAssertTrue(report.out.contains("FAIL ") && report.out.contains("/t/1: assertion_failed"), report.out)
        XCTAssertFalse(report.out.contains("/t/0:"), report.out)
    }

    /// Options from a YAML file reach the trainer (group size, cap, steps as the traces record
    /// them); a flag wins over the file; the run's traces export as JSON lines.
    func testTrainFromAConfigFileAndExportItsTraces() throws {
        let model = tmp.appendingPathComponent("init").path
        try grpo(["init-model", "--shape", "toy", "--out", model, "--seed", "2"])
        let config = tmp.appendingPathComponent("grpo.yaml")
        let out = tmp.appendingPathComponent("out").path
        let db = tmp.appendingPathComponent("t.sqlite").path
        try """
        model: \(model)
        task_set: arith
        run_name: from-file
        output_dir: \(out)
        prompts_per_step: 2
        num_generations: 3
        max_completion_length: 6
        max_steps: 5
        learning_rate: 1.0e-3
        seed: 7
        eval_limit: 2
        """.write(to: config, atomically: false, encoding: .utf8)
        try grpo(["train", "--config", config.path, "--max_steps", "2", "--db", db, "--quiet"])
        let steps = try json(
            grpo([
                "traces", "sql", "--db", db, "--json",
                """
                SELECT st.step, count(s.id) AS n, max(s.num_tokens) AS longest FROM steps st
                JOIN samples s ON s.run_id = st.run_id AND s.step = st.step GROUP BY st.step ORDER BY st.step
                """,
            ]).out)
        XCTAssertEqual(steps.map { $0["step"] as? Int }, [1, 2], "--max_steps 2 on the command line wins over 5")
        XCTAssertEqual(steps.map { $0["n"] as? Int }, [6, 6], "2 prompts x 3 generations, from the file")
        XCTAssertTrue(steps.allSatisfy { ($0["longest"] as? Int ?? 99) <= 6 }, "\(steps)")
        let run = try json(
            grpo([
                "traces", "sql", "--db", db, "--json",
                """
                SELECT name, json_extract(config, '$.num_generations') AS g, json_extract(config, '$.seed') AS seed
                FROM runs
                """,
            ]).out)
        XCTAssertEqual(run.first?["name"] as? String, "from-file")
        XCTAssertEqual(run.first?["g"] as? Int, 3)
        XCTAssertEqual(run.first?["seed"] as? Int, 7)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/final/model.safetensors"))

        // The run's samples as JSON lines, to standard output or a file, alike.
        let exported = try grpo(["traces", "export", "--db", db, "--run", "from-file"]).out
        let lines = try jsonLines(exported)
        XCTAssertEqual(lines.count, 12)
        for line in lines {
            let tokens = try XCTUnwrap(line["token_ids"] as? [Int])
            let logprobs = try XCTUnwrap(line["token_logprobs"] as? [Double])
            XCTAssertEqual(tokens.count, line["num_tokens"] as? Int)
            XCTAssertEqual(logprobs.count, tokens.count)
            XCTAssertEqual(try XCTUnwrap(line["logprob_sum"] as? Double), logprobs.reduce(0, +), accuracy: 1e-3)
            XCTAssertEqual(
                Set((line["rules"] as? [String: Any] ?? [:]).keys), ["format", "answer", "worked"],
                "arith's rule set: format, answer and the worked diagnostic")
            XCTAssertTrue((line["prompt"] as? String ?? "").hasSuffix("="), "an arith prompt")
        }
        let file = tmp.appendingPathComponent("export.jsonl").path
        try grpo(["traces", "export", "--db", db, "--output", file])
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), exported)
        let unknown = try grpo(["traces", "export", "--db", db, "--run", "nope"], expect: 1)
        XCTAssertTrue(unknown.err.contains("no run nope"), unknown.err)

        // A misspelt key in the file is named with the file.
        try "model: \(model)\ntask_set: arith\nlerning_rate: 1\n".write(to: config, atomically: false, encoding: .utf8)
        let misspelt = try grpo(["train", "--config", config.path, "--db", db, "--quiet"], expect: 1)
        XCTAssertTrue(misspelt.err.contains("lerning_rate"), misspelt.err)
    }

    /// top-k 1 and a tiny top-p are greedy at any temperature; a stop string ends the completion
    /// right after its first occurrence.
    func testSampleTopKTopPAndStop() throws {
        let model = tmp.appendingPathComponent("toy").path
        try grpo(["init-model", "--shape", "toy", "--out", model, "--seed", "3"])
        func sample(_ extra: [String]) throws -> [[String: Any]] {
            try jsonLines(
                grpo(
                    ["sample", "--checkpoint", model, "--prompt", "1+1=", "--max-new-tokens", "16", "--json"]
                        + extra
                ).out)
        }
        let greedy = try sample(["--greedy", "-n", "1"])[0]
        let greedyText = try XCTUnwrap(greedy["text"] as? String)
        for extra in [["--top-k", "1"], ["--top-p", "0.000001"]] {
            let drawn = try sample(extra + ["--temperature", "1.5", "-n", "3", "--seed", "9"])
            XCTAssertEqual(drawn.map { $0["text"] as? String }, Array(repeating: greedyText, count: 3), "\(extra)")
        }
        let free = try sample(["--temperature", "1.5", "-n", "3", "--seed", "9"])
        XCTAssertGreaterThan(Set(free.compactMap { $0["text"] as? String }).count, 1, "without them, draws differ")

        // Stop at the first ASCII letter or digit after the first character of the greedy text.
        let characters = Array(greedyText)
        let at = try XCTUnwrap(
            characters.indices.dropFirst().first {
                characters[$0].isASCII && (characters[$0].isLetter || characters[$0].isNumber)
            }, "the toy model wrote no ASCII letter or digit: \(greedyText)")
        let stop = String(characters[at])
        let stopped = try sample(["--greedy", "--stop", stop])[0]
        XCTAssertEqual(stopped["finish_reason"] as? String, "stop")
        XCTAssertEqual(stopped["text"] as? String, String(characters[...at]))
        XCTAssertLessThan(try XCTUnwrap(stopped["tokens"] as? Int), 16)
        let bad = try grpo(["sample", "--checkpoint", model, "--prompt", "x", "--top-p", "0"], expect: 1)
        XCTAssertTrue(bad.err.contains("top_p"), bad.err)
    }

    /// Each benchmark on a tiny budget reports positive, finite figures of the shape it was given.
    func testBenchOnATinyBudget() throws {
        let train = try jsonLines(
            grpo([
                "bench", "train", "--shape", "toy", "--repeats", "1", "--json",
                "--quiet",
            ]).out)[0]
        XCTAssertEqual(train["shape"] as? String, "toy")
        XCTAssertEqual(train["repeats"] as? Int, 1)
        for key in ["step_s", "sample_s", "train_s", "completion_tokens"] {
            let v = try XCTUnwrap(train[key] as? Double, key)
            XCTAssertTrue(v.isFinite && v > 0, "\(key): \(v)")
        }
        XCTAssertLessThan(try XCTUnwrap(train["logprob_mismatch_max"] as? Double), 1e-3, "sampler and trainer agree")

        let db = tmp.appendingPathComponent("bench.sqlite").path
        let traces = try jsonLines(
            grpo([
                "bench", "traces", "--samples", "3000", "--repeats", "1", "--db", db,
                "--json", "--quiet",
            ]).out)[0]
        XCTAssertEqual(traces["samples"] as? Int, 3000)
        XCTAssertGreaterThan(try XCTUnwrap(traces["write_samples_per_s"] as? Double), 0)
        let queries = try XCTUnwrap(traces["query_ms"] as? [String: Double])
        XCTAssertGreaterThanOrEqual(queries.count, 10)
        XCTAssertTrue(queries.values.allSatisfy { $0.isFinite && $0 >= 0 }, "\(queries)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "the database is deleted unless --keep")
    }
}
