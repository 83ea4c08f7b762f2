// Sampled completions as the trace database stores them: one group a prompt,
// a sample each completion with its tokens, log-probs, reward, advantage and
// every rule's score (nil score: the rule did not apply). Used by GRPO steps and
// by `grpo eval --db`.

import Policy
import RewardRules
import TaskSets
import Traces

extension GroupRecord {
    public init(
        task: TaskRecord, prompt: String, completions: [Completion], scores: [ScoredCompletion], advantages: [Double]
    ) {
        precondition(
            completions.count == scores.count && scores.count == advantages.count,
            "one score and advantage a completion")
        self.init(
            taskID: task.id, prompt: prompt,
            samples: completions.indices.map { i in
                let c = completions[i]
                let s = scores[i]
                return SampleRecord(
                    completion: c.text, tokenIDs: c.tokens, tokenLogprobs: c.logprobs,
                    finishReason: c.finishReason.rawValue,
                    truncated: c.finishReason == .length, reward: s.reward, advantage: advantages[i],
                    scores: s.rules.map {
                        RuleScoreRecord(
                            rule: $0.name, score: $0.score?.score,
                            reason: $0.score?.reason ?? "not_applicable", detail: $0.score?.detail)
                    })
            })
    }
}

extension StepRecord {
    /// Completions scored outside a GRPO step (`grpo rewards score`, `grpo serve`) as one step: a
    /// group per key (a task id or a prompt, in order of first appearance), advantages as GRPO would
    /// compute them (scale_rewards = group). `keys`, `prompts`, `completions` and `scored`: one each.
    public init(step: Int, keys: [String], prompts: [String], completions: [String], scored: [ScoredCompletion]) {
        precondition(keys.count == scored.count && prompts.count == scored.count && completions.count == scored.count)
        var order: [String] = []
        var members: [String: [Int]] = [:]
        for (i, key) in keys.enumerated() {
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(i)
        }
        let advantages = Advantages.compute(order.map { members[$0]!.map { scored[$0].reward } }, scale: .group)
        let groups = order.enumerated().map { g, key in
            GroupRecord(
                taskID: key, prompt: prompts[members[key]![0]],
                samples: members[key]!.enumerated().map { j, i in
                    SampleRecord(
                        completion: completions[i], finishReason: "unknown", reward: scored[i].reward,
                        advantage: advantages[g][j],
                        scores: scored[i].rules.map { r in
                            RuleScoreRecord(
                                rule: r.name, score: r.score?.score, reason: r.score?.reason ?? "not_applicable",
                                detail: r.score?.detail)
                        })
                })
        }
        self.init(step: step, groups: groups)
    }
}
