// `grpo bench serve`: the reward service under load on loopback, bounded in
// requests and time. Four figures:
// - code: honest small programs per second scored by the service directly (its
//   queue, no HTTP) and through HTTP (/get_reward, 8 programs a request), the
//   same number of callers each;
// - math: N /get_reward requests of 8 completions from many concurrent clients;
//   each request's answers differ (which completions are right depends on the
//   request), so a lost, failed or misordered answer is counted, and latency
//   percentiles are reported;
// - the same with code completions, a quarter of them hostile (fork bombs,
//   sleeps, output floods, endless loops): honest ones must still score 1,
//   hostile ones 0, and no process of any run may be left;
// - math completions per second through HTTP in batches of 64.

import Foundation
import RewardRules
import Sandbox
import Support

public enum ServeBenchmark {
    public struct Options: Sendable {
        public var codePrograms = 600
        public var codeCallers = 8
        public var mathRequests = 10_000
        public var mathClients = 64
        public var hostileRequests = 160
        public var hostileClients = 16
        public var batchRequests = 600
        public var batchClients = 8
        /// Each phase stops taking new requests after this many seconds.
        public var phaseSeconds = 120.0
        public init() {}
    }

    public struct Latency: Codable, Sendable {
        /// Requests sent, answered 200, failed or never sent (errors), answered with a wrong reward.
        public var requests = 0, answered = 0, errors = 0, wrong = 0
        /// Completions whose reward was not the expected one (in answered requests).
        public var wrongItems = 0
        public var seconds = 0.0, perSecond = 0.0, p50Ms = 0.0, p99Ms = 0.0, maxMs = 0.0
    }

    public struct Report: Codable, Sendable {
        public var codePerSInProcess = 0.0
        public var codePerSHTTP = 0.0
        /// HTTP's code rate as a share of the in-process one.
        public var codeHTTPShare = 0.0
        public var math = Latency()
        public var hostile = Latency()
        public var hostileProgramsRight = 0, hostilePrograms = 0
        public var leftoverProcesses = 0
        public var mathBatch64PerS = 0.0
        public var mathBatch64 = Latency()
        public var loadAverageBefore = ""
        public var cpus = 0
    }

    static let codeTests = SandboxLoad.hostileTests
    static let honest = "```python\ndef f(x):\n    return 3 * x + 2\n```"
    static let hostilePrograms = [
        "import os\nwhile True:\n    os.fork()", "import time\ntime.sleep(60)", "print('x' * 50_000_000)",
        "while True:\n    pass",
    ]

    public static func run(_ o: Options, progress: @escaping @Sendable (String) -> Void) async throws -> Report {
        var report = Report()
        report.loadAverageBefore =
            ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "")
            .split(separator: " ").prefix(3).joined(separator: " ")
        report.cpus = ProcessInfo.processInfo.activeProcessorCount
        var limits = SandboxLimits()
        limits.wallSeconds = 2
        limits.cpuSeconds = 1
        limits.memoryMB = 256
        limits.maxOutputBytes = 256 << 10
        let sandbox = Sandbox(limits: limits, concurrency: 8, audit: .afterAll)
        let rules = RuleSet(
            name: "bench",
            entries: [
                .init(rule: MathRule(name: "answer"), kind: "math", appliesTo: ["math"]),
                .init(rule: CodeRule(name: "tests", sandbox: sandbox), kind: "code", appliesTo: ["code"]),
            ])
        var configuration = ServeConfiguration()
        configuration.port = 0
        configuration.queueCapacity = 4096
        configuration.workers = 8
        let service = try RewardService(rules: rules, tasks: nil, configuration: configuration)
        let port = PortBox()
        let server = Task { try await RewardServer.run(service, quiet: true) { port.set($0) } }
        defer { server.cancel() }
        while port.value == nil { try await Task.sleep(nanoseconds: 10_000_000) }
        let client = LoadClient(base: "http://127.0.0.1:\(port.value!)", token: nil, connections: 128)
        defer { client.close() }

        // Warm up: the tests' plan, every slot's cgroup, the interpreter's pages.
        let batch = try service.batch(
            try RequestDecoding.decode(OpenRLHFRequest.self, from: codeRequest(hostileAt: [])))
        for _ in 0..<2 { _ = service.score(batch) }
        _ = await client.post("/get_reward", codeRequest(hostileAt: []))

        progress("code: \(o.codePrograms) honest programs in process")
        let batches = o.codePrograms / 8
        let start = Date()
        let done = SandboxLoad.NextIndex()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<o.codeCallers {
                group.addTask {
                    while done.take(below: batches) != nil {
                        _ = await service.queue.submit(deadline: .distantFuture) { service.score(batch) }
                    }
                }
            }
        }
        report.codePerSInProcess = Double(batches * 8) / Date().timeIntervalSince(start)

        progress("code: \(o.codePrograms) honest programs through HTTP")
        let code = await load(client, requests: batches, clients: o.codeCallers, seconds: o.phaseSeconds) { _ in
            (codeRequest(hostileAt: []), [Double](repeating: 1, count: 8))
        }
        report.codePerSHTTP = Double(code.requests * 8) / code.seconds
        report.codeHTTPShare = report.codePerSHTTP / report.codePerSInProcess

        progress("math: \(o.mathRequests) requests of 8 from \(o.mathClients) clients")
        report.math = await load(client, requests: o.mathRequests, clients: o.mathClients, seconds: o.phaseSeconds) {
            mathRequest(index: $0, size: 8)
        }

        progress("hostile: \(o.hostileRequests) requests of 8 programs, a quarter hostile")
        report.hostile = await load(
            client, requests: o.hostileRequests, clients: o.hostileClients, seconds: o.phaseSeconds
        ) { i in
            let hostileAt = [i % 8, (i + 3) % 8]
            let expected = (0..<8).map { hostileAt.contains($0) ? 0.0 : 1.0 }
            return (codeRequest(hostileAt: hostileAt, variant: i), expected)
        }
        report.hostilePrograms = o.hostileRequests * 8
        report.hostileProgramsRight = report.hostile.answered * 8 - report.hostile.wrongItems
        report.leftoverProcesses = sandbox.leftoverProcessesOfAllRuns()

        progress("math: \(o.batchRequests) requests of 64 from \(o.batchClients) clients")
        report.mathBatch64 = await load(
            client, requests: o.batchRequests, clients: o.batchClients, seconds: o.phaseSeconds
        ) { mathRequest(index: $0, size: 64) }
        report.mathBatch64PerS = report.mathBatch64.perSecond * 64
        return report
    }

    /// Completions that are right unless their index in the whole run is a multiple of 3 or 7.
    static func mathRequest(index: Int, size: Int) -> (Data, [Double]) {
        var queries: [String] = []
        var labels: [String] = []
        var expected: [Double] = []
        for j in 0..<size {
            let n = index * size + j
            let right = n % 3 != 0 && n % 7 != 0
            queries.append("Q\(n): \(n) + 1 = ? <answer>\(right ? n + 1 : n + 2)</answer>")
            labels.append("\(n + 1)")
            expected.append(right ? 1 : 0)
        }
        let body = try! JSONEncoder().encode(["query": queries, "labels": labels])
        return (body, expected)
    }

    /// Eight code completions against f(x) = 3x + 2, hostile at the given positions.
    static func codeRequest(hostileAt: [Int], variant: Int = 0) -> Data {
        let task =
            "{\"kind\": \"code\", \"tests\": \(String(decoding: try! JSONEncoder().encode(codeTests), as: UTF8.self))}"
        let queries = (0..<8).map { j in
            hostileAt.contains(j) ? "```python\n\(hostilePrograms[(variant + j) % hostilePrograms.count])\n```" : honest
        }
        return try! JSONEncoder().encode(["query": queries, "labels": [String](repeating: task, count: 8)])
    }

    /// `requests` requests from `clients` concurrent clients; every answer checked against its
    /// expected rewards (a wrong, failed or missing answer counts).
    static func load(
        _ client: LoadClient, requests: Int, clients: Int, seconds: Double,
        make: @escaping @Sendable (Int) -> (Data, [Double])
    ) async -> Latency {
        let next = SandboxLoad.NextIndex()
        let stopAt = Date().addingTimeInterval(seconds)
        let start = Date()
        let results = await withTaskGroup(of: [(Double, Bool, Int)].self) { group in
            for _ in 0..<clients {
                group.addTask {
                    var mine: [(Double, Bool, Int)] = []
                    while Date() < stopAt, let i = next.take(below: requests) {
                        let (body, expected) = make(i)
                        let answer = await client.post("/get_reward", body)
                        let ok = answer.status == 200
                        let rewards =
                            (try? JSONDecoder().decode([String: JSONValue].self, from: answer.body))?["rewards"]
                        let got: [Double]? = {
                            if case .array(let a)? = rewards { return a.compactMap(\.number) }
                            return nil
                        }()
                        let mismatches =
                            got.map { g in g.count == expected.count ? zip(g, expected).filter { $0 != $1 }.count : 8 }
                            ?? expected.count
                        mine.append((answer.seconds, ok, ok ? mismatches : 0))
                    }
                    return mine
                }
            }
            var all: [(Double, Bool, Int)] = []
            for await part in group { all += part }
            return all
        }
        var l = Latency()
        l.seconds = Date().timeIntervalSince(start)
        l.requests = results.count
        l.answered = results.filter { $0.1 }.count
        l.errors = requests - l.answered
        l.wrong = results.filter { $0.1 && $0.2 > 0 }.count
        l.wrongItems = results.reduce(0) { $0 + $1.2 }
        l.perSecond = Double(results.count) / l.seconds
        let times = results.map(\.0).sorted()
        if !times.isEmpty {
            l.p50Ms = times[times.count / 2] * 1000
            l.p99Ms = times[min(times.count - 1, Int(Double(times.count) * 0.99))] * 1000
            l.maxMs = times.last! * 1000
        }
        return l
    }

    final class PortBox: @unchecked Sendable {
        private let lock = NSLock()
        private var port: Int?
        func set(_ p: Int) {
            lock.lock()
            port = p
            lock.unlock()
        }
        var value: Int? {
            lock.lock()
            defer { lock.unlock() }
            return port
        }
    }
}
