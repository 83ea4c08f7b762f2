// `grpo traces serve` in a real browser: headless Chromium (Debian's
// chromium, which `make test` installs) loads each page of a database a
// two-step `grpo train` wrote. Each page, once rendered, writes a JSON summary
// of what it shows into #rendered (charts and their points, completions,
// reasons, console errors); the test reads it from the DOM Chromium dumps and
// checks it against the database, read with `grpo traces sql`. Screenshots of
// the curves page and a group view are kept in a folder whose path is printed.

import Foundation
import XCTest

extension CLITests {
    func testViewerPagesRenderTheDatabaseInHeadlessChromium() throws {
        let chromium = try XCTUnwrap(
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
                FileManager.default.isExecutableFile(atPath: $0)
            },
            "no chromium: `make test` installs Debian's chromium package (apt-get install chromium)")
        let model = try toyModel()
        let db = tmp.appendingPathComponent("r.sqlite").path
        try grpo(trainArguments(model, out: tmp.appendingPathComponent("out").path, db: db, steps: 2), timeout: 300)

        let server = try ViewerServer(try binary(), db: db, seconds: 240)
        defer { server.stop() }
        let shots = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-viewer-screenshots-\(getpid())")
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        let browser = Browser(chromium: chromium, profile: tmp.appendingPathComponent("chromium"))
        func sql(_ query: String) throws -> [[String: Any]] {
            try json(grpo(["traces", "sql", "--db", db, "--json", query]).out)
        }

        let runs = try browser.render(server.url + "#/runs")
        XCTAssertEqual(runs["page"] as? String, "runs")
        XCTAssertEqual(runs["runs"] as? Int, 1)

        // Each per-step curve has a point for each step that recorded it.
        let curves = try browser.render(
            server.url + "#/curves/1", screenshot: shots.appendingPathComponent("curves.png"))
        XCTAssertEqual(curves["steps"] as? Int, 2)
        let charts = curves["charts"] as! [[String: Any]]
        func points(_ title: String, _ label: String) -> Int? {
            let chart = charts.first { $0["title"] as? String == title }
            let datasets = chart?["datasets"] as? [[String: Any]]
            return datasets?.first { $0["label"] as? String == label }?["points"] as? Int
        }
        for column in ["reward_mean", "kl", "entropy", "completion_len_mean", "learning_rate"] {
            let recorded = try sql("SELECT count(\(column)) AS n FROM steps WHERE run_id = 1")[0]["n"] as! Int
            let title = charts.first {
                ($0["datasets"] as! [[String: Any]]).contains { $0["label"] as? String == column }
            }
            // A metric no step recorded (KL without a reference model) has no curve at all.
            let shown = title.flatMap { points($0["title"] as! String, column) }
            XCTAssertEqual(shown, recorded == 0 ? nil : recorded, column)
        }
        for rule in try sql("SELECT rule, count(*) AS steps FROM rule_pass_rate WHERE run_id = 1 GROUP BY rule") {
            let name = rule["rule"] as! String
            XCTAssertEqual(points("pass rate per rule", name), rule["steps"] as? Int, name)
        }
        let layers =
            try sql(
                "SELECT count(DISTINCT substr(j.key, 13, instr(substr(j.key, 13), '/') - 1)) AS n "
                    + "FROM steps s, json_each(s.metrics) j WHERE j.key LIKE 'expert_load/%'")[0]["n"] as! Int
        XCTAssertGreaterThan(layers, 0)
        XCTAssertEqual(charts.filter { ($0["title"] as! String).hasPrefix("expert load, layer") }.count, layers)

        // The step's groups, then the widest group: every completion, every rule's reason in its DOM.
        let step = try browser.render(server.url + "#/step/1/2")
        let groups = try sql("SELECT id FROM groups WHERE run_id = 1 AND step = 2 ORDER BY reward_std DESC, idx")
        XCTAssertEqual(step["groups"] as? Int, groups.count)
        let groupID = groups[0]["id"] as! Int
        let (group, dom) = try browser.renderWithDOM(
            server.url + "#/group/\(groupID)", screenshot: shots.appendingPathComponent("group.png"))
        let samples = try sql("SELECT id FROM samples WHERE group_id = \(groupID) ORDER BY idx").map {
            $0["id"] as! Int
        }
        XCTAssertEqual(group["completions"] as? [Int], samples)
        for sample in samples { XCTAssertTrue(dom.contains("data-sample=\"\(sample)\""), "sample \(sample) not shown") }
        let reasons = try sql(
            "SELECT rs.reason FROM rule_scores rs JOIN samples s ON s.id = rs.sample_id WHERE s.group_id = \(groupID)")
        XCTAssertEqual((group["reasons"] as? [String])?.sorted(), reasons.map { $0["reason"] as! String }.sorted())
        for reason in Set(reasons.map { $0["reason"] as! String }) {
            XCTAssertEqual(
                dom.components(separatedBy: "data-reason=\"\(reason)\"").count - 1,
                reasons.filter { $0["reason"] as? String == reason }.count, reason)
        }

        // A sample's permalink opens that sample.
        let completion = try sql("SELECT completion FROM samples WHERE id = \(samples[0])")[0]["completion"] as! String
        let sample = try browser.render(server.url + "#/sample/\(samples[0])")
        XCTAssertEqual(sample["sample"] as? Int, samples[0])
        XCTAssertEqual(sample["completion"] as? String, completion)

        for list in ["never-solved", "format-ok-answer-wrong", "highest-reward-wrong", "flat-groups", "samples"] {
            let page = try browser.render(server.url + "#/lists/1/\(list)")
            XCTAssertEqual(page["list"] as? String, list)
        }
        server.stop()

        // Two runs overlaid on the runs page: one chart, a line for each, a point a step.
        let two = tmp.appendingPathComponent("two.sqlite").path
        for _ in 0..<2 {
            try grpo([
                "rewards", "score", "--rules", "math", "--input", "Rewards/examples/math-completions.jsonl",
                "--output", tmp.appendingPathComponent("scored.jsonl").path, "--traces", two, "--quiet",
            ])
        }
        let both = try ViewerServer(try binary(), db: two, seconds: 120)
        defer { both.stop() }
        let overlaid = try browser.render(both.url + "#/runs?compare=1,2&metric=pass_rate/answer")
        let overlay = (overlaid["charts"] as! [[String: Any]]).map { $0["datasets"] as! [[String: Any]] }
        XCTAssertEqual(overlay.count, 1)
        XCTAssertEqual(
            overlay.first?.map { $0["label"] as? String },
            ["math-completions.jsonl (run 1)", "math-completions.jsonl (run 2)"])
        XCTAssertEqual(overlay.first?.map { $0["points"] as? Int }, [1, 1])
        print("viewer screenshots: \(shots.path)")
        for shot in ["curves.png", "group.png"] {
            let size = (try FileManager.default.attributesOfItem(atPath: shots.appendingPathComponent(shot).path))[
                .size]
            XCTAssertGreaterThan(size as? Int ?? 0, 10_000, shot)
        }
    }
}

/// `grpo traces serve` on a free port, killed past its deadline or at `stop()`.
final class ViewerServer {
    let process = Process()
    private let deadline: Deadline
    let url: String

    init(_ binary: URL, db: String, seconds: TimeInterval) throws {
        let out = Pipe()
        process.executableURL = binary
        process.arguments = ["traces", "serve", "--db", db, "--port", "0"]
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        deadline = Deadline(process, seconds: seconds)
        // The first line names the address: "trace viewer: http://127.0.0.1:PORT/ (...)".
        var seen = ""
        while !seen.contains("\n") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = seen.range(of: #"http://127\.0\.0\.1:\d+/"#, options: .regularExpression) else {
            process.terminate()
            throw BrowserTestError("grpo traces serve printed no address: \(seen)")
        }
        url = String(seen[range])
    }

    /// Ends the server (once: a second call does nothing).
    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        deadline.cancel()
    }
}

/// Headless Chromium, one process a page, each with a deadline.
struct Browser {
    let chromium: String
    let profile: URL

    /// The page's #rendered summary, once it rendered; fails on any console error it recorded.
    func render(
        _ url: String, screenshot: URL? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws
        -> [String: Any]
    {
        try renderWithDOM(url, screenshot: screenshot, file: file, line: line).summary
    }

    func renderWithDOM(
        _ url: String, screenshot: URL? = nil, file: StaticString = #filePath, line: UInt = #line
    )
        throws -> (summary: [String: Any], dom: String)
    {
        let dom = try run(["--dump-dom", url])
        guard let start = dom.range(of: "<pre id=\"rendered\" hidden=\"\">"),
            let end = dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex)
        else { throw BrowserTestError("\(url): no #rendered in the page: \(dom.suffix(2000))") }
        let text = String(dom[start.upperBound..<end.lowerBound])
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&nbsp;", with: "\u{A0}").replacingOccurrences(of: "&amp;", with: "&")
        guard !text.isEmpty else { throw BrowserTestError("\(url): the page never finished rendering") }
        let summary = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        XCTAssertEqual(summary["errors"] as? [String], [], "\(url): console errors", file: file, line: line)
        if let screenshot {
            _ = try run(["--screenshot=\(screenshot.path)", "--window-size=1400,1000", url])
        }
        return (summary, dom)
    }

    private func run(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        // As root Chromium needs --no-sandbox; the virtual time budget lets the page fetch and draw
        // before the DOM is dumped (it ends as soon as the page is idle).
        p.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", "--user-data-dir=\(profile.path)",
                "--virtual-time-budget=15000",
            ] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Deadline(p, seconds: 60)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        deadline.cancel()
        if deadline.fired { throw BrowserTestError("chromium ran past 60 s on \(arguments)") }
        return String(decoding: data, as: UTF8.self)
    }
}

struct BrowserTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
