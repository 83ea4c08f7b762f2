// What the sandbox tests share. They run only where the sandbox can (root,
// namespaces, a Python binary), and are skipped with the reason otherwise;
// each has a deadline; destructive payloads aim at canaries the test owns: a
// world-writable folder it made (outside /tmp, so the sandbox sees it, and
// only the read-only mount protects it) and a process it started. Leftover
// processes are counted in the run's own PID namespace, not by scanning the
// sandbox uids, which another grpo on the machine may be using.

import XCTest
import Foundation
import Sandbox
import RewardRules

class SandboxTestCase: XCTestCase {
    static var limits: SandboxLimits {
        var l = SandboxLimits()
        l.cpuSeconds = 2
        l.wallSeconds = 4
        l.memoryMB = 256
        l.maxOutputBytes = 64 << 10
        l.maxFileMB = 4
        return l
    }
    /// A System V IPC key of this test process's own (`slot` tells a process's keys apart): from
    /// the pid, so concurrent test runs never share one and a failure reproduces with its key.
    static func ipcKey(slot: Int32) -> Int32 { 0x4000_0000 + (getpid() % 0x0fff_ffff) * 2 + slot }

    /// The task every hostile program pretends to solve: f(x) = 3x + 2.
    static let tests = SandboxLoad.hostileTests
    static let humanEvalTests = SandboxLoad.humanEvalTests
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Seconds the whole test may take before the process is stopped (a hang must fail, not stall CI).
    var deadlineSeconds: Double { 180 }

    private(set) var sandbox: Sandbox!
    /// A world-writable folder with a `sentinel` file, visible (read-only) inside the sandbox.
    private(set) var canary: URL!
    private var deadline: DispatchWorkItem?

    override func setUpWithError() throws {
        try super.setUpWithError()
        if case .failure(let e) = Sandbox.availability { throw XCTSkip("sandbox tests need the sandbox: \(e.reason)") }
        sandbox = Sandbox(limits: Self.limits, concurrency: 4, audit: .eachRun)
        let folder = Self.packageRoot.appendingPathComponent(".build/test-canaries/\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "canary\n".write(to: folder.appendingPathComponent("sentinel"), atomically: false, encoding: .utf8)
        chmod(folder.path, 0o777)
        chmod(folder.appendingPathComponent("sentinel").path, 0o666)
        canary = folder
        let name = self.name
        let seconds = deadlineSeconds
        let item = DispatchWorkItem {
            fputs("\(name) ran past its \(Int(seconds)) s deadline: stopping the tests\n", stderr)
            exit(1)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
        deadline = item
    }

    override func tearDown() {
        deadline?.cancel()
        if let canary { try? FileManager.default.removeItem(at: canary) }
        sandbox = nil
        super.tearDown()
    }

    /// The canary folder holds exactly its sentinel, unchanged.
    func assertCanaryIntact(file: StaticString = #filePath, line: UInt = #line) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: canary.path)) ?? []
        XCTAssertEqual(names, ["sentinel"], "the canary folder changed", file: file, line: line)
        XCTAssertEqual(
            try? String(contentsOf: canary.appendingPathComponent("sentinel"), encoding: .utf8), "canary\n",
            file: file, line: line)
    }

    /// Runs a hostile solution and requires exactly the `expect`ed outcome (so a sandbox that
    /// never started fails too), score 0, an end within the limits, no process left in the
    /// run's namespace, and the canary intact.
    @discardableResult
    func hostile(
        _ solution: String, tests: String = SandboxTestCase.tests, expect: SandboxResult.Outcome,
        file: StaticString = #filePath, line: UInt = #line
    ) -> SandboxResult {
        let r = sandbox.run(solution: solution, tests: tests, entryPoint: "f")
        checkHostile(r, expect: expect, file: file, line: line)
        return r
    }

    func checkHostile(
        _ r: SandboxResult, expect: SandboxResult.Outcome, what: String = "",
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(r.outcome, expect, "\(what) \(r)", file: file, line: line)
        XCTAssertNotEqual(r.outcome, .passed, "\(what) a hostile program passed", file: file, line: line)
        XCTAssertLessThan(r.passed, r.total == 0 ? 1 : r.total, what, file: file, line: line)
        XCTAssertLessThan(r.seconds, Self.limits.wallSeconds + 2, what, file: file, line: line)
        XCTAssertEqual(r.leftoverProcesses, 0, "\(what) processes left behind", file: file, line: line)
        assertCanaryIntact(file: file, line: line)
    }

    /// A process the test owns (the interpreter, sleeping), for programs that try to kill it.
    func startCanaryProcess() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: sandbox.python)
        p.arguments = ["-c", "import time; time.sleep(120)"]
        try p.run()
        addTeardownBlock {
            if p.isRunning {
                p.terminate()
                p.waitUntilExit()
            }
        }
        return p
    }
}
