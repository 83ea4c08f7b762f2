// Counters for `GET /metrics`, in the Prometheus text format: requests by
// endpoint and status, latency as a histogram by endpoint, the queue's depth,
// programs run in the sandbox, completions scored, and errors by kind.

import Foundation

final class ServeMetrics: @unchecked Sendable {
    /// Upper bounds of the latency histogram's buckets, in seconds.
    static let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    private struct Latency {
        var counts = [Int](repeating: 0, count: ServeMetrics.buckets.count)
        var count = 0
        var sum = 0.0
    }

    private let lock = NSLock()
    private var requests: [String: Int] = [:]
    private var latencies: [String: Latency] = [:]
    private var errors: [String: Int] = [:]
    private var sandboxRuns = 0
    private var completions = 0

    func request(endpoint: String, status: Int, seconds: Double) {
        lock.lock()
        defer { lock.unlock() }
        requests["endpoint=\"\(endpoint)\",status=\"\(status)\"", default: 0] += 1
        var l = latencies[endpoint] ?? Latency()
        for (i, bound) in ServeMetrics.buckets.enumerated() where seconds <= bound { l.counts[i] += 1 }
        l.count += 1
        l.sum += seconds
        latencies[endpoint] = l
    }

    func error(_ kind: String) {
        lock.lock()
        errors[kind, default: 0] += 1
        lock.unlock()
    }

    func scored(completions n: Int, sandboxRuns runs: Int) {
        lock.lock()
        completions += n
        sandboxRuns += runs
        lock.unlock()
    }

    /// The exposition text; `queueDepth` and `queueCapacity` are read by the caller.
    func render(queueDepth: Int, queueCapacity: Int) -> String {
        lock.lock()
        defer { lock.unlock() }
        var out = """
            # HELP grpo_serve_requests_total Requests answered, by endpoint and HTTP status.
            # TYPE grpo_serve_requests_total counter

            """
        for (labels, n) in requests.sorted(by: { $0.key < $1.key }) {
            out += "grpo_serve_requests_total{\(labels)} \(n)\n"
        }
        out += """
            # HELP grpo_serve_request_seconds Time from a request's arrival to its answer.
            # TYPE grpo_serve_request_seconds histogram

            """
        for (endpoint, l) in latencies.sorted(by: { $0.key < $1.key }) {
            for (i, bound) in ServeMetrics.buckets.enumerated() {
                out += "grpo_serve_request_seconds_bucket{endpoint=\"\(endpoint)\",le=\"\(bound)\"} \(l.counts[i])\n"
            }
            out += "grpo_serve_request_seconds_bucket{endpoint=\"\(endpoint)\",le=\"+Inf\"} \(l.count)\n"
            out += "grpo_serve_request_seconds_sum{endpoint=\"\(endpoint)\"} \(l.sum)\n"
            out += "grpo_serve_request_seconds_count{endpoint=\"\(endpoint)\"} \(l.count)\n"
        }
        out += """
            # HELP grpo_serve_queue_depth Requests queued or being scored now.
            # TYPE grpo_serve_queue_depth gauge
            grpo_serve_queue_depth \(queueDepth)
            # HELP grpo_serve_queue_capacity Requests queued or scored at once before 503.
            # TYPE grpo_serve_queue_capacity gauge
            grpo_serve_queue_capacity \(queueCapacity)
            # HELP grpo_serve_sandbox_runs_total Programs run in the sandbox (run_code, code rules that applied).
            # TYPE grpo_serve_sandbox_runs_total counter
            grpo_serve_sandbox_runs_total \(sandboxRuns)
            # HELP grpo_serve_completions_scored_total Completions scored by the rule set.
            # TYPE grpo_serve_completions_scored_total counter
            grpo_serve_completions_scored_total \(completions)
            # HELP grpo_serve_errors_total Requests refused or failed, by kind.
            # TYPE grpo_serve_errors_total counter

            """
        for (kind, n) in errors.sorted(by: { $0.key < $1.key }) {
            out += "grpo_serve_errors_total{kind=\"\(kind)\"} \(n)\n"
        }
        return out
    }
}
