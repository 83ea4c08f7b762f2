// Supervised fine-tuning, the cold start GRPO begins from: next-token loss on
// the completion tokens of (prompt, completion) pairs, with checkpoints every
// `save_steps` and at the end, and exact resumption from any of them.
// Option names follow TRL's SFTConfig / Hugging Face TrainingArguments.

import Foundation
import Kernels
import Policy
import RewardRules
import Support

public struct SFTConfig: Codable, Equatable, Sendable, OptionRoot {
    /// A checkpoint folder to start from; none: a fresh model of `shape`.
    public var model: String?
    /// Shape of a fresh model (Sources/Policy/Shapes).
    public var shape = "tiny"
    /// A JSONL file of {"prompt", "completion"}, a task-set folder, or a task-set name under Tasks/.
    public var taskSet = ""
    public var runName = "sft"
    /// Checkpoints go to <output_dir>/checkpoint-<step>; the last one also to <output_dir>/final.
    public var outputDir: String?
    public var overwriteOutputDir = false
    /// A checkpoint-<step> folder, or an output folder (its latest checkpoint).
    public var resumeFromCheckpoint: String?
    public var json = false
    public var quiet = false
    public var maxSteps = 200
    /// Passes over the examples; sets max_steps from the number of examples when given.
    public var numTrainEpochs: Double?
    public var perDeviceTrainBatchSize = 16
    /// Longest sequence (bos + prompt + completion + eos); longer completions are cut.
    public var maxLength = 256
    public var saveSteps = 100
    /// Keep at most this many checkpoint-<step> folders (0 keeps all).
    public var saveTotalLimit = 2
    public var loggingSteps = 10
    public var seed: UInt64 = 0
    /// Weight of the multi-token prediction loss, for a model with prediction modules
    /// (num_nextn_predict_layers); DeepSeek-V3 trained with 0.3, then 0.1.
    public var mtpLossWeight: Float = 0.3
    public var optimizer: OptimizerConfig = {
        var o = OptimizerConfig()
        o.warmupSteps = 10
        return o
    }()

    public init() {}
    public init(from decoder: Decoder) throws { self = try Self.options.decode(from: decoder) }
    public func encode(to encoder: Encoder) throws { try Self.options.encode(self, to: encoder) }

    /// Where the run's checkpoints go.
    public var outputFolder: String { outputDir ?? "runs/\(runName)" }

    /// Steps to run: max_steps, or num_train_epochs passes over `examples` in batches.
    public func steps(examples: Int) -> Int {
        guard let epochs = numTrainEpochs else { return maxSteps }
        return max(1, Int((epochs * Double(examples) / Double(perDeviceTrainBatchSize)).rounded(.up)))
    }

    public func validate(file: String = "sft") throws {
        func fail(_ key: String, _ m: String) -> ConfigError { ConfigError(file: file, key: key, message: m) }
        guard !taskSet.isEmpty else {
            throw fail("task_set", "required: a JSONL file, a task-set folder or a task-set name")
        }
        guard maxSteps > 0 else { throw fail("max_steps", "must be positive") }
        if let e = numTrainEpochs, !(e > 0 && e <= 1e6) { throw fail("num_train_epochs", "must be in (0, 1e6]") }
        guard perDeviceTrainBatchSize > 0 else { throw fail("per_device_train_batch_size", "must be positive") }
        guard maxLength >= 2 else { throw fail("max_length", "must be at least 2") }
        guard saveSteps > 0 else { throw fail("save_steps", "must be positive") }
        guard saveTotalLimit >= 0 else { throw fail("save_total_limit", "must be >= 0") }
        guard loggingSteps > 0 else { throw fail("logging_steps", "must be positive") }
        guard mtpLossWeight >= 0, mtpLossWeight.isFinite else { throw fail("mtp_loss_weight", "must be >= 0") }
        do { try optimizer.validate() } catch let PolicyError.badConfig(_, key, message) {
            throw ConfigError(file: file, key: key, message: message)
        }
    }

    /// A YAML file (may be nil), then flags; max_steps and num_train_epochs together are refused.
    public static func load(file: String?, flags: [(key: String, value: String, flag: String)]) throws -> SFTConfig {
        let (config, given, places) = try options.read(file: file, flags: flags)
        try checkSteps(given: given, file: file ?? "flags")
        try places.checking { try config.validate(file: file ?? "flags") }
        return config
    }
}

/// What SFT reports as it runs; the CLI decides how to show it.
public enum SFTProgress: Sendable {
    case started(examples: Int, dropped: Int, truncated: Int, startStep: Int, maxSteps: Int)
    case step(SFTStepReport)
    case checkpoint(path: String, step: Int)
    case finished(step: Int, seconds: Double, finalLoss: Float)
}

public struct SFTStepReport: Sendable, Codable {
    public var step: Int, maxSteps: Int
    public var loss: Float, gradNorm: Float, learningRate: Float
    /// The prediction modules' mean loss, for a model that has them.
    public var mtpLoss: Float?
    public var tokensPerSecond: Double, secondsPerStep: Double, etaSeconds: Double
    public var epoch: Int
    /// Max load / mean load over the experts, worst layer (1 = balanced).
    public var expertImbalance: Float
}

public final class SFTRunner {
    public let config: SFTConfig
    public let model: Transformer
    let trainer: NextTokenTrainer
    var batcher: SFTBatcher
    public private(set) var step = 0

    /// Starts from `model` (a fresh init or a checkpoint); with `resume`, from a
    /// checkpoint folder saved by SFT, restoring optimizer, data order and step.
    public init(config: SFTConfig, model: Transformer, resume: URL? = nil) throws {
        try config.validate()
        self.config = config
        self.model = model
        let examples = try SFTData.load(config.taskSet)
        batcher = try SFTBatcher(
            examples: examples, tokenizer: model.tokenizer,
            maxLength: min(config.maxLength, model.config.maxPositionEmbeddings),
            batchSize: config.perDeviceTrainBatchSize, seed: config.seed)
        trainer = NextTokenTrainer(model: model, optimizer: config.optimizer, mtpLossWeight: config.mtpLossWeight)
        if let resume {
            guard let state = try Checkpoint.loadState(from: resume) else {
                throw PolicyError.missingFile(resume.appendingPathComponent(Checkpoint.stateFile).path)
            }
            guard
                try Checkpoint.loadOptimizer(
                    from: resume, layout: model.layout, into: trainer.optimizer.m.data,
                    trainer.optimizer.v.data)
            else {
                throw PolicyError.missingFile(resume.appendingPathComponent(Checkpoint.optimizerFile).path)
            }
            guard let saved = state.extra["sft_batcher"], let data = saved.data(using: .utf8) else {
                throw PolicyError.badCheckpoint(
                    file: resume.path, tensor: nil,
                    message: "not an SFT checkpoint (no data position in trainer_state.json)")
            }
            try batcher.restore(JSONDecoder().decode(SFTBatcherState.self, from: data))
            trainer.optimizer.step = state.adamStep
            step = state.step
        }
    }

    /// Steps the run goes to: max_steps, or num_train_epochs passes over the examples.
    public var maxSteps: Int { config.steps(examples: batcher.examplesCount) }

    /// The last checkpoint-<step> folder under `dir`, for `--resume DIR`.
    public static func latestCheckpoint(in dir: URL) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("checkpoint-"), let s = Int(n.dropFirst("checkpoint-".count)) else { return nil }
            return (s, n)
        }.max { $0.0 < $1.0 }.map { dir.appendingPathComponent($0.1) }
    }

    /// Runs to `max_steps` (or until `shouldStop`, checked between steps);
    /// returns the folder of the final model, or of the last checkpoint if stopped.
    @discardableResult
    public func run(shouldStop: () -> Bool = { false }, progress: (SFTProgress) -> Void) throws -> URL {
        let c = config
        try recordSystem(in: URL(fileURLWithPath: c.outputFolder))
        progress(
            .started(
                examples: batcher.examplesCount, dropped: batcher.droppedCount, truncated: batcher.truncatedCount,
                startStep: step, maxSteps: maxSteps))
        let start = Date()
        let firstStep = step
        var lastLoss: Float = .nan
        var windowTokens = 0
        var windowStart = Date()
        while step < maxSteps && !shouldStop() {
            let batch = batcher.next()
            let lr = c.optimizer.learningRate(step: step, total: maxSteps)
            let result = try trainer.step(
                tokens: batch.tokens, targets: batch.targets, batch: batch.batch,
                length: batch.length, lengths: batch.lengths, learningRate: lr)
            step += 1
            lastLoss = result.loss
            windowTokens += batch.lengths.reduce(0, +)
            if step % c.loggingSteps == 0 || step == maxSteps || step == firstStep + 1 {
                let now = Date()
                let elapsed = now.timeIntervalSince(start)
                let perStep = elapsed / Double(step - firstStep)
                progress(
                    .step(
                        SFTStepReport(
                            step: step, maxSteps: maxSteps, loss: result.loss, gradNorm: result.gradNorm,
                            learningRate: lr, mtpLoss: result.mtpLoss,
                            tokensPerSecond: Double(windowTokens) / max(1e-9, now.timeIntervalSince(windowStart)),
                            secondsPerStep: perStep, etaSeconds: perStep * Double(maxSteps - step),
                            epoch: batcher.epoch,
                            expertImbalance: ExpertBalancer.imbalance(trainer.expertLoad).max() ?? 0)))
                windowTokens = 0
                windowStart = now
            }
            if step % c.saveSteps == 0 && step < maxSteps {
                progress(.checkpoint(path: try save(named: "checkpoint-\(step)").path, step: step))
            }
        }
        let last = try save(named: "checkpoint-\(step)")
        progress(.checkpoint(path: last.path, step: step))
        // Interrupted: the checkpoint above is where --resume continues; no "final".
        guard step >= maxSteps else { return last }
        let out = URL(fileURLWithPath: c.outputFolder).appendingPathComponent("final")
        try Checkpoint.save(to: out, model: model)
        progress(.finished(step: step, seconds: Date().timeIntervalSince(start), finalLoss: lastLoss))
        return out
    }

    private func save(named name: String) throws -> URL {
        let dir = URL(fileURLWithPath: config.outputFolder)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        let batcherState = String(data: try JSONEncoder().encode(batcher.state), encoding: .utf8)!
        let state = TrainingState(
            step: step, rng: batcher.state.rng, adamStep: trainer.optimizer.step,
            extra: ["sft_batcher": batcherState, "data": config.taskSet])
        try Checkpoint.save(
            to: url, model: model,
            optimizerMoments: (
                UnsafePointer(trainer.optimizer.m.data),
                UnsafePointer(trainer.optimizer.v.data)
            ), state: state)
        try AtomicFile.write(
            String(decoding: try JSONEncoder.sortedKeys.encode(config), as: UTF8.self),
            to: url.appendingPathComponent(SFTConfig.savedFile))
        if config.saveTotalLimit > 0 { RunFolder.pruneCheckpoints(in: dir, keeping: config.saveTotalLimit) }
        return url
    }
}

/// Writes `system.json` (the OpenBLAS kernel, how it was chosen, the CPU) into a run's
/// output folder, so a run's figures can be read with the machine they came from.
public func recordSystem(in outputDir: URL) throws {
    try FileManager.default.createDirectory(at: outputDir, withIntermediateDirectories: true)
    try AtomicFile.write(BLASStartup.state.json + "\n", to: outputDir.appendingPathComponent("system.json"))
}
