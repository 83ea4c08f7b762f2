// `grpo bench train`: one GRPO step on the reference workload (8
// prompts x 8 completions, up to 64 new tokens (fewer where the shape's context
// is shorter, as the toy's), beta = 0.04 so the reference
// model runs, one update, an exact-match reward), timed by phase. Each figure
// is the median over `repeats` steps after one warmup step.

import Foundation
import Kernels
import Policy
import RewardRules
import TaskSets
import Traces

public struct GRPOBenchmarkReport: Codable, Sendable {
    public var shape: String
    public var stepS: Double
    public var sampleS: Double
    public var scoreS: Double
    public var logprobS: Double
    public var trainS: Double
    public var logprobMismatchMax: Double
    public var completionTokens: Double
    public var peakRssMb: Double
    public var repeats: Int

    enum CodingKeys: String, CodingKey {
        case shape, stepS = "step_s", sampleS = "sample_s", scoreS = "score_s", logprobS = "logprob_s", trainS =
            "train_s"
        case logprobMismatchMax = "logprob_mismatch_max", completionTokens = "completion_tokens", peakRssMb =
            "peak_rss_mb", repeats
    }
}

public enum GRPOBenchmark {
    /// `tasks`: the prompts (arith's train split); `rules`: the exact-match rule set.
    public static func run(
        shape: String, tasks: TaskSet, rules: RuleSet, repeats: Int = 5,
        progress: (String) -> Void = { _ in }
    ) throws -> GRPOBenchmarkReport {
        let trainer = try makeTrainer(shape: shape, tasks: tasks, rules: rules, steps: repeats + 1)
        let c = trainer.config
        var steps: [StepMetrics] = []
        var walls: [Double] = []
        for i in 0...repeats {
            let start = Date()
            let (report, _) = try trainer.trainStep()
            if i > 0 {
                steps.append(report.metrics)
                walls.append(Date().timeIntervalSince(start))
            }
            progress(
                "step \(i == 0 ? "warmup" : "\(i)/\(repeats)"): "
                    + "\(String(format: "%.3f", Date().timeIntervalSince(start))) s"
            )
        }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        let reference = steps.map { $0.extra["reference_logprob_s"] ?? 0 }
        return GRPOBenchmarkReport(
            shape: shape, stepS: median(walls), sampleS: median(steps.map { $0.samplingS ?? 0 }),
            scoreS: median(steps.map { $0.scoringS ?? 0 }),
            logprobS: median(reference), trainS: median(zip(steps, reference).map { ($0.trainingS ?? 0) - $1 }),
            logprobMismatchMax: steps.compactMap(\.logprobMismatchMax).max() ?? .nan,
            completionTokens: median(
                steps.map { ($0.completionLenMean ?? 0) * Double(c.promptsPerStep * c.numGenerations) }),
            peakRssMb: Benchmark.peakResidentMegabytes(), repeats: repeats)
    }

    /// A trainer on the reference workload, random policy of `shape`.
    static func makeTrainer(shape: String, tasks: TaskSet, rules: RuleSet, steps: Int) throws -> GRPOTrainer {
        let model = Transformer(config: try ModelConfig.named(shape))
        model.initialize(seed: 0)
        var c = GRPOConfig()
        c.model = shape
        c.taskSet = tasks.manifest.name
        // 64 new tokens, or what the shape's context leaves after the longest prompt (the toy's is 64).
        let tokenizer = ByteTokenizer(config: model.config)
        let longestPrompt =
            tasks.train.map { tokenizer.encode(tasks.manifest.prompt(for: $0), addBOS: true).count }
            .max() ?? 1
        let room = model.config.maxPositionEmbeddings - longestPrompt
        guard room > 0 else {
            throw PolicyError.invalidArgument(
                "\(shape): a context of \(model.config.maxPositionEmbeddings) tokens "
                    + "leaves no room after a prompt of \(longestPrompt)")
        }
        c.promptsPerStep = 8
        c.numGenerations = 8
        c.maxCompletionLength = min(64, room)
        c.beta = 0.04
        c.numIterations = 1
        c.learningRate = 1e-5
        c.maxSteps = steps
        // The reference workload keeps the schedule and betas it was first measured with.
        c.lrSchedulerType = "constant"
        c.adamBeta2 = 0.99
        return try GRPOTrainer(config: c, model: model, tasks: tasks, rules: rules)
    }

    /// A trainer after one step of the reference workload: the memory a GRPO run holds
    /// (weights, reference, Adam moments, activations, KV cache), for measuring what
    /// that costs others (the sandbox's forks) while it is resident.
    public static func residentTrainer(tasks: TaskSet, rules: RuleSet) throws -> AnyObject {
        let trainer = try makeTrainer(shape: "tiny", tasks: tasks, rules: rules, steps: 1)
        _ = try trainer.trainStep()
        return trainer
    }
}
