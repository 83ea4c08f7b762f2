// `grpo train` and `grpo eval` as a user runs them: a few steps on the toy
// shape, checkpoints, a resume that replaces the steps after the checkpoint
// (one row a step in the traces and the metrics file, the same numbers as
// before), and option errors that name the option.

import XCTest
import Foundation

extension CLITests {
    func testTrainResumeAndEval() throws {
        let initModel = tmp.appendingPathComponent("init").path
        try grpo(["init-model", "--shape", "toy", "--out", initModel, "--seed", "2"])
        let out = tmp.appendingPathComponent("out").path
        let db = tmp.appendingPathComponent("t.sqlite").path
        let common = ["--max_steps", "4", "--db", db, "--quiet"]
        try grpo(
            [
                "train", "--model", initModel, "--task_set", "arith", "--prompts_per_step", "2", "--num_generations",
                "3",
                "--max_completion_length", "8", "--save_steps", "2", "--output_dir", out, "--run_name", "t",
                "--eval_limit", "2",
                "--learning-rate", "1e-3", "--beta", "0.04",
            ] + common)
        for name in ["checkpoint-2", "checkpoint-4", "final"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + name + "/model.safetensors"), name)
        }
        let query = "SELECT step, reward_mean, grad_norm, kl FROM steps ORDER BY step"
        let first = try json(grpo(["traces", "sql", "--db", db, query, "--json"]).out)
        XCTAssertEqual(first.map { $0["step"] as? Int }, [1, 2, 3, 4])
        let evals = try json(
            grpo(["traces", "sql", "--db", db, "SELECT step, metric FROM evals WHERE metric = 'accuracy'", "--json"])
                .out)
        XCTAssertEqual(evals.map { $0["step"] as? Int }, [4])
        // The run records the BLAS kernel it ran on, in the traces and beside its config.
        let blas = try json("[" + grpo(["blas", "--json", "--quiet"]).out + "]")[0]
        let system = try json(
            grpo([
                "traces", "sql", "--db", db,
                "SELECT json_extract(system, '$.core') AS core, "
                    + "json_extract(system, '$.selection') AS selection FROM runs", "--json",
            ]).out)
        XCTAssertEqual(system.first?["core"] as? String, blas["core"] as? String)
        XCTAssertEqual(system.first?["selection"] as? String, blas["selection"] as? String)
        let systemFile = try String(contentsOfFile: out + "/system.json", encoding: .utf8)
        XCTAssertTrue(systemFile.contains("\"core\":\"\(blas["core"] as? String ?? "?")\""), systemFile)
        let metricsFile = tmp.appendingPathComponent("t.metrics.jsonl")
        XCTAssertEqual(try String(contentsOf: metricsFile, encoding: .utf8).split(separator: "\n").count, 4)

        // Resume from step 2: steps 3 and 4 are replaced by the same numbers, not duplicated.
        try grpo(["train", "--resume", out + "/checkpoint-2"] + common)
        let second = try json(grpo(["traces", "sql", "--db", db, query, "--json"]).out)
        XCTAssertEqual(second.map { $0["step"] as? Int }, [1, 2, 3, 4])
        for (a, b) in zip(first, second) {
            XCTAssertEqual(a["reward_mean"] as? Double, b["reward_mean"] as? Double)
            XCTAssertEqual(a["grad_norm"] as? Double, b["grad_norm"] as? Double, "step \(a["step"]!)")
            XCTAssertEqual(a["kl"] as? Double, b["kl"] as? Double)
        }
        XCTAssertEqual(try String(contentsOf: metricsFile, encoding: .utf8).split(separator: "\n").count, 4)
        let runs = try json(grpo(["traces", "runs", "--db", db, "--json"]).out)
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0]["status"] as? String, "finished")

        let evalDB = tmp.appendingPathComponent("eval.sqlite").path
        let eval =
            try JSONSerialization.jsonObject(
                with: Data(
                    grpo([
                        "eval", "--checkpoint", out + "/final", "--tasks", "arith", "--limit", "3",
                        "-k", "2", "-n", "4", "--json", "--db", evalDB,
                    ]).out.utf8)) as! [String: Any]
        XCTAssertEqual(eval["tasks"] as? Int, 3)
        // pass@2 of 4 samples a task, recomputed from the recorded samples' answer scores (1 - C(n-c,2)/C(n,2)).
        let correct = try json(
            grpo([
                "traces", "sql", "--db", evalDB, "--json",
                """
                SELECT sum(CASE WHEN rs.score >= 1 THEN 1 ELSE 0 END) AS c, count(*) AS n FROM samples s
                JOIN rule_scores rs ON rs.sample_id = s.id JOIN rules r ON r.id = rs.rule_id
                WHERE s.step = 1 AND r.name = 'answer' GROUP BY s.group_id
                """,
            ]).out)
        let passAt2 = correct.map { row -> Double in
            let c = Double(row["c"] as? Int ?? 0)
            let n = Double(row["n"] as? Int ?? 0)
            return 1 - (n - c) * (n - c - 1) / (n * (n - 1))
        }
        XCTAssertEqual(passAt2.count, 3)
        XCTAssertEqual(try XCTUnwrap(eval["pass_at_k"] as? Double), passAt2.reduce(0, +) / 3, accuracy: 1e-9)
        XCTAssertNil(eval["greedy_groups"], "samples go to the database, not the JSON")
        // The database holds every greedy completion (step 0) and the pass@k samples (step 1), each
        // with its rule scores.
        let counts = try json(
            grpo([
                "traces", "sql", "--db", evalDB, "--json",
                "SELECT step, count(*) AS n, count(DISTINCT group_id) AS g, sum(advantage) AS a FROM samples "
                    + "GROUP BY step ORDER BY step",
            ]).out)
        XCTAssertEqual(counts.map { $0["step"] as? Int }, [0, 1])
        XCTAssertEqual(counts.map { $0["n"] as? Int }, [3, 12])
        XCTAssertEqual(counts.map { $0["g"] as? Int }, [3, 3])
        XCTAssertEqual(counts[1]["a"] as? Double ?? 1, 0, accuracy: 1e-9, "group-relative advantages sum to 0")
        let scores = try json(
            grpo(["traces", "sql", "--db", evalDB, "--json", "SELECT count(*) AS n FROM rule_scores"]).out)
        XCTAssertEqual(scores.first?["n"] as? Int, 15 * 3, "format, answer and worked for each of 15 samples")
        let accuracy = try json(
            grpo(["traces", "sql", "--db", evalDB, "--json", "SELECT value FROM evals WHERE metric = 'accuracy'"]).out)
        XCTAssertEqual(accuracy.first?["value"] as? Double, eval["accuracy"] as? Double)

        let bad = try grpo(["train", "--model", initModel, "--task_set", "arith", "--learnin_rate", "1"], expect: 1).err
        XCTAssertTrue(bad.contains("learnin_rate") && bad.contains("unknown option"), bad)
        let one = try grpo(["train", "--model", initModel, "--task_set", "arith", "--num_generations", "1"], expect: 1)
            .err
        XCTAssertTrue(one.contains("num_generations"), one)
    }
}
