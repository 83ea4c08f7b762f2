// One run in a fresh sandbox slot: start it through the fork server
// (ForkServer.swift), feed standard input, collect standard output and error
// (and the result channel, fd 3) within the limits, kill at the wall-clock
// limit, and read the report channel to its end: why the run could not start,
// if it could not, its exit status, and its PID namespace, through which
// anything of the run still alive can be found.

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
    /// Runs `program` in a fresh slot (through the fork server), `input` on its standard input,
    /// within `limits` (default: the sandbox's).
    func execute(_ program: ForkServer.Program, input: [UInt8], resultChannel: Bool, limits: SandboxLimits? = nil)
        -> Execution
    {
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
        let request = ForkServer.Request(
            program: program, uid: uid, cpuSeconds: l.cpuSeconds, addressSpaceBytes: l.memoryMB << 20,
            maxProcesses: l.maxProcesses, maxFileBytes: l.maxFileMB << 20, maxOpenFiles: 64,
            tmpBytes: (l.maxFileMB * 2) << 20, cgroups: procs)
        let pidfd: Int32
        do {
            pidfd = try server.start(
                request, input: toChild[0], output: fromChild[1], report: reportPipe[1],
                result: resultChannel ? resultPipe[1] : nil)
        } catch { return Execution(failure: "cannot start the sandbox: \(error)") }
        // Our copies of the child's ends: closed now, so end of file means the run's are closed.
        for fd in [toChild[0], fromChild[1], reportPipe[1], resultPipe[1]] where fd >= 0 { close(fd) }
        toChild[0] = -1
        fromChild[1] = -1
        reportPipe[1] = -1
        resultPipe[1] = -1
        // Killing the outer process tears the namespace down; once the run is over the pidfd is
        // closed, and no timer may use its number after that.
        let killer = RunKiller(pidfd: pidfd)

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
        // The wall-clock limit.
        let timer = DispatchWorkItem { killer.kill(.timeout) }
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
                    killer.kill(.outputLimit)
                    break reading
                }
            }
        }
        // The report channel ends when the outer process has exited, after the namespace's init
        // and with it every process of the run.
        let reports = readReports(reportPipe[0])
        timer.cancel()
        let killed = killer.finish()
        // The outer process reports the program's status, or 128 + the signal that ended it;
        // killed, it reports nothing.
        let status = reports.status ?? (128 + SIGKILL)
        var run = Execution(
            output: captured[0], results: captured[1], exitStatus: status,
            seconds: Date().timeIntervalSince(start))
        if killed == .outputLimit {
            run.ending = .outputLimit
        } else if killed == .timeout || status == 128 + SIGXCPU || status == 128 + SIGKILL {
            run.ending = .timeout
        } else {
            run.ending = .exited
        }
        if let failure = reports.failure {
            run.failure = failure
            run.ending = .crashed
        }
        if let namespace = reports.namespace {
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

    /// The run's PID namespace, exit status and set-up failure, if any, from the report channel
    /// (written only by the sandbox's own processes: the program never holds it).
    private func readReports(_ fd: Int32) -> (namespace: UInt64?, status: Int32?, failure: String?) {
        var namespace: UInt64?
        var status: Int32?
        var failure: String?
        var record = csb_report()
        let size = MemoryLayout<csb_report>.size
        while true {
            let n = withUnsafeMutableBytes(of: &record) { read(fd, $0.baseAddress, size) }
            if n < 0 && errno == EINTR { continue }
            guard n == size else { break }
            switch SetupStage(rawValue: record.stage) {
            case .namespace: namespace = record.value
            case .status: status = Int32(truncatingIfNeeded: record.value)
            default:
                if failure == nil {
                    let stage = SetupStage(rawValue: record.stage)?.description ?? "stage \(record.stage)"
                    failure =
                        "the sandbox could not start: \(stage): "
                        + String(cString: strerror(Int32(truncatingIfNeeded: record.value)))
                }
            }
        }
        return (namespace, status, failure)
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

/// Kills a run's outer process through its pidfd until the run is over; says why it killed.
final class RunKiller: @unchecked Sendable {
    enum Reason { case timeout, outputLimit }
    private let lock = NSLock()
    private var pidfd: Int32
    private var reason: Reason?
    init(pidfd: Int32) { self.pidfd = pidfd }

    func kill(_ why: Reason) {
        lock.lock()
        defer { lock.unlock() }
        guard pidfd >= 0 else { return }
        if reason == nil { reason = why }
        _ = csb_pidfd_kill(pidfd, SIGKILL)
    }

    /// The run is over: the pidfd is closed; returns why the run was killed, if it was.
    func finish() -> Reason? {
        lock.lock()
        defer { lock.unlock() }
        if pidfd >= 0 {
            close(pidfd)
            pidfd = -1
        }
        return reason
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
