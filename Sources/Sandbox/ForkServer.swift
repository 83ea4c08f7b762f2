// The fork server: one Python interpreter, started once per sandbox, that
// never runs candidate code itself. It has compiled the harness's programs;
// for each run it forks, and the child sets the run up (cgroup, namespaces,
// mounts, limits, uid, seccomp) before the program runs in the interpreter
// already started. A fresh interpreter costs about 6 ms of CPU to start, most
// of a small program's run; a fork of one already started costs a fraction of
// a millisecond, and the trainer itself is never forked.
//
// Each run's processes, as before: the outer process (joins the slot's
// cgroup, creates the namespaces, waits, reports the exit status), the PID
// namespace's init (mounts, waits, reaps), and the program. The trainer passes
// the run's pipe ends over a Unix socket and gets a pidfd of the outer process
// back: killing it kills the namespace's init (parent-death signal) and so
// every process of the run. The fork server lives in a PID namespace of its
// own (csb_spawn_contained) with a clean environment: it dies when the trainer
// closes the socket, and with it every run.
//
// The program's process is a copy of the server: it holds the harness's code
// and the standard library modules the server imported, nothing of the trainer
// and nothing of other runs (requests carry limits and descriptors only; the
// solution and the calls come on the run's own standard input).

import CSandbox
import Foundation

/// A set-up step of a run that failed, as its report channel says (csb_report.stage).
enum SetupStage: Int32, CaseIterable {
    case status = -1
    case namespace = 0
    case cgroup = 1, namespaces, fork, mounts, readOnly, proc, limits, identity, seccomp, start

    var description: String {
        switch self {
        case .status, .namespace: return "stage \(rawValue)"
        case .cgroup: return "joining the run's cgroup"
        case .namespaces: return "creating namespaces (needs root and namespace support)"
        case .fork: return "fork"
        case .mounts: return "mounting the scratch file systems"
        case .readOnly: return "making the file system read-only (mount_setattr, Linux 5.12 or later)"
        case .proc: return "mounting /proc"
        case .limits: return "setting rlimits"
        case .identity: return "switching to the sandbox uid"
        case .seccomp: return "installing the seccomp filter"
        case .start: return "starting the program in the fork server"
        }
    }
}

final class ForkServer: @unchecked Sendable {
    /// What a run executes: one of the harness's programs, `script` (a program read from
    /// stdin after its length, stderr on fd 3) or `program` (all of stdin is the program).
    enum Program: String, Encodable { case runner, planner, verifier, script, program }

    /// One run's set-up, as the server's child reads it.
    struct Request: Encodable {
        var program: Program
        var uid: Int
        var cpuSeconds: Int
        var addressSpaceBytes: Int
        var maxProcesses: Int
        var maxFileBytes: Int
        var maxOpenFiles: Int
        var tmpBytes: Int
        /// cgroup.procs files the outer process joins before it creates the namespaces.
        var cgroups: [String]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let python: String
    private let lock = NSLock()
    /// The contained process (its init's parent): killing its group ends the server and every run.
    private var pid: pid_t = -1
    private var control: Int32 = -1
    private var errors: Int32 = -1

    init(python: String) { self.python = python }

    deinit { stop() }

    /// Starts a run of `request.program` with these descriptors as its stdin, stdout and stderr,
    /// report channel and (when given) fd 3. Returns a pidfd of the run's outer process, or -1
    /// when it ended before the server could open one (its report channel tells how).
    func start(_ request: Request, input: Int32, output: Int32, report: Int32, result: Int32?) throws -> Int32 {
        let message = try JSONEncoder().encode(request)
        let fds = [input, output, report] + (result.map { [$0] } ?? [])
        lock.lock()
        defer { lock.unlock() }
        if control < 0 { try launch() }
        if let pidfd = exchange(message, fds) { return pidfd }
        // A server that died (killed, out of memory) is replaced once.
        stop()
        try launch()
        if let pidfd = exchange(message, fds) { return pidfd }
        let why = stderrTail()
        stop()
        throw Failure(description: "the sandbox's fork server stopped answering" + (why.isEmpty ? "" : ": \(why)"))
    }

    /// Sends one request; the answer carries the pidfd. nil when the server is gone or silent.
    private func exchange(_ message: Data, _ fds: [Int32]) -> Int32? {
        let sent = message.withUnsafeBytes { csb_send_fds(control, $0.baseAddress, $0.count, fds, Int32(fds.count)) }
        guard sent == 0 else { return nil }
        guard let (reply, fd) = receive(seconds: 10, keepingDescriptor: true) else { return nil }
        guard reply == "ok" || reply == "gone" else {
            if fd >= 0 { close(fd) }
            return nil
        }
        return fd
    }

    /// The next message from the server within `seconds`, with the descriptor that came with it
    /// when `keepingDescriptor` (else any is closed, and -1 returned).
    private func receive(seconds: Double, keepingDescriptor: Bool = false) -> (String, Int32)? {
        var p = pollfd(fd: control, events: Int16(POLLIN), revents: 0)
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            let r = poll(&p, 1, left)
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return nil }
            break
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var fd: Int32 = -1
        let n = csb_recv_fd(control, &buffer, buffer.count, &fd)
        if fd >= 0 && (n <= 0 || !keepingDescriptor) {
            close(fd)
            fd = -1
        }
        guard n > 0 else { return nil }
        return (String(decoding: buffer[..<n], as: UTF8.self), fd)
    }

    /// CPU seconds (user and system) of the server and of every run that has ended; 0 before the
    /// first run.
    func cpuSeconds() -> Double {
        lock.lock()
        defer { lock.unlock() }
        guard control >= 0 else { return 0 }
        let message = Array(#"{"usage": true}"#.utf8)
        guard csb_send_fds(control, message, message.count, nil, 0) == 0, let (reply, _) = receive(seconds: 10)
        else { return 0 }
        return Double(reply) ?? 0
    }

    /// Starts the server and hands it the programs and the seccomp filter.
    private func launch() throws {
        var pair: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        guard csb_socketpair(&pair) == 0, csb_pipe(&errorPipe) == 0 else {
            for fd in pair + errorPipe where fd >= 0 { close(fd) }
            throw Failure(description: "cannot make the fork server's socket: \(String(cString: strerror(errno)))")
        }
        // The server's stderr never blocks it: once the pipe is full, what it writes is lost, not waited on
        // (the trainer reads it only when the server fails).
        _ = fcntl(errorPipe[1], F_SETFL, fcntl(errorPipe[1], F_GETFL) | O_NONBLOCK)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer {
            close(pair[1])
            close(errorPipe[1])
            if null >= 0 { close(null) }
        }
        var inNamespace: Int32 = 0
        let argv = [python, "-I", "-S", "-c", ForkServer.source]
        let spawned = withCStrings(argv) { a in
            withCStrings(Sandbox.environment) { e in
                csb_spawn_contained(a, e, "/", pair[1], null, errorPipe[1], &inNamespace)
            }
        }
        guard spawned > 0 else {
            close(pair[0])
            close(errorPipe[0])
            throw Failure(description: "cannot start the fork server (\(python)): \(String(cString: strerror(errno)))")
        }
        pid = spawned
        control = pair[0]
        errors = errorPipe[0]
        _ = fcntl(errors, F_SETFL, fcntl(errors, F_GETFL) | O_NONBLOCK)
        var filter = [UInt8](repeating: 0, count: 8 * 64)
        let records = csb_seccomp_filter(&filter, 64)
        guard records > 0 else {
            stop()
            throw Failure(description: "no seccomp filter for this architecture (x86-64 and arm64 have one)")
        }
        let setup: [String: String] = [
            "seccomp": filter[..<(Int(records) * 8)].map { String(format: "%02x", $0) }.joined(),
            "runner": Harness.runner, "planner": Harness.planner, "verifier": Harness.verifier,
            "script": Sandbox.scriptBootstrap, "program": Harness.program,
        ]
        let message = try JSONEncoder().encode(setup)
        let sent = message.withUnsafeBytes { csb_send_fds(control, $0.baseAddress, $0.count, nil, 0) }
        guard sent == 0, let (reply, _) = receive(seconds: 30), reply == "ready" else {
            let why = stderrTail()
            stop()
            throw Failure(description: "the sandbox's fork server did not start" + (why.isEmpty ? "" : ": \(why)"))
        }
    }

    /// What the server wrote to its stderr (a traceback, when it failed).
    private func stderrTail() -> String {
        guard errors >= 0 else { return "" }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(errors, &chunk, chunk.count)
            guard n > 0 else { break }
            out.append(contentsOf: chunk[..<n])
        }
        return String(decoding: out.suffix(600), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Ends the server and every run it started.
    private func stop() {
        if pid > 0 {
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            pid = -1
        }
        for fd in [control, errors] where fd >= 0 { close(fd) }
        control = -1
        errors = -1
    }

    /// The server (run with -I -S; fd 0 is its socket). Kernel constants are the same on every
    /// architecture Linux runs this on; system-call numbers that differ live in the C filter.
    static let source = """
        import atexit, ctypes, fcntl, gc, json, os, resource, signal, socket, struct, sys

        def _grpo_fork_server():
            CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
            CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
            MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
            PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_SET_NO_NEW_PRIVS, SECCOMP_MODE_FILTER = 1, 22, 38, 2
            SYS_mount_setattr, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 442, -100, 0x8000, 1, 2
            CGROUP, NAMESPACES, FORK, MOUNTS = \(SetupStage.cgroup.rawValue), \(SetupStage.namespaces.rawValue), \
        \(SetupStage.fork.rawValue), \(SetupStage.mounts.rawValue)
            READ_ONLY, PROC, LIMITS = \(SetupStage.readOnly.rawValue), \(SetupStage.proc.rawValue), \
        \(SetupStage.limits.rawValue)
            IDENTITY, SECCOMP, START = \(SetupStage.identity.rawValue), \(SetupStage.seccomp.rawValue), \
        \(SetupStage.start.rawValue)
            control = socket.socket(fileno=os.dup(0))
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.close(null)
            setup = json.loads(control.recv(1 << 22))
            codes = {name: compile(setup[name], "<grpo>", "exec")
                     for name in ("runner", "planner", "verifier", "script", "program")}
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
            libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
            libc.unshare.argtypes = [ctypes.c_int]
            filter_bytes = bytes.fromhex(setup["seccomp"])
            filter_buffer = ctypes.create_string_buffer(filter_bytes, len(filter_bytes))
            class Program(ctypes.Structure):
                _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
            seccomp = Program(len(filter_bytes) // 8, ctypes.addressof(filter_buffer))
            read_only = (ctypes.c_uint64 * 4)(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
            max_fd = os.sysconf("SC_OPEN_MAX")
            del setup

            def report(stage, value):
                try:
                    os.write(4, struct.pack("iiQ", stage, 0, value & 0xFFFFFFFFFFFFFFFF))
                except OSError:
                    pass
            def fail(stage, error=None):
                report(stage, ctypes.get_errno() if error is None else error)
                os._exit(120)
            def check(result, stage):
                if result != 0: fail(stage)
            def wait_exit(child, status_record):
                # As the namespace's init this reaps every orphan too; ends like the child did.
                status = 0
                while True:
                    try:
                        done, status = os.waitpid(-1, 0)
                    except ChildProcessError:
                        break
                    if done == child: break
                code = os.waitstatus_to_exitcode(status)
                code = code if code >= 0 else 128 - code
                if status_record: report(\(SetupStage.status.rawValue), code)
                os._exit(code)
            def fork(stage):
                try:
                    return os.fork()
                except OSError as e:
                    fail(stage, e.errno)

            def outer(request, fds):
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds]
                os.dup2(moved[2], 4)
                os.dup2(moved[0], 0)
                os.dup2(moved[1], 1)
                os.dup2(moved[1], 2)
                if len(moved) > 3:
                    os.dup2(moved[3], 3)
                else:
                    try:
                        os.close(3)
                    except OSError:
                        pass
                os.closerange(5, max_fd)
                for path in request["cgroups"]:
                    try:
                        fd = os.open(path, os.O_WRONLY)
                        os.write(fd, b"0")
                        os.close(fd)
                    except OSError as e:
                        fail(CGROUP, e.errno)
                check(libc.unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), NAMESPACES)
                init = fork(FORK)
                if init: wait_exit(init, True)
                # PID 1 of the new namespace: it dies with the outer process, and every process here with it.
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                report(\(SetupStage.namespace.rawValue), os.stat("/proc/self/ns/pid").st_ino)
                check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), MOUNTS)
                # Every mount read-only (set-uid bits ignored): no world-writable place of the host
                # (/run/lock, /var/lock, /dev/mqueue, ...) is writable from here.
                check(libc.syscall(ctypes.c_long(SYS_mount_setattr), ctypes.c_long(AT_FDCWD), b"/",
                                   ctypes.c_long(AT_RECURSIVE), read_only, ctypes.c_long(32)), READ_ONLY)
                # Scratch space the program may write, fresh and size-capped, gone with the namespace.
                size = b"size=%dm,mode=1777" % max(1, request["tmpBytes"] >> 20)
                check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, size), MOUNTS)
                libc.mount(b"tmpfs", b"/var/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=1777")
                libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=1777")
                check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), PROC)
                program = fork(FORK)
                if program: wait_exit(program, False)
                # The program: unprivileged, limited, in its scratch directory.
                try:
                    os.chdir("/tmp")
                except OSError as e:
                    fail(MOUNTS, e.errno)
                try:
                    for limit, value in ((resource.RLIMIT_CPU, request["cpuSeconds"]),
                                         (resource.RLIMIT_AS, request["addressSpaceBytes"]),
                                         (resource.RLIMIT_FSIZE, request["maxFileBytes"]),
                                         (resource.RLIMIT_NOFILE, request["maxOpenFiles"]),
                                         (resource.RLIMIT_CORE, 0)):
                        resource.setrlimit(limit, (value, value))
                except (OSError, ValueError) as e:
                    fail(LIMITS, getattr(e, "errno", None) or 22)
                try:
                    os.setgroups([])
                    os.setresgid(request["uid"], request["uid"], request["uid"])
                    os.setresuid(request["uid"], request["uid"], request["uid"])
                except OSError as e:
                    fail(IDENTITY, e.errno)
                # RLIMIT_NPROC counts processes of the uid: set once we are that uid.
                try:
                    resource.setrlimit(resource.RLIMIT_NPROC, (request["maxProcesses"], request["maxProcesses"]))
                except (OSError, ValueError) as e:
                    fail(LIMITS, getattr(e, "errno", None) or 22)
                check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), SECCOMP)
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(seccomp), 0, 0), SECCOMP)
                # The report channel is the sandbox's: the program never holds it.
                os.close(4)
                return codes[request["program"]]

            def reap():
                # The runs' outer processes that ended (their status went on their report channels);
                # reaped by us rather than by the kernel, so that their CPU time counts as ours.
                try:
                    while os.waitpid(-1, os.WNOHANG)[0] > 0: pass
                except ChildProcessError:
                    pass
            # Every object so far is left out of the runs' collections: a collection that walked them
            # would write to the pages the runs share with the server, and copy each one.
            gc.disable()
            gc.freeze()
            control.send(b"ready")
            while True:
                try:
                    message, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
                except OSError:
                    os._exit(0)
                if not message:
                    os._exit(0)  # the trainer is gone: every run dies with us (parent-death signal)
                request = json.loads(message)
                reap()
                if request.get("usage"):
                    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
                    control.send(b"%.6f" % sum(u.ru_utime + u.ru_stime for u in usage))
                    continue
                child = os.fork()
                if child == 0:
                    gc.enable()
                    control.detach()
                    try:
                        return outer(request, fds)
                    except BaseException:
                        fail(START, 22)
                for fd in fds: os.close(fd)
                try:
                    pidfd = os.pidfd_open(child)
                except OSError:
                    control.send(b"gone")
                    continue
                socket.send_fds(control, [b"ok"], [pidfd])
                os.close(pidfd)

        _grpo_code = _grpo_fork_server()
        del _grpo_fork_server
        try:
            exec(_grpo_code, {"__name__": "__main__", "__builtins__": __builtins__})
            _grpo_status = 0
        except SystemExit as e:
            _grpo_status = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
            if not isinstance(e.code, (int, type(None))): print(e.code, file=sys.stderr)
        except BaseException as e:
            try:
                sys.stdout.flush()  # as the interpreter does before it prints a traceback
            except BaseException:
                pass
            sys.excepthook(type(e), e, e.__traceback__)
            _grpo_status = 1
        # What the interpreter does when a program ends (wait for its threads, run atexit, flush), short of
        # freeing every object one by one, which would copy every page this process shares with the server.
        try:
            if "threading" in sys.modules: sys.modules["threading"]._shutdown()
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            _grpo_status = _grpo_status or 120
        os._exit(_grpo_status & 0xFF)
        """
}
