// What a run could leave on the host or share with a later run, each
// reproduced with state the test owns (its own IPC key, marker names, a
// listener it opened) and checked from the host afterwards: IPC objects,
// world-writable places, memory and processes beyond the run's share, new
// user namespaces, kernel keys, the network, the parent's environment.

import XCTest
import Foundation
import Sandbox

final class HostIsolationTests: SandboxTestCase {
    /// The program's output lines, after checking it ended normally.
    func lines(
        _ program: String, in sandbox: Sandbox? = nil, file: StaticString = #filePath,
        line: UInt = #line
    ) -> [String] {
        let r = (sandbox ?? self.sandbox).runProgram(program)
        XCTAssertEqual(r.ending, .exited, r.output, file: file, line: line)
        XCTAssertEqual(r.exitStatus, 0, r.output, file: file, line: line)
        XCTAssertEqual(r.leftoverProcesses, 0, file: file, line: line)
        return r.output.split(separator: "\n").map(String.init)
    }

    func testIPCObjectsDieWithTheirRun() {
        let key = Self.ipcKey(slot: 0)
        defer { HostState.removeIPC(key: key) }
        let ipc = """
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            IPC_CREAT, IPC_NOWAIT = 0o1000, 0o4000
            class Message(ctypes.Structure):
                _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 16)]

            """
        let first = lines(
            ipc + """
                shm = libc.shmget(\(key), 64 << 20, IPC_CREAT | 0o666)
                queue = libc.msgget(\(key), IPC_CREAT | 0o666)
                sent = libc.msgsnd(queue, ctypes.byref(Message(1, b"earlier run")), 16, IPC_NOWAIT)
                print("created", shm >= 0, queue >= 0, sent == 0)
                """)
        XCTAssertEqual(first, ["created True True True"], "the run could not make the objects: the test proves nothing")
        XCTAssertFalse(HostState.ipcExists(key: key), "an IPC object of the run is on the host")
        let second = lines(
            ipc + """
                print("queue", libc.msgget(\(key), 0), ctypes.get_errno())
                print("shm", libc.shmget(\(key), 0, 0), ctypes.get_errno())
                """)
        XCTAssertEqual(second, ["queue -1 2", "shm -1 2"], "a later run found the earlier run's objects")
    }

    func testNothingIsWritableButTheRunsOwnScratchSpace() {
        let marker = "grpo-writable-\(UUID().uuidString)"
        defer {
            for folder in ["/run/lock", "/var/lock", "/tmp", "/var/tmp", "/dev/shm"] {
                try? FileManager.default.removeItem(atPath: folder + "/" + marker)
            }
        }
        let out = lines(
            """
            import os
            writable = []
            for line in open("/proc/self/mountinfo"):
                fields = line.split()
                point, options = fields[4], fields[5].split(",")
                if "rw" in options:
                    writable.append(point)
            print("writable mounts", " ".join(sorted(writable)))
            for folder in ["/run/lock", "/var/lock", "/dev/mqueue", "\(canary.path)", "/tmp", "/var/tmp", "/dev/shm"]:
                try:
                    with open(os.path.join(folder, "\(marker)"), "w") as f:
                        f.write("x")
                    print("wrote", folder)
                except OSError as e:
                    print("refused", folder, e.errno)
            """)
        XCTAssertEqual(out.first, "writable mounts /dev/shm /proc /tmp /var/tmp")
        // EROFS (30), or ENOENT (2) where the host has no such folder.
        for folder in ["/run/lock", "/var/lock", "/dev/mqueue", canary.path] {
            XCTAssertTrue(
                out.contains("refused \(folder) 30") || out.contains("refused \(folder) 2"),
                "\(folder): \(out)")
        }
        for folder in ["/tmp", "/var/tmp", "/dev/shm"] {
            XCTAssertTrue(out.contains("wrote \(folder)"), "\(folder): \(out)")
        }
        for folder in ["/run/lock", "/var/lock", "/tmp", "/var/tmp", "/dev/shm"] {
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: folder + "/" + marker),
                "left in the host's \(folder)")
        }
        assertCanaryIntact()
        // The scratch space is the run's own: a later run does not see the file.
        XCTAssertEqual(lines("import os\nprint(os.path.exists('/tmp/\(marker)'))"), ["False"])
    }

    func testMemoryAndProcessesAreBoundedForTheWholeRun() throws {
        let mode = Sandbox.runLimitMode
        guard mode.boundsWholeRun else { throw XCTSkip("no whole-run limits here: \(mode.summary)") }
        // The run is in its slot's cgroup.
        XCTAssertTrue(lines("print(open('/proc/self/cgroup').read())").contains { $0.contains("grpo-sandbox-") })
        // Five processes of 100 MB each at once: each is under the 256 MB a process may have,
        // their sum is not under what the run may have.
        let program = try String(
            contentsOf: hostileFolder.appendingPathComponent("many_forks_memory.py"),
            encoding: .utf8)
        // The same limits but more time: allocating 500 MB on a busy machine is slow.
        var limits = SandboxTestCase.limits
        limits.wallSeconds = 30
        limits.cpuSeconds = 10
        let patient = Sandbox(limits: limits, concurrency: 1, audit: .eachRun)
        let held = lines(program + "\nprint('held', held)\n", in: patient).last
        XCTAssertNotEqual(held, "held 5", "five processes held 500 MB in a 256 MB run")
        XCTAssertNotEqual(held, "held 0", "not even one process could hold 100 MB: the test proves nothing")
        let processes = lines(
            """
            import os, time
            n = 0
            for _ in range(100):
                try:
                    if os.fork() == 0:
                        time.sleep(2)
                        os._exit(0)
                    n += 1
                except OSError:
                    break
            print(n)
            """)
        XCTAssertLessThanOrEqual(Int(processes.first ?? "") ?? 100, SandboxTestCase.limits.maxProcesses)
        XCTAssertGreaterThan(Int(processes.first ?? "") ?? 0, 10)
    }

    func testNoUserNamespacesNoKeyringsButThreadsAndSubprocessesWork() {
        let out = lines(
            """
            import ctypes, os, subprocess, sys, threading
            libc = ctypes.CDLL(None, use_errno=True)
            def call(*args):
                r = libc.syscall(*args)
                return r, ctypes.get_errno() if r < 0 else 0
            arch = os.uname().machine
            ADD_KEY, KEYCTL, UNSHARE = {"x86_64": (248, 250, 272), "aarch64": (217, 219, 97)}[arch]
            print("unshare", libc.unshare(0x10000000), ctypes.get_errno())
            print("add_key", *call(ADD_KEY, b"user", b"grpo-test", b"x", 1, -4))
            print("keyctl", *call(KEYCTL, 0, -4, 0))
            result = []
            t = threading.Thread(target=lambda: result.append(6 * 7))
            t.start(); t.join()
            print("thread", result[0])
            print("subprocess", subprocess.run([sys.executable, "-c", "print(5)"], capture_output=True).stdout.strip())
            """)
        XCTAssertEqual(out, ["unshare -1 1", "add_key -1 1", "keyctl -1 1", "thread 42", "subprocess b'5'"])
    }

    func testTheNetworkIsItsOwnAndDown() throws {
        let listener = try LoopbackListener()
        // The listener is real: this process reaches it.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(listener.port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        XCTAssertEqual(connected, 0)
        usleep(100_000)
        XCTAssertEqual(listener.acceptedConnections(), 1)
        // The sandbox does not.
        let out = lines(
            """
            import errno, socket
            try:
                socket.create_connection(("127.0.0.1", \(listener.port)), timeout=2).close()
                print("connected")
            except OSError as e:
                print(errno.errorcode.get(e.errno, e.errno))
            """)
        XCTAssertEqual(out, ["ENETUNREACH"])
        usleep(100_000)
        XCTAssertEqual(listener.acceptedConnections(), 0)
    }

    func testTheEnvironmentIsCleanAndTheParentsIsOutOfReach() {
        setenv("GRPO_TEST_SECRET", "hunter2", 1)
        defer { unsetenv("GRPO_TEST_SECRET") }
        let out = lines(
            """
            import os
            print(sorted(os.environ))
            for pid in [p for p in os.listdir("/proc") if p.isdigit()] + [str(os.getppid())]:
                try:
                    print(pid, b"hunter2" in open("/proc/%s/environ" % pid, "rb").read())
                except OSError as e:
                    print(pid, "refused")
            """)
        XCTAssertEqual(out.first, "['HOME', 'LANG', 'PATH']")
        XCTAssertFalse(out.contains { $0.hasSuffix("True") }, "\(out)")
    }
}
