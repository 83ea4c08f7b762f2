// Summaries of the rule scores, written with each step, so that the trace
// viewer answers from a few thousand rows what would read every score of a
// million samples (schema v5):
//
//   group_rules  per group and rule: samples scored, how many had full marks,
//                score range and sum, and the highest reward among the samples
//                the rule gave less than full marks ("highest-reward wrong")
//   step_rules   per step and rule: samples scored, how many had full marks,
//                score sum (the pass-rate curves)
//   task_rules   per task and rule over the whole run: groups, samples scored,
//                how many had full marks, best score, first and last step, last
//                group ("never solved")
//
// Each is also defined as a SELECT over the rule scores: the v5 migration
// fills the tables with it, and a reader of an older database (which it must
// not change) uses it in their place, slower but with the same answers.

import GRDB
import Support

enum Summaries {
    static let tables = """
        CREATE TABLE group_rules (
            run_id             INTEGER NOT NULL,
            step               INTEGER NOT NULL,
            group_id           INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            rule_id            INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
            scored             INTEGER NOT NULL,   -- samples the rule applied to
            passed             INTEGER NOT NULL,   -- of those, with full marks
            min_score          REAL,
            max_score          REAL,
            score_sum          REAL,
            max_failed_reward  REAL,               -- of the samples below full marks
            PRIMARY KEY (run_id, step, group_id, rule_id)
        ) WITHOUT ROWID;
        CREATE TABLE step_rules (
            run_id     INTEGER NOT NULL,
            step       INTEGER NOT NULL,
            rule_id    INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
            scored     INTEGER NOT NULL,
            passed     INTEGER NOT NULL,
            score_sum  REAL,
            PRIMARY KEY (run_id, step, rule_id)
        ) WITHOUT ROWID;
        CREATE TABLE task_rules (
            run_id      INTEGER NOT NULL,
            task_id     TEXT NOT NULL,
            rule_id     INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
            groups      INTEGER NOT NULL,
            scored      INTEGER NOT NULL,
            passed      INTEGER NOT NULL,
            best_score  REAL,
            first_step  INTEGER NOT NULL,
            last_step   INTEGER NOT NULL,
            last_group  INTEGER NOT NULL,
            PRIMARY KEY (run_id, task_id, rule_id)
        ) WITHOUT ROWID;
        """

    static let groupRulesColumns =
        "run_id, step, group_id, rule_id, scored, passed, min_score, max_score, score_sum, max_failed_reward"
    static let stepRulesColumns = "run_id, step, rule_id, scored, passed, score_sum"
    static let taskRulesColumns =
        "run_id, task_id, rule_id, groups, scored, passed, best_score, first_step, last_step, last_group"

    /// `group_rules` from the rule scores.
    static let groupRulesSelect = """
        SELECT g.run_id, g.step, g.id, rs.rule_id, count(rs.score), coalesce(sum(\(Schema.passed)), 0),
               min(rs.score), max(rs.score), sum(rs.score),
               max(CASE WHEN rs.score < \(PassThreshold.fullMarks) THEN s.reward END)
        FROM groups g CROSS JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
        JOIN rule_scores rs ON rs.sample_id = s.id
        GROUP BY g.id, rs.rule_id
        """

    /// `step_rules` from `group_rules`.
    static let stepRulesSelect = """
        SELECT run_id, step, rule_id, sum(scored), sum(passed), sum(score_sum)
        FROM group_rules GROUP BY run_id, step, rule_id
        """

    /// `task_rules` from `group_rules` (`condition` on `g`, the groups, and `gr`).
    static func taskRulesSelect(where condition: String = "1") -> String {
        """
        SELECT g.run_id, g.task_id, gr.rule_id, count(*), sum(gr.scored), sum(gr.passed), max(gr.max_score),
               min(g.step), max(g.step), max(g.id)
        FROM group_rules gr JOIN groups g ON g.id = gr.group_id
        WHERE \(condition)
        GROUP BY g.run_id, g.task_id, gr.rule_id
        """
    }

    /// Fills the summaries of every step already recorded (the v5 migration).
    static func fill(_ db: Database) throws {
        try db.execute(sql: "INSERT INTO group_rules (\(groupRulesColumns)) \(groupRulesSelect)")
        try db.execute(sql: "INSERT INTO step_rules (\(stepRulesColumns)) \(stepRulesSelect)")
        try db.execute(sql: "INSERT INTO task_rules (\(taskRulesColumns)) \(taskRulesSelect())")
    }

    /// "" where the database has the summaries; else a WITH clause that defines them from the rule
    /// scores, for a query that reads them on a database written before they existed.
    static func source(_ db: Database) throws -> String {
        if try db.tableExists("group_rules") { return "" }
        return """
            WITH group_rules (\(groupRulesColumns)) AS (\(groupRulesSelect)),
                 step_rules (\(stepRulesColumns)) AS (\(stepRulesSelect)),
                 task_rules (\(taskRulesColumns)) AS (\(taskRulesSelect()))
            """
    }
}
