// The server's own protocol: every rule's verdict, not just the total.
//   POST /score {"completions": ["..."], "tasks": [{"kind": "math", "answer": "4"} | "task-id"]}
//   -> {"rules_sha256": "...", "results": [{"reward": 1.2 | null, "rules": [{"name", "score",
//       "reason", "detail", "counted", "error"}]}]}
//   GET /rules -> the rule set: name, description, sha256, each rule's kind, weight, requires, applies_to.

import Foundation
import RewardRules
import Support

struct ScoreRequest: Decodable {
    var completions: [String]
    var tasks: [TaskReference]
}

struct ScoreResponse: Encodable {
    struct Rule: Encodable {
        var name: String
        var score: Double?
        var reason: String
        var detail: String?
        var counted: Bool
        var error: Bool
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(score, forKey: .score)
            try c.encode(reason, forKey: .reason)
            try c.encode(detail, forKey: .detail)
            try c.encode(counted, forKey: .counted)
            try c.encode(error, forKey: .error)
        }
        enum CodingKeys: String, CodingKey { case name, score, reason, detail, counted, error }
    }
    struct Result: Encodable {
        var reward: Double?
        var rules: [Rule]
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(reward, forKey: .reward)
            try c.encode(rules, forKey: .rules)
        }
        enum CodingKeys: String, CodingKey { case reward, rules }
    }
    var rulesSHA256: String
    var results: [Result]
    enum CodingKeys: String, CodingKey {
        case results
        case rulesSHA256 = "rules_sha256"
    }

    init(rules: RuleSet, scored: [ScoredCompletion]) {
        rulesSHA256 = rules.contentHash
        results = scored.map { s in
            Result(
                reward: s.reward,
                rules: s.rules.map { r in
                    Rule(
                        name: r.name, score: r.score?.score, reason: r.score?.reason ?? "not_applicable",
                        detail: r.score?.detail, counted: r.counted, error: r.score?.isError ?? false)
                })
        }
    }
}

struct RulesResponse: Encodable {
    struct Rule: Encodable {
        var name: String
        var kind: String
        var weight: Double
        var requires: String?
        var appliesTo: [String]?
        enum CodingKeys: String, CodingKey {
            case name, kind, weight, requires
            case appliesTo = "applies_to"
        }
    }
    var name: String
    var description: String
    var file: String
    var sha256: String
    var rules: [Rule]
    var taskSet: String?
    var tasks: Int
    enum CodingKeys: String, CodingKey {
        case name, description, file, sha256, rules, tasks
        case taskSet = "task_set"
    }

    init(rules set: RuleSet, taskSet: String?, tasks: Int) {
        name = set.name
        description = set.description
        file = set.file
        sha256 = set.contentHash
        rules = set.entries.map {
            Rule(
                name: $0.name, kind: $0.kind, weight: $0.weight, requires: $0.requires,
                appliesTo: $0.appliesTo?.sorted())
        }
        self.taskSet = taskSet
        self.tasks = tasks
    }
}
