// Every hostile program in Hostile/ (one file per hack or family of the
// threat model; Hostile/README.md describes the headers) must end with exactly
// the outcome its header expects, score 0, within the limits, with nothing of
// it left: no process in its namespace, nothing in the canary folder or the
// host's world-writable places, no IPC object under its key, the canary
// process alive.

import XCTest
import Foundation
import Sandbox
import RewardRules

/// Where the hostile programs are.
let hostileFolder = SandboxTestCase.packageRoot.appendingPathComponent("Tests/SandboxTests/Hostile")

final class HostileProgramTests: SandboxTestCase {
    override var deadlineSeconds: Double { 300 }

    func testEveryHostileProgramScoresZeroAndLeavesNothing() throws {
        let programs = try SandboxLoad.corpus(at: hostileFolder)
        XCTAssertGreaterThanOrEqual(programs.count, 45, "the hostile corpus is missing files")
        let canaryProcess = try startCanaryProcess()
        let listener = try LoopbackListener()
        let ipcKey = Self.ipcKey(slot: 1)
        let marker = "grpo-hostile-\(UUID().uuidString)"
        setenv("GRPO_TEST_SECRET", "hunter2", 1)
        defer { unsetenv("GRPO_TEST_SECRET") }
        defer { HostState.removeIPC(key: ipcKey) }
        let rule = CodeRule(name: "tests", sandbox: sandbox)
        // Programs that only a whole-run limit stops are left to HostIsolationTests, which skips
        // them, saying why, on a machine without a usable cgroup.
        let wholeRun = Sandbox.runLimitMode.boundsWholeRun
        let runnable = programs.filter { wholeRun || !$0.needsWholeRunLimits }
        // Four at a time (the sandbox's slots): most of them wait out a limit.
        var results = [(SandboxResult, RuleScore?)?](repeating: nil, count: runnable.count)
        results.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: runnable.count) { i in
                let p = runnable[i]
                let source = p.instantiated(
                    canary: canary.path, canaryPID: canaryProcess.processIdentifier,
                    port: listener.port, ipcKey: ipcKey, marker: marker)
                let r = sandbox.run(solution: source, tests: p.tests, entryPoint: "f")
                var task = RewardTask(kind: "code", tests: p.tests, entryPoint: "f")
                task.rawCompletion = true
                // The code rule on a few of them too: the reward, not only the outcome, is 0.
                out[i] = (r, i % 8 == 0 ? rule.score(completion: source, task: task) : nil)
            }
        }
        for (p, result) in zip(runnable, results) {
            guard let (r, score) = result else { continue }
            guard let expect = SandboxResult.Outcome(rawValue: p.expect) else {
                XCTFail("\(p.name): unknown outcome \(p.expect)")
                continue
            }
            checkHostile(r, expect: expect, what: p.name)
            if let score { XCTAssertEqual(score.score, 0, p.name) }
        }
        // The daemon woke after its run: it must have died with the namespace, not written.
        usleep(2_000_000)
        assertCanaryIntact()
        XCTAssertTrue(canaryProcess.isRunning, "the canary process was killed")
        XCTAssertEqual(listener.acceptedConnections(), 0, "a program reached the host's loopback")
        XCTAssertFalse(HostState.ipcExists(key: ipcKey), "an IPC object outlived its run")
        for folder in ["/run/lock", "/var/lock", "/tmp", "/var/tmp", "/dev/shm", "/"] {
            XCTAssertFalse(
                FileManager.default.fileExists(atPath: folder + "/" + marker),
                "a file was left in \(folder)")
            try? FileManager.default.removeItem(atPath: folder + "/" + marker)
        }
    }
}
