// A few GRPO steps on the toy shape, end to end: the sampler and the trainer
// agree on every log-prob, advantages are group-relative, the traces hold
// every row, and a run resumed from a checkpoint goes on exactly as one that
// never stopped.

import XCTest
import Foundation
import Kernels
import Policy
import RewardRules
import TaskSets
import Traces
import Training

final class GRPOTrainerTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("grpo-trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Rewards a random byte-level policy earns often enough to spread within a group:
    /// 1 for any "a" or "7" in the completion, 0.5 more for one at the start.
    static let rules = try! RuleSet.parse(
        """
        name: toy
        rules:
          - {name: has, kind: regex, pattern: '[a7]', weight: 1}
          - {name: starts, kind: regex, pattern: '^[a-m]', weight: 0.5}
        """, file: "toy.yaml")

    static let tasks = TaskSet(
        folder: URL(fileURLWithPath: "/nonexistent"),
        manifest: TaskManifest(name: "toy", kind: "math", rules: "toy", maxCompletionLength: 12),
        train: (0..<10).map { TaskRecord(id: "t\($0)", prompt: "\($0)+\($0)=", answer: "\(2 * $0)") },
        test: [TaskRecord(id: "x", prompt: "1+1=", answer: "2")], sft: [])

    func config(_ configure: (inout GRPOConfig) -> Void = { _ in }) -> GRPOConfig {
        var c = GRPOConfig()
        c.model = "toy"
        c.taskSet = "toy"
        c.numGenerations = 4
        c.promptsPerStep = 3
        c.learningRate = 1e-3
        c.maxSteps = 4
        c.seed = 5
        configure(&c)
        return c
    }

    func model() -> Transformer {
        let m = Transformer(config: try! ModelConfig.named("toy"))
        m.initialize(seed: 1)
        return m
    }

    func testStepsRecordEverythingAndAgreeWithTheSampler() throws {
        let policy = model()
        let before = Array(UnsafeBufferPointer(start: policy.parameters.data, count: policy.layout.count))
        let trainer = try GRPOTrainer(
            config: config { $0.beta = 0.04 }, model: policy, tasks: Self.tasks, rules: Self.rules)
        let db = folder.appendingPathComponent("t.sqlite").path
        let traces = try TraceWriter(path: db)
        try traces.startRun(trainer.runInfo)
        var spread = false
        for step in 1...3 {
            let (report, record) = try trainer.trainStep()
            try traces.record(record)
            XCTAssertLessThan(report.metrics.logprobMismatchMax!, 1e-4, "sampler and trainer log-probs")
            XCTAssertNotNil(
                report.metrics.extra["routing_flips"], "router replay is on by default and counts its flips")
            XCTAssertEqual(record.groups.count, 3)
            for g in record.groups {
                XCTAssertEqual(g.samples.count, 4)
                XCTAssertEqual(
                    g.samples.reduce(0) { $0 + $1.advantage }, 0, accuracy: 1e-9, "advantages sum to 0 in a group")
                for s in g.samples {
                    XCTAssertEqual(s.tokenIDs.count, s.tokenLogprobs.count)
                    XCTAssertLessThanOrEqual(s.tokenIDs.count, 12)
                    XCTAssertEqual(s.scores.map(\.rule), ["has", "starts"])
                }
                if Set(g.samples.compactMap(\.reward)).count > 1 { spread = true }
            }
            // beta > 0 reports a KL: 0 while the policy is still the reference, then positive.
            let kl = try XCTUnwrap(report.metrics.kl)
            if step == 1 { XCTAssertEqual(kl, 0, accuracy: 1e-9) } else { XCTAssertGreaterThan(kl, 0) }
            let has = record.groups.flatMap(\.samples).map { $0.scores[0].score ?? 0 }
            XCTAssertEqual(
                try XCTUnwrap(report.metrics.extra["reward/has"]), has.reduce(0, +) / Double(has.count),
                accuracy: 1e-12)
            for layer in 0..<policy.config.numHiddenLayers {
                let load = try (0..<policy.config.nRoutedExperts).map {
                    try XCTUnwrap(report.metrics.extra["expert_load/\(layer)/\($0)"])
                }
                XCTAssertEqual(load.reduce(0, +), 1, accuracy: 1e-12, "layer \(layer)'s tokens all went somewhere")
                XCTAssertTrue(load.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(load)")
            }
        }
        XCTAssertTrue(spread, "no group had a spread of rewards: the test would not exercise the update")
        let after = Array(UnsafeBufferPointer(start: policy.parameters.data, count: policy.layout.count))
        XCTAssertNotEqual(before, after, "the policy changed")
        let r = try TraceReader(path: db)
        XCTAssertEqual(
            try r.sql("SELECT count(*), count(DISTINCT step) FROM samples").rows, [[.integer(36), .integer(3)]])
        XCTAssertEqual(try r.sql("SELECT count(*) FROM rule_scores").rows, [[.integer(72)]])
        XCTAssertEqual(
            try r.sql("SELECT count(*) FROM steps WHERE logprob_mismatch_max < 1e-4 AND kl IS NOT NULL").rows,
            [[.integer(3)]])
    }

    /// Stop after 2 steps, checkpoint, load everything back into new objects, run 2 more: the
    /// rewards, gradient norms and final weights are those of a run that did 4 in one go.
    func testResumeContinuesExactly() throws {
        let straight = try GRPOTrainer(config: config(), model: model(), tasks: Self.tasks, rules: Self.rules)
        var expected: [(Double?, Double?)] = []
        for _ in 0..<4 {
            let m = try straight.trainStep().0.metrics
            expected.append((m.rewardMean, m.gradNorm))
        }

        let first = try GRPOTrainer(config: config(), model: model(), tasks: Self.tasks, rules: Self.rules)
        var got: [(Double?, Double?)] = []
        for _ in 0..<2 {
            let m = try first.trainStep().0.metrics
            got.append((m.rewardMean, m.gradNorm))
        }
        let checkpoint = folder.appendingPathComponent("checkpoint-2")
        try first.save(to: checkpoint)
        let second = try GRPOTrainer(
            config: config(), model: try Checkpoint.loadModel(from: checkpoint), tasks: Self.tasks, rules: Self.rules)
        _ = try second.restore(from: checkpoint)
        XCTAssertEqual(second.step, 2)
        for _ in 0..<2 {
            let m = try second.trainStep().0.metrics
            got.append((m.rewardMean, m.gradNorm))
        }
        XCTAssertEqual(got.map { $0.0 }, expected.map { $0.0 })
        XCTAssertEqual(got.map { $0.1 }, expected.map { $0.1 })
        XCTAssertEqual(
            Array(UnsafeBufferPointer(start: second.model.parameters.data, count: second.model.layout.count)),
            Array(UnsafeBufferPointer(start: straight.model.parameters.data, count: straight.model.layout.count)))
    }

    /// Rows cut into micro-batches by length (each padded to its own longest row, gradients
    /// accumulated) give the update of one padded batch, up to summation order.
    func testMicroBatchesGiveTheOneBatchUpdate() throws {
        // Prompts of very different lengths, so micro-batches differ in padded length.
        let prompts = ["1=", "12+3=", "123+456+7=", "9*8*7*6*5*4*3="]
        let tasks = TaskSet(
            folder: Self.tasks.folder, manifest: Self.tasks.manifest,
            train: prompts.enumerated().map { TaskRecord(id: "p\($0.offset)", prompt: $0.element, answer: "1") },
            test: Self.tasks.test, sft: [])
        func firstStep(_ microBatches: Int?) throws -> (GRPOStepReport, [Float]) {
            let trainer = try GRPOTrainer(
                config: config {
                    $0.beta = 0.04
                    $0.maxCompletionLength = 12
                    $0.promptsPerStep = 4
                }, model: model(),
                tasks: tasks, rules: Self.rules)
            trainer.microBatches = microBatches
            let report = try trainer.trainStep().0
            return (
                report,
                Array(UnsafeBufferPointer(start: trainer.model.gradients.data, count: trainer.model.layout.count))
            )
        }
        let (one, g1) = try firstStep(1)
        for k in [2, 3, 12] {
            let (split, gk) = try firstStep(k)
            XCTAssertEqual(split.metrics.rewardMean, one.metrics.rewardMean, "same completions")
            XCTAssertLessThan(split.metrics.logprobMismatchMax!, 1e-4)
            XCTAssertEqual(split.metrics.loss!, one.metrics.loss!, accuracy: 1e-6)
            XCTAssertEqual(split.metrics.entropy!, one.metrics.entropy!, accuracy: 1e-5)
            let scale = g1.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            let worst = zip(g1, gk).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst / scale, 1e-4, "\(k) micro-batches")
        }
    }

    /// The router's balancing bias is frozen during GRPO unless router_bias_update_speed is set;
    /// then each step moves every bias by exactly gamma (or 0 for an expert at the mean load).
    func testRouterBiasFrozenUnlessAsked() throws {
        func biases(_ t: GRPOTrainer) -> [Float] {
            t.model.layout.layers.flatMap { l in
                (0..<t.model.config.nRoutedExperts).map { t.model.parameters[l.routerBias + $0] }
            }
        }
        let frozen = try GRPOTrainer(config: config(), model: model(), tasks: Self.tasks, rules: Self.rules)
        let start = biases(frozen)
        _ = try frozen.trainStep()
        XCTAssertEqual(biases(frozen), start)
        let moving = try GRPOTrainer(
            config: config { $0.routerBiasUpdateSpeed = 0.01 }, model: model(), tasks: Self.tasks, rules: Self.rules)
        _ = try moving.trainStep()
        let moved = zip(biases(moving), start).map { abs($0 - $1) }
        XCTAssertTrue(moved.allSatisfy { abs($0 - 0.01) < 1e-6 || $0 == 0 }, "\(moved)")
        XCTAssertTrue(moved.contains { $0 > 0 })
        XCTAssertEqual(
            try GRPOConfig.load(
                file: nil, overrides: [("model", "m"), ("task_set", "t"), ("router_bias_update_speed", "1e-3")]
            ).routerBiasUpdateSpeed, 1e-3)
    }

    /// DAPO dynamic sampling on the reward: the groups trained on all vary, exactly
    /// prompts_per_step of them unless the extra rounds ran out, dropped ones are counted, and a
    /// batch std is taken over the kept groups alone.
    func testDynamicSamplingKeepsExactlyTheBatchOfGroupsThatVary() throws {
        let trainer = try GRPOTrainer(
            config: config {
                $0.dynamicSampling = true
                $0.dynamicSamplingMetric = .reward
                $0.maxResampleRounds = 4
                $0.scaleRewards = .batch
            }, model: model(), tasks: Self.tasks, rules: Self.rules)
        var droppedAny = false
        for _ in 0..<3 {
            let (report, record) = try trainer.trainStep()
            let extra = report.metrics.extra
            XCTAssertTrue(record.groups.allSatisfy { g in Set(g.samples.map { $0.reward ?? -1 }).count > 1 })
            if extra["dynamic_sampling/extra_rounds"]! < 4 { XCTAssertEqual(record.groups.count, 3) }
            XCTAssertEqual(extra["dynamic_sampling/kept_groups"], Double(record.groups.count))
            XCTAssertEqual(extra["dynamic_sampling/skipped_update"], record.groups.isEmpty ? 1 : 0)
            let dropped = try XCTUnwrap(extra["dynamic_sampling/dropped_groups"])
            if dropped > 0 { droppedAny = true }
            let expected = Advantages.compute(record.groups.map { $0.samples.map(\.reward) }, scale: .batch)
            for (g, a) in zip(record.groups, expected) {
                for (sample, value) in zip(g.samples, a) { XCTAssertEqual(sample.advantage, value, accuracy: 1e-12) }
            }
        }
        XCTAssertTrue(droppedAny, "no flat group in 3 steps: the test exercised nothing")
    }

    /// Every completion earns the same reward and accuracy: nothing is kept in any round, so
    /// the step skips its update (the weights stay) and says so.
    func testNothingKeptSkipsTheUpdate() throws {
        let yaml = "name: flat\nrules:\n  - {name: any, kind: regex, pattern: '^'}\n"
        let flat = try RuleSet.parse(yaml, file: "flat.yaml")
        let policy = model()
        let before = Array(UnsafeBufferPointer(start: policy.parameters.data, count: policy.layout.count))
        let c = config {
            $0.dynamicSampling = true
            $0.maxResampleRounds = 1
        }
        let trainer = try GRPOTrainer(config: c, model: policy, tasks: Self.tasks, rules: flat)
        let (report, record) = try trainer.trainStep()
        XCTAssertEqual(report.metrics.extra["dynamic_sampling/skipped_update"], 1)
        XCTAssertEqual(report.metrics.extra["dynamic_sampling/extra_rounds"], 1)
        XCTAssertEqual(report.metrics.extra["dynamic_sampling/dropped_groups"], 6)
        XCTAssertEqual(report.metrics.rewardMean, 1)
        XCTAssertNil(report.metrics.loss)
        XCTAssertNil(report.metrics.gradNorm)
        XCTAssertTrue(record.groups.isEmpty)
        XCTAssertEqual(trainer.step, 1)
        let after = Array(UnsafeBufferPointer(start: policy.parameters.data, count: policy.layout.count))
        XCTAssertEqual(before, after, "no update")
        let traces = try TraceWriter(path: folder.appendingPathComponent("skip.sqlite").path)
        try traces.startRun(trainer.runInfo)
        try traces.record(record)
    }

    /// One prompt, so every round samples the same prompt: a seed whose first round is flat
    /// finds a group that varies in a later round only if each round draws fresh completions.
    func testResamplingRoundsDrawFreshCompletions() throws {
        func seed(_ step: Int, _ round: Int) -> UInt64 { GRPOTrainer.samplingSeed(seed: 5, step: step, round: round) }
        XCTAssertNotEqual(seed(0, 0), seed(0, 1))
        XCTAssertNotEqual(seed(0, 1), seed(1, 0))
        let one = TaskSet(
            folder: Self.tasks.folder, manifest: Self.tasks.manifest, train: [Self.tasks.train[0]],
            test: Self.tasks.test, sft: [])
        func firstStep(seed: Int, rounds: Int) throws -> StepMetrics {
            let c = config {
                $0.seed = seed
                $0.promptsPerStep = 1
                $0.numGenerations = 8
                $0.dynamicSampling = true
                $0.dynamicSamplingMetric = .reward
                $0.maxResampleRounds = rounds
            }
            return try GRPOTrainer(config: c, model: model(), tasks: one, rules: Self.rules).trainStep().0.metrics
        }
        func skips(_ seed: Int) throws -> Bool {
            try firstStep(seed: seed, rounds: 0).extra["dynamic_sampling/skipped_update"] == 1
        }
        let flatFirst = try XCTUnwrap((0..<40).first(where: skips), "no seed with a flat first round")
        let resampled = try firstStep(seed: flatFirst, rounds: 8)
        XCTAssertEqual(resampled.extra["dynamic_sampling/skipped_update"], 0, "a later round varied")
        XCTAssertGreaterThanOrEqual(resampled.extra["dynamic_sampling/dropped_groups"]!, 1)
    }

    /// dr_grpo divides by the cap generation ran with: max_completion_length, else the task set's.
    func testDrGRPODividesByTheCapGenerationUsed() throws {
        let fromTasks = try GRPOTrainer(
            config: config { $0.lossType = .drGRPO }, model: model(), tasks: Self.tasks,
            rules: Self.rules)
        XCTAssertEqual(fromTasks.maxCompletionLength, 12)
        XCTAssertEqual(fromTasks.lossOptions.maxCompletionLength, 12)
        let set = try GRPOTrainer(
            config: config {
                $0.lossType = .drGRPO
                $0.maxCompletionLength = 7
            }, model: model(),
            tasks: Self.tasks, rules: Self.rules)
        XCTAssertEqual(set.lossOptions.maxCompletionLength, 7)
        let (_, record) = try set.trainStep()
        XCTAssertTrue(record.groups.allSatisfy { $0.samples.allSatisfy { $0.tokenIDs.count <= 7 } })
    }

    /// With num_iterations 2 each update is a step of the schedule: linear decay over
    /// max_steps x 2 = 4 updates, 1, 0.75, 0.5, 0.25 of the peak; a step reports its last.
    func testEachUpdateOfABatchIsAScheduleStep() throws {
        let trainer = try GRPOTrainer(
            config: config {
                $0.numIterations = 2
                $0.maxSteps = 2
            }, model: model(),
            tasks: Self.tasks, rules: Self.rules)
        for (update, fraction) in [1.0, 0.75, 0.5, 0.25].enumerated() {
            XCTAssertEqual(Double(trainer.learningRate(update: update)), 1e-3 * fraction, accuracy: 1e-10)
        }
        XCTAssertEqual(try trainer.trainStep().0.metrics.learningRate!, 0.75e-3, accuracy: 1e-10)
        XCTAssertEqual(try trainer.trainStep().0.metrics.learningRate!, 0.25e-3, accuracy: 1e-10)
    }

    /// mask_truncated_completions leaves truncated completions out of the entropy too: with a
    /// cap of one token every completion is truncated, so no token counts.
    func testEntropyLeavesOutMaskedTruncatedCompletions() throws {
        func entropy(masked: Bool) throws -> StepMetrics {
            let c = config {
                $0.maxCompletionLength = 1
                $0.maskTruncatedCompletions = masked
            }
            let trainer = try GRPOTrainer(config: c, model: model(), tasks: Self.tasks, rules: Self.rules)
            return try trainer.trainStep().0.metrics
        }
        let plain = try entropy(masked: false)
        let masked = try entropy(masked: true)
        XCTAssertEqual(plain.truncatedFrac, 1, "the premise: every completion hit the cap")
        XCTAssertGreaterThan(plain.entropy!, 1)
        XCTAssertEqual(masked.entropy, 0)
    }

    func testConfigErrorsNameTheKey() throws {
        func error(_ overrides: [(String, String)]) -> String {
            do {
                _ = try GRPOConfig.load(file: nil, overrides: [("model", "m"), ("task_set", "arith")] + overrides)
                return ""
            } catch { return "\(error)" }
        }
        XCTAssertTrue(error([("num_generations", "1")]).contains("num_generations"))
        XCTAssertTrue(error([("learning_rat", "1e-5")]).contains("learning_rat"))
        XCTAssertTrue(error([("learning_rat", "1e-5")]).contains("learning_rate"), "suggests the near name")
        XCTAssertTrue(error([("loss_type", "ppo")]).contains("loss_type"))
        XCTAssertTrue(error([("epsilon", "1.5")]).contains("epsilon"))
        let ok = try GRPOConfig.load(
            file: nil, overrides: [("model", "m"), ("task-set", "arith"), ("loss-type", "dr_grpo"), ("beta", "0.04")])
        XCTAssertEqual(ok.lossType, .drGRPO)
        XCTAssertEqual(ok.beta, 0.04)
        XCTAssertEqual(ok.numGenerations, 8, "TRL's default")
        XCTAssertEqual(GRPOConfig().lossType, .dapo)
        // transformers' TrainingArguments, which TRL inherits.
        XCTAssertEqual(GRPOConfig().adamBeta2, 0.999)
        XCTAssertEqual(GRPOConfig().lrSchedulerType, "linear")
        XCTAssertTrue(GRPOConfig().useBiasCorrectionKl, "on in TRL too")
        XCTAssertEqual(GRPOConfig().dynamicSamplingMetric, .accuracy)
        let overrides = [
            ("model", "m"), ("task_set", "t"), ("lr_scheduler_type", "constant"),
            ("use_bias_correction_kl", "false"), ("dynamic_sampling_metric", "reward"),
        ]
        let chosen = try GRPOConfig.load(file: nil, overrides: overrides)
        XCTAssertEqual(chosen.lrSchedulerType, "constant")
        XCTAssertFalse(chosen.useBiasCorrectionKl)
        XCTAssertFalse(chosen.lossOptions(completionCap: 9).useBiasCorrectionKL)
        XCTAssertEqual(chosen.dynamicSamplingMetric, .reward)
        XCTAssertTrue(error([("lr_scheduler_type", "step")]).contains("lr_scheduler_type"))
        XCTAssertTrue(error([("dynamic_sampling_metric", "format")]).contains("dynamic_sampling_metric"))
    }

    func testWarnsWhenTheTemplateAlreadyWritesWhatARuleExpects() throws {
        let rules = try RuleSet.parse(
            """
            name: r1
            rules:
              - {name: answer, kind: math, requires: format}
              - {name: format, kind: regex, pattern: '^<think>.*?</think>\\s*<answer>.*?</answer>$', flags: [dotall]}
              - {name: bonus, kind: regex, pattern: '7', requires: answer}
              - {name: other, kind: regex, pattern: '7'}
            """, file: "r1.yaml")
        func warnings(template: String) throws -> [String] {
            var manifest = Self.tasks.manifest
            manifest.promptTemplate = template
            let tasks = TaskSet(
                folder: Self.tasks.folder, manifest: manifest, train: Self.tasks.train, test: Self.tasks.test, sft: [])
            return try GRPOTrainer(config: config(), model: model(), tasks: tasks, rules: rules).warnings
        }
        let w = try warnings(template: "User: {prompt}\nAssistant: <think>")
        XCTAssertEqual(w.count, 3, "\(w)")
        XCTAssertTrue(w[0].contains("\"format\"") && w[0].contains("<think>"), w[0])
        XCTAssertTrue(w.contains { $0.contains("\"answer\" requires \"format\"") }, "\(w)")
        XCTAssertTrue(
            w.contains { $0.contains("\"bonus\" requires \"answer\"") }, "a requires chain, in any file order: \(w)")
        XCTAssertEqual(try warnings(template: "User: {prompt}\nAssistant:"), [])
    }

    func testPassAtK() {
        XCTAssertEqual(Evaluation.passAtK(n: 4, c: 0, k: 1), 0)
        XCTAssertEqual(Evaluation.passAtK(n: 4, c: 1, k: 1), 0.25, accuracy: 1e-12)
        // 1 - C(2, 2) / C(4, 2) = 1 - 1/6.
        XCTAssertEqual(Evaluation.passAtK(n: 4, c: 2, k: 2), 5.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(Evaluation.passAtK(n: 4, c: 3, k: 2), 1)
    }

    /// A prefix forces the start of every completion: the rules see it, and the policy continues it.
    func testEvaluationPrefixForcesTheStyle() throws {
        let rules = try RuleSet.parse(
            """
            name: style
            rules:
              - {name: program, kind: regex, pattern: '^```python\\n', weight: 1}
            """, file: "style.yaml")
        let tasks = TaskSet(
            folder: Self.tasks.folder, manifest: Self.tasks.manifest, train: [],
            test: Self.tasks.train, sft: [])
        let plain = try Evaluation.run(model: model(), tasks: tasks, rules: rules, k: 2, samples: 2)
        let forced = try Evaluation.run(
            model: model(), tasks: tasks, rules: rules, k: 2, samples: 2,
            keepSamples: true, prefix: "```python\n")
        XCTAssertEqual(plain.accuracy, 0, "a random policy does not write the fence by itself")
        XCTAssertEqual(forced.accuracy, 1)
        XCTAssertEqual(forced.passAtK, 1)
        // The prompts carried the prefix, so what was sampled continues it: the first sampled
        // token follows "```python\n" in the prompt, not at the completion's start.
        XCTAssertTrue(forced.greedyGroups.allSatisfy { $0.prompt.hasSuffix("=```python\n") }, "\(forced.greedyGroups)")
    }
}
