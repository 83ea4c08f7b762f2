// Per-rule statistics over a batch of scored completions: how many completions
// a rule applied to, their mean score, and the share with full marks (the pass
// rate). The trainer's step metrics and `grpo eval` both report these, so they
// are computed here once.
//
//   rules format and answer over three completions scored (1, 1), (1, 0), (0, nil):
//   format: scored 3, mean 0.667, pass rate 0.667; answer: scored 2, mean 0.5, pass rate 0.5

/// One rule's statistics over a batch.
public struct RuleStats: Sendable, Equatable {
    public let rule: String
    /// Completions the rule applied to.
    public let scored: Int
    public let meanScore: Double
    /// The share of `scored` with full marks (RuleScore.isFullMarks).
    public let passRate: Double
}

extension RuleSet {
    /// Every rule that applied to at least one completion, in rule-set order.
    public func ruleStats(_ batch: [ScoredCompletion]) -> [RuleStats] {
        entries.compactMap { entry in
            let scores = batch.compactMap { $0.score(of: entry.name) }
            guard !scores.isEmpty else { return nil }
            let count = Double(scores.count)
            let total = scores.reduce(0) { $0 + $1.score }
            let passed = scores.filter(\.isFullMarks).count
            return RuleStats(
                rule: entry.name, scored: scores.count,
                meanScore: total / count, passRate: Double(passed) / count)
        }
    }
}
