// The trace store: what is written reads back exactly, a step is all or
// nothing, the views answer what they promise, and bad input is refused.

import XCTest
import Foundation
import GRDB
import Support
import Traces

final class TraceStoreTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("traces-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    static let rules = [
        RuleInfo(name: "format", kind: "regex", weight: 0.2), RuleInfo(name: "answer", kind: "math", weight: 1),
    ]

    /// A group of four samples: rewards 1.2, 0.2, 0 and no reward, with rule scores to match.
    static func group(task: String, step: Int) -> GroupRecord {
        func sample(_ i: Int, format: Double?, answer: Double?, reason: String) -> SampleRecord {
            let reward: Double? = format == nil && answer == nil ? nil : 0.2 * (format ?? 0) + (answer ?? 0)
            return SampleRecord(
                completion: "<think>step \(step) sample \(i)</think><answer>\(i)</answer>",
                tokenIDs: [Int32(i), 7, -1, Int32.max], tokenLogprobs: [-0.5, -0.25, -1.5, 0],
                finishReason: i == 3 ? "length" : "stop", truncated: i == 3, reward: reward,
                advantage: Double(i) - 1.5,
                scores: [
                    RuleScoreRecord(
                        rule: "format", score: format,
                        reason: format == nil ? "not_applicable" : format! >= 1 ? "format_ok" : "format_bad"),
                    RuleScoreRecord(
                        rule: "answer", score: answer, reason: reason, detail: answer == 0 ? "got \(i)" : nil),
                ])
        }
        return GroupRecord(
            taskID: task, prompt: "What is \(task)?",
            samples: [
                sample(0, format: 1, answer: 1, reason: "correct"),
                sample(1, format: 1, answer: 0, reason: "wrong_answer"),
                sample(2, format: 0, answer: 0, reason: "no_answer"),
                sample(3, format: nil, answer: nil, reason: "not_applicable"),
            ])
    }

    func makeRun(_ path: String, steps: Int = 2) throws -> TraceWriter {
        let w = try TraceWriter(path: path)
        try w.startRun(
            RunInfo(
                name: "test", seed: 7, config: "{\"beta\":0}", rulesName: "math", rulesText: "abc", rules: Self.rules))
        for step in 1...steps {
            var m = StepMetrics(extra: ["reward/answer": 0.25])
            m.rewardMean = 0.35
            m.loss = -0.1
            m.kl = .nan
            try w.record(
                StepRecord(
                    step: step, metrics: m,
                    groups: [Self.group(task: "t1", step: step), Self.group(task: "t2", step: step)]))
        }
        return w
    }

    func testRoundTripThroughReaderAndSQL() throws {
        let path = folder.appendingPathComponent("a/traces.sqlite").path
        let w = try makeRun(path)
        try w.recordEval(step: 2, taskSet: "arith", split: "test", metrics: ["accuracy": 0.5])
        try w.recordCheckpoint(step: 2, path: "runs/x/checkpoint-2")
        try w.finish(.finished)

        let r = try TraceReader(path: path)
        let runs = try r.runs()
        XCTAssertEqual(runs.rows.count, 1)
        let row = Dictionary(uniqueKeysWithValues: zip(runs.columns, runs.rows[0]))
        XCTAssertEqual(row["status"], .text("finished"))
        XCTAssertEqual(row["samples"], .integer(16))
        XCTAssertEqual(row["last_step"], .integer(2))
        // sha256("abc"), the rule text's hash, by the known test vector.
        XCTAssertEqual(row["rules_hash"], .text("ba7816bf8f01"))
        let run = try r.resolveRun(nil)
        XCTAssertEqual(try r.resolveRun("test"), run)
        XCTAssertThrowsError(try r.resolveRun("nope")) { XCTAssertEqual($0 as? TraceError, .unknownRun("nope")) }

        let steps = try r.steps(run: run)
        XCTAssertEqual(steps.rows.count, 2)
        XCTAssertEqual(steps.rows[0][steps.columns.firstIndex(of: "reward_mean")!], .real(0.35))
        XCTAssertEqual(steps.rows[0][steps.columns.firstIndex(of: "kl")!], .null, "NaN is stored as NULL")
        let metrics = try r.stepMetrics(run: run)
        XCTAssertTrue(metrics[0].metrics.contains("\"reward/answer\":0.25"), metrics[0].metrics)

        // The group's stats are computed over the rewards that exist: 1.2, 0.2, 0 (not the missing one).
        let group = try r.group(1)
        let info = Dictionary(uniqueKeysWithValues: zip(group.info.columns, group.info.rows[0]))
        XCTAssertEqual(info["reward_mean"]!.double!, 1.4 / 3, accuracy: 1e-12)
        let m = 1.4 / 3
        XCTAssertEqual(
            info["reward_std"]!.double!, (((1.2 - m) * (1.2 - m) + (0.2 - m) * (0.2 - m) + m * m) / 2).squareRoot(),
            accuracy: 1e-12,
            "sample std, n - 1")
        XCTAssertEqual(
            group.samples.columns,
            ["id", "idx", "reward", "advantage", "tokens", "finish", "format", "answer", "completion"])
        XCTAssertEqual(group.samples.rows.map { $0[2] }, [.real(1.2), .real(0.2), .real(0), .null])
        XCTAssertEqual(group.samples.rows.map { $0[7] }, [.real(1), .real(0), .real(0), .null])

        // One sample whole: blobs decode, scores come back with reasons and details.
        let one = try r.sample(2)
        let f = Dictionary(uniqueKeysWithValues: zip(one.fields.columns, one.fields.rows[0]))
        XCTAssertEqual(f["completion"], .text("<think>step 1 sample 1</think><answer>1</answer>"))
        XCTAssertEqual(f["logprob_sum"], .real(-2.25))
        XCTAssertEqual(f["tokens"], .integer(4))
        guard case .blob(let ids) = f["token_ids"]! else { return XCTFail("token_ids is not a blob") }
        XCTAssertEqual(ids.count, 16)
        XCTAssertEqual(Array(ids.prefix(8)), [1, 0, 0, 0, 7, 0, 0, 0], "little-endian int32")
        XCTAssertEqual(one.scores.rows.map { $0[4] }, [.text("format_ok"), .text("wrong_answer")])
        XCTAssertEqual(one.scores.rows[1][5], .text("got 1"))
        XCTAssertThrowsError(try r.sample(999)) { XCTAssertEqual($0 as? TraceError, .unknownSample(999)) }
        XCTAssertThrowsError(try r.group(999)) { XCTAssertEqual($0 as? TraceError, .unknownGroup(999)) }

        // Export: one JSON object per sample, which Foundation parses, with every rule.
        var lines: [String] = []
        try r.exportJSONL(run: run) { lines.append($0) }
        XCTAssertEqual(lines.count, 16)
        let first = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(first["token_ids"] as? [Int], [1, 7, -1, Int(Int32.max)])
        XCTAssertEqual(first["token_logprobs"] as? [Double], [-0.5, -0.25, -1.5, 0])
        XCTAssertEqual(first["rules"] as? [String: Double], ["format": 1, "answer": 0])
        XCTAssertEqual(first["reasons"] as? [String: String], ["format": "format_ok", "answer": "wrong_answer"])
        XCTAssertEqual(first["task_id"] as? String, "t1")
        XCTAssertEqual(first["truncated"] as? Bool, false)
        let last = try JSONSerialization.jsonObject(with: Data(lines[3].utf8)) as! [String: Any]
        XCTAssertTrue(last["reward"] is NSNull)

        let evals = try r.sql("SELECT metric, value FROM evals")
        XCTAssertEqual(evals.rows, [[.text("accuracy"), .real(0.5)]])
        XCTAssertEqual(try r.sql("SELECT path FROM checkpoints").rows, [[.text("runs/x/checkpoint-2")]])
        XCTAssertEqual(
            try r.sql("PRAGMA foreign_key_check").rows.count, 0, "every id the writer wrote points at its row")
    }

    func testSampleFilters() throws {
        let path = folder.appendingPathComponent("traces.sqlite").path
        _ = try makeRun(path, steps: 3)
        let r = try TraceReader(path: path)
        let run = try r.resolveRun(nil)
        func ids(_ configure: (inout SampleFilter) -> Void) throws -> [Int64] {
            var f = SampleFilter()
            f.limit = 100
            configure(&f)
            return try r.samples(run: run, filter: f).rows.map {
                if case .integer(let i) = $0[0] { return i } else { return -1 }
            }
        }
        // Sample ids: step s, group g (0/1), index i -> 8 (s - 1) + 4 g + i + 1.
        func id(_ s: Int, _ g: Int, _ i: Int) -> Int64 { Int64(8 * (s - 1) + 4 * g + i + 1) }
        XCTAssertEqual(
            try ids {
                $0.order = .id
                $0.descending = false
            }.count, 24)
        XCTAssertEqual(
            try ids {
                $0.step = 2
                $0.descending = false
            }, (0..<2).flatMap { g in (0..<4).map { id(2, g, $0) } })
        XCTAssertEqual(
            try ids {
                $0.taskID = "t2"
                $0.step = 3
                $0.descending = false
            }, (0..<4).map { id(3, 1, $0) })
        XCTAssertEqual(
            try ids {
                $0.rule = "answer"
                $0.above = 0.5
                $0.descending = false
            },
            (1...3).flatMap { s in [id(s, 0, 0), id(s, 1, 0)] })
        XCTAssertEqual(
            try ids {
                $0.rule = "format"
                $0.below = 1
                $0.step = 1
                $0.descending = false
            }, [id(1, 0, 2), id(1, 1, 2)])
        XCTAssertEqual(
            try ids {
                $0.reason = "no_answer"
                $0.step = 1
                $0.descending = false
            }, [id(1, 0, 2), id(1, 1, 2)])
        XCTAssertEqual(
            try ids {
                $0.reason = "not_applicable"
                $0.step = 1
                $0.descending = false
            }, [id(1, 0, 3), id(1, 1, 3)],
            "a sample with two matching rules is listed once")
        XCTAssertEqual(
            try ids {
                $0.rule = "answer"
                $0.reason = "correct"
                $0.step = 3
            }, [id(3, 1, 0), id(3, 0, 0)])
        // Orders: reward descending puts the 1.2s first and NULL rewards last; ties go to the newest.
        XCTAssertEqual(
            try ids {
                $0.order = .reward
                $0.step = 1
                $0.limit = 3
            }, [id(1, 1, 0), id(1, 0, 0), id(1, 1, 1)])
        XCTAssertEqual(
            try ids {
                $0.order = .reward
                $0.step = 1
                $0.descending = false
                $0.limit = 3
            }, [id(1, 1, 3), id(1, 0, 3), id(1, 1, 2)])
        XCTAssertEqual(
            try ids {
                $0.order = .advantage
                $0.descending = false
                $0.step = 1
                $0.limit = 2
            }, [id(1, 1, 0), id(1, 0, 0)])
        XCTAssertEqual(
            try ids {
                $0.order = .length
                $0.step = 1
                $0.limit = 1
            }, [id(1, 1, 3)])
        XCTAssertEqual(
            try ids {
                $0.order = .reward
                $0.limit = 3
            }, [id(3, 1, 0), id(3, 0, 0), id(2, 1, 0)])
        XCTAssertEqual(try ids { $0.limit = 5 }.count, 5)
        XCTAssertThrowsError(
            try ids {
                $0.rule = "style"
                $0.below = 1
            }
        ) { XCTAssertEqual($0 as? TraceError, .unknownRule("style")) }
        XCTAssertThrowsError(try ids { $0.below = 1 }) { XCTAssertTrue("\($0)".contains("--rule"), "\($0)") }
    }

    func testViews() throws {
        let path = folder.appendingPathComponent("traces.sqlite").path
        let w = try makeRun(path, steps: 1)
        // A flat group: every reward 1.
        let ok = SampleRecord(
            completion: "x", finishReason: "stop", reward: 1, advantage: 0,
            scores: [
                RuleScoreRecord(rule: "format", score: 1, reason: "format_ok"),
                RuleScoreRecord(rule: "answer", score: 1, reason: "correct"),
            ])
        try w.record(StepRecord(step: 2, groups: [GroupRecord(taskID: "flat", prompt: "p", samples: [ok, ok, ok])]))
        let r = try TraceReader(path: path)
        XCTAssertEqual(
            try r.sql("SELECT task_id, samples, reward FROM flat_groups").rows,
            [[.text("flat"), .integer(3), .real(1)]])
        // Step 1, per group: format scored 1, 1, 0 (and once not applicable); answer 1, 0, 0.
        let pass = try r.sql(
            "SELECT rule, scored, mean_score, pass_rate FROM rule_pass_rate WHERE step = 1 ORDER BY rule")
        XCTAssertEqual(pass.rows[0][0], .text("answer"))
        XCTAssertEqual(pass.rows[0][1], .integer(6))
        XCTAssertEqual(pass.rows[0][3].double!, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(pass.rows[1][0], .text("format"))
        XCTAssertEqual(pass.rows[1][3].double!, 2.0 / 3, accuracy: 1e-12)
        // Format right, answer wrong: index 1 of each group of step 1, nothing of step 2.
        XCTAssertEqual(
            try r.sql("SELECT step, idx FROM format_ok_answer_wrong ORDER BY id").rows,
            [[.integer(1), .integer(1)], [.integer(1), .integer(1)]])
    }

    func testReadOnlySQLAndErrors() throws {
        let path = folder.appendingPathComponent("traces.sqlite").path
        _ = try makeRun(path, steps: 1)
        let r = try TraceReader(path: path)
        XCTAssertThrowsError(try r.sql("DELETE FROM samples")) { XCTAssertTrue("\($0)".contains("readonly"), "\($0)") }
        XCTAssertThrowsError(try r.sql("SELEC 1")) { XCTAssertTrue("\($0)".contains("syntax error"), "\($0)") }
        XCTAssertEqual(try r.sql("SELECT count(*) FROM samples").rows, [[.integer(8)]])

        XCTAssertThrowsError(try TraceReader(path: folder.appendingPathComponent("none.sqlite").path)) {
            XCTAssertTrue("\($0)".contains("none.sqlite"), "\($0)")
        }
        let text = folder.appendingPathComponent("text.sqlite")
        try "hello, not sqlite at all, but long enough to be read as a header........".write(
            to: text, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try TraceReader(path: text.path)) {
            XCTAssertTrue("\($0)".contains("not a trace database"), "\($0)")
        }
        XCTAssertThrowsError(try TraceWriter(path: text.path)) {
            XCTAssertTrue("\($0)".contains("not a trace database"), "\($0)")
        }
        let other = folder.appendingPathComponent("other.sqlite").path
        try DatabaseQueue(path: other).write { try $0.execute(sql: "CREATE TABLE t (x)") }
        XCTAssertThrowsError(try TraceReader(path: other)) {
            XCTAssertEqual(
                "\($0)",
                "\(other): not a trace database (no grdb_migrations, runs, rules, steps, groups, "
                    + "samples, rule_scores table; it holds t: another program's database? grpo never writes into one)")
        }

        // A database from a newer grpo is refused, not altered.
        let newer = folder.appendingPathComponent("newer.sqlite").path
        try DatabaseQueue(path: newer).write { try $0.execute(sql: "PRAGMA user_version = 99") }
        XCTAssertThrowsError(try TraceWriter(path: newer)) {
            XCTAssertTrue("\($0)".contains("schema version 99"), "\($0)")
        }
    }

    func testBadRecordsAreRefusedAndLeaveNothing() throws {
        let path = folder.appendingPathComponent("traces.sqlite").path
        let w = try TraceWriter(path: path)
        XCTAssertThrowsError(try w.record(StepRecord(step: 1, groups: []))) {
            XCTAssertEqual($0 as? TraceError, .noRun)
        }
        try w.startRun(RunInfo(name: "r", rules: Self.rules))
        try w.record(StepRecord(step: 1, groups: [Self.group(task: "a", step: 1)]))
        XCTAssertThrowsError(try w.record(StepRecord(step: 1, groups: [Self.group(task: "a", step: 1)]))) {
            XCTAssertEqual($0 as? TraceError, .badRecord("step 1 of run 1 is already recorded"))
        }
        var bad = Self.group(task: "b", step: 2)
        bad.samples[3].scores.append(RuleScoreRecord(rule: "style", score: 1, reason: "ok"))
        XCTAssertThrowsError(try w.record(StepRecord(step: 2, groups: [Self.group(task: "a", step: 2), bad]))) {
            XCTAssertTrue("\($0)".contains("\"style\""), "\($0)")
        }
        var mismatched = Self.group(task: "c", step: 2)
        mismatched.samples[0].tokenLogprobs = [0]
        XCTAssertThrowsError(try w.record(StepRecord(step: 2, groups: [mismatched]))) {
            XCTAssertEqual($0 as? TraceError, .badRecord("step 2: 4 token ids but 1 log-probs"))
        }
        XCTAssertThrowsError(try w.startRun(RunInfo(name: "dup", rules: Self.rules + Self.rules))) {
            XCTAssertEqual($0 as? TraceError, .badRecord("rule \"format\" appears twice in the run's rules"))
        }
        let r = try TraceReader(path: path)
        XCTAssertEqual(try r.sql("SELECT count(*) FROM samples").rows, [[.integer(4)]], "refused steps wrote nothing")
        XCTAssertEqual(try r.sql("SELECT count(*) FROM runs").rows, [[.integer(1)]])
    }

    /// A resumed run drops the steps after its checkpoint (they will be redone) and keeps the rest.
    func testResumeDropsLaterSteps() throws {
        let path = folder.appendingPathComponent("traces.sqlite").path
        let w = try makeRun(path, steps: 3)
        try w.recordCheckpoint(step: 2, path: "c2")
        try w.recordCheckpoint(step: 3, path: "c3")
        let run = w.runID!
        let again = try TraceWriter(path: path)
        try again.resumeRun(run, identity: w.runIdentity!, afterStep: 2)
        let r = try TraceReader(path: path)
        XCTAssertEqual(try r.sql("SELECT max(step), count(*) FROM samples").rows, [[.integer(2), .integer(16)]])
        XCTAssertEqual(try r.sql("SELECT count(*) FROM rule_scores").rows, [[.integer(32)]], "rule scores cascade")
        XCTAssertEqual(try r.sql("SELECT group_concat(path) FROM checkpoints").rows, [[.text("c2")]])
        try again.record(StepRecord(step: 3, groups: [Self.group(task: "t9", step: 3)]))
        XCTAssertEqual(try r.sql("SELECT count(*) FROM samples WHERE step = 3").rows, [[.integer(4)]])
        XCTAssertEqual(try r.sql("PRAGMA foreign_key_check").rows.count, 0, "nothing left pointing at a deleted row")
        let someRun = RunIdentity(name: "r", uid: nil)
        XCTAssertThrowsError(try TraceWriter(path: path).resumeRun(42, identity: someRun, afterStep: 0)) {
            XCTAssertEqual($0 as? TraceError, .unknownRun("42"))
        }
    }

    /// The step-by-step search (zone maps, bounds, two plans) against the plain query that
    /// scans everything: same ids in the same order, for many random filters on a run
    /// whose rewards tie a lot and whose rare reasons are rare.
    func testSampleSearchAgreesWithAFullScan() throws {
        let path = folder.appendingPathComponent("traces.sqlite").path
        let w = try TraceWriter(path: path)
        try w.startRun(RunInfo(name: "other", rules: Self.rules))
        try w.record(StepRecord(step: 1, groups: [Self.group(task: "t1", step: 1)]))  // another run in the same file
        try w.startRun(RunInfo(name: "r", rules: Self.rules))
        var rng = Xoshiro(seed: 23)
        let reasons = ["correct", "wrong_answer", "no_answer", "timeout"]
        for step in 1...30 {
            var groups: [GroupRecord] = []
            for g in 0..<3 {
                var samples: [SampleRecord] = []
                for _ in 0..<6 {
                    let answer = [0.0, 1.0].randomElement(using: &rng)!
                    let format: Double? =
                        Int.random(in: 0..<10, using: &rng) == 0 ? nil : [0.0, 1.0].randomElement(using: &rng)!
                    let reason =
                        Int.random(in: 0..<40, using: &rng) == 0
                        ? "timeout" : reasons[Int.random(in: 0..<3, using: &rng)]
                    let reward: Double? = format == nil ? nil : 0.2 * format! + answer
                    samples.append(
                        SampleRecord(
                            completion: "c", tokenIDs: Array(repeating: 1, count: Int.random(in: 1...5, using: &rng)),
                            finishReason: "stop",
                            reward: reward, advantage: Double(Int.random(in: -3...3, using: &rng)) / 2,
                            scores: [
                                RuleScoreRecord(
                                    rule: "format", score: format, reason: format == nil ? "not_applicable" : "f"),
                                RuleScoreRecord(rule: "answer", score: answer, reason: reason),
                            ]))
                }
                groups.append(
                    GroupRecord(taskID: "t\(Int.random(in: 0..<8, using: &rng))", prompt: "p", samples: samples))
            }
            try w.record(StepRecord(step: step, groups: groups))
        }
        try agreeWithAFullScan(path, rng: &rng, reasons: reasons, label: "as written")
        // A database written before step_reasons kept each reason's key ranges: the reader bounds
        // a step by its whole range; opened for writing, the migration fills the ranges in.
        let columns = ["min_reward", "max_reward", "min_advantage", "max_advantage", "min_tokens", "max_tokens"]
        let ranges =
            "SELECT \(columns.joined(separator: ", ")) FROM step_reasons ORDER BY run_id, step, rule_id, reason"
        let written = try TraceReader(path: path).sql(ranges).rows
        XCTAssertFalse(written.contains { $0.contains(.null) }, "every row has its ranges")
        try DatabaseQueue(path: path).write { db in
            for column in columns { try db.execute(sql: "ALTER TABLE step_reasons DROP COLUMN \(column)") }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v6'")
            try db.execute(sql: "PRAGMA user_version = 5")
        }
        try agreeWithAFullScan(path, rng: &rng, reasons: reasons, label: "v5")
        _ = try TraceWriter(path: path)
        XCTAssertEqual(try TraceReader(path: path).sql(ranges).rows, written, "the migration's ranges are the writer's")
        try agreeWithAFullScan(path, rng: &rng, reasons: reasons, label: "migrated")
    }

    private func agreeWithAFullScan(
        _ path: String, rng: inout Xoshiro, reasons: [String], label: String
    ) throws {
        let r = try TraceReader(path: path)
        let run = try r.resolveRun("r")
        for trial in 0..<400 {
            var f = SampleFilter()
            f.order = SampleFilter.Order.allCases.randomElement(using: &rng)!
            f.descending = Bool.random(using: &rng)
            f.limit = [1, 3, 7, 50].randomElement(using: &rng)!
            if Int.random(in: 0..<3, using: &rng) == 0 { f.step = Int.random(in: 1...30, using: &rng) }
            if Int.random(in: 0..<5, using: &rng) == 0 { f.taskID = "t\(Int.random(in: 0..<8, using: &rng))" }
            switch Int.random(in: 0..<5, using: &rng) {
            case 0:
                f.rule = "answer"
                f.below = 0.5
            case 1:
                f.rule = "format"
                f.above = 0.5
            case 2: f.reason = reasons.randomElement(using: &rng)!
            case 3:
                f.rule = "answer"
                f.reason = "timeout"
            default: break
            }
            let got = try r.samples(run: run, filter: f).rows.map { $0[0].integer! }

            var conditions = ["s.run_id = \(run)"]
            if let step = f.step { conditions.append("s.step = \(step)") }
            if let task = f.taskID { conditions.append("g.task_id = '\(task)'") }
            var rs: [String] = []
            if let rule = f.rule {
                rs.append("rs.rule_id = (SELECT id FROM rules WHERE run_id = \(run) AND name = '\(rule)')")
            }
            if let below = f.below { rs.append("rs.score < \(below)") }
            if let above = f.above { rs.append("rs.score > \(above)") }
            if let reason = f.reason { rs.append("rs.reason = '\(reason)'") }
            if !rs.isEmpty {
                let scoreConditions = rs.joined(separator: " AND ")
                conditions.append(
                    "EXISTS (SELECT 1 FROM rule_scores rs WHERE rs.sample_id = s.id AND \(scoreConditions))")
            }
            let key = ["id": "s.id", "reward": "s.reward", "advantage": "s.advantage", "length": "s.num_tokens"][
                f.order.rawValue]!
            let dir = f.descending ? "DESC" : "ASC"
            let order = f.order == .id ? "s.id \(dir)" : "coalesce(\(key), -1e999) \(dir), s.id DESC"
            let expected = try r.sql(
                """
                SELECT s.id FROM samples s JOIN groups g ON g.id = s.group_id
                WHERE \(conditions.joined(separator: " AND "))
                ORDER BY \(order) LIMIT \(f.limit)
                """
            ).rows.map { $0[0].integer! }
            XCTAssertEqual(got, expected, "\(label), trial \(trial): \(f)")
            if got != expected { break }
        }
    }
}
