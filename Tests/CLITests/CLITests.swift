// The built `grpo` binary, run as a user runs it: init-model, sample, sft,
// and the errors for missing files, bad configs and bad options.

import XCTest
import Foundation

final class CLITests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "grpo-cli-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    /// The binary built with this test bundle, no older than the sources (BuiltBinary.swift).
    func binary() throws -> URL {
        do { return try BuiltBinary.locate(root: Self.root) } catch {
            XCTFail("\(error)")
            throw error
        }
    }

    /// Runs grpo (or `executable`) to its end (`input`: its standard input), killed (and the test
    /// failed) past `timeout` seconds.
    @discardableResult
    func grpo(
        _ args: [String], expect status: Int32 = 0, in folder: URL? = nil, environment: [String: String]? = nil,
        input: URL? = nil, timeout: TimeInterval = 300, executable: URL? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (out: String, err: String) {
        let p = Process()
        p.executableURL = try executable ?? binary()
        p.arguments = args
        if let environment { p.environment = environment }
        p.currentDirectoryURL = folder ?? Self.root
        if let input { p.standardInput = try FileHandle(forReadingFrom: input) }
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Deadline(p, seconds: timeout)
        // Standard error is read on its own thread: a full pipe must not block grpo while we wait on the other.
        var e = Data()
        let errors = DispatchGroup()
        errors.enter()
        DispatchQueue.global().async {
            e = err.fileHandleForReading.readDataToEndOfFile()
            errors.leave()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        errors.wait()
        p.waitUntilExit()
        deadline.cancel()
        let result = (String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        let command = (executable?.lastPathComponent ?? "grpo") + " " + args.joined(separator: " ")
        XCTAssertFalse(deadline.fired, "\(command): killed after \(timeout) s", file: file, line: line)
        XCTAssertEqual(p.terminationStatus, status, "\(command): \(result.1)", file: file, line: line)
        return result
    }

    func testInitSampleAndSFT() throws {
        let model = tmp.appendingPathComponent("toy").path
        let initOut = try grpo(["init-model", "--shape", "toy", "--out", model, "--seed", "3"])
        XCTAssertTrue(initOut.out.contains("parameters"))
        for f in ["config.json", "model.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: model + "/" + f), f)
        }
        let sampled = try grpo([
            "sample", "--checkpoint", model, "--prompt", "1+1=", "-n", "3", "--max-new-tokens", "5",
            "--seed", "1", "--json",
        ])
        let lines = sampled.out.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        for l in lines {
            let obj = try JSONSerialization.jsonObject(with: Data(l.utf8)) as! [String: Any]
            XCTAssertEqual(obj["tokens"] as? Int, 5)
            XCTAssertEqual(obj["finish_reason"] as? String, "length")
        }
        // The same seed gives the same completions.
        XCTAssertEqual(
            try grpo([
                "sample", "--checkpoint", model, "--prompt", "1+1=", "-n", "3", "--max-new-tokens", "5",
                "--seed", "1", "--json",
            ]).out, sampled.out)

        let data = tmp.appendingPathComponent("d.jsonl")
        try "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"c\", \"completion\": \"d\"}\n".write(
            to: data, atomically: false, encoding: .utf8)
        let out = tmp.appendingPathComponent("sft").path
        let sft = try grpo([
            "sft", "--task_set", data.path, "--model", model, "--output_dir", out, "--max_steps", "4",
            "--per_device_train_batch_size", "2", "--save-steps", "2", "--logging_steps", "1", "--json",
        ])
        XCTAssertTrue(sft.err.contains("step 4/4"), sft.err)
        XCTAssertTrue(sft.err.contains("ETA"), sft.err)
        XCTAssertEqual(sft.out.split(separator: "\n").count, 4, "one JSON line per logged step")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/final/model.safetensors"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoint-4/optimizer.safetensors"))
        // --quiet prints nothing on the terminal.
        let quiet = try grpo([
            "sft", "--task_set", data.path, "--model", model, "--output_dir", out + "-q", "--max_steps", "2",
            "--per_device_train_batch_size", "2", "--quiet",
        ])
        XCTAssertEqual(quiet.err, "")
    }

    func testClearErrors() throws {
        let missing = try grpo(
            ["sample", "--checkpoint", tmp.appendingPathComponent("nope").path, "--prompt", "x"], expect: 1)
        XCTAssertTrue(missing.err.contains("nope: no such file"), missing.err)

        let cfg = tmp.appendingPathComponent("bad.json")
        try "{\"hidden_size\": 64, \"num_attention_heads\": 2, \"head_dim\": 32, \"n_experts\": 4}".write(
            to: cfg, atomically: false, encoding: .utf8)
        let bad = try grpo(
            ["init-model", "--config", cfg.path, "--out", tmp.appendingPathComponent("m").path], expect: 1)
        XCTAssertTrue(bad.err.contains("bad.json: key \"n_experts\": unknown key"), bad.err)

        try "{\"hidden_size\": 64, \"num_attention_heads\": 3}".write(to: cfg, atomically: false, encoding: .utf8)
        let shape = try grpo(
            ["init-model", "--config", cfg.path, "--out", tmp.appendingPathComponent("m").path], expect: 1)
        XCTAssertTrue(shape.err.contains("key \"num_attention_heads\""), shape.err)

        let data = tmp.appendingPathComponent("d.jsonl")
        try "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": 3, \"completion\": \"d\"}\n".write(
            to: data, atomically: false, encoding: .utf8)
        let sft = try grpo(
            ["sft", "--task_set", data.path, "--shape", "toy", "--output_dir", tmp.appendingPathComponent("o").path],
            expect: 1)
        XCTAssertTrue(sft.err.contains("d.jsonl:2: field \"prompt\": expected a string"), sft.err)

        let unknownShape = try grpo(
            ["init-model", "--shape", "huge", "--out", tmp.appendingPathComponent("m").path], expect: 1)
        XCTAssertTrue(unknownShape.err.contains("unknown shape \"huge\""), unknownShape.err)
    }

    /// Ctrl-C during SFT: the step in flight finishes, a checkpoint is written,
    /// the process exits 130 with the step it stopped at, and --resume_from_checkpoint continues from it.
    func testInterruptWritesCheckpointAndResumes() throws {
        let data = tmp.appendingPathComponent("d.jsonl")
        try (0..<40).map { "{\"prompt\": \"\($0)+\($0)=\", \"completion\": \"\($0 * 2)\"}" }.joined(separator: "\n")
            .write(to: data, atomically: false, encoding: .utf8)
        let out = tmp.appendingPathComponent("sft").path
        let p = Process()
        p.executableURL = try binary()
        p.arguments = [
            "sft", "--task_set", data.path, "--shape", "toy", "--output_dir", out, "--max_steps", "100000",
            "--per_device_train_batch_size", "4", "--logging_steps", "1",
        ]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // Wait for the first progress line, then interrupt.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("step 2/") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        kill(p.processIdentifier, SIGINT)
        let rest = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: seen + rest, as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 130, text)
        XCTAssertFalse(text.contains("sft done"), text)
        let dirs = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("checkpoint-") }
        XCTAssertEqual(dirs.count, 1, "\(dirs)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/final"), "an interrupted run has no final model")
        let step = Int(dirs[0].dropFirst("checkpoint-".count))!
        XCTAssertGreaterThanOrEqual(step, 2)
        XCTAssertTrue(text.contains("interrupted at step \(step); checkpoint: \(out)/checkpoint-\(step)"), text)
        let resumed = try grpo([
            "sft", "--task_set", data.path, "--resume_from_checkpoint", out, "--output_dir", out, "--max_steps",
            "\(step + 2)",
            "--per_device_train_batch_size", "4", "--logging_steps", "1",
        ])
        XCTAssertTrue(resumed.err.contains("steps \(step + 1)...\(step + 2)"), resumed.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/final/model.safetensors"))
    }

    func testRewardsScoreAndCheck() throws {
        let rules = tmp.appendingPathComponent("r.yaml")
        try """
        name: fmt
        rules:
          - {name: format, kind: regex, pattern: '^<answer>\\d+</answer>$', weight: 0.5}
          - {name: tags, kind: tag_count, tags: ['<answer>', '</answer>'], applies_to: [math]}
        """.write(to: rules, atomically: false, encoding: .utf8)
        let input = tmp.appendingPathComponent("in.jsonl")
        try """
        {"id": "a", "completion": "<answer>12</answer>", "task": {"kind": "math", "answer": "12"}}
        {"id": "b", "completion": "twelve", "task": {"kind": "math"}}
        {"id": "c", "completion": 12, "task": {"kind": "math"}}
        {"id": "d", "completion": "x", "task": {"kind": "code"}}
        """.write(to: input, atomically: false, encoding: .utf8)
        // Bad line: an error naming file, line and field, unless told to skip it.
        let failed = try grpo(["rewards", "score", "--rules", rules.path, "--input", input.path], expect: 1)
        XCTAssertTrue(failed.err.contains("in.jsonl:3: field \"completion\": expected a string"), failed.err)
        let out = tmp.appendingPathComponent("out.jsonl")
        let ok = try grpo([
            "rewards", "score", "--rules", rules.path, "--input", input.path, "--output", out.path, "--skip-bad-lines",
        ])
        XCTAssertTrue(ok.err.contains("skipped: \(input.path):3"), ok.err)
        XCTAssertTrue(ok.err.contains("per second"), ok.err)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(lines.map { $0["id"] as? String }, ["a", "b", "d"])
        XCTAssertEqual(lines[0]["reward"] as? Double, 1.5)
        XCTAssertEqual((lines[1]["reasons"] as? [String: String])?["format"], "format_mismatch")
        XCTAssertEqual((lines[2]["reasons"] as? [String: String])?["tags"], "not_applicable")

        let cases = tmp.appendingPathComponent("cases.jsonl")
        try """
        {"completion": "<answer>3</answer>", "task": {"kind": "math"}, "expect": {"format": 1, "tags": 1}, \
        "expect_reward": 1.5}
        {"completion": "3", "task": {"kind": "code"}, "expect": {"format": 0, "tags": null}}
        """.write(to: cases, atomically: false, encoding: .utf8)
        let passing = try grpo(["rewards", "check", "--rules", rules.path, "--cases", cases.path])
        XCTAssertTrue(passing.out.contains("2 passed, 0 failed"), passing.out)
        try """
        {"id": "wrong", "completion": "<answer>3</answer>", "task": {"kind": "math"}, "expect": {"format": 0}}
        """.write(to: cases, atomically: false, encoding: .utf8)
        let failing = try grpo(["rewards", "check", "--rules", rules.path, "--cases", cases.path], expect: 1)
        XCTAssertTrue(
            failing.out.contains("cases.jsonl:1 (wrong): format: expected 0.0, got 1.0 (format_ok)"), failing.out)
        XCTAssertTrue(failing.out.contains("0 passed, 1 failed"), failing.out)

        let list = try grpo(["rewards", "list", "--rules", rules.path])
        XCTAssertTrue(list.out.contains("format  kind regex, weight 0.5"), list.out)
        let bad = tmp.appendingPathComponent("bad.yaml")
        try "rules:\n  - {name: f, kind: regex, pattern: '(x'}".write(to: bad, atomically: false, encoding: .utf8)
        let badList = try grpo(["rewards", "list", "--rules", bad.path], expect: 1)
        // Ours: the file, line, rule and field; PCRE2's: the reason's words, which vary by version.
        XCTAssertTrue(badList.err.contains("bad.yaml:2: rule \"f\": field \"pattern\": invalid regex: "), badList.err)
        XCTAssertTrue(
            badList.err.range(of: #"invalid regex: \S.* at offset \d+"#, options: .regularExpression) != nil,
            badList.err)
    }

    func testTasksGenerateShowAndErrors() throws {
        let out = tmp.appendingPathComponent("arith3").path
        let gen = try grpo([
            "tasks", "generate", "arith", "--out", out, "--digits", "3", "--train", "50", "--test", "10", "--sft", "20",
            "--seed", "4",
        ])
        XCTAssertTrue(gen.out.contains("train 50, test 10, sft 20"), gen.out)
        let again = tmp.appendingPathComponent("again").path
        _ = try grpo([
            "tasks", "generate", "arith", "--out", again, "--digits", "3", "--train", "50", "--test", "10", "--sft",
            "20", "--seed", "4",
        ])
        XCTAssertEqual(
            try String(contentsOfFile: out + "/train.jsonl", encoding: .utf8),
            try String(contentsOfFile: again + "/train.jsonl", encoding: .utf8))
        let show = try grpo(["tasks", "show", out, "--split", "test", "--limit", "2", "--json"])
        XCTAssertEqual(show.out.split(separator: "\n").count, 2)
        let listed = try grpo(["tasks", "list"])
        XCTAssertTrue(listed.out.contains("countdown  math"), listed.out)
        let tooMany = try grpo(
            ["tasks", "generate", "arith", "--out", out, "--digits", "1", "--train", "500"], expect: 1)
        XCTAssertTrue(tooMany.err.contains("distinct"), tooMany.err)
        try "{\"id\": \"a\", \"prompt\": \"x\"}\n".write(
            toFile: out + "/train.jsonl", atomically: false, encoding: .utf8)
        let bad = try grpo(["tasks", "show", out], expect: 1)
        XCTAssertTrue(bad.err.contains("train.jsonl:1: field \"answer\": missing"), bad.err)
    }
}

/// Kills a process that runs past its deadline.
final class Deadline: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    private(set) var fired = false

    init(_ process: Process, seconds: TimeInterval) {
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            lock.lock()
            defer { lock.unlock() }
            guard !done else { return }
            fired = true
            kill(pid, SIGKILL)
        }
    }

    func cancel() {
        lock.lock()
        done = true
        lock.unlock()
    }
}
