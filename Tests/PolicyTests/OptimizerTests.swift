// AdamW against a hand computation, the parameter groups (no decay on norms,
// the selection bias untouched), clipping and the schedule.

import CKernels
import XCTest
import Kernels
import Policy
import Support

final class OptimizerTests: XCTestCase {
    func testAdamWMatchesHandComputation() {
        let c = try! ModelConfig.named("toy")
        let layout = ParameterLayout(c)
        var cfg = OptimizerConfig()
        cfg.weightDecay = 0.1
        cfg.adamBeta2 = 0.99
        let opt = AdamW(layout: layout, config: cfg)
        let p = Tensor([layout.count])
        let g = Tensor([layout.count])
        var rng = Xoshiro(seed: 3)
        for i in 0..<layout.count {
            p[i] = rng.normal()
            g[i] = rng.normal()
        }
        let p0 = p.array
        let g0 = g.array
        let lr: Float = 0.01
        opt.update(params: p.data, grads: g.data, lr: lr)
        let matrix = layout.slot(named: "model.layers.0.self_attn.q_proj.weight")!.offset
        let norm = layout.slot(named: "model.norm.weight")!.offset
        let bias = layout.layers[0].routerBias
        // Step 1: m = (1-b1) g, v = (1-b2) g^2; bias-corrected m/sqrt(v) = sign(g) (up to eps).
        func expected(_ i: Int, decay: Bool) -> Double {
            let mHat = Double(g0[i])
            let vHat = Double(g0[i] * g0[i])
            let decayed = Double(p0[i]) * (decay ? 1 - Double(lr) * 0.1 : 1)
            return decayed - Double(lr) * mHat / (vHat.squareRoot() + 1e-8)
        }
        XCTAssertEqual(Double(p[matrix]), expected(matrix, decay: true), accuracy: 1e-6)
        XCTAssertEqual(Double(p[norm]), expected(norm, decay: false), accuracy: 1e-6)
        XCTAssertEqual(p[bias], p0[bias], "the selection bias is not trained by gradients")
        // Step 2 against the recurrence in Double.
        let pAfter1 = p.array
        opt.update(params: p.data, grads: g.data, lr: lr)
        let i = matrix + 5
        let gd = Double(g0[i])
        let m2 = 0.9 * 0.1 * gd + 0.1 * gd
        let v2 = 0.99 * 0.01 * gd * gd + 0.01 * gd * gd
        let mHat = m2 / (1 - 0.81)
        let vHat = v2 / (1 - 0.9801)
        let want = Double(pAfter1[i]) * (1 - 0.001) - 0.01 * mHat / (vHat.squareRoot() + 1e-8)
        XCTAssertEqual(Double(p[i]), want, accuracy: 1e-6)
    }

    /// The vector kernel is the scalar Float recurrence, bit for bit, on every element (lengths that
    /// are not a multiple of the vector width; moments that start non-zero).
    func testAdamWKernelIsTheScalarRecurrenceBitForBit() {
        var rng = Xoshiro(seed: 4)
        let (b1, b2, step, inv, eps, decay): (Float, Float, Float, Float, Float, Float) =
            (0.9, 0.999, 3e-3, 1.7, 1e-8, 0.9995)
        for n in [1, 7, 8, 9, 37, 1_000] {
            let g = (0..<n).map { _ in rng.normal() }
            let m0 = (0..<n).map { _ in rng.normal() * 0.1 }
            let v0 = (0..<n).map { _ in abs(rng.normal()) * 0.01 }
            let p0 = (0..<n).map { _ in rng.normal() }
            var (p, m, v) = (p0, m0, v0)
            ck_adamw(&p, g, &m, &v, n, b1, b2, step, inv, eps, decay)
            for i in 0..<n {
                let mi = b1 * m0[i] + (1 - b1) * g[i]
                let vi = b2 * v0[i] + (1 - b2) * g[i] * g[i]
                let pi = p0[i] * decay - step * mi / (vi.squareRoot() * inv + eps)
                XCTAssertEqual(m[i].bitPattern, mi.bitPattern, "n \(n) m[\(i)]")
                XCTAssertEqual(v[i].bitPattern, vi.bitPattern, "n \(n) v[\(i)]")
                XCTAssertEqual(p[i].bitPattern, pi.bitPattern, "n \(n) p[\(i)]")
            }
        }
    }

    func testClipping() {
        let layout = ParameterLayout(try! ModelConfig.named("toy"))
        let g = Tensor([layout.count])
        for i in 0..<layout.count { g[i] = 0.01 }
        let bias = layout.layers[0].routerBias
        g[bias] = 1000  // not trainable: never counted
        let trainable = layout.slots.filter { $0.kind != .buffer }.reduce(0) { $0 + $1.count }
        let expected = (Double(trainable) * 1e-4).squareRoot()
        let before = GradientClipping.clip(g.data, layout: layout, maxNorm: 0.5)
        XCTAssertEqual(Double(before), expected, accuracy: 1e-4)
        XCTAssertEqual(Double(GradientClipping.norm(g.data, layout: layout)), 0.5, accuracy: 1e-4)
        // Below the threshold nothing changes.
        let again = GradientClipping.clip(g.data, layout: layout, maxNorm: 10)
        XCTAssertEqual(again, GradientClipping.norm(g.data, layout: layout))
    }

    func testSchedule() {
        var c = OptimizerConfig()
        c.learningRate = 1
        c.warmupSteps = 3
        c.minLrRatio = 0.1
        XCTAssertEqual(c.learningRate(step: 0, total: 13), 0.25, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(step: 2, total: 13), 0.75, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(step: 3, total: 13), 1, accuracy: 1e-6)
        XCTAssertEqual(c.learningRate(step: 7, total: 12), 0.55, accuracy: 1e-6)  // halfway: 0.1 + 0.9 * 0.5
        XCTAssertEqual(c.learningRate(step: 11, total: 12), 0.1, accuracy: 1e-6)
        c.lrSchedulerType = "constant"
        XCTAssertEqual(c.learningRate(step: 12, total: 13), 1)
        c.lrSchedulerType = "step"
        XCTAssertThrowsError(try c.validate()) {
            guard case let .badConfig(_, key, message)? = $0 as? PolicyError else { return XCTFail("\($0)") }
            XCTAssertEqual(key, "lr_scheduler_type")
            XCTAssertTrue(message.hasPrefix("must be one of"), message)
        }
    }

    /// transformers' get_linear_schedule_with_warmup after the warmup: (total - step) / (total - warmup),
    /// so peak at the warmup's end, 1 / (total - warmup) of it at the last step, never below 0.
    func testLinearScheduleDecaysToZeroAsTransformers() throws {
        var c = OptimizerConfig()
        c.learningRate = 1
        c.lrSchedulerType = "linear"
        try c.validate()
        XCTAssertEqual(c.learningRate(step: 0, total: 4), 1)
        XCTAssertEqual(c.learningRate(step: 1, total: 4), 0.75)
        XCTAssertEqual(c.learningRate(step: 3, total: 4), 0.25)
        XCTAssertEqual(c.learningRate(step: 5, total: 4), 0)
        c.warmupSteps = 2
        XCTAssertEqual(c.learningRate(step: 0, total: 10), 1.0 / 3, accuracy: 1e-7)
        XCTAssertEqual(c.learningRate(step: 2, total: 10), 1)
        XCTAssertEqual(c.learningRate(step: 6, total: 10), 0.5)
        XCTAssertEqual(c.learningRate(step: 9, total: 10), 0.125)
    }
}
