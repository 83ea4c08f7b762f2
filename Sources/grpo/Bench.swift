import ArgumentParser
import Foundation
import Policy
import Kernels
import Training
import RewardRules
import Sandbox
import Traces
import TaskSets
import Support

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: the policy (default), the rules, the trace database, the reward server, the viewer.",
        subcommands: [
            BenchPolicy.self, BenchTrain.self, BenchSpeculative.self, BenchRewards.self, BenchSandbox.self,
            BenchTraces.self, BenchServe.self, BenchViewer.self,
        ],
        defaultSubcommand: BenchPolicy.self)
}

struct BenchPolicy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Measure sampling, training and log-prob throughput on one shape.",
        discussion: """
            Each figure is the median of --repeats runs after a warmup. The report names the OpenBLAS kernel \
            (see `grpo blas`). train_mfu is measured against the best rate of the training step's own products, \
            each timed alone. --context N runs sequences of N tokens (training and log-probs on about 8,192 \
            tokens a batch, sampling 64 tokens after a prompt of N - 64). --scaling runs the toy, tiny and small \
            shapes and the tiny shape at contexts 128, 512 and 2,048, each in its own process (so each peak RSS \
            is its own), and prints the table.
            """)

    @Option var shape = "tiny"
    @Option(help: "Sequence length (tokens) of every phase; default: the standard workload (16 + 64, 80).")
    var context: Int?
    @Option(help: "Timed runs per figure.") var repeats = 5
    @Option(help: "Comma-separated phases: sample, train, logprob.") var only = "sample,train,logprob"
    @Flag(help: "Shapes toy, tiny, small and contexts 128, 512, 2048, each in a child process.") var scaling = false
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func validate() throws {
        if let context, context <= 64 { throw ValidationError("--context must exceed the 64 sampled tokens") }
    }

    func run() throws {
        if scaling { return try runScaling() }
        let terminal = Terminal(quiet: quiet)
        let phases = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        let unknown = phases.subtracting(["sample", "train", "logprob"])
        guard unknown.isEmpty else {
            throw ValidationError("unknown phase(s): \(unknown.sorted().joined(separator: ", "))")
        }
        let workload = context.map { Benchmark.Workload(context: $0) } ?? Benchmark.Workload()
        let report = try Benchmark.run(
            shape: shape, config: try ModelConfig.named(shape), repeats: repeats,
            workload: workload, context: context, phases: phases
        ) {
            terminal.note("bench: \($0)")
        }
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
            return
        }
        func f(_ v: Double?, _ fmt: String = "%.0f") -> String { v.map { String(format: fmt, $0) } ?? "-" }
        print(
            "shape \(report.shape)\(context.map { " at context \($0)" } ?? ""): \(report.totalParams) parameters, "
                + "\(report.activeParams) active; OpenBLAS \(report.blasCore) (\(report.blasSelection)), \(report.cpu)")
        print("sgemm 512^3        \(f(report.sgemmGflops)) GFLOP/s")
        if let best = report.sgemmBestGflops {
            print("sgemm best         \(f(best)) GFLOP/s on the step's \(report.sgemmBestShape ?? "?") product")
        }
        print(
            "sampling           \(f(report.sampleTokensPerS)) tokens/s "
                + "(\(f(report.sampleMsPerDecodeStep, "%.2f")) ms per step; KV cache "
                + "\(report.kvCacheBytesPerToken) bytes per token)")
        print(
            "training           \(f(report.trainTokensPerS)) tokens/s (\(f(report.trainStepS, "%.3f")) s per step, "
                + "MFU \(f(report.trainMfu.map { $0 * 100 }, "%.1f"))%)")
        print("log-prob forward   \(f(report.logprobTokensPerS)) tokens/s")
        print("peak RSS           \(f(report.peakRssMb)) MB")
    }

    /// Each configuration in a child process of this binary, so that peak memory is its own.
    func runScaling() throws {
        let terminal = Terminal(quiet: quiet)
        guard let exe = RunningProgram.path() else { throw ValidationError("cannot find this program's file") }
        let configurations: [(shape: String, context: Int?)] = [
            ("toy", nil), ("tiny", nil), ("small", nil), ("tiny", 128), ("tiny", 512), ("tiny", 2048),
        ]
        var reports: [BenchmarkReport] = []
        for (i, c) in configurations.enumerated() {
            terminal.progress(
                "bench scaling \(i + 1)/\(configurations.count): \(c.shape)"
                    + (c.context.map { " at context \($0)" } ?? ""))
            var args = [
                "bench", "policy", "--shape", c.shape, "--repeats", String(repeats), "--only", only,
                "--json", "--quiet",
            ]
            if let context = c.context { args += ["--context", String(context)] }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw ValidationError("grpo \(args.joined(separator: " ")) exited with \(p.terminationStatus)")
            }
            reports.append(try JSONDecoder().decode(BenchmarkReport.self, from: data))
        }
        terminal.note("bench scaling: \(configurations.count) configurations")
        if json {
            struct Scaling: Encodable { var scaling: [BenchmarkReport] }
            print(String(decoding: try JSONEncoder.sortedKeys.encode(Scaling(scaling: reports)), as: UTF8.self))
            return
        }
        func f(_ v: Double?, _ fmt: String = "%.0f") -> String { v.map { String(format: fmt, $0) } ?? "-" }
        print("shape  context  active params  sample tok/s  train tok/s  logprob tok/s  train MFU  peak RSS MB")
        for r in reports {
            let context = r.context.map(String.init) ?? "80"
            print(
                r.shape.padding(toLength: 7, withPad: " ", startingAt: 0)
                    + context.leftPadded(7) + String(r.activeParams).leftPadded(15)
                    + f(r.sampleTokensPerS).leftPadded(14) + f(r.trainTokensPerS).leftPadded(13)
                    + f(r.logprobTokensPerS).leftPadded(15) + f(r.trainMfu, "%.2f").leftPadded(11)
                    + f(r.peakRssMb).leftPadded(13))
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
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
        let trainer = try GRPOBenchmark.residentTrainer(
            tasks: try TaskSet.load("arith"), rules: try RuleSet.load("math-answer"))
        let beside = withExtendedLifetime(trainer) {
            (0..<3).map { _ in Sandbox.benchmark(programs: 150, concurrency: concurrency) }.sorted()[1]
        }
        let report: [String: Double] = [
            "regex_per_s": regex, "math_per_s": math, "code_per_s": code,
            "code_per_s_beside_trainer": beside, "resident_mb": Benchmark.residentMegabytes(),
        ]
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
        } else {
            for (k, v) in report.sorted(by: { $0.key < $1.key }) { print(String(format: "%-14@ %12.0f", k, v)) }
        }
    }
}

struct BenchSandbox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "The sandbox under load: completions scored by the code rule, a share hostile, and what is left.",
        discussion: """
            Honest completions are the reference solutions of --tasks; hostile ones cycle through every program \
            of --corpus (each family of the threat model). Each round reports honest programs scored right, \
            hostile ones scored 0, what was left on the host (processes, IPC objects, keys, files, cgroups, \
            loopback connections, a killed canary process) and the wall time; the last line is the median of \
            the rounds' times. Run it from the repository (the corpus is Tests/SandboxTests/Hostile).
            """)
    @Option(help: "Completions per round.") var completions = 5000
    @Option(help: "Share of them hostile.") var hostileFraction = 0.2
    @Option(help: "Honest completions per task, as in a GRPO group (its tests are planned once).")
    var groupSize = 8
    @Option(help: "Runs at once.") var concurrency = 8
    @Option(help: "Rounds (the median time is reported).") var rounds = 3
    @Option(help: "CPU seconds per process.") var cpuSeconds = 1
    @Option(help: "Wall-clock seconds per run.") var wallSeconds = 2.0
    @Option(help: "Memory per run (MB).") var memoryMb = 256
    @Option(help: "Comma-separated code task sets whose reference solutions are the honest completions.")
    var tasks = "python-basics,linear-code"
    @Option(help: "Folder of hostile programs.") var corpus = "Tests/SandboxTests/Hostile"
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func validate() throws {
        guard completions > 0, rounds > 0, concurrency > 0, groupSize > 0, cpuSeconds > 0, wallSeconds > 0,
            memoryMb >= 64
        else {
            throw ValidationError(
                "--completions, --rounds, --concurrency, --group-size, --cpu-seconds and "
                    + "--wall-seconds must be positive and --memory-mb at least 64")
        }
        guard (0...1).contains(hostileFraction) else { throw ValidationError("--hostile-fraction must be in 0...1") }
    }

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        var honest: [(completion: String, task: RewardTask)] = []
        for name in tasks.split(separator: ",") {
            let set = try TaskSet.load(String(name))
            for t in set.train + set.test {
                guard let solution = t.solution else { continue }
                var task = t.rewardTask(kind: "code")
                task.rawCompletion = true
                honest.append((solution, task))
            }
        }
        guard !honest.isEmpty else { throw ValidationError("--tasks: no reference solutions in \(tasks)") }
        let hostile = try SandboxLoad.corpus(at: URL(fileURLWithPath: corpus))
        var limits = SandboxLimits()
        limits.cpuSeconds = cpuSeconds
        limits.wallSeconds = wallSeconds
        limits.memoryMB = memoryMb
        var reports: [SandboxLoad.Report] = []
        for round in 1...rounds {
            // The programs' target: outside /tmp (the sandbox has its own), world-writable, ours.
            let canary = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
                .appendingPathComponent("runs/sandbox-bench-canary-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: canary, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: canary) }
            try AtomicFile.write("canary\n", to: canary.appendingPathComponent("sentinel"))
            chmod(canary.path, 0o777)
            chmod(canary.appendingPathComponent("sentinel").path, 0o666)
            terminal.progress("round \(round)/\(rounds): \(completions) completions")
            let r = try SandboxLoad.run(
                honest: honest, hostile: hostile, completions: completions,
                hostileFraction: hostileFraction, groupSize: groupSize, limits: limits,
                concurrency: concurrency,
                canary: canary)
            reports.append(r)
            if !json {
                terminal.note("")
                print(
                    String(
                        format: "round %d: %d/%d honest right, %d/%d hostile scored 0, left: %d processes, "
                            + "%d IPC objects, %d keys, %d files, %d cgroups, %d loopback connections, canary "
                            + "process %@; %.1f s (%.0f per second), %.0f CPU seconds",
                        round, r.honestRight, r.honest, r.hostileZero, r.hostile, r.leftoverProcesses,
                        r.leftoverIPCObjects, r.leftoverKeys, r.leftoverFiles, r.leftoverCgroups,
                        r.loopbackConnections, r.canaryProcessAlive ? "alive" : "KILLED", r.seconds, r.perSecond,
                        r.cpuSeconds))
                for e in r.honestWrongExamples { print("  honest not right: \(e)") }
                for e in r.hostileScoredExamples { print("  hostile scored: \(e)") }
            }
        }
        let median = reports.map(\.seconds).sorted()[reports.count / 2]
        let cpu = BenchSandbox.cpuModel()
        if json {
            struct Out: Encodable {
                var rounds: [SandboxLoad.Report]
                var medianSeconds: Double
                var cpu: String
            }
            print(
                String(
                    decoding: try JSONEncoder.sortedKeys.encode(Out(rounds: reports, medianSeconds: median, cpu: cpu)),
                    as: UTF8.self))
            return
        }
        print("limits: \(reports[0].limits); \(hostile.count) hostile programs, \(honest.count) honest ones")
        print("whole-run limits: \(reports[0].runLimitMode)")
        print(String(format: "median of %d rounds: %.1f s for %d completions on %@", rounds, median, completions, cpu))
    }
}

extension BenchSandbox {
    /// "<N> x <model name>" from /proc/cpuinfo (what `lscpu` shows).
    static func cpuModel() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let lines = info.split(separator: "\n")
        let model =
            lines.first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
        return "\(lines.filter { $0.hasPrefix("processor") }.count) x \(model)"
    }
}

struct BenchTraces: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traces",
        abstract:
            "Measure trace writing (samples/s, 3 rule scores each) and the `grpo traces samples` filters on a large "
            + "database.",
        discussion:
            "Writes --samples synthetic samples (steps of 64 groups x 16) into --db, then times each filter (median "
            + "of --repeats). query_ms_1m is the slowest filter's median."
    )
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
        let report = try TraceBenchmark.run(path: db, samples: samples, repeats: repeats, queries: !writeOnly) {
            written, rate in
            let eta = Double(samples - written) / max(rate, 1)
            terminal.progress(
                String(
                    format: "traces: %d/%d samples written, %.0f samples/s, ETA %@", written, samples, rate,
                    formatDuration(eta)))
        }
        terminal.note(
            String(
                format: "traces: %d samples in %.1f s, database %.0f MB", report.samples,
                Date().timeIntervalSince(start), report.databaseMB))
        if !keep { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
            return
        }
        print(String(format: "write_samples_per_s   %10.0f", report.writeSamplesPerS))
        for (name, ms) in report.queryMs.sorted(by: { $0.key < $1.key }) {
            print(String(format: "query %-24@ %8.2f ms", name, ms))
        }
        if let worst = report.queryMs1m {
            print(String(format: "query_ms_1m (slowest)  %9.2f ms on %d samples", worst, report.samples))
        }
    }
}

struct BenchSpeculative: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speculative",
        abstract: "Plain against self-speculative sampling of a GRPO rollout, from a model with an MTP module.",
        discussion:
            "Each round samples --prompts training prompts of --task_set x --num_generations completions (the set's "
            + "stop strings and max_completion_length) plainly and with each --num_speculative_tokens, in turn; "
            + "tokens/s are medians over the rounds after a warm-up, the speed-up the median of each round's ratio."
    )
    @Option(help: "Checkpoint folder (a model with num_nextn_predict_layers).") var model: String
    @Option(name: .customLong("task_set"), help: "Task set whose training prompts are sampled.") var taskSet = "arith"
    @Option(help: "Prompts a round.") var prompts = 8
    @Option(name: .customLong("num_generations"), help: "Completions a prompt.") var numGenerations = 8
    @Option(
        name: .customLong("num_speculative_tokens"), help: "Comma-separated drafts a step to try (each against plain).")
    var numSpeculativeTokens = "1,2,3"
    @Option var temperature: Float = 1
    @Option(help: "Timed rounds.") var rounds = 5
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        let drafts = numSpeculativeTokens.split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard !drafts.isEmpty, drafts.allSatisfy({ (1...SamplingParams.maxSpeculativeTokens).contains($0) }) else {
            throw ValidationError(
                "--num_speculative_tokens: comma-separated numbers in 1...\(SamplingParams.maxSpeculativeTokens)")
        }
        let report = try SpeculativeBenchmark.run(
            model: try Checkpoint.loadModel(from: URL(fileURLWithPath: model)), tasks: try TaskSet.load(taskSet),
            prompts: prompts, generations: numGenerations, drafts: drafts, temperature: temperature, rounds: rounds
        ) { terminal.note("bench speculative: \($0)") }
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
            return
        }
        print(
            String(
                format: "%@, %d x %d completions (mean %.1f tokens), temperature %.2g: plain %.0f tokens/s",
                report.taskSet, report.prompts, report.generations, report.meanCompletionTokens,
                Double(report.temperature), report.plainTokensPerS))
        for d in report.speculative {
            print(
                String(
                    format: "  %d drafts: %.0f tokens/s, %.2fx; %.0f%% of drafts kept, %.2f tokens a pass",
                    d.numSpeculativeTokens, d.tokensPerS, d.speedup, 100 * d.acceptanceRate, d.tokensPerPass))
        }
    }
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract:
            "Time one GRPO step: 8 prompts x 8 completions, up to 64 new tokens, beta 0.04, one update, exact-match "
            + "reward.",
        discussion:
            "A random policy of --shape on arith's prompts with the math-answer rule set; medians of --repeats steps "
            + "after a warmup. logprob_s is the reference model's forward; train_s the rest of the update."
    )
    @Option var shape = "tiny"
    @Option(help: "Timed steps.") var repeats = 5
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        let report = try GRPOBenchmark.run(
            shape: shape, tasks: try TaskSet.load("arith"), rules: try RuleSet.load("math-answer"),
            repeats: repeats
        ) { terminal.note("bench train: \($0)") }
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
            return
        }
        print(
            String(
                format:
                    "GRPO step (%@): %.3f s = sampling %.3f + scoring %.3f + reference log-probs %.3f + training "
                    + "%.3f; max log-prob mismatch %.2g; peak RSS %.0f MB",
                report.shape, report.stepS, report.sampleS, report.scoreS, report.logprobS, report.trainS,
                report.logprobMismatchMax, report.peakRssMb))
    }
}
