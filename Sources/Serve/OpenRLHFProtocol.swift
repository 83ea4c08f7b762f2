// OpenRLHF's remote reward protocol (`--reward.remote_url http://HOST:PORT/get_reward`):
//   POST {"query": [prompt + response, ...], "prompts": [...], "labels": [...]}
//   ->   {"rewards": [...], "scores": [...], "extra_logs": {"<rule>": [...]}}
// one number per query, in order. A label is a task id of the loaded task set, a
// task object (as JSON text), or the answer of a math task. OpenRLHF needs
// numbers: a completion no rule applies to gets 0, and so does a rule that does
// not apply to it in extra_logs.

import Foundation
import RewardRules

public struct OpenRLHFRequest: Decodable, Sendable {
    public var query: [String]
    public var prompts: [String]?
    public var labels: [TaskReference]?

    public init(query: [String], prompts: [String]? = nil, labels: [TaskReference]? = nil) {
        self.query = query
        self.prompts = prompts
        self.labels = labels
    }
}

public struct OpenRLHFResponse: Encodable {
    public var rewards: [Double]
    public var scores: [Double]
    public var extraLogs: [String: [Double]]

    enum CodingKeys: String, CodingKey {
        case rewards, scores
        case extraLogs = "extra_logs"
    }

    public init(rules: RuleSet, scored: [ScoredCompletion]) {
        rewards = scored.map { $0.reward ?? 0 }
        scores = rewards
        var logs: [String: [Double]] = [:]
        for (i, e) in rules.entries.enumerated() { logs[e.name] = scored.map { $0.rules[i].score?.score ?? 0 } }
        extraLogs = logs
    }
}

extension OpenRLHFRequest {
    /// The response a query holds after its prompt (OpenRLHF sends prompt + response decoded
    /// together; a prompt the decoding changed is looked for as the last occurrence).
    public static func completion(query: String, prompt: String?) -> String {
        guard let prompt, !prompt.isEmpty else { return query }
        if query.hasPrefix(prompt) { return String(query.dropFirst(prompt.count)) }
        if let r = query.range(of: prompt, options: .backwards) { return String(query[r.upperBound...]) }
        return query
    }
}
