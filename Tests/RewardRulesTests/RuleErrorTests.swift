// Rule errors and answer rules: a plugin that raises is counted per rule and stops the
// work past the share with its first message; a plugin that prints debug lines on stdout
// (plain text, a dict in Python's repr, its request echoed, text with no newline before
// the reply) is still scored right; which rule judges accuracy is named or unambiguous.

import XCTest
import Foundation
import RewardRules

final class RuleErrorTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("rule-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    let math = RewardTask(kind: "math", answer: "4")

    /// A rule set of one command rule, `judge`, running `script` (Python, json and sys imported).
    func pluginSet(_ script: String, extraRules: String = "") throws -> RuleSet {
        let plugin = folder.appendingPathComponent("judge.py")
        try ("#!/usr/bin/python3\nimport json, sys\n" + script).write(to: plugin, atomically: false, encoding: .utf8)
        chmod(plugin.path, 0o755)
        let file = folder.appendingPathComponent("judge.yaml")
        let rules =
            "rules:\n  - {name: judge, kind: command, command: ./judge.py, timeout_seconds: 20, "
            + "max_restarts: 1000, max_consecutive_errors: 1000}\n" + extraRules
        try rules.write(to: file, atomically: false, encoding: .utf8)
        return try RuleSet.load(file.path)
    }

    /// Raises for completions that start with "bad"; scores 1 otherwise.
    static let raising = """
        for line in sys.stdin:
            r = json.loads(line)
            if r["completion"].startswith("bad"):
                raise ValueError("cannot judge " + r["completion"])
            print(json.dumps({"id": r["id"], "score": 1, "reason": "ok"}), flush=True)
        """

    func testRaisingPluginIsCountedAndStopsPastTheShareWithItsFirstMessage() throws {
        let set = try pluginSet(Self.raising, extraRules: "  - {name: long, kind: regex, pattern: '.{5}'}\n")
        let completions = ["good1", "bad1", "good2", "bad2", "good3", "good4"]
        let scored = set.score(completions.map { (completion: $0, task: math) })
        let expectedErrors = completions.filter { $0.hasPrefix("bad") }.count
        let counts = set.errorCounts(scored)
        XCTAssertEqual(counts.map(\.rule), ["judge", "long"])
        XCTAssertEqual(counts[0].errors, expectedErrors)
        XCTAssertEqual(counts[0].scored, completions.count)
        XCTAssertEqual(counts[1].errors, 0, "a regex never errs")
        // The first message in batch order carries the plugin's traceback (its stderr tail).
        let first = try XCTUnwrap(counts[0].firstMessage)
        XCTAssertTrue(first.contains("ValueError: cannot judge bad1"), first)
        for (completion, s) in zip(completions, scored) {
            XCTAssertEqual(s.score(of: "judge")?.isError, completion.hasPrefix("bad"), completion)
        }
        // 2 of 6 is no more than half: the work goes on; at a third it stops, naming the rule.
        XCTAssertNoThrow(try set.checkRulesWork(scored, maxErrorShare: 0.5))
        XCTAssertThrowsError(try set.checkRulesWork(scored, maxErrorShare: 0.3)) { error in
            guard case let .erring(rule, file, errors, total, share, message)? = error as? RewardError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(rule, "judge")
            XCTAssertEqual(file, set.file)
            XCTAssertEqual([errors, total], [2, 6])
            XCTAssertEqual(share, 0.3)
            XCTAssertEqual(message, first)
            XCTAssertTrue(
                "\(error)".contains(
                    "rule \"judge\" failed to score 2 of its 6 samples, more than "
                        + "max_rule_error_share (0.3) allows"), "\(error)")
        }
        // A share of 1 stops only when every score is an error.
        XCTAssertNoThrow(try set.checkRulesWork(scored, maxErrorShare: 1))
        let allBad = set.score([(completion: "bad3", task: math), (completion: "bad4", task: math)])
        XCTAssertThrowsError(try set.checkRulesWork(allBad, maxErrorShare: 1)) {
            XCTAssertTrue("\($0)".contains("failed to score every one of its 2 samples"), "\($0)")
        }
    }

    /// Debug output on stdout before, around and glued to the reply: every reply is still read,
    /// with the score the plugin meant (the completion's length, computed here independently).
    func testPluginPrintingDebugLinesIsStillScoredRight() throws {
        let set = try pluginSet(
            """
            for line in sys.stdin:
                r = json.loads(line)
                print("debug: got a request")
                print(r)
                print(json.dumps(r))
                sys.stdout.write("no newline before the reply: ")
                print(json.dumps({"id": r["id"], "score": len(r["completion"]) / 10, "reason": "length"}))
                print("debug: after the reply")
                sys.stdout.flush()
            """)
        let completions = (0..<20).map { String(repeating: "x", count: $0 % 7) + "{" }
        let scored = set.score(completions.map { (completion: $0, task: math) })
        for (completion, s) in zip(completions, scored) {
            let score = try XCTUnwrap(s.score(of: "judge"), completion)
            XCTAssertFalse(score.isError, score.detail ?? "")
            XCTAssertEqual(score.reason, "length")
            XCTAssertEqual(score.score, Double(completion.count) / 10, accuracy: 1e-12)
        }
        XCTAssertEqual(set.errorCounts(scored)[0].errors, 0)
        XCTAssertNoThrow(try set.checkRulesWork(scored, maxErrorShare: 0))
    }

    // MARK: answer rules

    /// A `command` format checker beside a `math` answer: two answer kinds, so no guess.
    static let twoAnswerKinds = """
        name: two
        rules:
          - {name: format, kind: regex, pattern: '<answer>', weight: 0.2}
          - {name: checker, kind: command, command: /bin/cat}
          - {name: answer, kind: math}
          - {name: watched, kind: countdown, weight: 0}
        """

    func testAmbiguousAnswerRuleIsAnErrorListingTheCandidates() throws {
        let set = try RuleSet.parse(Self.twoAnswerKinds, file: "two.yaml")
        XCTAssertThrowsError(try AnswerJudge(rules: set)) { error in
            XCTAssertEqual(
                error as? RewardError,
                .answerRule(
                    file: "two.yaml",
                    message:
                        "which rule judges the answer is ambiguous: checker (command), answer (math) could; "
                        + "name one with answer_rule in the task set's task.yaml, `grpo eval --answer_rule NAME` "
                        + "or the training config's answer_rule"))
        }
        XCTAssertEqual(try AnswerJudge(rules: set, answerRule: "answer").answerRule, "answer")
        XCTAssertThrowsError(try AnswerJudge(rules: set, answerRule: "answr")) {
            XCTAssertEqual(
                "\($0)",
                "two.yaml: answer rule \"answr\" is not a rule of two (its rules: format, checker, "
                    + "answer, watched)")
        }
    }

    /// The named rule alone decides: full marks of another rule do not make a task solved.
    func testNamedAnswerRuleAloneJudges() throws {
        let set = try RuleSet.parse(
            """
            rules:
              - {name: format, kind: regex, pattern: '<answer>'}
              - {name: answer, kind: math}
            """, file: "r.yaml")
        let wrong = set.score(completion: "<answer>5</answer>", task: math)
        let right = set.score(completion: "<answer>4</answer>", task: math)
        let byAnswer = try AnswerJudge(rules: set, answerRule: "answer")
        let byFormat = try AnswerJudge(rules: set, answerRule: "format")
        XCTAssertEqual([byAnswer.accuracy(of: wrong), byAnswer.accuracy(of: right)], [0, 1])
        XCTAssertEqual([byFormat.accuracy(of: wrong), byFormat.accuracy(of: right)], [1, 1])
        XCTAssertEqual(try AnswerJudge(rules: set), byAnswer, "one answer kind: the guess is that rule")
    }

    /// Partial credit summed from parts passes at the one threshold, and 1 minus a visible
    /// difference does not.
    func testOnePassThresholdForRulesAndAccuracy() {
        XCTAssertTrue(RuleScore(score: 0.1 + 0.2 + 0.7, reason: "parts").isFullMarks)
        XCTAssertFalse(RuleScore(score: 0.999, reason: "almost").isFullMarks)
    }
}
