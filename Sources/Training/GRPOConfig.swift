// `grpo train` configuration: TRL GRPOConfig's names, meanings and defaults
// (the ones TRL has converged on: loss_type dapo, beta 0, epsilon 0.2,
// scale_rewards group, num_generations 8; AdamW and the schedule as
// transformers' TrainingArguments: adam_beta2 0.999, linear decay to 0), as a
// YAML file and/or flags
// (`--learning_rate 1e-5` or `--learning-rate 1e-5`). Unknown keys and bad
// values are errors that name the key.

import Foundation
import Policy
import RewardRules
import Yams

public struct GRPOConfig: Codable, Equatable, Sendable {
    /// Checkpoint folder of the policy to start from (an SFT output's `final`, or `init-model`'s).
    public var model = ""
    /// Task set: a folder under Tasks/ or a path.
    public var taskSet = ""
    /// Split to train on.
    public var split = "train"
    /// Rule set (file or name under Rewards/); default: the task set's.
    public var rules: String?
    /// Run name: the trace database is `<output_dir>/<run_name>.sqlite`.
    public var runName: String?
    /// Checkpoints, metrics and traces go here (default: runs/<run_name>).
    public var outputDir: String?

    /// Completions sampled per prompt (G); at least 2, or no group has a spread.
    public var numGenerations = 8
    /// Prompts per optimizer step (the batch is prompts_per_step x num_generations completions).
    public var promptsPerStep = 8
    /// Longest completion in tokens (default: the task set's max_completion_length).
    public var maxCompletionLength: Int?
    public var temperature: Float = 1.0
    public var topP: Float = 1.0
    public var topK = 0

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

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, taskSet = "task_set", split, rules, runName = "run_name", outputDir = "output_dir"
        case numGenerations = "num_generations", promptsPerStep = "prompts_per_step"
        case maxCompletionLength = "max_completion_length", temperature, topP = "top_p", topK = "top_k"
        case learningRate = "learning_rate", lrSchedulerType = "lr_scheduler_type", warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay", adamBeta1 = "adam_beta1", adamBeta2 = "adam_beta2", adamEpsilon = "adam_epsilon"
        case maxGradNorm = "max_grad_norm", beta, useBiasCorrectionKl = "use_bias_correction_kl"
        case epsilon, epsilonHigh = "epsilon_high", lossType = "loss_type"
        case scaleRewards = "scale_rewards", numIterations = "num_iterations"
        case importanceSamplingLevel = "importance_sampling_level", maskTruncatedCompletions = "mask_truncated_completions"
        case dynamicSampling = "dynamic_sampling", dynamicSamplingMetric = "dynamic_sampling_metric"
        case maxResampleRounds = "max_resample_rounds"
        case routerBiasUpdateSpeed = "router_bias_update_speed", routerReplay = "router_replay"
        case answerRule = "answer_rule", maxRuleErrorShare = "max_rule_error_share"
        case seed, maxSteps = "max_steps", evalSteps = "eval_steps", evalLimit = "eval_limit", saveSteps = "save_steps"
    }

    /// Decodes with every key optional (defaults above).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func v<T: Decodable>(_ k: CodingKeys, _ d: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? d }
        let d = GRPOConfig.defaults
        model = try v(.model, d.model); taskSet = try v(.taskSet, d.taskSet); split = try v(.split, d.split)
        rules = try c.decodeIfPresent(String.self, forKey: .rules); runName = try c.decodeIfPresent(String.self, forKey: .runName)
        outputDir = try c.decodeIfPresent(String.self, forKey: .outputDir)
        numGenerations = try v(.numGenerations, d.numGenerations); promptsPerStep = try v(.promptsPerStep, d.promptsPerStep)
        maxCompletionLength = try c.decodeIfPresent(Int.self, forKey: .maxCompletionLength)
        temperature = try v(.temperature, d.temperature); topP = try v(.topP, d.topP); topK = try v(.topK, d.topK)
        learningRate = try v(.learningRate, d.learningRate); lrSchedulerType = try v(.lrSchedulerType, d.lrSchedulerType)
        warmupSteps = try v(.warmupSteps, d.warmupSteps); weightDecay = try v(.weightDecay, d.weightDecay)
        adamBeta1 = try v(.adamBeta1, d.adamBeta1); adamBeta2 = try v(.adamBeta2, d.adamBeta2)
        adamEpsilon = try v(.adamEpsilon, d.adamEpsilon); maxGradNorm = try v(.maxGradNorm, d.maxGradNorm)
        beta = try v(.beta, d.beta); epsilon = try v(.epsilon, d.epsilon)
        useBiasCorrectionKl = try v(.useBiasCorrectionKl, d.useBiasCorrectionKl)
        epsilonHigh = try c.decodeIfPresent(Double.self, forKey: .epsilonHigh)
        lossType = try v(.lossType, d.lossType); scaleRewards = try v(.scaleRewards, d.scaleRewards)
        numIterations = try v(.numIterations, d.numIterations)
        importanceSamplingLevel = try v(.importanceSamplingLevel, d.importanceSamplingLevel)
        maskTruncatedCompletions = try v(.maskTruncatedCompletions, d.maskTruncatedCompletions)
        dynamicSampling = try v(.dynamicSampling, d.dynamicSampling); maxResampleRounds = try v(.maxResampleRounds, d.maxResampleRounds)
        dynamicSamplingMetric = try v(.dynamicSamplingMetric, d.dynamicSamplingMetric)
        routerBiasUpdateSpeed = try v(.routerBiasUpdateSpeed, d.routerBiasUpdateSpeed)
        routerReplay = try v(.routerReplay, d.routerReplay)
        answerRule = try c.decodeIfPresent(String.self, forKey: .answerRule)
        maxRuleErrorShare = try v(.maxRuleErrorShare, d.maxRuleErrorShare)
        seed = try v(.seed, d.seed); maxSteps = try v(.maxSteps, d.maxSteps); evalSteps = try v(.evalSteps, d.evalSteps)
        evalLimit = try v(.evalLimit, d.evalLimit); saveSteps = try v(.saveSteps, d.saveSteps)
    }

    static let defaults = GRPOConfig()

    public var optimizer: OptimizerConfig {
        var o = OptimizerConfig()
        o.learningRate = learningRate; o.lrSchedulerType = lrSchedulerType; o.warmupSteps = warmupSteps
        o.weightDecay = weightDecay; o.adamBeta1 = adamBeta1; o.adamBeta2 = adamBeta2; o.adamEpsilon = adamEpsilon
        o.maxGradNorm = maxGradNorm
        return o
    }

    /// The completion cap: max_completion_length, else the task set's. Generation, dr_grpo's
    /// divisor and the length rule's default all take it from here.
    public func completionCap(taskSetDefault: Int) -> Int { maxCompletionLength ?? taskSetDefault }

    /// `completionCap`: the cap generation runs with (see `completionCap(taskSetDefault:)`).
    public func lossOptions(completionCap: Int) -> LossOptions {
        var o = LossOptions()
        o.lossType = lossType; o.level = importanceSamplingLevel; o.epsilonLow = epsilon; o.epsilonHigh = epsilonHigh ?? epsilon
        o.beta = beta
        o.useBiasCorrectionKL = useBiasCorrectionKl
        o.maxCompletionLength = completionCap
        return o
    }

    /// The largest value each count may take: far more than a CPU run can use, small enough
    /// that the memory estimate's products are computed exactly. The estimate (MemoryEstimate)
    /// is the real bound; these catch a stray digit before any arithmetic on it.
    static let countBounds: [(CodingKeys, KeyPath<GRPOConfig, Int>, Int)] = [
        (.numGenerations, \.numGenerations, 1 << 16), (.promptsPerStep, \.promptsPerStep, 1 << 16),
        (.topK, \.topK, 1 << 24), (.warmupSteps, \.warmupSteps, 1 << 40), (.numIterations, \.numIterations, 1 << 16),
        (.maxResampleRounds, \.maxResampleRounds, 1 << 16), (.maxSteps, \.maxSteps, 1 << 40),
        (.evalSteps, \.evalSteps, 1 << 40), (.evalLimit, \.evalLimit, 1 << 40), (.saveSteps, \.saveSteps, 1 << 40),
    ]

    /// Every invariant, each error naming its key.
    public func validate(file: String = "config") throws {
        func fail(_ key: CodingKeys, _ m: String) -> PolicyError { .badConfig(file: file, key: key.rawValue, message: m) }
        // NaN passes no comparison and infinity passes many: refused first, by name.
        let reals: [(CodingKeys, Double?)] = [
            (.temperature, Double(temperature)), (.topP, Double(topP)), (.learningRate, Double(learningRate)),
            (.weightDecay, Double(weightDecay)), (.adamBeta1, Double(adamBeta1)), (.adamBeta2, Double(adamBeta2)),
            (.adamEpsilon, Double(adamEpsilon)), (.maxGradNorm, Double(maxGradNorm)), (.beta, beta),
            (.epsilon, epsilon), (.epsilonHigh, epsilonHigh), (.routerBiasUpdateSpeed, Double(routerBiasUpdateSpeed)),
            (.maxRuleErrorShare, maxRuleErrorShare),
        ]
        for case let (key, value?) in reals where !value.isFinite {
            throw fail(key, "must be a finite number, not \(value)")
        }
        for (key, path, bound) in Self.countBounds where self[keyPath: path] > bound {
            throw fail(key, "\(self[keyPath: path]) is beyond the largest this trainer takes (\(bound))")
        }
        if let m = maxCompletionLength, m > 1 << 20 {
            throw fail(.maxCompletionLength, "\(m) is beyond the largest this trainer takes (\(1 << 20))")
        }
        guard !model.isEmpty else { throw fail(.model, "required: the checkpoint folder to start from") }
        guard !taskSet.isEmpty else { throw fail(.taskSet, "required: a task set under Tasks/ or a folder") }
        guard numGenerations >= 2 else { throw fail(.numGenerations, "must be at least 2: advantages compare completions of one prompt") }
        guard promptsPerStep >= 1 else { throw fail(.promptsPerStep, "must be at least 1") }
        if let m = maxCompletionLength, m < 1 { throw fail(.maxCompletionLength, "must be positive") }
        guard temperature > 0 else { throw fail(.temperature, "must be positive (greedy completions would all be the same)") }
        guard topP > 0, topP <= 1 else { throw fail(.topP, "must be in (0, 1]") }
        guard beta >= 0 else { throw fail(.beta, "must be >= 0") }
        guard epsilon > 0, epsilon < 1 else { throw fail(.epsilon, "must be in (0, 1)") }
        if let e = epsilonHigh, e <= 0 { throw fail(.epsilonHigh, "must be positive") }
        guard numIterations >= 1 else { throw fail(.numIterations, "must be at least 1") }
        guard maxResampleRounds >= 0 else { throw fail(.maxResampleRounds, "must be >= 0") }
        guard routerBiasUpdateSpeed >= 0 else { throw fail(.routerBiasUpdateSpeed, "must be >= 0") }
        guard maxRuleErrorShare >= 0, maxRuleErrorShare <= 1 else {
            throw fail(.maxRuleErrorShare, "must be in [0, 1]")
        }
        guard maxSteps >= 1 else { throw fail(.maxSteps, "must be at least 1") }
        guard evalSteps >= 0, evalLimit >= 0 else { throw fail(.evalSteps, "must be >= 0") }
        guard saveSteps >= 1 else { throw fail(.saveSteps, "must be at least 1") }
        do { try optimizer.validate() } catch let PolicyError.badConfig(_, key, message) {
            throw PolicyError.badConfig(file: file, key: key, message: message)
        }
    }

    /// Reads a YAML file (may be nil) and applies `overrides` (key -> YAML scalar text, from
    /// flags) on top; unknown keys, values of the wrong type and values out of range are
    /// errors naming the key.
    public static func load(file: String?, overrides: [(String, String)] = []) throws -> GRPOConfig {
        var pairs: [(key: String, value: Node)] = []
        let name = file ?? "flags"
        func yaml(_ text: String, source: String) throws -> Node? {
            do { return try BoundedYAML.compose(text) } catch let e as BoundedYAML.TooLarge {
                throw PolicyError.badConfig(file: source, key: nil, message: e.description)
            } catch {
                throw PolicyError.badConfig(file: source, key: nil, message: "not YAML: \(error)")
            }
        }
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw PolicyError.badConfig(file: file, key: nil, message: "cannot read the file")
            }
            if let root = try yaml(text, source: file) {
                guard let mapping = root.mapping else {
                    throw PolicyError.badConfig(file: file, key: nil, message: "must be a mapping of option: value")
                }
                for (k, v) in mapping {
                    guard let key = k.string else {
                        throw PolicyError.badConfig(file: file, key: nil, message: "keys must be option names")
                    }
                    pairs.append((key, v))
                }
            }
        }
        // A flag wins over the file: later pairs replace earlier ones.
        for (key, value) in overrides {
            let key = key.replacingOccurrences(of: "-", with: "_")
            pairs.removeAll { $0.key == key }
            pairs.append((key, try yaml(value, source: "--\(key)") ?? Node("~", Tag(.null))))
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = pairs.map(\.key).filter({ !known.contains($0) }).sorted().first {
            let near = known.filter { $0.hasPrefix(String(unknown.prefix(3))) }.sorted()
            throw PolicyError.badConfig(file: name, key: unknown, message: "unknown option" + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: ", "))?)"))
        }
        if let dup = Dictionary(grouping: pairs, by: \.key).first(where: { $0.value.count > 1 })?.key {
            throw PolicyError.badConfig(file: name, key: dup, message: "given twice")
        }
        let root = Node.mapping(Node.Mapping(pairs.map { (Node($0.key), $0.value) }))
        let config: GRPOConfig
        do {
            config = try YAMLDecoder().decode(GRPOConfig.self, from: root)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            let given = pairs.first { $0.key == key }.map { describe($0.value) } ?? "something else"
            throw PolicyError.badConfig(file: name, key: key, message: "expected \(expectation(key)), found \(given)")
        } catch let DecodingError.dataCorrupted(context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            let given = pairs.first { $0.key == key }.map { describe($0.value) } ?? "a bad value"
            throw PolicyError.badConfig(file: name, key: key,
                                        message: "\(given) is not allowed here (\(context.debugDescription))")
        }
        try config.validate(file: name)
        return config
    }

    /// What the value of `key` must be, in words (from the type of its field: the decoder's
    /// error names the YAML node it wanted, not the field's type).
    private static func expectation(_ key: String) -> String {
        // Every key is its field's name in snake case (numGenerations: num_generations).
        func snakeCase(_ name: String) -> String {
            name.reduce(into: "") { out, c in out += c.isUppercase ? "_" + c.lowercased() : String(c) }
        }
        let field = Mirror(reflecting: GRPOConfig.defaults).children.first { $0.label.map(snakeCase) == key }
        guard let type = field.map({ Swift.type(of: $0.value) }) else { return "a value of another type" }
        switch type {
        case is Int.Type, is Int?.Type: return "a whole number (within \(Int.min)...\(Int.max))"
        case is Float.Type, is Double.Type, is Float?.Type, is Double?.Type: return "a number"
        case is Bool.Type, is Bool?.Type: return "true or false"
        case is String.Type, is String?.Type: return "text"
        default: return "one of the names the key allows"
        }
    }

    /// A YAML value as the user wrote it, for error messages.
    private static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "\"\(s.string.prefix(60))\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
