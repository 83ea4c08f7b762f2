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
