// A trace database with known content, written by the project's own writer,
// and the viewer serving it on a free loopback port for the length of a test.
//
// Run "fixture", rules format (regex, 0.2), answer (math, 1) and worked
// (regex, weight 0), steps 1 to 3, each with two groups of three:
//   group 0, task t-never: format right answer wrong (0.2), format wrong (0),
//                          format right answer wrong (0.2): never solved
//   group 1, task t-solved: step 1 all correct (1.2 each: a flat group); later
//                          steps one correct, one format right answer wrong,
//                          one format wrong
// Sample ids are 1, 2, ... in that order (step, group, sample).

import Foundation
import TraceViewer
import Traces
import XCTest

struct FixtureSample {
    var id: Int64
    var step: Int
    var group: Int64
    var task: String
    var record: SampleRecord
    func score(_ rule: String) -> Double? { record.scores.first { $0.rule == rule }?.score ?? nil }
}

enum ViewerFixture {
    static let rules = [
        RuleInfo(name: "format", kind: "regex", weight: 0.2), RuleInfo(name: "answer", kind: "math", weight: 1),
        RuleInfo(name: "worked", kind: "regex", weight: 0),
    ]
    static let rulesText = "fixture rules v1\n"
    /// `printf 'fixture rules v1\n' | sha256sum`
    static let rulesHash = "b8587e3fc97865e47bbfb445b17c2004e1af6d6ddbfe719cd01f5d9c2a60fdf6"

    /// A completion: its text spelled in byte tokens, with made-up log-probs.
    static func sample(_ text: String, format: Bool, answer: Bool, advantage: Double) -> SampleRecord {
        let ids = text.utf8.map { Int32($0) }
        let logprobs = ids.indices.map { -Float($0 % 7) / 4 }
        let reward = (format ? 0.2 : 0) + (answer ? 1 : 0)
        return SampleRecord(
            completion: text, tokenIDs: ids, tokenLogprobs: logprobs, finishReason: format ? "eos" : "length",
            truncated: !format, reward: reward, advantage: advantage,
            scores: [
                RuleScoreRecord(rule: "format", score: format ? 1 : 0, reason: format ? "format_ok" : "format_bad"),
                RuleScoreRecord(
                    rule: "answer", score: answer ? 1 : 0,
                    reason: answer ? "correct" : format ? "wrong_answer" : "no_answer",
                    detail: answer ? nil : "expected \(text.count)"),
                RuleScoreRecord(rule: "worked", score: 1, reason: "worked"),
            ])
    }

    static func step(_ step: Int) -> StepRecord {
        let never = [
            sample("<think>2+2≈5</think><answer>5</answer>", format: true, answer: false, advantage: 0.5),
            sample("five", format: false, answer: false, advantage: -1),
            sample("<think>guess</think><answer>3</answer>", format: true, answer: false, advantage: 0.5),
        ]
        let solved =
            step == 1
            ? (0..<3).map { _ in
                sample("<think>3+3</think><answer>6</answer>", format: true, answer: true, advantage: 0)
            }
            : [
                sample("<think>3+3</think><answer>6</answer>", format: true, answer: true, advantage: 1),
                sample("<think>3+3</think><answer>7</answer>", format: true, answer: false, advantage: 0),
                sample("six", format: false, answer: false, advantage: -1),
            ]
        var metrics = StepMetrics(extra: ["expert_load/0/0": 0.25, "expert_load/0/1": 0.75, "custom/thing": 7])
        let rewards = (never + solved).compactMap(\.reward)
        metrics.rewardMean = rewards.reduce(0, +) / Double(rewards.count)
        metrics.kl = 0.01 * Double(step)
        metrics.entropy = 1.5 - 0.1 * Double(step)
        metrics.logprobMismatchMax = 0.001
        return StepRecord(
            step: step, metrics: metrics,
            groups: [
                GroupRecord(taskID: "t-never", prompt: "What is 2+2?", samples: never),
                GroupRecord(taskID: "t-solved", prompt: "What is 3+3?", samples: solved),
            ])
    }

    /// Writes steps 1...3 and an evaluation at step 2 into `path`; returns the open writer.
    static func write(_ path: String, steps: ClosedRange<Int> = 1...3) throws -> TraceWriter {
        let writer = try TraceWriter(path: path)
        try writer.startRun(
            RunInfo(
                name: "fixture", seed: 7, config: #"{"learning_rate":1e-05}"#, taskSet: "arith",
                rulesName: "fixture", rulesText: rulesText, rules: rules))
        for s in steps { try writer.record(step(s)) }
        try writer.recordEval(step: 2, taskSet: "arith", split: "test", metrics: ["accuracy": 0.5, "pass@8": 0.75])
        return writer
    }

    /// The fixture's samples with the ids and group ids the writer gives them.
    static func samples(steps: ClosedRange<Int> = 1...3) -> [FixtureSample] {
        var out: [FixtureSample] = []
        var group: Int64 = 0
        for s in steps {
            for g in step(s).groups {
                group += 1
                for record in g.samples {
                    out.append(
                        FixtureSample(id: Int64(out.count + 1), step: s, group: group, task: g.taskID, record: record))
                }
            }
        }
        return out
    }
}

/// The viewer serving `database` on a free loopback port until `stop()`.
final class ServedViewer {
    let viewer: TraceViewer
    let server: LoopbackServer

    init(database: String, chartJS: String) throws {
        viewer = try TraceViewer(database: database, chartJS: chartJS)
        server = try LoopbackServer(viewer)
    }

    func stop() { server.stop() }

    func get(_ path: String) throws -> (status: Int, type: String, body: Data) { try server.get(path, seconds: 20) }

    /// GET `path`, which must answer 200 with JSON.
    func json(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        let (status, type, body) = try get(path)
        XCTAssertEqual(status, 200, "GET \(path): \(String(decoding: body, as: UTF8.self))", file: file, line: line)
        XCTAssertTrue(type.hasPrefix("application/json"), "GET \(path): \(type)", file: file, line: line)
        return try JSONSerialization.jsonObject(with: body)
    }

    /// GET `path` as a table ({columns, rows}): its rows as objects keyed by column.
    func rows(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let table = try json(path, file: file, line: line) as! [String: Any]
        let columns = table["columns"] as! [String]
        return (table["rows"] as! [[Any]]).map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) }
    }
}
