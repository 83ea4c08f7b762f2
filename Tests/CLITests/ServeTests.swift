// `grpo serve` end to end: the built binary on a free port, the Python clients and
// a script of HTTP checks (clients/python/test_grpo_reward.py) against it, then
// SIGTERM while a request is in flight: the request is answered, the server exits
// 0 and the trace run is closed. Every process has a deadline and is killed at
// the end. The code checks need the sandbox (root, namespaces) and are skipped
// with the reason elsewhere.

import Foundation
import Sandbox
import XCTest

final class ServeTests: XCTestCase {
    static let root = CLITests.root
    var tmp: URL!
    private var servers: [Process] = []

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "grpo-serve-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for p in servers where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: tmp)
    }

    /// A math rule for math tasks and a code rule (short limits) for code tasks.
    func writeRules() throws -> URL {
        let rules = tmp.appendingPathComponent("mixed.yaml")
        try """
        name: mixed
        description: math answers and code tests
        rules:
          - name: answer
            kind: math
            applies_to: [math]
          - name: tests
            kind: code
            applies_to: [code]
            wall_seconds: 2
            cpu_seconds: 1
            memory_mb: 256
            max_output_kb: 256

        """.write(to: rules, atomically: true, encoding: .utf8)
        return rules
    }

    /// Starts `grpo serve` on a free port; returns it and its URL once it listens (20 s at most).
    func startServer(_ args: [String]) throws -> (Process, String) {
        let p = Process()
        p.executableURL = try BuiltBinary.locate(root: Self.root)
        p.arguments = ["serve", "--port", "0"] + args
        p.currentDirectoryURL = Self.root
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        servers.append(p)
        _ = Deadline(p, seconds: 120)
        let line = DispatchSemaphore(value: 0)
        let first = LineBox()
        DispatchQueue.global().async {
            var data = Data()
            while !data.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                data += chunk
            }
            first.value = String(decoding: data, as: UTF8.self)
            line.signal()
        }
        guard line.wait(timeout: .now() + 20) == .success,
            let url = first.value.range(of: "http://").map({
                String(first.value[$0.lowerBound...].prefix { !$0.isWhitespace })
            })
        else {
            throw XCTSkip("grpo serve did not say where it listens: \(first.value)")
        }
        return (p, url)
    }

    /// Runs the check script's `test` class against `url`; fails the test with its output unless it passes.
    func runChecks(_ test: String, url: String, token: String, rules: URL, marker: String = "none") throws {
        let script = Self.root.appendingPathComponent("clients/python/test_grpo_reward.py").path
        let run = try CLIProbe.python3(
            [script, test], seconds: 90,
            environment: [
                "GRPO_SERVE_URL": url, "GRPO_SERVE_TOKEN": token, "GRPO_RULES_FILE": rules.path,
                "GRPO_TEST_MARKER": marker,
            ])
        XCTAssertFalse(run.killed, "\(test): killed after 90 s")
        XCTAssertEqual(run.status, 0, "\(test) checks failed:\n\(run.output)")
    }

    func testEndpointsClientsAndGracefulShutdownAgainstALiveServer() throws {
        if case .failure(let e) = Sandbox.availability { throw XCTSkip("needs the sandbox: \(e.reason)") }
        let rules = try writeRules()
        let token = "t0ken-" + UUID().uuidString
        let tokenFile = tmp.appendingPathComponent("token")
        try (token + "\n").write(to: tokenFile, atomically: true, encoding: .utf8)
        let db = tmp.appendingPathComponent("traces.sqlite")
        let (server, url) = try startServer([
            "--rules", rules.path, "--host", "0.0.0.0", "--token-file", tokenFile.path, "--db", db.path,
        ])
        let local = url.replacingOccurrences(of: "0.0.0.0", with: "127.0.0.1")
        try runChecks("Endpoints", url: local, token: token, rules: rules)
        try runChecks("Clients", url: local, token: token, rules: rules)

        // SIGTERM while a two-second program runs: it is answered, then the server exits 0.
        let inFlight = try inFlightRequest(url: local, token: token)
        XCTAssertTrue(inFlight.waitUntilQueued(), "the request never reached the queue")
        kill(server.processIdentifier, SIGTERM)
        let answer = inFlight.wait()
        XCTAssertTrue(answer.contains("\"stdout\":\"done\\n\""), "the request in flight was not answered: \(answer)")
        let exited = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            server.waitUntilExit()
            exited.signal()
        }
        XCTAssertEqual(exited.wait(timeout: .now() + 20), .success, "the server did not stop after SIGTERM")
        XCTAssertEqual(server.terminationStatus, 0)

        // One finished run; a step per scoring request the checks made: /get_reward and /score once each
        // (3 and 2 completions), compute_score three times, the TRL function twice (3 and 1).
        let summary = try CLIProbe.python(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                + "print(c.execute('select count(*), max(status) from runs').fetchone(), "
                + "c.execute('select count(*) from steps').fetchone()[0], "
                + "c.execute('select count(*) from samples').fetchone()[0])", db.path)
        XCTAssertEqual(summary, "(1, 'finished') 7 12\n")
    }

    func testHostileProgramsThroughHTTPAndAFullQueue() throws {
        if case .failure(let e) = Sandbox.availability { throw XCTSkip("needs the sandbox: \(e.reason)") }
        let rules = try writeRules()
        let token = "t0ken-" + UUID().uuidString
        let marker = "grpo-serve-daemon-\(UUID().uuidString)"
        let (server, url) = try startServer([
            "--rules", rules.path, "--token", token, "--workers", "1", "--queue", "1",
        ])
        try runChecks("Hostile", url: url, token: token, rules: rules, marker: marker)
        try runChecks("Backpressure", url: url, token: token, rules: rules)
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
        // Nothing the hostile programs started is alive (the daemon carries the marker in its arguments).
        let alive = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard pid.first?.isNumber == true,
                let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { return false }
            return String(decoding: cmdline, as: UTF8.self).contains(marker)
        }
        XCTAssertEqual(alive, [], "processes of the hostile programs outlived their runs")
    }

    func testRefusesToBindBeyondLoopbackWithoutAToken() throws {
        let p = Process()
        p.executableURL = try BuiltBinary.locate(root: Self.root)
        p.arguments = ["serve", "--rules", "math", "--host", "0.0.0.0", "--port", "0"]
        p.currentDirectoryURL = Self.root
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let deadline = Deadline(p, seconds: 30)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        deadline.cancel()
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(text.contains("refusing to bind 0.0.0.0 without a token"), text)
    }

    /// A /run_code request of a program that takes two seconds, posted by python3, which says
    /// "queued" once /metrics shows it in the queue, then prints the answer.
    func inFlightRequest(url: String, token: String) throws -> InFlight {
        let script = tmp.appendingPathComponent("in_flight.py")
        try #"""
        import json, sys, threading, time, urllib.request
        url, headers, answer = sys.argv[1], {"Authorization": "Bearer " + sys.argv[2]}, {}
        def post():
            body = json.dumps({"code": "import time\ntime.sleep(2)\nprint('done')"}).encode()
            request = urllib.request.Request(url + "/run_code", data=body, headers=headers, method="POST")
            answer["text"] = urllib.request.urlopen(request, timeout=60).read().decode()
        thread = threading.Thread(target=post)
        thread.start()
        while "grpo_serve_queue_depth 1" not in urllib.request.urlopen(
                urllib.request.Request(url + "/metrics", headers=headers), timeout=10).read().decode():
            time.sleep(0.02)
        print("queued", flush=True)
        thread.join()
        print(answer.get("text"))
        """#.write(to: script, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = try XCTUnwrap(CLITests.python3, "python3 is not on PATH")
        p.arguments = [script.path, url, token]
        return try InFlight(p)
    }

    final class InFlight {
        let process: Process
        let out = Pipe()
        let deadline: Deadline
        private var text = Data()
        init(_ p: Process) throws {
            process = p
            p.standardOutput = out
            p.standardError = out
            try p.run()
            deadline = Deadline(p, seconds: 60)
        }
        /// Whether the script said the request is queued (false: it ended first).
        func waitUntilQueued() -> Bool {
            while !String(decoding: text, as: UTF8.self).contains("queued\n") {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { return false }
                text += chunk
            }
            return true
        }
        func wait() -> String {
            text += out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            deadline.cancel()
            return String(decoding: text, as: UTF8.self)
        }
    }

    final class LineBox: @unchecked Sendable {
        var value = ""
    }
}

/// python3 run by the CLI tests (checks against a live server, independent readers), with a deadline.
enum CLIProbe {
    /// Runs python3 with `arguments` (its environment: this process's plus `environment`); its
    /// status, standard output and error together, and whether the deadline killed it.
    static func python3(
        _ arguments: [String], seconds: Double, environment: [String: String] = [:]
    ) throws
        -> (status: Int32, output: String, killed: Bool)
    {
        let p = Process()
        p.executableURL = try XCTUnwrap(CLITests.python3, "python3 is not on PATH")
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let deadline = Deadline(p, seconds: seconds)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        deadline.cancel()
        return (p.terminationStatus, text, deadline.fired)
    }

    static func python(_ code: String, _ args: String...) throws -> String {
        try python3(["-c", code] + args, seconds: 30).output
    }
}
