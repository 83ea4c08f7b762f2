// Helper programs the trainer must always be able to stop (ContainedProcess),
// the interpreter check a rule set's `python` goes through at load, and
// SIGPIPE: a write to a program that has exited is an error, not the end of
// the trainer. Every hostile program lives in the test's own temporary folder,
// and every wait has a deadline.

import XCTest
import Foundation
import Sandbox

final class ContainedProcessTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        let name = "contained-\(getpid())-\(UUID().uuidString.prefix(8))"
        folder = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    /// An executable script in the test's folder.
    func script(_ name: String, _ body: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try body.write(to: url, atomically: false, encoding: .utf8)
        chmod(url.path, 0o755)
        return url.path
    }

    /// The Python the sandbox uses, or a skip.
    func python() throws -> String {
        guard let python = Sandbox.defaultPython else { throw XCTSkip("no python3 interpreter on this machine") }
        return python
    }

    /// Whether process `pid` (a host pid) is gone: no /proc entry, or a zombie nobody reaped yet.
    func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // "pid (comm) S ...": the state follows the last parenthesis.
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    // MARK: SIGPIPE

    /// With SIGPIPE ignored, a write to a pipe nobody reads fails with EPIPE; this test
    /// process would die of the signal otherwise.
    func testWriteToAClosedPipeFailsWithEPIPE() {
        ProcessSignals.ignoreBrokenPipes()
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        close(fds[0])
        let bytes = [UInt8](repeating: 1, count: 16)
        XCTAssertEqual(write(fds[1], bytes, bytes.count), -1)
        XCTAssertEqual(errno, EPIPE)
        close(fds[1])
    }

    /// 1 MB to a program that closed its standard input: an error naming how it ended, at once.
    func testSendingToAProgramThatStoppedReadingIsAnError() throws {
        let path = try script("deaf.sh", "#!/bin/sh\nexec 0<&-\nexit 7\n")
        let p = try ContainedProcess(executable: path, arguments: [])
        defer { p.stop() }
        let megabyte = [UInt8](repeating: 65, count: 1 << 20)
        XCTAssertThrowsError(try p.send(megabyte, deadline: Date().addingTimeInterval(30))) {
            XCTAssertEqual($0 as? ContainedProcess.Failure, .closed(status: 7))
        }
    }

    // MARK: deadlines and stopping

    /// A program that closes its stdout and sleeps: reading ends (the pipe is closed), and
    /// stopping it is immediate.
    func testProgramThatClosesItsOutputAndSleepsIsStopped() throws {
        let path = try script("mute.sh", "#!/bin/sh\nexec 1>&-\nsleep 300\n")
        let p = try ContainedProcess(executable: path, arguments: [])
        let start = Date()
        XCTAssertThrowsError(try p.readLine(deadline: Date().addingTimeInterval(30))) {
            XCTAssertEqual($0 as? ContainedProcess.Failure, .closed(status: nil))
        }
        p.stop()
        XCTAssertNotNil(p.exitStatus(), "reaped")
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "neither the read nor the stop waited for the sleep")
    }

    /// A program that says nothing: the read gives up at its deadline.
    func testReadGivesUpAtItsDeadline() throws {
        let path = try script("silent.sh", "#!/bin/sh\nsleep 300\n")
        let p = try ContainedProcess(executable: path, arguments: [])
        defer { p.stop() }
        XCTAssertThrowsError(try p.readLine(deadline: Date().addingTimeInterval(0.3))) {
            XCTAssertEqual($0 as? ContainedProcess.Failure, .timeout)
        }
    }

    /// A program that starts a daemon (double fork and setsid, out of its process group) and
    /// exits: stopping it kills the daemon too, where a PID namespace can be made.
    func testStopKillsADaemonThatLeftTheProcessGroup() throws {
        let pidFile = folder.appendingPathComponent("daemon.pid").path
        let path = try script(
            "daemonize.py",
            """
            #!\(try python())
            import os, sys, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    # The host's pid: /proc is the host's, whatever namespace this runs in.
                    with open(sys.argv[1] + ".tmp", "w") as f: f.write(os.readlink("/proc/self"))
                    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
                    time.sleep(300)
                os._exit(0)
            while not os.path.exists(sys.argv[1]): time.sleep(0.01)
            print("started", flush=True)
            """)
        let p = try ContainedProcess(executable: path, arguments: [pidFile])
        XCTAssertEqual(try p.readLine(deadline: Date().addingTimeInterval(30)), Array("started".utf8))
        let daemon = try XCTUnwrap(Int32(String(contentsOfFile: pidFile, encoding: .utf8)))
        guard p.isolation == .pidNamespace else {
            p.stop()
            kill(daemon, SIGKILL)  // our canary: not left behind
            throw XCTSkip("no PID namespace on this machine (not root, no user namespaces): only the group is killed")
        }
        XCTAssertFalse(isGone(daemon), "the daemon runs until its program is stopped")
        p.stop()
        XCTAssertTrue(waitFor(10) { self.isGone(daemon) }, "daemon \(daemon) outlived its program")
    }

    // MARK: the interpreter check

    func testInterpreterCheckNamesWhatIsWrong() throws {
        XCTAssertNil(InterpreterCheck.problem(with: try python()))
        XCTAssertEqual(
            InterpreterCheck.problem(with: "/bin/true"),
            "/bin/true: does not run Python 3 programs (exit status 0)")
        let missing = folder.appendingPathComponent("nope/python3").path
        XCTAssertEqual(InterpreterCheck.problem(with: missing), "\(missing): no such file")
        XCTAssertEqual(InterpreterCheck.problem(with: folder.path), "\(folder.path): not an executable file")
        XCTAssertEqual(InterpreterCheck.problem(with: "python3"), "python3: not an absolute path")
        // Echoing its arguments back does not pass for Python; nor does an interpreter that never answers.
        let echo = try script("echo.sh", "#!/bin/sh\necho \"$@\"\n")
        let echoed = InterpreterCheck.problem(with: echo) ?? ""
        XCTAssertTrue(echoed.hasPrefix("\(echo): does not run Python 3 programs"), echoed)
        let hang = try script("hang.sh", "#!/bin/sh\nsleep 300\n")
        XCTAssertEqual(InterpreterCheck.problem(with: hang, timeout: 0.5), "\(hang): did not answer within 0.5 s")
    }
}
