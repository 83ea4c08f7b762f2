// The sandbox under load, for `grpo bench sandbox`: many completions scored by
// the `code` rule at once, a share of them hostile (the hostile corpus,
// round-robin, spread through the stream), then an account of what is right
// and what was left on the host: processes alive in any run's namespace,
// System V IPC objects and kernel keys owned by the sandbox uids, files in the
// canary folder and the host's world-writable places, connections to a
// loopback listener, cgroups of the sandbox, and whether the canary process
// the programs try to kill is alive.

import Foundation
import Sandbox

public enum SandboxLoad {
    /// A hostile program (Tests/SandboxTests/Hostile/README.md): its source, with the words the
    /// caller fills in with canaries of its own, the tests it runs against, and its header.
    public struct Hostile: Sendable {
        public var name: String
        public var source: String
        public var tests: String
        /// The one outcome the sandbox must give (`# expect:`).
        public var expect: String
        /// Only a whole-run (cgroup) limit stops it (`# requires: whole-run limits`).
        public var needsWholeRunLimits: Bool

        /// The source with the caller's canaries filled in.
        public func instantiated(canary: String, canaryPID: Int32, port: Int, ipcKey: Int32, marker: String) -> String {
            source.replacingOccurrences(of: "CANARY_DIR", with: canary)
                .replacingOccurrences(of: "CANARY_PID", with: "\(canaryPID)")
                .replacingOccurrences(of: "HOST_PORT", with: "\(port)")
                .replacingOccurrences(of: "IPC_KEY", with: "\(ipcKey)").replacingOccurrences(of: "MARKER", with: marker)
        }
    }

    /// The task every hostile program pretends to solve: f(x) = 3x + 2.
    public static let hostileTests = "assert f(0) == 2\nassert f(-4) == -10\nassert f(7) == 23"
    /// The same, written as HumanEval writes tests.
    public static let humanEvalTests = """
        def check(candidate):
            assert candidate(0) == 2
            assert candidate(-4) == -10
            assert candidate(7) == 23

        check(f)
        """

    public struct CorpusError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The hostile programs of a folder (every .py file, by name), headers read.
    public static func corpus(at folder: URL) throws -> [Hostile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".py") }
                .sorted()
        } catch { throw CorpusError(description: "\(folder.path): cannot list the hostile programs (\(error))") }
        guard !names.isEmpty else { throw CorpusError(description: "\(folder.path): no hostile programs (*.py)") }
        return try names.map { name in
            let path = folder.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CorpusError(description: "\(path): cannot read")
            }
            let source = String(decoding: data, as: UTF8.self)
            func header(_ key: String) -> String? {
                source.split(separator: "\n").first { $0.hasPrefix("# \(key):") }
                    .map { $0.dropFirst(key.count + 3).trimmingCharacters(in: .whitespaces) }
            }
            guard let expect = header("expect") else {
                throw CorpusError(description: "\(path): no \"# expect:\" header")
            }
            return Hostile(
                name: name, source: source,
                tests: header("tests") == "humaneval" ? humanEvalTests : hostileTests, expect: expect,
                needsWholeRunLimits: header("requires") == "whole-run limits")
        }
    }

    public struct Report: Codable, Sendable {
        public var completions = 0, honest = 0, hostile = 0
        /// Honest completions scored 1, and hostile ones scored 0.
        public var honestRight = 0, hostileZero = 0
        /// Up to ten "<name>: <reason> <detail>" of honest ones not right and hostile ones not 0.
        public var honestWrongExamples: [String] = []
        public var hostileScoredExamples: [String] = []
        public var leftoverProcesses = 0, leftoverIPCObjects = 0, leftoverKeys = 0, leftoverFiles = 0
        public var leftoverCgroups = 0, loopbackConnections = 0
        public var canaryProcessAlive = true
        public var seconds = 0.0
        public var perSecond = 0.0
        /// CPU seconds of this process and of every run (user and system), less sensitive than
        /// `seconds` to what else the machine is doing.
        public var cpuSeconds = 0.0
        public var limits = ""
        public var runLimitMode = ""
    }

    /// Scores `completions` programs, a `hostileFraction` of them hostile, the honest ones
    /// `groupSize` to a task (a GRPO group: the task's tests are planned once for all of them),
    /// `concurrency` at a time with `limits`; `canary` is a folder the caller made (world-writable, outside /tmp,
    /// holding one file, `sentinel`) for the programs to attack.
    public static func run(
        honest: [(completion: String, task: RewardTask)], hostile: [Hostile], completions: Int,
        hostileFraction: Double, groupSize: Int, limits: SandboxLimits, concurrency: Int,
        canary: URL
    ) throws -> Report {
        precondition(!honest.isEmpty && !hostile.isEmpty && concurrency > 0)
        var report = Report()
        let canaryProcess = Process()
        let listener = try LoopbackListener()
        let ipcKey = Int32.random(in: 0x4000_0000...0x7fff_fff0)
        defer { HostState.removeIPC(key: ipcKey) }
        let marker = "grpo-bench-\(UUID().uuidString)"
        let ipcBefore = HostState.ipcObjects(ownedBy: HostState.sandboxUIDs)
        let keysBefore = HostState.keys(ownedBy: HostState.sandboxUIDs)
        do {
            let sandbox = Sandbox(limits: limits, concurrency: concurrency, audit: .afterAll)
            canaryProcess.executableURL = URL(fileURLWithPath: sandbox.python)
            canaryProcess.arguments = ["-c", "import time; time.sleep(3600)"]
            try canaryProcess.run()
            let items = stream(
                honest: honest, hostile: hostile, completions: completions,
                hostileFraction: hostileFraction, groupSize: groupSize
            ) {
                $0.instantiated(
                    canary: canary.path, canaryPID: canaryProcess.processIdentifier, port: listener.port,
                    ipcKey: ipcKey, marker: marker)
            }
            let rule = CodeRule(name: "tests", sandbox: sandbox)
            let scores = ScoreBuffer(count: items.count)
            let cpuBefore = cpuTime() + sandbox.runsCPUSeconds()
            let start = Date()
            // One thread per sandbox slot, each taking the next completion (threads of their own:
            // most of the time they wait on a run).
            let group = DispatchGroup()
            let next = NextIndex()
            for _ in 0..<concurrency {
                group.enter()
                Thread {
                    while let i = next.take(below: items.count) {
                        scores.set(i, rule.score(completion: items[i].completion, task: items[i].task))
                    }
                    group.leave()
                }.start()
            }
            group.wait()
            report.seconds = Date().timeIntervalSince(start)
            report.cpuSeconds = cpuTime() + sandbox.runsCPUSeconds() - cpuBefore
            report.completions = items.count
            report.perSecond = Double(items.count) / report.seconds
            for (i, item) in items.enumerated() {
                let s = scores.get(i) ?? RuleScore(score: -1, reason: "not_applicable")
                let line = "\(item.name): \(s.reason) \(s.detail?.prefix(160) ?? "")"
                if item.hostile {
                    report.hostile += 1
                    if s.score == 0 {
                        report.hostileZero += 1
                    } else if report.hostileScoredExamples.count < 10 {
                        report.hostileScoredExamples.append(line)
                    }
                } else {
                    report.honest += 1
                    if s.isFullMarks {
                        report.honestRight += 1
                    } else if report.honestWrongExamples.count < 10 {
                        report.honestWrongExamples.append(line)
                    }
                }
            }
            report.leftoverProcesses = sandbox.leftoverProcessesOfAllRuns()
            report.canaryProcessAlive = canaryProcess.isRunning
            canaryProcess.terminate()
            canaryProcess.waitUntilExit()
        }
        // The sandbox is gone (once the worker threads have let go of it): its cgroups must be too.
        report.leftoverCgroups = HostState.sandboxCgroups
        for _ in 0..<40 where report.leftoverCgroups > 0 {
            usleep(50_000)
            report.leftoverCgroups = HostState.sandboxCgroups
        }
        report.leftoverIPCObjects = max(0, HostState.ipcObjects(ownedBy: HostState.sandboxUIDs) - ipcBefore)
        report.leftoverKeys = max(0, HostState.keys(ownedBy: HostState.sandboxUIDs) - keysBefore)
        report.loopbackConnections = listener.acceptedConnections()
        report.leftoverFiles = leftoverFiles(canary: canary, marker: marker)
        report.limits =
            "cpu \(limits.cpuSeconds) s, wall \(limits.wallSeconds) s, memory \(limits.memoryMB) MB, "
            + "\(limits.maxProcesses) processes, files \(limits.maxFileMB) MB, "
            + "output \(limits.maxOutputBytes >> 10) KB, "
            + "\(concurrency) at a time"
        report.runLimitMode = Sandbox.runLimitMode.summary
        return report
    }

    /// The completions in order: every k-th one hostile, cycling through the corpus; the honest
    /// ones in groups.
    static func stream(
        honest: [(completion: String, task: RewardTask)], hostile: [Hostile], completions: Int,
        hostileFraction: Double, groupSize: Int, fill: (Hostile) -> String
    )
        -> [(name: String, completion: String, task: RewardTask, hostile: Bool)]
    {
        let every = hostileFraction > 0 ? max(1, Int((1 / hostileFraction).rounded())) : Int.max
        var items: [(name: String, completion: String, task: RewardTask, hostile: Bool)] = []
        var h = 0
        var o = 0
        for i in 0..<completions {
            if i % every == every - 1 {
                let p = hostile[h % hostile.count]
                h += 1
                items.append(
                    (
                        p.name, fill(p),
                        RewardTask(kind: "code", tests: p.tests, entryPoint: "f", rawCompletion: true), true
                    ))
            } else {
                let e = honest[(o / max(1, groupSize)) % honest.count]
                o += 1
                items.append((e.task.id ?? "honest-\(o)", e.completion, e.task, false))
            }
        }
        return items
    }

    /// Files in the canary folder but its sentinel (or the sentinel gone), and in the host's
    /// world-writable places: named with the marker, or owned by a sandbox uid.
    static func leftoverFiles(canary: URL, marker: String) -> Int {
        let inCanary = (try? FileManager.default.contentsOfDirectory(atPath: canary.path)) ?? []
        var files = inCanary.filter { $0 != "sentinel" }.count
        if !FileManager.default.fileExists(atPath: canary.appendingPathComponent("sentinel").path) { files += 1 }
        for folder in ["/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            files +=
                names.filter { name in
                    var st = stat()
                    return name.contains(marker)
                        || (lstat(folder + "/" + name, &st) == 0 && HostState.sandboxUIDs.contains(Int(st.st_uid)))
                }.count
        }
        return files
    }

    /// User and system CPU seconds of this process and its reaped children.
    static func cpuTime() -> Double {
        var total = 0.0
        for who in [RUSAGE_SELF, RUSAGE_CHILDREN] {
            var usage = rusage()
            getrusage(__rusage_who_t(who.rawValue), &usage)
            for t in [usage.ru_utime, usage.ru_stime] { total += Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        }
        return total
    }

    /// Indices handed out to concurrent workers, each once.
    public final class NextIndex: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        public init() {}
        public func take(below limit: Int) -> Int? {
            lock.lock()
            defer { lock.unlock() }
            guard value < limit else { return nil }
            value += 1
            return value - 1
        }
    }

    final class ScoreBuffer: @unchecked Sendable {
        private let lock = NSLock()
        private var scores: [RuleScore?]
        init(count: Int) { scores = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ s: RuleScore?) {
            lock.lock()
            scores[i] = s
            lock.unlock()
        }
        func get(_ i: Int) -> RuleScore? {
            lock.lock()
            defer { lock.unlock() }
            return scores[i]
        }
    }
}
