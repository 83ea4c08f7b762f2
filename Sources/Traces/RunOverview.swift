// A run as the trace viewer shows it: what it was (config, rule set text and
// hash, status, progress, last metrics) and every curve it recorded against
// the step. Each is one value a JSON encoder writes as it is (snake_case keys).
//
// Curves come from three places, so that every metric a run recorded is one:
//   - the `steps` columns (reward, KL, entropy, clip fractions, lengths, ...);
//   - the step's `metrics` JSON (expert load per layer and expert, dynamic
//     sampling, rule errors, per-rule reward means, anything a trainer adds);
//   - each rule's pass rate, from `step_rules` (Summaries; from the rule scores
//     on an older database): runs whose metrics lack them show them too;
// and each evaluation metric (accuracy, pass@k) as points at its steps.

import Foundation
import GRDB

/// One run, for the runs page.
public struct RunSummary: Sendable, Encodable {
    public var id: Int64
    public var name: String
    public var status: String
    public var created: String
    public var finished: String?
    public var error: String?
    public var seed: Int64?
    public var taskSet: String?
    public var rulesName: String?
    public var rulesHash: String?
    public var rulesText: String?
    /// JSON texts as recorded (TRL's GRPOConfig names; the policy's config.json).
    public var config: String
    public var model: String
    public var rules: [RuleInfo]
    public var steps: Int
    public var lastStep: Int?
    public var samples: Int64
    /// The last step's metrics (JSON text, every metric), nil before the first step.
    public var lastMetrics: String?
}

/// A run's curves: one value per recorded step for each series (nil where the step lacks it).
public struct RunCurves: Sendable, Encodable {
    public struct Series: Sendable, Encodable {
        public var name: String
        public var values: [Double?]
    }
    /// An evaluation metric at the steps it was measured.
    public struct EvalSeries: Sendable, Encodable {
        public var taskSet: String
        public var split: String
        public var metric: String
        public var steps: [Int]
        public var values: [Double]
    }
    public var run: Int64
    public var name: String
    public var steps: [Int]
    /// The `steps` columns first, then the pass rates ("pass_rate/<rule>"), then the rest of
    /// the metrics JSON by name.
    public var series: [Series]
    public var rules: [RuleInfo]
    public var evals: [EvalSeries]

    /// As a table: a row per step, a column per series (evaluations left out: other steps).
    public var table: Table {
        Table(
            columns: ["step"] + series.map(\.name),
            rows: steps.indices.map { i in
                [.integer(Int64(steps[i]))] + series.map { $0.values[i].map(TraceValue.real) ?? .null }
            })
    }
}

/// The `steps` columns that are metrics (not the time or the zone map), in table order.
let stepMetricColumns = StepMetrics().columns.map(\.0)

extension TraceReader {
    public func runSummaries() throws -> [RunSummary] {
        let runs = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.name, r.status, r.created, r.finished, r.error, r.seed, r.task_set, r.rules_name,
                           r.rules_hash, r.rules_text, r.config, r.model,
                           (SELECT count(*) FROM steps WHERE run_id = r.id),
                           (SELECT max(step) FROM steps WHERE run_id = r.id),
                           (SELECT coalesce(sum(last_sample - first_sample + 1), 0) FROM steps WHERE run_id = r.id),
                           (SELECT metrics FROM steps WHERE run_id = r.id ORDER BY step DESC LIMIT 1)
                    FROM runs r ORDER BY r.id
                    """)
        }
        return try runs.map { row in
            let id: Int64 = row[0]
            return RunSummary(
                id: id, name: row[1], status: row[2], created: row[3], finished: row[4], error: row[5], seed: row[6],
                taskSet: row[7], rulesName: row[8], rulesHash: row[9], rulesText: row[10], config: row[11],
                model: row[12], rules: try ruleInfos(run: id), steps: row[13], lastStep: row[14], samples: row[15],
                lastMetrics: row[16])
        }
    }

    public func curves(run: Int64) throws -> RunCurves {
        guard
            let name = try db.read({
                try String.fetchOne($0, sql: "SELECT name FROM runs WHERE id = ?", arguments: [run])
            })
        else { throw TraceError.unknownRun(String(run)) }
        let rows = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT step, \(stepMetricColumns.joined(separator: ", ")), metrics
                    FROM steps WHERE run_id = ? ORDER BY step
                    """, arguments: [run])
        }
        let steps: [Int] = rows.map { $0[0] }
        var series = stepMetricColumns.enumerated().map { c, column in
            RunCurves.Series(name: column, values: rows.map { finite($0[c + 1] as Double?) })
        }
        .filter { $0.values.contains { $0 != nil } }
        let rules = try ruleInfos(run: run)
        for curve in try groupPassRates(run: run, steps: steps) {
            series.append(RunCurves.Series(name: "pass_rate/\(curve.rule.name)", values: curve.passRates))
        }
        // The metrics JSON: every number not already a series, by name.
        var extras: [String: [Double?]] = [:]
        let known = Set(series.map(\.name))
        for (i, row) in rows.enumerated() {
            let text: String = row[stepMetricColumns.count + 1]
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                continue
            }
            for (key, value) in object where !known.contains(key) {
                // The writer writes numbers only (StepMetrics.json); anything else is another tool's.
                guard let number = value as? NSNumber else { continue }
                extras[key, default: Array(repeating: nil, count: rows.count)][i] = finite(number.doubleValue)
            }
        }
        series += extras.keys.sorted().map { RunCurves.Series(name: $0, values: extras[$0]!) }
        return RunCurves(run: run, name: name, steps: steps, series: series, rules: rules, evals: try evals(run: run))
    }

    private func evals(run: Int64) throws -> [RunCurves.EvalSeries] {
        let rows = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT task_set, split, metric, step, value FROM evals WHERE run_id = ?
                    ORDER BY task_set, split, metric, step
                    """, arguments: [run])
        }
        var evals: [RunCurves.EvalSeries] = []
        for row in rows {
            let (taskSet, split, metric): (String, String, String) = (row[0], row[1], row[2])
            guard let value = finite(row[4] as Double?) else { continue }
            if let last = evals.indices.last, evals[last].taskSet == taskSet, evals[last].split == split,
                evals[last].metric == metric
            {
                evals[last].steps.append(row[3])
                evals[last].values.append(value)
            } else {
                evals.append(
                    RunCurves.EvalSeries(
                        taskSet: taskSet, split: split, metric: metric, steps: [row[3]], values: [value]))
            }
        }
        return evals
    }

    /// Every rule's pass rate at `steps`, from the per-step summaries (Summaries).
    func groupPassRates(run: Int64, steps: [Int]) throws -> [RunSeries.RuleCurve] {
        let rows = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    \(try Summaries.source(db))
                    SELECT r.name, sr.step, CAST(sr.passed AS REAL) / nullif(sr.scored, 0)
                    FROM step_rules sr JOIN rules r ON r.id = sr.rule_id
                    WHERE sr.run_id = ?
                    """, arguments: [run])
        }
        var byRule: [String: [Int: Double]] = [:]
        for row in rows {
            if let rate = row[2] as Double? { byRule[row[0], default: [:]][row[1]] = rate }
        }
        return try ruleInfos(run: run).map { rule in
            let rates = byRule[rule.name] ?? [:]
            return RunSeries.RuleCurve(rule: rule, passRates: steps.map { rates[$0] })
        }
    }
}

/// JSON has no NaN or infinity: they are left out (nil), as the metrics JSON leaves them.
func finite(_ v: Double?) -> Double? { v.flatMap { $0.isFinite ? $0 : nil } }
