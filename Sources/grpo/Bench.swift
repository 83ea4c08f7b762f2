import ArgumentParser
import Foundation
import Policy
import Training
import RewardRules
import Sandbox
import Traces
import TaskSets

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: the policy (default), the reward rules and the trace database.",
        subcommands: [BenchPolicy.self, BenchTrain.self, BenchRewards.self, BenchTraces.self], defaultSubcommand: BenchPolicy.self)
}

struct BenchPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Measure sampling, training and log-prob throughput on one shape.",
        discussion: "Each figure is the median of --repeats runs after a warmup. OPENBLAS_CORETYPE picks OpenBLAS's kernel; the report names it.")

    @Option var shape = "tiny"
    @Option(help: "Timed runs per figure.") var repeats = 5
    @Option(help: "Comma-separated phases: sample, train, logprob.") var only = "sample,train,logprob"
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        let phases = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let unknown = phases.subtracting(["sample", "train", "logprob"])
        guard unknown.isEmpty else { throw ValidationError("unknown phase(s): \(unknown.sorted().joined(separator: ", "))") }
        let report = try Benchmark.run(shape: shape, config: try ModelConfig.named(shape), repeats: repeats, phases: phases) {
            terminal.note("bench: \($0)")
        }
        if json {
            let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
            print(String(data: try e.encode(report), encoding: .utf8)!)
            return
        }
        func f(_ v: Double?, _ fmt: String = "%.0f") -> String { v.map { String(format: fmt, $0) } ?? "-" }
        print("shape \(report.shape): \(report.totalParams) parameters, \(report.activeParams) active; OpenBLAS \(report.blasCore)")
        print("sgemm 512^3        \(f(report.sgemmGflops)) GFLOP/s")
        print("sampling           \(f(report.sampleTokensPerS)) tokens/s (\(f(report.sampleMsPerDecodeStep, "%.2f")) ms per step)")
        print("training           \(f(report.trainTokensPerS)) tokens/s (\(f(report.trainStepS, "%.3f")) s per step, MFU \(f(report.trainMfu.map { $0 * 100 }, "%.1f"))%)")
        print("log-prob forward   \(f(report.logprobTokensPerS)) tokens/s")
        print("peak RSS           \(f(report.peakRssMb)) MB")
    }
}

struct BenchRewards: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewards",
        abstract: "Measure reward-rule throughput: format checks (regex), math verifications, sandboxed programs.")
    @Option(help: "Timed rounds per figure (the median is reported).") var rounds = 5
    @Option(help: "Sandboxed programs run at once.") var concurrency = 4
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let regex = try RewardBenchmark.regexPerSecond(rounds: rounds)
        let math = (0..<rounds).map { _ in MathRule.benchmark(seconds: 1) }.sorted()[rounds / 2]
        let code = (0..<3).map { _ in Sandbox.benchmark(programs: 150, concurrency: concurrency) }.sorted()[1]
        // Again beside a GRPO trainer's working set (one `grpo bench train` step resident), as
        // the code rule runs during training: the sandbox forks, and forks copy page tables.
        let trainer = try GRPOBenchmark.residentTrainer(tasks: try TaskSet.load("arith"), rules: try RuleSet.load("math-answer"))
        let beside = withExtendedLifetime(trainer) {
            (0..<3).map { _ in Sandbox.benchmark(programs: 150, concurrency: concurrency) }.sorted()[1]
        }
        let report: [String: Double] = ["regex_per_s": regex, "math_per_s": math, "code_per_s": code,
                                        "code_per_s_beside_trainer": beside, "resident_mb": Benchmark.residentMegabytes()]
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
        } else {
            for (k, v) in report.sorted(by: { $0.key < $1.key }) { print(String(format: "%-14@ %12.0f", k, v)) }
        }
    }
}

struct BenchTraces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traces",
        abstract: "Measure trace writing (samples/s, 3 rule scores each) and the `grpo traces samples` filters on a large database.",
        discussion: "Writes --samples synthetic samples (steps of 64 groups x 16) into --db, then times each filter (median of --repeats). query_ms_1m is the slowest filter's median.")
    @Option(help: "Samples to write.") var samples = 1_000_000
    @Option(help: "Database to (re)create; deleted afterwards unless --keep.") var db = "runs/bench-traces.sqlite"
    @Option(help: "Timed runs of each filter.") var repeats = 5
    @Flag(help: "Keep the database (to try `grpo traces` on it).") var keep = false
    @Flag(help: "Only write; time no filter.") var writeOnly = false
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        let start = Date()
        let report = try TraceBenchmark.run(path: db, samples: samples, repeats: repeats, queries: !writeOnly) { written, rate in
            let eta = Double(samples - written) / max(rate, 1)
            terminal.progress(String(format: "traces: %d/%d samples written, %.0f samples/s, ETA %@", written, samples, rate, formatDuration(eta)))
        }
        terminal.note(String(format: "traces: %d samples in %.1f s, database %.0f MB", report.samples, Date().timeIntervalSince(start), report.databaseMB))
        if !keep { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
            return
        }
        print(String(format: "write_samples_per_s   %10.0f", report.writeSamplesPerS))
        for (name, ms) in report.queryMs.sorted(by: { $0.key < $1.key }) { print(String(format: "query %-24@ %8.2f ms", name, ms)) }
        if let worst = report.queryMs1m { print(String(format: "query_ms_1m (slowest)  %9.2f ms on %d samples", worst, report.samples)) }
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time one GRPO step: 8 prompts x 8 completions, up to 64 new tokens, beta 0.04, one update, exact-match reward.",
        discussion: "A random policy of --shape on arith's prompts with the math-answer rule set; medians of --repeats steps after a warmup. logprob_s is the reference model's forward; train_s the rest of the update.")
    @Option var shape = "tiny"
    @Option(help: "Timed steps.") var repeats = 5
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        let report = try GRPOBenchmark.run(shape: shape, tasks: try TaskSet.load("arith"), rules: try RuleSet.load("math-answer"),
                                           repeats: repeats) { terminal.note("bench train: \($0)") }
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
            return
        }
        print(String(format: "GRPO step (%@): %.3f s = sampling %.3f + scoring %.3f + reference log-probs %.3f + training %.3f; max log-prob mismatch %.2g; peak RSS %.0f MB",
                     report.shape, report.stepS, report.sampleS, report.scoreS, report.logprobS, report.trainS, report.logprobMismatchMax, report.peakRssMb))
    }
}
