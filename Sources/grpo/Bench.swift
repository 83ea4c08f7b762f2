import ArgumentParser
import Foundation
import Policy
import Training
import RewardRules
import Sandbox

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: the policy (default) and the reward rules.",
        subcommands: [BenchPolicy.self, BenchRewards.self], defaultSubcommand: BenchPolicy.self)
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
        let report: [String: Double] = ["regex_per_s": regex, "math_per_s": math, "code_per_s": code]
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(report), as: UTF8.self))
        } else {
            for (k, v) in report.sorted(by: { $0.key < $1.key }) { print(String(format: "%-14@ %12.0f", k, v)) }
        }
    }
}
