// The trace database: every run, step, group, sample and rule score, in one
// SQLite file that the `sqlite3` shell reads as it is written (WAL mode).
//
//   runs         one training (or scoring) run: config, model shape, seed, status,
//                a random uid (its checkpoints keep it: a resume must match it),
//                the rule set's full text and content hash, and the machine it ran
//                on (`system`: OpenBLAS kernel and how it was chosen, CPU)
//   rules        the rules of a run's rule set (name, kind, weight), so scores
//                name their rule by id and every score traces to its rule text
//   steps        one row per step: the common metrics as columns, all of them in
//                `metrics` (JSON: per-rule reward means, expert load, ...)
//   groups       one prompt of a step: task id, prompt, reward mean and std
//   samples      one completion: text, tokens, finish reason, reward, advantage,
//                sampler log-prob sum, and token ids (int32 LE) and per-token
//                sampler log-probs (float32 LE) as blobs. `run_id` and `step`
//                are copied from the group so filters need no join.
//   rule_scores  (sample, rule): score (NULL when the rule did not apply),
//                reason, detail
//   step_reasons per step, rule and reason: how many samples, their score range,
//                and (v6) the range of their reward, advantage and length
//   group_rules, step_rules, task_rules  (v5) per group, step or task and rule:
//                samples scored, how many had full marks, ...: summaries the
//                trace viewer reads instead of every rule score (Summaries)
//   evals        (run, step, task set, split, metric, value)
//   checkpoints  (run, step, path)
//
// Views: rule_pass_rate (per run, step and rule: samples scored, mean score,
// fraction with a full score), flat_groups (groups whose rewards are all
// equal: advantage 0, nothing learnt), format_ok_answer_wrong (samples that
// pass every format rule, regex or tag_count, and fail an answer rule, math,
// code, program_output or countdown; diagnostic rules, of weight 0, are neither).
//
// Indexes are few and lead with the step, so that a step's rows land in a few
// pages at the end of each b-tree: samples by (run, step) covering reward,
// advantage and length; rule scores by their key (sample, rule) alone. An index
// led by the reward or the score takes its inserts all over the file, and each
// commit rewrites one page per row per index: at 1,000 samples a step that
// capped writing near 15,000 samples a second, and a (rule, step, reason, score)
// index or a group_id index still cost a fifth each. In their place, zone maps
// written once a step: `steps` holds each step's sample id range and key ranges,
// `groups` its sample id range (a group's samples have consecutive ids: join
// with `s.id BETWEEN g.first_sample AND g.last_sample`), `step_reasons` which
// reasons and scores each rule gave in each step. `grpo traces samples` walks
// steps with them and skips those that cannot match (SampleQuery). Ad-hoc SQL
// does best filtering samples on (run_id, step) first.
//
// Versions are forward migrations (GRDB's DatabaseMigrator, which records them
// in grdb_migrations); `PRAGMA user_version` mirrors the latest for tools that
// only speak SQL. A database from a newer swift-grpo is refused, not altered.

import GRDB
import Support

enum Schema {
    /// The version this build writes; `PRAGMA user_version` holds it.
    static let version = 6

    /// The key ranges (v6) a `step_reasons` row keeps of the samples that got its reason, named as
    /// in `steps`; a missing reward counts as -infinity there too.
    static let reasonKeyColumns = [
        "min_reward", "max_reward", "min_advantage", "max_advantage", "min_tokens", "max_tokens",
    ]

    /// The tables every trace database has (and GRDB's record of its migrations).
    static let tables = ["grdb_migrations", "runs", "rules", "steps", "groups", "samples", "rule_scores"]

    /// Nil when `db` is a trace database (or, with `emptyIsFine`, holds no table at all: a new
    /// file); else what it lacks, naming what it holds instead.
    static func notTraceDatabase(_ db: Database, emptyIsFine: Bool) throws -> String? {
        let present = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .filter { !$0.hasPrefix("sqlite_") }
        if present.isEmpty { return emptyIsFine ? nil : "it holds no tables" }
        let missing = tables.filter { !present.contains($0) }
        let runColumns = try Set(Row.fetchAll(db, sql: "PRAGMA table_info(runs)").map { $0["name"] as String })
        let missingColumns = ["id", "name", "created", "status", "rules_hash"].filter { !runColumns.contains($0) }
        guard missing.isEmpty && missingColumns.isEmpty else {
            let lacks =
                missing.isEmpty
                ? "its runs table has no \(missingColumns.joined(separator: ", ")) column"
                : "no \(missing.joined(separator: ", ")) table"
            let holds = present.prefix(8).joined(separator: ", ") + (present.count > 8 ? ", ..." : "")
            return "\(lacks); it holds \(holds): another program's database? grpo never writes into one"
        }
        return nil
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: v1)
            try db.execute(sql: "PRAGMA user_version = 1")
        }
        // v2: the machine a run ran on (OpenBLAS kernel and how it was chosen, CPU), as JSON.
        m.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN system TEXT NOT NULL DEFAULT '{}'")
            try db.execute(sql: "PRAGMA user_version = 2")
        }
        // v3: a diagnostic rule (weight 0, such as "used a code block") is no format rule:
        // a sample that fails one can still have its format right and its answer wrong.
        // A pass is full marks as the rules count it (PassThreshold.fullMarks).
        m.registerMigration("v3") { db in
            try db.execute(sql: "DROP VIEW format_ok_answer_wrong")
            try db.execute(sql: formatOkAnswerWrong(excludingDiagnostics: true))
            try db.execute(sql: "DROP VIEW rule_pass_rate")
            try db.execute(sql: rulePassRate(passed: passed))
            try db.execute(sql: "PRAGMA user_version = 3")
        }
        // v4: a run's identity, a random id its checkpoints keep too, so that resuming matches
        // a checkpoint with its own run, never another run that has the same numeric id.
        m.registerMigration("v4") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN uid TEXT")
            try db.execute(sql: "PRAGMA user_version = 4")
        }
        // v5: summaries per group, step and task for each rule (Summaries), so that the
        // viewer's curves and lists read them instead of every rule score; filled in for the steps
        // already there.
        m.registerMigration("v5") { db in
            try db.execute(sql: Summaries.tables)
            try Summaries.fill(db)
            try db.execute(sql: "PRAGMA user_version = 5")
        }
        // v6: the key ranges of each reason's samples in step_reasons, so that a list filtered on
        // a rule and ordered by reward (or advantage, or length) skips a step whose matching
        // samples cannot beat the ones it holds, even when other samples of the step could
        // (SampleQuery); filled in for the steps already there.
        m.registerMigration("v6") { db in
            for column in reasonKeyColumns {
                try db.execute(sql: "ALTER TABLE step_reasons ADD COLUMN \(column) REAL")
            }
            let assignments = reasonKeyColumns.map { "\($0) = k.\($0)" }.joined(separator: ", ")
            try db.execute(
                sql: """
                    UPDATE step_reasons AS z SET \(assignments)
                    FROM (SELECT s.run_id, s.step, rs.rule_id, rs.reason,
                                 min(coalesce(s.reward, -1e999)) AS min_reward,
                                 max(coalesce(s.reward, -1e999)) AS max_reward,
                                 min(s.advantage) AS min_advantage, max(s.advantage) AS max_advantage,
                                 min(s.num_tokens) AS min_tokens, max(s.num_tokens) AS max_tokens
                          FROM rule_scores rs JOIN samples s ON s.id = rs.sample_id
                          GROUP BY s.run_id, s.step, rs.rule_id, rs.reason) AS k
                    WHERE z.run_id = k.run_id AND z.step = k.step AND z.rule_id = k.rule_id AND z.reason = k.reason
                    """)
            try db.execute(sql: "PRAGMA user_version = 6")
        }
        return m
    }

    /// Rule kinds that judge the answer, and those that judge the format (as the
    /// format_ok_answer_wrong view counts them).
    static let answerKinds = ["math", "code", "program_output", "countdown"]
    static let formatKinds = ["regex", "tag_count"]

    /// SQL that is 1.0 when `rs.score` has full marks, 0.0 when it is lower, NULL when the rule
    /// did not apply: its average is the pass rate. Full marks allow for rounding in scores
    /// summed from parts: the threshold is PassThreshold's, which the rules use too.
    static let passed =
        "CASE WHEN rs.score >= \(PassThreshold.fullMarks) THEN 1.0 WHEN rs.score IS NOT NULL THEN 0.0 END"

    /// Per run, step and rule: samples scored, mean score, pass rate (`passed`: v1 asked for 1 exactly).
    private static func rulePassRate(passed: String) -> String {
        """
        CREATE VIEW rule_pass_rate AS
            SELECT s.run_id, s.step, r.name AS rule, count(rs.score) AS scored,
                   avg(rs.score) AS mean_score,
                   avg(\(passed)) AS pass_rate
            FROM rule_scores rs JOIN samples s ON s.id = rs.sample_id JOIN rules r ON r.id = rs.rule_id
            GROUP BY s.run_id, s.step, r.name;
        """
    }

    /// Samples that pass every format rule and fail an answer rule. `excludingDiagnostics`:
    /// rules of weight 0 count as neither (v1 counted them).
    /// v3 also counts program_output (program-aided answers) as an answer kind.
    private static func formatOkAnswerWrong(excludingDiagnostics: Bool) -> String {
        let judging = excludingDiagnostics ? " AND r.weight <> 0" : ""
        let answerKinds = (excludingDiagnostics ? Schema.answerKinds : ["math", "code", "countdown"])
            .map { "'\($0)'" }.joined(separator: ", ")
        return """
            CREATE VIEW format_ok_answer_wrong AS
                SELECT s.* FROM samples s
                WHERE EXISTS (SELECT 1 FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id
                              WHERE rs.sample_id = s.id AND r.kind IN (\(answerKinds))
                                AND rs.score < 1\(judging))
                  AND EXISTS (SELECT 1 FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id
                              WHERE rs.sample_id = s.id AND r.kind IN ('regex', 'tag_count')\(judging))
                  AND NOT EXISTS (SELECT 1 FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id
                                  WHERE rs.sample_id = s.id AND r.kind IN ('regex', 'tag_count')\(judging)
                                    AND (rs.score IS NULL OR rs.score < 1));
            """
    }

    private static let v1 = """
        CREATE TABLE runs (
            id          INTEGER PRIMARY KEY,
            name        TEXT NOT NULL,
            created     TEXT NOT NULL,             -- ISO 8601, UTC
            finished    TEXT,
            status      TEXT NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
            error       TEXT,
            seed        INTEGER,
            config      TEXT NOT NULL DEFAULT '{}', -- JSON, TRL's GRPOConfig names
            model       TEXT NOT NULL DEFAULT '{}', -- JSON, the HF config.json of the policy
            task_set    TEXT,
            rules_name  TEXT,
            rules_text  TEXT,
            rules_hash  TEXT                        -- SHA-256 of rules_text
        );
        CREATE TABLE rules (
            id      INTEGER PRIMARY KEY,
            run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            name    TEXT NOT NULL,
            kind    TEXT NOT NULL,
            weight  REAL NOT NULL,
            UNIQUE (run_id, name)
        );
        CREATE TABLE steps (
            run_id                INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step                  INTEGER NOT NULL,
            time                  TEXT NOT NULL,
            reward_mean           REAL,
            reward_std            REAL,
            frac_zero_std         REAL,
            advantage_mean        REAL,
            advantage_std         REAL,
            loss                  REAL,
            kl                    REAL,
            clip_frac_low         REAL,
            clip_frac_high        REAL,
            ratio_mean            REAL,
            entropy               REAL,
            completion_len_mean   REAL,
            completion_len_min    REAL,
            completion_len_max    REAL,
            truncated_frac        REAL,
            learning_rate         REAL,
            grad_norm             REAL,
            expert_imbalance      REAL,
            logprob_mismatch_max      REAL,
            sampling_s            REAL,
            scoring_s             REAL,
            training_s            REAL,
            tokens_per_s          REAL,
            metrics               TEXT NOT NULL DEFAULT '{}',
            -- Zone map of the step's samples (written by the writer, read by `grpo traces
            -- samples` to skip steps that cannot hold a better sample): their id range and
            -- the range of each order key, a missing reward counting as -infinity.
            first_sample          INTEGER,
            last_sample           INTEGER,
            min_reward            REAL,
            max_reward            REAL,
            min_advantage         REAL,
            max_advantage         REAL,
            min_tokens            INTEGER,
            max_tokens            INTEGER,
            PRIMARY KEY (run_id, step)
        );
        CREATE TABLE groups (
            id           INTEGER PRIMARY KEY,
            run_id       INTEGER NOT NULL,
            step         INTEGER NOT NULL,
            idx          INTEGER NOT NULL,
            task_id      TEXT NOT NULL,
            prompt       TEXT NOT NULL,
            reward_mean  REAL,
            reward_std   REAL,
            first_sample INTEGER,                  -- a group's samples have consecutive ids
            last_sample  INTEGER,
            FOREIGN KEY (run_id, step) REFERENCES steps(run_id, step) ON DELETE CASCADE,
            UNIQUE (run_id, step, idx)
        );
        CREATE INDEX groups_task ON groups(run_id, task_id);
        CREATE TABLE samples (
            id              INTEGER PRIMARY KEY,
            group_id        INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
            run_id          INTEGER NOT NULL,
            step            INTEGER NOT NULL,
            idx             INTEGER NOT NULL,
            reward          REAL,                  -- NULL: no rule applied
            advantage       REAL NOT NULL,
            num_tokens      INTEGER NOT NULL,
            finish_reason   TEXT NOT NULL,
            truncated       INTEGER NOT NULL,
            logprob_sum     REAL,
            completion      TEXT NOT NULL,
            token_ids       BLOB,
            token_logprobs  BLOB
        );
        CREATE INDEX samples_step ON samples(run_id, step, reward, advantage, num_tokens);
        CREATE TABLE rule_scores (
            sample_id  INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
            rule_id    INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
            score      REAL,                       -- NULL: the rule did not apply
            reason     TEXT NOT NULL,
            detail     TEXT,
            PRIMARY KEY (sample_id, rule_id)
        ) WITHOUT ROWID;
        -- Per step, rule and reason: how many samples got it and their score range.
        CREATE TABLE step_reasons (
            run_id     INTEGER NOT NULL,
            step       INTEGER NOT NULL,
            rule_id    INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
            reason     TEXT NOT NULL,
            samples    INTEGER NOT NULL,
            min_score  REAL,
            max_score  REAL,
            PRIMARY KEY (run_id, step, rule_id, reason),
            FOREIGN KEY (run_id, step) REFERENCES steps(run_id, step) ON DELETE CASCADE
        ) WITHOUT ROWID;
        CREATE TABLE evals (
            run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step      INTEGER NOT NULL,
            task_set  TEXT NOT NULL,
            split     TEXT NOT NULL,
            metric    TEXT NOT NULL,
            value     REAL NOT NULL,
            time      TEXT NOT NULL,
            PRIMARY KEY (run_id, step, task_set, split, metric)
        );
        CREATE TABLE checkpoints (
            run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            step    INTEGER NOT NULL,
            path    TEXT NOT NULL,
            time    TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        );

        CREATE VIEW flat_groups AS
            SELECT g.*, count(*) AS samples, min(s.reward) AS reward
            FROM groups g JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
            GROUP BY g.id
            HAVING min(coalesce(s.reward, -1e300)) = max(coalesce(s.reward, -1e300));
        """ + rulePassRate(passed: "CASE WHEN rs.score >= 1 THEN 1.0 WHEN rs.score IS NOT NULL THEN 0.0 END")
        + formatOkAnswerWrong(excludingDiagnostics: false)
}
