// The clipped surrogate loss of GRPO and its variants,
// and its gradient with respect to each token's log-probability under the
// current policy. The model's backward takes it from there (LogProbs.backward).
//
// Legend: sequence i (a completion), token t of it, |o_i| its counted tokens.
//   rho_{i,t} = exp(logp - oldLogp)                       importance ratio
//   l_{i,t}   = min(rho A_i, clip(rho, 1 - epsLow, 1 + epsHigh) A_i) - beta KL_{i,t}
//   KL_{i,t}  = exp(ref - logp) - (ref - logp) - 1         k3, >= 0
//   sequence level (GSPO): rho is s_i = exp(mean_t (logp - oldLogp)) for every t
// With use_bias_correction_kl (TRL's name; on by default there and here) the KL
// term is k3 * rho, rho differentiable (DeepSeek-V3.2's unbiased estimator under
// pi_old's samples): its gradient is beta * rho * (logp - ref) where plain k3's is
// beta * (1 - exp(ref - logp)), which over-weights tokens the policy has made
// less likely than the reference (at logp - ref = -2: -6.39 against -2).
// The loss is minus the average of l over tokens, averaged as `lossType` says:
//   grpo     mean over sequences of (sum_t l / |o_i|)
//   bnpo     sum_{i,t} l / (tokens in the batch)
//   dapo     sum_{i,t} l / (tokens in the global batch) = bnpo without accumulation
//   dr_grpo  sum_{i,t} l / (sequences * max_completion_length), the cap generation used
// d min(a, b) picks the branch that is the minimum: where the clipped term is
// smaller the token passes no gradient through the ratio (that is the clip).

import Foundation

public enum LossType: String, Codable, Sendable, CaseIterable { case grpo, bnpo, dapo, drGRPO = "dr_grpo" }
public enum ImportanceSamplingLevel: String, Codable, Sendable, CaseIterable { case token, sequence }

/// One completion's tokens as the loss sees them (all arrays the same length).
public struct LossSequence: Sendable {
    public var logp: [Double]
    public var oldLogp: [Double]
    /// The frozen reference policy's log-probs; empty when beta = 0.
    public var refLogp: [Double]
    public var advantage: Double
    /// false: the token does not count (masked truncated completion, padding).
    public var mask: [Bool]
    public init(logp: [Double], oldLogp: [Double], refLogp: [Double] = [], advantage: Double, mask: [Bool]? = nil) {
        self.logp = logp
        self.oldLogp = oldLogp
        self.refLogp = refLogp
        self.advantage = advantage
        self.mask = mask ?? Array(repeating: true, count: logp.count)
    }
}

public struct LossOptions: Sendable {
    public var lossType: LossType = .dapo
    public var level: ImportanceSamplingLevel = .token
    public var epsilonLow = 0.2
    public var epsilonHigh = 0.2
    public var beta = 0.0
    /// The KL term is k3 times the (differentiable) ratio, as TRL's use_bias_correction_kl.
    public var useBiasCorrectionKL = false
    /// dr_grpo's divisor: the completion cap generation ran with.
    public var maxCompletionLength = 256
    public init() {}
}

public struct LossResult: Sendable {
    public var loss: Double
    /// d loss / d logp, per sequence and token (0 where masked).
    public var dlogp: [[Double]]
    /// Fractions clipped below (rho < 1 - epsLow with A < 0) and above (rho > 1 + epsHigh
    /// with A > 0): where the clip removed the gradient. Of counted tokens at token level;
    /// of sequences at sequence level, where one ratio stands for the whole sequence (TRL).
    public var clipFracLow: Double
    public var clipFracHigh: Double
    /// Mean ratio, over counted tokens or (sequence level) over sequences, as the clip fractions.
    public var ratioMean: Double
    /// Mean KL term over counted tokens, k3 or k3 * rho as the options say (0 when beta = 0).
    public var kl: Double
    public var tokens: Int
}

public enum GRPOLoss {
    public static func compute(_ batch: [LossSequence], options o: LossOptions) -> LossResult {
        let counted = batch.map { $0.mask.reduce(0) { $0 + ($1 ? 1 : 0) } }
        let totalTokens = counted.reduce(0, +)
        // The weight of one token's l in the loss, by aggregation.
        func weight(_ i: Int) -> Double {
            switch o.lossType {
            case .grpo: return counted[i] == 0 ? 0 : 1 / (Double(counted[i]) * Double(batch.count))
            case .bnpo, .dapo: return totalTokens == 0 ? 0 : 1 / Double(totalTokens)
            case .drGRPO: return 1 / (Double(batch.count) * Double(o.maxCompletionLength))
            }
        }
        var loss = 0.0
        var clipLow = 0
        var clipHigh = 0
        var ratioSum = 0.0
        var klSum = 0.0
        var dlogp: [[Double]] = []
        for (i, s) in batch.enumerated() {
            let w = weight(i)
            let a = s.advantage
            var grad = [Double](repeating: 0, count: s.logp.count)
            // GSPO: one ratio for the sequence, from the mean log-ratio of its counted tokens.
            var sequenceRatio = 1.0
            if o.level == .sequence, counted[i] > 0 {
                var sum = 0.0
                for t in s.logp.indices where s.mask[t] { sum += s.logp[t] - s.oldLogp[t] }
                sequenceRatio = exp(sum / Double(counted[i]))
            }
            var sequenceGrad = 0.0  // d loss / d s_i, spread over the tokens afterwards
            var sequenceClip: (low: Bool, high: Bool) = (false, false)
            for t in s.logp.indices where s.mask[t] {
                let rho = o.level == .token ? exp(s.logp[t] - s.oldLogp[t]) : sequenceRatio
                let clipped = min(max(rho, 1 - o.epsilonLow), 1 + o.epsilonHigh)
                let unclippedTerm = rho * a
                let clippedTerm = clipped * a
                var l = min(unclippedTerm, clippedTerm)
                // d l / d rho: A when the unclipped term is the minimum (ties included), else 0.
                let isClipped = clippedTerm < unclippedTerm
                let dRho = isClipped ? 0 : a
                if isClipped {
                    if rho < 1 - o.epsilonLow { sequenceClip.low = true } else { sequenceClip.high = true }
                    if o.level == .token {
                        if rho < 1 - o.epsilonLow { clipLow += 1 } else { clipHigh += 1 }
                    }
                }
                if o.level == .token { ratioSum += rho }
                var dl = 0.0  // d l / d logp_t through this token's own terms
                if o.level == .token { dl = dRho * rho } else { sequenceGrad += -w * dRho }
                if o.beta > 0 {
                    let x = s.refLogp[t] - s.logp[t]
                    let k3 = exp(x) - x - 1
                    // d k3 / d logp = 1 - exp(ref - logp); the corrected term also moves with rho.
                    let dk3 = 1 - exp(x)
                    let factor = o.useBiasCorrectionKL ? rho : 1
                    l -= o.beta * k3 * factor
                    klSum += k3 * factor
                    dl -= o.beta * dk3 * factor
                    if o.useBiasCorrectionKL {
                        // d rho / d logp_t = rho for a token ratio; a sequence ratio spreads below.
                        if o.level == .token { dl -= o.beta * k3 * rho } else { sequenceGrad += w * o.beta * k3 }
                    }
                }
                loss -= w * l
                grad[t] = -w * dl
            }
            if o.level == .sequence {
                ratioSum += sequenceRatio
                if sequenceClip.low { clipLow += 1 }
                if sequenceClip.high { clipHigh += 1 }
            }
            if o.level == .sequence, counted[i] > 0 {
                // d s_i / d logp_t = s_i / |o_i| for each counted token.
                let d = sequenceGrad * sequenceRatio / Double(counted[i])
                for t in s.logp.indices where s.mask[t] { grad[t] += d }
            }
            dlogp.append(grad)
        }
        // TRL averages a sequence-level quantity over all sequences, a token-level one over counted tokens.
        let units = o.level == .token ? totalTokens : batch.count
        let n = Double(max(units, 1))
        let klMean = o.beta > 0 ? klSum / Double(max(totalTokens, 1)) : 0
        return LossResult(
            loss: loss, dlogp: dlogp, clipFracLow: Double(clipLow) / n, clipFracHigh: Double(clipHigh) / n,
            ratioMean: ratioSum / n, kl: klMean, tokens: totalTokens)
    }
}
