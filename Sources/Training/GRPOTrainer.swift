// The GRPO loop. One step, top to bottom:
//   rollout    sample G completions for each of P prompts (the prompt prefilled once)
//   score      the rule set, in parallel: a reward and a per-rule breakdown each
//              (with dynamic sampling, more rounds of both until P groups vary:
//              DynamicSampling; with none kept the step skips its update)
//   advantages group-relative (Advantages) over the groups kept, one value per completion
//   update     num_iterations times, each an optimizer step of the learning-rate
//              schedule: forward over prompt + completion (rows in
//              micro-batches of similar length, see MicroBatch), log-probs
//              at the sampling temperature (the first pass is pi_old, checked
//              against what the sampler recorded), reference log-probs if beta > 0,
//              the clipped surrogate (GRPOLoss), backward, clip, AdamW, router bias
//   record     metrics, and every group, sample and rule score, to the traces
// A rule whose scores are errors (a broken plugin) is counted every step (rule_errors/<rule>,
// its first message handed up once a run) and stops the run past max_rule_error_share.

import Foundation
import Kernels
import Policy
import RewardRules
import TaskSets
import Traces
import Support

/// One sampled prompt: its task, tokens and completions with their scores.
public struct Rollout: Sendable {
    public var task: TaskRecord
    public var prompt: String
    public var promptTokens: [Int32]
    public var completions: [Completion]
    public var scores: [ScoredCompletion]
    public var advantages: [Double]
}

extension Rollout {
    /// Some two completions got different rewards (missing ones left out, as Advantages
    /// leaves them out): the group has something to teach.
    var hasSpread: Bool { DynamicSampling.varies(scores.map(\.reward)) }
}

/// What a step measured (the guide's list; the CLI prints a few, the traces keep all).
public struct GRPOStepReport: Sendable {
    public var step: Int
    public var metrics: StepMetrics
    public var rulePassRates: [(rule: String, rate: Double)]
    /// Every rule's errors this step (scores that are no verdict: RuleErrors).
    public var ruleErrors: [RuleErrorCount] = []
    /// The rules that failed for the first time in this run, with their first message.
    public var newErrors: [RuleErrorCount] = []

    /// How many of the step's scores of `rule` were errors.
    public func errors(of rule: String) -> Int { ruleErrors.first { $0.rule == rule }?.errors ?? 0 }
}

public final class GRPOTrainer: @unchecked Sendable {
    public let config: GRPOConfig
    public let model: Transformer
    public let tasks: TaskSet
    public let rules: RuleSet
    /// What counts as solved (evaluations, dynamic sampling's accuracy metric).
    public let judge: AnswerJudge
    /// Rules whose first error this run has already been handed up.
    var reportedErrors: Set<String> = []
    let reference: Transformer?
    let sampler: Sampler
    let tokenizer: any Tokenizer
    let optimizer: AdamW
    let balancer: ExpertBalancer
    /// One Activations a micro-batch (each kept for its backward), one for the reference. Each
    /// keeps the largest size it held, so activations take up to twice one padded batch.
    var microActivations: [Activations] = []
    let referenceActivations = Activations()
    /// Micro-batches a batch is cut into (nil: as MicroBatch.plan finds best); 1 keeps one padded
    /// batch. Always 1 when the model has a balance loss (aux_loss_alpha > 0).
    public var microBatches: Int?
    let logpBuffer = FloatBuffer(), entropyBuffer = FloatBuffer(), dlogpBuffer = FloatBuffer(),
        dlogitsBuffer = FloatBuffer()
    public private(set) var step = 0
    /// Draws the prompt order; saved in checkpoints so a resumed run picks the same prompts.
    var rng: Xoshiro
    /// The split trained on (config.split).
    let split: [TaskRecord]
    var order: [Int] = []
    var cursor = 0
    /// The completion cap: generation, dr_grpo's divisor and the length rule all use it.
    public let maxCompletionLength: Int
    /// The config's loss options, dr_grpo dividing by `maxCompletionLength`.
    public let lossOptions: LossOptions

    /// `reference`: the frozen policy of the KL term when beta > 0 (default: a copy of `model`,
    /// which is right for a new run; a resumed run passes the policy it started from).
    public init(
        config: GRPOConfig, model: Transformer, reference: Transformer? = nil, tasks: TaskSet, rules: RuleSet
    ) throws {
        try config.validate()
        self.config = config
        self.model = model
        self.tasks = tasks
        self.rules = rules
        // Before step 1: an answer rule that is missing or ambiguous would fail the first evaluation.
        judge = try AnswerJudge(
            rules: rules, answerRule: config.answerRule ?? tasks.manifest.answerRule,
            taskKind: tasks.manifest.kind)
        self.reference = config.beta > 0 ? (reference ?? model.copy()) : nil
        sampler = Sampler(model: model)
        tokenizer = model.tokenizer
        optimizer = AdamW(layout: model.layout, config: config.optimizer)
        balancer = ExpertBalancer(model: model, speed: config.routerBiasUpdateSpeed)
        rng = Xoshiro(seed: UInt64(config.seed))
        split = try tasks.split(config.split)
        maxCompletionLength = tasks.manifest.completionCap(asked: config.maxCompletionLength)
        lossOptions = config.lossOptions(completionCap: maxCompletionLength)
        guard !split.isEmpty else {
            throw ConfigError(
                file: "config", key: "split", message: "split \"\(config.split)\" of \(tasks.manifest.name) is empty")
        }
        // Before step 1: every task it may draw fits the context with the completion cap (the
        // evaluations shorten the cap to fit, but need room for one token), and the run fits
        // in memory.
        let longestPrompt = try ContextFit.check(
            tasks, splits: [(config.split, maxCompletionLength), ("test", 1)],
            model: model.config)
        let memory = MemoryEstimate.grpo(
            config, model: model.config, longestPrompt: longestPrompt,
            completionCap: maxCompletionLength)
        try memory.check(config, file: "config")
        microBatches = config.gradientAccumulationSteps
        if let cap = config.maxPromptLength { try checkPromptLengths(cap: cap) }
    }

    /// max_prompt_length as a check: TRL cuts longer prompts from the left, which changes the
    /// task; here a prompt that does not fit is refused, naming the task.
    func checkPromptLengths(cap: Int) throws {
        let m = tasks.manifest
        for record in split {
            let length = tokenizer.encode(m.prompt(for: record), addBOS: true).count
            guard length <= cap else {
                throw ConfigError(
                    file: "config", key: "max_prompt_length",
                    message:
                        "task \"\(record.id)\" (\(config.split)) has a prompt of \(length) tokens, more than \(cap); "
                        + "raise max_prompt_length or leave that task out (prompts are never cut)")
            }
        }
    }

    /// Set-ups that make a rule useless, explained before the first step: a rule that wants
    /// the completion to start with what the prompt template already wrote after the prompt
    /// (a chat template ending in "<think>", say), and the rules that require it.
    public var warnings: [String] {
        var out: [String] = []
        let template = tasks.manifest.promptTemplate
        let leadIn = template.range(of: "{prompt}").map { String(template[$0.upperBound...]) } ?? ""
        var dead: Set<String> = []
        for entry in rules.entries {
            guard let why = entry.rule.leadInConflict(leadIn) else { continue }
            dead.insert(entry.name)
            out.append("rule \"\(entry.name)\" (\(entry.kind)) can hardly ever fire: \(why)")
        }
        // Rules gated on a dead rule are dead too, along whole requires chains.
        var grew = true
        while grew {
            grew = false
            for entry in rules.entries where !dead.contains(entry.name) {
                guard let required = entry.requires, dead.contains(required) else { continue }
                dead.insert(entry.name)
                grew = true
                out.append("rule \"\(entry.name)\" requires \"\(required)\", so it can hardly ever fire either")
            }
        }
        if rules.entries.allSatisfy(\.isDiagnostic) {
            out.append("every rule of \(rules.name) has weight 0: no completion gets a reward, so nothing is learnt")
        }
        if maxCompletionLength < 8 {
            out.append("max_completion_length \(maxCompletionLength) leaves almost no room for an answer")
        }
        return out
    }

    /// The next P tasks; a new shuffled pass over the split when one ends.
    func nextTasks(_ count: Int) -> [TaskRecord] {
        (0..<count).map { _ in
            if cursor == order.count {
                order = Array(split.indices)
                for i in stride(from: order.count - 1, to: 0, by: -1) {
                    order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
                }
                cursor = 0
            }
            defer { cursor += 1 }
            return split[order[cursor]]
        }
    }

    // MARK: - Checkpoints

    /// Model, optimizer moments, and the state that makes a resumed run go on exactly:
    /// step, the prompt-order generator and position, Adam's step count.
    public func save(to url: URL, extra: [String: String] = [:]) throws {
        var extra = extra
        extra["grpo_order"] = order.map(String.init).joined(separator: ",")
        extra["grpo_cursor"] = String(cursor)
        let state = TrainingState(step: step, rng: rng, adamStep: optimizer.step, extra: extra)
        try Checkpoint.save(
            to: url, model: model, optimizerMoments: (UnsafePointer(optimizer.m.data), UnsafePointer(optimizer.v.data)),
            state: state)
    }

    /// Restores what `save` wrote (the model's weights are loaded by the caller). Returns the state's extras.
    public func restore(from url: URL) throws -> [String: String] {
        guard let state = try Checkpoint.loadState(from: url), let cursor = state.extra["grpo_cursor"].flatMap(Int.init)
        else {
            throw PolicyError.badCheckpoint(
                file: url.path, tensor: nil,
                message: "not a GRPO checkpoint (no grpo_cursor in \(Checkpoint.stateFile))")
        }
        guard try Checkpoint.loadOptimizer(from: url, layout: model.layout, into: optimizer.m.data, optimizer.v.data)
        else {
            throw PolicyError.missingFile(url.appendingPathComponent(Checkpoint.optimizerFile).path)
        }
        step = state.step
        rng = state.rng
        optimizer.step = state.adamStep
        order = state.extra["grpo_order"].map { $0.split(separator: ",").compactMap { Int($0) } } ?? []
        self.cursor = min(cursor, order.count)
        return state.extra
    }

    // MARK: - The step

    public func trainStep() throws -> (GRPOStepReport, StepRecord) {
        let start = Date()
        scoringSeconds = 0
        let sampling = try sample()
        let rollouts = withAdvantages(sampling.kept)
        let sampled = Date()
        var update: UpdateResult
        if rollouts.isEmpty {
            update = UpdateResult(metrics: rolloutMetrics(sampling.sampled), passRates: [])
        } else {
            update = try self.update(rollouts)
        }
        step += 1
        let end = Date()
        update.metrics.samplingS = sampled.timeIntervalSince(start) - scoringSeconds
        update.metrics.scoringS = scoringSeconds
        update.metrics.trainingS = end.timeIntervalSince(sampled)
        let tokens = sampling.sampled.reduce(0) { $0 + $1.completions.reduce(0) { $0 + $1.tokens.count } }
        update.metrics.tokensPerS = Double(tokens) / end.timeIntervalSince(start)
        if config.dynamicSampling {
            update.metrics.extra["dynamic_sampling/dropped_groups"] = Double(sampling.dropped)
            update.metrics.extra["dynamic_sampling/trimmed_groups"] = Double(sampling.trimmed)
            update.metrics.extra["dynamic_sampling/extra_rounds"] = Double(sampling.extraRounds)
            update.metrics.extra["dynamic_sampling/kept_groups"] = Double(rollouts.count)
            update.metrics.extra["dynamic_sampling/skipped_update"] = rollouts.isEmpty ? 1 : 0
        }
        // Errors over everything scored this step, dynamic sampling's dropped rounds included.
        let errors = rules.errorCounts(sampling.sampled.flatMap(\.scores))
        for count in errors { update.metrics.extra["rule_errors/\(count.rule)"] = Double(count.errors) }
        let newErrors = errors.filter { $0.errors > 0 && !reportedErrors.contains($0.rule) }
        reportedErrors.formUnion(newErrors.map(\.rule))
        let record = StepRecord(step: step, metrics: update.metrics, groups: rollouts.map(group))
        let report = GRPOStepReport(
            step: step, metrics: update.metrics, rulePassRates: update.passRates,
            ruleErrors: errors, newErrors: newErrors)
        return (report, record)
    }

    /// The step's groups: one batch, or with dynamic sampling as many rounds as it takes.
    func sample() throws -> DynamicSamplingOutcome<Rollout> {
        guard config.dynamicSampling else {
            let batch = try rollout(nextTasks(config.promptsPerStep), round: 0)
            return DynamicSamplingOutcome(kept: batch, sampled: batch, dropped: 0, trimmed: 0, extraRounds: 0)
        }
        let metric = config.dynamicSamplingMetric
        func varies(_ r: Rollout) -> Bool {
            DynamicSampling.varies(DynamicSampling.values(r.scores, metric: metric, judge: judge))
        }
        func sampleRound(_ round: Int) throws -> [Rollout] {
            try rollout(nextTasks(config.promptsPerStep), round: round)
        }
        return try DynamicSampling.fill(
            batchSize: config.promptsPerStep, maxExtraRounds: config.maxResampleRounds,
            sample: sampleRound, keeps: varies)
    }

    /// `body` with the arrays pinned as pointers (nil for nil or no arrays).
    static func withPointers<R>(_ arrays: [[Int32]]?, _ body: ([UnsafePointer<Int32>]?) -> R) -> R {
        guard let arrays, !arrays.isEmpty else { return body(nil) }
        func pin(_ i: Int, _ pinned: [UnsafePointer<Int32>]) -> R {
            i == arrays.count
                ? body(pinned) : arrays[i].withUnsafeBufferPointer { pin(i + 1, pinned + [$0.baseAddress!]) }
        }
        return pin(0, [])
    }

    /// The seed of a step's sampling round: round 0 keeps the seed runs have always used; every
    /// further round gets streams of its own, or it would redraw the completions it dropped.
    public static func samplingSeed(seed: Int, step: Int, round: Int) -> UInt64 {
        let base = UInt64(truncatingIfNeeded: seed) &* 1_000_003 &+ UInt64(step)
        return base &+ UInt64(round) &* 0x9E37_79B9_7F4A_7C15
    }

    /// Samples and scores G completions for each task (advantages come once the batch is chosen).
    func rollout(_ batch: [TaskRecord], round: Int) throws -> [Rollout] {
        let prompts = batch.map { tasks.manifest.prompt(for: $0) }
        let params = SamplingParams(
            temperature: config.temperature, topP: config.topP, topK: config.topK,
            maxNewTokens: maxCompletionLength, stop: tasks.manifest.stop,
            seed: Self.samplingSeed(seed: config.seed, step: step, round: round),
            numSpeculativeTokens: config.numSpeculativeTokens)
        let promptTokens = prompts.map { tokenizer.encode($0, addBOS: true) }
        let completions = try sampler.generate(
            promptTokens: promptTokens, completionsPerPrompt: config.numGenerations, params: params)
        let scoreStart = Date()
        let flat = zip(batch, completions).flatMap { task, group in
            group.map { (completion: $0.text, task: tasks.manifest.rewardTask(for: task)) }
        }
        let lengths = completions.flatMap { group in
            group.map { CompletionLength(tokens: $0.tokens.count, limit: maxCompletionLength) }
        }
        let scored = rules.score(flat, lengths: lengths)
        scoringSeconds += Date().timeIntervalSince(scoreStart)
        // A rule failing past the share (a broken plugin) stops the run before its zeros train it.
        try rules.checkRulesWork(scored, maxErrorShare: config.maxRuleErrorShare)
        let g = config.numGenerations
        return batch.indices.map { p in
            Rollout(
                task: batch[p], prompt: prompts[p], promptTokens: promptTokens[p], completions: completions[p],
                scores: Array(scored[(p * g)..<(p * g + g)]), advantages: Array(repeating: 0, count: g))
        }
    }
    /// Seconds spent in the rule set this step (rollout may run more than once a step).
    private var scoringSeconds = 0.0

    /// Group-relative advantages over exactly the groups trained on (a batch std leaves the
    /// dropped groups out).
    func withAdvantages(_ rollouts: [Rollout]) -> [Rollout] {
        let advantages = Advantages.compute(rollouts.map { $0.scores.map(\.reward) }, scale: config.scaleRewards)
        return zip(rollouts, advantages).map { rollout, a in
            var r = rollout
            r.advantages = a
            return r
        }
    }

    /// The learning rate of optimizer update `update` (0-based, counting every one of the
    /// num_iterations updates of each step), over max_steps x num_iterations updates.
    public func learningRate(update: Int) -> Float {
        optimizer.config.learningRate(step: update, total: config.maxSteps * config.numIterations)
    }

    struct UpdateResult {
        var metrics: StepMetrics
        var passRates: [(rule: String, rate: Double)]
    }

    /// num_iterations optimizer updates on one batch of rollouts; pi_old is the first pass.
    func update(_ rollouts: [Rollout]) throws -> UpdateResult {
        let rows = UpdateRows(
            rollouts, microBatches: microBatches, routerReplay: config.routerReplay, pad: tokenizer.pad,
            config: model.config)
        while microActivations.count < rows.batches.count { microActivations.append(Activations()) }
        let referenceStart = Date()
        let reference = referenceLogProbs(rows)
        let referenceSeconds = Date().timeIntervalSince(referenceStart)
        var old: [Float] = []
        var check = SamplerCheck(mismatch: 0, entropy: 0, routingFlips: 0)
        var loss = LossResult(loss: 0, dlogp: [], clipFracLow: 0, clipFracHigh: 0, ratioMean: 1, kl: 0, tokens: 0)
        var gradNorm: Float = 0
        var lr: Float = 0
        var load: [[Int]] = []
        for iteration in 0..<config.numIterations {
            lr = learningRate(update: step * config.numIterations + iteration)
            let (logits, routingFlips) = policyLogProbs(rows, withEntropy: iteration == 0)
            if iteration == 0 {
                old = Array(UnsafeBufferPointer(start: logpBuffer.pointer, count: rows.total))
                check = checkAgainstSampler(rows, old: old, routingFlips: routingFlips)
            }
            loss = try surrogateLoss(rows, old: old, reference: reference)
            backward(rows, logits: logits, loss: loss)
            gradNorm = try clipAndStep(lr: lr)
            load = expertLoad(microBatches: rows.batches.count)
            balancer.update(load: load)
        }
        var m = metrics(
            rollouts, loss, gradNorm: gradNorm, lr: lr, mismatch: check.mismatch, entropy: check.entropy, load: load)
        if self.reference != nil { m.extra["reference_logprob_s"] = referenceSeconds }
        if rows.routes != nil { m.extra["routing_flips"] = Double(check.routingFlips) }
        let passRates = recordRuleStats(rollouts, into: &m)
        return UpdateResult(metrics: m, passRates: passRates)
    }

    /// The frozen reference's log-probs of every completion token (empty when beta is 0).
    func referenceLogProbs(_ rows: UpdateRows) -> [Float] {
        guard let reference else { return [] }
        let logp = logpBuffer.reserve(rows.total)
        for (b, input) in zip(rows.batches, rows.inputs) {
            let logits = reference.forward(
                tokens: input.tokens, batch: b.rows.count, length: b.length, lengths: input.lengths,
                into: referenceActivations, saving: false)
            LogProbs.forward(
                logits, targets: input.targets, rows: b.size, vocab: model.config.vocabSize,
                temperature: config.temperature, logp: logp + b.offset)
        }
        return Array(UnsafeBufferPointer(start: logp, count: rows.total))
    }

    /// The policy's forward over every micro-batch (activations kept for backward): log-probs
    /// into logpBuffer, entropies into entropyBuffer when asked. Returns each micro-batch's
    /// logits and the tokens whose replayed route the router would not have chosen.
    func policyLogProbs(_ rows: UpdateRows, withEntropy: Bool) -> ([UnsafeMutablePointer<Float>], Int) {
        let logp = logpBuffer.reserve(rows.total)
        let entropy = entropyBuffer.reserve(rows.total)
        var logits: [UnsafeMutablePointer<Float>] = []
        var routingFlips = 0
        for (c, (b, input)) in zip(rows.batches, rows.inputs).enumerated() {
            logits.append(
                Self.withPointers(rows.routes?[c]) { replay in
                    model.forward(
                        tokens: input.tokens, batch: b.rows.count, length: b.length, lengths: input.lengths,
                        into: microActivations[c], routes: replay)
                })
            routingFlips += microActivations[c].routingFlips
            LogProbs.forward(
                logits[c], targets: input.targets, rows: b.size, vocab: model.config.vocabSize,
                temperature: config.temperature, logp: logp + b.offset, entropy: withEntropy ? entropy + b.offset : nil)
        }
        return (logits, routingFlips)
    }

    /// What the first pass (pi_old) tells beside the loss.
    struct SamplerCheck {
        /// The largest gap between a sampler and a trainer log-prob of the same token.
        var mismatch: Double
        /// The mean entropy over the tokens the loss counts (TRL's masked mean).
        var entropy: Double
        var routingFlips: Int
    }

    /// The sampler and the trainer run the same code: their log-probs must agree.
    func checkAgainstSampler(_ rows: UpdateRows, old: [Float], routingFlips: Int) -> SamplerCheck {
        let entropy = entropyBuffer.pointer
        var mismatch = 0.0
        var entropySum = 0.0
        var counted = 0
        for i in rows.rows.indices {
            let completion = rows.completion(i)
            let isMasked = isMaskedOut(completion)
            for (k, lp) in completion.logprobs.enumerated() {
                mismatch = max(mismatch, Double(abs(lp - old[rows.first[i] + k])))
                guard !isMasked else { continue }
                entropySum += Double(entropy[rows.first[i] + k])
                counted += 1
            }
        }
        return SamplerCheck(
            mismatch: mismatch, entropy: entropySum / Double(max(counted, 1)), routingFlips: routingFlips)
    }

    /// The clipped surrogate (GRPOLoss) over every row, from the log-probs in logpBuffer.
    func surrogateLoss(_ rows: UpdateRows, old: [Float], reference: [Float]) throws -> LossResult {
        let logp = logpBuffer.pointer
        let batch: [LossSequence] = rows.rows.indices.map { i in
            let range = rows.range(ofRow: i)
            let row = rows.rows[i]
            return LossSequence(
                logp: range.map { Double(logp[$0]) }, oldLogp: range.map { Double(old[$0]) },
                refLogp: reference.isEmpty ? [] : range.map { Double(reference[$0]) },
                advantage: row.rollout.advantages[row.completion],
                mask: Array(repeating: !isMaskedOut(rows.completion(i)), count: range.count))
        }
        let result = GRPOLoss.compute(batch, options: lossOptions)
        guard result.loss.isFinite else { throw PolicyError.nonFiniteLoss(step: step, value: Float(result.loss)) }
        return result
    }

    /// The loss's gradient back through the log-probs and the model, accumulated over the
    /// micro-batches (one optimizer step for the whole batch).
    func backward(_ rows: UpdateRows, logits: [UnsafeMutablePointer<Float>], loss: LossResult) {
        let v = model.config.vocabSize
        let dlogp = dlogpBuffer.reserve(rows.total)
        dlogp.update(repeating: 0, count: rows.total)
        for i in rows.rows.indices { for (k, g) in loss.dlogp[i].enumerated() { dlogp[rows.first[i] + k] = Float(g) } }
        model.zeroGradients()
        for (c, (b, input)) in zip(rows.batches, rows.inputs).enumerated() {
            let dlogits = dlogitsBuffer.reserve(b.size * v)
            LogProbs.backward(
                logits[c], targets: input.targets, dlogp: dlogp + b.offset, rows: b.size, vocab: v,
                temperature: config.temperature, dlogits: dlogits)
            model.backward(dlogits: dlogits, from: microActivations[c])
        }
    }

    /// Clips the gradients to max_grad_norm, then one AdamW step; returns the norm before clipping.
    func clipAndStep(lr: Float) throws -> Float {
        let gradNorm = GradientClipping.clip(
            model.gradients.data, layout: model.layout, maxNorm: optimizer.config.maxGradNorm)
        guard gradNorm.isFinite else { throw PolicyError.nonFiniteLoss(step: step, value: gradNorm) }
        optimizer.update(params: model.parameters.data, grads: model.gradients.data, lr: lr)
        return gradNorm
    }

    /// Tokens each routed expert took per layer, summed over the micro-batches.
    func expertLoad(microBatches count: Int) -> [[Int]] {
        microActivations.prefix(count).map(\.expertLoad).reduce(into: []) { sum, l in
            sum = sum.isEmpty ? l : zip(sum, l).map { zip($0, $1).map(+) }
        }
    }

    /// Per rule, diagnostics (weight 0) included: the mean score and the pass rate go to the
    /// metrics; the pass rates are returned for the progress line.
    func recordRuleStats(_ rollouts: [Rollout], into m: inout StepMetrics) -> [(rule: String, rate: Double)] {
        let stats = rules.ruleStats(rollouts.flatMap(\.scores))
        for s in stats {
            m.extra["reward/\(s.rule)"] = s.meanScore
            m.extra["pass_rate/\(s.rule)"] = s.passRate
        }
        return stats.map { ($0.rule, $0.passRate) }
    }

    /// mask_truncated_completions: a completion cut at the cap counts in no loss term nor in the entropy.
    func isMaskedOut(_ completion: Completion) -> Bool {
        config.maskTruncatedCompletions && completion.finishReason == .length
    }

    // MARK: - What a step records

    /// What the sampled groups alone tell: rewards, lengths, truncation.
    func rolloutMetrics(_ rollouts: [Rollout]) -> StepMetrics {
        var m = StepMetrics()
        let rewards = rollouts.flatMap { $0.scores.compactMap(\.reward) }
        m.rewardMean = mean(rewards)
        m.rewardStd = Advantages.sampleStd(rewards)
        m.fracZeroStd = Double(rollouts.filter { !$0.hasSpread }.count) / Double(max(rollouts.count, 1))
        let lengths = rollouts.flatMap { $0.completions.map { Double($0.tokens.count) } }
        m.completionLenMean = mean(lengths)
        m.completionLenMin = lengths.min()
        m.completionLenMax = lengths.max()
        let truncated = rollouts.flatMap(\.completions).filter { $0.finishReason == .length }.count
        m.truncatedFrac = Double(truncated) / Double(max(lengths.count, 1))
        return m
    }

    func metrics(
        _ rollouts: [Rollout], _ loss: LossResult, gradNorm: Float, lr: Float, mismatch: Double,
        entropy: Double, load: [[Int]]
    ) -> StepMetrics {
        var m = rolloutMetrics(rollouts)
        let advantages = rollouts.flatMap(\.advantages)
        m.advantageMean = mean(advantages)
        m.advantageStd = Advantages.sampleStd(advantages)
        m.loss = loss.loss
        m.kl = config.beta > 0 ? loss.kl : nil
        m.clipFracLow = loss.clipFracLow
        m.clipFracHigh = loss.clipFracHigh
        m.ratioMean = loss.ratioMean
        m.entropy = entropy
        m.learningRate = Double(lr)
        m.gradNorm = Double(gradNorm)
        m.logprobMismatchMax = mismatch
        m.expertImbalance = ExpertBalancer.imbalance(load).max().map(Double.init)
        for (l, counts) in load.enumerated() {
            let total = Double(max(counts.reduce(0, +), 1))
            for (e, c) in counts.enumerated() { m.extra["expert_load/\(l)/\(e)"] = Double(c) / total }
        }
        return m
    }

    /// A rollout as the traces store it.
    func group(_ r: Rollout) -> GroupRecord {
        GroupRecord(
            task: r.task, prompt: r.prompt, completions: r.completions, scores: r.scores, advantages: r.advantages)
    }

    /// The run as the traces describe it.
    public var runInfo: RunInfo {
        let configJSON =
            (try? JSONEncoder.sortedKeys.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let modelJSON =
            (try? JSONEncoder.sortedKeys.encode(model.config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return RunInfo(
            name: config.runName ?? "\(tasks.manifest.name)-grpo", seed: config.seed, config: configJSON,
            model: modelJSON,
            taskSet: tasks.manifest.name, rulesName: rules.name, rulesText: rules.text,
            rules: rules.entries.map { RuleInfo(name: $0.name, kind: $0.kind, weight: $0.weight) },
            system: BLASStartup.state.json)
    }
}

private func mean(_ x: [Double]) -> Double? { x.isEmpty ? nil : x.reduce(0, +) / Double(x.count) }
