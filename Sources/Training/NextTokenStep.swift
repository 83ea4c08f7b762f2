// One optimizer step of next-token training: forward, mean negative
// log-likelihood over the target tokens, backward, clip, AdamW, and the
// router-bias update. SFT runs it; the benchmark times it. With prediction
// modules and mtp_loss_weight > 0 the loss adds the weight times the modules'
// mean negative log-likelihood, module k scoring the target k places later
// (DeepSeek-V3's multi-token prediction objective).

import Foundation
import Kernels
import Policy

public struct StepResult: Sendable {
    /// Mean negative log-likelihood per target token (without the balance loss).
    public var loss: Float
    /// The prediction modules' mean negative log-likelihood (nil without them or at weight 0).
    public var mtpLoss: Float?
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
    let predictedDlogits: [FloatBuffer]
    /// Weight of the prediction modules' loss (0: they are not trained).
    public let mtpLossWeight: Float

    public init(model: Transformer, optimizer: OptimizerConfig, mtpLossWeight: Float = 0) {
        self.model = model
        self.mtpLossWeight = model.layout.predictors.isEmpty ? 0 : mtpLossWeight
        predictedDlogits = model.layout.predictors.map { _ in FloatBuffer() }
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
        let loss = try Self.meanNLL(
            logits, targets: targets, rows: n, vocab: v, logp: logp, dlogp: dlogp, dlogits: dlogits, weight: 1,
            step: optimizer.step)
        var predicted: [UnsafePointer<Float>] = []
        var mtpLoss: Float?
        if mtpLossWeight > 0 {
            // Module k's row i scores token i + k + 1: the main target k rows later.
            let modules = model.layout.predictors.count
            var sum: Float = 0
            for (m, moduleLogits) in model.predict(into: activations).enumerated() {
                let shifted = (0..<n).map { r in r % t + m + 1 < t ? targets[r + m + 1] : -1 }
                let dl = predictedDlogits[m].reserve(n * v)
                sum += try Self.meanNLL(
                    moduleLogits, targets: shifted, rows: n, vocab: v, logp: logp, dlogp: dlogp, dlogits: dl,
                    weight: mtpLossWeight / Float(modules), step: optimizer.step)
                predicted.append(UnsafePointer(dl))
            }
            mtpLoss = sum / Float(modules)
        }
        model.zeroGradients()
        model.backward(dlogits: dlogits, predicted: predicted, from: activations)
        let norm = GradientClipping.clip(
            model.gradients.data, layout: model.layout, maxNorm: optimizer.config.maxGradNorm)
        guard norm.isFinite else { throw PolicyError.nonFiniteLoss(step: optimizer.step, value: norm) }
        optimizer.update(params: model.parameters.data, grads: model.gradients.data, lr: lr)
        balancer.update(load: activations.expertLoad)
        return StepResult(
            loss: loss, mtpLoss: mtpLoss, auxLoss: activations.auxLoss, gradNorm: norm,
            targetTokens: targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }, learningRate: lr)
    }

    /// Mean negative log-likelihood of `targets` (-1: none) under logits [N, V], and into dlogits
    /// its gradient times `weight`.
    static func meanNLL(
        _ logits: UnsafePointer<Float>, targets: [Int32], rows n: Int, vocab v: Int,
        logp: UnsafeMutablePointer<Float>, dlogp: UnsafeMutablePointer<Float>, dlogits: UnsafeMutablePointer<Float>,
        weight: Float, step: Int
    ) throws -> Float {
        LogProbs.forward(logits, targets: targets, rows: n, vocab: v, logp: logp)
        let count = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        var total = 0.0
        for i in 0..<n where targets[i] >= 0 { total -= Double(logp[i]) }
        let loss = Float(total / Double(max(1, count)))
        guard loss.isFinite else { throw PolicyError.nonFiniteLoss(step: step, value: loss) }
        let scale = -weight / Float(max(1, count))
        for i in 0..<n { dlogp[i] = targets[i] >= 0 ? scale : 0 }
        LogProbs.backward(logits, targets: targets, dlogp: dlogp, rows: n, vocab: v, dlogits: dlogits)
        return loss
    }

    /// Expert load of the last step, per layer (tokens per expert).
    public var expertLoad: [[Int]] { activations.expertLoad }
}
