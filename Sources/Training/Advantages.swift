// Group-relative advantages: one value per completion,
// the same for each of its tokens.
//
//   scale_rewards = "group":  A_i = (r_i - mean(group)) / (std(group) + 1e-4)   GRPO
//   scale_rewards = "batch":  A_i = (r_i - mean(group)) / (std(batch) + 1e-4)
//   scale_rewards = "none":   A_i =  r_i - mean(group)                           Dr. GRPO
//
// std is the sample standard deviation (divides by n - 1), as torch's
// `Tensor.std` in TRL's GRPOTrainer; one reward has std 0. A completion no
// rule applied to has no reward: it gets advantage 0 and is left out of the
// mean and std. A group whose rewards are all equal gets 0 everywhere.

public enum ScaleRewards: String, Codable, Sendable, CaseIterable {
    case group, batch, none
}

public enum Advantages {
    /// `rewards[g][i]`: completion i of group g (nil: no rule applied). Same shape out.
    public static func compute(_ rewards: [[Double?]], scale: ScaleRewards, epsilon: Double = 1e-4) -> [[Double]] {
        let batchStd = sampleStd(rewards.flatMap { $0.compactMap { $0 } })
        return rewards.map { group in
            let present = group.compactMap { $0 }
            // Exactly 0 for a flat group, not the rounding error of (r - mean) / 1e-4.
            guard let first = present.first, present.contains(where: { $0 != first }) else {
                return group.map { _ in 0 }
            }
            let mean = present.reduce(0, +) / Double(present.count)
            let divisor: Double =
                switch scale {
                case .group: sampleStd(present) + epsilon
                case .batch: batchStd + epsilon
                case .none: 1
                }
            return group.map { r in r.map { ($0 - mean) / divisor } ?? 0 }
        }
    }

    /// Sample standard deviation (n - 1); 0 for fewer than two values.
    public static func sampleStd(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)).squareRoot()
    }
}
