// AdamW over the flat parameter buffer (decoupled weight decay; no decay on
// norms; the router's selection bias is not a trained parameter and is
// skipped), global gradient-norm clipping, and the learning-rate schedule.
// Names and defaults follow Hugging Face TrainingArguments.

import CKernels
import Foundation
import Kernels

public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// Peak learning rate.
    public var learningRate: Float = 1e-3
    public var adamBeta1: Float = 0.9
    public var adamBeta2: Float = 0.999
    public var adamEpsilon: Float = 1e-8
    /// Decoupled weight decay on weight matrices (not on norms).
    public var weightDecay: Float = 0.0
    /// Gradients are scaled so their global L2 norm is at most this (0 turns clipping off).
    public var maxGradNorm: Float = 1.0
    /// After warmup: "constant"; "cosine" (to `min_lr_ratio` x peak at the last step); or "linear",
    /// to 0 at step `total` as transformers' get_linear_schedule_with_warmup (TRL's default).
    public var lrSchedulerType = "cosine"
    /// Linear warmup from 0 over this many optimizer steps.
    public var warmupSteps = 0
    /// Floor of the cosine schedule, as a fraction of the peak.
    public var minLrRatio: Float = 0.1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate", adamBeta1 = "adam_beta1", adamBeta2 = "adam_beta2"
        case adamEpsilon = "adam_epsilon", weightDecay = "weight_decay", maxGradNorm = "max_grad_norm"
        case lrSchedulerType = "lr_scheduler_type", warmupSteps = "warmup_steps", minLrRatio = "min_lr_ratio"
    }

    public func validate() throws {
        func fail(_ key: String, _ m: String) -> PolicyError { .badConfig(file: "optimizer", key: key, message: m) }
        guard learningRate > 0, learningRate.isFinite else { throw fail("learning_rate", "must be positive") }
        guard (0..<1).contains(adamBeta1), (0..<1).contains(adamBeta2) else {
            throw fail("adam_beta1", "betas must be in [0, 1)")
        }
        guard adamEpsilon > 0 else { throw fail("adam_epsilon", "must be positive") }
        guard weightDecay >= 0 else { throw fail("weight_decay", "must be >= 0") }
        guard maxGradNorm >= 0 else { throw fail("max_grad_norm", "must be >= 0") }
        guard Self.schedulerTypes.contains(lrSchedulerType) else {
            let names = Self.schedulerTypes.map { "\"\($0)\"" }.joined(separator: ", ")
            throw fail("lr_scheduler_type", "must be one of " + names)
        }
        guard warmupSteps >= 0 else { throw fail("warmup_steps", "must be >= 0") }
        guard (0...1).contains(minLrRatio) else { throw fail("min_lr_ratio", "must be in [0, 1]") }
    }

    public static let schedulerTypes = ["constant", "cosine", "linear"]

    /// Learning rate at optimizer step `step` (0-based) of `total`.
    public func learningRate(step: Int, total: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(warmupSteps + 1) }
        if lrSchedulerType == "linear" {
            // transformers: max(0, (total - step) / (total - warmup)); the last step keeps 1/(total - warmup).
            let remaining = Float(max(0, total - step))
            return learningRate * remaining / Float(max(1, total - warmupSteps))
        }
        guard lrSchedulerType == "cosine", total > warmupSteps + 1 else { return learningRate }
        let progress = min(1, Float(step - warmupSteps) / Float(total - warmupSteps - 1))
        let cosine = 0.5 * (1 + cosf(Float.pi * progress))
        return learningRate * (minLrRatio + (1 - minLrRatio) * cosine)
    }
}

public final class AdamW: @unchecked Sendable {
    public let config: OptimizerConfig
    public let layout: ParameterLayout
    /// First and second moments, flat, in the parameter layout.
    public let m: Tensor, v: Tensor
    /// Optimizer steps taken (for bias correction).
    public var step = 0

    public init(layout: ParameterLayout, config: OptimizerConfig) {
        self.layout = layout
        self.config = config
        m = Tensor([layout.count])
        v = Tensor([layout.count])
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    public func update(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>, lr: Float) {
        step += 1
        let c = config
        let b1 = c.adamBeta1
        let b2 = c.adamBeta2
        let eps = c.adamEpsilon
        let bc1 = 1 - powf(b1, Float(step))
        let bc2 = 1 - powf(b2, Float(step))
        let stepSize = lr / bc1
        let invSqrtBc2 = 1 / bc2.squareRoot()
        let m = self.m.data
        let v = self.v.data
        for slot in layout.slots where slot.kind != .buffer {
            let decay: Float = slot.kind == .matrix ? 1 - lr * c.weightDecay : 1
            let lo = slot.offset
            // m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p = p decay - step m / (sqrt(v) / sqrt(bc2) + eps),
            // in ck_adamw: as a Swift loop it compiled to a square-root call per element.
            Parallel.forRanges(slot.count, minPerThread: 32768) { r in
                let i = lo + r.lowerBound
                ck_adamw(params + i, grads + i, m + i, v + i, r.count, b1, b2, stepSize, invSqrtBc2, eps, decay)
            }
        }
    }
}

public enum GradientClipping {
    /// Global L2 norm of the trainable gradients (summed in Double).
    public static func norm(_ grads: UnsafePointer<Float>, layout: ParameterLayout) -> Float {
        var total = 0.0
        for slot in layout.slots where slot.kind != .buffer {
            var s = 0.0
            for i in slot.range { s += Double(grads[i]) * Double(grads[i]) }
            total += s
        }
        return Float(total.squareRoot())
    }

    /// Scales gradients so their norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ grads: UnsafeMutablePointer<Float>, layout: ParameterLayout, maxNorm: Float) -> Float {
        let n = norm(grads, layout: layout)
        if maxNorm > 0 && n > maxNorm && n.isFinite {
            let s = maxNorm / (n + 1e-6)
            Parallel.forRanges(layout.count, minPerThread: 65536) { r in for i in r { grads[i] *= s } }
        }
        return n
    }
}
