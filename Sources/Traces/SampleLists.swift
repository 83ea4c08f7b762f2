// The lists a person reads a run by, each a `Table` (so each exports as CSV
// or JSON lines), each answered from summaries rather than every sample:
//
//   never solved              tasks no sample got full marks on, by an answer
//                             rule (math, code, program_output, countdown; not
//                             a diagnostic of weight 0): from `task_rules`, or
//                             `group_rules` for some steps
//   format right, answer wrong  samples that pass every format rule and fail an
//                             answer rule (the format_ok_answer_wrong view),
//                             newest first, looking only into groups whose
//                             summaries allow one
//   highest-reward wrong      samples failing the answer rule, highest reward
//                             first: reward hacking suspects (as `grpo traces
//                             samples --rule ANSWER --below 1 --order reward`,
//                             from the groups whose best failing reward is
//                             highest)
//   flat groups               groups whose rewards are all equal (a std below
//                             1e-9, rounding, or no reward at all): advantage
//                             0, nothing learnt
//
// Each takes the run, a limit, and optionally a step range.

import Foundation
import GRDB
import Support

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
        // A task's rows per rule: the whole run's from task_rules; for some steps, from their groups.
        let perRule =
            steps == StepRange()
            ? "SELECT * FROM task_rules WHERE run_id = ?"
            : """
            SELECT g.task_id, gr.rule_id, count(*) AS groups, sum(gr.scored) AS scored, sum(gr.passed) AS passed,
                   max(gr.max_score) AS best_score, min(g.step) AS first_step, max(g.step) AS last_step,
                   max(g.id) AS last_group
            FROM group_rules gr CROSS JOIN groups g ON g.id = gr.group_id
            WHERE gr.run_id = ?\(steps.condition("gr.step"))
            GROUP BY g.task_id, gr.rule_id
            """
        return try db.read { db in
            let statement = try db.makeStatement(
                sql: """
                    \(try Summaries.source(db))
                    SELECT n.*, replace(replace(substr(p.prompt, 1, 120), char(10), ' '), char(13), ' ') AS prompt
                    FROM (SELECT t.task_id, max(t.groups) AS groups, max(t.scored) AS samples,
                                 min(t.first_step) AS first_step, max(t.last_step) AS last_step,
                                 max(t.best_score) AS best_score, max(t.last_group) AS last_group
                          FROM (\(perRule)) t JOIN rules r ON r.id = t.rule_id
                          WHERE r.kind IN (\(kinds)) AND r.weight <> 0
                          GROUP BY t.task_id HAVING sum(t.passed) = 0
                          ORDER BY samples DESC, t.task_id LIMIT ?) n
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
                    \(try Summaries.source(db))
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

    /// Samples (with a reward) below full marks on the first answer rule, highest reward first, the
    /// newest first among equals. The groups whose best such reward is highest hold them: take
    /// the top `limit` groups by (that reward, id), each has a sample at least as good as any
    /// sample of a group left out, then order their samples. (The scores are probed per sample:
    /// a join lets SQLite build a Bloom filter over every rule score first.)
    public func highestRewardWrong(run: Int64, steps: StepRange = StepRange(), limit: Int = 50) throws -> Table {
        let rule = try db.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT id FROM rules WHERE run_id = ? AND kind IN (\(Schema.answerKinds.map { "'\($0)'" }
                        .joined(separator: ", "))) AND weight <> 0 ORDER BY id LIMIT 1
                    """, arguments: [run])
        }
        return try db.read { db in
            let statement = try db.makeStatement(
                sql: """
                    \(try Summaries.source(db))
                    SELECT s.id, s.step, g.task_id, g.id AS "group", s.idx, s.reward, s.advantage,
                           s.num_tokens AS tokens, s.finish_reason AS finish,
                           replace(replace(substr(s.completion, 1, 120), char(10), ' '), char(13), ' ') AS completion
                    FROM (SELECT gr.group_id FROM group_rules gr
                          WHERE gr.run_id = ?\(steps.condition("gr.step")) AND gr.rule_id = ?
                            AND gr.max_failed_reward IS NOT NULL
                          ORDER BY gr.max_failed_reward DESC, gr.group_id DESC LIMIT ?) top
                    CROSS JOIN groups g ON g.id = top.group_id
                    CROSS JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
                    WHERE s.reward IS NOT NULL
                      AND EXISTS (SELECT 1 FROM rule_scores rs
                                  WHERE rs.sample_id = s.id AND rs.rule_id = ?
                                    AND rs.score < \(PassThreshold.fullMarks))
                    ORDER BY s.reward DESC, s.id DESC LIMIT ?
                    """)
            return try collect(statement, [run, rule ?? -1, limit, rule ?? -1, limit])
        }
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
