// Supervised fine-tuning, the cold start GRPO begins from: next-token loss on
// the completion tokens of (prompt, completion) pairs, with checkpoints every
// `save_steps` and at the end, and exact resumption from any of them.
// Option names follow TRL's SFTConfig / Hugging Face TrainingArguments.

import Foundation
import Kernels
import Policy
import RewardRules

public struct SFTConfig: Codable, Equatable, Sendable {
    /// A JSONL file of {"prompt", "completion"}, a task-set folder, or a task-set name under Tasks/.
    public var data = ""
    /// Checkpoints go to <output_dir>/checkpoint-<step>; the last one also to <output_dir>/final.
    public var outputDir = "runs/sft"
    public var maxSteps = 200
    public var perDeviceTrainBatchSize = 16
    /// Longest sequence (bos + prompt + completion + eos); longer completions are cut.
    public var maxLength = 256
    public var saveSteps = 100
    /// Keep at most this many checkpoint-<step> folders (0 keeps all).
    public var saveTotalLimit = 2
    public var loggingSteps = 10
    public var seed: UInt64 = 0
    public var optimizer = OptimizerConfig()

    public init() {}

    public func validate() throws {
        func fail(_ key: String, _ m: String) -> PolicyError { .badConfig(file: "sft", key: key, message: m) }
        guard !data.isEmpty else { throw fail("data", "required: a JSONL file, a task-set folder or a task-set name") }
        guard maxSteps > 0 else { throw fail("max_steps", "must be positive") }
        guard perDeviceTrainBatchSize > 0 else { throw fail("per_device_train_batch_size", "must be positive") }
        guard maxLength >= 2 else { throw fail("max_length", "must be at least 2") }
        guard saveSteps > 0 else { throw fail("save_steps", "must be positive") }
        guard saveTotalLimit >= 0 else { throw fail("save_total_limit", "must be >= 0") }
        guard loggingSteps > 0 else { throw fail("logging_steps", "must be positive") }
        try optimizer.validate()
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
    var step = 0

    /// Starts from `model` (a fresh init or a checkpoint); with `resume`, from a
    /// checkpoint folder saved by SFT, restoring optimizer, data order and step.
    public init(config: SFTConfig, model: Transformer, resume: URL? = nil) throws {
        try config.validate()
        self.config = config
        self.model = model
        let examples = try SFTData.load(config.data)
        batcher = try SFTBatcher(examples: examples, tokenizer: model.tokenizer,
                                 maxLength: min(config.maxLength, model.config.maxPositionEmbeddings),
                                 batchSize: config.perDeviceTrainBatchSize, seed: config.seed)
        trainer = NextTokenTrainer(model: model, optimizer: config.optimizer)
        if let resume {
            guard let state = try Checkpoint.loadState(from: resume) else {
                throw PolicyError.missingFile(resume.appendingPathComponent(Checkpoint.stateFile).path)
            }
            guard try Checkpoint.loadOptimizer(from: resume, layout: model.layout, into: trainer.optimizer.m.data,
                                               trainer.optimizer.v.data) else {
                throw PolicyError.missingFile(resume.appendingPathComponent(Checkpoint.optimizerFile).path)
            }
            guard let saved = state.extra["sft_batcher"], let data = saved.data(using: .utf8) else {
                throw PolicyError.badCheckpoint(file: resume.path, tensor: nil, message: "not an SFT checkpoint (no data position in trainer_state.json)")
            }
            try batcher.restore(JSONDecoder().decode(SFTBatcherState.self, from: data))
            trainer.optimizer.step = state.adamStep
            step = state.step
        }
    }

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
        try recordSystem(in: URL(fileURLWithPath: c.outputDir))
        progress(.started(examples: batcher.examplesCount, dropped: batcher.droppedCount, truncated: batcher.truncatedCount,
                          startStep: step, maxSteps: c.maxSteps))
        let start = Date()
        let firstStep = step
        var lastLoss: Float = .nan
        var windowTokens = 0, windowStart = Date()
        while step < c.maxSteps && !shouldStop() {
            let batch = batcher.next()
            let lr = c.optimizer.learningRate(step: step, total: c.maxSteps)
            let result = try trainer.step(tokens: batch.tokens, targets: batch.targets, batch: batch.batch,
                                          length: batch.length, lengths: batch.lengths, learningRate: lr)
            step += 1
            lastLoss = result.loss
            windowTokens += batch.lengths.reduce(0, +)
            if step % c.loggingSteps == 0 || step == c.maxSteps || step == firstStep + 1 {
                let now = Date()
                let elapsed = now.timeIntervalSince(start)
                let perStep = elapsed / Double(step - firstStep)
                progress(.step(SFTStepReport(
                    step: step, maxSteps: c.maxSteps, loss: result.loss, gradNorm: result.gradNorm, learningRate: lr,
                    tokensPerSecond: Double(windowTokens) / max(1e-9, now.timeIntervalSince(windowStart)),
                    secondsPerStep: perStep, etaSeconds: perStep * Double(c.maxSteps - step), epoch: batcher.epoch,
                    expertImbalance: ExpertBalancer.imbalance(trainer.expertLoad).max() ?? 0)))
                windowTokens = 0; windowStart = now
            }
            if step % c.saveSteps == 0 && step < c.maxSteps {
                progress(.checkpoint(path: try save(named: "checkpoint-\(step)").path, step: step))
            }
        }
        let last = try save(named: "checkpoint-\(step)")
        progress(.checkpoint(path: last.path, step: step))
        // Interrupted: the checkpoint above is where --resume continues; no "final".
        guard step >= c.maxSteps else { return last }
        let out = URL(fileURLWithPath: c.outputDir).appendingPathComponent("final")
        try Checkpoint.save(to: out, model: model)
        progress(.finished(step: step, seconds: Date().timeIntervalSince(start), finalLoss: lastLoss))
        return out
    }

    private func save(named name: String) throws -> URL {
        let dir = URL(fileURLWithPath: config.outputDir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        let batcherState = String(data: try JSONEncoder().encode(batcher.state), encoding: .utf8)!
        let state = TrainingState(step: step, rng: batcher.state.rng, adamStep: trainer.optimizer.step,
                                  extra: ["sft_batcher": batcherState, "data": config.data])
        try Checkpoint.save(to: url, model: model, optimizerMoments: (UnsafePointer(trainer.optimizer.m.data),
                                                                       UnsafePointer(trainer.optimizer.v.data)), state: state)
        if config.saveTotalLimit > 0 { pruneCheckpoints(in: dir, keeping: config.saveTotalLimit) }
        return url
    }

    private func pruneCheckpoints(in dir: URL, keeping limit: Int) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let steps = names.compactMap { n -> Int? in n.hasPrefix("checkpoint-") ? Int(n.dropFirst("checkpoint-".count)) : nil }.sorted()
        for s in steps.dropLast(limit) { try? FileManager.default.removeItem(at: dir.appendingPathComponent("checkpoint-\(s)")) }
    }
}

/// Writes `system.json` (the OpenBLAS kernel, how it was chosen, the CPU) into a run's
/// output folder, so a run's figures can be read with the machine they came from.
public func recordSystem(in outputDir: URL) throws {
    try FileManager.default.createDirectory(at: outputDir, withIntermediateDirectories: true)
    try AtomicFile.write(BLASStartup.state.json + "\n", to: outputDir.appendingPathComponent("system.json"))
}
