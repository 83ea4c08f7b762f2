import ArgumentParser
import Foundation
import Kernels
import Policy
import RewardRules
import TaskSets
import Traces
import Training

struct Train: ParsableCommand {
    static let abstract = "GRPO: sample groups, score them with the rules, update the policy, record every sample."
    static let configuration = CommandConfiguration(
        abstract: abstract, discussion: tableDiscussion("train"),
        helpNames: [])
    @Argument(parsing: .allUnrecognized, help: "Options (grpo train --help).") var arguments: [String] = []

    func run() throws {
        let table = GRPOConfig.options
        guard let line = try readCommandLine(table, arguments, abstract: Self.abstract) else { return }
        // A resumed run reads its saved config first (unless --config names another); flags still win.
        let asked = try table.read(file: nil, flags: line.flags).config
        let resumeURL = asked.resumeFromCheckpoint.map { URL(fileURLWithPath: $0) }
        var file = line.configFile
        if let resumeURL, file == nil {
            let saved = resumeURL.appendingPathComponent("grpo_config.json").path
            guard FileManager.default.fileExists(atPath: saved) else {
                throw ValidationError("\(saved): no such file (was \(resumeURL.path) written by grpo train?)")
            }
            file = saved
        }
        let cfg = try GRPOConfig.load(file: file, flags: line.flags)
        if resumeURL != nil && cfg.overwriteOutputDir {
            throw ValidationError(
                "--resume_from_checkpoint continues a run, --overwrite_output_dir replaces it: "
                    + "give one")
        }
        let terminal = Terminal(quiet: cfg.quiet)
        let tasks = try TaskSet.load(cfg.taskSet)
        var rules = try RuleSet.load(cfg.rules ?? tasks.manifest.rules)
        if let weights = cfg.rewardWeights { rules = try weights.applied(to: rules, file: file ?? "flags") }
        // A resumed run takes its weights from the checkpoint; `model` stays the policy it
        // started from, which is the KL term's reference.
        let model = try Checkpoint.loadModel(from: resumeURL ?? URL(fileURLWithPath: cfg.model))
        let reference =
            resumeURL != nil && cfg.beta > 0 ? try Checkpoint.loadModel(from: URL(fileURLWithPath: cfg.model)) : nil
        let trainer = try GRPOTrainer(config: cfg, model: model, reference: reference, tasks: tasks, rules: rules)
        for warning in trainer.warnings { terminal.note("warning: \(warning)") }
        let runName = cfg.runName ?? "\(tasks.manifest.name)-grpo"
        let outputDir = URL(fileURLWithPath: cfg.outputDir ?? "runs/\(runName)")
        let database = cfg.db ?? "runs/\(runName).sqlite"
        let metricsURL = URL(
            fileURLWithPath: String(database.dropLast((database as NSString).pathExtension.count + 1))
                + ".metrics.jsonl")
        if resumeURL == nil {
            // Never over an earlier run: refused, or (overwrite_output_dir) removed first.
            try RunFolder.claimTraces(
                db: database, runName: runName, overwrite: cfg.overwriteOutputDir,
                command: "train")
            try RunFolder.claim(
                folder: outputDir.path, files: [metricsURL.path], overwrite: cfg.overwriteOutputDir,
                command: "train")
        }
        let traces = try TraceWriter(path: database)
        if let resumeURL {
            let extra = try trainer.restore(from: resumeURL)
            guard let run = extra["trace_run"].flatMap(Int64.init) else {
                throw ValidationError("\(resumeURL.path): no trace run recorded in it")
            }
            // Checkpoints written before runs had a uid are matched by the run's name alone.
            let identity = RunIdentity(name: extra["trace_run_name"] ?? runName, uid: extra["trace_run_uid"])
            try traces.resumeRun(run, identity: identity, afterStep: trainer.step)
            terminal.note("resumed \(runName) at step \(trainer.step) from \(resumeURL.path)")
        } else {
            try traces.startRun(trainer.runInfo)
        }
        try FileManager.default.createDirectory(at: outputDir, withIntermediateDirectories: true)
        for stale in Checkpoint.removeStaleTemporaries(in: outputDir) {
            terminal.note("removed \(stale.path), left by a save that was killed midway")
        }
        try AtomicFile.write(
            String(decoding: try JSONEncoder.sorted.encode(cfg), as: UTF8.self),
            to: outputDir.appendingPathComponent("grpo_config.json"))
        try recordSystem(in: outputDir)
        let metricsFile = try MetricsFile(url: metricsURL, afterStep: trainer.step)
        Interrupt.shared.install(terminal) {
            // A second Ctrl-C exits at once: the run is still marked, not left "running".
            try? traces.finish(.interrupted, error: "interrupted twice: stopped without a checkpoint")
        }

        var lastCheckpoint = ""
        func checkpoint() throws {
            let url = outputDir.appendingPathComponent("checkpoint-\(trainer.step)")
            var run = ["trace_run": String(traces.runID!), "trace_run_name": traces.runIdentity!.name]
            run["trace_run_uid"] = traces.runIdentity!.uid
            try trainer.save(to: url, extra: run)
            try FileManager.default.copyItem(
                atPath: outputDir.appendingPathComponent("grpo_config.json").path,
                toPath: url.appendingPathComponent("grpo_config.json").path)
            try traces.recordCheckpoint(step: trainer.step, path: url.path)
            if cfg.saveTotalLimit > 0 { RunFolder.pruneCheckpoints(in: outputDir, keeping: cfg.saveTotalLimit) }
            lastCheckpoint = url.path
            terminal.note("checkpoint: \(url.path)")
        }
        func evaluate() throws {
            let report = try Evaluation.run(
                model: model, tasks: tasks, rules: rules, limit: cfg.evalLimit,
                maxNewTokens: trainer.maxCompletionLength, answerRule: cfg.answerRule,
                maxRuleErrorShare: cfg.maxRuleErrorShare)
            try traces.recordEval(
                step: trainer.step, taskSet: tasks.manifest.name, split: "test", metrics: report.metrics)
            terminal.note(
                String(
                    format: "eval step %d: accuracy %.3f on %d %@ test tasks", trainer.step, report.accuracy,
                    report.tasks, tasks.manifest.name))
        }

        let start = Date()
        let firstStep = trainer.step
        // Ctrl-C ends the loop between steps; the run then stops short of max_steps.
        var interrupted: Bool { trainer.step < cfg.maxSteps }
        do {
            while trainer.step < cfg.maxSteps && !Interrupt.shared.requested {
                let (report, record) = try trainer.trainStep()
                try traces.record(record)
                try metricsFile.append(step: report.step, metrics: report.metrics)
                let logged =
                    report.step % cfg.loggingSteps == 0 || report.step == cfg.maxSteps
                    || report.step == firstStep + 1
                if cfg.json && logged { print(metricsLine(report)) }
                for e in report.newErrors {
                    terminal.note(
                        "rule \"\(e.rule)\" failed to score \(e.errors) of \(e.scored) samples at step "
                            + "\(report.step) (its first error, shown once): \(e.firstMessage ?? "")")
                }
                if report.step == 1 && cfg.numIterations == 1 {
                    terminal.note(
                        "note: with num_iterations = 1 the ratio is exactly 1 and each group's advantages sum to 0, so the loss is about 0; its gradient is still the policy gradient"
                    )
                }
                let rate = Date().timeIntervalSince(start) / Double(trainer.step - firstStep)
                if logged { terminal.progress(progressLine(report, maxSteps: cfg.maxSteps, secondsPerStep: rate)) }
                if trainer.step % cfg.saveSteps == 0 && trainer.step < cfg.maxSteps { try checkpoint() }
                if cfg.evalSteps > 0 && trainer.step % cfg.evalSteps == 0 && trainer.step < cfg.maxSteps {
                    try evaluate()
                }
            }
            try checkpoint()
            // An interrupted run has no final model: its checkpoint is where --resume_from_checkpoint continues.
            if !interrupted {
                try Checkpoint.save(to: outputDir.appendingPathComponent("final"), model: model)
                try evaluate()
            }
            try traces.finish(interrupted ? .interrupted : .finished)
        } catch {
            try? traces.finish(.failed, error: "\(error)")
            throw error
        }
        let plots = outputDir.appendingPathComponent("plots")
        try RunPlots.write(from: TraceReader(path: database), run: traces.runID!, to: plots)
        terminal.note("plots: \(plots.path)")
        if interrupted {
            terminal.note(
                "interrupted at step \(trainer.step) of \(cfg.maxSteps); checkpoint: \(lastCheckpoint); "
                    + "continue with: grpo train --resume_from_checkpoint \(lastCheckpoint)")
            throw ExitCode(130)
        }
        terminal.note(
            "done: \(trainer.step) steps in \(formatDuration(Date().timeIntervalSince(start))); traces: \(database); model: \(outputDir.appendingPathComponent("final").path)"
        )
    }

    func progressLine(_ r: GRPOStepReport, maxSteps: Int, secondsPerStep: Double) -> String {
        let m = r.metrics
        var parts = [
            String(format: "step %d/%d", r.step, maxSteps), String(format: "%.2f s/step", secondsPerStep),
            "ETA " + formatDuration(secondsPerStep * Double(maxSteps - r.step)),
            String(format: "reward %.3f", m.rewardMean ?? .nan),
        ]
        parts += r.rulePassRates.map { rate in
            let errors = r.errors(of: rate.rule)
            return String(format: "%@ %.0f%%", rate.rule, rate.rate * 100) + (errors > 0 ? " (\(errors) err)" : "")
        }
        if let kl = m.kl { parts.append(String(format: "kl %.4f", kl)) }
        parts.append(String(format: "clip %.3f", (m.clipFracLow ?? 0) + (m.clipFracHigh ?? 0)))
        parts.append(String(format: "len %.0f", m.completionLenMean ?? 0))
        return parts.joined(separator: "  ")
    }

    func metricsLine(_ r: GRPOStepReport) -> String { "{\"step\":\(r.step),\"metrics\":\(r.metrics.json)}" }
}

/// `<run>.metrics.jsonl`: a JSON line a step. On resume, the lines after the checkpoint's
/// step are dropped first, so the file holds each step once.
final class MetricsFile {
    let handle: FileHandle
    init(url: URL, afterStep: Int) throws {
        let old = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let kept = old.split(separator: "\n").filter { line in
            guard let data = line.data(using: .utf8),
                let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let step = obj["step"] as? Int
            else { return false }
            return step <= afterStep
        }
        try AtomicFile.write(kept.map { $0 + "\n" }.joined(), to: url)
        handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
    }
    func append(step: Int, metrics: StepMetrics) throws {
        try handle.write(contentsOf: Data("{\"step\":\(step),\"metrics\":\(metrics.json)}\n".utf8))
    }
}
