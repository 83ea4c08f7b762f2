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
        let p = Process()
        p.executableURL = try XCTUnwrap(CLITests.python3, "python3 is not on PATH")
        p.arguments = [Self.root.appendingPathComponent("clients/python/test_grpo_reward.py").path, test]
        p.environment = ProcessInfo.processInfo.environment.merging([
            "GRPO_SERVE_URL": url, "GRPO_SERVE_TOKEN": token, "GRPO_RULES_FILE": rules.path,
            "GRPO_TEST_MARKER": marker,
        ]) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let deadline = Deadline(p, seconds: 90)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        deadline.cancel()
        XCTAssertFalse(deadline.fired, "\(test): killed after 90 s")
        XCTAssertEqual(p.terminationStatus, 0, "\(test) checks failed:\n\(text)")
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

        // SIGTERM while a one-second program runs: it is answered, then the server exits 0.
        let inFlight = try inFlightRequest(url: local, token: token)
        usleep(400_000)
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

    /// A /run_code request of a program that takes a second, posted by python3 in the background.
    func inFlightRequest(url: String, token: String) throws -> InFlight {
        let p = Process()
        p.executableURL = try XCTUnwrap(CLITests.python3, "python3 is not on PATH")
        p.arguments = [
            "-c",
            "import sys, urllib.request; r = urllib.request.Request(sys.argv[1] + '/run_code', "
                + "data=b'{\"code\": \"import time\\\\ntime.sleep(1)\\\\nprint(\\\\\"done\\\\\")\"}', "
                + "headers={'Authorization': 'Bearer ' + sys.argv[2]}, method='POST'); "
                + "print(urllib.request.urlopen(r, timeout=30).read().decode())",
            url, token,
        ]
        return try InFlight(p)
    }

    final class InFlight {
        let process: Process
        let out = Pipe()
        init(_ p: Process) throws {
            process = p
            p.standardOutput = out
            p.standardError = out
            try p.run()
        }
        func wait() -> String {
            let deadline = Deadline(process, seconds: 30)
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            deadline.cancel()
            return text
        }
    }

    final class LineBox: @unchecked Sendable {
        var value = ""
    }
}

/// Small python3 one-liners the CLI tests use as independent readers.
enum CLIProbe {
    static func python(_ code: String, _ args: String...) throws -> String {
        let p = Process()
        p.executableURL = try XCTUnwrap(CLITests.python3, "python3 is not on PATH")
        p.arguments = ["-c", code] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let deadline = Deadline(p, seconds: 30)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        deadline.cancel()
        return text
    }
}
