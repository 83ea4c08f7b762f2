// A reward plugin that raises, in a real run: its errors counted per step in the metrics
// (rule_errors/<rule>), in the traces (`grpo traces steps` shows a "<rule> errors" column)
// and in the report the progress line reads, its first message handed up once a run, and
// the run stopped past max_rule_error_share with the rule named. And the answer rule of
// evaluation: from the manifest, from the caller, and the ambiguity error.

import XCTest
import Foundation
import Policy
import RewardRules
import TaskSets
import Traces
import Training

final class RuleErrorTrainingTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("rule-error-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func model() throws -> Transformer {
        let m = Transformer(config: try ModelConfig.named("toy"))
        m.initialize(seed: 1)
        return m
    }

    func tasks(answerRule: String? = nil) -> TaskSet {
        let manifest = TaskManifest(
            name: "toy", kind: "math", rules: "toy", maxCompletionLength: 8,
            answerRule: answerRule)
        return TaskSet(
            folder: folder, manifest: manifest,
            train: (0..<6).map { TaskRecord(id: "t\($0)", prompt: "\($0)+\($0)=", answer: "\(2 * $0)") },
            test: (0..<4).map { TaskRecord(id: "x\($0)", prompt: "\($0)+1=", answer: "\($0 + 1)") }, sft: [])
    }

    func config(_ configure: (inout GRPOConfig) -> Void = { _ in }) -> GRPOConfig {
        var c = GRPOConfig()
        c.model = "toy"
        c.taskSet = "toy"
        c.numGenerations = 4
        c.promptsPerStep = 3
        c.learningRate = 1e-3
        c.maxSteps = 4
        c.seed = 5
        configure(&c)
        return c
    }

    /// `folder/name`, a Python plugin answering each request line `r` with `body`.
    func writePlugin(_ name: String, _ body: String) throws {
        let plugin = folder.appendingPathComponent(name)
        let lines = body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        try ("#!/usr/bin/python3\nimport json, sys\nfor line in sys.stdin:\n    r = json.loads(line)\n" + lines + "\n")
            .write(to: plugin, atomically: false, encoding: .utf8)
        chmod(plugin.path, 0o755)
    }

    /// A rule set whose `judge` is a plugin raising on completions of an even length (in
    /// characters, as Python counts them), beside a regex rule.
    func raisingRules() throws -> RuleSet {
        try writePlugin(
            "judge.py",
            """
            if len(r["completion"]) % 2 == 0:
                raise RuntimeError("even length " + str(len(r["completion"])))
            print(json.dumps({"id": r["id"], "score": 1, "reason": "odd"}), flush=True)
            """)
        let file = folder.appendingPathComponent("toy.yaml")
        try """
        name: toy
        rules:
          - {name: has, kind: regex, pattern: '[a7]', weight: 1}
          - {name: judge, kind: command, command: ./judge.py, weight: 0.5, max_restarts: 10000,
             max_consecutive_errors: 10000}
        """.write(to: file, atomically: false, encoding: .utf8)
        return try RuleSet.load(file.path)
    }

    func testRaisingPluginIsCountedInMetricsTracesAndReportThenStopsTheRun() throws {
        let rules = try raisingRules()
        let trainer = try GRPOTrainer(
            config: config { $0.maxRuleErrorShare = 1 }, model: try model(),
            tasks: tasks(), rules: rules)
        let db = folder.appendingPathComponent("t.sqlite").path
        let traces = try TraceWriter(path: db)
        try traces.startRun(trainer.runInfo)
        var perStep: [Int] = []
        for step in 1...2 {
            let (report, record) = try trainer.trainStep()
            try traces.record(record)
            // Independently: the completions of even length, as the plugin counts characters.
            let completions = record.groups.flatMap(\.samples).map(\.completion)
            let even = completions.filter { $0.unicodeScalars.count % 2 == 0 }.count
            XCTAssertEqual(completions.count, 12)
            XCTAssertGreaterThan(even, 0, "step \(step): nothing erred, the test exercised nothing")
            XCTAssertLessThan(even, 12, "step \(step): everything erred")
            XCTAssertEqual(report.metrics.extra["rule_errors/judge"], Double(even))
            XCTAssertEqual(report.metrics.extra["rule_errors/has"], 0)
            XCTAssertEqual(report.errors(of: "judge"), even)
            // The recorded scores say which were errors (reason plugin_error, detail the traceback).
            let judged = record.groups.flatMap(\.samples).compactMap { $0.scores.first { $0.rule == "judge" } }
            XCTAssertEqual(judged.filter { $0.reason == "plugin_error" }.count, even)
            // The first error is handed up once a run, with the plugin's traceback.
            if step == 1 {
                XCTAssertEqual(report.newErrors.map(\.rule), ["judge"])
                let message = try XCTUnwrap(report.newErrors.first?.firstMessage)
                XCTAssertTrue(message.contains("RuntimeError: even length"), message)
            } else {
                XCTAssertEqual(report.newErrors.map(\.rule), [], "shown once a run")
            }
            perStep.append(even)
        }
        try traces.finish(.finished)
        // `grpo traces steps` shows them in a column of their own.
        let table = try TraceReader(path: db).steps(run: traces.runID!)
        let column = try XCTUnwrap(table.columns.firstIndex(of: "judge errors"), "\(table.columns)")
        XCTAssertEqual(table.rows.map { $0[column].integer }, perStep.map { Int64($0) })
        XCTAssertFalse(table.columns.contains("has errors"), "a rule that never erred gets no column")

        // Past the share the step stops, naming the rule and its first message.
        let strict = try GRPOTrainer(
            config: config { $0.maxRuleErrorShare = 0 }, model: try model(),
            tasks: tasks(), rules: try raisingRules())
        XCTAssertThrowsError(try strict.trainStep()) { error in
            guard case let .erring(rule, _, errors, scored, share, first)? = error as? RewardError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(rule, "judge")
            XCTAssertEqual(scored, 12)
            XCTAssertEqual(errors, perStep[0], "the same seed samples the same first step")
            XCTAssertEqual(share, 0)
            XCTAssertTrue(first.contains("RuntimeError: even length"), first)
        }
        XCTAssertEqual(strict.step, 0, "the failed step counts for nothing")
    }

    func testMaxRuleErrorShareIsAConfigKeyInItsRange() throws {
        let flags = [("model", "m"), ("task_set", "t")]
        XCTAssertEqual(try GRPOConfig.load(file: nil, overrides: flags).maxRuleErrorShare, 0.5)
        XCTAssertEqual(
            try GRPOConfig.load(file: nil, overrides: flags + [("max_rule_error_share", "0.1")])
                .maxRuleErrorShare, 0.1)
        XCTAssertThrowsError(try GRPOConfig.load(file: nil, overrides: flags + [("max_rule_error_share", "1.5")])) {
            XCTAssertEqual("\($0)", "flags: key \"max_rule_error_share\": must be in [0, 1]")
        }
    }

    // MARK: answer rules

    /// `format` (kind command, a plugin that always gives 1) beside `answer` (math): the
    /// reproduction of an accuracy of 0 while every format was right.
    func ambiguousRules() throws -> RuleSet {
        try writePlugin(
            "format.py",
            """
            print(json.dumps({"id": r["id"], "score": 1, "reason": "fine"}), flush=True)
            """)
        let file = folder.appendingPathComponent("two.yaml")
        try """
        name: two
        rules:
          - {name: format, kind: command, command: ./format.py, weight: 0.2}
          - {name: answer, kind: math}
        """.write(to: file, atomically: false, encoding: .utf8)
        return try RuleSet.load(file.path)
    }

    func testEvaluationAnswerRuleFromTheManifestFromTheCallerOrAnError() throws {
        let rules = try ambiguousRules()
        let policy = try model()
        // The manifest names `format`: every task is solved, as its pass rate says.
        let byManifest = try Evaluation.run(model: policy, tasks: tasks(answerRule: "format"), rules: rules)
        XCTAssertEqual(byManifest.answerRule, "format")
        XCTAssertEqual(byManifest.rulePassRates["format"], 1)
        XCTAssertEqual(byManifest.accuracy, 1)
        // The caller's name (`grpo eval --answer_rule`) wins over the manifest's.
        let byFlag = try Evaluation.run(
            model: policy, tasks: tasks(answerRule: "format"), rules: rules,
            answerRule: "answer")
        XCTAssertEqual(byFlag.answerRule, "answer")
        XCTAssertEqual(byFlag.accuracy, try XCTUnwrap(byFlag.rulePassRates["answer"]), accuracy: 1e-12)
        XCTAssertLessThan(byFlag.accuracy, 1, "a random policy does not add numbers")
        // Neither: an error listing the candidates, before anything is sampled; the trainer too.
        let expected = RewardError.answerRule(
            file: rules.file,
            message:
                "which rule judges the answer is ambiguous: format (command), answer (math) could; name one with "
                + "answer_rule in the task set's task.yaml, `grpo eval --answer_rule NAME` or the training config's "
                + "answer_rule")
        XCTAssertThrowsError(try Evaluation.run(model: policy, tasks: tasks(), rules: rules)) {
            XCTAssertEqual($0 as? RewardError, expected)
        }
        XCTAssertThrowsError(try GRPOTrainer(config: config(), model: policy, tasks: tasks(), rules: rules)) {
            XCTAssertEqual($0 as? RewardError, expected)
        }
        XCTAssertNoThrow(
            try GRPOTrainer(
                config: config { $0.answerRule = "answer" }, model: policy, tasks: tasks(),
                rules: rules))
    }
}
