// A run as curves over its steps: the per-rule pass rates read back from the
// rule scores (diagnostic rules included), the steps table's rule columns, the
// evaluations, the charts built from them, and the views that must not take a
// diagnostic rule for a format rule.

import XCTest
import Foundation
import Charts
import Traces

final class RunSeriesTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("run-series-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    static let rules = [
        RuleInfo(name: "format", kind: "regex", weight: 0.2),
        RuleInfo(name: "answer", kind: "math", weight: 1),
        RuleInfo(name: "used_code", kind: "regex", weight: 0),
    ]

    /// Step s has four samples: all with the format right, s of them with the answer right
    /// (capped at 4), and one that used code from step 2 on. Evaluations at steps 2 and 4.
    func makeRun(_ path: String, steps: Int = 4) throws {
        let w = try TraceWriter(path: path)
        try w.startRun(RunInfo(name: "watched", rules: Self.rules))
        for step in 1...steps {
            let samples = (0..<4).map { i in
                let answer = i < step ? 1.0 : 0.0
                let code = step >= 2 && i == 0 ? 1.0 : 0.0
                return SampleRecord(
                    completion: "sample \(i)", finishReason: "stop", reward: 0.2 + answer, advantage: 0,
                    scores: [
                        RuleScoreRecord(rule: "format", score: 1, reason: "format_ok"),
                        RuleScoreRecord(rule: "answer", score: answer, reason: "checked"),
                        RuleScoreRecord(rule: "used_code", score: code, reason: "checked"),
                    ])
            }
            var metrics = StepMetrics()
            metrics.rewardMean = 0.2 + Double(min(step, 4)) / 4
            metrics.completionLenMean = Double(40 + step)
            let group = GroupRecord(taskID: "t", prompt: "p", samples: samples)
            try w.record(StepRecord(step: step, metrics: metrics, groups: [group]))
            if step % 2 == 0 {
                try w.recordEval(step: step, taskSet: "arith", split: "test", metrics: ["accuracy": Double(step) / 10])
            }
        }
        try w.finish(.finished)
    }

    func testSeriesHoldEveryRulesPassRateAndTheEvaluations() throws {
        let path = folder.appendingPathComponent("t.sqlite").path
        try makeRun(path)
        let reader = try TraceReader(path: path)
        let series = try reader.series(run: reader.resolveRun(nil))
        XCTAssertEqual(series.runName, "watched")
        XCTAssertEqual(series.steps, [1, 2, 3, 4])
        XCTAssertEqual(series.rewardMean, (1...4).map { 0.2 + Double($0) / 4 })
        XCTAssertEqual(series.completionLengthMean, [41, 42, 43, 44])
        XCTAssertEqual(series.rules.map(\.rule), Self.rules)
        XCTAssertEqual(series.rules[0].passRates, [1, 1, 1, 1])
        XCTAssertEqual(series.rules[1].passRates, [0.25, 0.5, 0.75, 1])
        XCTAssertEqual(series.rules[2].passRates, [0, 0.25, 0.25, 0.25], "the diagnostic rule is a curve too")
        XCTAssertEqual(series.evals.count, 1)
        XCTAssertEqual(series.evals[0].points.map { $0.step }, [2, 4])
        XCTAssertEqual(series.evals[0].points.map { $0.accuracy }, [0.2, 0.4])

        // `grpo traces steps`: a column per rule, before the time.
        let steps = try reader.steps(run: reader.resolveRun(nil))
        XCTAssertEqual(Array(steps.columns.suffix(4)), ["format", "answer", "used_code", "time"])
        let column = try XCTUnwrap(steps.columns.firstIndex(of: "used_code"))
        XCTAssertEqual(steps.rows.map { $0[column] }, [.real(0), .real(0.25), .real(0.25), .real(0.25)])
        // Pass rates in SQL as well, with the same threshold.
        let view = try reader.sql("SELECT step, pass_rate FROM rule_pass_rate WHERE rule = 'answer' ORDER BY step")
        XCTAssertEqual(view.rows.map { $0[1].double }, [0.25, 0.5, 0.75, 1])
    }

    /// Samples with the format right and the answer wrong are found whatever a diagnostic rule
    /// (a regex, like the format rule) says of them.
    func testADiagnosticRuleIsNoFormatRule() throws {
        let path = folder.appendingPathComponent("t.sqlite").path
        try makeRun(path, steps: 2)
        let reader = try TraceReader(path: path)
        // Step 1: three wrong answers, step 2: two; none of them used code, which v1 of the view
        // took for a failed format rule.
        let wrong = try reader.sql("SELECT step, count(*) FROM format_ok_answer_wrong GROUP BY step ORDER BY step")
        XCTAssertEqual(wrong.rows, [[.integer(1), .integer(3)], [.integer(2), .integer(2)]])
    }

    func testChartsHaveACurvePerRuleWithAPointPerStep() throws {
        let path = folder.appendingPathComponent("t.sqlite").path
        try makeRun(path, steps: 5)
        let reader = try TraceReader(path: path)
        let series = try reader.series(run: reader.resolveRun(nil))
        let charts = RunPlots.charts(series, title: "watched")
        XCTAssertEqual(charts.map { $0.file }, ["reward.svg", "pass_rates.svg", "completion_length.svg"])
        let rates = charts[1].chart
        XCTAssertEqual(
            rates.series.map(\.name),
            ["format", "answer", "used_code (diagnostic)", "accuracy, arith test"])
        XCTAssertEqual(rates.series.map(\.points.count), [5, 5, 5, 2])
        XCTAssertEqual(rates.series.map(\.dashed), [false, false, true, false])
        XCTAssertEqual(rates.series.map(\.markersOnly), [false, false, false, true])
        XCTAssertEqual(charts[0].chart.series.map(\.points.count), [5])
        XCTAssertEqual(charts[2].chart.series.map(\.points.count), [5])
        XCTAssertEqual(charts[0].chart.series[0].points.map { $0.y }, series.rewardMean.compactMap { $0 })

        let plots = folder.appendingPathComponent("plots")
        let written = try RunPlots.write(from: reader, run: reader.resolveRun(nil), to: plots)
        XCTAssertEqual(written.map(\.lastPathComponent), charts.map { $0.file })
        for (url, chart) in zip(written, charts) {
            XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), chart.chart.svg)
        }
    }
}
