// Training end to end on the toy shape: the loss falls when a tiny model
// overfits a few sequences, and an SFT run stopped and resumed from its
// checkpoint ends with exactly the parameters of an uninterrupted run.

import XCTest
import Kernels
import Policy
import Training

final class TrainingTests: XCTestCase {
    /// Texts as one padded batch: [bos] + bytes, and each position's next token (-1 past the text).
    static func batch(_ texts: [String], _ tok: ByteTokenizer) -> (tokens: [Int32], targets: [Int32], length: Int) {
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
        return (tokens, targets, t)
    }

    func testLossFallsWhenOverfitting() throws {
        let model = Transformer(config: try ModelConfig.named("toy"))
        model.initialize(seed: 1)
        var opt = OptimizerConfig()
        opt.learningRate = 1e-2
        opt.lrSchedulerType = "constant"
        let trainer = NextTokenTrainer(model: model, optimizer: opt)
        let texts = ["the cat sat on the mat", "2+2=4 and 3+3=6 ok", "swift grpo moe rules!"]
        let (tokens, targets, t) = Self.batch(texts, ByteTokenizer(config: model.config))
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

    /// With prediction modules and mtp_loss_weight, a step reports the modules' loss and it falls
    /// as they learn the sequences two tokens ahead; at weight 0 they are not trained.
    func testPredictionModulesLearnInSFT() throws {
        var c = try ModelConfig.named("toy")
        c.numNextnPredictLayers = 1
        var opt = OptimizerConfig()
        opt.learningRate = 1e-2
        opt.lrSchedulerType = "constant"
        let texts = ["the cat sat on the mat", "2+2=4 and 3+3=6 ok"]
        let (tokens, targets, t) = Self.batch(texts, ByteTokenizer(config: c))
        let model = Transformer(config: c)
        model.initialize(seed: 1)
        let frozen = Array(model.parameters.array[model.layout.mainCount...])
        let untrained = NextTokenTrainer(model: model, optimizer: opt, mtpLossWeight: 0)
        let r0 = try untrained.step(tokens: tokens, targets: targets, batch: 2, length: t, learningRate: 1e-2)
        XCTAssertNil(r0.mtpLoss)
        XCTAssertEqual(Array(model.parameters.array[model.layout.mainCount...]), frozen, "weight 0 leaves them")

        let trainer = NextTokenTrainer(model: model, optimizer: opt, mtpLossWeight: 0.5)
        var losses: [Float] = []
        for _ in 0..<120 {
            let r = try trainer.step(tokens: tokens, targets: targets, batch: 2, length: t, learningRate: 1e-2)
            losses.append(try XCTUnwrap(r.mtpLoss))
        }
        XCTAssertGreaterThan(losses[0], 4.5, "an untrained module is near uniform")
        XCTAssertLessThan(losses.last!, 0.3, "the module memorises the sequences two tokens ahead")
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

    /// A temporary folder holding sft.jsonl: 20 examples "i+n=" -> "i+n".
    private func additionFolder(_ name: String, adding n: Int) throws -> (folder: URL, data: URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let data = dir.appendingPathComponent("sft.jsonl")
        let lines = (0..<20).map { "{\"prompt\": \"\($0)+\(n)=\", \"completion\": \"\($0 + n)\"}" }
        try lines.joined(separator: "\n").write(to: data, atomically: false, encoding: .utf8)
        return (dir, data)
    }

    func testSFTResumesExactly() throws {
        let (dir, data) = try additionFolder("sft-resume", adding: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
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

    /// `grpo sft --resume_from_checkpoint DIR` with no other option continues with the options the run
    /// was started with (saved in each checkpoint), not the defaults; a flag still wins; a finished
    /// run is refused instead of "resumed" for no step.
    func testSFTResumeReadsTheRunsSavedOptions() throws {
        let (dir, data) = try additionFolder("sft-resume-options", adding: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let flags = [
            "--task_set", data.path, "--shape", "toy", "--seed", "3", "--max_steps", "7",
            "--per_device_train_batch_size", "3", "--save_steps", "2", "--save_total_limit", "0",
            "--learning_rate", "4e-3", "--warmup_steps", "1", "--lr_scheduler_type", "linear", "--logging_steps", "1",
            "--quiet",
        ]
        func parse(_ args: [String]) throws -> [(key: String, value: String, flag: String)] {
            try SFTConfig.options.parseCommandLine(args).flags
        }
        let straightConfig = try SFTConfig.resolve(
            configFile: nil, flags: parse(flags + ["--output_dir", dir.appendingPathComponent("a").path]))
        let straight = try SFTRunner.start(straightConfig)
        try straight.run { _ in }

        let out = dir.appendingPathComponent("b").path
        var steps = 0
        try SFTRunner.start(SFTConfig.resolve(configFile: nil, flags: parse(flags + ["--output_dir", out])))
            .run(shouldStop: { steps >= 3 }) { if case .step = $0 { steps += 1 } }
        let resumedConfig = try SFTConfig.resolve(configFile: nil, flags: parse(["--resume_from_checkpoint", out]))
        XCTAssertEqual(resumedConfig.maxSteps, 7)
        XCTAssertEqual(resumedConfig.perDeviceTrainBatchSize, 3)
        XCTAssertEqual(resumedConfig.optimizer.learningRate, 4e-3)
        XCTAssertEqual(resumedConfig.outputDir, out)
        XCTAssertFalse(resumedConfig.quiet, "how one invocation behaves is not saved")
        let resumed = try SFTRunner.start(resumedConfig)
        XCTAssertEqual(resumed.step, 3)
        try resumed.run { _ in }
        XCTAssertEqual(resumed.model.parameters.array, straight.model.parameters.array, "continued exactly")

        let more = try SFTConfig.resolve(
            configFile: nil, flags: parse(["--resume_from_checkpoint", out, "--max_steps", "9"]))
        XCTAssertEqual(more.maxSteps, 9, "a flag wins over the saved options")
        XCTAssertEqual(more.perDeviceTrainBatchSize, 3)
        XCTAssertThrowsError(try SFTRunner.start(resumedConfig)) {
            XCTAssertTrue("\($0)".contains("is at step 7 and the run's max_steps is 7: nothing to train"), "\($0)")
        }
    }
}
