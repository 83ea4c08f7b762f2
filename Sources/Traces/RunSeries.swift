// A run as curves over its steps: what `grpo traces plot` draws and what
// `grpo traces steps` adds to its table. Per step: the reward mean, the mean
// completion length, and every rule's pass rate (diagnostic rules of weight 0
// included: seeing what the policy does without rewarding it is their point);
// per evaluation, the held-out accuracy.
//
// Pass rates come from the rule scores themselves, not from the step's metrics
// JSON, so runs recorded before the metrics held them, and evaluation runs
// (`grpo eval --db`), read the same way.

import GRDB

public struct RunSeries: Sendable {
    /// One rule's pass rate at each of `steps` (nil: the rule applied to no sample of that step).
    public struct RuleCurve: Sendable, Equatable {
        public var rule: RuleInfo
        public var passRates: [Double?]
    }

    /// Held-out accuracy on one task set and split, at the steps it was measured.
    public struct EvalCurve: Sendable {
        public var taskSet: String
        public var split: String
        public var points: [(step: Int, accuracy: Double)]
    }

    public var runName: String
    /// The recorded steps, ascending; every per-step array has one value for each.
    public var steps: [Int]
    public var rewardMean: [Double?]
    public var completionLengthMean: [Double?]
    /// In rule-set order.
    public var rules: [RuleCurve]
    public var evals: [EvalCurve]
}

extension TraceReader {
    /// A run's rules (name, kind, weight), in rule-set order.
    public func ruleInfos(run: Int64) throws -> [RuleInfo] {
        try db.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT name, kind, weight FROM rules WHERE run_id = ? ORDER BY id",
                arguments: [run])
            return rows.map { RuleInfo(name: $0[0], kind: $0[1], weight: $0[2]) }
        }
    }

    /// Every rule's pass rate at `steps` (nil where it applied to no sample), in rule-set order.
    public func rulePassRates(run: Int64, steps: [Int]) throws -> [RunSeries.RuleCurve] {
        // Led by the samples' (run_id, step) index, then each sample's scores by their key.
        let rows = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.name, s.step, avg(\(Schema.passed)) AS pass_rate
                    FROM samples s JOIN rule_scores rs ON rs.sample_id = s.id JOIN rules r ON r.id = rs.rule_id
                    WHERE s.run_id = ?
                    GROUP BY r.name, s.step
                    """, arguments: [run])
        }
        var byRule: [String: [Int: Double]] = [:]
        for row in rows {
            let rate: Double? = row[2]
            byRule[row[0], default: [:]][row[1]] = rate
        }
        return try ruleInfos(run: run).map { rule in
            let rates = byRule[rule.name] ?? [:]
            return RunSeries.RuleCurve(rule: rule, passRates: steps.map { rates[$0] })
        }
    }

    public func series(run: Int64) throws -> RunSeries {
        let name = try db.read { db in
            try String.fetchOne(db, sql: "SELECT name FROM runs WHERE id = ?", arguments: [run])
        }
        guard let name else { throw TraceError.unknownRun(String(run)) }
        let stepRows = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT step, reward_mean, completion_len_mean FROM steps WHERE run_id = ? ORDER BY step
                    """, arguments: [run])
        }
        let steps: [Int] = stepRows.map { $0[0] }
        let evalRows = try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT task_set, split, step, value FROM evals WHERE run_id = ? AND metric = 'accuracy'
                    ORDER BY task_set, split, step
                    """, arguments: [run])
        }
        var evals: [RunSeries.EvalCurve] = []
        for row in evalRows {
            let taskSet: String = row[0]
            let split: String = row[1]
            let point = (step: row[2] as Int, accuracy: row[3] as Double)
            if let last = evals.indices.last, evals[last].taskSet == taskSet, evals[last].split == split {
                evals[last].points.append(point)
            } else {
                evals.append(RunSeries.EvalCurve(taskSet: taskSet, split: split, points: [point]))
            }
        }
        return RunSeries(
            runName: name, steps: steps, rewardMean: stepRows.map { $0[1] },
            completionLengthMean: stepRows.map { $0[2] },
            rules: try rulePassRates(run: run, steps: steps), evals: evals)
    }
}
