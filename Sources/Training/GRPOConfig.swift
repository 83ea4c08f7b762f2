// `grpo train` configuration: TRL GRPOConfig's names, meanings and defaults
// (the ones TRL has converged on: loss_type dapo, beta 0, epsilon 0.2,
// scale_rewards group, num_generations 8; AdamW and the schedule as
// transformers' TrainingArguments: adam_beta2 0.999, linear decay to 0), from
// a YAML file and/or flags, through the one table below (GRPOConfig+Options).
// Unknown keys and bad values are errors that name the key.

import Foundation
import Policy
import RewardRules
import TaskSets
import Yams
import Support

public struct GRPOConfig: Codable, Equatable, Sendable, OptionRoot {
    /// Checkpoint folder of the policy to start from (an SFT output's `final`, or `init-model`'s).
    public var model = ""
    /// Task set: a folder under Tasks/ or a path.
    public var taskSet = ""
    /// Split to train on.
    public var split = "train"
    /// Rule set (file or name under Rewards/); default: the task set's.
    public var rules: String?
    /// Per-rule weights replacing the rule set's (a list in the rules' order, or name: weight).
    public var rewardWeights: RewardWeights?
    /// Run name: the trace database is `runs/<run_name>.sqlite`.
    public var runName: String?
    /// Checkpoints and plots go here (default: runs/<run_name>).
    public var outputDir: String?
    /// Trace database (default: runs/<run_name>.sqlite); the metrics file goes beside it.
    public var db: String?
    /// Remove an earlier run's output folder, metrics file and traces of this name first.
    public var overwriteOutputDir = false
    /// A checkpoint folder of a run to continue (its saved config is read first; flags still win).
    public var resumeFromCheckpoint: String?
    /// Each step's metrics as a JSON line on standard output.
    public var json = false
    /// No progress on standard error.
    public var quiet = false

    /// Completions sampled per prompt (G); at least 2, or no group has a spread.
    public var numGenerations = 8
    /// Prompts per optimizer step (the batch is prompts_per_step x num_generations completions).
    public var promptsPerStep = 8
    /// Longest completion in tokens (default: the task set's max_completion_length).
    public var maxCompletionLength: Int?
    public var temperature: Float = 1.0
    public var topP: Float = 1.0
    public var topK = 0
    /// Self-speculative sampling: drafts a step from the policy's multi-token prediction module
    /// (the samples keep the policy's distribution exactly; see Speculation). 0: off.
    public var numSpeculativeTokens = 0

    public var learningRate: Float = 1e-6
    /// "linear" (to 0 at the last optimizer update, transformers' default), "constant" or "cosine".
    public var lrSchedulerType = "linear"
    /// Optimizer updates of linear warmup before the schedule proper.
    public var warmupSteps = 0
    public var weightDecay: Float = 0
    public var adamBeta1: Float = 0.9
    public var adamBeta2: Float = 0.999
    public var adamEpsilon: Float = 1e-8
    public var maxGradNorm: Float = 1.0

    /// KL coefficient against the frozen starting policy; 0 loads no reference model.
    public var beta: Double = 0
    /// The KL term is k3 times the importance ratio, differentiated through it (DeepSeek-V3.2's
    /// unbiased estimator; TRL's option and default): gradient beta * rho * (logp - ref).
    public var useBiasCorrectionKl = true
    /// Clip range below (and above, unless epsilon_high is set).
    public var epsilon: Double = 0.2
    /// DAPO's clip-higher (e.g. 0.28); default: epsilon.
    public var epsilonHigh: Double?
    public var lossType: LossType = .dapo
    public var scaleRewards: ScaleRewards = .group
    /// Optimizer updates per sampled batch, pi_old fixed for all of them. Each update is one step
    /// of the learning-rate schedule, as in TRL, which spans max_steps x num_iterations updates:
    /// max_steps counts sampled batches here, where TRL's counts updates (TRL's = ours x this).
    public var numIterations = 1
    /// "token" (GRPO) or "sequence" (GSPO).
    public var importanceSamplingLevel: ImportanceSamplingLevel = .token
    /// Truncated completions (hit max_completion_length) count in no loss term.
    public var maskTruncatedCompletions = false
    /// DAPO dynamic sampling: drop groups whose dynamic_sampling_metric is the same for every
    /// completion, sample further batches of prompts (fresh random streams each) until
    /// prompts_per_step groups are kept, and train on exactly that many.
    public var dynamicSampling = false
    /// What a group must vary in to be kept: "accuracy" (the answer rules, as `grpo eval` counts
    /// a task solved; DAPO's) or "reward" (the weighted total, format and shaping rules included).
    public var dynamicSamplingMetric: DynamicSamplingMetric = .accuracy
    /// Extra sampling batches a step may take. When they run out the step trains on the groups
    /// kept so far (fewer than prompts_per_step), or, with none kept, skips its update.
    public var maxResampleRounds = 3
    /// gamma of the MoE router's load-balancing bias update during GRPO. 0 (default) freezes
    /// the bias, as DeepSeek-V3 did for its last 500B tokens: the bias moves by the load alone,
    /// not the reward, and re-routing tokens of a fine-tuned policy costs accuracy (a run at
    /// learning rate ~0 lost 2 points of held-out accuracy in 60 steps from the drift alone).
    public var routerBiasUpdateSpeed: Float = 0
    /// Router replay (rollout routing replay): the trainer sends each token through the experts
    /// the sampler chose for it, rather than choosing again. The two forwards sum in different
    /// orders, and where two experts score within rounding of each other they can choose
    /// differently: that token's log-probability then differs by up to nats, not by rounding
    /// (4.2 nats once in a 120-step run). Only the choice is replayed; the gates and their
    /// gradient come from the training forward.
    public var routerReplay = true
    /// The rule whose full marks make a task solved (evaluation accuracy, the accuracy metric of
    /// dynamic sampling); default: the task set's answer_rule, else the rule set's one answer rule.
    public var answerRule: String?
    /// Stop the run when a rule's scores are errors (a plugin that crashed, timed out or gave no
    /// reply) on more than this share of the samples it scored in a sampling round; at 1 only a
    /// rule failing on every sample stops it.
    public var maxRuleErrorShare = RuleSet.defaultMaxErrorShare

    public var seed = 42
    public var maxSteps = 100
    /// Evaluate on the test split every this many steps (0: only at the end).
    public var evalSteps = 0
    /// Test prompts evaluated (0: all of them).
    public var evalLimit = 0
    /// Checkpoint every this many steps (and always at the end).
    public var saveSteps = 50
    /// Keep at most this many checkpoint-<step> folders, the newest (0 keeps all).
    public var saveTotalLimit = 0
    /// The progress line (and --json's line) every this many steps; every step is recorded anyway.
    public var loggingSteps = 1
    /// Refuse a task set whose longest training prompt is longer than this, in tokens (TRL cuts it).
    public var maxPromptLength: Int?
    /// Micro-batches a batch is cut into, their gradients accumulated into one update (default:
    /// as padding is least; 1 when the model has a balance loss).
    public var gradientAccumulationSteps: Int?

    public init() {}

    public init(from decoder: Decoder) throws { self = try Self.options.decode(from: decoder) }
    public func encode(to encoder: Encoder) throws { try Self.options.encode(self, to: encoder) }

    static let defaults = GRPOConfig()

    public var optimizer: OptimizerConfig {
        var o = OptimizerConfig()
        o.learningRate = learningRate
        o.lrSchedulerType = lrSchedulerType
        o.warmupSteps = warmupSteps
        o.weightDecay = weightDecay
        o.adamBeta1 = adamBeta1
        o.adamBeta2 = adamBeta2
        o.adamEpsilon = adamEpsilon
        o.maxGradNorm = maxGradNorm
        return o
    }

    /// `completionCap`: the cap generation runs with (TaskManifest.completionCap).
    public func lossOptions(completionCap: Int) -> LossOptions {
        var o = LossOptions()
        o.lossType = lossType
        o.level = importanceSamplingLevel
        o.epsilonLow = epsilon
        o.epsilonHigh = epsilonHigh ?? epsilon
        o.beta = beta
        o.useBiasCorrectionKL = useBiasCorrectionKl
        o.maxCompletionLength = completionCap
        return o
    }

    /// The largest value each count may take: far more than a CPU run can use, small enough
    /// that the memory estimate's products are computed exactly. The estimate (MemoryEstimate)
    /// is the real bound; these catch a stray digit before any arithmetic on it.
    static let countBounds: [(String, KeyPath<GRPOConfig, Int>, Int)] = [
        ("num_generations", \.numGenerations, 1 << 16), ("prompts_per_step", \.promptsPerStep, 1 << 16),
        ("top_k", \.topK, 1 << 24), ("warmup_steps", \.warmupSteps, 1 << 40),
        ("num_speculative_tokens", \.numSpeculativeTokens, SamplingParams.maxSpeculativeTokens),
        ("num_iterations", \.numIterations, 1 << 16), ("max_resample_rounds", \.maxResampleRounds, 1 << 16),
        ("max_steps", \.maxSteps, 1 << 40), ("eval_steps", \.evalSteps, 1 << 40), ("eval_limit", \.evalLimit, 1 << 40),
        ("save_steps", \.saveSteps, 1 << 40), ("save_total_limit", \.saveTotalLimit, 1 << 40),
        ("logging_steps", \.loggingSteps, 1 << 40),
    ]

    /// Every invariant, each error naming its key.
    public func validate(file: String = "config") throws {
        func fail(_ key: String, _ m: String) -> ConfigError { ConfigError(file: file, key: key, message: m) }
        guard TaskSet.splitNames.contains(split) else {
            throw fail("split", "\"\(split)\" is not one of \(TaskSet.splitNames.joined(separator: ", "))")
        }
        // NaN passes no comparison and infinity passes many: refused first, by name.
        let reals: [(String, Double?)] = [
            ("temperature", Double(temperature)), ("top_p", Double(topP)), ("learning_rate", Double(learningRate)),
            ("weight_decay", Double(weightDecay)), ("adam_beta1", Double(adamBeta1)), ("adam_beta2", Double(adamBeta2)),
            ("adam_epsilon", Double(adamEpsilon)), ("max_grad_norm", Double(maxGradNorm)), ("beta", beta),
            ("epsilon", epsilon), ("epsilon_high", epsilonHigh),
            ("router_bias_update_speed", Double(routerBiasUpdateSpeed)),
            ("max_rule_error_share", maxRuleErrorShare),
        ]
        for case let (key, value?) in reals where !value.isFinite {
            throw fail(key, "must be a finite number, not \(value)")
        }
        for (key, path, bound) in Self.countBounds where self[keyPath: path] > bound {
            throw fail(key, "\(self[keyPath: path]) is beyond the largest this trainer takes (\(bound))")
        }
        if let m = maxCompletionLength, m > 1 << 20 {
            throw fail("max_completion_length", "\(m) is beyond the largest this trainer takes (\(1 << 20))")
        }
        guard !model.isEmpty else { throw fail("model", "required: the checkpoint folder to start from") }
        guard !taskSet.isEmpty else { throw fail("task_set", "required: a task set under Tasks/ or a folder") }
        guard numGenerations >= 2 else {
            throw fail("num_generations", "must be at least 2: advantages compare completions of one prompt")
        }
        guard promptsPerStep >= 1 else { throw fail("prompts_per_step", "must be at least 1") }
        if let m = maxCompletionLength, m < 1 { throw fail("max_completion_length", "must be positive") }
        guard temperature > 0 else {
            throw fail("temperature", "must be positive (greedy completions would all be the same)")
        }
        guard topP > 0, topP <= 1 else { throw fail("top_p", "must be in (0, 1]") }
        guard numSpeculativeTokens >= 0 else { throw fail("num_speculative_tokens", "must be >= 0") }
        guard beta >= 0 else { throw fail("beta", "must be >= 0") }
        guard epsilon > 0, epsilon < 1 else { throw fail("epsilon", "must be in (0, 1)") }
        if let e = epsilonHigh, e <= 0 { throw fail("epsilon_high", "must be positive") }
        guard numIterations >= 1 else { throw fail("num_iterations", "must be at least 1") }
        guard maxResampleRounds >= 0 else { throw fail("max_resample_rounds", "must be >= 0") }
        guard routerBiasUpdateSpeed >= 0 else { throw fail("router_bias_update_speed", "must be >= 0") }
        guard maxSteps >= 1 else { throw fail("max_steps", "must be at least 1") }
        guard evalSteps >= 0, evalLimit >= 0 else { throw fail("eval_steps", "must be >= 0") }
        guard saveSteps >= 1 else { throw fail("save_steps", "must be at least 1") }
        guard saveTotalLimit >= 0 else { throw fail("save_total_limit", "must be >= 0 (0 keeps every checkpoint)") }
        guard loggingSteps >= 1 else { throw fail("logging_steps", "must be at least 1") }
        if let m = maxPromptLength, m < 1 { throw fail("max_prompt_length", "must be positive") }
        if let g = gradientAccumulationSteps, g < 1 || g > 1 << 16 {
            throw fail("gradient_accumulation_steps", "must be in 1...\(1 << 16)")
        }
        if let w = rewardWeights, let bad = w.values.first(where: { !$0.isFinite }) {
            throw fail("reward_weights", "must be finite numbers, not \(bad)")
        }
        guard maxRuleErrorShare >= 0, maxRuleErrorShare <= 1 else {
            throw fail("max_rule_error_share", "must be in [0, 1]")
        }
        do { try optimizer.validate() } catch let PolicyError.badConfig(_, key, message) {
            throw ConfigError(file: file, key: key, message: message)
        }
    }

    /// Reads a YAML file (may be nil) and applies `overrides` (key -> value text, from flags) on
    /// top; unknown keys, values of the wrong type and values out of range are errors naming the key.
    public static func load(file: String?, overrides: [(String, String)] = []) throws -> GRPOConfig {
        try load(file: file, flags: overrides.map { ($0.0, $0.1, "--" + $0.0) })
    }

    /// The same, from a parsed command line's flags.
    public static func load(file: String?, flags: [(key: String, value: String, flag: String)]) throws -> GRPOConfig {
        let (config, _, places) = try options.read(file: file, flags: flags)
        try places.checking { try config.validate(file: file ?? "flags") }
        return config
    }
}
