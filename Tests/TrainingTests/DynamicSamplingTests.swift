// DAPO's dynamic sampling on groups small enough to follow by hand: rounds until
// the batch is full, trimmed to exactly its size, the bound on extra rounds, and
// the accuracy metric that ignores format and shaping rules.

import XCTest
import RewardRules
import Training

final class DynamicSamplingTests: XCTestCase {
    /// Round r samples the "groups" 4r..4r+3; even ones vary.
    func sampleRound(_ round: Int) -> [Int] { (0..<4).map { round * 4 + $0 } }

    func testKeepsSamplingUntilTheBatchIsFullThenTrims() {
        var rounds: [Int] = []
        let outcome = DynamicSampling.fill(
            batchSize: 3, maxExtraRounds: 5,
            sample: { round -> [Int] in
                rounds.append(round)
                return sampleRound(round)
            }, keeps: { $0 % 2 == 0 })
        XCTAssertEqual(rounds, [0, 1], "each round a fresh round number")
        XCTAssertEqual(outcome.kept, [0, 2, 4], "exactly the batch size, in sampling order")
        XCTAssertEqual(outcome.dropped, 4)
        XCTAssertEqual(outcome.trimmed, 1)
        XCTAssertEqual(outcome.extraRounds, 1)
        XCTAssertEqual(outcome.sampled.count, 8)
    }

    func testTheBoundLeavesAShortBatchOrNone() {
        let short = DynamicSampling.fill(batchSize: 3, maxExtraRounds: 2, sample: sampleRound, keeps: { $0 == 5 })
        XCTAssertEqual(short.kept, [5])
        XCTAssertEqual(short.extraRounds, 2)
        XCTAssertEqual(short.dropped, 11)
        XCTAssertEqual(short.trimmed, 0)
        let none = DynamicSampling.fill(batchSize: 3, maxExtraRounds: 0, sample: sampleRound, keeps: { $0 > 100 })
        XCTAssertEqual(none.kept, [])
        XCTAssertEqual(none.extraRounds, 0)
        XCTAssertEqual(none.dropped, 4)
    }

    func testVariesLeavesOutCompletionsNothingJudged() {
        XCTAssertFalse(DynamicSampling.varies([1, 1, nil]))
        XCTAssertTrue(DynamicSampling.varies([1, nil, 0]))
        XCTAssertFalse(DynamicSampling.varies([nil, nil]))
        XCTAssertFalse(DynamicSampling.varies([]))
    }

    /// Format differs, the answer is wrong in both: the reward varies (0.2 against 0), the
    /// accuracy does not, so DAPO's metric drops the group and "reward" keeps it.
    func testAccuracyMetricIgnoresFormatAndShaping() throws {
        let rules = try RuleSet.parse(
            """
            name: r1
            rules:
              - {name: format, kind: regex, weight: 0.2, pattern: '^<think>.*?</think><answer>.*?</answer>$'}
              - {name: answer, kind: math, weight: 1.0}
              - {name: length, kind: length, max_length: 100, cache: 20}
            """, file: "r1.yaml")
        let task = RewardTask(kind: "math", answer: "4")
        let judge = try AnswerJudge(rules: rules)
        XCTAssertEqual(judge.answerRule, "answer")
        let wrong = rules.score([
            (completion: "<think>so</think><answer>5</answer>", task: task),
            (completion: "<answer>5</answer>", task: task),
        ])
        XCTAssertEqual(wrong.map(\.reward), [0.2, 0])
        XCTAssertEqual(DynamicSampling.values(wrong, metric: .accuracy, judge: judge), [0, 0])
        XCTAssertFalse(DynamicSampling.varies(DynamicSampling.values(wrong, metric: .accuracy, judge: judge)))
        XCTAssertTrue(DynamicSampling.varies(DynamicSampling.values(wrong, metric: .reward, judge: judge)))
        let mixed = rules.score([
            (completion: "<answer>4</answer>", task: task),
            (completion: "<answer>5</answer>", task: task),
        ])
        XCTAssertEqual(DynamicSampling.values(mixed, metric: .accuracy, judge: judge), [1, 0], "format does not count")
    }

    /// A rule set without an answer rule judges by all its rules; one that does not apply is left out.
    func testAccuracyWithoutAnswerRulesAndWithRulesThatDoNotApply() throws {
        let shaped = try RuleSet.parse(
            """
            name: s
            rules:
              - {name: a, kind: regex, pattern: 'a'}
              - {name: b, kind: regex, pattern: 'b'}
            """, file: "s.yaml")
        let task = RewardTask(kind: "math", answer: "4")
        let all = try AnswerJudge(rules: shaped)
        XCTAssertNil(all.answerRule)
        XCTAssertEqual(all.accuracy(of: shaped.score(completion: "ab", task: task)), 1)
        XCTAssertEqual(all.accuracy(of: shaped.score(completion: "a", task: task)), 0)
        let mixed = try RuleSet.parse(
            """
            name: m
            rules:
              - {name: answer, kind: math, applies_to: math}
              - {name: tests, kind: code, applies_to: code}
            """, file: "m.yaml")
        // On a math task set the code rule never applies: the math rule is the one answer rule.
        let judge = try AnswerJudge(rules: mixed, taskKind: "math")
        XCTAssertEqual(judge.answerRule, "answer")
        XCTAssertEqual(judge.accuracy(of: mixed.score(completion: "<answer>4</answer>", task: task)), 1)
        XCTAssertEqual(try AnswerJudge(rules: mixed, taskKind: "code").answerRule, "tests")
    }
}
