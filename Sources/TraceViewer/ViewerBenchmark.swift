// `grpo bench viewer`: how fast the trace viewer answers on a large database
// (`grpo bench traces` writes one: steps of 64 groups x 16 samples).
//
//   endpoints  each JSON endpoint over HTTP from this process's own viewer on
//              a loopback port: the median of `repeats` requests, in ms
//   pages      each page in headless Chromium (when one is given): the wall
//              time from navigating to it (from a blank page, so a whole load:
//              HTML, script, Chart.js, the JSON it asks for, the drawing) until
//              its #rendered summary is written, median of `repeats` loads, in
//              ms (HeadlessChromium)
//
// The pages and endpoints are those of a run's middle step and group: the
// answers a person clicking through would wait for.

import Foundation
import Traces

public struct ViewerBenchmarkReport: Codable, Sendable {
    public var samples: Int64
    public var endpointMs: [String: Double]
    public var pageMs: [String: Double]
    public var slowestEndpointMs: Double
    public var slowestPageMs: Double?

    enum CodingKeys: String, CodingKey {
        case samples, endpointMs = "endpoint_ms", pageMs = "page_ms", slowestEndpointMs = "slowest_endpoint_ms"
        case slowestPageMs = "slowest_page_ms"
    }
}

public enum ViewerBenchmark {
    public static func run(
        database: String, chartJS: String? = nil, chromium: String? = nil, repeats: Int = 5,
        progress: (String) -> Void = { _ in }
    ) throws -> ViewerBenchmarkReport {
        let viewer = try TraceViewer(database: database, chartJS: chartJS)
        let reader = viewer.reader
        let run = try reader.resolveRun(nil)
        guard let summary = try reader.runSummaries().first(where: { $0.id == run }), let last = summary.lastStep
        else { throw ViewerError.failed("\(database): no run with steps to time") }
        let step = max(1, last / 2)
        let groups = try reader.stepGroups(run: run, step: step)
        guard let group = groups.rows.first?[0].integer else { throw ViewerError.failed("step \(step) has no groups") }
        let sample = try reader.groupView(group).samples.first?.id ?? 1
        let answer = try reader.answerRules(run: run).first?.name ?? "answer"

        let server = try LoopbackServer(viewer)
        defer { server.stop() }
        let endpoints = [
            ("runs", "/api/runs"), ("curves", "/api/runs/\(run)/curves"),
            ("step_groups", "/api/runs/\(run)/steps/\(step)/groups"), ("group", "/api/groups/\(group)"),
            ("sample", "/api/samples/\(sample)"), ("never_solved", "/api/runs/\(run)/lists/never-solved"),
            ("format_ok_answer_wrong", "/api/runs/\(run)/lists/format-ok-answer-wrong"),
            ("highest_reward_wrong", "/api/runs/\(run)/lists/highest-reward-wrong"),
            ("flat_groups", "/api/runs/\(run)/lists/flat-groups"),
            ("samples_filter", "/api/runs/\(run)/lists/samples?rule=\(answer)&below=1&order=reward"),
            ("samples_step_range", "/api/runs/\(run)/lists/samples?first_step=\(step)&last_step=\(step + 10)"),
            ("curves_csv", "/api/runs/\(run)/curves?format=csv"),
        ]
        var endpointMs: [String: Double] = [:]
        for (name, path) in endpoints {
            _ = try server.get(path)  // warm the page cache
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                let status = try server.get(path).status
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                guard status == 200 else { throw ViewerError.failed("GET \(path): status \(status)") }
            }
            endpointMs[name] = median(times)
            progress(String(format: "endpoint %@: %.1f ms", name, endpointMs[name]!))
        }

        var pageMs: [String: Double] = [:]
        if let chromium {
            let pages = [
                ("runs", "#/runs"), ("curves", "#/curves/\(run)"), ("step", "#/step/\(run)/\(step)"),
                ("group", "#/group/\(group)"), ("sample", "#/sample/\(sample)"),
                ("lists", "#/lists/\(run)/never-solved"),
            ]
            let profile = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-bench-viewer-\(getpid())")
            defer { try? FileManager.default.removeItem(at: profile) }
            let browser = try HeadlessChromium(chromium, profile: profile, seconds: 600)
            defer { browser.quit() }
            let rendered = "document.getElementById('rendered')?.textContent ?? ''"
            for (name, hash) in pages {
                let url = "http://127.0.0.1:\(server.port)/\(hash)"
                _ = try browser.time(url, until: rendered)  // warm
                var times: [Double] = []
                for _ in 0..<repeats {
                    let (ms, summary) = try browser.time(url, until: rendered)
                    guard summary.contains(#""errors":[]"#) else {
                        throw ViewerError.failed("\(url) rendered with errors: \(summary.prefix(500))")
                    }
                    times.append(ms)
                }
                pageMs[name] = median(times)
                progress(String(format: "page %@: %.0f ms", name, pageMs[name]!))
            }
        }
        return ViewerBenchmarkReport(
            samples: summary.samples, endpointMs: endpointMs, pageMs: pageMs,
            slowestEndpointMs: endpointMs.values.max() ?? 0, slowestPageMs: pageMs.values.max())
    }

    static func median(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.sorted()[values.count / 2] }
}

/// Step times of a training run alone and with the viewer reading its database meanwhile.
public struct TrainingUnderViewerReport: Codable, Sendable {
    /// Median seconds between consecutive steps, over every step of every round.
    public var stepSAlone: Double
    public var stepSWithViewer: Double
    /// stepSWithViewer / stepSAlone - 1.
    public var slowdown: Double
    public var requests: Int
    public var failedRequests: Int
    public var rounds: Int

    enum CodingKeys: String, CodingKey {
        case stepSAlone = "step_s_alone", stepSWithViewer = "step_s_with_viewer", slowdown, requests
        case failedRequests = "failed_requests", rounds
    }
}

extension ViewerBenchmark {
    /// `rounds` pairs of the same training run (`start` launches it, writing the database it is
    /// given), alone then watched: a viewer in this process opens the database as soon as the
    /// run's first step is in and requests the pages' endpoints (runs, curves, a step's groups,
    /// a group, two lists) one after another, 100 ms apart, until the run ends.
    public static func whileTraining(
        rounds: Int, folder: URL, chartJS: String? = nil, start: (String) throws -> Process,
        progress: (String) -> Void = { _ in }
    ) throws -> TrainingUnderViewerReport {
        var alone: [Double] = []
        var watched: [Double] = []
        var requests = 0
        var failures = 0
        for round in 1...rounds {
            for watching in [false, true] {
                let database = folder.appendingPathComponent("round\(round)-\(watching ? "viewer" : "alone").sqlite")
                    .path
                let run = try start(database)
                if watching {
                    let (made, failed) = try watch(database, while: run, chartJS: chartJS)
                    requests += made
                    failures += failed
                }
                run.waitUntilExit()
                guard run.terminationStatus == 0 else {
                    throw ViewerError.failed("the training run exited with \(run.terminationStatus)")
                }
                let steps = try stepSeconds(database)
                if watching { watched += steps } else { alone += steps }
                progress(
                    String(
                        format: "round %d %@: median step %.3f s", round, watching ? "with viewer" : "alone",
                        median(steps)))
            }
        }
        let a = median(alone)
        let w = median(watched)
        return TrainingUnderViewerReport(
            stepSAlone: a, stepSWithViewer: w, slowdown: w / a - 1, requests: requests, failedRequests: failures,
            rounds: rounds)
    }

    /// Reads `database` through a viewer while `run` is running; (requests, failed ones).
    private static func watch(_ database: String, while run: Process, chartJS: String?) throws -> (Int, Int) {
        // The database exists once the run has started; its first step, a little later.
        var viewer: TraceViewer?
        while run.isRunning && viewer == nil {
            if let opened = try? TraceViewer(database: database, chartJS: chartJS),
                (try? opened.reader.sql("SELECT 1 FROM steps LIMIT 1").rows.isEmpty) == false
            {
                viewer = opened
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        guard let viewer else { return (0, 0) }
        let server = try LoopbackServer(viewer)
        defer { server.stop() }
        let paths = [
            "/api/runs", "/api/runs/1/curves", "/api/runs/1/steps/1/groups", "/api/groups/1",
            "/api/runs/1/lists/never-solved", "/api/runs/1/lists/flat-groups",
        ]
        var made = 0
        var failed = 0
        while run.isRunning {
            for path in paths {
                made += 1
                if (try? server.get(path).status) != 200 { failed += 1 }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        return (made, failed)
    }

    /// Seconds between consecutive steps of the database's run, from their recorded times.
    static func stepSeconds(_ database: String) throws -> [Double] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let times = try TraceReader(path: database).sql("SELECT time FROM steps ORDER BY step").rows
            .compactMap { $0.first?.string.flatMap(formatter.date(from:)) }
        return zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }
    }
}
