// Every layer's backward against finite differences of its forward, on small
// random shapes with a random upstream gradient.

import XCTest
import Kernels
import Policy
import Support

final class LayerGradientTests: XCTestCase {
    var rng = Xoshiro(seed: 7)

    func testLinear() {
        let n = 5
        let fin = 7
        let fout = 4
        let x = Tensor([n, fin], randomArray(n * fin, rng: &rng))
        let w = Tensor([fout, fin], randomArray(fout * fin, rng: &rng))
        let y = Tensor([n, fout])
        let r = randomArray(n * fout, rng: &rng)
        let dx = Tensor([n, fin])
        let dw = Tensor([fout, fin])
        let loss = { () -> Double in
            Linear.forward(x.data, w.data, y.data, rows: n, inFeatures: fin, outFeatures: fout)
            return probe(y.data, r)
        }
        _ = loss()
        Linear.backward(r, x.data, w.data, dw.data, dx.data, rows: n, inFeatures: fin, outFeatures: fout)
        let gc = GradientCheck()
        gc.check("dx", x.data, analytic: dx.data, indices: Array(0..<x.count), loss: loss)
        gc.check("dW", w.data, analytic: dw.data, indices: Array(0..<w.count), loss: loss)
    }

    func testRMSNorm() {
        let n = 6
        let d = 10
        let x = Tensor([n, d], randomArray(n * d, rng: &rng))
        let w = Tensor([d], randomArray(d, std: 0.5, rng: &rng).map { $0 + 1 })
        let y = Tensor([n, d])
        let rstd = Tensor([n])
        let r = randomArray(n * d, rng: &rng)
        let dx = Tensor([n, d])
        let dw = Tensor([d])
        let loss = { () -> Double in
            RMSNorm.forward(x.data, w.data, y.data, rstd: rstd.data, rows: n, width: d, eps: 1e-6)
            return probe(y.data, r)
        }
        _ = loss()
        // Hand case: a row of equal values v normalises to sign(v) * w.
        XCTAssertEqual(
            Double(rstd[0]), 1 / (x.array[0..<d].map { Double($0 * $0) }.reduce(0, +) / Double(d) + 1e-6).squareRoot(),
            accuracy: 1e-4)
        RMSNorm.backward(r, x.data, w.data, rstd: rstd.data, dx.data, dw.data, rows: n, width: d)
        let gc = GradientCheck()
        gc.check("dx", x.data, analytic: dx.data, indices: Array(0..<x.count), loss: loss)
        gc.check("dw", w.data, analytic: dw.data, indices: Array(0..<d), loss: loss)
    }

    func testRoPERotatesAndInverts() {
        let hd = 8
        let heads = 2
        let n = 5
        let rope = RoPE(headDim: hd, maxPositions: 16, theta: 10_000)
        let x0 = randomArray(n * heads * hd, rng: &rng)
        let x = Tensor([n, heads * hd], x0)
        rope.apply(x.data, ld: heads * hd, rows: n, heads: heads) { $0 + 3 }
        // Position 0 would be the identity; a rotation keeps each pair's norm.
        for r in 0..<n {
            for i in 0..<(hd / 2) {
                let a = x0[r * heads * hd + i]
                let b = x0[r * heads * hd + i + hd / 2]
                let c = x[r * heads * hd + i]
                let d = x[r * heads * hd + i + hd / 2]
                XCTAssertEqual(a * a + b * b, c * c + d * d, accuracy: 1e-4)
            }
        }
        // Hand case: pair 0 at position p rotates by exactly p radians.
        let p = 3
        let a = x0[0]
        let b = x0[hd / 2]
        XCTAssertEqual(x[0], a * cosf(Float(p)) - b * sinf(Float(p)), accuracy: 1e-5)
        rope.apply(x.data, ld: heads * hd, rows: n, heads: heads, inverse: true) { $0 + 3 }
        for i in 0..<x0.count { XCTAssertEqual(x[i], x0[i], accuracy: 1e-5) }
        // Backward (the inverse rotation applied to dy) against finite differences.
        let r = randomArray(x0.count, rng: &rng)
        let dx = Tensor([x0.count], r)
        rope.apply(dx.data, ld: heads * hd, rows: n, heads: heads, inverse: true) { $0 * 2 }
        let y = Tensor([x0.count])
        let loss = { () -> Double in
            y.data.update(from: x.data, count: x0.count)
            rope.apply(y.data, ld: heads * hd, rows: n, heads: heads) { $0 * 2 }
            return probe(y.data, r)
        }
        GradientCheck().check("rope", x.data, analytic: dx.data, indices: Array(0..<x0.count), loss: loss)
    }

    func testSwiGLU() {
        let n = 4
        let i = 6
        let h = Tensor([n, 2 * i], randomArray(n * 2 * i, std: 2, rng: &rng))
        let a = Tensor([n, i])
        let dh = Tensor([n, 2 * i])
        let r = randomArray(n * i, rng: &rng)
        let loss = { () -> Double in
            SwiGLU.forward(h.data, a.data, rows: n, width: i)
            return probe(a.data, r)
        }
        _ = loss()
        XCTAssertEqual(a[0], h[0] / (1 + expf(-h[0])) * h[i], accuracy: 1e-5)
        SwiGLU.backward(r, h.data, dh.data, rows: n, width: i)
        GradientCheck().check("dh", h.data, analytic: dh.data, indices: Array(0..<h.count), loss: loss)
    }

    func testCausalAttention() {
        // Multi-head, grouped-query (two query heads a key/value head) and multi-query.
        for (heads, kvHeads) in [(2, 2), (4, 2), (4, 1)] {
            let b = 2
            let t = 5
            let hd = 4
            let d = heads * hd
            let dkv = kvHeads * hd
            let w = d + 2 * dkv
            let qkv = Tensor([b * t, w], randomArray(b * t * w, rng: &rng))
            let y = Tensor([b * t, d])
            let probs = Tensor([b, heads, t, t])
            let dqkv = Tensor([b * t, w])
            let r = randomArray(b * t * d, rng: &rng)
            let loss = { () -> Double in
                Attention.forward(
                    qkv: qkv.data, y: y.data, probs: probs.data, batch: b, length: t,
                    shape: .init(heads: heads, kvHeads: kvHeads, headDim: hd))
                return probe(y.data, r)
            }
            _ = loss()
            // The mask: probabilities above the diagonal are exactly zero, rows sum to one.
            for bh in 0..<(b * heads) {
                for i in 0..<t {
                    var s: Float = 0
                    for j in 0..<t {
                        let p = probs[bh * t * t + i * t + j]
                        s += p
                        if j > i { XCTAssertEqual(p, 0) }
                    }
                    XCTAssertEqual(s, 1, accuracy: 1e-5)
                }
            }
            // Hand case: the first position attends only to itself, so head h outputs its key/value head's v.
            for h in 0..<heads {
                let kh = h / (heads / kvHeads)
                for c in 0..<hd { XCTAssertEqual(y[h * hd + c], qkv[d + dkv + kh * hd + c], accuracy: 1e-6) }
            }
            Attention.backward(
                dy: r, qkv: qkv.data, probs: probs.data, dqkv: dqkv.data, batch: b, length: t,
                shape: .init(heads: heads, kvHeads: kvHeads, headDim: hd))
            GradientCheck().check(
                "dqkv \(heads)/\(kvHeads)", qkv.data, analytic: dqkv.data,
                indices: Array(0..<qkv.count), loss: loss)
            // A future token's k and v never reach an earlier output: its gradient from earlier rows is zero.
            let onlyFirst = (0..<(b * t * d)).map { $0 / d == 0 ? Float(1) : 0 }
            Attention.backward(
                dy: onlyFirst, qkv: qkv.data, probs: probs.data, dqkv: dqkv.data, batch: b, length: t,
                shape: .init(heads: heads, kvHeads: kvHeads, headDim: hd))
            for row in 1..<(b * t) { for c in d..<w { XCTAssertEqual(dqkv[row * w + c], 0) } }
        }
    }

    /// Grouped-query attention is multi-head attention with each key/value head repeated for the
    /// query heads it serves (transformers' repeat_kv); its dK and dV are the sums over those heads.
    func testGroupedQueryAttentionIsMultiHeadWithRepeatedKeys() {
        let b = 2
        let t = 6
        let heads = 6
        let kvHeads = 2
        let hd = 4
        let group = heads / kvHeads
        let d = heads * hd
        let dkv = kvHeads * hd
        let w = d + 2 * dkv
        let qkv = Tensor([b * t, w], randomArray(b * t * w, rng: &rng))
        // The same rows with k and v widened to one head per query head.
        let wide = Tensor([b * t, 3 * d])
        for row in 0..<(b * t) {
            for c in 0..<d { wide[row * 3 * d + c] = qkv[row * w + c] }
            for h in 0..<heads {
                for c in 0..<hd {
                    wide[row * 3 * d + d + h * hd + c] = qkv[row * w + d + (h / group) * hd + c]
                    wide[row * 3 * d + 2 * d + h * hd + c] = qkv[row * w + d + dkv + (h / group) * hd + c]
                }
            }
        }
        let y = Tensor([b * t, d])
        let yWide = Tensor([b * t, d])
        let probs = Tensor([b, heads, t, t])
        let probsWide = Tensor([b, heads, t, t])
        Attention.forward(
            qkv: qkv.data, y: y.data, probs: probs.data, batch: b, length: t,
            shape: .init(heads: heads, kvHeads: kvHeads, headDim: hd))
        Attention.forward(
            qkv: wide.data, y: yWide.data, probs: probsWide.data, batch: b, length: t,
            shape: .init(heads: heads, kvHeads: heads, headDim: hd))
        for i in 0..<y.count { XCTAssertEqual(y[i], yWide[i], accuracy: 1e-6) }
        let dy = randomArray(b * t * d, rng: &rng)
        let dqkv = Tensor([b * t, w])
        let dWide = Tensor([b * t, 3 * d])
        Attention.backward(
            dy: dy, qkv: qkv.data, probs: probs.data, dqkv: dqkv.data, batch: b, length: t,
            shape: .init(heads: heads, kvHeads: kvHeads, headDim: hd))
        Attention.backward(
            dy: dy, qkv: wide.data, probs: probsWide.data, dqkv: dWide.data, batch: b, length: t,
            shape: .init(heads: heads, kvHeads: heads, headDim: hd))
        for row in 0..<(b * t) {
            for c in 0..<d { XCTAssertEqual(dqkv[row * w + c], dWide[row * 3 * d + c], accuracy: 1e-5) }
            for kh in 0..<kvHeads {
                for c in 0..<hd {
                    var dk: Float = 0
                    var dv: Float = 0
                    for h in (kh * group)..<((kh + 1) * group) {
                        dk += dWide[row * 3 * d + d + h * hd + c]
                        dv += dWide[row * 3 * d + 2 * d + h * hd + c]
                    }
                    XCTAssertEqual(dqkv[row * w + d + kh * hd + c], dk, accuracy: 1e-5)
                    XCTAssertEqual(dqkv[row * w + d + dkv + kh * hd + c], dv, accuracy: 1e-5)
                }
            }
        }
    }

    /// A hyper-connection's collapse and merge together (S = 3 streams of D = 5, base and scale away
    /// from their initial zeros and ones): the gradients of the streams, of the sublayer output and of
    /// fn, base and scale, through the norm, the sigmoids, the softmax and every Sinkhorn-Knopp step.
    func testHyperConnection() {
        for (iterations, eps) in [(20, Float(1e-6)), (3, 0.05)] {
            let shape = HyperConnection.Shape(
                streams: 3, width: 5, sinkhornIterations: iterations, eps: eps, normEps: 1e-6)
            let (n, d, m, sd) = (4, shape.width, shape.count, shape.streamWidth)
            let slots = HyperSlots(fn: 0, base: m * sd, scale: m * sd + m)
            let w = Tensor(
                [m * sd + m + 3],
                randomArray(m * sd, std: 0.15, rng: &rng) + randomArray(m, std: 0.5, rng: &rng) + [0.8, 1.3, 1.7])
            let x = Tensor([n, sd], randomArray(n * sd, rng: &rng))
            let y = Tensor([n, d], randomArray(n * d, rng: &rng))
            let out = Tensor([n, sd])
            let (rh, rout) = (randomArray(n * d, rng: &rng), randomArray(n * sd, rng: &rng))
            let state = HyperState()
            let loss = { () -> Double in
                let h = HyperConnection.forward(
                    x.data, rows: n, params: w.data, slots: slots, shape: shape, state: state)
                state.output.reserve(n * d).update(from: y.data, count: n * d)
                HyperConnection.merge(y.data, streams: x.data, rows: n, shape: shape, state: state, into: out.data)
                return probe(h, rh) + probe(out.data, rout)
            }
            _ = loss()
            // comb is (nearly) doubly stochastic after 20 iterations: columns sum to one (the last step
            // divides them by their sums + eps), and so do rows, to within how far the iterations got.
            if iterations == 20 {
                let comb = state.coefficients.pointer + 2 * shape.streams
                for i in 0..<shape.streams {
                    let row = (0..<shape.streams).reduce(Float(0)) { $0 + comb[i * shape.streams + $1] }
                    let column = (0..<shape.streams).reduce(Float(0)) { $0 + comb[$1 * shape.streams + i] }
                    XCTAssertEqual(row, 1, accuracy: 1e-3)
                    XCTAssertEqual(column, 1, accuracy: 1e-5)
                }
            }
            let (dx, dy, dw) = (Tensor([n, sd]), Tensor([n, d]), Tensor([w.count]))
            let scratch = HyperScratch()
            HyperConnection.mergeBackward(
                rout, streams: x.data, rows: n, shape: shape, state: state, scratch: scratch, dy: dy.data, into: dx.data
            )
            rh.withUnsafeBufferPointer {
                HyperConnection.backward(
                    $0.baseAddress!, streams: x.data, rows: n, params: w.data, grads: dw.data, slots: slots,
                    shape: shape, state: state, scratch: scratch, into: dx.data)
            }
            let gc = GradientCheck()
            let name = "\(iterations) iterations"
            gc.check("dx, \(name)", x.data, analytic: dx.data, indices: Array(0..<x.count), loss: loss)
            gc.check("dy, \(name)", y.data, analytic: dy.data, indices: Array(0..<y.count), loss: loss)
            gc.check("d(fn, base, scale), \(name)", w.data, analytic: dw.data, indices: Array(0..<w.count), loss: loss)
        }
    }

    /// The head's collapse (pre alone), and its hand case: with fn zero, pre = sigmoid(base) + eps.
    func testHyperHead() {
        let shape = HyperConnection.Shape(streams: 4, width: 6, sinkhornIterations: 20, eps: 0.01, normEps: 1e-6)
        let (n, d, s, sd) = (3, shape.width, shape.streams, shape.streamWidth)
        let slots = HyperSlots(fn: 0, base: s * sd, scale: s * sd + s)
        let w = Tensor(
            [s * sd + s + 1], randomArray(s * sd, std: 0.15, rng: &rng) + randomArray(s, std: 0.5, rng: &rng) + [1.2])
        let x = Tensor([n, sd], randomArray(n * sd, rng: &rng))
        let r = randomArray(n * d, rng: &rng)
        let state = HyperState()
        let loss = { () -> Double in
            probe(HyperHead.forward(x.data, rows: n, params: w.data, slots: slots, shape: shape, state: state), r)
        }
        _ = loss()
        let (dx, dw) = (Tensor([n, sd]), Tensor([w.count]))
        HyperHead.backward(
            r, streams: x.data, rows: n, params: w.data, grads: dw.data, slots: slots, shape: shape, state: state,
            scratch: HyperScratch(), into: dx.data)
        let gc = GradientCheck()
        gc.check("dx", x.data, analytic: dx.data, indices: Array(0..<x.count), loss: loss)
        gc.check("d(hc_fn, hc_base, hc_scale)", w.data, analytic: dw.data, indices: Array(0..<w.count), loss: loss)
        for i in 0..<(s * sd) { w[i] = 0 }
        let h = HyperHead.forward(x.data, rows: n, params: w.data, slots: slots, shape: shape, state: state)
        for row in 0..<n {
            for i in 0..<d {
                let expected = (0..<s).reduce(Float(0)) { sum, j in
                    sum + (1 / (1 + expf(-w[s * sd + j])) + 0.01) * x[row * sd + j * d + i]
                }
                XCTAssertEqual(h[row * d + i], expected, accuracy: 1e-5)
            }
        }
    }

    func testLogProbs() {
        let n = 4
        let v = 7
        let logits = Tensor([n, v], randomArray(n * v, std: 2, rng: &rng))
        let targets: [Int32] = [3, -1, 0, 6]
        let coef = randomArray(n, rng: &rng)
        let logp = Tensor([n])
        let entropy = Tensor([n])
        let dlogits = Tensor([n, v])
        for temperature: Float in [1, 0.7] {
            let loss = { () -> Double in
                LogProbs.forward(
                    logits.data, targets: targets, rows: n, vocab: v, temperature: temperature, logp: logp.data,
                    entropy: entropy.data)
                return probe(logp.data, coef)
            }
            _ = loss()
            // Against a direct computation in Double.
            for t in [0, 2, 3] {
                let z = (0..<v).map { Double(logits[t * v + $0]) / Double(temperature) }
                let lse = log(z.map { exp($0) }.reduce(0, +))
                XCTAssertEqual(Double(logp[t]), z[Int(targets[t])] - lse, accuracy: 1e-5)
                let ent = -z.map { exp($0 - lse) * ($0 - lse) }.reduce(0, +)
                XCTAssertEqual(Double(entropy[t]), ent, accuracy: 1e-5)
            }
            XCTAssertEqual(logp[1], 0)
            LogProbs.backward(
                logits.data, targets: targets, dlogp: coef, rows: n, vocab: v, temperature: temperature,
                dlogits: dlogits.data)
            GradientCheck().check(
                "dlogits T=\(temperature)", logits.data, analytic: dlogits.data, indices: Array(0..<logits.count),
                loss: loss)
        }
    }
}
