// `grpo bench traces`: how fast the writer records steps and how fast the
// `grpo traces samples` filters answer on a large database.
//
// Synthetic but shaped like a real run: steps of 64 groups x 16 samples, R1-style
// completions of 250-450 characters, about 110 tokens with their log-probs, and
// three rules (format, answer, length) with realistic pass rates (format 80%,
// answer 35% of those, overlong 2%). Generating a step is not timed; writing it is.

import Foundation
import Support

public struct TraceBenchmarkReport: Codable, Sendable {
    public var samples: Int
    public var writeSamplesPerS: Double
    public var databaseMB: Double
    /// Median milliseconds of each filter (over `repeats` runs), by a short name.
    public var queryMs: [String: Double]
    /// The slowest filter's median: the figure a user waits for at worst.
    public var queryMs1m: Double?

    enum CodingKeys: String, CodingKey {
        case samples, writeSamplesPerS = "write_samples_per_s", databaseMB = "database_mb", queryMs = "query_ms"
        case queryMs1m = "query_ms_1m"
    }
}

public enum TraceBenchmark {
    public static let groupsPerStep = 64
    public static let groupSize = 16
    static let rules = [
        RuleInfo(name: "format", kind: "regex", weight: 0.2),
        RuleInfo(name: "answer", kind: "math", weight: 1),
        RuleInfo(name: "length", kind: "length", weight: 1),
    ]

    /// Writes `samples` samples into `path` (a new database), then times the filters.
    /// `progress` gets (samples written, samples per second so far).
    public static func run(
        path: String, samples: Int, repeats: Int = 5, queries: Bool = true,
        progress: (Int, Double) -> Void = { _, _ in }
    ) throws -> TraceBenchmarkReport {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let writer = try TraceWriter(path: path)
        let run = try writer.startRun(
            RunInfo(name: "bench", seed: 0, rulesName: "bench", rulesText: "synthetic", rules: rules))
        var rng = Xoshiro(seed: 1)
        let perStep = groupsPerStep * groupSize
        let steps = (samples + perStep - 1) / perStep
        var written = 0
        var seconds = 0.0
        for step in 1...max(steps, 1) {
            let record = makeStep(step, samples: min(perStep, samples - written), rng: &rng)
            let start = DispatchTime.now().uptimeNanoseconds
            try writer.record(record)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            written += record.groups.reduce(0) { $0 + $1.samples.count }
            if step % 16 == 0 || written == samples { progress(written, Double(written) / seconds) }
        }
        try writer.finish(.finished)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        var report = TraceBenchmarkReport(
            samples: written, writeSamplesPerS: Double(written) / seconds,
            databaseMB: Double(size) / 1e6, queryMs: [:], queryMs1m: nil)
        guard queries else { return report }

        let reader = try TraceReader(path: path)
        let middle = max(steps / 2, 1)
        for (name, filter) in filters(middleStep: middle, task: "task-\(rng.next() % 4096)") {
            var times: [Double] = []
            for _ in 0..<repeats {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try reader.samples(run: run, filter: filter)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            report.queryMs[name] = times.sorted()[times.count / 2]
        }
        report.queryMs1m = report.queryMs.values.max()
        return report
    }

    /// The filters timed: each option of `grpo traces samples` alone and in the
    /// combinations users reach for, common and rare predicates, every order.
    static func filters(middleStep: Int, task: String) -> [(String, SampleFilter)] {
        func f(_ configure: (inout SampleFilter) -> Void) -> SampleFilter {
            var x = SampleFilter()
            configure(&x)
            return x
        }
        return [
            ("latest", f { _ in }),
            ("step", f { $0.step = middleStep }),
            ("task", f { $0.taskID = task }),
            (
                "task_rule_above",
                f {
                    $0.taskID = task
                    $0.rule = "answer"
                    $0.above = 0.5
                }
            ),
            (
                "rule_below",
                f {
                    $0.rule = "answer"
                    $0.below = 1
                }
            ),
            (
                "rule_above_by_reward",
                f {
                    $0.rule = "answer"
                    $0.above = 0.5
                    $0.order = .reward
                }
            ),
            (
                "rule_below_by_advantage",
                f {
                    $0.rule = "format"
                    $0.below = 1
                    $0.order = .advantage
                    $0.descending = false
                }
            ),
            (
                "rare_rule_score",
                f {
                    $0.rule = "length"
                    $0.below = -0.5
                }
            ),
            (
                "rare_rule_score_by_length",
                f {
                    $0.rule = "length"
                    $0.below = -0.5
                    $0.order = .length
                    $0.descending = false
                }
            ),
            (
                "by_reward_ascending",
                f {
                    $0.order = .reward
                    $0.descending = false
                }
            ),
            ("reason_rare", f { $0.reason = "overlong" }),
            (
                "reason_by_reward_in_step",
                f {
                    $0.reason = "no_answer"
                    $0.order = .reward
                    $0.step = middleStep
                }
            ),
            ("by_length", f { $0.order = .length }),
            (
                "by_advantage_in_step",
                f {
                    $0.order = .advantage
                    $0.step = middleStep
                }
            ),
            (
                "step_rule_reason",
                f {
                    $0.step = middleStep
                    $0.rule = "answer"
                    $0.reason = "correct"
                    $0.order = .length
                }
            ),
        ]
    }

    static func makeStep(_ step: Int, samples: Int, rng: inout Xoshiro) -> StepRecord {
        var groups: [GroupRecord] = []
        var left = samples
        while left > 0 {
            let n = min(groupSize, left)
            left -= n
            let task = Int(rng.next() % 4096)
            let a = Int(rng.next() % 900) + 100
            let b = Int(rng.next() % 900) + 100
            var records: [SampleRecord] = []
            for _ in 0..<n {
                let formatOK = rng.uniformDouble() < 0.8
                let correct = formatOK && rng.uniformDouble() < 0.35
                let overlong = rng.uniformDouble() < 0.02
                let answer = correct ? a + b : a + b + Int(rng.next() % 20) - 10
                let steps = (0..<Int(rng.next() % 5) + 3).map { i in
                    "Step \(i + 1): add the \(i % 2 == 0 ? "units" : "tens") of \(a) and \(b), carry \(i % 2)."
                }
                let body =
                    "<think>We need \(a) + \(b). " + steps.joined(separator: " ") + " So the sum is \(answer).</think>"
                let completion = formatOK ? body + "<answer>\(answer)</answer>" : body + " The answer is \(answer)"
                let count = completion.utf8.count / 3
                let ids = (0..<count).map { _ in Int32(truncatingIfNeeded: rng.next() % 32000) }
                let logprobs = (0..<count).map { _ in -Float(rng.uniformDouble()) * 2 }
                let length: Double = overlong ? -1 : 0
                let reward = 0.2 * (formatOK ? 1 : 0) + (correct ? 1 : 0) + length
                records.append(
                    SampleRecord(
                        completion: completion, tokenIDs: ids, tokenLogprobs: logprobs,
                        finishReason: overlong ? "length" : "stop",
                        truncated: overlong, reward: reward, advantage: 0,
                        scores: [
                            RuleScoreRecord(
                                rule: "format", score: formatOK ? 1 : 0, reason: formatOK ? "format_ok" : "format_bad"),
                            RuleScoreRecord(
                                rule: "answer", score: correct ? 1 : 0,
                                reason: correct ? "correct" : formatOK ? "wrong_answer" : "no_answer",
                                detail: correct ? nil : "got \(answer), expected \(a + b)"),
                            RuleScoreRecord(
                                rule: "length", score: length, reason: overlong ? "overlong" : "within_limit"),
                        ]))
            }
            let mean = records.reduce(0) { $0 + $1.reward! } / Double(n)
            let std = (records.reduce(0) { $0 + ($1.reward! - mean) * ($1.reward! - mean) } / Double(n)).squareRoot()
            for i in records.indices { records[i].advantage = (records[i].reward! - mean) / (std + 1e-4) }
            groups.append(
                GroupRecord(
                    taskID: "task-\(task)", prompt: "Compute \(a) + \(b). Think step by step.", samples: records))
        }
        var metrics = StepMetrics()
        metrics.rewardMean = groups.flatMap(\.samples).reduce(0) { $0 + $1.reward! } / Double(max(samples, 1))
        return StepRecord(step: step, metrics: metrics, groups: groups)
    }
}
