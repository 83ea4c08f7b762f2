import ArgumentParser
import Foundation
import Policy
import Training

struct SFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft", abstract: "Supervised fine-tuning on (prompt, completion) pairs: the cold start.")

    @Option(help: "JSONL of {\"prompt\", \"completion\"}, a task-set folder, or a task-set name under Tasks/.")
    var data: String
    @Option(name: .customLong("output-dir"), help: "Checkpoints go to DIR/checkpoint-STEP, the model to DIR/final.")
    var outputDir = "runs/sft"
    @Option(help: "Start from this checkpoint (default: a fresh --shape).") var model: String?
    @Option(help: "Shape of a fresh model.") var shape = "tiny"
    @Option(name: .customLong("resume"), help: "Continue from a checkpoint-STEP folder, or the latest one in an output dir.")
    var resume: String?
    @Option(name: .customLong("max-steps")) var maxSteps = 200
    @Option(name: .customLong("batch-size")) var batchSize = 16
    @Option(name: .customLong("max-length")) var maxLength = 256
    @Option(name: .customLong("learning-rate")) var learningRate: Float = 1e-3
    @Option(name: .customLong("lr-scheduler-type")) var lrSchedulerType = "cosine"
    @Option(name: .customLong("warmup-steps")) var warmupSteps = 10
    @Option(name: .customLong("weight-decay")) var weightDecay: Float = 0.0
    @Option(name: .customLong("max-grad-norm")) var maxGradNorm: Float = 1.0
    @Option(name: .customLong("save-steps")) var saveSteps = 100
    @Option(name: .customLong("save-total-limit")) var saveTotalLimit = 2
    @Option(name: .customLong("logging-steps")) var loggingSteps = 10
    @Option var seed: UInt64 = 0
    @Flag(help: "No progress output.") var quiet = false
    @Flag(help: "Print a JSON object per logged step and one at the end on standard output.") var json = false

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        var cfg = SFTConfig()
        cfg.data = data; cfg.outputDir = outputDir; cfg.maxSteps = maxSteps; cfg.perDeviceTrainBatchSize = batchSize
        cfg.maxLength = maxLength; cfg.saveSteps = saveSteps; cfg.saveTotalLimit = saveTotalLimit
        cfg.loggingSteps = loggingSteps; cfg.seed = seed
        cfg.optimizer.learningRate = learningRate; cfg.optimizer.lrSchedulerType = lrSchedulerType
        cfg.optimizer.warmupSteps = warmupSteps; cfg.optimizer.weightDecay = weightDecay; cfg.optimizer.maxGradNorm = maxGradNorm

        var resumeFrom: URL?
        if let resume {
            let url = URL(fileURLWithPath: resume)
            resumeFrom = FileManager.default.fileExists(atPath: url.appendingPathComponent(Checkpoint.stateFile).path)
                ? url : SFTRunner.latestCheckpoint(in: url)
            guard resumeFrom != nil else { throw PolicyError.missingFile(url.appendingPathComponent("checkpoint-*").path) }
        }
        let policy: Transformer
        if let from = resumeFrom ?? model.map({ URL(fileURLWithPath: $0) }) {
            policy = try Checkpoint.loadModel(from: from)
        } else {
            policy = Transformer(config: try ModelConfig.named(shape))
            policy.initialize(seed: seed)
        }
        let runner = try SFTRunner(config: cfg, model: policy, resume: resumeFrom)
        Interrupt.shared.install(terminal)
        let encoder = JSONEncoder(); encoder.outputFormatting = [.sortedKeys]
        try runner.run(shouldStop: { Interrupt.shared.requested }) { event in
            switch event {
            case let .started(examples, dropped, truncated, startStep, maxSteps):
                terminal.note("sft: \(examples) examples (\(dropped) too long, dropped; \(truncated) truncated), steps \(startStep + 1)...\(maxSteps)")
            case .step(let r):
                terminal.progress(String(format: "step %d/%d  loss %.4f  grad %.2f  lr %.2e  %.0f tok/s  %.2f s/step  ETA %@  epoch %d",
                                         r.step, r.maxSteps, r.loss, r.gradNorm, r.learningRate, r.tokensPerSecond,
                                         r.secondsPerStep, formatDuration(r.etaSeconds), r.epoch))
                if json, let data = try? encoder.encode(r) { print(String(data: data, encoding: .utf8)!) }
            case let .checkpoint(path, step):
                terminal.note("checkpoint: \(path) (step \(step))")
            case let .finished(step, seconds, loss):
                terminal.note(String(format: "sft done: %d steps in %@, final loss %.4f, model in %@", step, formatDuration(seconds), loss,
                                     (outputDir as NSString).appendingPathComponent("final")))
            }
        }
    }
}
