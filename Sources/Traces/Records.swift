// What the trainer and the reward scorer hand to the trace writer: plain values,
// one step at a time (all groups, samples and rule scores of the step).

import Foundation

/// A run as it starts: where its scores come from and how it was configured.
public struct RunInfo: Sendable {
    public var name: String
    public var seed: Int?
    /// The training configuration as JSON (TRL's GRPOConfig names).
    public var config: String
    /// The policy's HF config.json.
    public var model: String
    public var taskSet: String?
    /// The rule set: its name, its full text (hashed into `rules_hash`) and its rules.
    public var rulesName: String?
    public var rulesText: String?
    public var rules: [RuleInfo]
    /// The machine as JSON (`BLASState`: kernel, how it was chosen, CPU), given by the caller,
    /// which knows the kernels; "{}" when nil.
    public var system: String?
    /// The run's identity besides its name: random, kept in its checkpoints, matched on resume.
    public var uid: String

    public init(
        name: String, seed: Int? = nil, config: String = "{}", model: String = "{}", taskSet: String? = nil,
        rulesName: String? = nil, rulesText: String? = nil, rules: [RuleInfo] = [], system: String? = nil,
        uid: String = RunInfo.newUID()
    ) {
        self.system = system
        self.uid = uid
        self.name = name
        self.seed = seed
        self.config = config
        self.model = model
        self.taskSet = taskSet
        self.rulesName = rulesName
        self.rulesText = rulesText
        self.rules = rules
    }
}

extension RunInfo {
    /// 128 random bits as hex: two runs never share one.
    public static func newUID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// Which run a checkpoint belongs to, as its trainer state records it.
public struct RunIdentity: Sendable, Equatable {
    public var name: String
    /// Nil for checkpoints written before runs had one: then the name alone is matched.
    public var uid: String?
    public init(name: String, uid: String?) {
        self.name = name
        self.uid = uid
    }
}

public struct RuleInfo: Sendable, Equatable, Codable {
    public var name: String
    public var kind: String
    public var weight: Double
    public init(name: String, kind: String, weight: Double) {
        self.name = name
        self.kind = kind
        self.weight = weight
    }

    /// Weight 0: scored and recorded, never part of the reward.
    public var isDiagnostic: Bool { weight == 0 }
}

/// The metrics of one step: the figures users of GRPO trainers look for.
/// The common ones are columns; `extra` holds the rest (per-rule reward means as
/// "reward/<rule>", expert load as "expert_load/<layer>/<expert>", ...). All of
/// them go to the `metrics` JSON column.
public struct StepMetrics: Sendable, Equatable, Codable {
    public var rewardMean: Double?
    public var rewardStd: Double?
    public var fracZeroStd: Double?
    public var advantageMean: Double?
    public var advantageStd: Double?
    public var loss: Double?
    public var kl: Double?
    public var clipFracLow: Double?
    public var clipFracHigh: Double?
    public var ratioMean: Double?
    public var entropy: Double?
    public var completionLenMean: Double?
    public var completionLenMin: Double?
    public var completionLenMax: Double?
    public var truncatedFrac: Double?
    public var learningRate: Double?
    public var gradNorm: Double?
    public var expertImbalance: Double?
    public var logprobMismatchMax: Double?
    public var samplingS: Double?
    public var scoringS: Double?
    public var trainingS: Double?
    public var tokensPerS: Double?
    public var extra: [String: Double]

    public init(extra: [String: Double] = [:]) { self.extra = extra }

    /// Column name and value, in the order of the `steps` table.
    var columns: [(String, Double?)] {
        [
            ("reward_mean", rewardMean), ("reward_std", rewardStd), ("frac_zero_std", fracZeroStd),
            ("advantage_mean", advantageMean), ("advantage_std", advantageStd), ("loss", loss), ("kl", kl),
            ("clip_frac_low", clipFracLow), ("clip_frac_high", clipFracHigh), ("ratio_mean", ratioMean),
            ("entropy", entropy), ("completion_len_mean", completionLenMean), ("completion_len_min", completionLenMin),
            ("completion_len_max", completionLenMax), ("truncated_frac", truncatedFrac),
            ("learning_rate", learningRate),
            ("grad_norm", gradNorm), ("expert_imbalance", expertImbalance),
            ("logprob_mismatch_max", logprobMismatchMax),
            ("sampling_s", samplingS), ("scoring_s", scoringS), ("training_s", trainingS), ("tokens_per_s", tokensPerS),
        ]
    }

    /// Every metric, columns and extras, as one flat JSON object with the column names
    /// (non-finite values left out: JSON has no NaN).
    public var json: String {
        var all = extra
        for (k, v) in columns { if let v { all[k] = v } }
        let parts = all.filter { $0.value.isFinite }.sorted { $0.key < $1.key }
            .map { "\(jsonString($0.key)):\($0.value)" }
        return "{" + parts.joined(separator: ",") + "}"
    }
}

/// One prompt of a step and its group of completions.
public struct GroupRecord: Sendable {
    public var taskID: String
    public var prompt: String
    public var samples: [SampleRecord]
    public init(taskID: String, prompt: String, samples: [SampleRecord]) {
        self.taskID = taskID
        self.prompt = prompt
        self.samples = samples
    }

    /// Mean and sample std (n - 1, as the advantages use) of the rewards that exist; nil when
    /// no rule applied to any.
    var rewardStats: (mean: Double, std: Double)? {
        let r = samples.compactMap(\.reward)
        guard !r.isEmpty else { return nil }
        let mean = r.reduce(0, +) / Double(r.count)
        guard r.count > 1 else { return (mean, 0) }
        let variance = r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(r.count - 1)
        return (mean, variance.squareRoot())
    }
}

public struct SampleRecord: Sendable {
    public var completion: String
    public var tokenIDs: [Int32]
    /// The sampler's log-prob of each token (same length as tokenIDs, or empty).
    public var tokenLogprobs: [Float]
    /// "stop", "eos", "length", ...
    public var finishReason: String
    public var truncated: Bool
    /// nil: no rule applied (the trainer gives advantage 0).
    public var reward: Double?
    public var advantage: Double
    public var scores: [RuleScoreRecord]

    public init(
        completion: String, tokenIDs: [Int32] = [], tokenLogprobs: [Float] = [], finishReason: String,
        truncated: Bool = false, reward: Double?, advantage: Double, scores: [RuleScoreRecord]
    ) {
        self.completion = completion
        self.tokenIDs = tokenIDs
        self.tokenLogprobs = tokenLogprobs
        self.finishReason = finishReason
        self.truncated = truncated
        self.reward = reward
        self.advantage = advantage
        self.scores = scores
    }

    /// Sum of the sampler's per-token log-probs; nil when none were recorded.
    var logprobSum: Double? { tokenLogprobs.isEmpty ? nil : tokenLogprobs.reduce(0) { $0 + Double($1) } }
}

/// A rule's verdict on one sample; score nil when the rule did not apply.
public struct RuleScoreRecord: Sendable, Equatable {
    public var rule: String
    public var score: Double?
    public var reason: String
    public var detail: String?
    public init(rule: String, score: Double?, reason: String, detail: String? = nil) {
        self.rule = rule
        self.score = score
        self.reason = reason
        self.detail = detail
    }
}

public struct StepRecord: Sendable {
    public var step: Int
    public var metrics: StepMetrics
    public var groups: [GroupRecord]
    public init(step: Int, metrics: StepMetrics = StepMetrics(), groups: [GroupRecord]) {
        self.step = step
        self.metrics = metrics
        self.groups = groups
    }
}

public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case running, finished, failed, interrupted
}

/// A JSON string literal (quotes and escapes), for the few JSON texts written by hand.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
