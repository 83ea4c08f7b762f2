// Writes a run into a trace database: one transaction per step (the step row,
// its groups, samples and rule scores commit together or not at all), prepared
// statements reused for every row.
//
// Durability: WAL mode with synchronous=NORMAL. A crash or `kill -9` of the
// trainer loses at most the step in flight (committed transactions are in the
// WAL, which SQLite replays on the next open); a power cut may also lose the
// last few commits but never corrupts the file. Readers (`grpo traces`, the
// sqlite3 shell) see every committed step while the writer goes on.
//
//   let traces = try TraceWriter(path: "runs/r1/traces.sqlite")
//   try traces.startRun(RunInfo(name: "r1", rules: [...]))
//   try traces.record(StepRecord(step: 1, metrics: m, groups: groups))   // each step
//   try traces.finish(.finished)

import Foundation
import GRDB
import Support

public final class TraceWriter {
    public let path: String
    private let db: DatabaseQueue
    public private(set) var runID: Int64?
    /// The current run's name and uid, for its checkpoints (`resumeRun` matches them).
    public private(set) var runIdentity: RunIdentity?
    private var ruleIDs: [String: Int64] = [:]

    /// Opens (creating it and its folder if needed) and migrates the database.
    public init(path: String) throws {
        self.path = path
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        db = try TraceDatabase.open(path: path, readonly: false)
    }

    /// Starts a new run and makes it the one `record` writes to; returns its id.
    @discardableResult
    public func startRun(_ info: RunInfo) throws -> Int64 {
        // The first name seen twice, in the rules' order (a Dictionary's order would change from run to run).
        var seen = Set<String>()
        if let dup = info.rules.map(\.name).first(where: { !seen.insert($0).inserted }) {
            throw TraceError.badRecord("rule \"\(dup)\" appears twice in the run's rules")
        }
        let id: Int64 = try db.write { db in
            try db.execute(
                sql: """
                    INSERT INTO runs (name, created, seed, config, model, task_set, rules_name, rules_text, rules_hash,
                                      system, uid)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    info.name, timestamp(), info.seed, info.config, info.model, info.taskSet,
                    info.rulesName, info.rulesText, info.rulesText.map { SHA256.hex($0.utf8) },
                    info.system ?? "{}", info.uid,
                ])
            let run = db.lastInsertedRowID
            for rule in info.rules {
                try db.execute(
                    sql: "INSERT INTO rules (run_id, name, kind, weight) VALUES (?, ?, ?, ?)",
                    arguments: [run, rule.name, rule.kind, rule.weight])
            }
            return run
        }
        try attach(run: id)
        return id
    }

    /// Continues an existing run after a restart from the checkpoint of `afterStep`:
    /// the steps after it (written before the restart, now to be redone) are deleted. The run
    /// must be the checkpoint's own (`identity`): the same name, and the same uid when the
    /// checkpoint has one. A database where run `id` is another run is refused untouched.
    public func resumeRun(_ id: Int64, identity: RunIdentity, afterStep: Int) throws {
        try db.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT name, uid FROM runs WHERE id = ?", arguments: [id]) else {
                throw TraceError.unknownRun(String(id))
            }
            let name: String = row["name"]
            let uid: String? = row["uid"]
            if name != identity.name || (identity.uid != nil && uid != identity.uid) {
                throw TraceError.runMismatch(
                    path: path,
                    message:
                        "run \(id) here is \"\(name)\" (uid \(uid ?? "none")), "
                        + "not the checkpoint's run \"\(identity.name)\" (uid \(identity.uid ?? "none")); refusing to "
                        + "resume into another run's traces (its traces are in another database? pass it with --db)")
            }
            // A run begun before runs had a uid gets one now; its next checkpoints keep it.
            if uid == nil {
                try db.execute(sql: "UPDATE runs SET uid = ? WHERE id = ?", arguments: [RunInfo.newUID(), id])
            }
            // Child rows first: the writer's connection does not enforce (or cascade) the foreign keys.
            try db.execute(
                sql:
                    "DELETE FROM rule_scores WHERE sample_id IN (SELECT id FROM samples WHERE run_id = ? AND step > ?)",
                arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM step_reasons WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM group_rules WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM step_rules WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM task_rules WHERE run_id = ?", arguments: [id])
            try db.execute(
                sql: """
                    INSERT INTO task_rules (\(Summaries.taskRulesColumns))
                    \(Summaries.taskRulesSelect(where: "g.run_id = ?"))
                    """, arguments: [id])
            try db.execute(sql: "DELETE FROM samples WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM groups WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM steps WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM evals WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(sql: "DELETE FROM checkpoints WHERE run_id = ? AND step > ?", arguments: [id, afterStep])
            try db.execute(
                sql: "UPDATE runs SET status = 'running', finished = NULL, error = NULL WHERE id = ?", arguments: [id])
        }
        try attach(run: id)
    }

    private func attach(run id: Int64) throws {
        runID = id
        runIdentity = try db.read { db in
            try Row.fetchOne(db, sql: "SELECT name, uid FROM runs WHERE id = ?", arguments: [id])
                .map { RunIdentity(name: $0["name"], uid: $0["uid"]) }
        }
        ruleIDs = try db.read { db in
            Dictionary(
                uniqueKeysWithValues: try Row.fetchAll(
                    db, sql: "SELECT name, id FROM rules WHERE run_id = ?", arguments: [id]
                )
                .map { ($0[0] as String, $0[1] as Int64) })
        }
    }

    private func currentRun() throws -> Int64 {
        guard let runID else { throw TraceError.noRun }
        return runID
    }

    /// Writes one step (its metrics, groups, samples and rule scores) in one transaction.
    public func record(_ step: StepRecord) throws {
        let run = try currentRun()
        for group in step.groups {
            for sample in group.samples {
                for s in sample.scores where ruleIDs[s.rule] == nil {
                    throw TraceError.badRecord(
                        "step \(step.step): rule \"\(s.rule)\" is not a rule of this run "
                            + "(\(ruleIDs.keys.sorted().joined(separator: ", ")))"
                    )
                }
                if !sample.tokenLogprobs.isEmpty && sample.tokenLogprobs.count != sample.tokenIDs.count {
                    throw TraceError.badRecord(
                        "step \(step.step): \(sample.tokenIDs.count) token ids but \(sample.tokenLogprobs.count) "
                            + "log-probs"
                    )
                }
            }
        }
        let time = timestamp()
        try db.write { db in
            if try Bool.fetchOne(
                db, sql: "SELECT 1 FROM steps WHERE run_id = ? AND step = ?", arguments: [run, step.step]) == true
            {
                throw TraceError.badRecord("step \(step.step) of run \(run) is already recorded")
            }
            let metrics = step.metrics.columns
            let insertStep = try db.cachedStatement(
                sql: """
                    INSERT INTO steps (run_id, step, time, \(metrics.map(\.0).joined(separator: ", ")), metrics)
                    VALUES (?, ?, ?, \(Array(repeating: "?", count: metrics.count).joined(separator: ", ")), ?)
                    """)
            var stepArguments: [(any DatabaseValueConvertible)?] = [run, step.step, time]
            stepArguments += metrics.map { $0.1.flatMap { $0.isFinite ? $0 : nil } }
            stepArguments.append(step.metrics.json)
            try insertStep.execute(arguments: StatementArguments(stepArguments))

            // One multi-row INSERT a group for its samples and one for their rule scores: SQLite
            // runs one statement for 16 or 48 rows instead of one a row. Sample ids are given,
            // not assigned: the write lock is held, so max(id) + 1 onwards is ours.
            let connection = try self.connection(db)
            var nextSample = try Int64.fetchOne(db, sql: "SELECT coalesce(max(id), 0) + 1 FROM samples")!
            let firstSample = nextSample
            var reasons: [ReasonKey: ReasonZone] = [:]
            var stepSummaries: [Int64: GroupRuleSummary] = [:]
            for (g, group) in step.groups.enumerated() {
                let stats = group.rewardStats
                let i = try inserter(.group, rows: 1, connection)
                i.bind(run)
                i.bind(step.step)
                i.bind(g)
                i.bind(group.taskID)
                i.bind(group.prompt)
                i.bind(stats?.mean)
                i.bind(stats?.std)
                if group.samples.isEmpty {
                    i.bind(nil as Double?)
                    i.bind(nil as Double?)
                } else {
                    i.bind(nextSample)
                    i.bind(nextSample + Int64(group.samples.count) - 1)
                }
                let groupID = try i.run()
                guard !group.samples.isEmpty else { continue }
                let s = try inserter(.sample, rows: group.samples.count, connection)
                for (index, sample) in group.samples.enumerated() {
                    s.bind(nextSample + Int64(index))
                    s.bind(groupID)
                    s.bind(run)
                    s.bind(step.step)
                    s.bind(index)
                    s.bind(sample.reward)
                    s.bind(sample.advantage)
                    s.bind(sample.tokenIDs.count)
                    s.bind(sample.finishReason)
                    s.bind(sample.truncated)
                    s.bind(sample.logprobSum)
                    s.bind(sample.completion)
                    s.bindBlob(sample.tokenIDs)
                    s.bindBlob(sample.tokenLogprobs)
                }
                try s.run()
                let scores = group.samples.reduce(0) { $0 + $1.scores.count }
                if scores > 0 {
                    let r = try inserter(.score, rows: scores, connection)
                    for (index, sample) in group.samples.enumerated() {
                        for score in sample.scores {
                            let rule = ruleIDs[score.rule]!
                            r.bind(nextSample + Int64(index))
                            r.bind(rule)
                            r.bind(score.score)
                            r.bind(score.reason)
                            r.bind(score.detail)
                            reasons[ReasonKey(rule: rule, reason: score.reason), default: ReasonZone()].add(
                                score.score, of: sample)
                        }
                    }
                    try r.run()
                    for (rule, summary) in try recordGroupRules(
                        group, run: run, step: step.step, groupID: groupID, connection: connection)
                    {
                        stepSummaries[rule, default: GroupRuleSummary()].merge(summary)
                    }
                }
                nextSample += Int64(group.samples.count)
            }
            var keys = KeyRanges()
            for group in step.groups { for sample in group.samples { keys.add(sample) } }
            if nextSample > firstSample {
                try db.execute(
                    sql: """
                        UPDATE steps SET first_sample = ?, last_sample = ?, min_reward = ?, max_reward = ?,
                                         min_advantage = ?, max_advantage = ?, min_tokens = ?, max_tokens = ?
                        WHERE run_id = ? AND step = ?
                        """,
                    arguments: StatementArguments([firstSample, nextSample - 1] + keys.columns + [run, step.step]))
            }
            let stepRule = try db.cachedStatement(
                sql: "INSERT INTO step_rules (\(Summaries.stepRulesColumns)) VALUES (?, ?, ?, ?, ?, ?)")
            for (rule, summary) in stepSummaries.sorted(by: { $0.key < $1.key }) {
                try stepRule.execute(
                    arguments: [
                        run, step.step, rule, summary.scored, summary.passed,
                        summary.scored > 0 ? summary.scoreSum : nil,
                    ])
            }
            let zone = try db.cachedStatement(
                sql: """
                    INSERT INTO step_reasons (run_id, step, rule_id, reason, samples, min_score, max_score,
                                              \(Schema.reasonKeyColumns.joined(separator: ", ")))
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for (key, z) in reasons {
                try zone.execute(
                    arguments: StatementArguments(
                        [run, step.step, key.rule, key.reason, z.samples, z.minScore, z.maxScore] + z.keys.columns))
            }
        }
    }

    /// One `group_rules` row per rule that scored some sample of the group, in one insert, and the
    /// group added to its task's `task_rules` rows; returns the group's summaries by rule id.
    private func recordGroupRules(
        _ group: GroupRecord, run: Int64, step: Int, groupID: Int64, connection: OpaquePointer
    ) throws -> [(rule: Int64, summary: GroupRuleSummary)] {
        var summaries: [(rule: Int64, summary: GroupRuleSummary)] = []
        for sample in group.samples {
            for score in sample.scores {
                let rule = ruleIDs[score.rule]!
                if let i = summaries.firstIndex(where: { $0.rule == rule }) {
                    summaries[i].summary.add(score.score, reward: sample.reward)
                } else {
                    var summary = GroupRuleSummary()
                    summary.add(score.score, reward: sample.reward)
                    summaries.append((rule, summary))
                }
            }
        }
        let g = try inserter(.groupRule, rows: summaries.count, connection)
        for (rule, summary) in summaries {
            g.bind(run)
            g.bind(step)
            g.bind(groupID)
            g.bind(rule)
            g.bind(summary.scored)
            g.bind(summary.passed)
            g.bind(summary.minScore)
            g.bind(summary.maxScore)
            g.bind(summary.scored > 0 ? summary.scoreSum : nil)
            g.bind(summary.maxFailedReward)
        }
        try g.run()
        for (rule, summary) in summaries {
            try addToTask(group.taskID, run: run, rule: rule, step: step, groupID: groupID, summary, connection)
        }
        return summaries
    }

    /// Adds a group's summary for `rule` to its task's `task_rules` row (made on its first group).
    private func addToTask(
        _ task: String, run: Int64, rule: Int64, step: Int, groupID: Int64, _ summary: GroupRuleSummary,
        _ connection: OpaquePointer
    ) throws {
        if taskUpsert == nil {
            taskUpsert = try RowInserter(
                connection: connection,
                sql: """
                    INSERT INTO task_rules (\(Summaries.taskRulesColumns)) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (run_id, task_id, rule_id) DO UPDATE SET
                        groups = groups + 1, scored = scored + excluded.scored, passed = passed + excluded.passed,
                        best_score = CASE WHEN best_score IS NULL OR excluded.best_score > best_score
                                          THEN excluded.best_score ELSE best_score END,
                        first_step = min(first_step, excluded.first_step),
                        last_step = max(last_step, excluded.last_step),
                        last_group = max(last_group, excluded.last_group)
                    """)
        }
        let u = taskUpsert!
        u.bind(run)
        u.bind(task)
        u.bind(rule)
        u.bind(summary.scored)
        u.bind(summary.passed)
        u.bind(summary.maxScore)
        u.bind(step)
        u.bind(step)
        u.bind(groupID)
        try u.run()
    }

    /// The prepared upsert into `task_rules` (on the writer's connection).
    private var taskUpsert: RowInserter?

    private enum Target: String { case group, sample, score, groupRule }

    /// Prepared multi-row inserts on the writer's connection, one per table and row count.
    private var inserters: [String: RowInserter] = [:]
    private func inserter(_ table: Target, rows: Int, _ connection: OpaquePointer) throws -> RowInserter {
        let key = "\(table.rawValue)/\(rows)"
        if let made = inserters[key] { return made }
        let (name, columns): (String, [String]) =
            switch table {
            case .group:
                (
                    "groups",
                    [
                        "run_id", "step", "idx", "task_id", "prompt", "reward_mean", "reward_std", "first_sample",
                        "last_sample",
                    ]
                )
            case .sample:
                (
                    "samples",
                    [
                        "id", "group_id", "run_id", "step", "idx", "reward", "advantage", "num_tokens", "finish_reason",
                        "truncated", "logprob_sum", "completion", "token_ids", "token_logprobs",
                    ]
                )
            case .score: ("rule_scores", ["sample_id", "rule_id", "score", "reason", "detail"])
            case .groupRule: ("group_rules", Summaries.groupRulesColumns.components(separatedBy: ", "))
            }
        let tuple = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        let made = try RowInserter(
            connection: connection,
            sql: """
                INSERT INTO \(name) (\(columns.joined(separator: ", ")))
                VALUES \(Array(repeating: tuple, count: rows).joined(separator: ", "))
                """)
        inserters[key] = made
        return made
    }

    private func connection(_ db: Database) throws -> OpaquePointer {
        guard let connection = db.sqliteConnection else { throw TraceError.sqlite("the database connection is closed") }
        return connection
    }

    /// An evaluation result: one row per metric ("accuracy", "pass@1", "reward/answer", ...).
    public func recordEval(step: Int, taskSet: String, split: String, metrics: [String: Double]) throws {
        let run = try currentRun()
        let time = timestamp()
        try db.write { db in
            for (metric, value) in metrics.sorted(by: { $0.key < $1.key }) {
                try db.execute(
                    sql:
                        "INSERT OR REPLACE INTO evals (run_id, step, task_set, split, metric, value, time) "
                        + "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [run, step, taskSet, split, metric, value, time])
            }
        }
    }

    public func recordCheckpoint(step: Int, path checkpoint: String) throws {
        let run = try currentRun()
        try db.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO checkpoints (run_id, step, path, time) VALUES (?, ?, ?, ?)",
                arguments: [run, step, checkpoint, timestamp()])
        }
    }

    /// Marks the run finished, failed (with the error) or interrupted, and refreshes the
    /// query planner's statistics for ad-hoc SQL.
    public func finish(_ status: RunStatus, error: String? = nil) throws {
        let run = try currentRun()
        try db.write { db in
            try db.execute(
                sql: "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ?",
                arguments: [status.rawValue, timestamp(), error, run])
        }
        // Sampled statistics (about 1,000 rows an index): a fraction of a second on a million
        // samples, where a full ANALYZE reads the whole file.
        try db.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA analysis_limit = 1000; ANALYZE") }
    }
}

func timestamp(_ date: Date = Date()) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: date)
}

/// A rule and a reason it gave in a step, and the zone map `step_reasons` keeps for them.
private struct ReasonKey: Hashable {
    var rule: Int64
    var reason: String
}
/// The range of each order key over some samples (a missing reward counts as -infinity): the zone
/// maps of a step (`steps`) and of a reason in a step (`step_reasons`).
private struct KeyRanges {
    var rewards = (min: Double.infinity, max: -Double.infinity)
    var advantages = (min: Double.infinity, max: -Double.infinity)
    var tokens = (min: Int.max, max: Int.min)
    mutating func add(_ sample: SampleRecord) {
        let reward = sample.reward ?? -.infinity
        rewards = (min(rewards.min, reward), max(rewards.max, reward))
        advantages = (min(advantages.min, sample.advantage), max(advantages.max, sample.advantage))
        tokens = (min(tokens.min, sample.tokenIDs.count), max(tokens.max, sample.tokenIDs.count))
    }
    /// min_reward, max_reward, min_advantage, max_advantage, min_tokens, max_tokens.
    var columns: [any DatabaseValueConvertible] {
        [rewards.min, rewards.max, advantages.min, advantages.max, tokens.min, tokens.max]
    }
}
private struct ReasonZone {
    var samples = 0
    var minScore: Double?, maxScore: Double?
    /// The order keys of the samples that got the reason.
    var keys = KeyRanges()
    mutating func add(_ score: Double?, of sample: SampleRecord) {
        samples += 1
        keys.add(sample)
        guard let score, score.isFinite else { return }
        minScore = min(minScore ?? score, score)
        maxScore = max(maxScore ?? score, score)
    }
}

/// A rule's verdicts on a group's (or a step's) samples, as `group_rules` keeps them (the same
/// pass test as Schema.passed).
struct GroupRuleSummary {
    var scored = 0
    var passed = 0
    var minScore: Double?, maxScore: Double?
    var scoreSum = 0.0
    /// The highest reward among the samples below full marks.
    var maxFailedReward: Double?

    mutating func add(_ score: Double?, reward: Double?) {
        // NaN is stored as NULL: not scored.
        guard let score, !score.isNaN else { return }
        scored += 1
        if score >= PassThreshold.fullMarks {
            passed += 1
        } else if let reward, !reward.isNaN {
            maxFailedReward = max(maxFailedReward ?? reward, reward)
        }
        scoreSum += score
        minScore = min(minScore ?? score, score)
        maxScore = max(maxScore ?? score, score)
    }

    mutating func merge(_ other: GroupRuleSummary) {
        scored += other.scored
        passed += other.passed
        scoreSum += other.scoreSum
        minScore = [minScore, other.minScore].compactMap { $0 }.min()
        maxScore = [maxScore, other.maxScore].compactMap { $0 }.max()
        maxFailedReward = [maxFailedReward, other.maxFailedReward].compactMap { $0 }.max()
    }
}
