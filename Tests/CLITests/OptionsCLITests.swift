// One vocabulary for sft, train and eval, as a user meets it: `--help` lists
// every key of the command's table with its default, the README shows the same
// tables, TRL's snake-case names and the older spellings both work, errors name
// the key and say what it takes, a rerun never writes over an earlier run, and
// Ctrl-C stops with status 130 and a checkpoint that loads.

import XCTest
import Foundation
import Training

extension CLITests {
    /// The (name, default) of every key in a table, to find in its help.
    func rows<Root>(_ table: OptionTable<Root>) -> [(String, String)] {
        table.keys.map { ($0.name, $0.defaultText.isEmpty ? "\"\"" : $0.defaultText) }
    }

    func testHelpListsEveryKeyOfTheTableWithItsDefault() throws {
        let tables = [
            ("sft", rows(SFTConfig.options), SFTConfig.options.markdown()),
            ("train", rows(GRPOConfig.options), GRPOConfig.options.markdown()),
            ("eval", rows(EvalConfig.options), EvalConfig.options.markdown()),
        ]
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        for (command, keys, markdown) in tables {
            let help = try grpo([command, "--help"], timeout: 60).out
            let lines = help.split(separator: "\n").map(String.init)
            XCTAssertGreaterThan(keys.count, 10)
            for (name, value) in keys {
                let line = lines.first { $0.hasPrefix("  --\(name) ") }
                XCTAssertNotNil(line, "\(command) --help lacks --\(name):\n\(help)")
                XCTAssertTrue(
                    line?.contains("  \(value)  ") == true,
                    "\(command) --\(name): default \(value) in \(line ?? "")")
            }
            XCTAssertEqual(try grpo(["help-options", command, "--markdown"], timeout: 60).out, markdown + "\n")
            XCTAssertTrue(
                readme.contains(markdown),
                "README.md lacks the table of grpo \(command) "
                    + "(paste `grpo help-options \(command) --markdown`)")
        }
        XCTAssertTrue(try grpo(["train", "--help"], timeout: 60).out.contains("  --learning_rate NUMBER"))
    }

    func sftData() throws -> String {
        let data = tmp.appendingPathComponent("d.jsonl")
        try (0..<12).map { "{\"prompt\": \"\($0)+\($0)=\", \"completion\": \"\($0 * 2)\"}" }.joined(separator: "\n")
            .write(to: data, atomically: false, encoding: .utf8)
        return data.path
    }

    /// `grpo sft --max_steps` (TRL's spelling) and the older `--max-steps` run the same training.
    func testSFTTakesTRLNamesAndTheOlderSpellingsAlike() throws {
        let data = try sftData()
        let new = try grpo(
            [
                "sft", "--task_set", data, "--shape", "toy",
                "--output_dir", tmp.appendingPathComponent("a").path,
                "--max_steps", "2", "--per_device_train_batch_size", "4", "--logging_steps", "1",
                "--learning_rate", "2e-3", "--json", "--quiet",
            ], timeout: 120
        ).out
        let old = try grpo(
            [
                "sft", "--data", data, "--shape", "toy",
                "--output-dir", tmp.appendingPathComponent("b").path,
                "--max-steps", "2", "--batch-size", "4", "--logging-steps", "1",
                "--learning-rate", "2e-3", "--json", "--quiet",
            ], timeout: 120
        ).out
        func losses(_ text: String) throws -> [Double] {
            try text.split(separator: "\n").map {
                try XCTUnwrap(
                    (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double)
            }
        }
        XCTAssertEqual(try losses(new).count, 2)
        XCTAssertEqual(try losses(new), try losses(old))
    }

    func testOptionErrorsNameTheKeyAndWhatItTakes() throws {
        let model = try toyModel()
        let base = ["train", "--model", model, "--task_set", "arith"]
        XCTAssertTrue(
            try grpo(base + ["--learning_rate", "abc"], expect: 1, timeout: 60).err
                .contains("flags: key \"learning_rate\": expected a number, found \"abc\""))
        XCTAssertTrue(
            try grpo(base + ["--loss_type", "ppo"], expect: 1, timeout: 60).err
                .contains("key \"loss_type\": \"ppo\" is not one of grpo, bnpo, dapo, dr_grpo"))
        XCTAssertTrue(
            try grpo(base + ["--report_to", "wandb"], expect: 1, timeout: 60).err
                .contains("there is no W&B/TensorBoard reporting"))
        let misspelt = try grpo(["sft", "--task_set", "arith", "--max_stpes", "3"], expect: 1, timeout: 60).err
        XCTAssertTrue(misspelt.contains("unknown option (did you mean --max_steps?)"), misspelt)
        let file = tmp.appendingPathComponent("e.yaml")
        try "model: m\ntask_set: arith\nnum_generation: 4\n".write(to: file, atomically: false, encoding: .utf8)
        let fromFile = try grpo(["train", "--config", file.path], expect: 1, timeout: 60).err
        XCTAssertTrue(
            fromFile.contains(
                "\(file.path):3: key \"num_generation\": unknown option "
                    + "(did you mean num_generations"), fromFile)
        let eval = try grpo(
            ["eval", "--model", model, "--task_set", "arith", "--temperature", "warm"], expect: 1,
            timeout: 60
        ).err
        XCTAssertTrue(eval.contains("key \"temperature\": expected a number, found \"warm\""), eval)
    }

    func trainArguments(_ model: String, out: String, db: String, steps: Int) -> [String] {
        [
            "train", "--model", model, "--task_set", "arith", "--prompts_per_step", "2", "--num_generations", "2",
            "--max_completion_length", "4", "--max_steps", "\(steps)", "--eval_limit", "1",
            "--run_name", "r", "--output_dir", out, "--db", db, "--quiet",
        ]
    }

    /// A rerun with the same output folder, or the same run name in the same database, is refused
    /// and leaves the earlier run as it was; --overwrite_output_dir replaces it whole.
    func testARerunIsRefusedAndOverwriteOutputDirReplacesTheRun() throws {
        let model = try toyModel()
        let out = tmp.appendingPathComponent("out").path
        let db = tmp.appendingPathComponent("r.sqlite").path
        let metrics = tmp.appendingPathComponent("r.metrics.jsonl")
        try grpo(trainArguments(model, out: out, db: db, steps: 2) + ["--save_steps", "1"], timeout: 300)
        let final = try Data(contentsOf: URL(fileURLWithPath: out + "/final/model.safetensors"))
        let metricsBefore = try Data(contentsOf: metrics)
        let again = try grpo(trainArguments(model, out: out, db: db, steps: 1), expect: 1, timeout: 120).err
        XCTAssertTrue(again.contains("already holds"), again)
        XCTAssertTrue(again.contains("--overwrite_output_dir"), again)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/final/model.safetensors")), final)
        XCTAssertEqual(try Data(contentsOf: metrics), metricsBefore)
        // Another folder, but the same run name in the same database: refused too.
        let elsewhere = try grpo(trainArguments(model, out: out + "2", db: db, steps: 1), expect: 1, timeout: 120).err
        XCTAssertTrue(elsewhere.contains("\(db) already holds a run named \"r\""), elsewhere)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "2"))

        try grpo(trainArguments(model, out: out, db: db, steps: 1) + ["--overwrite_output_dir"], timeout: 300)
        let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("checkpoint-") }
        XCTAssertEqual(left, ["checkpoint-1"], "no checkpoint of the earlier run is left beside the new one")
        XCTAssertEqual(try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").count, 1)
        let runs = try json(grpo(["traces", "runs", "--db", db, "--json"], timeout: 60).out)
        XCTAssertEqual(runs.map { $0["last_step"] as? Int }, [1])

        // SFT alike.
        let data = try sftData()
        let sftOut = tmp.appendingPathComponent("sft").path
        let sft = [
            "sft", "--task_set", data, "--shape", "toy", "--output_dir", sftOut, "--max_steps", "1",
            "--per_device_train_batch_size", "2", "--quiet",
        ]
        try grpo(sft, timeout: 120)
        XCTAssertTrue(try grpo(sft, expect: 1, timeout: 120).err.contains("\(sftOut) already holds an earlier run"))
        try grpo(sft + ["--overwrite_output_dir"], timeout: 120)
    }

    /// Ctrl-C during `grpo train`: the step in flight finishes, a checkpoint is written, the run
    /// is marked interrupted, and grpo exits 130 saying where it stopped; the checkpoint loads.
    func testInterruptedTrainExits130WithALoadableCheckpoint() throws {
        let model = try toyModel()
        let out = tmp.appendingPathComponent("out").path
        let db = tmp.appendingPathComponent("i.sqlite").path
        // Checkpoints only at the end, so the one left is the interrupt's.
        var arguments = trainArguments(model, out: out, db: db, steps: 100000) + ["--save_steps", "100000"]
        arguments.removeAll { $0 == "--quiet" }
        let run = try RunningGrpo(try binary(), arguments, in: Self.root, seconds: 240)
        run.read(until: "step 1/")
        run.interrupt()
        run.finish()
        let seen = run.seen
        XCTAssertFalse(run.deadline.fired, "still running after 240 s")
        XCTAssertEqual(run.process.terminationStatus, 130, seen)
        XCTAssertFalse(seen.contains("done:"), seen)
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: out).filter {
            $0.hasPrefix("checkpoint-")
        }
        XCTAssertEqual(checkpoints.count, 1, "\(checkpoints)")
        let step = try XCTUnwrap(Int(checkpoints.first?.dropFirst("checkpoint-".count) ?? ""))
        XCTAssertTrue(
            seen.contains("interrupted at step \(step) of 100000; checkpoint: \(out)/checkpoint-\(step)"), seen)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/final"), "an interrupted run has no final model")
        let runs = try json(grpo(["traces", "runs", "--db", db, "--json"], timeout: 60).out)
        XCTAssertEqual(runs.map { $0["status"] as? String }, ["interrupted"])
        let evaluated = try grpo(
            [
                "eval", "--model", "\(out)/checkpoint-\(step)", "--task_set", "arith", "--eval_limit", "2",
                "--json",
            ], timeout: 120
        ).out
        XCTAssertEqual(
            (try JSONSerialization.jsonObject(with: Data(evaluated.utf8)) as? [String: Any])?["tasks"] as? Int, 2)
    }
}
