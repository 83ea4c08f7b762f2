// GRPO's options through the trainer, each with an effect a step must show: num_iterations
// (several optimizer updates on one batch, the later ones off-policy), mask_truncated_completions
// (a truncated completion passes no gradient), importance_sampling_level (the level only matters
// once the policy has moved from the one that sampled) and scale_rewards (the recorded
// advantages, recomputed here from the recorded rewards).

import XCTest
import Foundation
import Policy
import Training

extension GRPOTrainerTests {
    func weights(_ trainer: GRPOTrainer) -> [Float] {
        Array(UnsafeBufferPointer(start: trainer.model.parameters.data, count: trainer.model.layout.count))
    }

    func largestDifference(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

    /// One step of a trainer with a constant learning rate (so updates compare across schedules).
    func oneStep(_ configure: (inout GRPOConfig) -> Void) throws -> (GRPOTrainer, GRPOStepReport) {
        let trainer = try GRPOTrainer(
            config: config {
                $0.lrSchedulerType = "constant"
                configure(&$0)
            }, model: model(), tasks: Self.tasks, rules: Self.rules)
        return (trainer, try trainer.trainStep().0)
    }

    /// num_iterations 2: the same completions, two Adam updates (the checkpoint's Adam step says
    /// so), and a second pass whose ratios are no longer 1 because the first update moved the policy.
    func testNumIterationsUpdatesTwiceOnOneBatch() throws {
        let (once, onceReport) = try oneStep { $0.numIterations = 1 }
        let (twice, twiceReport) = try oneStep { $0.numIterations = 2 }
        XCTAssertEqual(onceReport.metrics.rewardMean, twiceReport.metrics.rewardMean, "one batch, sampled once")
        XCTAssertEqual(onceReport.metrics.ratioMean, 1, "on-policy: logp = old logp")
        XCTAssertEqual(onceReport.metrics.clipFracLow, 0)
        XCTAssertEqual(onceReport.metrics.clipFracHigh, 0)
        let ratio = try XCTUnwrap(twiceReport.metrics.ratioMean)
        XCTAssertNotEqual(ratio, 1, "the second pass sees the updated policy")
        XCTAssertEqual(ratio, 1, accuracy: 0.5, "but one small step away")
        XCTAssertGreaterThan(largestDifference(weights(once), weights(twice)), 0)
        for (trainer, updates) in [(once, 1), (twice, 2)] {
            let folder = self.folder.appendingPathComponent("iterations-\(updates)")
            try trainer.save(to: folder)
            XCTAssertEqual(try XCTUnwrap(try Checkpoint.loadState(from: folder)).adamStep, updates)
        }
    }

    /// A cap of one token truncates every completion: masked, no token counts, so the loss and
    /// the gradient are 0 and the weights stay; unmasked, the same batch moves them.
    func testMaskTruncatedCompletionsPassNoGradient() throws {
        let before = weights(try GRPOTrainer(config: config(), model: model(), tasks: Self.tasks, rules: Self.rules))
        let (masked, maskedReport) = try oneStep {
            $0.maxCompletionLength = 1
            $0.maskTruncatedCompletions = true
        }
        let (plain, plainReport) = try oneStep {
            $0.maxCompletionLength = 1
            $0.maskTruncatedCompletions = false
        }
        XCTAssertEqual(plainReport.metrics.truncatedFrac, 1, "the premise: every completion hit the cap")
        XCTAssertEqual(maskedReport.metrics.truncatedFrac, 1)
        XCTAssertEqual(maskedReport.metrics.loss, 0)
        XCTAssertEqual(maskedReport.metrics.gradNorm, 0)
        XCTAssertEqual(weights(masked), before, "no token counted, nothing learnt")
        XCTAssertGreaterThan(try XCTUnwrap(plainReport.metrics.gradNorm), 0)
        XCTAssertGreaterThan(largestDifference(weights(plain), before), 0)
    }

    /// With ratios of 1 (one update per batch) token- and sequence-level losses have the same
    /// gradient, so the two levels make the same update; once the policy has moved (a second
    /// update, clipping at 1 +- 0.03, which some ratios then pass and some do not) they differ,
    /// and the sequence level clips whole sequences.
    func testImportanceSamplingLevelMattersOffPolicy() throws {
        func run(_ level: ImportanceSamplingLevel, iterations: Int) throws -> (GRPOTrainer, GRPOStepReport) {
            try oneStep {
                $0.importanceSamplingLevel = level
                $0.numIterations = iterations
                $0.epsilon = 0.03
            }
        }
        let start = weights(try GRPOTrainer(config: config(), model: model(), tasks: Self.tasks, rules: Self.rules))
        let (token1, _) = try run(.token, iterations: 1)
        let (sequence1, _) = try run(.sequence, iterations: 1)
        let step = largestDifference(weights(token1), start)
        XCTAssertGreaterThan(step, 0)
        XCTAssertLessThan(largestDifference(weights(token1), weights(sequence1)), step * 1e-3, "on-policy: one update")

        let (token2, _) = try run(.token, iterations: 2)
        let (sequence2, report) = try run(.sequence, iterations: 2)
        XCTAssertGreaterThan(
            largestDifference(weights(token2), weights(sequence2)), step * 1e-2,
            "off-policy: they differ")
        // 3 prompts x 4 completions: a sequence-level clip fraction counts whole sequences.
        let clipped = (report.metrics.clipFracLow ?? 0) + (report.metrics.clipFracHigh ?? 0)
        XCTAssertEqual(clipped * 12, (clipped * 12).rounded(), accuracy: 1e-9, "\(clipped)")
        XCTAssertGreaterThan(clipped, 0, "the premise: the second update reached the clip")
        XCTAssertLessThan(clipped, 1, "and left some sequences unclipped")
    }

    /// The advantages the trainer records are those of the formula sheet, recomputed from the
    /// recorded rewards: (r - group mean) / (sample std + 1e-4) of the group, of the batch, or not scaled.
    func testScaleRewardsGivesTheRecordedAdvantages() throws {
        var spreads: [ScaleRewards: [Double]] = [:]
        for scale in ScaleRewards.allCases {
            let trainer = try GRPOTrainer(
                config: config { $0.scaleRewards = scale }, model: model(), tasks: Self.tasks,
                rules: Self.rules)
            let record = try trainer.trainStep().1
            let all = record.groups.flatMap { $0.samples.compactMap(\.reward) }
            for g in record.groups {
                let rewards = g.samples.map { $0.reward ?? 0 }
                let mean = rewards.reduce(0, +) / Double(rewards.count)
                let divisor: Double
                switch scale {
                case .group: divisor = Self.sampleStd(rewards) + 1e-4
                case .batch: divisor = Self.sampleStd(all) + 1e-4
                case .none: divisor = 1
                }
                let flat = Set(rewards).count == 1
                for (sample, r) in zip(g.samples, rewards) {
                    XCTAssertEqual(sample.advantage, flat ? 0 : (r - mean) / divisor, accuracy: 1e-9, "\(scale)")
                }
            }
            spreads[scale] = record.groups.flatMap { $0.samples.map(\.advantage) }
        }
        // The same completions (one seed): only the scale differs, and it does differ.
        XCTAssertNotEqual(spreads[.group], spreads[.none])
        XCTAssertNotEqual(spreads[.batch], spreads[.group])
    }

    static func sampleStd(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }
}
