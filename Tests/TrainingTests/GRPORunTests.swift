// The run driver as a library call, on the toy shape in a folder of its own: a run refuses an
// earlier run's folder unless told to replace it, and a run resumed from a checkpoint ends
// with the same weights, metrics and traces as one that never stopped.

import Foundation
import Policy
import Support
import TaskSets
import Traces
import Training
import XCTest

final class GRPORunTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let model = Transformer(config: try ModelConfig.named("toy"))
        model.initialize(seed: 1)
        try Checkpoint.save(to: folder.appendingPathComponent("init"), model: model)
        let tasks = GRPOTrainerTests.tasks
        try TaskSet.write(
            to: folder.appendingPathComponent("toy"), manifest: tasks.manifest, train: tasks.train, test: tasks.test,
            sft: [])
        try GRPOTrainerTests.rules.text.write(
            to: folder.appendingPathComponent("toy.yaml"), atomically: false, encoding: .utf8)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Flags for a run named `name` in the test's folder.
    func flags(_ name: String, _ extra: [(String, String)] = []) -> [(key: String, value: String, flag: String)] {
        let base = [
            ("model", folder.appendingPathComponent("init").path),
            ("task_set", folder.appendingPathComponent("toy").path),
            ("rules", folder.appendingPathComponent("toy.yaml").path), ("run_name", name),
            ("output_dir", folder.appendingPathComponent(name).path),
            ("db", folder.appendingPathComponent("\(name).sqlite").path), ("num_generations", "4"),
            ("prompts_per_step", "2"), ("max_steps", "3"), ("seed", "5"), ("eval_limit", "1"),
            ("save_steps", "1"),
        ]
        let replaced = Set(extra.map(\.0))
        return (base.filter { !replaced.contains($0.0) } + extra).map { (key: $0.0, value: $0.1, flag: "--" + $0.0) }
    }

    func run(
        _ flags: [(key: String, value: String, flag: String)], stopAfter: Int = .max
    ) throws -> (
        GRPORunEnd, [GRPORunEvent]
    ) {
        let run = try GRPORun(configFile: nil, flags: flags)
        var events: [GRPORunEvent] = []
        var steps = 0
        let end = try run.run(shouldStop: { steps >= stopAfter }) { event in
            if case .step = event { steps += 1 }
            events.append(event)
        }
        return (end, events)
    }

    func testASecondRunIsRefusedUnlessItReplacesTheFirst() throws {
        let (end, events) = try run(flags("a"))
        guard case let .finished(steps, _, database, model) = end else { return XCTFail("\(end)") }
        XCTAssertEqual(steps, 3)
        XCTAssertEqual(database, folder.appendingPathComponent("a.sqlite").path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model + "/model.safetensors"), model)
        XCTAssertEqual(events.filter { if case .step = $0 { return true } else { return false } }.count, 3)
        let metrics = folder.appendingPathComponent("a.metrics.jsonl")
        let before = try String(contentsOf: metrics, encoding: .utf8)
        XCTAssertEqual(before.split(separator: "\n").count, 3)

        XCTAssertThrowsError(try run(flags("a", [("max_steps", "1")]))) { error in
            XCTAssertTrue("\(error)".contains("overwrite_output_dir"), "\(error)")
        }
        // Refused before anything was written: the earlier run's metrics and model are intact.
        XCTAssertEqual(try String(contentsOf: metrics, encoding: .utf8), before)
        XCTAssertTrue(FileManager.default.fileExists(atPath: model + "/model.safetensors"))

        let (replaced, _) = try run(flags("a", [("max_steps", "1"), ("overwrite_output_dir", "true")]))
        guard case .finished(1, _, _, _) = replaced else { return XCTFail("\(replaced)") }
        XCTAssertEqual(try String(contentsOf: metrics, encoding: .utf8).split(separator: "\n").count, 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("a").path)
        XCTAssertFalse(left.contains("checkpoint-2"), "the replaced run's checkpoints are gone: \(left)")
    }

    func testAResumedRunEndsWhereAnUninterruptedOneDoes() throws {
        let (whole, _) = try run(flags("whole"))
        guard case .finished(3, _, _, _) = whole else { return XCTFail("\(whole)") }

        let (stopped, _) = try run(flags("part"), stopAfter: 1)
        let checkpoint = folder.appendingPathComponent("part/checkpoint-1").path
        XCTAssertEqual(stopped, .interrupted(step: 1, maxSteps: 3, checkpoint: checkpoint))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("part/final").path))
        let resumedRun = try GRPORun(
            configFile: nil,
            flags: [
                (key: "resume_from_checkpoint", value: checkpoint, flag: "--resume"),
                (key: "db", value: folder.appendingPathComponent("part.sqlite").path, flag: "--db"),
            ])
        XCTAssertEqual(resumedRun.configFile, checkpoint + "/grpo_config.json", "a resumed run reads its saved config")
        var events: [GRPORunEvent] = []
        let end = try resumedRun.run(shouldStop: { false }) { events.append($0) }
        guard case .finished(3, _, _, _) = end else { return XCTFail("\(end)") }
        XCTAssertTrue(
            events.contains {
                if case .resumed("part", 1, checkpoint) = $0 { return true } else { return false }
            })

        // The same weights, bit for bit, and the same metrics line for line (timings aside).
        let a = try Checkpoint.loadModel(from: folder.appendingPathComponent("whole/final"))
        let b = try Checkpoint.loadModel(from: folder.appendingPathComponent("part/final"))
        XCTAssertTrue(
            (0..<a.layout.count).allSatisfy { a.parameters.data[$0] == b.parameters.data[$0] },
            "the resumed run's final weights differ from the uninterrupted run's")
        func losses(_ name: String) throws -> [Double] {
            try String(contentsOf: folder.appendingPathComponent("\(name).metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n").map { line in
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    return (object["metrics"] as! [String: Any])["loss"] as! Double
                }
        }
        XCTAssertEqual(try losses("part"), try losses("whole"))
        XCTAssertEqual(try losses("part").count, 3, "each step once in the metrics file")
        // One trace run holds all three steps.
        let reader = try TraceReader(path: folder.appendingPathComponent("part.sqlite").path)
        let run = try reader.resolveRun("part")
        XCTAssertEqual(try reader.stepMetrics(run: run).map(\.step), [1, 2, 3])

        // Resuming the finished run again is refused before anything is written.
        let last = folder.appendingPathComponent("part/checkpoint-3").path
        XCTAssertThrowsError(
            try GRPORun(configFile: nil, flags: [(key: "resume_from_checkpoint", value: last, flag: "--resume")])
        ) { error in
            XCTAssertEqual(
                error as? RunError,
                RunError(
                    message: "\(last) is at step 3 and the run's max_steps is 3: nothing to train "
                        + "(give a larger --max_steps to go on)"))
        }
    }

    func testAResumeNeedsTheSavedConfigAndCannotAlsoOverwrite() throws {
        let resume = (key: "resume_from_checkpoint", value: folder.path, flag: "--resume")
        XCTAssertThrowsError(try GRPORun(configFile: nil, flags: [resume])) { error in
            XCTAssertEqual(
                error as? RunError,
                RunError(
                    message: "\(folder.path)/grpo_config.json: no such file "
                        + "(was \(folder.path) written by grpo train?)"))
        }
        try #"{"model": "m", "task_set": "t"}"#.write(
            to: folder.appendingPathComponent("grpo_config.json"), atomically: false, encoding: .utf8)
        let overwrite = (key: "overwrite_output_dir", value: "true", flag: "--overwrite_output_dir")
        XCTAssertThrowsError(try GRPORun(configFile: nil, flags: [resume, overwrite])) { error in
            XCTAssertTrue("\(error)".hasPrefix("--resume_from_checkpoint continues a run"), "\(error)")
        }
    }
}
