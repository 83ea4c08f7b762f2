import ArgumentParser
import Foundation
import Kernels
import Policy
import RewardRules
import TaskSets
import Traces
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GRPO: sample groups, score them with the rules, update the policy, record every sample.",
        discussion: """
            Options are TRL GRPOConfig's, from --config FILE (YAML) and/or flags, which win: \
            grpo train --config grpo.yaml --learning_rate 1e-5 --max-steps 50

            Required: model (a checkpoint folder) and task_set. Writes checkpoints to output_dir \
            (default runs/<run_name>), the traces to runs/<run_name>.sqlite and a metrics JSON \
            line a step beside them. --resume DIR continues from a checkpoint.
            """)
    @Option(help: "YAML file of GRPOConfig options.") var config: String?
    @Option(help: "A checkpoint folder of a run to continue (its config is reused; flags still win).") var resume: String?
    @Option(help: "Trace database (default: runs/<run_name>.sqlite).") var db: String?
    @Flag(help: "No progress line.") var quiet = false
    @Flag(help: "Print each step's metrics as a JSON line on standard output.") var json = false
    @Argument(parsing: .allUnrecognized, help: "GRPOConfig options as flags: --learning_rate 1e-5, --loss-type dr_grpo, ...")
    var options: [String] = []

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        let overrides = try Self.pairs(options)
        let resumeURL = resume.map { URL(fileURLWithPath: $0) }
        var file = config
        if let resumeURL, config == nil {
            let saved = resumeURL.appendingPathComponent("grpo_config.json").path
            guard FileManager.default.fileExists(atPath: saved) else { throw ValidationError("\(saved): no such file (was \(resumeURL.path) written by grpo train?)") }
            file = saved
        }
        let cfg = try GRPOConfig.load(file: file, overrides: overrides)
        let tasks = try TaskSet.load(cfg.taskSet)
        let rules = try RuleSet.load(cfg.rules ?? tasks.manifest.rules)
        // A resumed run takes its weights from the checkpoint; `model` stays the policy it
        // started from, which is the KL term's reference.
        let model = try Checkpoint.loadModel(from: resumeURL ?? URL(fileURLWithPath: cfg.model))
        let reference = resumeURL != nil && cfg.beta > 0 ? try Checkpoint.loadModel(from: URL(fileURLWithPath: cfg.model)) : nil
        let trainer = try GRPOTrainer(config: cfg, model: model, reference: reference, tasks: tasks, rules: rules)
        for warning in trainer.warnings { terminal.note("warning: \(warning)") }
        let runName = cfg.runName ?? "\(tasks.manifest.name)-grpo"
        let outputDir = URL(fileURLWithPath: cfg.outputDir ?? "runs/\(runName)")
        let database = db ?? "runs/\(runName).sqlite"
        let traces = try TraceWriter(path: database)
        if let resumeURL {
            let extra = try trainer.restore(from: resumeURL)
            guard let run = extra["trace_run"].flatMap(Int64.init) else { throw ValidationError("\(resumeURL.path): no trace run recorded in it") }
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
        try AtomicFile.write(String(decoding: try JSONEncoder.sorted.encode(cfg), as: UTF8.self), to: outputDir.appendingPathComponent("grpo_config.json"))
        try recordSystem(in: outputDir)
        let metricsURL = URL(fileURLWithPath: String(database.dropLast((database as NSString).pathExtension.count + 1)) + ".metrics.jsonl")
        let metricsFile = try MetricsFile(url: metricsURL, afterStep: trainer.step)
        Interrupt.shared.install(terminal) {
            // A second Ctrl-C exits at once: the run is still marked, not left "running".
            try? traces.finish(.interrupted, error: "interrupted twice: stopped without a checkpoint")
        }

        func checkpoint() throws {
            let url = outputDir.appendingPathComponent("checkpoint-\(trainer.step)")
            var run = ["trace_run": String(traces.runID!), "trace_run_name": traces.runIdentity!.name]
            run["trace_run_uid"] = traces.runIdentity!.uid
            try trainer.save(to: url, extra: run)
            try FileManager.default.copyItem(atPath: outputDir.appendingPathComponent("grpo_config.json").path,
                                             toPath: url.appendingPathComponent("grpo_config.json").path)
            try traces.recordCheckpoint(step: trainer.step, path: url.path)
            terminal.note("checkpoint: \(url.path)")
        }
        func evaluate() throws {
            let report = try Evaluation.run(model: model, tasks: tasks, rules: rules, limit: cfg.evalLimit,
                                            maxNewTokens: trainer.maxCompletionLength, answerRule: cfg.answerRule,
                                            maxRuleErrorShare: cfg.maxRuleErrorShare)
            try traces.recordEval(step: trainer.step, taskSet: tasks.manifest.name, split: "test", metrics: report.metrics)
            terminal.note(String(format: "eval step %d: accuracy %.3f on %d %@ test tasks", trainer.step, report.accuracy, report.tasks, tasks.manifest.name))
        }

        let start = Date(), firstStep = trainer.step
        do {
            while trainer.step < cfg.maxSteps && !Interrupt.shared.requested {
                let (report, record) = try trainer.trainStep()
                try traces.record(record)
                try metricsFile.append(step: report.step, metrics: report.metrics)
                if json { print(metricsLine(report)) }
                for e in report.newErrors {
                    terminal.note("rule \"\(e.rule)\" failed to score \(e.errors) of \(e.scored) samples at step "
                                  + "\(report.step) (its first error, shown once): \(e.firstMessage ?? "")")
                }
                if report.step == 1 && cfg.numIterations == 1 {
                    terminal.note("note: with num_iterations = 1 the ratio is exactly 1 and each group's advantages sum to 0, so the loss is about 0; its gradient is still the policy gradient")
                }
                let rate = Date().timeIntervalSince(start) / Double(trainer.step - firstStep)
                terminal.progress(progressLine(report, maxSteps: cfg.maxSteps, secondsPerStep: rate))
                if trainer.step % cfg.saveSteps == 0 && trainer.step < cfg.maxSteps { try checkpoint() }
                if cfg.evalSteps > 0 && trainer.step % cfg.evalSteps == 0 && trainer.step < cfg.maxSteps { try evaluate() }
            }
            try checkpoint()
            try Checkpoint.save(to: outputDir.appendingPathComponent("final"), model: model)
            if !Interrupt.shared.requested { try evaluate() }
            try traces.finish(Interrupt.shared.requested ? .interrupted : .finished)
        } catch {
            try? traces.finish(.failed, error: "\(error)")
            throw error
        }
        let plots = outputDir.appendingPathComponent("plots")
        try RunPlots.write(from: TraceReader(path: database), run: traces.runID!, to: plots)
        terminal.note("plots: \(plots.path)")
        terminal.note("done: \(trainer.step) steps in \(formatDuration(Date().timeIntervalSince(start))); traces: \(database); model: \(outputDir.appendingPathComponent("final").path)")
    }

    /// `--key value`, `--key=value` and `--flag` (true) pairs from the unrecognized arguments.
    static func pairs(_ args: [String]) throws -> [(String, String)] {
        var out: [(String, String)] = []
        var i = 0
        while i < args.count {
            guard args[i].hasPrefix("--"), args[i].count > 2 else { throw ValidationError("unexpected argument \"\(args[i])\" (options are --name value)") }
            let body = String(args[i].dropFirst(2))
            if let eq = body.firstIndex(of: "=") {
                out.append((String(body[..<eq]), String(body[body.index(after: eq)...]))); i += 1
            } else if i + 1 < args.count && !args[i + 1].hasPrefix("--") {
                out.append((body, args[i + 1])); i += 2
            } else {
                out.append((body, "true")); i += 1
            }
        }
        return out
    }

    func progressLine(_ r: GRPOStepReport, maxSteps: Int, secondsPerStep: Double) -> String {
        let m = r.metrics
        var parts = [String(format: "step %d/%d", r.step, maxSteps), String(format: "%.2f s/step", secondsPerStep),
                     "ETA " + formatDuration(secondsPerStep * Double(maxSteps - r.step)),
                     String(format: "reward %.3f", m.rewardMean ?? .nan)]
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
            guard let data = line.data(using: .utf8), let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let step = obj["step"] as? Int else { return false }
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

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Held-out accuracy: greedy pass@1, sampled pass@k, per-rule pass rates, mean length.")
    @Option(help: "Checkpoint folder.") var checkpoint: String
    @Option(help: "Task set (name under Tasks/ or folder).") var tasks: String
    @Option var split = "test"
    @Option(help: "Rule set (default: the task set's).") var rules: String?
    @Option(name: [.customLong("answer_rule"), .customLong("answer-rule")],
            help: ArgumentHelp("The rule whose full marks count as solved (default: the task set's answer_rule, "
                               + "else the rule set's one answer rule)."))
    var answerRule: String?
    @Option(name: .short, help: "Also sample this many completions a task for pass@k (0: greedy only).") var k = 0
    @Option(name: .short, help: "Completions sampled a task for pass@k (default k).") var n = 0
    @Option(help: "Evaluate the first N tasks (0: all).") var limit = 0
    @Option(help: "Sampling temperature for pass@k.") var temperature: Float = 1
    @Option(help: ArgumentHelp("Text every completion must start with: the policy continues it, the rules "
                               + "score both (to measure one answering style on its own, e.g. '```python\\n')."))
    var prefix = ""
    @Option(help: "Also record the result in this trace database: a run named \"eval CHECKPOINT\" with the metrics, every greedy completion as step 0 and the pass@k samples as step 1, for `grpo traces`.") var db: String?
    @Flag var json = false

    func run() throws {
        let set = try TaskSet.load(tasks)
        let ruleSet = try RuleSet.load(rules ?? set.manifest.rules)
        let model = try Checkpoint.loadModel(from: URL(fileURLWithPath: checkpoint))
        let report = try Evaluation.run(model: model, tasks: set, split: split, rules: ruleSet, limit: limit, k: k, samples: n,
                                        temperature: temperature, keepSamples: db != nil,
                                        prefix: prefix.replacingOccurrences(of: "\\n", with: "\n"),
                                        answerRule: answerRule)
        if let db {
            let traces = try TraceWriter(path: db)
            try traces.startRun(RunInfo(name: "eval \(checkpoint)", taskSet: set.manifest.name, rulesName: ruleSet.name, rulesText: ruleSet.text,
                                        rules: ruleSet.entries.map { RuleInfo(name: $0.name, kind: $0.kind, weight: $0.weight) }))
            try traces.record(StepRecord(step: 0, groups: report.greedyGroups))
            if !report.sampledGroups.isEmpty { try traces.record(StepRecord(step: 1, groups: report.sampledGroups)) }
            try traces.recordEval(step: 0, taskSet: set.manifest.name, split: split, metrics: report.metrics)
            try traces.finish(.finished)
        }
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
            return
        }
        print(String(format: "%@ %@: %d tasks, greedy accuracy %.3f, mean length %.1f tokens", set.manifest.name, split, report.tasks,
                     report.accuracy, report.meanLength))
        print("accuracy judged by "
              + (report.answerRule.map { "the answer rule \"\($0)\"" } ?? "every rule (none of an answer kind)"))
        if let p = report.passAtK, let k = report.k { print(String(format: "pass@%d %.3f", k, p)) }
        for (rule, rate) in report.rulePassRates.sorted(by: { $0.key < $1.key }) { print(String(format: "  %-12@ %.3f", rule, rate)) }
    }
}
