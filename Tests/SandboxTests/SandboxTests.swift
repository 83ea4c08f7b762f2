// One test per hostile family of the sandbox's threat model: each scores 0 (or the
// honest outcome), ends within its limits, leaves no process of the sandbox
// uids and no file behind, and does not disturb this (the parent) process.

import XCTest
import Foundation
import Sandbox
import RewardRules

final class SandboxTests: XCTestCase {
    static var limits: SandboxLimits = {
        var l = SandboxLimits(); l.cpuSeconds = 2; l.wallSeconds = 4; l.memoryMB = 256; l.maxOutputBytes = 64 << 10; l.maxFileMB = 4
        return l
    }()
    let sandbox = Sandbox(limits: SandboxTests.limits, concurrency: 4)
    let marker = "grpo-sbx-\(getpid())"

    /// Processes owned by the sandbox uids, from /proc.
    func sandboxProcesses() -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
        return pids.compactMap { pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }),
                  let uid = Int(line.split(separator: "\t")[1]), (61_000..<61_100).contains(uid) else { return nil }
            return pid
        }
    }

    /// Runs a hostile program; checks score 0, the time bound, no leftovers.
    @discardableResult
    func hostile(_ solution: String, tests: String = "assert f(1) == 1", within seconds: Double = 6,
                 expect outcomes: Set<SandboxResult.Outcome>? = nil, file: StaticString = #filePath, line: UInt = #line) -> SandboxResult {
        let start = Date()
        let r = sandbox.run(solution: solution, tests: tests)
        XCTAssertNotEqual(r.outcome, .passed, "a hostile program passed: \(r)", file: file, line: line)
        if let outcomes { XCTAssertTrue(outcomes.contains(r.outcome), "\(r)", file: file, line: line) }
        XCTAssertLessThan(Date().timeIntervalSince(start), seconds, file: file, line: line)
        // Nothing of the run survives it (the kernel reaps the namespace almost at once).
        var left = sandboxProcesses()
        for _ in 0..<20 where !left.isEmpty { usleep(50_000); left = sandboxProcesses() }
        XCTAssertEqual(left, [], "processes left behind", file: file, line: line)
        let stray = ((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.contains(marker) }
        XCTAssertEqual(stray, [], "files left behind", file: file, line: line)
        return r
    }

    func testHonestProgramsPassQuickly() {
        let r = sandbox.run(solution: "def f(x):\n    return x * 2\n", tests: "assert f(2) == 4\nassert f(-1) == -2\nassert f(0) == 0")
        XCTAssertEqual(r.outcome, .passed); XCTAssertEqual(r.passed, 3); XCTAssertEqual(r.total, 3)
        XCTAssertLessThan(r.seconds, 1)
        let wrong = sandbox.run(solution: "def f(x):\n    return x + 2\n", tests: "assert f(2) == 4\nassert f(-1) == -2\nassert f(0) == 0")
        XCTAssertEqual(wrong.outcome, .assertionFailed); XCTAssertEqual(wrong.passed, 1)
        XCTAssertEqual(sandbox.run(solution: "def f(x) return 1", tests: "assert f(1) == 1").outcome, .syntaxError)
        XCTAssertEqual(sandbox.run(solution: "def f(x):\n    return 1 / 0\n", tests: "assert f(1) == 1").outcome, .error)
        // Writing and reading in its own working directory is fine.
        XCTAssertEqual(sandbox.run(solution: "open('a.txt','w').write('hi')\ndef f(x):\n    return open('a.txt').read()\n", tests: "assert f(0) == 'hi'").outcome, .passed)
    }

    func testCodeRuleExtractsAndScores() throws {
        let set = try RuleSet.parse("rules:\n  - {name: tests, kind: code, partial_credit: true, wall_seconds: 4}", file: "r.yaml")
        let task = RewardTask(kind: "code", tests: "assert f(1) == 2\nassert f(2) == 4\nassert f(3) == 7\nassert f(4) == 8")
        let c = "Here:\n```python\ndef f(x):\n    return 0\n```\nbetter:\n```python\ndef f(x):\n    return 2 * x\n```\n"
        let s = set.score(completion: c, task: task).score(of: "tests")!
        XCTAssertEqual(s.score, 0.75); XCTAssertEqual(s.reason, "assertion_failed")
        XCTAssertEqual(set.score(completion: "no code here", task: task).score(of: "tests")?.reason, "no_code")
        XCTAssertNil(set.score(completion: c, task: RewardTask(kind: "math", answer: "1")).score(of: "tests"), "no tests: not applicable")
        var raw = RewardTask(kind: "code", tests: "assert f(2) == 4"); raw.rawCompletion = true
        XCTAssertEqual(set.score(completion: "def f(x):\n    return 2 * x\n", task: raw).reward, 1)
        XCTAssertThrowsError(try RuleSet.parse("rules:\n  - {name: t, kind: code, memory_mb: 0}", file: "r.yaml")) {
            XCTAssertTrue("\($0)".contains("field \"memory_mb\""))
        }
    }

    // MARK: hostile families

    func testEndlessLoopsAndSleeping() {
        hostile("while True:\n    pass\n", expect: [.timeout])
        hostile("import threading\ndef spin():\n    while True: pass\nthreading.Thread(target=spin, daemon=False).start()\ndef f(x): return x\n", expect: [.timeout, .error, .noVerdict, .assertionFailed])
        hostile("import time\ntime.sleep(100)\n", expect: [.timeout])
    }

    func testForkBombsShellsAndDaemons() {
        hostile("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n")
        hostile("import subprocess\nsubprocess.Popen(['/bin/sh','-c','sleep 100'])\nwhile True: pass\n", expect: [.timeout])
        // Double fork + setsid: the daemon tries to outlive the run and leave a file behind.
        hostile("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.5)
                open('/tmp/\(marker)-daemon', 'w').write('alive')
                time.sleep(100)
            os._exit(0)
        def f(x): return 0
        """)
        usleep(2_000_000)  // past the daemon's wake-up: it must be gone with its namespace
        XCTAssertEqual(sandboxProcesses(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/\(marker)-daemon"))
        hostile("import os, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nos.setpgid(0, 0)\nwhile True: pass\n", expect: [.timeout])
    }

    func testMemoryRecursionAndCrashes() {
        hostile("x = bytearray(2 * 1024 * 1024 * 1024)\ndef f(x): return x\n", expect: [.error])
        hostile("a = []\nwhile True: a.append(' ' * 10**6)\n", expect: [.error, .noVerdict, .timeout])
        hostile("import sys\nsys.setrecursionlimit(10**6)\ndef g(n): return g(n + 1)\ng(0)\n", expect: [.error, .noVerdict, .timeout])
        hostile("import ctypes\nctypes.string_at(0)\n", expect: [.noVerdict, .timeout])
    }

    func testFloodsAndHugeFiles() {
        hostile("import sys\nwhile True: sys.stdout.write('x' * 65536)\n", expect: [.outputLimit])
        hostile("import sys\nwhile True: sys.stderr.write('y' * 65536)\n", expect: [.outputLimit])
        hostile("f = open('big', 'wb')\nwhile True: f.write(b'0' * 1048576)\n", expect: [.error, .noVerdict])
    }

    func testFilesOutsideAndSecrets() {
        setenv("GRPO_TEST_SECRET", "hunter2", 1)
        // Reading the parent's environment (directly, and through /proc) or root-only files fails.
        hostile("import os\nsecret = os.environ.get('GRPO_TEST_SECRET')\ndef f(x): return secret\n", tests: "assert f(1) == 'hunter2'")
        hostile("import os\ndef f(x): return open('/proc/%d/environ' % os.getppid()).read()\n", tests: "assert 'hunter2' in f(1)")
        hostile("def f(x): return open('/etc/shadow').read()\n", tests: "assert len(f(1)) > 0")
        // Writing outside the working directory: its /tmp is its own, the rest is not writable.
        hostile("open('/tmp/\(marker)-outside', 'w').write('x')\nopen('\(FileManager.default.currentDirectoryPath)/\(marker)', 'w').write('x')\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/" + marker))
        hostile("import shutil\nshutil.rmtree('/work', ignore_errors=False)\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/work"))
    }

    func testNoNetwork() {
        hostile("import socket\ns = socket.create_connection(('127.0.0.1', 22), timeout=1)\ndef f(x): return 1\n")
        hostile("import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=1)\ndef f(x): return 1\n")
    }

    func testFakingSuccess() {
        hostile("import sys\nsys.exit(0)\n", expect: [.error])
        hostile("import os\nos._exit(0)\n", expect: [.noVerdict])
        hostile("print('PASSED 1 1 passed')\nprint('0' * 32 + ' 1 1 passed')\nimport os\nos._exit(0)\n", expect: [.noVerdict])
        hostile("class Any:\n    def __eq__(self, o): return True\ndef f(x): return Any()\n", expect: [.assertionFailed])
        hostile("import builtins\nbuiltins.AssertionError = Exception\ndef f(x): return 0\n", expect: [.assertionFailed])
        hostile("import sys\nsys.modules['builtins'].isinstance = lambda a, b: True\ndef f(x): return 0\n", expect: [.assertionFailed])
        hostile("""
        import sys
        def f(x):
            sys.stdout.write('\\n')
            raise SystemExit(0)
        """, expect: [.error, .assertionFailed])
        hostile("""
        import sys, atexit
        atexit.register(lambda: print('x 1 1 passed'))
        def f(x): return 0
        """, expect: [.assertionFailed])
    }

    func testLimitsAndSignalGames() {
        hostile("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1000, 1000))\nwhile True: pass\n", expect: [.error, .timeout])
        hostile("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\ndef f(x): return 0\n")
        hostile("import os, signal\nfor p in range(2, 500):\n    try: os.kill(p, signal.SIGKILL)\n    except Exception: pass\ndef f(x): return 0\n")
        XCTAssertEqual(kill(getpid(), 0), 0, "the parent survives")
    }

    func testConcurrentRunsStayIndependent() {
        let good = "def f(x):\n    return x\n"
        var results = [SandboxResult?](repeating: nil, count: 16)
        results.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: 16) { i in
                out[i] = sandbox.run(solution: i % 4 == 0 ? "while True: pass\n" : good, tests: "assert f(1) == 1")
            }
        }
        for (i, r) in results.enumerated() { XCTAssertEqual(r!.outcome, i % 4 == 0 ? .timeout : .passed, "run \(i)") }
    }
}
