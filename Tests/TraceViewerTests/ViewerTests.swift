// The viewer's JSON endpoints over real HTTP, on a database the project's
// writer made with known content (ViewerFixture): each answer checked against
// what the fixture holds, computed here from its records, not by SQL.

import Foundation
import GRDB
import TraceViewer
import Traces
import XCTest

final class ViewerTests: XCTestCase {
    var folder: URL!
    var database: String { folder.appendingPathComponent("traces.sqlite").path }
    var chartJS: String { folder.appendingPathComponent("chart.min.js").path }

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("viewer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // The endpoints do not need the real Chart.js: the viewer serves whatever file it is given.
        try Data("/* chart stand-in */".utf8).write(to: URL(fileURLWithPath: chartJS))
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func testRunsAndCurvesHoldEveryRecordedMetric() throws {
        let writer = try ViewerFixture.write(database)
        try writer.finish(.finished)
        let served = try ServedViewer(database: database, chartJS: chartJS)
        defer { served.stop() }

        let runs = try served.json("/api/runs") as! [[String: Any]]
        XCTAssertEqual(runs.count, 1)
        XCTAssertEqual(runs[0]["name"] as? String, "fixture")
        XCTAssertEqual(runs[0]["status"] as? String, "finished")
        XCTAssertEqual(runs[0]["steps"] as? Int, 3)
        XCTAssertEqual(runs[0]["samples"] as? Int, 18)
        XCTAssertEqual(runs[0]["rules_text"] as? String, ViewerFixture.rulesText)
        XCTAssertEqual(runs[0]["rules_hash"] as? String, ViewerFixture.rulesHash)
        XCTAssertEqual(runs[0]["config"] as? String, #"{"learning_rate":1e-05}"#)
        XCTAssertEqual(
            (runs[0]["rules"] as? [[String: Any]])?.map { $0["name"] as? String }, ["format", "answer", "worked"])
        let last =
            try JSONSerialization.jsonObject(with: Data((runs[0]["last_metrics"] as! String).utf8)) as! [String: Any]
        XCTAssertEqual(last["kl"] as? Double, 0.03)

        let curves = try served.json("/api/runs/fixture/curves") as! [String: Any]
        XCTAssertEqual(curves["steps"] as? [Int], [1, 2, 3])
        let series = Dictionary(
            uniqueKeysWithValues: (curves["series"] as! [[String: Any]]).map {
                ($0["name"] as! String, $0["values"] as! [Any])
            })
        let samples = ViewerFixture.samples()
        for step in 1...3 {
            let rewards = samples.filter { $0.step == step }.compactMap(\.record.reward)
            XCTAssertEqual(series["reward_mean"]?[step - 1] as! Double, rewards.reduce(0, +) / 6, accuracy: 1e-12)
            XCTAssertEqual(series["kl"]?[step - 1] as! Double, 0.01 * Double(step), accuracy: 1e-12)
            for rule in ["format", "answer", "worked"] {
                let scores = samples.filter { $0.step == step }.compactMap { $0.score(rule) }
                let rate = Double(scores.filter { $0 >= 1 }.count) / Double(scores.count)
                XCTAssertEqual(
                    series["pass_rate/\(rule)"]?[step - 1] as! Double, rate, accuracy: 1e-12, "\(rule) \(step)")
            }
        }
        for name in ["entropy", "logprob_mismatch_max", "expert_load/0/0", "expert_load/0/1", "custom/thing"] {
            XCTAssertEqual(series[name]?.count, 3, name)
        }
        XCTAssertNil(series["grad_norm"], "a metric the run never recorded is no curve")
        let evals = curves["evals"] as! [[String: Any]]
        XCTAssertEqual(evals.map { $0["metric"] as? String }, ["accuracy", "pass@8"])
        XCTAssertEqual(evals.map { $0["steps"] as? [Int] }, [[2], [2]])
        XCTAssertEqual(evals.map { $0["values"] as? [Double] }, [[0.5], [0.75]])

        // The same curves as CSV: a header and a row per step.
        let (status, type, body) = try served.get("/api/runs/1/curves?format=csv")
        XCTAssertEqual(status, 200)
        XCTAssertTrue(type.hasPrefix("text/csv"), type)
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\r\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[0].hasPrefix("step,reward_mean,"), String(lines[0]))
        XCTAssertTrue(lines[3].hasPrefix("3,"), String(lines[3]))
    }

    func testGroupsSortedBySpreadAndAGroupWithEveryVerdictAndToken() throws {
        _ = try ViewerFixture.write(database)
        let served = try ServedViewer(database: database, chartJS: chartJS)
        defer { served.stop() }
        let samples = ViewerFixture.samples()

        // Step 2: t-solved (1.2, 0.2, 0) spreads wider than t-never (0.2, 0, 0.2).
        let groups = try served.rows("/api/runs/1/steps/2/groups")
        XCTAssertEqual(groups.map { $0["task_id"] as? String }, ["t-solved", "t-never"])
        XCTAssertEqual(groups.map { $0["group"] as? Int }, [4, 3])
        XCTAssertEqual(groups[0]["max_reward"] as? Double, 1.2)

        let group = try served.json("/api/groups/4") as! [String: Any]
        XCTAssertEqual(group["prompt"] as? String, "What is 3+3?")
        XCTAssertEqual(group["step"] as? Int, 2)
        let shown = group["samples"] as! [[String: Any]]
        let expected = samples.filter { $0.group == 4 }
        XCTAssertEqual(shown.map { $0["id"] as? Int }, expected.map { Int($0.id) })
        for (s, e) in zip(shown, expected) {
            XCTAssertEqual(s["completion"] as? String, e.record.completion)
            XCTAssertEqual(s["reward"] as? Double, e.record.reward)
            XCTAssertEqual(s["advantage"] as? Double, e.record.advantage)
            XCTAssertEqual(s["finish_reason"] as? String, e.record.finishReason)
            XCTAssertEqual(s["num_tokens"] as? Int, e.record.tokenIDs.count)
            let scores = s["scores"] as! [[String: Any]]
            XCTAssertEqual(scores.map { $0["rule"] as? String }, e.record.scores.map(\.rule))
            XCTAssertEqual(scores.map { $0["reason"] as? String }, e.record.scores.map(\.reason))
            XCTAssertEqual(scores.map { $0["detail"] as? String }, e.record.scores.map(\.detail))
            XCTAssertEqual(scores.map { $0["score"] as? Double }, e.record.scores.map(\.score))
            XCTAssertEqual((s["token_texts"] as? [String])?.joined(), e.record.completion)
            XCTAssertEqual(s["token_logprobs"] as? [Double], e.record.tokenLogprobs.map(Double.init))
        }

        // A character of three bytes is shown once, on its first byte's token.
        let never = try served.json("/api/samples/1") as! [String: Any]
        let texts = never["token_texts"] as! [String]
        let wave = texts.firstIndex(of: "≈")!
        XCTAssertEqual(texts[wave + 1], "")
        XCTAssertEqual(texts[wave + 2], "")
        XCTAssertEqual(texts.count, "<think>2+2≈5</think><answer>5</answer>".utf8.count)

        // A sample's permalink answers the same sample as its group, with the prompt.
        let alone = try served.json("/api/samples/\(expected[1].id)") as! [String: Any]
        XCTAssertEqual(alone["completion"] as? String, expected[1].record.completion)
        XCTAssertEqual(alone["prompt"] as? String, "What is 3+3?")
        XCTAssertEqual(alone["group"] as? Int, 4)
    }

    func testListsMatchTheFixture() throws {
        _ = try ViewerFixture.write(database)
        let served = try ServedViewer(database: database, chartJS: chartJS)
        defer { served.stop() }
        let samples = ViewerFixture.samples()

        let never = try served.rows("/api/runs/1/lists/never-solved")
        XCTAssertEqual(never.map { $0["task_id"] as? String }, ["t-never"])
        XCTAssertEqual(never.first?["samples"] as? Int, 9)

        // Newest first: by step, then group, then sample, each descending.
        let formatOK = samples.filter { $0.score("format") == 1 && $0.score("answer")! < 1 }
            .sorted { ($0.step, $0.group, $0.id) > ($1.step, $1.group, $1.id) }
        XCTAssertEqual(
            try served.rows("/api/runs/1/lists/format-ok-answer-wrong").map { $0["id"] as? Int },
            formatOK.map { Int($0.id) })
        XCTAssertEqual(
            try served.rows("/api/runs/1/lists/format-ok-answer-wrong?first_step=2&last_step=2").map {
                $0["id"] as? Int
            },
            formatOK.filter { $0.step == 2 }.map { Int($0.id) })

        // Highest reward first, the newest first among equals.
        let wrong = samples.filter { $0.score("answer")! < 1 }
            .sorted { ($0.record.reward!, $0.id) > ($1.record.reward!, $1.id) }
        XCTAssertEqual(
            try served.rows("/api/runs/1/lists/highest-reward-wrong?limit=5").map { $0["id"] as? Int },
            wrong.prefix(5).map { Int($0.id) })

        XCTAssertEqual(try served.rows("/api/runs/1/lists/flat-groups").map { $0["group"] as? Int }, [2])

        // The free filter: a reason, a step range and an order, as `grpo traces samples` takes them.
        let noAnswer = samples.filter { s in s.record.scores.contains { $0.reason == "no_answer" } && s.step >= 2 }
        XCTAssertEqual(
            try served.rows("/api/runs/fixture/lists/samples?reason=no_answer&first_step=2&order=id").map {
                $0["id"] as? Int
            },
            noAnswer.map { Int($0.id) }.sorted(by: >))
        let solvedInTwo = samples.filter { $0.task == "t-solved" && $0.step == 2 && $0.score("answer")! > 0.5 }
        XCTAssertEqual(
            try served.rows("/api/runs/1/lists/samples?task=t-solved&step=2&rule=answer&above=0.5").map {
                $0["id"] as? Int
            },
            solvedInTwo.map { Int($0.id) })

        // Every table exports as JSON lines, an object a row keyed by column.
        let (_, type, body) = try served.get("/api/runs/1/lists/never-solved?format=jsonl")
        XCTAssertTrue(type.hasPrefix("application/jsonl"), type)
        let lines = String(decoding: body, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        let object = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(object["task_id"] as? String, "t-never")
    }

    func testBadRequestsAreNamedErrors() throws {
        _ = try ViewerFixture.write(database)
        let served = try ServedViewer(database: database, chartJS: chartJS)
        defer { served.stop() }
        for (path, status, words) in [
            ("/api/runs/nope/curves", 404, "no run nope"), ("/api/groups/999", 404, "no group 999"),
            ("/api/samples/abc", 400, "parameter id"), ("/api/runs/1/lists/samples?limit=lots", 400, "parameter limit"),
            ("/api/runs/1/lists/samples?order=size", 400, "parameter order"),
            ("/api/runs/1/lists/samples?rule=nosuch", 400, "no rule named \"nosuch\""),
            ("/api/runs/1/lists/bogus", 400, "never-solved"), ("/api/runs?format=xml", 400, "parameter format"),
        ] {
            let (got, type, body) = try served.get(path)
            XCTAssertEqual(got, status, path)
            XCTAssertTrue(type.hasPrefix("application/json"), path)
            let error = (try JSONSerialization.jsonObject(with: body) as? [String: String])?["error"] ?? ""
            XCTAssertTrue(error.contains(words), "\(path): \(error)")
        }
        XCTAssertThrowsError(try TraceViewer(database: database, chartJS: folder.appendingPathComponent("no.js").path))
        {
            XCTAssertTrue("\($0)".contains("libjs-chart.js"), "\($0)")
        }
    }

    func testAWriteThroughTheViewersConnectionFails() throws {
        _ = try ViewerFixture.write(database)
        let served = try ServedViewer(database: database, chartJS: chartJS)
        defer { served.stop() }
        XCTAssertThrowsError(try served.viewer.reader.sql("DELETE FROM samples")) {
            XCTAssertTrue("\($0)".contains("readonly"), "\($0)")
        }
        let (status, _, body) = try served.get(
            "/api/sql?q=" + "UPDATE runs SET name = 'x'".addingPercentEncoding(
                withAllowedCharacters: .alphanumerics)!)
        XCTAssertEqual(status, 400)
        XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("readonly"))
        let check = try DatabaseQueue(path: database)
        XCTAssertEqual(try check.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM samples") }, 18)
        XCTAssertEqual(try check.read { try String.fetchOne($0, sql: "SELECT name FROM runs") }, "fixture")
    }

    /// A run writing its steps while the viewer reads: every answer succeeds and shows the steps so far.
    func testServesADatabaseARunIsWriting() throws {
        let writer = try ViewerFixture.write(database)
        let served = try ServedViewer(database: database, chartJS: chartJS)
        defer { served.stop() }
        XCTAssertEqual((try served.json("/api/runs/1/curves") as! [String: Any])["steps"] as? [Int], [1, 2, 3])
        let writing = Thread {
            for step in 4...12 { try! writer.record(ViewerFixture.step(step)) }
        }
        writing.start()
        var seen = 3
        while seen < 12 {
            let steps = (try served.json("/api/runs/1/curves") as! [String: Any])["steps"] as! [Int]
            XCTAssertEqual(steps, Array(1...steps.count))
            XCTAssertGreaterThanOrEqual(steps.count, seen)
            seen = steps.count
            XCTAssertEqual(try served.rows("/api/runs/1/lists/never-solved").count, 1)
            _ = try served.json("/api/runs")
        }
        let groups = try served.rows("/api/runs/1/steps/12/groups")
        XCTAssertEqual(groups.count, 2)
    }

    /// A database written before the summaries (schema 4): the reader, which cannot migrate it,
    /// computes them from the rule scores with the same answers; the writer's migration fills
    /// them in exactly as the writer itself writes them step by step.
    func testADatabaseOfTheVersionBeforeSummariesReadsTheSame() throws {
        _ = try ViewerFixture.write(database)
        let current = try TraceReader(path: database)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let curves = try encoder.encode(current.curves(run: 1))
        let lists = try [
            current.neverSolved(run: 1), current.neverSolved(run: 1, steps: StepRange(first: 2)),
            current.formatOkAnswerWrong(run: 1), current.highestRewardWrong(run: 1, limit: 4),
        ].map(\.rows)
        let tables = ["group_rules", "step_rules", "task_rules"]
        func summaries(_ path: String) throws -> [[Row]] {
            try DatabaseQueue(path: path).read { db in
                try tables.map { try Row.fetchAll(db, sql: "SELECT * FROM \($0)") }
            }
        }
        let written = try summaries(database)
        XCTAssertEqual(written.map(\.count), [18, 9, 6])

        let older = folder.appendingPathComponent("older.sqlite").path
        try FileManager.default.copyItem(atPath: database, toPath: older)
        try DatabaseQueue(path: older).write { db in
            for table in tables { try db.execute(sql: "DROP TABLE \(table)") }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v5'")
            try db.execute(sql: "PRAGMA user_version = 4")
        }
        let reader = try TraceReader(path: older)
        XCTAssertEqual(try encoder.encode(reader.curves(run: 1)), curves)
        XCTAssertEqual(
            try [
                reader.neverSolved(run: 1), reader.neverSolved(run: 1, steps: StepRange(first: 2)),
                reader.formatOkAnswerWrong(run: 1), reader.highestRewardWrong(run: 1, limit: 4),
            ].map(\.rows), lists)

        _ = try TraceWriter(path: older)
        XCTAssertEqual(try summaries(older), written)
    }

    /// Resuming after step 1 leaves each summary as if the run had stopped there.
    func testResumingDropsTheLaterStepsFromTheSummaries() throws {
        let writer = try ViewerFixture.write(database)
        try writer.resumeRun(1, identity: writer.runIdentity!, afterStep: 1)
        let reader = try TraceReader(path: database)
        let tasks = try reader.sql(
            """
            SELECT t.task_id, t.groups, t.scored, t.passed, t.last_step
            FROM task_rules t JOIN rules r ON r.id = t.rule_id
            WHERE r.name = 'answer' ORDER BY t.task_id
            """)
        XCTAssertEqual(
            tasks.rows,
            [
                [.text("t-never"), .integer(1), .integer(3), .integer(0), .integer(1)],
                [.text("t-solved"), .integer(1), .integer(3), .integer(3), .integer(1)],
            ])
        XCTAssertEqual(try reader.sql("SELECT DISTINCT step FROM step_rules").rows, [[.integer(1)]])
        XCTAssertEqual(try reader.sql("SELECT DISTINCT step FROM group_rules").rows, [[.integer(1)]])
        XCTAssertEqual(try reader.neverSolved(run: 1).rows.map { $0[0] }, [.text("t-never")])
    }
}
