// With --db, what the server scored goes into the trace database: one run per
// server start (named after the rule set and the start time), one step per
// scored request, a group per task (or prompt). Writes happen on one serial
// queue, off the request's path; closing waits for every write queued.

import Foundation
import RewardRules
import Traces
import Training

final class ServeRecorder: @unchecked Sendable {
    private let writer: TraceWriter
    private let queue = DispatchQueue(label: "grpo-serve-traces")
    private var step = 0
    private var failure: String?
    let runID: Int64

    init(path: String, rules: RuleSet, taskSet: String?) throws {
        writer = try TraceWriter(path: path)
        let stamp = ISO8601DateFormatter().string(from: Date())
        runID = try writer.startRun(
            RunInfo(
                name: "serve \(rules.name) \(stamp)", taskSet: taskSet, rulesName: rules.name, rulesText: rules.text,
                rules: rules.entries.map { RuleInfo(name: $0.name, kind: $0.kind, weight: $0.weight) }))
    }

    /// Queues one scored request as the next step.
    func record(keys: [String], prompts: [String], completions: [String], scored: [ScoredCompletion]) {
        queue.async { [self] in
            step += 1
            let record = StepRecord(step: step, keys: keys, prompts: prompts, completions: completions, scored: scored)
            do { try writer.record(record) } catch {
                // Scoring goes on; the run's status says the traces are incomplete.
                if failure == nil { failure = "step \(step): \(error)" }
            }
        }
    }

    /// Writes what is queued and closes the run: finished, or failed with the first write error.
    func close() throws {
        try queue.sync {
            if let failure { try writer.finish(.failed, error: failure) } else { try writer.finish(.finished) }
        }
    }

    var steps: Int { queue.sync { step } }
}
