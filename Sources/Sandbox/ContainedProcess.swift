// A helper program the trainer trusts but must always be able to stop: a
// reward plugin, the interpreter check. Started by csb_spawn_contained (its
// own process group and, where the system allows, its own PID namespace), so
// that `stop()` kills the program and everything it started, a daemon that
// called setsid included. Every write, read and wait has a deadline: a program
// that stops reading, closes its stdout and sleeps, or leaves a grandchild
// holding its pipes open cannot hang the trainer.
//
// Not covered where no PID namespace can be made (not root and no user
// namespaces): then only the process group is killed, and a grandchild that
// left it (setsid) outlives the program. `isolation` says which is in force.

import CSandbox
import Foundation

public final class ContainedProcess {
    public enum Isolation: String, Sendable {
        /// Killing the program kills every process it started.
        case pidNamespace = "pid_namespace"
        /// Killing the program kills its process group; a process that left the group survives.
        case processGroup = "process_group"
    }

    /// Why an exchange with the program ended early.
    public enum Failure: Error, Equatable {
        /// Nothing (or not all) came before the deadline.
        case timeout
        /// The program closed its end (exited, or closed stdin/stdout): `status` when it exited.
        case closed(status: Int32?)
        case system(String)
    }

    public let pid: pid_t
    public let isolation: Isolation
    private var stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32
    private var output: [UInt8] = []
    private var errors: [UInt8] = []
    private var status: Int32?

    /// Starts `executable` (an absolute path) with `arguments`, in `directory` (default: here).
    public init(executable: String, arguments: [String], directory: String? = nil) throws {
        ProcessSignals.ignoreBrokenPipes()
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        var errorsFromChild: [Int32] = [0, 0]
        func noPipes() -> Failure { .system("cannot make pipes: \(String(cString: strerror(errno)))") }
        guard csb_pipe(&toChild) == 0 else { throw noPipes() }
        guard csb_pipe(&fromChild) == 0 else {
            close(toChild[0])
            close(toChild[1])
            throw noPipes()
        }
        guard csb_pipe(&errorsFromChild) == 0 else {
            for fd in toChild + fromChild { close(fd) }
            throw noPipes()
        }
        var inNamespace: Int32 = 0
        let argv = [executable] + arguments
        let spawned = withCStrings(argv) { a in
            withOptionalCString(directory) {
                csb_spawn_contained(a, nil, $0, toChild[0], fromChild[1], errorsFromChild[1], &inNamespace)
            }
        }
        let spawnError = errno
        close(toChild[0])
        close(fromChild[1])
        close(errorsFromChild[1])
        guard spawned > 0 else {
            for fd in [toChild[1], fromChild[0], errorsFromChild[0]] { close(fd) }
            throw Failure.system("cannot start \(executable): \(String(cString: strerror(spawnError)))")
        }
        pid = spawned
        isolation = inNamespace != 0 ? .pidNamespace : .processGroup
        stdinFD = toChild[1]
        stdoutFD = fromChild[0]
        stderrFD = errorsFromChild[0]
        for fd in [stdinFD, stdoutFD, stderrFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit { stop() }

    /// Writes all of `bytes` to the program's stdin, reading its stdout and stderr meanwhile (a
    /// program that writes before it reads must not deadlock with us).
    public func send(_ bytes: [UInt8], deadline: Date) throws {
        var sent = 0
        while sent < bytes.count {
            try pump(deadline: deadline, writing: true)
            let n = bytes.withUnsafeBytes { write(stdinFD, $0.baseAddress! + sent, bytes.count - sent) }
            if n > 0 {
                sent += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            // EPIPE: the program closed its stdin or exited (SIGPIPE is ignored, so we see it here).
            throw closed()
        }
    }

    /// Closes the program's stdin (it sees the end of its input).
    public func closeInput() {
        if stdinFD >= 0 {
            close(stdinFD)
            stdinFD = -1
        }
    }

    /// The next line of the program's stdout, without its newline.
    public func readLine(deadline: Date) throws -> [UInt8] {
        while true {
            if let newline = output.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(output[..<newline])
                output.removeSubrange(...newline)
                return line
            }
            if stdoutFD < 0 { throw closed() }
            try pump(deadline: deadline, writing: false)
        }
    }

    /// Everything the program writes to stdout until it closes it.
    public func readToEnd(deadline: Date) throws -> [UInt8] {
        while stdoutFD >= 0 { try pump(deadline: deadline, writing: false) }
        defer { output = [] }
        return output
    }

    /// The last `limit` bytes the program wrote to stderr, as text.
    public func stderrTail(_ limit: Int = 500) -> String {
        String(decoding: errors.suffix(limit), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits (up to `deadline`) for one of: stdin writable (when `writing`), stdout or stderr
    /// readable; reads what is there. Throws `.timeout` past the deadline.
    private func pump(deadline: Date, writing: Bool) throws {
        var fds: [pollfd] = []
        if writing && stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
        if stdoutFD >= 0 { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
        if stderrFD >= 0 { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
        guard !fds.isEmpty else { throw closed() }
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { throw Failure.timeout }
        let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 1) * 1000) + 1)
        if ready < 0 && errno != EINTR { throw Failure.system("poll: \(String(cString: strerror(errno)))") }
        for p in fds where p.revents != 0 && p.fd != stdinFD {
            drain(p.fd)
        }
        if writing, let p = fds.first(where: { $0.fd == stdinFD }), p.revents & Int16(POLLERR | POLLHUP) != 0 {
            throw closed()
        }
    }

    /// Reads what `fd` holds now; at its end, closes it.
    private func drain(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n > 0 {
                if fd == stdoutFD {
                    output.append(contentsOf: chunk[..<n])
                } else {
                    errors.append(contentsOf: chunk[..<n])
                    if errors.count > 8192 { errors.removeFirst(errors.count - 4096) }
                }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n == 0 || errno != EAGAIN {
                close(fd)
                if fd == stdoutFD { stdoutFD = -1 } else { stderrFD = -1 }
            }
            return
        }
    }

    /// The program closed a pipe: it is most likely exiting, so its status is worth a moment.
    private func closed() -> Failure {
        .closed(status: wait(deadline: Date().addingTimeInterval(1)))
    }

    /// The exit status (or 128 + signal) once the program has exited, else nil; never blocks.
    /// The program is left unreaped (WNOWAIT) until `stop`: while its pid is taken, its process
    /// group id cannot be given to another process, so killing the group never hits a stranger.
    public func exitStatus() -> Int32? {
        if status == nil && !reaped {
            var info = siginfo_t()
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
                info._sifields._sigchld.si_pid == pid
            {
                let code = info._sifields._sigchld.si_status
                status = info.si_code == Int32(CLD_EXITED) ? code : 128 + code
            }
        }
        return status
    }

    /// Waits for the program to exit by itself until `deadline`; nil if it has not.
    public func wait(deadline: Date) -> Int32? {
        while exitStatus() == nil {
            if Date() >= deadline { return nil }
            usleep(5_000)
        }
        return status
    }

    /// Kills the program and everything it started, and reaps it. Waits at most a few seconds:
    /// SIGKILL cannot be refused, so only a process stuck in the kernel takes that long.
    public func stop() {
        guard !reaped else { return }
        // The whole group, even after the program exited: what it left behind goes too.
        kill(-pid, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        var s: Int32 = 0
        while true {
            let r = waitpid(pid, &s, WNOHANG)
            if r == pid {
                if status == nil { status = (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f) }
                break
            }
            if r < 0 && errno != EINTR { break }
            if Date() >= deadline { break }
            usleep(2_000)
        }
        reaped = true
        for fd in [stdinFD, stdoutFD, stderrFD] where fd >= 0 { close(fd) }
        stdinFD = -1
        stdoutFD = -1
        stderrFD = -1
    }
    private var reaped = false
}

/// Calls `body` with `string` as a C string, or with nil.
private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

/// SIGPIPE is ignored in the whole process: a write to a program that has exited (a dead
/// plugin, an interpreter that never reads its input) then fails with EPIPE, which the writer
/// turns into an error, instead of killing the trainer without a word.
public enum ProcessSignals {
    private static let ignored: Void = { signal(SIGPIPE, SIG_IGN) }()
    public static func ignoreBrokenPipes() { _ = ignored }
}
