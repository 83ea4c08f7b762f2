// Diagnostic rules (weight 0): scored and reported like every rule, but the
// reward, its absence and accuracy are exactly what they are without them.

import XCTest
import RewardRules

final class DiagnosticRuleTests: XCTestCase {
    let task = RewardTask(kind: "math", answer: "4")

    func parse(_ yaml: String) throws -> RuleSet { try RuleSet.parse(yaml, file: "rules.yaml") }

    /// Accuracy as `grpo eval` counts it, the answer rule guessed.
    func accuracy(_ set: RuleSet, _ scored: ScoredCompletion) throws -> Double? {
        try AnswerJudge(rules: set).accuracy(of: scored)
    }

    static let math = """
        rules:
          - {name: format, kind: regex, weight: 0.2, pattern: '<answer>.*</answer>'}
          - {name: answer, kind: math, weight: 1, requires: format}
        """

    /// The shipped example's diagnostics, added to the math rules.
    static let watched =
        math + """

              - {name: used_code, kind: regex, weight: 0, pattern: '```(?:python|py)[ \\t]*\\n'}
              - {name: worked, kind: regex, weight: 0, flags: [dotall],
                 pattern: '<think>(?:(?!</think>).){33,}</think>'}
            """

    static let completions = [
        "<think>4</think><answer>4</answer>",
        "<think>I add two and two, which makes four in all.</think><answer>4</answer>",
        "```python\nprint(2 + 2)\n```\n<answer>5</answer>",
        "four",
    ]

    func testDiagnosticsAreScoredButChangeNoReward() throws {
        let plain = try parse(Self.math)
        let watched = try parse(Self.watched)
        XCTAssertEqual(watched.entries.map(\.isDiagnostic), [false, false, true, true])
        for completion in Self.completions {
            let a = plain.score(completion: completion, task: task)
            let b = watched.score(completion: completion, task: task)
            XCTAssertEqual(b.reward, a.reward, completion)
            XCTAssertEqual(try accuracy(watched, b), try accuracy(plain, a), completion)
            XCTAssertEqual(
                b.score(of: "used_code")?.score, completion.contains("```python") ? 1 : 0,
                "a diagnostic is scored: \(completion)")
            XCTAssertEqual(b.rules.first { $0.name == "used_code" }?.counted, false, "and never counted")
        }
        let scored = Self.completions.map { watched.score(completion: $0, task: task) }
        XCTAssertEqual(scored.map { $0.score(of: "used_code")?.score }, [0, 0, 1, 0])
        XCTAssertEqual(scored.map { $0.score(of: "worked")?.score }, [0, 1, 0, 0])
        // Per-rule statistics report diagnostics like any rule.
        let stats = watched.ruleStats(scored)
        XCTAssertEqual(stats.map(\.rule), ["format", "answer", "used_code", "worked"])
        XCTAssertEqual(stats[2].passRate, 0.25)
        XCTAssertEqual(stats[3].meanScore, 0.25)
        XCTAssertEqual(stats[1].passRate, 0.5, "two of four answers right")
    }

    /// A diagnostic that applies where no rewarded rule does leaves the completion without a
    /// reward: a 0 would pull a group's mean and change its advantages.
    func testADiagnosticNeverTurnsNoRewardIntoZero() throws {
        let set = try parse(
            """
            rules:
              - {name: tests, kind: code, weight: 1, applies_to: [code]}
              - {name: long, kind: regex, weight: 0, pattern: '.{10}'}
            """)
        let scored = set.score(completion: "a long enough completion", task: task)
        XCTAssertNil(scored.reward)
        XCTAssertEqual(scored.score(of: "long")?.score, 1)
        XCTAssertNil(try accuracy(set, scored), "nothing judged it")
    }

    /// Accuracy never asks a diagnostic, even one of an answer kind: a format-only rule set
    /// judges by its format rule with or without a weight-0 math rule beside it.
    func testADiagnosticOfAnAnswerKindDoesNotJudge() throws {
        let format = "rules:\n  - {name: format, kind: regex, weight: 1, pattern: '<answer>'}\n"
        let plain = try parse(format)
        let watched = try parse(format + "  - {name: right, kind: math, weight: 0}\n")
        let wrong = "<answer>5</answer>"
        XCTAssertEqual(try accuracy(plain, plain.score(completion: wrong, task: task)), 1)
        XCTAssertEqual(try accuracy(watched, watched.score(completion: wrong, task: task)), 1)
        XCTAssertEqual(watched.score(completion: wrong, task: task).score(of: "right")?.score, 0)
    }

    /// The example rule set ships and loads, with its two diagnostics.
    func testTheShippedExampleLoads() throws {
        let set = try RuleSet.load("Rewards/examples/math-diagnostics.yaml", relativeTo: RuleSetTests.root.path)
        XCTAssertEqual(set.entries.filter(\.isDiagnostic).map(\.name), ["used_code", "worked"])
        XCTAssertEqual(set.entries.filter { !$0.isDiagnostic }.map(\.weight), [0.2, 1.0])
        let scored = set.score(completion: Self.completions[1], task: task)
        XCTAssertEqual(scored.reward ?? 0, 1.2, accuracy: 1e-12)
        XCTAssertEqual(scored.score(of: "worked"), RuleScore(score: 1, reason: "worked"))
        XCTAssertEqual(scored.score(of: "used_code"), RuleScore(score: 0, reason: "no_code"))
    }

    /// arith's rule set: both answering styles are scored alike, and the `worked` diagnostic tells them apart
    /// (a think block with working, or an empty one), whatever the answer.
    func testTheArithRuleSetTellsTheStylesApart() throws {
        let set = try RuleSet.load("Rewards/arith.yaml", relativeTo: RuleSetTests.root.path)
        let task = RewardTask(kind: "math", answer: "132")
        let cases: [(String, Double, String)] = [
            ("<think>\n7+5+0=12\n4+8+1=13\n</think><answer>132</answer>", 1.2, "worked"),
            ("<think></think><answer>132</answer>", 1.2, "answered_at_once"),
            ("<think>\n</think><answer>132</answer>", 1.2, "answered_at_once"),
            ("<think>\n7+5+0=12\n4+8+1=14\n</think><answer>142</answer>", 0.2, "worked"),
            ("<think></think><answer>131</answer>", 0.2, "answered_at_once"),
            ("<answer>132</answer>", 0, "answered_at_once"),
        ]
        for (completion, reward, style) in cases {
            let scored = set.score(completion: completion, task: task)
            XCTAssertEqual(scored.reward ?? -1, reward, accuracy: 1e-12, completion)
            XCTAssertEqual(scored.score(of: "worked")?.reason, style, completion)
        }
    }
}
