// save_total_limit through an SFT run: the newest checkpoints by step number are kept
// (checkpoint-12 is newer than checkpoint-9, though it sorts first as text), and
// --resume DIR continues from the newest by number.

import XCTest
import Foundation
import Kernels
import Policy
import Training

final class CheckpointPruningTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("pruning-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func run(steps: Int, saveEvery: Int, keep: Int, output: URL, resume: URL? = nil) throws -> [String] {
        let data = folder.appendingPathComponent("d.jsonl")
        try (0..<6).map { "{\"prompt\": \"\($0)+\($0)=\", \"completion\": \"\(2 * $0)\"}" }.joined(separator: "\n")
            .write(to: data, atomically: false, encoding: .utf8)
        var c = SFTConfig()
        c.taskSet = data.path
        c.outputDir = output.path
        c.maxSteps = steps
        c.saveSteps = saveEvery
        c.saveTotalLimit = keep
        c.perDeviceTrainBatchSize = 2
        c.loggingSteps = 100
        let model =
            try resume.map { try Checkpoint.loadModel(from: $0) }
            ?? {
                let m = Transformer(config: try ModelConfig.named("toy"))
                m.initialize(seed: 1)
                return m
            }()
        try SFTRunner(config: c, model: model, resume: resume).run { _ in }
        return try FileManager.default.contentsOfDirectory(atPath: output.path)
            .filter { $0.hasPrefix("checkpoint-") }.sorted()
    }

    func testSaveTotalLimitKeepsTheNewestByStepNumber() throws {
        let out = folder.appendingPathComponent("limited")
        // Saves at 3, 6, 9 and 12: as text, "checkpoint-12" < "checkpoint-3" < "checkpoint-6" < "checkpoint-9".
        XCTAssertEqual(try run(steps: 12, saveEvery: 3, keep: 2, output: out), ["checkpoint-12", "checkpoint-9"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path + "/final/model.safetensors"))
        XCTAssertEqual(SFTRunner.latestCheckpoint(in: out)?.lastPathComponent, "checkpoint-12")

        // Resuming from the newest continues at step 12, and pruning still counts by number.
        let resumed = try run(
            steps: 14, saveEvery: 1, keep: 2, output: out,
            resume: try XCTUnwrap(SFTRunner.latestCheckpoint(in: out)))
        XCTAssertEqual(resumed, ["checkpoint-13", "checkpoint-14"])
        let state = try XCTUnwrap(try Checkpoint.loadState(from: out.appendingPathComponent("checkpoint-14")))
        XCTAssertEqual(state.step, 14)
    }

    func testNoLimitKeepsEveryCheckpoint() throws {
        let out = folder.appendingPathComponent("all")
        XCTAssertEqual(try run(steps: 4, saveEvery: 1, keep: 0, output: out).count, 4)
    }

    func testLatestCheckpointOrdersByNumber() throws {
        for name in ["checkpoint-9", "checkpoint-10", "checkpoint-x", "other-99"] {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent(name),
                withIntermediateDirectories: true)
        }
        XCTAssertEqual(SFTRunner.latestCheckpoint(in: folder)?.lastPathComponent, "checkpoint-10")
        XCTAssertNil(SFTRunner.latestCheckpoint(in: folder.appendingPathComponent("none")))
    }
}
