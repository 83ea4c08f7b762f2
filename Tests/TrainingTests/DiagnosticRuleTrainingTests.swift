// Diagnostic rules (weight 0) in GRPO: the same completions get the same
// rewards, advantages and update as without them, while each diagnostic is
// scored, recorded in the traces and reported per step.

import XCTest
import Foundation
import RewardRules
import Traces
import Training

extension GRPOTrainerTests {
    /// The toy rules plus two diagnostics: a digit anywhere (fires often on a random byte
    /// policy) and a string it never writes.
    static let watchedRules = try! RuleSet.parse(
        """
        name: toy-watched
        rules:
          - {name: has, kind: regex, pattern: '[a7]', weight: 1}
          - {name: starts, kind: regex, pattern: '^[a-m]', weight: 0.5}
          - {name: digit, kind: regex, pattern: '[0-9]', weight: 0}
          - {name: never, kind: regex, pattern: 'zzzzzzzz', weight: 0}
        """, file: "toy-watched.yaml")

    func testDiagnosticRulesChangeNoRewardNoAdvantageAndAreRecorded() throws {
        let c = config { $0.beta = 0.04 }
        let plain = try GRPOTrainer(config: c, model: model(), tasks: Self.tasks, rules: Self.rules)
        let watched = try GRPOTrainer(config: c, model: model(), tasks: Self.tasks, rules: Self.watchedRules)
        let db = folder.appendingPathComponent("watched.sqlite").path
        let traces = try TraceWriter(path: db)
        try traces.startRun(watched.runInfo)
        var digitRates: [Double?] = []
        var learnt = false
        for _ in 0..<3 {
            let (a, recordA) = try plain.trainStep()
            let (b, recordB) = try watched.trainStep()
            try traces.record(recordB)
            let samplesA = recordA.groups.flatMap(\.samples)
            let samplesB = recordB.groups.flatMap(\.samples)
            XCTAssertEqual(samplesB.map(\.completion), samplesA.map(\.completion))
            XCTAssertEqual(samplesB.map(\.reward), samplesA.map(\.reward))
            XCTAssertEqual(samplesB.map(\.advantage), samplesA.map(\.advantage))
            XCTAssertEqual(b.metrics.loss, a.metrics.loss)
            XCTAssertEqual(b.metrics.gradNorm, a.metrics.gradNorm)
            learnt = learnt || samplesA.contains { $0.advantage != 0 }
            // Recorded with their scores, and reported per step.
            for sample in samplesB {
                XCTAssertEqual(sample.scores.map(\.rule), ["has", "starts", "digit", "never"])
                let digit = sample.completion.contains { $0.isASCII && $0.isNumber }
                XCTAssertEqual(sample.scores[2].score, digit ? 1 : 0, sample.completion)
            }
            let digits = samplesB.map { $0.scores[2].score ?? -1 }
            let rate = Double(digits.filter { $0 == 1 }.count) / Double(digits.count)
            XCTAssertEqual(b.metrics.extra["pass_rate/digit"], rate)
            XCTAssertEqual(b.metrics.extra["pass_rate/never"], 0)
            XCTAssertNil(a.metrics.extra["pass_rate/digit"])
            XCTAssertEqual(b.rulePassRates.map { $0.rule }, ["has", "starts", "digit", "never"])
            digitRates.append(rate)
        }
        XCTAssertTrue(learnt, "every advantage was 0: the comparison exercised no update")
        XCTAssertTrue(digitRates.contains { ($0 ?? 0) > 0 }, "the digit diagnostic never fired")
        func weights(_ trainer: GRPOTrainer) -> [Float] {
            Array(UnsafeBufferPointer(start: trainer.model.parameters.data, count: trainer.model.layout.count))
        }
        XCTAssertEqual(weights(watched), weights(plain), "the same updates")

        let reader = try TraceReader(path: db)
        let run = try reader.resolveRun(nil)
        let scored = try reader.sql(
            """
            SELECT count(rs.score) FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id WHERE r.name = 'digit'
            """)
        XCTAssertEqual(scored.rows, [[.integer(36)]])
        let curves = try reader.rulePassRates(run: run, steps: [1, 2, 3])
        XCTAssertEqual(curves.map(\.rule.name), ["has", "starts", "digit", "never"])
        XCTAssertEqual(curves.map(\.rule.isDiagnostic), [false, false, true, true])
        XCTAssertEqual(curves[2].passRates, digitRates)
        XCTAssertEqual(curves[3].passRates, [0, 0, 0])
        let steps = try reader.steps(run: run)
        let column = try XCTUnwrap(steps.columns.firstIndex(of: "digit"))
        XCTAssertEqual(steps.rows.map { $0[column].double }, digitRates)
    }
}
