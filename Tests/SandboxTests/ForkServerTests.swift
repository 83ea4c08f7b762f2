// The fork server: every run is a fork of one interpreter started once, so a
// run must hold nothing of it (descriptors, environment), end as a program run
// by `python -` ends (status, exceptions, threads, atexit, buffered output),
// be counted in CPU time, and survive the server's death.

import Foundation
import Sandbox
import XCTest

final class ForkServerTests: SandboxTestCase {
    func testARunHoldsNoDescriptorOfTheServer() {
        let r = sandbox.runProgram(
            """
            import os
            held = []
            for fd in range(1024):
                try:
                    os.fstat(fd)
                    held.append(fd)
                except OSError:
                    pass
            print(held)
            """)
        XCTAssertEqual(r.exitStatus, 0, r.output)
        XCTAssertEqual(r.output, "[0, 1, 2]\n")
    }

    func testAProgramLeavesNothingForTheNextOneInItsSlot() {
        // One slot: the second program runs as the same uid, in a fork of the same server.
        let single = Sandbox(limits: Self.limits, concurrency: 1)
        let first = single.runProgram(
            """
            import builtins, os, sys, types
            builtins.LEFT = 1
            os.environ["LEFT"] = "1"
            sys.modules["left"] = types.ModuleType("left")
            sys.path.insert(0, "/tmp")
            open("/tmp/left.py", "w").write("x = 1")
            open("/dev/shm/left", "w").write("x")
            print("left")
            """)
        XCTAssertEqual(first.output, "left\n")
        let second = single.runProgram(
            """
            import builtins, os, sys
            print(hasattr(builtins, "LEFT"), "LEFT" in os.environ, "left" in sys.modules, "/tmp" in sys.path,
                  os.listdir("/tmp"), os.listdir("/dev/shm"))
            """)
        XCTAssertEqual(second.exitStatus, 0, second.output)
        XCTAssertEqual(second.output, "False False False False [] []\n")
    }

    func testARunEndsAsAProgramRunByPythonEnds() {
        func run(_ source: String) -> ProgramResult { sandbox.runProgram(source) }
        let message = run("import sys\nsys.exit('stopped: bad input')")
        XCTAssertEqual(message.exitStatus, 1)
        XCTAssertEqual(message.output, "stopped: bad input\n")
        let raised = run("print('before')\n1 / 0")
        XCTAssertEqual(raised.exitStatus, 1)
        XCTAssertTrue(raised.output.hasPrefix("before\n"), raised.output)
        XCTAssertTrue(raised.output.contains("ZeroDivisionError: division by zero"), raised.output)
        XCTAssertEqual(run("raise SystemExit(300)").exitStatus, 300 & 0xff)
        // Buffered output is flushed, atexit handlers run, and threads are waited for, in that order
        // of events as the interpreter has them: the thread first, then atexit.
        let ending = run(
            """
            import atexit, sys, threading, time
            atexit.register(lambda: print("atexit"))
            def late():
                time.sleep(0.2)
                print("thread")
            threading.Thread(target=late).start()
            sys.stdout.write("no newline")
            """)
        XCTAssertEqual(ending.exitStatus, 0, ending.output)
        XCTAssertEqual(ending.output, "no newlinethread\natexit\n")
    }

    func testRunsCPUTimeIsCounted() {
        _ = sandbox.runProgram("pass")
        let before = sandbox.runsCPUSeconds()
        let r = sandbox.runProgram(
            """
            import time
            end = time.process_time() + 0.5
            while time.process_time() < end:
                pass
            """)
        XCTAssertEqual(r.exitStatus, 0, r.output)
        let spent = sandbox.runsCPUSeconds() - before
        XCTAssertGreaterThan(spent, 0.45)
        XCTAssertLessThan(spent, 5)
    }

    func testAServerThatDiedIsReplaced() throws {
        XCTAssertEqual(sandbox.runProgram("print(6 * 7)").output, "42\n")
        let servers = Self.forkServers()
        XCTAssertEqual(servers.count, 1, "one fork server for the sandbox, found \(servers)")
        for pid in servers { kill(pid, SIGKILL) }
        let after = sandbox.runProgram("print(6 * 7)")
        XCTAssertEqual(after.ending, .exited, after.output)
        XCTAssertEqual(after.output, "42\n")
        let replaced = Self.forkServers()
        XCTAssertEqual(replaced.count, 1)
        XCTAssertTrue(Set(replaced).isDisjoint(with: servers))
    }

    /// Fork servers started by this test process: Python processes running the server whose
    /// ancestors include us (the runs' outer processes are their children, not counted).
    static func forkServers() -> [pid_t] {
        let me = getpid()
        func parent(_ pid: pid_t) -> pid_t? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 ? pid_t(fields[1]) : nil
        }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
        return pids.filter { pid in
            guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                String(decoding: command, as: UTF8.self).contains("_grpo_fork_server()"),
                let up = parent(pid),
                !(String(decoding: FileManager.default.contents(atPath: "/proc/\(up)/cmdline") ?? Data(), as: UTF8.self)
                    .contains("_grpo_fork_server()"))
            else { return false }
            var p = up
            for _ in 0..<8 {
                if p == me { return true }
                guard let next = parent(p), next > 0 else { return false }
                p = next
            }
            return false
        }
    }
}
