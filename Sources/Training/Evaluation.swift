// Held-out evaluation: greedy pass@1, sampled pass@k (the unbiased estimator
// of Chen et al. 2021 with n samples a task), per-rule pass rates and mean
// length. A task is solved when its accuracy is 1 (AnswerJudge: the answer rule
// named by `answerRule`, else by the task set, else the rule set's one answer rule,
// gives it full marks; an ambiguous rule set is an error before anything is
// sampled). A `prefix` forces the start of every completion (the
// policy continues it, the rules score prefix + continuation), to measure one
// answering style of several on its own.

import Foundation
import Policy
import RewardRules
import TaskSets
import Traces

public struct EvalReport: Codable, Sendable {
    public var taskSet: String
    public var split: String
    public var tasks: Int
    /// Greedy pass@1 (the held-out accuracy).
    public var accuracy: Double
    /// Sampled pass@k, when asked for.
    public var passAtK: Double?
    public var k: Int?
    public var rulePassRates: [String: Double]
    public var meanLength: Double
    /// The rule that judged accuracy (nil: every rule that is no diagnostic, the set having no
    /// rule of an answer kind).
    public var answerRule: String?
    /// What was sampled, for the traces (with `keepSamples`): the greedy completion of
    /// every task, and its pass@k completions (advantages as GRPO would give them).
    public var greedyGroups: [GroupRecord] = []
    public var sampledGroups: [GroupRecord] = []

    enum CodingKeys: String, CodingKey {
        case taskSet = "task_set", split, tasks, accuracy, passAtK = "pass_at_k", k, rulePassRates = "rule_pass_rates"
        case meanLength = "mean_length", answerRule = "answer_rule"
    }

    /// One row per metric, as the traces' `evals` table stores them.
    public var metrics: [String: Double] {
        var m = ["accuracy": accuracy, "mean_length": meanLength]
        if let passAtK, let k { m["pass@\(k)"] = passAtK }
        for (rule, rate) in rulePassRates { m["pass_rate/\(rule)"] = rate }
        return m
    }
}

public enum Evaluation {
    /// pass@k from n samples of which c are correct: 1 - C(n - c, k) / C(n, k).
    public static func passAtK(n: Int, c: Int, k: Int) -> Double {
        if n - c < k { return 1 }
        if c == 0 { return 0 }
        var p = 1.0
        for i in (n - c + 1)...n { p *= 1 - Double(k) / Double(i) }
        return 1 - p
    }

    /// `limit` 0 evaluates the whole split; `k` > 0 also samples `samples` (>= k) completions a task.
    public static func run(
        model: Transformer, tasks: TaskSet, split: String = "test", rules: RuleSet, limit: Int = 0,
        maxNewTokens: Int? = nil, k: Int = 0, samples: Int = 0, temperature: Float = 1, seed: UInt64 = 0,
        keepSamples: Bool = false, prefix: String = "", answerRule: String? = nil,
        maxRuleErrorShare: Double = RuleSet.defaultMaxErrorShare
    ) throws -> EvalReport {
        var records = try tasks.split(split)
        if limit > 0 { records = Array(records.prefix(limit)) }
        let sampler = Sampler(model: model)
        let m = tasks.manifest
        let judge = try AnswerJudge(rules: rules, answerRule: answerRule ?? m.answerRule, taskKind: m.kind)
        // Every task evaluated leaves room for at least one token of completion (the cap is
        // shortened below to fit the longest prompt); a task that does not is named.
        let evaluated = Set(records.map(\.id))
        do {
            try ContextFit.check(tasks, splits: [(split, 1)], model: model.config, suffix: prefix)
        } catch var e as ContextFitError {
            e.overflows = e.overflows.filter { evaluated.contains($0.taskID) }
            if !e.overflows.isEmpty { throw e }
        }
        let prompts = records.map { m.prompt(for: $0) + prefix }
        // As long as the task set allows, and the model's context leaves room for after the longest prompt.
        let longestPrompt = prompts.map { sampler.tokenizer.encode($0, addBOS: true).count }.max() ?? 0
        let length = max(
            1, min(m.completionCap(asked: maxNewTokens), model.config.maxPositionEmbeddings - longestPrompt))
        func solved(_ s: ScoredCompletion) -> Bool { judge.accuracy(of: s) == 1 }
        func lengths(_ completions: [Completion]) -> [CompletionLength] {
            completions.map { CompletionLength(tokens: $0.tokens.count, limit: length) }
        }
        // Greedy: one completion a task, in batches so the KV cache stays small.
        var greedy: [Completion] = []
        for start in stride(from: 0, to: prompts.count, by: 32) {
            let batch = Array(prompts[start..<min(start + 32, prompts.count)])
            greedy += try sampler.generate(
                prompts: batch, completionsPerPrompt: 1,
                params: SamplingParams(temperature: 0, maxNewTokens: length, stop: m.stop)
            ).map { $0[0] }
        }
        let scored = rules.score(
            zip(records, greedy).map { record, completion in
                (completion: prefix + completion.text, task: m.rewardTask(for: record))
            },
            lengths: lengths(greedy))
        try rules.checkRulesWork(scored, maxErrorShare: maxRuleErrorShare)
        let rates = Dictionary(uniqueKeysWithValues: rules.ruleStats(scored).map { ($0.rule, $0.passRate) })
        var report = EvalReport(
            taskSet: m.name, split: split, tasks: records.count,
            accuracy: Double(scored.filter(solved).count) / Double(max(records.count, 1)),
            passAtK: nil, k: nil, rulePassRates: rates,
            meanLength: Double(greedy.reduce(0) { $0 + $1.tokens.count })
                / Double(max(greedy.count, 1)),
            answerRule: judge.answerRule)
        if keepSamples {
            report.greedyGroups = records.indices.map { i in
                GroupRecord(
                    task: records[i], prompt: prompts[i], completions: [greedy[i]], scores: [scored[i]], advantages: [0]
                )
            }
        }
        if k > 0 {
            let n = max(samples, k)
            var total = 0.0
            // Several tasks a call (about 64 sequences), so the decode products have rows enough to be fast.
            let perCall = max(1, 64 / n)
            for start in stride(from: 0, to: prompts.count, by: perCall) {
                let end = min(start + perCall, prompts.count)
                let groups = try sampler.generate(
                    prompts: Array(prompts[start..<end]), completionsPerPrompt: n,
                    params: SamplingParams(
                        temperature: temperature, maxNewTokens: length,
                        stop: m.stop, seed: seed &+ UInt64(start)))
                for (i, group) in zip(start..<end, groups) {
                    let task = m.rewardTask(for: records[i])
                    let s = rules.score(
                        group.map { (completion: prefix + $0.text, task: task) },
                        lengths: lengths(group))
                    try rules.checkRulesWork(s, maxErrorShare: maxRuleErrorShare)
                    total += passAtK(n: n, c: s.filter(solved).count, k: k)
                    if keepSamples {
                        let advantages = Advantages.compute([s.map(\.reward)], scale: .group)[0]
                        report.sampledGroups.append(
                            GroupRecord(
                                task: records[i], prompt: prompts[i], completions: group,
                                scores: s, advantages: advantages))
                    }
                }
            }
            report.passAtK = total / Double(max(records.count, 1))
            report.k = k
        }
        return report
    }
}
