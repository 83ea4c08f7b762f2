import ArgumentParser
import Foundation
import Serve

struct BenchServe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The reward server under load on loopback: code and math through HTTP, hostile code, p99.",
        discussion: """
            Starts `grpo serve`'s server in this process on a free loopback port (math for math tasks, code with \
            a 2 s wall limit for code tasks) and measures: honest programs per second through the service \
            directly and through HTTP; --math-requests /get_reward requests of 8 math completions from \
            --math-clients clients (errors, wrong or misordered answers, p50/p99); --hostile-requests requests of \
            8 programs, a quarter hostile (fork bombs, sleeps, floods, loops), and the processes left; math \
            completions per second in batches of 64. Each phase stops after --phase-seconds.
            """)
    @Option(help: "Honest programs for the code figures.") var codePrograms = 600
    @Option(help: "Math requests of 8 completions.") var mathRequests = 10_000
    @Option(help: "Concurrent clients sending them.") var mathClients = 64
    @Option(help: "Requests of 8 programs, a quarter hostile.") var hostileRequests = 160
    @Option(help: "Requests of 64 math completions.") var batchRequests = 600
    @Option(help: "Seconds after which a phase sends no more requests.") var phaseSeconds = 120.0
    @Flag(help: "Print one JSON object.") var json = false
    @Flag var quiet = false

    func validate() throws {
        guard codePrograms >= 8, mathRequests > 0, mathClients > 0, hostileRequests > 0, batchRequests > 0,
            phaseSeconds > 0
        else { throw ValidationError("counts and --phase-seconds must be positive (--code-programs at least 8)") }
    }

    func run() throws {
        let terminal = Terminal(quiet: quiet)
        var o = ServeBenchmark.Options()
        o.codePrograms = codePrograms
        o.mathRequests = mathRequests
        o.mathClients = mathClients
        o.hostileRequests = hostileRequests
        o.batchRequests = batchRequests
        o.phaseSeconds = phaseSeconds
        let options = o
        let box = ReportBox()
        let outcome = Blocking.run {
            box.report = try await ServeBenchmark.run(options) { terminal.progress("bench serve: \($0)") }
        }
        try outcome.get()
        terminal.note("")
        guard let r = box.report else { return }
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(r), as: UTF8.self))
            return
        }
        func ms(_ l: ServeBenchmark.Latency) -> String {
            String(
                format: "%d requests, %d errors, %d wrong; %.0f/s, p50 %.1f ms, p99 %.1f ms", l.requests, l.errors,
                l.wrong, l.perSecond, l.p50Ms, l.p99Ms)
        }
        print(String(format: "code in process      %8.0f programs/s", r.codePerSInProcess))
        print(
            String(
                format: "code through HTTP    %8.0f programs/s (%.0f%% of in process)", r.codePerSHTTP,
                r.codeHTTPShare * 100))
        print("math, 8 a request    \(ms(r.math))")
        print(
            "hostile code         \(ms(r.hostile)); \(r.hostileProgramsRight)/\(r.hostilePrograms) programs "
                + "scored right, \(r.leftoverProcesses) processes left")
        print(String(format: "math, 64 a request   %8.0f completions/s (%@)", r.mathBatch64PerS, ms(r.mathBatch64)))
        print("load average before: \(r.loadAverageBefore) on \(r.cpus) CPUs")
    }

    final class ReportBox: @unchecked Sendable {
        var report: ServeBenchmark.Report?
    }
}
