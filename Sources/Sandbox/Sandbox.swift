// Runs policy-written Python in a sandbox, never in the trainer's process.
//
// Covered, per run:
// - new PID, network and mount namespaces (Sources/CSandbox: fork, unshare,
//   fork; the namespace's init is our C code, never the program): no network
//   but a downed loopback; /proc shows only the run's own processes; when the
//   run ends, or the trainer kills it, init dies and the kernel kills every
//   process left in the namespace (setsid daemons, fork bombs);
// - fresh tmpfs on /tmp, /var/tmp and /dev/shm (size-capped), removed with the
//   namespace: the program's working directory is /tmp, nothing it writes
//   survives the run;
// - a dedicated unprivileged uid per concurrent slot (setresuid, no groups, no
//   new privileges), so RLIMIT_NPROC caps processes per run, and root-owned
//   files and processes are out of reach;
// - hard rlimits (setrlimit): CPU seconds, address space, processes, file size,
//   open files; plus a wall-clock limit enforced here (SIGKILL);
// - a clean environment (PATH, HOME=/tmp, LANG only);
// - stdout and stderr capped at `maxOutputBytes` (the run is killed past it);
// - the verdict is the harness's last line, carrying a per-run random nonce
//   the program never sees in its own namespace; exit codes and other output
//   are ignored (sys.exit(0), os._exit(0), printed "PASSED" count for nothing).
// Not covered: the program can read world-readable files of the host (the
// root file system is not hidden); a program that introspects the harness's
// own Python frames (sys._getframe, gc) could recover the nonce; CPU time of
// the run's other processes is capped per process, not in total (the wall
// limit bounds the total).

import CSandbox
import Foundation

public struct SandboxLimits: Sendable, Equatable {
    public var cpuSeconds = 5
    public var wallSeconds = 10.0
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
    }
    public var outcome: Outcome
    /// Assertions (or statements, when the tests have no assert) that passed, of all.
    public var passed: Int
    public var total: Int
    public var seconds: Double
    /// The tail of the program's output, for the rule's detail text.
    public var outputTail: String
}

public final class Sandbox: @unchecked Sendable {
    public let limits: SandboxLimits
    public let python: String
    private let slots: SlotPool

    /// `python`: the interpreter (default: /usr/bin/python3, the real binary, not a pyenv shim).
    public init(limits: SandboxLimits = SandboxLimits(), python: String? = nil, concurrency: Int = 8) {
        ProcessSignals.ignoreBrokenPipes()
        self.limits = limits
        self.python = python ?? Sandbox.defaultPython
        slots = SlotPool(uids: (0..<max(1, concurrency)).map { 61_000 + $0 })
    }

    public static let defaultPython: String = {
        for p in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return "python3"
    }()

    /// Runs `solution`, then `tests` (Python statements), and reports what the harness saw.
    public func run(solution: String, tests: String) -> SandboxResult {
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { bytes[i] = UInt8.random(in: 0...255) }
        let nonce = bytes.map { String(format: "%02x", $0) }.joined()
        let request = Data(Harness.request(nonce: nonce, solution: solution, tests: tests).utf8)
        let run = execute(arguments: ["-I", "-S", "-c", Harness.source], input: request)
        func result(_ outcome: SandboxResult.Outcome, _ tail: String) -> SandboxResult {
            SandboxResult(outcome: outcome, passed: 0, total: 0, seconds: run.seconds, outputTail: tail)
        }
        if let failure = run.failure { return result(.crashed, failure) }
        let text = String(decoding: run.output.suffix(4096), as: UTF8.self)
        let tail = String(text.suffix(600))
        if run.ending == .outputLimit { return result(.outputLimit, tail) }
        // Killed by the wall clock or a CPU limit: a timeout, whatever it printed (a
        // background thread that never ends scores 0 even after the tests passed).
        if run.ending == .timeout { return result(.timeout, tail) }
        // The verdict: the last line starting with the nonce.
        for line in text.split(separator: "\n").reversed() where line.hasPrefix(nonce + " ") {
            let f = line.split(separator: " ")
            guard f.count == 4, let passed = Int(f[1]), let total = Int(f[2]) else { break }
            let outcome = SandboxResult.Outcome(rawValue: String(f[3])) ?? .error
            return SandboxResult(outcome: outcome, passed: passed, total: total, seconds: run.seconds,
                                 outputTail: String(tail.replacingOccurrences(of: String(line), with: "").suffix(600)))
        }
        return result(.noVerdict, tail)
    }

    /// Runs `source` as a whole Python program (read from its standard input, so its size is
    /// not bound by the command line) and returns what it printed. Nothing the program prints
    /// is believed but its output: the caller decides what the output is worth.
    public func runProgram(_ source: String) -> ProgramResult {
        let run = execute(arguments: ["-I", "-S", "-"], input: Data(source.utf8))
        if let failure = run.failure {
            return ProgramResult(ending: .crashed, exitStatus: -1, output: failure, seconds: run.seconds)
        }
        return ProgramResult(ending: run.ending, exitStatus: run.exitStatus,
                             output: String(decoding: run.output, as: UTF8.self), seconds: run.seconds)
    }

    /// One interpreter run in a fresh sandbox slot: `arguments` after the interpreter's path,
    /// `input` on its standard input, standard output and error captured together.
    private func execute(arguments: [String], input: Data) -> Execution {
        let uid = slots.acquire()
        defer { slots.release(uid) }
        let start = Date()
        let l = limits
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard csb_pipe(&toChild) == 0, csb_pipe(&fromChild) == 0 else {
            return Execution(failure: "cannot make pipes: errno \(errno)")
        }
        var cl = csb_limits(uid: Int32(uid), cpu_seconds: l.cpuSeconds, address_space_bytes: l.memoryMB << 20,
                            max_processes: l.maxProcesses, max_file_bytes: l.maxFileMB << 20, max_open_files: 64,
                            tmp_bytes: (l.maxFileMB * 2) << 20)
        let argv = [python] + arguments
        let envp = ["PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"]
        let pid = withCStrings(argv) { a in withCStrings(envp) { e in csb_spawn(a, e, toChild[0], fromChild[1], &cl) } }
        close(toChild[0])
        close(fromChild[1])
        guard pid > 0 else {
            close(toChild[1])
            close(fromChild[0])
            return Execution(failure: "cannot start the sandbox: errno \(errno)")
        }
        // Feed the input from another thread: a program that never reads stdin must not block us.
        let writeFD = toChild[1]
        DispatchQueue.global().async {
            input.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = write(writeFD, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writeFD)
        }
        // The wall-clock limit: killing the outer process tears the namespace down.
        let killed = Atomic()
        let timer = DispatchWorkItem {
            killed.set(1)
            kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + l.wallSeconds, execute: timer)
        var captured = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fromChild[0], &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            captured.append(contentsOf: chunk[..<n])
            if captured.count > l.maxOutputBytes {
                killed.set(2)
                kill(pid, SIGKILL)
                break
            }
        }
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        timer.cancel()
        close(fromChild[0])
        // The outer process exits with the program's status, or 128 + the signal that ended it.
        let status = (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
        let ending: ProgramResult.Ending
        if killed.value == 2 {
            ending = .outputLimit
        } else if killed.value == 1 || status == 128 + SIGXCPU || status == 128 + SIGKILL {
            ending = .timeout
        } else {
            ending = .exited
        }
        return Execution(output: captured, exitStatus: status, ending: ending,
                         seconds: Date().timeIntervalSince(start))
    }
}

/// What `execute` saw of one run.
private struct Execution {
    var output: [UInt8] = []
    var exitStatus: Int32 = -1
    var ending: ProgramResult.Ending = .crashed
    var seconds = 0.0
    /// Why the run could not start, when it could not.
    var failure: String?
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
}

/// A small lock-protected integer.
final class Atomic: @unchecked Sendable {
    private let lock = NSLock()
    private var v = 0
    func set(_ x: Int) { lock.lock(); if v == 0 { v = x }; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return v }
}

/// One uid per concurrent run: RLIMIT_NPROC counts processes per uid.
final class SlotPool: @unchecked Sendable {
    private var free: [Int]
    private let condition = NSCondition()
    init(uids: [Int]) { free = uids }
    func acquire() -> Int {
        condition.lock(); defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        return free.removeLast()
    }
    func release(_ uid: Int) {
        condition.lock(); free.append(uid); condition.signal(); condition.unlock()
    }
}

extension Sandbox {
    /// Honest small programs per second, run `concurrency` at a time (what the
    /// code rule sees during training): start, sandbox, run, verdict.
    public static func benchmark(programs: Int = 200, concurrency: Int = 4) -> Double {
        let sandbox = Sandbox(concurrency: concurrency)
        let solution = "def add(a, b):\n    return a + b\n"
        let tests = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(10, 5) == 15"
        _ = sandbox.run(solution: solution, tests: tests)
        let start = Date()
        let passed = Atomic()
        DispatchQueue.concurrentPerform(iterations: concurrency) { worker in
            for _ in stride(from: worker, to: programs, by: concurrency) {
                if sandbox.run(solution: solution, tests: tests).outcome != .passed { passed.set(-1) }
            }
        }
        precondition(passed.value == 0, "an honest benchmark program failed in the sandbox")
        return Double(programs) / Date().timeIntervalSince(start)
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let array: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
    return array.withUnsafeBufferPointer { body($0.baseAddress!) }
}
