// The built binary against careless and hostile input: escape sequences in a
// completion, a damaged checkpoint, a wrong interpreter, sizes with digits
// too many, a task too long for the context, a resume into another run's
// database, a double Ctrl-C, a database in a folder the user cannot write,
// and the TemporaryDirectory.* folders Foundation's atomic write leaves.
// Every run is bounded by a deadline and works in the test's own folder.

import XCTest
import Foundation

extension CLITests {
    func write(_ text: String, _ name: String) throws -> URL {
        let url = tmp.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
        return url
    }

    /// A toy checkpoint of our own.
    func toyModel(_ name: String = "toy") throws -> String {
        let path = tmp.appendingPathComponent(name).path
        try grpo(["init-model", "--shape", "toy", "--out", path, "--seed", "3"], timeout: 60)
        return path
    }

    // MARK: escapes

    /// A completion that sets the window title, clears the screen and fakes a "passed" line is
    /// shown with its control characters escaped by show, samples and group alike.
    func testTracesShowsCompletionsWithTheirEscapeSequencesEscaped() throws {
        let hostile = "\u{1B}]0;pwned\u{07}\u{1B}[2J\rtests: 10/10 PASSED\u{1B}[1A\u{9B}31m\u{202E}evil"
        let task = ["kind": "math", "answer": "4", "id": "t\u{1B}[2J"]
        let line = try JSONSerialization.data(withJSONObject: ["id": "a", "completion": hostile, "task": task])
        let input = try write(String(decoding: line, as: UTF8.self) + "\n", "hostile.jsonl")
        let db = tmp.appendingPathComponent("h.sqlite").path
        try grpo(
            [
                "rewards", "score", "--rules", "math", "--input", input.path, "--output",
                tmp.appendingPathComponent("o.jsonl").path, "--traces", db, "--quiet",
            ], timeout: 60)
        // One-line previews (samples) turn the carriage return into a space, as they do newlines.
        let escaped = "\\x1b]0;pwned\\x07\\x1b[2J\\x0dtests: 10/10 PASSED\\x1b[1A\\u{009b}31m\\u{202e}evil"
        let preview = escaped.replacingOccurrences(of: "\\x0d", with: " ")
        let query = "SELECT completion, task_id FROM samples JOIN groups g ON g.id = group_id"
        for (args, expected) in [
            (["traces", "show", "1"], escaped), (["traces", "samples", "--width", "200"], preview),
            (["traces", "group", "1", "--full"], escaped), (["traces", "sql", query], escaped),
        ] {
            let out = try grpo(args + ["--db", db], timeout: 60).out
            let raw = out.unicodeScalars.filter { [0x1B, 0x9B, 0x0D, 0x202E].contains($0.value) }
            XCTAssertTrue(raw.isEmpty, "\(args): a raw control character reached the terminal")
            XCTAssertTrue(out.contains(expected), "\(args): \(out)")
            if !args.contains("show") {
                XCTAssertTrue(out.contains("t\\x1b[2J"), "\(args): the task id is escaped too: \(out)")
            }
        }
        // JSON output keeps the text exactly (JSON escapes it): programs get what was stored.
        let json =
            try JSONSerialization.jsonObject(
                with: Data(
                    grpo(
                        ["traces", "show", "1", "--db", db, "--json"],
                        timeout: 60
                    ).out.utf8)) as? [String: Any]
        XCTAssertEqual(json?["completion"] as? String, hostile)
    }

    // MARK: damaged checkpoints and bad interpreters

    /// Router weights that are all NaN: `grpo sample` refuses the checkpoint by tensor name
    /// (it used to abort with heap corruption at the first forward pass).
    func testSampleRefusesANaNRouterCheckpointByTensorName() throws {
        let model = try toyModel()
        let file = URL(fileURLWithPath: model).appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: file)
        let headerLength = Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = try JSONSerialization.jsonObject(with: bytes[8..<(8 + headerLength)]) as! [String: Any]
        let tensor = "model.layers.0.mlp.gate.weight"
        let offsets = (header[tensor] as! [String: Any])["data_offsets"] as! [Int]
        let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) }
        for at in stride(from: 8 + headerLength + offsets[0], to: 8 + headerLength + offsets[1], by: 4) {
            bytes.replaceSubrange(at..<(at + 4), with: nan)
        }
        try bytes.write(to: file)
        let err = try grpo(
            ["sample", "--checkpoint", model, "--prompt", "1+1=", "--max-new-tokens", "4"], expect: 1,
            timeout: 60
        ).err
        XCTAssertTrue(
            err.contains(
                "\(file.path): tensor \"\(tensor)\": \((offsets[1] - offsets[0]) / 4) of "
                    + "\((offsets[1] - offsets[0]) / 4) values are not finite"), err)
    }

    /// A code rule whose interpreter is not Python, or not there, is refused when the rule set
    /// loads, naming the file and the field, whatever the size of the completions.
    func testCodeRuleInterpreterIsCheckedWhenTheRulesLoad() throws {
        let big = String(repeating: "x = 1\n", count: 200_000)
        let line = try JSONSerialization.data(withJSONObject: [
            "id": "a", "completion": "```python\n\(big)```",
            "task": ["kind": "code", "tests": "assert x == 1"],
        ])
        let input = try write(String(decoding: line, as: UTF8.self) + "\n", "big.jsonl")
        for (python, problem) in [
            ("/bin/true", "/bin/true: does not run Python 3 programs (exit status 0)"),
            (tmp.appendingPathComponent("none/python3").path, "no such file"),
        ] {
            let rules = try write("name: c\nrules:\n  - {name: tests, kind: code, python: \(python)}\n", "code.yaml")
            let r = try grpo(
                ["rewards", "score", "--rules", rules.path, "--input", input.path], expect: 1, timeout: 60)
            XCTAssertTrue(r.err.contains("\(rules.path):3: rule \"tests\": field \"python\": "), r.err)
            XCTAssertTrue(r.err.contains(problem), r.err)
            XCTAssertEqual(r.out, "")
        }
    }

    // MARK: sizes and the context

    /// Sizes with digits too many are refused by key before anything of their size is
    /// allocated; so is a config file of aliases that would expand to a billion values.
    func testSizesWithDigitsTooManyAreRefusedByKey() throws {
        let model = try toyModel()
        let db = tmp.appendingPathComponent("s.sqlite").path
        let base = [
            "train", "--model", model, "--task_set", "arith", "--db", db,
            "--output_dir", tmp.appendingPathComponent("out").path, "--max_completion_length", "8",
        ]
        let generations = try grpo(base + ["--num_generations", "1000000000000"], expect: 1, timeout: 60).err
        XCTAssertTrue(generations.contains("key \"num_generations\": 1000000000000 is beyond the largest"), generations)
        let batch = try grpo(
            base + ["--num_generations", "60000", "--prompts_per_step", "60000"], expect: 1,
            timeout: 60
        ).err
        XCTAssertTrue(batch.contains("key \"num_generations\": this run needs about"), batch)
        XCTAssertTrue(batch.contains("available"), batch)
        let layers = try write("{\"num_hidden_layers\": 1000000000}", "layers.json")
        let shape = try grpo(
            ["init-model", "--config", layers.path, "--out", tmp.appendingPathComponent("m").path],
            expect: 1, timeout: 60
        ).err
        XCTAssertTrue(shape.contains("\(layers.path): key \"num_hidden_layers\": 1000000000 is beyond"), shape)
        // Nine levels of ten aliases each: a billion values once expanded.
        let levels = (1...9).map { level in
            "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"
        }
        let bomb = (["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + levels + ["run_name: *a9"]).joined(separator: "\n")
        let config = try write(bomb + "\n", "bomb.yaml")
        let aliases = try grpo(base + ["--config", config.path], expect: 1, timeout: 60).err
        XCTAssertTrue(aliases.contains("an alias bomb?"), aliases)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "refused before the traces were opened")
    }

    /// A task whose prompt and completion cap pass the context: `tasks validate --model` names
    /// it, and `train` refuses before step 1 with its id (it used to die at the step that drew it).
    func testTaskTooLongForTheContextIsNamedBeforeTraining() throws {
        let model = try toyModel()
        let set = tmp.appendingPathComponent("long")
        // The toy shape's context is 64 tokens: a bos and 40 bytes leave 23 for the completion.
        _ = try write("name: long\nkind: math\nrules: math\nmax_completion_length: 32\n", "long/task.yaml")
        let fits = (0..<3).map { "{\"id\": \"ok\($0)\", \"prompt\": \"\($0)+\($0)=\", \"answer\": \"\(2 * $0)\"}" }
        let long = "{\"id\": \"too-long\", \"prompt\": \"\(String(repeating: "9", count: 40))\", \"answer\": \"1\"}"
        _ = try write((fits + [long]).joined(separator: "\n") + "\n", "long/train.jsonl")
        _ = try write("{\"id\": \"t0\", \"prompt\": \"1+2=\", \"answer\": \"3\"}\n", "long/test.jsonl")
        let validate = try grpo(["tasks", "validate", set.path, "--model", model], expect: 1, timeout: 120)
        XCTAssertTrue(
            validate.out.contains("TOO LONG task \"too-long\" (train): its prompt is 41 tokens"),
            validate.out)
        XCTAssertTrue(validate.err.contains("lower max_completion_length to at most 23"), validate.err)
        XCTAssertTrue(
            try grpo(
                ["tasks", "validate", set.path, "--model", model, "--max-completion-length", "23"],
                timeout: 120
            ).out.contains("every task fits 64 tokens"))
        let db = tmp.appendingPathComponent("long.sqlite").path
        let train = try grpo(
            [
                "train", "--model", model, "--task_set", set.path, "--db", db, "--max_steps", "20",
                "--output_dir", tmp.appendingPathComponent("out").path,
            ], expect: 1, timeout: 120
        ).err
        XCTAssertTrue(train.contains("task \"too-long\" (train)"), train)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "refused before step 1: no run recorded")
        // A task set whose rules name no rule set fails validation by the field.
        _ = try write("name: long\nkind: math\nrules: maths\n", "long/task.yaml")
        let rules = try grpo(["tasks", "validate", set.path], expect: 1, timeout: 60).err
        XCTAssertTrue(rules.contains("\(set.path)/task.yaml: field \"rules\": no rule set \"maths\""), rules)
    }

    // MARK: runs and their databases

    /// Run A's checkpoint with run B's database: refused, and B keeps its steps, its status
    /// and its metrics file. Its own database resumes it.
    func testResumeIntoAnotherRunsDatabaseIsRefused() throws {
        let model = try toyModel()
        func train(_ name: String, steps: Int) throws -> (db: String, out: String) {
            let db = tmp.appendingPathComponent("\(name).sqlite").path
            let out = tmp.appendingPathComponent(name).path
            try grpo(
                [
                    "train", "--model", model, "--task_set", "arith", "--prompts_per_step", "2",
                    "--num_generations", "2", "--max_completion_length", "4", "--save_steps", "1",
                    "--max_steps", "\(steps)", "--run_name", name, "--output_dir", out, "--db", db,
                    "--eval_limit", "1", "--quiet",
                ], timeout: 300)
            return (db, out)
        }
        let a = try train("a", steps: 2)
        let b = try train("b", steps: 3)
        let stepsOfB = "SELECT run_id, step FROM steps ORDER BY step"
        let before = try grpo(["traces", "sql", "--db", b.db, stepsOfB, "--json"], timeout: 60).out
        let metrics = tmp.appendingPathComponent("b.metrics.jsonl")
        let metricsBefore = try Data(contentsOf: metrics)
        let refused = try grpo(
            ["train", "--resume", a.out + "/checkpoint-1", "--db", b.db, "--quiet"], expect: 1,
            timeout: 120
        ).err
        XCTAssertTrue(refused.contains("run 1 here is \"b\""), refused)
        XCTAssertTrue(refused.contains("not the checkpoint's run \"a\""), refused)
        XCTAssertEqual(try grpo(["traces", "sql", "--db", b.db, stepsOfB, "--json"], timeout: 60).out, before)
        XCTAssertEqual(try Data(contentsOf: metrics), metricsBefore, "its metrics file untouched")
        let runs = try json(grpo(["traces", "runs", "--db", b.db, "--json"], timeout: 60).out)
        XCTAssertEqual(runs.map { $0["status"] as? String }, ["finished"])
        // Its own database resumes it; a save killed midway (its process gone) left a folder, now removed.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/sh")
        gone.arguments = ["-c", "exit 0"]
        try gone.run()
        gone.waitUntilExit()
        let stale = URL(fileURLWithPath: a.out).appendingPathComponent(".checkpoint-9.tmp-\(gone.processIdentifier)")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        let resumed = try grpo(["train", "--resume", a.out + "/checkpoint-1", "--db", a.db], timeout: 300).err
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        XCTAssertTrue(resumed.contains("removed \(stale.path), left by a save that was killed midway"), resumed)
    }

    /// A reader of standard output that went away (`| head`) is no death by SIGPIPE: grpo ignores
    /// the signal, sees EPIPE, and stops without an error.
    func testClosedStandardOutputEndsQuietly() throws {
        let db = tmp.appendingPathComponent("p.sqlite").path
        try grpo(
            [
                "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
                "--output", tmp.appendingPathComponent("o.jsonl").path, "--traces", db, "--quiet",
            ], timeout: 60)
        for args in [["traces", "export", "--db", db], ["traces", "runs", "--db", db]] {
            let p = Process()
            p.executableURL = try binary()
            p.currentDirectoryURL = Self.root
            p.arguments = args
            let out = Pipe()
            try out.fileHandleForReading.close()  // nobody will ever read
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let deadline = Deadline(p, seconds: 60)
            p.waitUntilExit()
            deadline.cancel()
            XCTAssertEqual(p.terminationReason, .exit, "\(args): killed by signal \(p.terminationStatus)")
            XCTAssertEqual(p.terminationStatus, 0, "\(args)")
        }
    }

    /// Two Ctrl-C: the process exits at once, and the run is marked interrupted, not running.
    func testDoubleInterruptMarksTheRunInterrupted() throws {
        let model = try toyModel()
        let db = tmp.appendingPathComponent("i.sqlite").path
        let run = try RunningGrpo(
            try binary(),
            [
                "train", "--model", model, "--task_set", "arith", "--prompts_per_step", "2", "--num_generations", "2",
                "--max_completion_length", "4", "--max_steps", "100000", "--save_steps", "100000", "--db", db,
                "--output_dir", tmp.appendingPathComponent("out").path,
            ], in: Self.root, seconds: 240)
        // Wait for the first step, then interrupt twice.
        run.read(until: "step 1/")
        XCTAssertTrue(run.seen.contains("step 1/"), run.seen)
        run.interrupt()
        run.read(until: "interrupted: finishing")
        run.interrupt()
        run.finish()
        XCTAssertFalse(run.deadline.fired, "still running after 240 s")
        // Whether the second Ctrl-C came first or the step in flight ended first, the run stopped
        // short: status 130, the run marked interrupted.
        XCTAssertEqual(run.process.terminationStatus, 130, run.seen)
        let runs = try json(grpo(["traces", "runs", "--db", db, "--json"], timeout: 60).out)
        XCTAssertEqual(runs.map { $0["status"] as? String }, ["interrupted"])
    }

    /// A trace database in a folder the user cannot write (another user's, a read-only mount)
    /// is read all the same, and nothing is created beside it. As root, chmod binds nobody, so
    /// grpo runs as the unprivileged user nobody (setpriv, util-linux) on a root-owned copy.
    func testTracesReadsADatabaseInAFolderTheUserCannotWrite() throws {
        let db = tmp.appendingPathComponent("w/t.sqlite").path
        try grpo(
            [
                "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
                "--output", tmp.appendingPathComponent("o.jsonl").path, "--traces", db, "--quiet",
            ], timeout: 60)
        let shelf = tmp.appendingPathComponent("shelf")
        try FileManager.default.createDirectory(at: shelf, withIntermediateDirectories: true)
        let copy = shelf.appendingPathComponent("t.sqlite").path
        try FileManager.default.copyItem(atPath: db, toPath: copy)
        chmod(copy, 0o444)
        chmod(shelf.path, 0o555)
        defer { chmod(shelf.path, 0o755) }
        var command = ["traces", "runs", "--db", copy, "--json"]
        if getuid() == 0 {
            let setprivs = ["/usr/bin/setpriv", "/bin/setpriv"]
            guard let setpriv = setprivs.first(where: FileManager.default.isExecutableFile) else {
                throw XCTSkip("running as root without setpriv: cannot read as a user who may not write the folder")
            }
            // The test's folder must be open to nobody on the way to the copy (the binary's folders are).
            chmod(tmp.path, 0o755)
            command = ["--reuid", "65534", "--regid", "65534", "--clear-groups", try binary().path] + command
            let p = Process()
            p.executableURL = URL(fileURLWithPath: setpriv)
            p.arguments = command
            p.currentDirectoryURL = shelf
            let out = Pipe()
            let err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let deadline = Deadline(p, seconds: 60)
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            deadline.cancel()
            XCTAssertEqual(p.terminationStatus, 0, String(decoding: e, as: UTF8.self))
            XCTAssertEqual(try json(String(decoding: o, as: UTF8.self)).count, 1)
        } else {
            XCTAssertEqual(try json(grpo(command, timeout: 60).out).count, 1)
        }
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: shelf.path), ["t.sqlite"],
            "nothing created beside it")
    }

    // MARK: temporary folders

    /// Commands that write files (a model, scores, a task set, a training run with its plots)
    /// leave no TemporaryDirectory.* folder in the temporary directory.
    func testWritingFilesLeavesNoTemporaryDirectories() throws {
        let privateTmp = tmp.appendingPathComponent("private-tmp")
        try FileManager.default.createDirectory(at: privateTmp, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = privateTmp.path
        func leftovers() throws -> [String] {
            let names = try FileManager.default.contentsOfDirectory(atPath: privateTmp.path)
            return names.filter { $0.hasPrefix("TemporaryDirectory.") }
        }
        XCTAssertEqual(try leftovers(), [])
        let model = tmp.appendingPathComponent("m").path
        try grpo(["init-model", "--shape", "toy", "--out", model], environment: environment, timeout: 60)
        try grpo(
            ["init-model", "--shape", "toy", "--out", model, "--seed", "2"], environment: environment, timeout: 60)
        try grpo(
            [
                "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
                "--output", tmp.appendingPathComponent("o.jsonl").path, "--quiet",
            ],
            environment: environment, timeout: 60)
        try grpo(
            [
                "tasks", "generate", "arith", "--out", tmp.appendingPathComponent("a").path, "--train", "4",
                "--test", "2", "--sft", "2",
            ], environment: environment, timeout: 60)
        try grpo(
            [
                "train", "--model", model, "--task_set", "arith", "--prompts_per_step", "2", "--num_generations", "2",
                "--max_completion_length", "4", "--max_steps", "2", "--save_steps", "1", "--eval_limit", "1",
                "--db", tmp.appendingPathComponent("t.sqlite").path,
                "--output_dir", tmp.appendingPathComponent("out").path, "--quiet",
            ],
            environment: environment, timeout: 300)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("out/plots/reward.svg").path))
        XCTAssertEqual(try leftovers(), [])
    }
}
