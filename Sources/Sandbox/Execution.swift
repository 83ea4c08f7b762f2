// One interpreter run in a fresh sandbox slot: spawn (Sources/CSandbox), feed
// standard input, collect standard output and error (and the result channel,
// fd 3) within the limits, kill at the wall-clock limit, reap, and read the
// report channel: why the run could not start, if it could not, and its PID
// namespace, through which anything of the run still alive can be found.

import CSandbox
import Foundation

/// What `execute` saw of one run.
struct Execution {
    var output: [UInt8] = []
    /// What arrived on fd 3 (runs that asked for a result channel).
    var results: [UInt8] = []
    var exitStatus: Int32 = -1
    var ending: ProgramResult.Ending = .crashed
    var seconds = 0.0
    /// Why the run could not start, when it could not.
    var failure: String?
    /// Processes of the run still alive after it ended (when the sandbox audits).
    var leftoverProcesses: Int?
}

extension Sandbox {
    /// Runs the interpreter with `arguments` in a fresh slot, `input` on its standard input, within
    /// `limits` (default: the sandbox's).
    func execute(arguments: [String], input: [UInt8], resultChannel: Bool, limits: SandboxLimits? = nil) -> Execution {
        guard !python.isEmpty else {
            return Execution(
                failure: "no Python 3 interpreter found (looked for python3 in /usr/bin, /usr/local/bin "
                    + "and PATH); set the rule's python parameter")
        }
        let (slot, uid) = slots.acquire()
        defer { slots.release(slot) }
        let start = Date()
        let procs: [String]
        do { procs = try groups.procsFiles(slot: slot) } catch { return Execution(failure: "\(error)") }
        var toChild: [Int32] = [-1, -1]
        var fromChild: [Int32] = [-1, -1]
        var resultPipe: [Int32] = [-1, -1]
        var reportPipe: [Int32] = [-1, -1]
        defer { for fd in toChild + fromChild + resultPipe + reportPipe where fd >= 0 { close(fd) } }
        guard csb_pipe(&toChild) == 0, csb_pipe(&fromChild) == 0, csb_pipe(&reportPipe) == 0,
            !resultChannel || csb_pipe(&resultPipe) == 0
        else {
            return Execution(failure: "cannot make pipes: \(String(cString: strerror(errno)))")
        }
        let l = limits ?? self.limits
        let cgroupPaths = procs.compactMap { strdup($0) }
        defer { cgroupPaths.forEach { free($0) } }
        var cl = csb_limits(
            uid: Int32(uid), cpu_seconds: l.cpuSeconds, address_space_bytes: l.memoryMB << 20,
            max_processes: l.maxProcesses, max_file_bytes: l.maxFileMB << 20, max_open_files: 64,
            tmp_bytes: (l.maxFileMB * 2) << 20,
            cgroup_procs: (
                cgroupPaths.first.map { UnsafePointer($0) },
                cgroupPaths.dropFirst().first.map { UnsafePointer($0) }
            ))
        let argv = [python] + arguments
        let envp = ["PATH=/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"]
        let pid = withCStrings(argv) { a in
            withCStrings(envp) { e in
                csb_spawn(a, e, toChild[0], fromChild[1], resultPipe[1], reportPipe[1], &cl)
            }
        }
        // Our copies of the child's ends: closed now, so end of file means the run's are closed.
        for fd in [toChild[0], fromChild[1], reportPipe[1], resultPipe[1]] where fd >= 0 { close(fd) }
        toChild[0] = -1
        fromChild[1] = -1
        reportPipe[1] = -1
        resultPipe[1] = -1
        guard pid > 0 else {
            return Execution(failure: "cannot start the sandbox: \(String(cString: strerror(errno)))")
        }

        // Feed the input from another thread: a program that never reads stdin must not block us.
        let writeFD = toChild[1]
        toChild[1] = -1
        DispatchQueue.global().async {
            input.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = write(writeFD, raw.baseAddress! + off, raw.count - off)
                    if n < 0 && errno == EINTR { continue }
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
        var streams = [
            pollfd(fd: fromChild[0], events: Int16(POLLIN), revents: 0),
            pollfd(fd: resultPipe[0], events: Int16(POLLIN), revents: 0),
        ]
        var captured: [[UInt8]] = [[], []]
        var chunk = [UInt8](repeating: 0, count: 65536)
        reading: while streams.contains(where: { $0.fd >= 0 }) {
            if poll(&streams, nfds_t(streams.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for i in streams.indices where streams[i].fd >= 0 && streams[i].revents != 0 {
                let n = read(streams[i].fd, &chunk, chunk.count)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 {
                    streams[i].fd = -1
                    continue
                }
                captured[i].append(contentsOf: chunk[..<n])
                if captured[0].count + captured[1].count > l.maxOutputBytes {
                    killed.set(2)
                    kill(pid, SIGKILL)
                    break reading
                }
            }
        }
        var waitStatus: Int32 = 0
        while waitpid(pid, &waitStatus, 0) < 0 && errno == EINTR {}
        timer.cancel()
        // The outer process exits with the program's status, or 128 + the signal that ended it.
        let status = (waitStatus & 0x7f) == 0 ? (waitStatus >> 8) & 0xff : 128 + (waitStatus & 0x7f)
        var run = Execution(
            output: captured[0], results: captured[1], exitStatus: status,
            seconds: Date().timeIntervalSince(start))
        if killed.value == 2 {
            run.ending = .outputLimit
        } else if killed.value == 1 || status == 128 + SIGXCPU || status == 128 + SIGKILL {
            run.ending = .timeout
        } else {
            run.ending = .exited
        }
        let (namespace, failure) = readReports(reportPipe[0])
        if let failure {
            run.failure = failure
            run.ending = .crashed
        }
        if let namespace {
            switch audit {
            case .none: break
            case .eachRun:
                run.leftoverProcesses = Sandbox.processes(
                    inPIDNamespaces: [namespace: Sandbox.bootTicks()],
                    waiting: true)
            case .afterAll: namespaces.add(namespace, ended: Sandbox.bootTicks())
            }
        }
        return run
    }

    /// The run's PID namespace and its set-up failure, if any, from the report channel
    /// (written only by the sandbox's own processes: the program's end is closed at exec).
    private func readReports(_ fd: Int32) -> (namespace: UInt64?, failure: String?) {
        var namespace: UInt64?
        var failure: String?
        var record = csb_report()
        let size = MemoryLayout<csb_report>.size
        while true {
            let n = withUnsafeMutableBytes(of: &record) { read(fd, $0.baseAddress, size) }
            if n < 0 && errno == EINTR { continue }
            guard n == size else { break }
            if record.stage == 0 {
                namespace = record.value
            } else if failure == nil {
                failure =
                    "the sandbox could not start: \(Sandbox.stageName(record.stage)): "
                    + String(cString: strerror(Int32(truncatingIfNeeded: record.value)))
            }
        }
        return (namespace, failure)
    }

    static func stageName(_ stage: Int32) -> String {
        switch stage {
        case Int32(CSB_STAGE_CGROUP): return "joining the run's cgroup"
        case Int32(CSB_STAGE_NAMESPACES): return "creating namespaces (needs root and namespace support)"
        case Int32(CSB_STAGE_FORK): return "fork"
        case Int32(CSB_STAGE_MOUNTS): return "mounting the scratch file systems"
        case Int32(CSB_STAGE_READ_ONLY): return "making the file system read-only (mount_setattr, Linux 5.12 or later)"
        case Int32(CSB_STAGE_PROC): return "mounting /proc"
        case Int32(CSB_STAGE_LIMITS): return "setting rlimits"
        case Int32(CSB_STAGE_IDENTITY): return "switching to the sandbox uid"
        case Int32(CSB_STAGE_SECCOMP): return "installing the seccomp filter"
        case Int32(CSB_STAGE_EXEC): return "starting the interpreter"
        default: return "stage \(stage)"
        }
    }

    /// Processes alive in these PID namespaces (inode -> when the run ended, in clock ticks
    /// since boot), waiting up to two seconds for the kernel to finish tearing them down when
    /// `waiting`. The kernel reuses a freed namespace's inode for the next one: a process that
    /// started after the run ended is in someone else's namespace, not a leftover.
    static func processes(inPIDNamespaces runs: [UInt64: UInt64], waiting: Bool) -> Int {
        func count() -> Int {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            var n = 0
            var st = stat()
            for e in entries where e.first?.isNumber == true {
                guard stat("/proc/\(e)/ns/pid", &st) == 0, let ended = runs[UInt64(st.st_ino)] else { continue }
                if let started = startTicks(pid: e), started <= ended { n += 1 }
            }
            return n
        }
        var left = count()
        for _ in 0..<(waiting ? 40 : 0) where left > 0 {
            usleep(50_000)
            left = count()
        }
        return left
    }

    /// Clock ticks since boot now (the clock /proc/<pid>/stat's start time counts in).
    static func bootTicks() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_BOOTTIME, &t)
        let hz = UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))
        return UInt64(t.tv_sec) * hz + UInt64(t.tv_nsec) * hz / 1_000_000_000 + 1
    }

    /// A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
    static func startTicks(pid: String) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// Processes alive in the namespace of any run so far (with `audit: .afterAll`).
    public func leftoverProcessesOfAllRuns() -> Int {
        Sandbox.processes(inPIDNamespaces: namespaces.all, waiting: true)
    }
}

/// The PID namespaces of the runs so far, with when each run ended.
final class NamespaceRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var runs: [UInt64: UInt64] = [:]
    func add(_ inode: UInt64, ended: UInt64) {
        lock.lock()
        runs[inode] = max(runs[inode] ?? 0, ended)
        lock.unlock()
    }
    var all: [UInt64: UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return runs
    }
}

/// A small lock-protected integer: the first value set wins.
final class Atomic: @unchecked Sendable {
    private let lock = NSLock()
    private var v = 0
    func set(_ x: Int) {
        lock.lock()
        if v == 0 { v = x }
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return v
    }
}

/// Run slots: one uid each (RLIMIT_NPROC counts processes per uid) and one cgroup each.
final class SlotPool: @unchecked Sendable {
    private var free: [Int]
    private let baseUID: Int
    private let condition = NSCondition()
    init(count: Int, baseUID: Int) {
        free = Array((0..<count).reversed())
        self.baseUID = baseUID
    }
    func acquire() -> (slot: Int, uid: Int) {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        let slot = free.removeLast()
        return (slot, baseUID + slot)
    }
    func release(_ slot: Int) {
        condition.lock()
        free.append(slot)
        condition.signal()
        condition.unlock()
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let array: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
    return array.withUnsafeBufferPointer { body($0.baseAddress!) }
}
