// Scores that are errors, not verdicts (RuleScore.isError: a plugin that crashed, timed
// out or gave no reply), counted per rule over a batch, and the one check that decides
// when a rule is broken. Whoever scores (the trainer each sampling round, `grpo eval`,
// `grpo rewards score` and `check`) calls `checkRulesWork` after scoring, so a broken
// rule stops the work with its error instead of feeding it zeros. A rule is broken when
//   it failed on more than `maxErrorShare` of the samples it scored in the batch (or on
//   every one of them: a share of 1 stops only then), or
//   it says so itself (`RewardRule.failureReason`: a plugin that failed
//   max_consecutive_errors requests in a row, across batches).
//
//   a plugin raising on 40 of 64 completions, max share 0.5:
//     RuleErrorCount(rule: "judge", scored: 64, errors: 40, firstMessage: "...ValueError...")
//     -> RewardError.erring(rule: "judge", ..., errors: 40, scored: 64, maxShare: 0.5, first: ...)

/// One rule's errors over a batch.
public struct RuleErrorCount: Sendable, Equatable {
    public let rule: String
    /// Samples the rule scored (it applied), errors included.
    public let scored: Int
    public let errors: Int
    /// The first error's detail, in batch order (the plugin's message, log and stderr tail).
    public let firstMessage: String?

    public init(rule: String, scored: Int, errors: Int, firstMessage: String?) {
        self.rule = rule
        self.scored = scored
        self.errors = errors
        self.firstMessage = firstMessage
    }

    /// Errors on more than `maxShare` of the samples scored, or on every one of them.
    public func exceeds(_ maxShare: Double) -> Bool {
        errors > 0 && (errors == scored || Double(errors) > maxShare * Double(scored))
    }
}

extension RuleSet {
    /// The share of a batch's samples a rule may fail on before the work stops
    /// (max_rule_error_share's default).
    public static let defaultMaxErrorShare = 0.5

    /// One count per rule, in rule-set order, rules without errors included.
    public func errorCounts(_ batch: [ScoredCompletion]) -> [RuleErrorCount] {
        entries.map { entry in
            let scores = batch.compactMap { $0.score(of: entry.name) }
            let errors = scores.filter(\.isError)
            return RuleErrorCount(
                rule: entry.name, scored: scores.count, errors: errors.count,
                firstMessage: errors.first.map { $0.detail ?? $0.reason })
        }
    }

    /// Throws for the first broken rule (see the header): `RewardError.erring` with the batch's
    /// counts and first message, or `RewardError.broken` with the rule's own reason.
    public func checkRulesWork(_ batch: [ScoredCompletion], maxErrorShare: Double) throws {
        for count in errorCounts(batch) where count.exceeds(maxErrorShare) {
            throw RewardError.erring(
                rule: count.rule, file: file, errors: count.errors, scored: count.scored,
                maxShare: maxErrorShare, first: count.firstMessage ?? "")
        }
        for e in entries {
            if let reason = e.rule.failureReason() {
                throw RewardError.broken(rule: e.name, file: file, message: reason)
            }
        }
    }
}
