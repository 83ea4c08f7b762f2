// Runs policy-written Python in a sandbox, never in the trainer's process.
//
// The verdict is decided where candidate code never ran. The task's tests are
// planned once by a clean interpreter (TestPlan.swift): each assert is split
// into the calls under test and what is expected of them. The candidate's run
// gets only the calls, and returns their values as plain data on a pipe; the
// comparison with the expected values, type-strict, happens in this process
// (Verdict.swift, PythonValue.swift), or for checks such as `len(f(9)) == 3`
// in a second clean interpreter given only the values. Whatever the program
// does to its own interpreter (metaclasses, builtins, settrace, gc, frames,
// ctypes, forged output) changes only the values it reports, and it never
// sees the expected ones. Checks that cannot be split (an assert over a loop
// of calls, names bound from the solution's results) run in-process and can
// be forged: a task set must allow them (`in_process_checks`).
//
// Covered, per run:
// - new PID, network, mount, IPC and UTS namespaces (ForkServer.swift: a fork
//   of an interpreter that never ran candidate code, unshare, fork; the
//   namespace's init is the sandbox's code, never the program): no
//   network but a downed loopback; /proc shows only the run's own processes;
//   System V and POSIX IPC objects are the run's own and die with it; when the
//   run ends, or the trainer kills it, init dies and the kernel kills every
//   process left in the namespace (setsid daemons, fork bombs);
// - the whole file system read-only (every world-writable place of the host
//   included: /run/lock, /var/lock, /dev/mqueue...) except fresh size-capped
//   tmpfs on /tmp, /var/tmp and /dev/shm, removed with the namespace: the
//   program's working directory is /tmp, nothing it writes survives the run;
// - a dedicated unprivileged uid per concurrent slot (setresuid, no groups, no
//   new privileges, set-uid bits ignored), so root-owned files and processes
//   are out of reach;
// - a seccomp filter: no new user namespaces (unshare, setns, clone with
//   CLONE_NEWUSER), no kernel keyrings (add_key, keyctl, request_key);
// - memory and processes bounded for the run as a whole by a cgroup per slot
//   where the machine has one (RunGroups.swift; `Sandbox.runLimitMode` says
//   which), plus hard rlimits per process: CPU seconds, address space, file
//   size, open files, processes per uid; and a wall-clock limit (SIGKILL);
// - a clean environment (PATH, HOME=/tmp, LANG only);
// - stdout, stderr and the result channel capped together at `maxOutputBytes`.
// The program's process is a fork of the fork server: it holds the harness's
// code and the standard modules the server imported, nothing of the trainer
// and nothing of another run (requests carry limits and descriptors; the
// solution comes on the run's own stdin).
// Not covered: the program can read world-readable files of the host (the
// root file system is not hidden; task files readable there could tell it the
// expected values); the setup statements a call needs (`xs = [3, 1]` for
// `f(xs)`) are visible to it; CPU time is capped per process, not for the run
// (the wall limit bounds the total); without a usable cgroup, memory is
// bounded per process only.

import CSandbox
import Foundation

public struct SandboxLimits: Sendable, Equatable {
    public var cpuSeconds = 5
    public var wallSeconds = 10.0
    /// The run's memory as a whole (with a cgroup) and each process's address space.
    public var memoryMB = 512
    public var maxProcesses = 32
    public var maxFileMB = 16
    public var maxOutputBytes = 1 << 20
    public init() {}
}

public struct SandboxResult: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case passed, assertionFailed = "assertion_failed", error, syntaxError = "syntax_error"
        case timeout, outputLimit = "output_limit", crashed, noVerdict = "no_verdict"
        /// The tests themselves cannot be planned (they do not parse, an expected value fails).
        case testsError = "tests_error"
        /// The tests have checks that only the program's own interpreter can run, and the
        /// task does not allow them.
        case inProcessRefused = "in_process_checks"
    }
    public var outcome: Outcome
    /// Checks (one per assert) that passed, of all.
    public var passed: Int
    public var total: Int
    public var seconds: Double
    /// The tail of the program's output, for the rule's detail text.
    public var outputTail: String
    /// Checks decided by the program's own interpreter (forgeable).
    public var inProcessChecks = 0
    /// The first failing check, or why there is no verdict.
    public var failure: String?
    /// Processes of the run alive after it ended (only when the sandbox audits).
    public var leftoverProcesses: Int?
}

public final class Sandbox: @unchecked Sendable {
    public let limits: SandboxLimits
    /// The interpreter's path ("" when none was found).
    public let python: String
    /// Whether and when to look for processes of a run alive after it.
    public enum LeftoverAudit: Sendable {
        case none
        /// After every run, in its PID namespace (`leftoverProcesses` in its result): for tests.
        case eachRun
        /// Remember every run's PID namespace; `leftoverProcessesOfAllRuns()` looks once: for
        /// benchmarks, where a scan of /proc per run would cost more than the run.
        case afterAll
    }
    public let audit: LeftoverAudit
    let namespaces = NamespaceRecord()
    let slots: SlotPool
    let groups: RunGroups
    private let plans = PlanCache()
    let server: ForkServer

    /// First uid of the sandbox slots (one uid per concurrent run).
    public static let baseUID = 61_000

    /// `python`: the interpreter (default: `Sandbox.defaultPython`).
    public init(
        limits: SandboxLimits = SandboxLimits(), python: String? = nil, concurrency: Int = 8,
        audit: LeftoverAudit = .none
    ) {
        self.limits = limits
        self.python = python ?? Sandbox.defaultPython ?? ""
        self.audit = audit
        slots = SlotPool(count: max(1, concurrency), baseUID: Sandbox.baseUID)
        groups = RunGroups(memoryBytes: limits.memoryMB << 20, maxProcesses: limits.maxProcesses)
        server = ForkServer(python: self.python)
        ProcessSignals.ignoreBrokenPipes()
    }

    /// How this machine bounds a run's memory and processes as a whole.
    public static var runLimitMode: RunLimitMode { RunGroups.mode }

    /// The environment of every run: nothing of the trainer's.
    static let environment = ["PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"]

    /// The first real Python 3 binary among /usr/bin/python3, /usr/local/bin/python3 and python3
    /// on PATH (an executable ELF file: a pyenv shim is a script that needs its environment).
    public static let defaultPython: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates =
            ["/usr/bin/python3", "/usr/local/bin/python3"]
            + path.split(separator: ":").map { $0 + "/python3" }
        return candidates.lazy.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
            .first { isBinary($0) }
    }()

    static func isBinary(_ path: String) -> Bool {
        guard FileManager.default.isExecutableFile(atPath: path), let handle = FileHandle(forReadingAtPath: path)
        else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x7f, 0x45, 0x4c, 0x46])
    }

    /// Whether runs can start here, and if not why (not root, no namespaces, no interpreter):
    /// a small program is run once and must print its answer.
    public static let availability: Result<Void, UnavailableError> = {
        guard geteuid() == 0 else {
            return .failure(UnavailableError(reason: "the sandbox needs root (setresuid, namespaces, mounts)"))
        }
        let sandbox = Sandbox(concurrency: 1)
        let r = sandbox.runProgram("print(6 * 7)")
        guard r.ending == .exited, r.exitStatus == 0, r.output == "42\n" else {
            return .failure(
                UnavailableError(
                    reason: r.ending == .crashed
                        ? r.output
                        : "a test program printed \(r.output.prefix(200).debugDescription) "
                            + "(\(r.ending.rawValue), status \(r.exitStatus))"))
        }
        return .success(())
    }()

    public struct UnavailableError: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// Runs `solution`, then the calls of `tests` (Python asserts), and judges them (see the header).
    /// `entryPoint`: the function under test, a name the tests' own setup cannot define.
    public func run(
        solution: String, tests: String, entryPoint: String? = nil,
        allowInProcessChecks: Bool = false
    ) -> SandboxResult {
        let plan: TestPlan
        switch self.plan(tests: tests, entryPoint: entryPoint) {
        case .success(let p): plan = p
        case .failure(let f):
            return SandboxResult(
                outcome: .testsError, passed: 0, total: 0, seconds: 0, outputTail: "",
                failure: f.message)
        }
        if plan.inProcessChecks > 0 && !allowInProcessChecks {
            let first = plan.checks.first { if case .inProcess = $0.rule { return true } else { return false } }!
            return SandboxResult(
                outcome: .inProcessRefused, passed: 0, total: plan.checks.count, seconds: 0,
                outputTail: "", inProcessChecks: plan.inProcessChecks,
                failure: "line \(first.line): \(first.source) can only be checked inside the "
                    + "program's interpreter, and the task does not allow in-process checks")
        }
        let run = execute(
            .runner,
            input: Harness.runnerRequest(solution: solution, steps: plan.steps), resultChannel: true)
        return Verdict.judge(plan: plan, run: run) { program, values in self.verify(program, values) }
    }

    /// CPU seconds (user and system) of every run that has ended, and of the fork server that
    /// started them.
    public func runsCPUSeconds() -> Double { server.cpuSeconds() }

    /// The plan of `tests` (cached: a task's tests are planned once, even when a group of
    /// completions of the task asks for it at the same time).
    public func plan(tests: String, entryPoint: String?) -> Result<TestPlan, TestPlan.Failure> {
        plans.value(for: (entryPoint ?? "") + "\u{0}" + tests) { makePlan(tests: tests, entryPoint: entryPoint) }
    }

    /// Plans `tests` in the planner; the second value says whether the answer is the tests' own
    /// (kept), or the run's failure (a limit on a busy machine: asked again next time).
    private func makePlan(tests: String, entryPoint: String?) -> (Result<TestPlan, TestPlan.Failure>, keep: Bool) {
        let request: [String: String?] = ["tests": tests, "entry_point": entryPoint]
        guard let input = try? JSONEncoder().encode(request) else {
            return (.failure(TestPlan.Failure(message: "cannot encode the tests")), false)
        }
        let run = execute(
            .planner, input: Array(input), resultChannel: true,
            limits: plannerLimits)
        guard run.failure == nil, run.ending == .exited, run.exitStatus == 0 else {
            let tail = String(decoding: run.output.suffix(400), as: UTF8.self)
            return (
                .failure(
                    TestPlan.Failure(
                        message: run.failure ?? "the test planner ended with "
                            + "\(run.ending.rawValue) (status \(run.exitStatus)): \(tail)")), false
            )
        }
        do { return (.success(try TestPlan.decode(run.results)), true) } catch let f as TestPlan.Failure {
            return (.failure(f), true)
        } catch { return (.failure(TestPlan.Failure(message: "\(error)")), true) }
    }

    /// The planner runs the tests' own code, never the candidate's: it gets the run's limits, but
    /// at least 10 CPU and 30 wall-clock seconds, so that a busy machine does not fail a task.
    private var plannerLimits: SandboxLimits {
        var l = limits
        l.cpuSeconds = max(l.cpuSeconds, 10)
        l.wallSeconds = max(l.wallSeconds, 30)
        return l
    }

    /// The clean verifier on a run's values: the outcome of each computed check (nil if it failed).
    private func verify(
        _ program: [TestPlan.VerifierStep], _ values: [String: String]
    )
        -> [Int: Verdict.CheckOutcome]?
    {
        let run = execute(
            .verifier,
            input: Harness.verifierRequest(program: program, values: values), resultChannel: true)
        guard run.failure == nil, run.ending == .exited, run.exitStatus == 0,
            let lines = Verdict.channelLines(run.results)
        else { return nil }
        var out: [Int: Verdict.CheckOutcome] = [:]
        for line in lines {
            let f = line.split(separator: " ", maxSplits: 1)
            guard f.count == 2, let c = Int(f[0]) else { return nil }
            out[c] = f[1] == "T" ? .passed : f[1] == "F" ? .failed("") : .error("raised \(f[1].dropFirst())")
        }
        return out
    }

    /// Runs `source` as a whole Python program (read from its standard input, so its size is
    /// not bound by the command line) and returns what it printed. Nothing the program prints
    /// is believed but its output: the caller decides what the output is worth.
    public func runProgram(_ source: String) -> ProgramResult {
        let run = execute(.program, input: Array(source.utf8), resultChannel: false)
        if let failure = run.failure {
            return ProgramResult(
                ending: .crashed, exitStatus: -1, output: failure, seconds: run.seconds,
                leftoverProcesses: run.leftoverProcesses)
        }
        return ProgramResult(
            ending: run.ending, exitStatus: run.exitStatus,
            output: String(decoding: run.output, as: UTF8.self), seconds: run.seconds,
            leftoverProcesses: run.leftoverProcesses)
    }
}

/// A whole program's run (`Sandbox.runProgram`).
public struct ProgramResult: Sendable, Equatable {
    public enum Ending: String, Sendable {
        /// The program ended by itself (`exitStatus` says how).
        case exited
        /// Killed at the wall-clock or CPU limit.
        case timeout
        /// Killed for printing more than `maxOutputBytes`.
        case outputLimit = "output_limit"
        /// The sandbox could not start it (`output` says why).
        case crashed
    }
    public var ending: Ending
    /// The exit status, or 128 + the signal that ended it.
    public var exitStatus: Int32
    /// Standard output and error together, as printed (at most `maxOutputBytes` and one read more).
    public var output: String
    public var seconds: Double
    /// Processes of the run alive after it ended (only when the sandbox audits).
    public var leftoverProcesses: Int?
}

/// Plans by tests text; bounded, since tasks come and go. A plan being made is waited for, not
/// made again.
private final class PlanCache: @unchecked Sendable {
    private let condition = NSCondition()
    private var plans: [String: Result<TestPlan, TestPlan.Failure>] = [:]
    private var pending = Set<String>()

    func value(
        for key: String,
        make: () -> (Result<TestPlan, TestPlan.Failure>, keep: Bool)
    ) -> Result<TestPlan, TestPlan.Failure> {
        condition.lock()
        while pending.contains(key) { condition.wait() }
        if let known = plans[key] {
            condition.unlock()
            return known
        }
        pending.insert(key)
        condition.unlock()
        let (result, keep) = make()
        condition.lock()
        pending.remove(key)
        if keep {
            if plans.count >= 20_000 { plans.removeAll() }
            plans[key] = result
        }
        condition.broadcast()
        condition.unlock()
        return result
    }
}

extension Sandbox {
    /// Honest small programs per second, run `concurrency` at a time (what the
    /// code rule sees during training): start, sandbox, run, verdict.
    public static func benchmark(programs: Int = 200, concurrency: Int = 4) -> Double {
        let sandbox = Sandbox(concurrency: concurrency)
        let solution = "def add(a, b):\n    return a + b\n"
        let tests = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(10, 5) == 15"
        _ = sandbox.run(solution: solution, tests: tests, entryPoint: "add")
        let start = Date()
        let passed = Atomic()
        DispatchQueue.concurrentPerform(iterations: concurrency) { worker in
            for _ in stride(from: worker, to: programs, by: concurrency) {
                if sandbox.run(solution: solution, tests: tests, entryPoint: "add").outcome != .passed {
                    passed.set(-1)
                }
            }
        }
        precondition(passed.value == 0, "an honest benchmark program failed in the sandbox")
        return Double(programs) / Date().timeIntervalSince(start)
    }
}
