// A whole `grpo train` run, as a library call: the config (a resumed run's saved one first),
// the refusal to write over an earlier run, the traces, the checkpoints, the evaluations and
// the loop. It reports what happens as values (GRPORunEvent); the command decides how to
// show them, and when to stop (`shouldStop`, Ctrl-C in the CLI).
//   let run = try GRPORun(configFile: file, flags: flags)
//   let end = try run.run(shouldStop: { false }) { event in print(event) }

import Foundation
import Kernels
import Policy
import RewardRules
import Support
import TaskSets
import Traces

/// What a run reports while it goes, in the order it happens.
public enum GRPORunEvent {
    /// A set-up that makes a rule useless (GRPOTrainer.warnings), before anything is written.
    case warning(String)
    case resumed(runName: String, step: Int, checkpoint: String)
    /// A checkpoint's temporary folder left by a save that was killed midway, now removed.
    case removedStaleTemporary(path: String)
    /// Everything is in place; the loop starts next (the CLI installs its Ctrl-C handler here).
    case started
    /// A step is done; `logged` when logging_steps (or the first or last step) asks for a line.
    case step(GRPOStepReport, logged: Bool, secondsPerStep: Double)
    case checkpoint(path: String)
    case evaluated(step: Int, accuracy: Double, tasks: Int, taskSet: String)
    case plots(path: String)
}

/// How a run ended.
public enum GRPORunEnd: Equatable {
    case finished(steps: Int, seconds: Double, database: String, model: String)
    /// Stopped by `shouldStop` before max_steps; `checkpoint` is where a resumed run continues.
    case interrupted(step: Int, maxSteps: Int, checkpoint: String)
}

public final class GRPORun {
    public let config: GRPOConfig
    /// The config file the run was read from (a resumed run's saved config when none was given).
    public let configFile: String?
    public let resumeFrom: URL?
    public let runName: String
    public let outputDir: URL
    public let database: String
    /// `<database without extension>.metrics.jsonl`.
    public let metricsURL: URL
    let tasks: TaskSet
    let rules: RuleSet
    let model: Transformer
    public let trainer: GRPOTrainer
    private var traces: TraceWriter?

    /// Reads the config (a resumed run's saved grpo_config.json unless `configFile` names
    /// another; flags win over either), loads the task set, the rules and the model, and builds
    /// the trainer. Nothing is written yet.
    public init(configFile: String?, flags: [(key: String, value: String, flag: String)]) throws {
        let table = GRPOConfig.options
        let asked = try table.read(file: nil, flags: flags).config
        let resumeURL = asked.resumeFromCheckpoint.map { URL(fileURLWithPath: $0) }
        var file = configFile
        if let resumeURL, file == nil {
            let saved = resumeURL.appendingPathComponent("grpo_config.json").path
            guard FileManager.default.fileExists(atPath: saved) else {
                throw RunError(message: "\(saved): no such file (was \(resumeURL.path) written by grpo train?)")
            }
            file = saved
        }
        let cfg = try GRPOConfig.load(file: file, flags: flags)
        if resumeURL != nil && cfg.overwriteOutputDir {
            throw RunError(
                message: "--resume_from_checkpoint continues a run, --overwrite_output_dir replaces it: give one")
        }
        if let resumeURL, let done = try Checkpoint.loadState(from: resumeURL)?.step, done >= cfg.maxSteps {
            throw RunError(
                message: "\(resumeURL.path) is at step \(done) and the run's max_steps is \(cfg.maxSteps): "
                    + "nothing to train (give a larger --max_steps to go on)")
        }
        config = cfg
        self.configFile = file
        resumeFrom = resumeURL
        tasks = try TaskSet.load(cfg.taskSet)
        var rules = try RuleSet.load(cfg.rules ?? tasks.manifest.rules)
        if let weights = cfg.rewardWeights { rules = try weights.applied(to: rules, file: file ?? "flags") }
        self.rules = rules
        // A resumed run takes its weights from the checkpoint; `model` stays the policy it
        // started from, which is the KL term's reference.
        model = try Checkpoint.loadModel(from: resumeURL ?? URL(fileURLWithPath: cfg.model))
        let reference =
            resumeURL != nil && cfg.beta > 0 ? try Checkpoint.loadModel(from: URL(fileURLWithPath: cfg.model)) : nil
        trainer = try GRPOTrainer(config: cfg, model: model, reference: reference, tasks: tasks, rules: rules)
        runName = cfg.runName ?? "\(tasks.manifest.name)-grpo"
        outputDir = URL(fileURLWithPath: cfg.outputDir ?? "runs/\(runName)")
        database = cfg.db ?? "runs/\(runName).sqlite"
        metricsURL = URL(
            fileURLWithPath: String(database.dropLast((database as NSString).pathExtension.count + 1))
                + ".metrics.jsonl")
    }

    /// Runs to max_steps, or until `shouldStop` says so between steps (then a checkpoint and no
    /// final model). A failure marks the run failed in the traces and is rethrown.
    public func run(shouldStop: () -> Bool, report: (GRPORunEvent) throws -> Void) throws -> GRPORunEnd {
        for warning in trainer.warnings { try report(.warning(warning)) }
        let traces = try openTraces(report)
        try FileManager.default.createDirectory(at: outputDir, withIntermediateDirectories: true)
        for stale in Checkpoint.removeStaleTemporaries(in: outputDir) {
            try report(.removedStaleTemporary(path: stale.path))
        }
        try AtomicFile.write(
            String(decoding: try JSONEncoder.sortedKeys.encode(config), as: UTF8.self),
            to: outputDir.appendingPathComponent("grpo_config.json"))
        try recordSystem(in: outputDir)
        let metricsFile = try MetricsFile(url: metricsURL, afterStep: trainer.step)
        try report(.started)

        let start = Date()
        let firstStep = trainer.step
        var lastCheckpoint = ""
        do {
            while trainer.step < config.maxSteps && !shouldStop() {
                let (step, record) = try trainer.trainStep()
                try traces.record(record)
                try metricsFile.append(step: step.step, metrics: step.metrics)
                let logged =
                    step.step % config.loggingSteps == 0 || step.step == config.maxSteps || step.step == firstStep + 1
                let rate = Date().timeIntervalSince(start) / Double(trainer.step - firstStep)
                try report(.step(step, logged: logged, secondsPerStep: rate))
                let more = trainer.step < config.maxSteps
                if trainer.step % config.saveSteps == 0 && more { lastCheckpoint = try checkpoint(traces, report) }
                if config.evalSteps > 0 && trainer.step % config.evalSteps == 0 && more {
                    try evaluate(traces, report)
                }
            }
            lastCheckpoint = try checkpoint(traces, report)
            // An interrupted run has no final model: its checkpoint is where --resume_from_checkpoint continues.
            if !interrupted {
                try Checkpoint.save(to: outputDir.appendingPathComponent("final"), model: model)
                try evaluate(traces, report)
            }
            try traces.finish(interrupted ? .interrupted : .finished)
        } catch {
            try? traces.finish(.failed, error: "\(error)")
            throw error
        }
        let plots = outputDir.appendingPathComponent("plots")
        try RunPlots.write(from: TraceReader(path: database), run: traces.runID!, to: plots)
        try report(.plots(path: plots.path))
        if interrupted {
            return .interrupted(step: trainer.step, maxSteps: config.maxSteps, checkpoint: lastCheckpoint)
        }
        return .finished(
            steps: trainer.step, seconds: Date().timeIntervalSince(start), database: database,
            model: outputDir.appendingPathComponent("final").path)
    }

    /// For a second Ctrl-C, which exits at once: the run is still marked, not left "running".
    public func markAbandoned() {
        try? traces?.finish(.interrupted, error: "interrupted twice: stopped without a checkpoint")
    }

    /// The loop ended short of max_steps.
    var interrupted: Bool { trainer.step < config.maxSteps }

    /// A new run claims its folder, metrics file and run name first (never over an earlier
    /// run: refused, or with overwrite_output_dir removed); a resumed one continues its trace run.
    func openTraces(_ report: (GRPORunEvent) throws -> Void) throws -> TraceWriter {
        if resumeFrom == nil {
            try RunFolder.claimTraces(
                db: database, runName: runName, overwrite: config.overwriteOutputDir, command: "train")
            try RunFolder.claim(
                folder: outputDir.path, files: [metricsURL.path], overwrite: config.overwriteOutputDir,
                command: "train")
        }
        let traces = try TraceWriter(path: database)
        self.traces = traces
        if let resumeFrom {
            let extra = try trainer.restore(from: resumeFrom)
            guard let run = extra["trace_run"].flatMap(Int64.init) else {
                throw RunError(message: "\(resumeFrom.path): no trace run recorded in it")
            }
            // Checkpoints written before runs had a uid are matched by the run's name alone.
            let identity = RunIdentity(name: extra["trace_run_name"] ?? runName, uid: extra["trace_run_uid"])
            try traces.resumeRun(run, identity: identity, afterStep: trainer.step)
            try report(.resumed(runName: runName, step: trainer.step, checkpoint: resumeFrom.path))
        } else {
            try traces.startRun(trainer.runInfo)
        }
        return traces
    }

    /// checkpoint-<step>: the trainer's state, the run's config and its trace run; older ones
    /// pruned to save_total_limit.
    func checkpoint(_ traces: TraceWriter, _ report: (GRPORunEvent) throws -> Void) throws -> String {
        let url = outputDir.appendingPathComponent("checkpoint-\(trainer.step)")
        var run = ["trace_run": String(traces.runID!), "trace_run_name": traces.runIdentity!.name]
        run["trace_run_uid"] = traces.runIdentity!.uid
        try trainer.save(to: url, extra: run)
        try FileManager.default.copyItem(
            atPath: outputDir.appendingPathComponent("grpo_config.json").path,
            toPath: url.appendingPathComponent("grpo_config.json").path)
        try traces.recordCheckpoint(step: trainer.step, path: url.path)
        if config.saveTotalLimit > 0 { RunFolder.pruneCheckpoints(in: outputDir, keeping: config.saveTotalLimit) }
        try report(.checkpoint(path: url.path))
        return url.path
    }

    /// Held-out accuracy on the test split, into the traces.
    func evaluate(_ traces: TraceWriter, _ report: (GRPORunEvent) throws -> Void) throws {
        let result = try Evaluation.run(
            model: model, tasks: tasks, rules: rules, limit: config.evalLimit,
            maxNewTokens: trainer.maxCompletionLength, answerRule: config.answerRule,
            maxRuleErrorShare: config.maxRuleErrorShare)
        try traces.recordEval(
            step: trainer.step, taskSet: tasks.manifest.name, split: "test", metrics: result.metrics)
        try report(
            .evaluated(
                step: trainer.step, accuracy: result.accuracy, tasks: result.tasks, taskSet: tasks.manifest.name))
    }
}
