// One optimizer step of next-token training: forward, mean negative
// log-likelihood over the target tokens, backward, clip, AdamW, and the
// router-bias update. SFT runs it; the benchmark times it.

import Foundation
import Kernels
import Policy

public struct StepResult: Sendable {
    /// Mean negative log-likelihood per target token (without the balance loss).
    public var loss: Float
    public var auxLoss: Float
    /// Global gradient norm before clipping.
    public var gradNorm: Float
    public var targetTokens: Int
    public var learningRate: Float
}

public final class NextTokenTrainer: @unchecked Sendable {
    public let model: Transformer
    public let optimizer: AdamW
    public let balancer: ExpertBalancer
    let activations = Activations()
    let logp = FloatBuffer(), dlogp = FloatBuffer(), dlogits = FloatBuffer()

    public init(model: Transformer, optimizer: OptimizerConfig) {
        self.model = model
        self.optimizer = AdamW(layout: model.layout, config: optimizer)
        balancer = ExpertBalancer(model: model)
    }

    /// `targets[t]` is the token to predict at row t, or -1 for none.
    public func step(
        tokens: [Int32], targets: [Int32], batch b: Int, length t: Int, lengths: [Int]? = nil,
        learningRate lr: Float
    ) throws -> StepResult {
        let n = b * t
        let v = model.config.vocabSize
        let logits = model.forward(tokens: tokens, batch: b, length: t, lengths: lengths, into: activations)
        let logp = self.logp.reserve(n)
        let dlogp = self.dlogp.reserve(n)
        let dlogits = self.dlogits.reserve(n * v)
        LogProbs.forward(logits, targets: targets, rows: n, vocab: v, logp: logp)
        let count = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var total = 0.0
        for i in 0..<n where targets[i] >= 0 { total -= Double(logp[i]) }
        let loss = Float(total / Double(max(1, count)))
        guard loss.isFinite else { throw PolicyError.nonFiniteLoss(step: optimizer.step, value: loss) }
        let scale = -1 / Float(max(1, count))
        for i in 0..<n { dlogp[i] = targets[i] >= 0 ? scale : 0 }
        LogProbs.backward(logits, targets: targets, dlogp: dlogp, rows: n, vocab: v, dlogits: dlogits)
        model.zeroGradients()
        model.backward(dlogits: dlogits, from: activations)
        let norm = GradientClipping.clip(
            model.gradients.data, layout: model.layout, maxNorm: optimizer.config.maxGradNorm)
        guard norm.isFinite else { throw PolicyError.nonFiniteLoss(step: optimizer.step, value: norm) }
        optimizer.update(params: model.parameters.data, grads: model.gradients.data, lr: lr)
        balancer.update(load: activations.expertLoad)
        return StepResult(
            loss: loss, auxLoss: activations.auxLoss, gradNorm: norm, targetTokens: count, learningRate: lr)
    }

    /// Expert load of the last step, per layer (tokens per expert).
    public var expertLoad: [[Int]] { activations.expertLoad }
}
