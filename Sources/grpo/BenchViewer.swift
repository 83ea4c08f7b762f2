import ArgumentParser
import Foundation
import TraceViewer
import Traces

struct BenchViewer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "viewer",
        abstract: "Time `grpo traces serve` on a large database: each JSON endpoint, each page in headless Chromium.",
        discussion: """
            Writes --samples synthetic samples as `grpo bench traces` does (unless --db exists and --reuse), then \
            times each endpoint over HTTP and, with Chromium, each page from navigation to its first render \
            (medians of --repeats). --while-training N: N rounds of a short `grpo train` alone and with the \
            viewer reading its database, and the median step time of each.
            """)
    @Option(help: "Samples to write.") var samples = 1_000_000
    @Option(help: "Database to (re)create; deleted afterwards unless --keep.") var db = "runs/bench-viewer.sqlite"
    @Flag(help: "Use --db as it is when it exists.") var reuse = false
    @Flag(help: "Keep the database.") var keep = false
    @Option(help: "Timed requests and page loads of each.") var repeats = 5
    @Option(help: "Chromium for the page times (default /usr/bin/chromium when present; \"none\" skips them).")
    var chromium: String?
    @Option(name: .customLong("chart-js"), help: "Chart.js file (default: Debian's libjs-chart.js).") var chartJS:
        String?
    @Option(help: "Rounds of a short training run alone and watched by the viewer (0: none).") var whileTraining = 0
    @Option(help: "Steps of each of those training runs.") var trainSteps = 12
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1") }
        if whileTraining < 0 { throw ValidationError("--while-training must be 0 or more") }
    }

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        if !(reuse && FileManager.default.fileExists(atPath: db)) {
            try FileManager.default.createDirectory(
                atPath: (db as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = try TraceBenchmark.run(path: db, samples: samples, queries: false) { written, rate in
                terminal.progress(
                    String(format: "viewer: %d/%d samples written, %.0f samples/s", written, samples, rate))
            }
        }
        defer {
            if !keep && !reuse {
                for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + s) }
            }
        }
        let browser =
            chromium == "none"
            ? nil
            : chromium
                ?? (FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") ? "/usr/bin/chromium" : nil)
        let report = try ViewerBenchmark.run(database: db, chartJS: chartJS, chromium: browser, repeats: repeats) {
            terminal.note("viewer: \($0)")
        }
        var training: TrainingUnderViewerReport?
        if whileTraining > 0 { training = try measureTraining(terminal) }
        if json {
            struct Both: Encodable {
                var viewer: ViewerBenchmarkReport
                var training: TrainingUnderViewerReport?
            }
            let both = try JSONEncoder.sortedKeys.encode(Both(viewer: report, training: training))
            print(String(decoding: both, as: UTF8.self))
            return
        }
        for (name, ms) in report.endpointMs.sorted(by: { $0.key < $1.key }) {
            print(String(format: "endpoint %-24@ %8.1f ms", name, ms))
        }
        for (name, ms) in report.pageMs.sorted(by: { $0.key < $1.key }) {
            print(String(format: "page %-28@ %8.0f ms to first render", name, ms))
        }
        print(String(format: "slowest endpoint %.1f ms on %d samples", report.slowestEndpointMs, report.samples))
        if let page = report.slowestPageMs { print(String(format: "slowest page %.0f ms", page)) }
        if let training {
            print(
                String(
                    format: "training step %.3f s alone, %.3f s with the viewer (%+.1f%%); %d requests, %d failed",
                    training.stepSAlone, training.stepSWithViewer, training.slowdown * 100, training.requests,
                    training.failedRequests))
        }
    }

    /// Short `grpo train` runs of a tiny random policy on arith, by this very binary.
    private func measureTraining(_ terminal: Terminal) throws -> TrainingUnderViewerReport {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-bench-viewer-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let grpo = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        func launch(_ arguments: [String]) throws -> Process {
            let p = Process()
            p.executableURL = grpo
            p.arguments = arguments
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        let model = folder.appendingPathComponent("init").path
        let initModel = try launch(["init-model", "--shape", "tiny", "--out", model, "--seed", "0"])
        initModel.waitUntilExit()
        var index = 0
        return try ViewerBenchmark.whileTraining(rounds: whileTraining, folder: folder, chartJS: chartJS) { database in
            index += 1
            return try launch([
                "train", "--model", model, "--task_set", "arith", "--prompts_per_step", "8", "--num_generations", "8",
                "--max_completion_length", "32", "--max_steps", "\(trainSteps)", "--eval_limit", "1", "--seed", "0",
                "--run_name", "r\(index)", "--output_dir", folder.appendingPathComponent("out\(index)").path,
                "--db", database, "--save_steps", "100000", "--quiet",
            ])
        } progress: {
            terminal.note("viewer: \($0)")
        }
    }
}
