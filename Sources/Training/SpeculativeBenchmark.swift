// `grpo bench speculative`: plain against self-speculative sampling of a GRPO step's rollout
// (prompts x generations completions of a task set's training prompts, the set's stop strings and
// completion length), in one process, each round on a new batch of prompts with both samplers in
// turn (which goes first alternates). Tokens/s are medians over the rounds; the speed-up is the
// median of each round's ratio, so that a noisy round moves both sides alike.

import Foundation
import Kernels
import Policy
import Support
import TaskSets

public struct SpeculativeReport: Codable, Sendable {
    public struct Drafts: Codable, Sendable {
        public var numSpeculativeTokens: Int
        public var tokensPerS: Double
        /// Median over rounds of (speculative tokens/s) / (plain tokens/s) in the same round.
        public var speedup: Double
        /// Drafts kept / drafts made, over all rounds.
        public var acceptanceRate: Double
        /// Tokens made per verifying pass of a sequence: 1 + kept drafts.
        public var tokensPerPass: Double

        enum CodingKeys: String, CodingKey {
            case numSpeculativeTokens = "num_speculative_tokens", tokensPerS = "tokens_per_s", speedup
            case acceptanceRate = "acceptance_rate", tokensPerPass = "tokens_per_pass"
        }
    }
    public var taskSet: String
    public var prompts: Int, generations: Int
    public var temperature: Float
    public var maxNewTokens: Int
    public var meanCompletionTokens: Double
    public var plainTokensPerS: Double
    public var speculative: [Drafts]
    public var rounds: Int
    public var cpu: String
    public var blasCore: String

    enum CodingKeys: String, CodingKey {
        case taskSet = "task_set", prompts, generations = "num_generations", temperature
        case maxNewTokens = "max_new_tokens", meanCompletionTokens = "mean_completion_tokens"
        case plainTokensPerS = "plain_tokens_per_s", speculative, rounds, cpu, blasCore = "blas_core"
    }
}

public enum SpeculativeBenchmark {
    public static func run(
        model: Transformer, tasks: TaskSet, prompts: Int = 8, generations: Int = 8, drafts: [Int],
        temperature: Float = 1, rounds: Int = 5, seed: UInt64 = 0, progress: (String) -> Void = { _ in }
    ) throws -> SpeculativeReport {
        guard !model.layout.predictors.isEmpty else {
            throw PolicyError.invalidArgument(
                "the model has no multi-token prediction module (num_nextn_predict_layers) to draft with")
        }
        guard !tasks.train.isEmpty else { throw PolicyError.invalidArgument("the task set has no training prompts") }
        let sampler = Sampler(model: model)
        let maxNewTokens = tasks.manifest.maxCompletionLength
        var rng = Xoshiro(seed: seed)
        var plainRates: [Double] = [], lengths: [Int] = []
        var rates = drafts.map { _ in [Double]() }, ratios = drafts.map { _ in [Double]() }
        var kept = drafts.map { _ in 0 }, made = drafts.map { _ in 0 }, passes = drafts.map { _ in 0 }
        // One warm-up round, then the timed ones.
        for round in 0...rounds {
            let batch = (0..<prompts).map { _ in tasks.train[Int(rng.next() % UInt64(tasks.train.count))] }
            let promptTokens = batch.map { model.tokenizer.encode(tasks.manifest.prompt(for: $0), addBOS: true) }
            func sample(_ k: Int) throws -> (rate: Double, tokens: Int) {
                let params = SamplingParams(
                    temperature: temperature, maxNewTokens: maxNewTokens, stop: tasks.manifest.stop,
                    seed: seed &+ UInt64(round), numSpeculativeTokens: k)
                let start = Date()
                let out = try sampler.generate(
                    promptTokens: promptTokens, completionsPerPrompt: generations, params: params)
                let seconds = Date().timeIntervalSince(start)
                let tokens = out.joined().reduce(0) { $0 + $1.tokens.count }
                if round > 0, k == 0 { lengths += out.joined().map(\.tokens.count) }
                return (Double(tokens) / seconds, tokens)
            }
            progress("round \(round)/\(rounds)\(round == 0 ? " (warm-up)" : "")")
            // Plain first in even rounds, last in odd ones.
            var results: [Int: (rate: Double, tokens: Int)] = [:]
            for k in round % 2 == 0 ? [0] + drafts : drafts + [0] {
                results[k] = try sample(k)
                if k > 0, round > 0, let i = drafts.firstIndex(of: k), let s = sampler.lastSpeculation {
                    kept[i] += s.accepted
                    made[i] += s.drafted
                    passes[i] += s.passes
                }
            }
            guard round > 0 else { continue }
            plainRates.append(results[0]!.rate)
            for (i, k) in drafts.enumerated() {
                rates[i].append(results[k]!.rate)
                ratios[i].append(results[k]!.rate / results[0]!.rate)
            }
        }
        let blas = BLASStartup.state
        return SpeculativeReport(
            taskSet: tasks.manifest.name, prompts: prompts, generations: generations, temperature: temperature,
            maxNewTokens: maxNewTokens,
            meanCompletionTokens: Double(lengths.reduce(0, +)) / Double(max(1, lengths.count)),
            plainTokensPerS: median(plainRates),
            speculative: drafts.indices.map { i in
                SpeculativeReport.Drafts(
                    numSpeculativeTokens: drafts[i], tokensPerS: median(rates[i]), speedup: median(ratios[i]),
                    acceptanceRate: Double(kept[i]) / Double(max(1, made[i])),
                    tokensPerPass: Double(kept[i] + passes[i]) / Double(max(1, passes[i])))
            },
            rounds: rounds, cpu: "\(blas.cpu.vendor) family \(blas.cpu.family) model \(blas.cpu.model)",
            blasCore: blas.core)
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
