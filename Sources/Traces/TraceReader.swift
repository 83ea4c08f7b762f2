// Reads a trace database for `grpo traces`: runs, step metrics, filtered
// samples, one sample with its rule scores, one group side by side, a run as
// JSON lines, and read-only SQL. Every answer is a `Table` (column names and
// rows of values) so the CLI can print it aligned or as JSON.

import Foundation
import GRDB

/// A query's answer: column names and rows of SQLite values (nil, Int64, Double, String, Data).
public struct Table: Sendable {
    public var columns: [String]
    public var rows: [[TraceValue]]
    public init(columns: [String], rows: [[TraceValue]]) {
        self.columns = columns
        self.rows = rows
    }
}

public enum TraceValue: Sendable, Equatable {
    case null, integer(Int64), real(Double), text(String), blob(Data)

    init(_ v: DatabaseValue) {
        switch v.storage {
        case .null: self = .null
        case .int64(let i): self = .integer(i)
        case .double(let d): self = .real(d)
        case .string(let s): self = .text(s)
        case .blob(let b): self = .blob(b)
        }
    }

    public var double: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .real(let d): return d
        default: return nil
        }
    }
    public var string: String? {
        if case .text(let s) = self { return s }
        return nil
    }
    public var integer: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }
}

/// The filters of `grpo traces samples`.
public struct SampleFilter: Sendable {
    public enum Order: String, Sendable, CaseIterable { case id, reward, advantage, length }
    public var step: Int?
    /// Steps from `first` to `last` (with `step`, both apply).
    public var steps = StepRange()
    public var taskID: String?
    /// With `below`/`above`: the rule's score must be < below / > above.
    public var rule: String?
    public var below: Double?
    public var above: Double?
    /// Some rule (the `rule`, when given) gave this reason.
    public var reason: String?
    public var order: Order = .id
    public var descending = true
    public var limit = 20
    /// Characters of each completion shown in the list, on one line; nil: the whole text as it is.
    public var preview: Int? = 60
    public init() {}
}

/// Sendable: its state never changes after init, and the queue serialises every read.
public final class TraceReader: @unchecked Sendable {
    public let path: String
    let db: DatabaseQueue

    public init(path: String) throws {
        self.path = path
        db = try TraceDatabase.open(path: path, readonly: true)
    }

    /// The database `grpo traces` reads by default: the most recently written `*.sqlite`
    /// under `folder` (its WAL counts: a running trainer writes there first).
    public static func latest(under folder: String = "runs") throws -> String {
        guard let walker = FileManager.default.enumerator(atPath: folder) else {
            throw TraceError.noDatabase("no folder \(folder)/ (pass --db PATH)")
        }
        var best: (String, Date)?
        for case let file as String in walker where file.hasSuffix(".sqlite") {
            let full = (folder as NSString).appendingPathComponent(file)
            let dates = [full, full + "-wal"].compactMap {
                (try? FileManager.default.attributesOfItem(atPath: $0))?[.modificationDate] as? Date
            }
            if let newest = dates.max(), best.map({ newest > $0.1 }) ?? true { best = (full, newest) }
        }
        guard let best else { throw TraceError.noDatabase("no *.sqlite under \(folder)/ (pass --db PATH)") }
        return best.0
    }

    // MARK: - Queries

    public func runs() throws -> Table {
        try table(
            """
            SELECT r.id, r.name, r.status, r.created, r.finished, r.seed, r.task_set, r.rules_name,
                   substr(r.rules_hash, 1, 12) AS rules_hash,
                   (SELECT max(step) FROM steps WHERE run_id = r.id) AS last_step,
                   (SELECT count(*) FROM samples WHERE run_id = r.id) AS samples
            FROM runs r ORDER BY r.id
            """)
    }

    /// Every run's name, oldest first.
    public func runNames() throws -> [String] {
        try db.read { try String.fetchAll($0, sql: "SELECT name FROM runs ORDER BY id") }
    }

    /// A run given by id or by name (the newest run of that name).
    public func resolveRun(_ run: String?) throws -> Int64 {
        try db.read { db in
            let id: Int64?
            if let run, let n = Int64(run) {
                id = try Int64.fetchOne(db, sql: "SELECT id FROM runs WHERE id = ?", arguments: [n])
            } else if let run {
                id = try Int64.fetchOne(
                    db, sql: "SELECT id FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1", arguments: [run])
            } else {
                id = try Int64.fetchOne(db, sql: "SELECT max(id) FROM runs")
            }
            guard let id else {
                throw run.map { TraceError.unknownRun($0) } ?? TraceError.noDatabase("\(path) holds no runs")
            }
            return id
        }
    }

    /// A row per step: the common metrics, then each rule's pass rate in a column named after
    /// the rule (diagnostic rules included), then the time.
    public func steps(run: Int64) throws -> Table {
        var steps = try table(
            """
            SELECT step, reward_mean, reward_std, frac_zero_std, loss, kl, clip_frac_low, clip_frac_high, entropy,
                   completion_len_mean, truncated_frac, learning_rate, grad_norm, tokens_per_s, time
            FROM steps WHERE run_id = ? ORDER BY step
            """, [run])
        let numbers = steps.rows.map { Int($0[0].integer ?? 0) }
        let curves = try rulePassRates(run: run, steps: numbers)
        let time = steps.columns.count - 1
        steps.columns.insert(contentsOf: curves.map(\.rule.name), at: time)
        for i in steps.rows.indices {
            let rates = curves.map { $0.passRates[i].map(TraceValue.real) ?? .null }
            steps.rows[i].insert(contentsOf: rates, at: time)
        }
        // A column "<rule> errors" for each rule that failed to score some sample in the run.
        let errors = try ruleErrors(run: run)
        let erring = errors.reduce(into: [String]()) { names, e in if !names.contains(e.rule) { names.append(e.rule) } }
        steps.columns.insert(contentsOf: erring.map { "\($0) errors" }, at: time + curves.count)
        for (i, step) in numbers.enumerated() {
            let counts = erring.map { rule in
                TraceValue.integer(Int64(errors.first { $0.step == step && $0.rule == rule }?.errors ?? 0))
            }
            steps.rows[i].insert(contentsOf: counts, at: time + curves.count)
        }
        return steps
    }

    /// The steps in which some rule failed to score samples (scores that were no verdict, such
    /// as a broken plugin's), from the `rule_errors/<rule>` metrics the trainer records.
    public func ruleErrors(run: Int64) throws -> [(step: Int, rule: String, errors: Int)] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.step, substr(j.key, length('rule_errors/') + 1), j.value
                    FROM steps s, json_each(s.metrics) j
                    WHERE s.run_id = ? AND j.key LIKE 'rule\\_errors/%' ESCAPE '\\' AND j.value > 0
                    ORDER BY s.step, j.key
                    """, arguments: [run]
            ).map { (step: $0[0], rule: $0[1], errors: Int(($0[2] as Double).rounded())) }
        }
    }

    /// Every metric of every step, the JSON column included, for `--json`.
    public func stepMetrics(run: Int64) throws -> [(step: Int, metrics: String)] {
        try db.read { db in
            try Row.fetchAll(
                db, sql: "SELECT step, metrics FROM steps WHERE run_id = ? ORDER BY step", arguments: [run]
            )
            .map { ($0[0], $0[1]) }
        }
    }

    /// The samples `grpo traces samples` lists (see SampleQuery for how they are found).
    public func samples(run: Int64, filter f: SampleFilter) throws -> Table {
        let query = try SampleQuery(
            filter: f, run: run, rules: Dictionary(uniqueKeysWithValues: try rules(run: run).map { ($1, $0) }))
        let ids = try db.read { try query.sampleIDs($0) }
        let completion: String
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let preview = f.preview {
            completion = "replace(replace(substr(s.completion, 1, ?), char(10), ' '), char(13), ' ')"
            arguments.append(preview)
        } else {
            completion = "s.completion"
        }
        var table = try table(
            """
            SELECT s.id, s.step, g.task_id, g.id AS "group", s.idx, s.reward, s.advantage, s.num_tokens AS tokens,
                   s.finish_reason AS finish, \(completion) AS completion
            FROM samples s JOIN groups g ON g.id = s.group_id
            WHERE s.id IN (\(ids.map(String.init).joined(separator: ",")))
            """, arguments)
        let position = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        table.rows.sort { (a: [TraceValue], b: [TraceValue]) in
            position[a[0].integer ?? 0, default: 0] < position[b[0].integer ?? 0, default: 0]
        }
        return table
    }

    /// The run's rules, (id, name), in rule-set order.
    private func rules(run: Int64) throws -> [(Int64, String)] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name FROM rules WHERE run_id = ? ORDER BY id", arguments: [run])
                .map { ($0[0] as Int64, $0[1] as String) }
        }
    }

    /// One sample whole: its fields (token ids and log-probs decoded) and every rule's verdict.
    public func sample(_ id: Int64) throws -> (fields: Table, scores: Table) {
        let fields = try table(
            """
            SELECT s.id, s.run_id AS run, s.step, s.group_id AS "group", s.idx, g.task_id, s.reward, s.advantage,
                   s.num_tokens AS tokens, s.finish_reason, s.truncated, s.logprob_sum, g.prompt, s.completion,
                   s.token_ids, s.token_logprobs
            FROM samples s JOIN groups g ON g.id = s.group_id WHERE s.id = ?
            """, [id])
        guard !fields.rows.isEmpty else { throw TraceError.unknownSample(id) }
        let scores = try table(
            """
            SELECT r.name AS rule, r.kind, r.weight, rs.score, rs.reason, rs.detail
            FROM rule_scores rs JOIN rules r ON r.id = rs.rule_id WHERE rs.sample_id = ? ORDER BY r.id
            """, [id])
        return (fields, scores)
    }

    /// A group: its prompt and stats, and its completions with their rewards, advantages
    /// and each rule's score as one column per rule.
    public func group(_ id: Int64) throws -> (info: Table, samples: Table) {
        let info = try table(
            """
            SELECT g.id, g.run_id AS run, g.step, g.idx, g.task_id, g.reward_mean, g.reward_std, g.prompt
            FROM groups g WHERE g.id = ?
            """, [id])
        guard let run = info.rows.first?[1], case .integer(let runID) = run else { throw TraceError.unknownGroup(id) }
        let perRule = try rules(run: runID).map { rule in
            "(SELECT score FROM rule_scores WHERE sample_id = s.id AND rule_id = \(rule.0)) AS "
                + "\(quoteIdentifier(rule.1))"
        }
        let samples = try table(
            """
            SELECT s.id, s.idx, s.reward, s.advantage, s.num_tokens AS tokens, s.finish_reason AS finish\
            \(perRule.map { ", " + $0 }.joined()), s.completion
            FROM groups g CROSS JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
            WHERE g.id = ? ORDER BY s.idx
            """, [id])
        return (info, samples)
    }

    /// Calls `body` with one JSON object per sample of the run (prompt, completion, tokens,
    /// log-probs, reward, advantage, every rule's score and reason), in id order.
    public func exportJSONL(run: Int64, _ body: (String) throws -> Void) throws {
        let rules = Dictionary(uniqueKeysWithValues: try rules(run: run))
        try db.read { db in
            let scores = try db.makeStatement(
                sql: "SELECT rule_id, score, reason, detail FROM rule_scores WHERE sample_id = ?")
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT s.id, s.step, g.id, g.task_id, g.prompt, s.idx, s.completion, s.reward, s.advantage,
                           s.num_tokens, s.finish_reason, s.truncated, s.logprob_sum, s.token_ids, s.token_logprobs
                    FROM samples s JOIN groups g ON g.id = s.group_id WHERE s.run_id = ? ORDER BY s.id
                    """, arguments: [run])
            while let row = try cursor.next() {
                var fields: [String] = [
                    "\"id\":\(row[0] as Int64)", "\"step\":\(row[1] as Int64)", "\"group\":\(row[2] as Int64)",
                    "\"task_id\":\(jsonString(row[3]))", "\"prompt\":\(jsonString(row[4]))",
                    "\"index\":\(row[5] as Int64)",
                    "\"completion\":\(jsonString(row[6]))", "\"reward\":\(json(row[7] as Double?))",
                    "\"advantage\":\(json(row[8] as Double?))", "\"num_tokens\":\(row[9] as Int64)",
                    "\"finish_reason\":\(jsonString(row[10]))", "\"truncated\":\((row[11] as Int64) != 0)",
                    "\"logprob_sum\":\(json(row[12] as Double?))",
                ]
                let ids = (row[13] as Data?).flatMap(Blob.decodeInt32) ?? []
                let lps = (row[14] as Data?).flatMap(Blob.decodeFloat) ?? []
                fields.append("\"token_ids\":[\(ids.map(String.init).joined(separator: ","))]")
                fields.append("\"token_logprobs\":[\(lps.map { json(Double($0)) }.joined(separator: ","))]")
                var rulesJSON: [String] = []
                var reasons: [String] = []
                var details: [String] = []
                for s in try Row.fetchAll(scores, arguments: [row[0] as Int64]) {
                    let name = jsonString(rules[s[0] as Int64] ?? "?")
                    rulesJSON.append("\(name):\(json(s[1] as Double?))")
                    reasons.append("\(name):\(jsonString(s[2]))")
                    if let d = s[3] as String? { details.append("\(name):\(jsonString(d))") }
                }
                fields.append("\"rules\":{\(rulesJSON.joined(separator: ","))}")
                fields.append("\"reasons\":{\(reasons.joined(separator: ","))}")
                if !details.isEmpty { fields.append("\"details\":{\(details.joined(separator: ","))}") }
                try body("{" + fields.joined(separator: ",") + "}")
            }
        }
    }

    /// Any single SELECT (or WITH, EXPLAIN, read-only PRAGMA): the connection is opened
    /// read-only, so a write is refused by SQLite itself.
    public func sql(_ query: String) throws -> Table {
        do {
            return try table(query)
        } catch let e as DatabaseError {
            throw TraceError.badQuery("sql: \(e.message ?? "\(e.resultCode)")")
        }
    }

    /// Runs a query and collects its columns and rows.
    func table(_ sql: String, _ arguments: [(any DatabaseValueConvertible)?] = []) throws -> Table {
        try db.read { db in
            let statement = try db.makeStatement(sql: sql)
            let rows = try Row.fetchAll(statement, arguments: StatementArguments(arguments))
            return Table(
                columns: statement.columnNames, rows: rows.map { row in row.databaseValues.map(TraceValue.init) })
        }
    }
}

private func json(_ v: Double?) -> String {
    guard let v, v.isFinite else { return "null" }
    return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
}

private func quoteIdentifier(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
