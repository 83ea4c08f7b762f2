import ArgumentParser
import Foundation
import Policy
import RewardRules
import TaskSets
import Traces
import Kernels
import Training
import Support

struct Eval: ParsableCommand {
    static let abstract = "Held-out accuracy: greedy pass@1, sampled pass@k, per-rule pass rates, mean length."
    static let configuration = CommandConfiguration(
        abstract: abstract, discussion: tableDiscussion("eval"),
        helpNames: [])
    @Argument(parsing: .allUnrecognized, help: "Options (grpo eval --help).") var arguments: [String] = []

    func run() throws {
        guard let line = try readCommandLine(EvalConfig.options, arguments, abstract: Self.abstract) else { return }
        let cfg = try EvalConfig.load(file: line.configFile, flags: line.flags)
        let set = try TaskSet.load(cfg.taskSet)
        let ruleSet = try RuleSet.load(cfg.rules ?? set.manifest.rules)
        let model = try Checkpoint.loadModel(from: URL(fileURLWithPath: cfg.model))
        let report = try Evaluation.run(
            model: model, tasks: set, split: cfg.split, rules: ruleSet, limit: cfg.evalLimit,
            maxNewTokens: cfg.maxCompletionLength, k: cfg.k, samples: cfg.numGenerations,
            temperature: cfg.temperature, seed: cfg.seed, keepSamples: cfg.db != nil,
            prefix: cfg.prefix.replacingOccurrences(of: "\\n", with: "\n"),
            answerRule: cfg.answerRule)
        if let db = cfg.db {
            let traces = try TraceWriter(path: db)
            try traces.startRun(
                RunInfo(
                    name: cfg.runName ?? "eval \(cfg.model)", taskSet: set.manifest.name,
                    rulesName: ruleSet.name, rulesText: ruleSet.text,
                    rules: ruleSet.entries.map { RuleInfo(name: $0.name, kind: $0.kind, weight: $0.weight) },
                    system: BLASStartup.state.json))
            try traces.record(StepRecord(step: 0, groups: report.greedyGroups))
            if !report.sampledGroups.isEmpty { try traces.record(StepRecord(step: 1, groups: report.sampledGroups)) }
            try traces.recordEval(step: 0, taskSet: set.manifest.name, split: cfg.split, metrics: report.metrics)
            try traces.finish(.finished)
            Terminal(quiet: cfg.quiet).note("recorded in \(db)")
        }
        if cfg.json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
            return
        }
        print(
            String(
                format: "%@ %@: %d tasks, greedy accuracy %.3f, mean length %.1f tokens", set.manifest.name, cfg.split,
                report.tasks, report.accuracy, report.meanLength))
        print(
            "accuracy judged by "
                + (report.answerRule.map { "the answer rule \"\($0)\"" } ?? "every rule (none of an answer kind)"))
        if let p = report.passAtK, let k = report.k { print(String(format: "pass@%d %.3f", k, p)) }
        for (rule, rate) in report.rulePassRates.sorted(by: { $0.key < $1.key }) {
            print(String(format: "  %-12@ %.3f", rule, rate))
        }
    }
}
