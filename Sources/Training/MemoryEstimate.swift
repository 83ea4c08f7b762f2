// The memory a GRPO run will take, estimated from its configuration before
// anything is allocated, and checked against what the machine has: a stray
// digit in num_generations must be an error that says so, not a process that
// grows by gigabytes a second. An estimate of the largest buffers (float32):
//   weights, gradients and the two Adam moments           4 P   (+ P for the reference, beta > 0)
//   KV cache for sampling, every row at its longest       R x L x 2 T x D
//   training activations of one padded batch, per token   L x (8 D + H T + E + 2 K + K (2 D + 3 I) + 3 Is)
//   logits and their gradient                             2 R T V
// with P parameters, R = prompts_per_step x num_generations rows, T the longest
// prompt plus the completion cap, L layers, D width, H heads, E routed experts,
// K chosen, I expert width, Is shared width, V vocabulary.

import Foundation
import Kernels
import Policy
import Support

public struct MemoryEstimate: Sendable {
    public struct Part: Sendable {
        public var what: String
        public var bytes: Double
    }
    public var parts: [Part]
    public var total: Double { parts.reduce(0) { $0 + $1.bytes } }

    public static func grpo(
        _ config: GRPOConfig, model m: ModelConfig, longestPrompt: Int, completionCap: Int
    )
        -> MemoryEstimate
    {
        let floats = 4.0
        let p = m.parameterCount
        let rows = Double(config.promptsPerStep) * Double(config.numGenerations)
        let t = Double(longestPrompt + completionCap)
        let l = Double(m.numHiddenLayers)
        let d = Double(m.hiddenSize)
        let k = Double(m.numExpertsPerTok)
        let i = Double(m.moeIntermediateSize)
        // A layer keeps its input, two norms' outputs and x_mid (4 D), the rows attention reads and its
        // output; MLA also its queries before the latent, the latent, and the attention's latent output.
        let latent = m.latentAttention.map {
            Double(m.numAttentionHeads * ($0.qkDim + $0.rank) + $0.rank + 2 * ($0.queryRank ?? 0))
        }
        let attention = Double(Attention.Shape(m).ld + m.attentionWidth) + (latent ?? 0)
        let perToken =
            l
            * (4 * d + attention + Double(m.numAttentionHeads) * t + Double(m.nRoutedExperts) + 2 * k
                + k * (2 * d + 3 * i) + 3 * i * Double(m.nSharedExperts))
        return MemoryEstimate(parts: [
            Part(what: "weights, gradients and optimizer moments", bytes: (config.beta > 0 ? 5 : 4) * p * floats),
            Part(what: "the sampling KV cache", bytes: rows * l * t * Double(m.cacheWidth) * floats),
            Part(what: "training activations", bytes: rows * t * perToken * floats),
            Part(what: "logits", bytes: 2 * rows * t * Double(m.vocabSize) * floats),
        ])
    }

    /// Throws when the estimate exceeds the memory available, naming the key that drives
    /// the largest part: the batch size for what grows with the batch, else the model.
    public func check(_ config: GRPOConfig, file: String) throws {
        guard let shortfall = AvailableMemory.shortfall(needing: total) else { return }
        let largest = parts.max { $0.bytes < $1.bytes }!
        let key: String
        if largest.what.hasPrefix("weights") {
            key = "model"
        } else {
            key = config.promptsPerStep > config.numGenerations ? "prompts_per_step" : "num_generations"
        }
        let breakdown = parts.map { "\($0.what) \(AvailableMemory.describe($0.bytes))" }.joined(separator: ", ")
        throw ConfigError(
            file: file, key: key,
            message: "this run needs \(shortfall) (\(breakdown)); "
                + "lower num_generations or prompts_per_step (a batch is their product), or use a smaller model")
    }
}
