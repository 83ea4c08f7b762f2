// DAPO's dynamic sampling (verl's filter_groups): a group whose metric is the
// same for every completion has advantage 0 everywhere and teaches nothing, so
// it is dropped and further batches of prompts are sampled until enough groups
// are kept; the kept ones are trimmed to exactly the batch size.
//
//   batch size 3; round 0 keeps 2 of 3, round 1 keeps 2 of 3:
//   kept = round 0's two + round 1's first; dropped 2; trimmed 1; extra rounds 1
//
// The metric is DAPO's accuracy by default (RuleSet.accuracy: the answer rules),
// so a group that differs only in format or length is still dropped; "reward"
// filters on the weighted total instead. When the extra rounds run out the
// batch is short, and with nothing kept there is no batch: the step skips its
// update rather than train on flat groups.

import RewardRules

/// What a group must vary in for dynamic sampling to keep it.
public enum DynamicSamplingMetric: String, Codable, Sendable, CaseIterable {
    case accuracy, reward
}

/// The groups one step trains on, and what it took to find them.
public struct DynamicSamplingOutcome<Group> {
    /// At most the batch size, in the order sampled.
    public var kept: [Group]
    /// Every group sampled, kept or not, in the order sampled.
    public var sampled: [Group]
    /// Groups dropped for being flat.
    public var dropped: Int
    /// Groups kept but beyond the batch size.
    public var trimmed: Int
    /// Sampling rounds after the first.
    public var extraRounds: Int
}

public enum DynamicSampling {
    /// Whether some two values differ (nil, a completion nothing judged, is left out).
    public static func varies(_ values: [Double?]) -> Bool {
        let present = values.compactMap { $0 }
        return present.contains { $0 != present[0] }
    }

    /// The metric of each completion of a group.
    public static func values(
        _ scores: [ScoredCompletion], metric: DynamicSamplingMetric,
        judge: AnswerJudge
    ) -> [Double?] {
        switch metric {
        case .accuracy: return scores.map(judge.accuracy(of:))
        case .reward: return scores.map(\.reward)
        }
    }

    /// Samples round 0, 1, ... (`sample(round)` gives one batch of groups) until `batchSize`
    /// groups pass `keeps` or `maxExtraRounds` rounds after the first are spent.
    public static func fill<Group>(
        batchSize: Int, maxExtraRounds: Int, sample: (Int) throws -> [Group],
        keeps: (Group) -> Bool
    ) rethrows -> DynamicSamplingOutcome<Group> {
        var kept: [Group] = []
        var sampled: [Group] = []
        var dropped = 0
        var round = 0
        while true {
            let batch = try sample(round)
            sampled += batch
            for group in batch {
                if keeps(group) { kept.append(group) } else { dropped += 1 }
            }
            if kept.count >= batchSize || round >= maxExtraRounds { break }
            round += 1
        }
        let trimmed = max(0, kept.count - batchSize)
        return DynamicSamplingOutcome(
            kept: Array(kept.prefix(batchSize)), sampled: sampled, dropped: dropped,
            trimmed: trimmed, extraRounds: round)
    }
}
