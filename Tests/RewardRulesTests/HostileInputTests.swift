// Plugins that misbehave on purpose (each a script in the test's own temporary
// folder, each call under a deadline): one that closes its stdout and sleeps,
// one that leaves a daemon behind, one that never reads, one that prints debug
// lines, one that fails every request. And rule files that are hostile or
// mistaken: an alias bomb, a typo in `applies_to`, an interpreter that is not
// Python.

import XCTest
import Foundation
import RewardRules

extension RuleSetTests {
    /// `body`'s result, or nil (and a failure) when it has not returned after `seconds`: a hang
    /// fails the test instead of hanging the suite.
    func withDeadline<T>(
        _ seconds: Double, file: StaticString = #filePath, line: UInt = #line,
        _ body: @escaping @Sendable () -> T
    ) -> T? {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        Thread {
            box.value = body()
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + seconds) == .success else {
            XCTFail("did not return within \(seconds) s", file: file, line: line)
            return nil
        }
        return box.value
    }

    /// Whether host process `pid` is gone (no /proc entry, or a zombie not yet reaped).
    func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }

    func testPluginThatClosesItsOutputAndSleepsCannotHangScoring() throws {
        let path = try plugin("os.close(1)\ntime.sleep(300)\n")
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 120)
        let score = try XCTUnwrap(withDeadline(30) { rule.score(completion: "a", task: RewardTask(kind: "math")) })
        XCTAssertEqual(score?.reason, "plugin_error")
        XCTAssertTrue(
            score?.detail?.hasPrefix("plugin closed its standard input or output before replying") ?? false,
            score?.detail ?? "")
    }

    /// A plugin that starts a daemon (setsid: out of its process group), which keeps the plugin's
    /// stdout open, then exits: the next request does not wait for the daemon (the timeout is
    /// far beyond the test's deadline), and the daemon dies with the plugin.
    func testPluginDaemonDiesWithThePlugin() throws {
        let folder = URL(fileURLWithPath: try plugin("")).deletingLastPathComponent()
        let pidFile = folder.appendingPathComponent("daemon.pid").path
        let path = try plugin(
            """
            r = json.loads(sys.stdin.readline())
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    with open("\(pidFile).tmp", "w") as f: f.write(os.readlink("/proc/self"))
                    os.rename("\(pidFile).tmp", "\(pidFile)")
                    time.sleep(300)
                os._exit(0)
            while not os.path.exists("\(pidFile)"): time.sleep(0.01)
            print(json.dumps({"id": r["id"], "score": 1, "reason": "ok"}), flush=True)
            """)
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 120)
        XCTAssertEqual(withDeadline(30) { rule.score(completion: "a", task: RewardTask(kind: "math"))?.reason }, "ok")
        let daemon = try XCTUnwrap(Int32(String(contentsOfFile: pidFile, encoding: .utf8)))
        guard rule.isolation == .pidNamespace else {
            kill(daemon, SIGKILL)  // our canary: not left behind
            throw XCTSkip(
                "no PID namespace on this machine (not root, no user namespaces): "
                    + "only the plugin's process group is killed")
        }
        let second = withDeadline(30) { rule.score(completion: "b", task: RewardTask(kind: "math")) }
        XCTAssertEqual(second??.reason, "plugin_error")
        let deadline = Date().addingTimeInterval(10)
        while !isGone(daemon) && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(isGone(daemon), "daemon \(daemon) outlived its plugin")
    }

    /// A megabyte to a plugin that never reads: the write waits no longer than the request's timeout.
    func testPluginThatNeverReadsTimesOut() throws {
        let path = try plugin("time.sleep(300)\n")
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 1)
        let big = String(repeating: "x", count: 1 << 20)
        let score = withDeadline(30) { rule.score(completion: big, task: RewardTask(kind: "math")) }
        XCTAssertEqual(score??.reason, "plugin_timeout")
    }

    /// A debug print on stdout before the reply is skipped, and said so in the detail.
    func testPluginDebugLineOnStdoutIsSkipped() throws {
        let path = try plugin(
            """
            for line in sys.stdin:
                r = json.loads(line)
                print("debug: got", r["id"], flush=True)
                print(json.dumps({"id": r["id"], "score": 0.5, "reason": "half"}), flush=True)
            """)
        let rule = CommandRule(name: "p", executable: URL(fileURLWithPath: path), timeout: 10)
        for request in 1...2 {
            let score = withDeadline(30) { rule.score(completion: "a", task: RewardTask(kind: "math")) }
            XCTAssertEqual(score??.score, 0.5)
            XCTAssertEqual(score??.reason, "half")
            XCTAssertEqual(
                score??.detail,
                "plugin printed 1 line(s) that are not replies before its reply (debug "
                    + "output belongs on stderr): debug: got \(request)")
        }
        XCTAssertNil(rule.failureReason())
    }

    /// A plugin that raises on every request is broken, not strict: after max_consecutive_errors
    /// failures in a row the rule set refuses to go on, naming the rule and its last error; a
    /// success in between starts the count again.
    func testPluginFailingEveryRequestStopsScoring() throws {
        let folder = URL(fileURLWithPath: try plugin("")).deletingLastPathComponent()
        let flaky = folder.appendingPathComponent("flaky.py")
        try """
        #!/usr/bin/env python3
        import json, sys
        for line in sys.stdin:
            r = json.loads(line)
            if r["completion"] != "ok": raise ValueError("cannot score " + r["completion"])
            print(json.dumps({"id": r["id"], "score": 1, "reason": "ok"}), flush=True)
        """.write(to: flaky, atomically: false, encoding: .utf8)
        chmod(flaky.path, 0o755)
        let file = folder.appendingPathComponent("flaky.yaml")
        let rule = "{name: judge, kind: command, command: ./flaky.py, max_restarts: 100, max_consecutive_errors: 3}"
        try "rules:\n  - \(rule)\n".write(to: file, atomically: false, encoding: .utf8)
        let set = try RuleSet.load(file.path)
        func score(_ completion: String) -> String? {
            let scored = withDeadline(30) { set.score(completion: completion, task: RewardTask(kind: "math")) }
            return scored?.score(of: "judge")?.reason
        }
        XCTAssertEqual(score("bad"), "plugin_error")
        XCTAssertEqual(score("bad"), "plugin_error")
        XCTAssertNoThrow(try set.checkRulesWork([], maxErrorShare: 1), "two failures in a row are not yet three")
        XCTAssertEqual(score("ok"), "ok")
        for _ in 0..<2 { XCTAssertEqual(score("bad"), "plugin_error") }
        XCTAssertNoThrow(try set.checkRulesWork([], maxErrorShare: 1), "the success started the count again")
        XCTAssertEqual(score("bad"), "plugin_error")
        XCTAssertThrowsError(try set.checkRulesWork([], maxErrorShare: 1)) { error in
            guard case let .broken(rule, brokenFile, message)? = error as? RewardError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(rule, "judge")
            XCTAssertEqual(brokenFile, file.path)
            XCTAssertTrue(message.contains("failed 3 requests in a row"), message)
            XCTAssertTrue(message.contains("cannot score bad"), message)
        }
    }

    // MARK: rule files

    /// Nine levels of ten aliases stand for a billion values: refused by the count, at once.
    func testAliasBombIsRefused() {
        let levels = (1...9).map { level in
            "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"
        }
        let yaml =
            (["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + levels
            + ["rules:", "  - {name: f, kind: regex, pattern: x, flags: *a9}"]).joined(separator: "\n")
        let message = withDeadline(30) { [self] in error(yaml) }
        XCTAssertEqual(
            message,
            "rules.yaml: the document holds more than 100000 values once its aliases are expanded "
                + "(an alias bomb?); refusing it")
        // Aliases within the bound still work.
        XCTAssertNoThrow(
            try parse(
                "rules:\n  - {name: f, kind: regex, pattern: x, flags: &f [dotall]}\n"
                    + "  - {name: g, kind: regex, pattern: y, flags: *f}"))
    }

    /// A typo in `applies_to` would make the rule silently never apply: refused by name.
    func testUnknownAppliesToKindIsRefused() {
        XCTAssertEqual(
            error("rules:\n  - {name: f, kind: regex, pattern: x, applies_to: [math, maths]}"),
            "rules.yaml:2: rule \"f\": field \"applies_to\": unknown task kind \"maths\" "
                + "(task kinds: math, code)")
        XCTAssertEqual(error("rules:\n  - {name: f, kind: regex, pattern: x, applies_to: code}"), "no error")
    }

    /// The interpreter of a code rule is checked when the rule set loads, naming the field.
    func testCodeRuleInterpreterIsCheckedAtLoad() throws {
        XCTAssertEqual(
            error("rules:\n  - {name: t, kind: code, python: /bin/true}"),
            "rules.yaml:2: rule \"t\": field \"python\": /bin/true: does not run Python 3 programs "
                + "(exit status 0)")
        let missing = FileManager.default.temporaryDirectory
            .appendingPathComponent("no-such-\(UUID().uuidString)/python3").path
        XCTAssertEqual(
            error("rules:\n  - {name: t, kind: program_output, python: \(missing)}"),
            "rules.yaml:2: rule \"t\": field \"python\": \(missing): no such file")
    }
}

private final class ResultBox<T>: @unchecked Sendable { var value: T? }
