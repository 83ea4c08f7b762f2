// How `grpo traces samples` finds its rows fast on a million samples.
//
// The indexes lead with the step and the zone maps are per step (Schema says
// why), so a filter over a whole run is answered step by step (a filter on the
// rule scores bounds a step's key by the range of the reasons that can match,
// not of all its samples: "answer wrong, highest reward first" then stops after
// the first steps instead of visiting every step whose best sample is right):
//   - id order (newest first): steps newest first, until `limit` samples match;
//   - reward, advantage or length: steps best first by their key range (kept in
//     `steps`); once `limit` candidates are in hand the worst of them bounds
//     the key, a step only looks at samples that beat it, and the walk ends at
//     the first step whose best cannot. Ties on the key go to the newest
//     sample, which makes "beats" a strict test.
// A predicate on the rule scores first drops the steps whose `step_reasons`
// rows show it cannot match there (the rule never gave that reason, or no
// score in range). In a step that can match it is answered one of two ways:
//   - common (answer < 1 on 65% of a step): walk the step's samples in order
//     and probe each one's scores by primary key, stopping at `limit`;
//   - rare (overlong on 2%): scan the step's rule scores (a key range: a
//     step's samples have consecutive ids) and fetch only the matches.
// A task id is in a handful of groups: its samples are collected and ordered.
//
// NULL keys (a sample no rule applied to has no reward) sort as SQLite sorts
// them: lowest, so last when descending and first when ascending.

import Foundation
import GRDB

struct SampleQuery {
    let filter: SampleFilter
    let run: Int64
    /// SQL condition on `s` (an EXISTS probe into rule_scores); "1" when nothing is asked.
    private var probe = "1"
    /// Conditions on `rs` (rule_scores) and on `z` (step_reasons), with their arguments.
    private var scoreConditions: [String] = []
    private var zoneConditions: [String] = []
    private var arguments: [(any DatabaseValueConvertible)?] = []

    init(filter f: SampleFilter, run: Int64, rules: [String: Int64]) throws {
        filter = f
        self.run = run
        if f.below != nil || f.above != nil, f.rule == nil {
            throw TraceError.badQuery("--below and --above need --rule NAME")
        }
        func add(_ column: String, _ op: String, _ value: any DatabaseValueConvertible, zone: String) {
            scoreConditions.append("rs.\(column) \(op) ?")
            zoneConditions.append(zone)
            arguments.append(value)
        }
        if let rule = f.rule {
            guard let id = rules[rule] else { throw TraceError.unknownRule(rule) }
            add("rule_id", "=", id, zone: "z.rule_id = ?")
        } else {
            scoreConditions.append("rs.rule_id IN (\(rules.values.sorted().map(String.init).joined(separator: ",")))")
            zoneConditions.append("1")
        }
        if let reason = f.reason { add("reason", "=", reason, zone: "z.reason = ?") }
        if let below = f.below { add("score", "<", below, zone: "z.min_score < ?") }
        if let above = f.above { add("score", ">", above, zone: "z.max_score > ?") }
        if hasPredicate {
            probe =
                "EXISTS (SELECT 1 FROM rule_scores rs WHERE rs.sample_id = s.id AND "
                + "\(scoreConditions.joined(separator: " AND ")))"
        }
    }

    private var hasPredicate: Bool { filter.rule != nil || filter.reason != nil }

    private var key: String {
        switch filter.order {
        case .id: "s.id"
        case .reward: "s.reward"
        case .advantage: "s.advantage"
        case .length: "s.num_tokens"
        }
    }
    private var direction: String { filter.descending ? "DESC" : "ASC" }

    /// The zone-map columns of `steps` for this order: (lowest, highest).
    private var zone: (String, String) {
        switch filter.order {
        case .id: ("first_sample", "last_sample")
        case .reward: ("min_reward", "max_reward")
        case .advantage: ("min_advantage", "max_advantage")
        case .length: ("min_tokens", "max_tokens")
        }
    }

    private struct Step {
        var step: Int
        var zone: Double
        var first: Int64
        var last: Int64
        var matches: Int
    }

    /// The steps worth visiting, in the order to visit them, each with the best key any of its
    /// matching samples can have and an upper bound on how many match (both from `step_reasons`
    /// when a rule or reason is asked: the reasons that can match, their samples' key range; else
    /// from `steps`: every sample of the step).
    private func steps(_ db: Database) throws -> [Step] {
        let f = filter
        let best = f.order == .id ? "st.step \(direction)" : "bound \(direction), st.step DESC"
        let reasons = "FROM step_reasons z WHERE z.run_id = st.run_id AND z.step = st.step AND "
            + zoneConditions.joined(separator: " AND ")
        let matches = hasPredicate ? "(SELECT sum(z.samples) \(reasons))" : "st.last_sample - st.first_sample + 1"
        let column = f.descending ? zone.1 : zone.0
        // Databases written before v6 have no key ranges per reason: the step's range bounds them.
        let perReason =
            try hasPredicate && f.order != .id ? db.columns(in: "step_reasons").contains { $0.name == column } : false
        let bound =
            perReason
            ? "(SELECT \(f.descending ? "max" : "min")(z.\(column)) \(reasons))" : "coalesce(st.\(column), -1e999)"
        let boundArguments = perReason ? arguments : []
        return try Row.fetchAll(
            db,
            sql: """
                SELECT st.step, \(bound) AS bound, st.first_sample, st.last_sample, \(matches) AS matches
                FROM steps st
                WHERE st.run_id = ?\(f.step.map { " AND st.step = \($0)" } ?? "")\(f.steps.condition("st.step"))
                  AND st.first_sample IS NOT NULL AND matches > 0
                ORDER BY \(best)
                """, arguments: StatementArguments(boundArguments + (hasPredicate ? arguments : []) + [run])
        )
        .map { Step(step: $0[0], zone: $0[1], first: $0[2], last: $0[3], matches: $0[4]) }
    }

    /// The ids of the samples to list, in order.
    func sampleIDs(_ db: Database) throws -> [Int64] {
        let f = filter
        if let task = f.taskID {
            let stepCondition = (f.step == nil ? "" : " AND g.step = \(f.step!)") + f.steps.condition("g.step")
            return try Int64.fetchAll(
                db,
                sql: """
                    SELECT s.id FROM groups g CROSS JOIN samples s ON s.id BETWEEN g.first_sample AND g.last_sample
                    WHERE g.run_id = ? AND g.task_id = ?\(stepCondition) AND \(probe)
                    ORDER BY \(key) \(direction), s.id DESC LIMIT ?
                    """, arguments: StatementArguments([run, task] + arguments + [f.limit]))
        }
        // "Beats the worst candidate so far" is (key, id) > (bound, boundID); a missing key
        // counts as -infinity, so the first bound lets every sample through.
        let k = "coalesce(\(key), -1e999)"
        let bound = f.order == .id ? "1" : "(\(k) \(f.descending ? ">" : "<") ? OR (\(k) = ? AND s.id > ?))"
        let tail = "ORDER BY \(key) \(direction), s.id DESC LIMIT ?"
        let walk = try db.makeStatement(
            sql: """
                SELECT s.id, \(k) FROM samples s WHERE s.run_id = ? AND s.step = ? AND \(bound) AND \(probe) \(tail)
                """)
        let lookup = try db.makeStatement(
            sql: """
                SELECT s.id, \(k) FROM (SELECT DISTINCT rs.sample_id FROM rule_scores rs
                                        WHERE rs.sample_id BETWEEN ? AND ?
                                              AND \(scoreConditions.joined(separator: " AND "))) m
                CROSS JOIN samples s ON s.id = m.sample_id WHERE s.run_id = ? AND s.step = ? AND \(bound) \(tail)
                """)
        typealias Candidate = (id: Int64, key: Double)
        let before: (Candidate, Candidate) -> Bool = { a, b in
            if f.order == .id { return f.descending ? a.id > b.id : a.id < b.id }
            if a.key != b.key { return f.descending ? a.key > b.key : a.key < b.key }
            return a.id > b.id
        }
        var found: [Candidate] = []
        var worst: Candidate = (-1, f.descending ? -.infinity : .infinity)
        for step in try steps(db) {
            if found.count >= f.limit {
                // For the id order the first `limit` found are the answer; for a key, a step
                // whose best cannot beat the worst candidate ends the walk (steps come best first).
                if f.order == .id { break }
                let beaten = f.descending ? step.zone < worst.key : step.zone > worst.key
                if beaten || (step.zone == worst.key && step.last <= worst.id) { break }
            }
            // Walking finds `limit` matches after about limit / rate probes; the lookup reads the
            // step's scores once and fetches the matches. The crossover is near rate = sqrt(limit / n).
            let size = Double(step.last - step.first + 1)
            let rare = hasPredicate && Double(step.matches) / size < max(0.05, (Double(f.limit) / size).squareRoot())
            var args: [(any DatabaseValueConvertible)?] = rare ? [step.first, step.last] + arguments : []
            args += [run, step.step]
            if f.order != .id { args += [worst.key, worst.key, worst.id] }
            if !rare { args += arguments }
            args.append(f.order == .id ? f.limit - found.count : f.limit)
            for row in try Row.fetchAll(rare ? lookup : walk, arguments: StatementArguments(args)) {
                found.append((row[0], row[1]))
            }
            if found.count >= f.limit && f.order != .id {
                found.sort(by: before)
                found.removeLast(found.count - f.limit)
                worst = found[f.limit - 1]
            }
        }
        return found.sorted(by: before).prefix(f.limit).map(\.id)
    }
}
