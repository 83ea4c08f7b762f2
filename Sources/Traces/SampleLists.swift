// The lists a person reads a run by, each a `Table` (so each exports as CSV
// or JSON lines), each answered from summaries rather than every sample:
//
//   never solved              tasks no sample got full marks on, by an answer
//                             rule (math, code, program_output, countdown; not
//                             a diagnostic of weight 0): from `group_rules`
//   format right, answer wrong  samples that pass every format rule and fail an
//                             answer rule (the format_ok_answer_wrong view),
//                             newest first, looking only into groups whose
//                             summaries allow one
//   highest-reward wrong      samples failing the answer rule, highest reward
//                             first: reward hacking suspects (`grpo traces
//                             samples --rule ANSWER --below 1 --order reward`)
//   flat groups               groups whose rewards are all equal (a std below
//                             1e-9, rounding, or no reward at all): advantage
//                             0, nothing learnt
//
// Each takes the run, a limit, and optionally a step range.

import Foundation
import GRDB
import Kernels

/// Which steps a list looks at (both ends included; nil: unbounded).
public struct StepRange: Sendable, Equatable {
    public var first: Int?
    public var last: Int?
    public init(first: Int? = nil, last: Int? = nil) {
        self.first = first
        self.last = last
    }

    /// " AND <column> >= first AND <column> <= last" for the ends given.
    func condition(_ column: String) -> String {
        (first.map { " AND \(column) >= \($0)" } ?? "") + (last.map { " AND \(column) <= \($0)" } ?? "")
    }
}

extension TraceReader {
    /// The run's answer rules (weight not 0), in rule-set order.
    public func answerRules(run: Int64) throws -> [RuleInfo] {
        try ruleInfos(run: run).filter { Schema.answerKinds.contains($0.kind) && !$0.isDiagnostic }
    }

    public func neverSolved(run: Int64, steps: StepRange = StepRange(), limit: Int = 50) throws -> Table {
        let kinds = Schema.answerKinds.map { "'\($0)'" }.joined(separator: ", ")
        return try db.read { db in
            let statement = try db.makeStatement(
                sql: """
                    \(try groupRulesSource(db))
                    SELECT n.*, replace(replace(substr(p.prompt, 1, 120), char(10), ' '), char(13), ' ') AS prompt
                    FROM (SELECT g.task_id, count(DISTINCT g.id) AS groups, sum(gr.scored) AS samples,
                                 min(g.step) AS first_step, max(g.step) AS last_step, max(gr.max_score) AS best_score,
                                 max(g.id) AS last_group
                          FROM group_rules gr JOIN rules r ON r.id = gr.rule_id
                          CROSS JOIN groups g ON g.id = gr.group_id
                          WHERE gr.run_id = ?\(steps.condition("gr.step")) AND r.kind IN (\(kinds)) AND r.weight <> 0
                          GROUP BY g.task_id HAVING sum(gr.passed) = 0
                          ORDER BY samples DESC, g.task_id LIMIT ?) n
                    JOIN groups p ON p.id = n.last_group
                    ORDER BY n.samples DESC, n.task_id
                    """)
            return try collect(statement, [run, limit])
        }
    }

    public func formatOkAnswerWrong(run: Int64, steps: StepRange = StepRange(), limit: Int = 50) throws -> Table {
        let answer = Schema.answerKinds.map { "'\($0)'" }.joined(separator: ", ")
        let format = Schema.formatKinds.map { "'\($0)'" }.joined(separator: ", ")
        func summary(_ kinds: String, _ condition: String) -> String {
            """
            SELECT 1 FROM group_rules gr JOIN rules r ON r.id = gr.rule_id
            WHERE gr.run_id = g.run_id AND gr.step = g.step AND gr.group_id = g.id AND r.kind IN (\(kinds))
              AND r.weight <> 0\(condition)
            """
        }
        func score(_ kinds: String, _ condition: String) -> String {
            """
            SELECT 1 FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id
            WHERE rs.sample_id = s.id AND r.kind IN (\(kinds)) AND r.weight <> 0\(condition)
            """
        }
        return try db.read { db in
            let statement = try db.makeStatement(
                sql: """
                    \(try groupRulesSource(db))
                    SELECT s.id, s.step, g.task_id, g.id AS "group", s.idx, s.reward, s.advantage,
                           s.num_tokens AS tokens, s.finish_reason AS finish,
                           replace(replace(substr(s.completion, 1, 120), char(10), ' '), char(13), ' ') AS completion
                    FROM groups g CROSS JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
                    WHERE g.run_id = ?\(steps.condition("g.step"))
                      AND EXISTS (\(summary(answer, " AND gr.min_score < 1")))
                      AND EXISTS (\(summary(format, "")))
                      AND NOT EXISTS (\(summary(format, " AND (gr.max_score IS NULL OR gr.max_score < 1)")))
                      AND EXISTS (\(score(answer, " AND rs.score < 1")))
                      AND EXISTS (\(score(format, "")))
                      AND NOT EXISTS (\(score(format, " AND (rs.score IS NULL OR rs.score < 1)")))
                    ORDER BY g.step DESC, g.idx DESC, s.id DESC LIMIT ?
                    """)
            return try collect(statement, [run, limit])
        }
    }

    /// Samples failing the first answer rule, highest reward first; no rows when the run has none.
    public func highestRewardWrong(run: Int64, steps: StepRange = StepRange(), limit: Int = 50) throws -> Table {
        guard let answer = try answerRules(run: run).first else {
            var none = SampleFilter()
            none.limit = 0
            return try samples(run: run, filter: none)
        }
        var filter = SampleFilter()
        filter.limit = limit
        filter.rule = answer.name
        filter.below = PassThreshold.fullMarks
        filter.order = .reward
        filter.steps = steps
        filter.preview = 120
        return try samples(run: run, filter: filter)
    }

    public func flatGroups(run: Int64, steps: StepRange = StepRange(), limit: Int = 50) throws -> Table {
        try table(
            """
            SELECT g.id AS "group", g.step, g.idx, g.task_id, g.reward_mean AS reward,
                   g.last_sample - g.first_sample + 1 AS samples,
                   replace(replace(substr(g.prompt, 1, 120), char(10), ' '), char(13), ' ') AS prompt
            FROM groups g
            WHERE g.run_id = ?\(steps.condition("g.step")) AND coalesce(g.reward_std, 0) < 1e-9
            ORDER BY g.step DESC, g.idx DESC LIMIT ?
            """, [run, limit])
    }

    private func collect(_ statement: Statement, _ arguments: [(any DatabaseValueConvertible)?]) throws -> Table {
        let rows = try Row.fetchAll(statement, arguments: StatementArguments(arguments))
        return Table(columns: statement.columnNames, rows: rows.map { $0.databaseValues.map(TraceValue.init) })
    }
}
