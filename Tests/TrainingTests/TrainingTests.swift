// Training end to end on the toy shape: the loss falls when a tiny model
// overfits a few sequences, and an SFT run stopped and resumed from its
// checkpoint ends with exactly the parameters of an uninterrupted run.

import XCTest
import Kernels
import Policy
import Training

final class TrainingTests: XCTestCase {
    func testLossFallsWhenOverfitting() throws {
        let model = Transformer(config: try ModelConfig.named("toy"))
        model.initialize(seed: 1)
        var opt = OptimizerConfig()
        opt.learningRate = 1e-2
        opt.lrSchedulerType = "constant"
        let trainer = NextTokenTrainer(model: model, optimizer: opt)
        let tok = ByteTokenizer(config: model.config)
        let texts = ["the cat sat on the mat", "2+2=4 and 3+3=6 ok", "swift grpo moe rules!"]
        let t = texts.map(\.utf8.count).max()! + 1
        var tokens: [Int32] = []
        var targets: [Int32] = []
        for s in texts {
            var ids = tok.encode(s, addBOS: true)
            let n = ids.count
            ids += [Int32](repeating: tok.pad, count: t - n)
            tokens += ids
            targets += (0..<t).map { $0 + 1 < n ? ids[$0 + 1] : -1 }
        }
        var losses: [Float] = []
        for _ in 0..<150 {
            let r = try trainer.step(
                tokens: tokens, targets: targets, batch: texts.count, length: t, learningRate: 1e-2)
            losses.append(r.loss)
        }
        XCTAssertGreaterThan(losses[0], 4.5, "an untrained model is near uniform over 259 ids (ln 259 = 5.56)")
        XCTAssertLessThan(losses.last!, 0.2, "the model memorises three short sequences")
        // Greedy decoding reproduces a memorised sequence.
        let out = try Sampler(model: model).generate(
            prompts: ["the cat"], completionsPerPrompt: 1,
            params: SamplingParams(temperature: 0, maxNewTokens: 15, ignoreEOS: true))
        XCTAssertTrue(out[0][0].text.hasPrefix(" sat on the mat"), out[0][0].text)
    }

    func testNonFiniteLossIsAnErrorNotDamage() throws {
        let model = Transformer(config: try ModelConfig.named("toy"))
        model.initialize(seed: 1)
        model.parameters[model.layout.lmHead] = .nan
        let trainer = NextTokenTrainer(model: model, optimizer: OptimizerConfig())
        let before = model.parameters.array
        XCTAssertThrowsError(
            try trainer.step(tokens: [257, 97, 98], targets: [97, 98, -1], batch: 1, length: 3, learningRate: 1e-3)
        ) {
            guard case let .nonFiniteLoss(_, value)? = $0 as? PolicyError else { return XCTFail("\($0)") }
            XCTAssertTrue(value.isNaN, "\(value)")
            XCTAssertTrue("\($0)".contains("loss is nan"), "\($0)")
        }
        let after = model.parameters.array
        XCTAssertTrue(zip(before, after).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "weights untouched")
    }

    func testSFTResumesExactly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sft-resume-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let data = dir.appendingPathComponent("sft.jsonl")
        let lines = (0..<20).map { "{\"prompt\": \"\($0)+1=\", \"completion\": \"\($0 + 1)\"}" }
        try lines.joined(separator: "\n").write(to: data, atomically: false, encoding: .utf8)
        func config(_ out: String) -> SFTConfig {
            var c = SFTConfig()
            c.taskSet = data.path
            c.outputDir = dir.appendingPathComponent(out).path
            c.maxSteps = 8
            c.perDeviceTrainBatchSize = 3
            c.saveSteps = 3
            c.saveTotalLimit = 0
            c.loggingSteps = 1
            c.optimizer.learningRate = 5e-3
            c.optimizer.warmupSteps = 2
            return c
        }
        func fresh() throws -> Transformer {
            let m = Transformer(config: try ModelConfig.named("toy"))
            m.initialize(seed: 5)
            return m
        }
        let straight = try fresh()
        try SFTRunner(config: config("a"), model: straight).run { _ in }

        // Stop after 4 steps (the runner checks between steps), then resume from checkpoint-4.
        let first = try fresh()
        var steps = 0
        try SFTRunner(config: config("b"), model: first).run(shouldStop: { steps >= 4 }) {
            if case .step = $0 { steps += 1 }
        }
        let ckpt = dir.appendingPathComponent("b/checkpoint-4")
        XCTAssertEqual(SFTRunner.latestCheckpoint(in: dir.appendingPathComponent("b")), ckpt)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("b/final").path))
        let resumed = try Checkpoint.loadModel(from: ckpt)
        try SFTRunner(config: config("b"), model: resumed, resume: ckpt).run { _ in }
        XCTAssertEqual(
            resumed.parameters.array, straight.parameters.array,
            "resumed run ends bit for bit where the straight run does")
        XCTAssertTrue(
            FileManager.default.fileExists(atPath: dir.appendingPathComponent("b/final/model.safetensors").path))
    }
}
