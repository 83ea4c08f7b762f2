// `grpo traces` on real scored completions, its errors, and a trace database
// that survives `kill -9` of its writer mid-step.

import XCTest
import Foundation

extension CLITests {
    func json(_ text: String) throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
    }

    /// Scores the shipped example completions into a database and inspects them every way.
    func testInspectScoredCompletions() throws {
        let db = tmp.appendingPathComponent("runs/scored/traces.sqlite").path
        let scored = try grpo([
            "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
            "--output", tmp.appendingPathComponent("scored.jsonl").path, "--traces", db, "--quiet",
        ])
        XCTAssertEqual(scored.out, "")

        let runs = try json(grpo(["traces", "runs", "--db", db, "--json"]).out)
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0]["name"] as? String, "math-completions.jsonl")
        XCTAssertEqual(runs[0]["samples"] as? Int, 12)
        XCTAssertEqual(runs[0]["rules_name"] as? String, "math")

        // Format right, answer wrong or missing: samples 2, 3, 7 and 8 of the file, newest first.
        let wrong = try json(grpo(["traces", "samples", "--db", db, "--rule", "answer", "--below", "1", "--json"]).out)
        XCTAssertEqual(wrong.map { $0["id"] as? Int }, [8, 7, 3, 2])
        XCTAssertEqual(
            wrong[3]["completion"] as? String,
            "<think>17 * 23 = 17 * 20 + 17 * 3 = 340 + 41 = 381.</think><answer>381</answer>")
        let best = try json(
            grpo(["traces", "samples", "--db", db, "--order", "reward", "--limit", "2", "--task", "frac-6-8", "--json"])
                .out)
        XCTAssertEqual(best.map { $0["reward"] as? Double }, [1.2, 1.2])
        let table = try grpo(["traces", "samples", "--db", db, "--reason", "no_answer"]).out
        XCTAssertTrue(table.hasPrefix("id  step  task_id"), table)
        XCTAssertTrue(table.contains("17 * 23 is 391."), table)

        let show = try grpo(["traces", "show", "2", "--db", db]).out
        XCTAssertTrue(show.contains("wrong_answer"), show)
        XCTAssertTrue(show.contains("What is 17 * 23?"), show)
        let group =
            try JSONSerialization.jsonObject(with: Data(grpo(["traces", "group", "1", "--db", db, "--json"]).out.utf8))
            as! [String: Any]
        let samples = group["samples"] as! [[String: Any]]
        XCTAssertEqual(samples.map { $0["reward"] as? Double }, [1.2, 0.2, 0, 1.2])
        // GRPO's advantage of the 1.2 in [1.2, 0.2, 0, 1.2]: (1.2 - 0.65) / (sample std 0.6403 + 1e-4).
        XCTAssertEqual(
            samples[0]["advantage"] as! Double,
            0.55 / (((0.55 * 0.55 * 2 + 0.45 * 0.45 + 0.65 * 0.65) / 3).squareRoot() + 1e-4), accuracy: 1e-9)

        let export = try grpo(["traces", "export", "--db", db, "--run", "1"]).out.split(separator: "\n")
        XCTAssertEqual(export.count, 12)
        let first = try JSONSerialization.jsonObject(with: Data(export[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["reasons"] as? [String: String], ["format": "format_ok", "answer": "correct"])

        XCTAssertEqual(
            try grpo(["traces", "sql", "--db", db, "SELECT count(*) AS n FROM flat_groups"]).out, "n\n-\n1\n")
        // Every command reads the newest database under runs/ when --db is not given.
        XCTAssertEqual(try json(grpo(["traces", "runs", "--json"], in: tmp).out).count, 1)
    }

    func testErrorsNameWhatIsWrong() throws {
        let db = tmp.appendingPathComponent("t.sqlite").path
        try grpo([
            "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
            "--output", tmp.appendingPathComponent("o.jsonl").path, "--traces", db, "--quiet",
        ])
        // Exit status 1 for what the database says, 64 (usage) for options that do not fit together.
        func error(_ args: [String], status: Int32 = 1) throws -> String {
            try grpo(args + ["--db", db], expect: status).err
        }
        XCTAssertTrue(try error(["traces", "show", "99"]).contains("no sample 99"))
        XCTAssertTrue(try error(["traces", "group", "99"]).contains("no group 99"))
        XCTAssertTrue(try error(["traces", "steps", "--run", "nope"]).contains("no run nope"))
        XCTAssertTrue(
            try error(["traces", "samples", "--rule", "style", "--below", "1"]).contains("no rule named \"style\""))
        XCTAssertTrue(
            try error(["traces", "samples", "--below", "1"], status: 64).contains("--below and --above need --rule"))
        XCTAssertTrue(try error(["traces", "sql", "DELETE FROM samples"]).contains("readonly"))
        let missing = try grpo(["traces", "runs", "--db", tmp.appendingPathComponent("none.sqlite").path], expect: 1)
            .err
        XCTAssertTrue(missing.contains("none.sqlite"), missing)
        let empty = try grpo(["traces", "runs"], expect: 1, in: tmp).err
        XCTAssertTrue(empty.contains("pass --db PATH"), empty)
        XCTAssertEqual(
            try json(grpo(["traces", "sql", "--db", db, "SELECT count(*) AS n FROM samples", "--json"]).out)[0]["n"]
                as? Int, 12,
            "nothing was changed")
    }

    /// `kill -9` of a writer in the middle of its steps: the file opens, passes SQLite's
    /// integrity check, holds every committed step whole (1,024 samples, 3 rule scores each)
    /// and nothing of the step in flight; another SQLite (Python's) read it during the writes;
    /// and a new writer appends to it.
    func testKillDuringWriteLosesOnlyTheStepInFlight() throws {
        let db = tmp.appendingPathComponent("k.sqlite").path
        let writer = Process()
        writer.executableURL = try binary()
        writer.arguments = [
            "bench", "traces", "--samples", "50000000", "--db", db, "--write-only", "--keep", "--quiet",
        ]
        writer.standardOutput = FileHandle.nullDevice
        writer.standardError = FileHandle.nullDevice
        try writer.run()
        defer {
            if writer.isRunning {
                kill(writer.processIdentifier, SIGKILL)
                writer.waitUntilExit()
            }
        }

        func python(_ code: String) throws -> String {
            let p = Process()
            p.executableURL = try XCTUnwrap(Self.python3, "python3 is not on PATH")
            p.arguments = [
                "-c",
                "import sqlite3, sys\ndb = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n" + code, db,
            ]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Python's own SQLite reads while the writer writes: committed steps are whole.
        let deadline = Date().addingTimeInterval(120)
        var seen = 0
        while seen < 4 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
            let counts = try python(
                "print(*db.execute('SELECT count(*), coalesce(sum(last_sample - first_sample + 1), 0) "
                    + "FROM steps WHERE first_sample IS NOT NULL').fetchone())")
            let parts = counts.split(separator: " ").compactMap { Int($0) }
            guard parts.count == 2 else { continue }
            XCTAssertEqual(parts[1], parts[0] * 1024, "a reader sees whole steps only")
            seen = parts[0]
        }
        XCTAssertGreaterThanOrEqual(seen, 4, "the writer did not commit 4 steps in 2 minutes")
        // The writer commits without pause, so a fixed delay still lands the kill mid-step.
        Thread.sleep(forTimeInterval: 0.025)
        kill(writer.processIdentifier, SIGKILL)
        writer.waitUntilExit()
        XCTAssertEqual(writer.terminationReason, .uncaughtSignal)

        XCTAssertEqual(try python("print(db.execute('PRAGMA integrity_check').fetchone()[0])"), "ok")
        let check = try grpo([
            "traces", "sql", "--db", db,
            """
            SELECT (SELECT count(*) FROM steps) AS steps, (SELECT count(*) FROM samples) AS samples,
                   (SELECT count(*) FROM rule_scores) AS scores, (SELECT count(*) FROM groups) AS groups,
                   (SELECT count(*) FROM steps WHERE last_sample - first_sample + 1 != 1024) AS partial
            """, "--json",
        ]).out
        let row = try json(check)[0]
        let steps = row["steps"] as! Int
        XCTAssertGreaterThanOrEqual(steps, seen)
        XCTAssertEqual(row["samples"] as? Int, steps * 1024)
        XCTAssertEqual(row["scores"] as? Int, steps * 1024 * 3)
        XCTAssertEqual(row["groups"] as? Int, steps * 64)
        XCTAssertEqual(row["partial"] as? Int, 0)
        XCTAssertEqual(
            try json(grpo(["traces", "sql", "--db", db, "PRAGMA foreign_key_check", "--json"]).out).count, 0)

        // A new writer opens the file and appends a run.
        try grpo([
            "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
            "--output", tmp.appendingPathComponent("o.jsonl").path, "--traces", db, "--quiet",
        ])
        XCTAssertEqual(
            try json(grpo(["traces", "runs", "--db", db, "--json"]).out).map { $0["samples"] as? Int },
            [steps * 1024, 12])
    }

    /// python3 as PATH finds it (the test uses Python's sqlite3 as a second, independent reader).
    static let python3: URL? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { URL(fileURLWithPath: String($0)).appendingPathComponent("python3") }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}
