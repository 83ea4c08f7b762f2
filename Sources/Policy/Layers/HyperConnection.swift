// Manifold-constrained hyper-connections (mHC, DeepSeek-V4; transformers'
// DeepseekV4HyperConnection and DeepseekV4HyperHead). The residual is S parallel
// streams of width D instead of one. Around each sublayer (attention, then the
// MoE) a HyperConnection collapses the streams into the sublayer's input, then
// mixes the streams with the sublayer's output; a HyperHead collapses them once
// more before the final norm. The mixing weights are computed per token from
// the streams themselves.
// Legend: N rows, S = hc_mult streams, D width, M = (2 + S) S coefficients (a
// head's: S), a = scale [3] (a head's: [1]), b = base [M], eps = hc_eps,
// delta = rms_norm_eps.
//   x    [N, S D]   the streams: a row is S blocks of D
//   mix  [N, M]     rstd (x fn^T), fn [M, S D], rstd = 1 / sqrt(mean(x_row^2) + delta): the flattened
//                   streams through an RMSNorm without weight, then fn
//   pre  [N, S]     sigmoid(mix[:S] a0 + b[:S]) + eps
//   post [N, S]     2 sigmoid(mix[S:2S] a1 + b[S:2S])
//   comb [N, S, S]  row-softmax(mix[2S:] a2 + b[2S:]) + eps, then a column normalisation and
//                   hc_sinkhorn_iters - 1 rounds of a row and a column one (Sinkhorn-Knopp, each
//                   dividing by the sum + eps): nearly doubly stochastic, so that mixing the streams
//                   neither grows nor shrinks them over many layers
//   h    [N, D]     sum_s pre[s] x[s]: the sublayer's input (before its RMSNorm)
//   out  [N, S D]   out[k] = post[k] y + sum_j comb[j, k] x[j], y [N, D] the sublayer's output
// The forward saves mix, rstd and the coefficients [pre | post | comb]; the backward recomputes
// each token's Sinkhorn iterations (S x S each) instead of storing them.
// Backward, in reverse:
//   merge:    dy = sum_k post[k] dout[k];  dpost[k] = dout[k] . y;  dcomb[j, k] = dout[k] . x[j];
//             dx[j] = sum_k comb[j, k] dout[k]
//   collapse: dpre[s] = dh . x[s];  dx[s] += pre[s] dh
//   coefficients, with u = mix a + b: dz = P (dP - sum_k P dP) through the row softmax, and a
//             normalisation o = c / (sum c + eps) gives dc = (do - sum(do o)) / (sum c + eps) along its
//             sums; du = dpre s(1 - s), 2 dpost s(1 - s) through the sigmoids s
//   then:     db += sum over rows of du;  da_g += sum of du mix over g's coefficients;  dmix = du a
//   mix:      dfn += (rstd dmix)^T x;  dx += (rstd dmix) fn - (dmix . mix) rstd^2 / (S D) x

import Kernels

/// Offsets of one hyper-connection's parameters: fn [M, S D], base [M], scale [3] (a head's: [1]).
public struct HyperSlots: Sendable, Equatable {
    public let fn: Int, base: Int, scale: Int
    public init(fn: Int, base: Int, scale: Int) {
        self.fn = fn
        self.base = base
        self.scale = scale
    }
}

/// What a hyper-connection's forward keeps for its backward (and for its merge).
public final class HyperState {
    /// mix [N, M], rstd [N] and the coefficients [N, M]: pre, post, comb.
    public let mix = FloatBuffer(), rstd = FloatBuffer(), coefficients = FloatBuffer()
    /// The sublayer's input h [N, D], and its output y [N, D], which the caller writes for the merge.
    public let collapsed = FloatBuffer(), output = FloatBuffer()
    public init() {}
}

/// Scratch of the hyper-connections' backward, shared by the layers.
public final class HyperScratch {
    /// d(coefficients) [N, M], then du in place; rstd dmix [N, M]; dy and dh [N, D] for the caller.
    public let dcoefficients = FloatBuffer(), dmix = FloatBuffer(), dy = FloatBuffer(), dh = FloatBuffer()
    public init() {}
}

public enum HyperConnection {
    public struct Shape: Sendable, Equatable {
        /// S, D, hc_sinkhorn_iters, hc_eps and the norm's rms_norm_eps.
        public var streams: Int, width: Int, sinkhornIterations: Int, eps: Float, normEps: Float
        /// A head computes pre alone.
        public var isHead = false

        public init(streams: Int, width: Int, sinkhornIterations: Int, eps: Float, normEps: Float) {
            (self.streams, self.width, self.sinkhornIterations) = (streams, width, sinkhornIterations)
            (self.eps, self.normEps) = (eps, normEps)
        }

        /// The hyper-connections of a config; nil without mHC.
        public init?(_ c: ModelConfig) {
            guard let h = c.hyperConnections else { return nil }
            self.init(
                streams: h.streams, width: c.hiddenSize, sinkhornIterations: h.sinkhornIterations, eps: h.eps,
                normEps: c.rmsNormEps)
        }

        /// The same sizes for the HyperHead.
        public var head: Shape {
            var s = self
            s.isHead = true
            return s
        }
        /// M: coefficients per token.
        public var count: Int { isHead ? streams : (2 + streams) * streams }
        /// S D: one token's streams.
        public var streamWidth: Int { streams * width }
        /// Sinkhorn-Knopp normalisations: a column one, then a row and a column one per further iteration.
        var steps: Int { 2 * sinkhornIterations - 1 }
        /// One token's Sinkhorn trace: the softmax P [S, S], then each step's output [S, S] and divisors [S].
        var traceCount: Int { streams * streams + steps * (streams * streams + streams) }
    }

    /// Collapses the streams x [N, S D] into the sublayer's input h [N, D] (returned: state.collapsed),
    /// keeping mix, rstd and the coefficients in `state`.
    @discardableResult
    public static func forward(
        _ x: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>, slots: HyperSlots, shape: Shape,
        state: HyperState
    ) -> UnsafeMutablePointer<Float> {
        let (s, d, m, sd) = (shape.streams, shape.width, shape.count, shape.streamWidth)
        let mix = state.mix.reserve(n * m)
        let rstd = state.rstd.reserve(n)
        let coef = state.coefficients.reserve(n * m)
        let h = state.collapsed.reserve(n * d)
        // The norm is one factor per row: it is applied after the product, so the normed streams are never stored.
        Linear.forward(x, w + slots.fn, mix, rows: n, inFeatures: sd, outFeatures: m)
        Parallel.forRanges(n, minPerThread: 16) { range in
            for r in range {
                let xr = x + r * sd
                let inv = 1 / (Vector.dot(xr, xr, sd) / Float(sd) + shape.normEps).squareRoot()
                rstd[r] = inv
                let mr = mix + r * m
                for i in 0..<m { mr[i] *= inv }
                let pre = coef + r * m
                coefficients(mr, base: w + slots.base, scale: w + slots.scale, shape: shape, into: pre, trace: nil)
                let hr = h + r * d
                for i in 0..<d { hr[i] = pre[0] * xr[i] }
                for j in 1..<s { Vector.axpy(pre[j], xr + j * d, hr, d) }
            }
        }
        return h
    }

    /// The new streams out [N, S D] from the sublayer's output y [N, D] and the streams x [N, S D]
    /// the last `forward` with this state saw (out must not be x).
    public static func merge(
        _ y: UnsafePointer<Float>, streams x: UnsafePointer<Float>, rows n: Int, shape: Shape, state: HyperState,
        into out: UnsafeMutablePointer<Float>
    ) {
        let (s, d, m, sd) = (shape.streams, shape.width, shape.count, shape.streamWidth)
        let coef = state.coefficients.pointer
        Parallel.forRanges(n, minPerThread: 16) { range in
            for r in range {
                let (post, comb) = (coef + r * m + s, coef + r * m + 2 * s)
                let (xr, yr) = (x + r * sd, y + r * d)
                for k in 0..<s {
                    let o = out + r * sd + k * d
                    for i in 0..<d { o[i] = post[k] * yr[i] }
                    for j in 0..<s { Vector.axpy(comb[j * s + k], xr + j * d, o, d) }
                }
            }
        }
    }

    /// From dout [N, S D], the gradient of merge's output: dy [N, D] and dx [N, S D] (both written;
    /// dx is the streams' share through comb); keeps dpost and dcomb for `backward`.
    public static func mergeBackward(
        _ dout: UnsafePointer<Float>, streams x: UnsafePointer<Float>, rows n: Int, shape: Shape, state: HyperState,
        scratch: HyperScratch, dy: UnsafeMutablePointer<Float>, into dx: UnsafeMutablePointer<Float>
    ) {
        let (s, d, m, sd) = (shape.streams, shape.width, shape.count, shape.streamWidth)
        let (coef, y) = (state.coefficients.pointer, state.output.pointer)
        let dcoef = scratch.dcoefficients.reserve(n * m)
        Parallel.forRanges(n, minPerThread: 16) { range in
            for r in range {
                let (dor, xr, dxr, dyr, yr) = (dout + r * sd, x + r * sd, dx + r * sd, dy + r * d, y + r * d)
                let (post, comb) = (coef + r * m + s, coef + r * m + 2 * s)
                let (dpost, dcomb) = (dcoef + r * m + s, dcoef + r * m + 2 * s)
                dyr.update(repeating: 0, count: d)
                for k in 0..<s {
                    let dk = dor + k * d
                    dpost[k] = Vector.dot(dk, yr, d)
                    Vector.axpy(post[k], dk, dyr, d)
                    for j in 0..<s { dcomb[j * s + k] = Vector.dot(dk, xr + j * d, d) }
                }
                for j in 0..<s {
                    let dxj = dxr + j * d
                    dxj.update(repeating: 0, count: d)
                    for k in 0..<s { Vector.axpy(comb[j * s + k], dor + k * d, dxj, d) }
                }
            }
        }
    }

    /// Adds to dx [N, S D] the gradient through the collapse and the coefficients, from dh [N, D] (the
    /// sublayer input's); adds to fn's, base's and scale's gradients. Runs after `mergeBackward`.
    public static func backward(
        _ dh: UnsafePointer<Float>, streams x: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>,
        grads g: UnsafeMutablePointer<Float>, slots: HyperSlots, shape: Shape, state: HyperState,
        scratch: HyperScratch, into dx: UnsafeMutablePointer<Float>
    ) {
        collapseBackward(
            dh, streams: x, rows: n, params: w, grads: g, slots: slots, shape: shape, state: state, scratch: scratch,
            into: dx, accumulate: true)
    }

    /// The collapse's and the coefficients' backward: dx = or += pre dh, then through pre (and post and
    /// comb, from scratch.dcoefficients), the norm and fn.
    static func collapseBackward(
        _ dh: UnsafePointer<Float>, streams x: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>,
        grads g: UnsafeMutablePointer<Float>, slots: HyperSlots, shape: Shape, state: HyperState,
        scratch: HyperScratch, into dx: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        let (s, d, m, sd) = (shape.streams, shape.width, shape.count, shape.streamWidth)
        let (mix, rstd, coef) = (state.mix.pointer, state.rstd.pointer, state.coefficients.pointer)
        let (a, b) = (w + slots.scale, w + slots.base)
        let du = scratch.dcoefficients.reserve(n * m)
        let dmix = scratch.dmix.reserve(n * m)
        func group(_ i: Int) -> Int { min(i / s, 2) }  // pre, post, comb: which scale a coefficient has
        Parallel.forRanges(n, minPerThread: 16) { range in
            let trace = UnsafeMutablePointer<Float>.allocate(capacity: shape.traceCount + m)
            defer { trace.deallocate() }
            for r in range {
                let (xr, dxr, dhr, ur, mr) = (x + r * sd, dx + r * sd, dh + r * d, du + r * m, mix + r * m)
                for j in 0..<s {
                    let (xj, dxj, p) = (xr + j * d, dxr + j * d, coef[r * m + j])
                    ur[j] = Vector.dot(dhr, xj, d)
                    if accumulate {
                        Vector.axpy(p, dhr, dxj, d)
                    } else {
                        for i in 0..<d { dxj[i] = p * dhr[i] }
                    }
                }
                coefficientsBackward(mr, base: b, scale: a, shape: shape, gradient: ur, trace: trace)
                let dm = dmix + r * m
                var dot: Float = 0
                for i in 0..<m {
                    dm[i] = ur[i] * a[group(i)]
                    dot += dm[i] * mr[i]
                }
                // Through rstd: each coefficient's mix is rstd times a product of x.
                let inv = rstd[r]
                Vector.axpy(-dot * inv * inv / Float(sd), xr, dxr, sd)
                for i in 0..<m { dm[i] *= inv }
            }
        }
        // Sums over rows, after the parallel part: no two threads add to one element.
        for r in 0..<n {
            for i in 0..<m {
                g[slots.base + i] += du[r * m + i]
                g[slots.scale + group(i)] += du[r * m + i] * mix[r * m + i]
            }
        }
        Linear.backward(
            dmix, x, w + slots.fn, g + slots.fn, dx, rows: n, inFeatures: sd, outFeatures: m, accumulate: true)
    }

    /// One token's coefficients [M] from its mix [M]. `trace` (Shape.traceCount floats), when given,
    /// receives comb's softmax and each normalisation's output and divisors, for the backward.
    static func coefficients(
        _ mix: UnsafePointer<Float>, base b: UnsafePointer<Float>, scale a: UnsafePointer<Float>, shape: Shape,
        into coef: UnsafeMutablePointer<Float>, trace: UnsafeMutablePointer<Float>?
    ) {
        let s = shape.streams
        for i in 0..<s { coef[i] = sigmoid(mix[i] * a[0] + b[i]) + shape.eps }
        guard !shape.isHead else { return }
        for i in s..<(2 * s) { coef[i] = 2 * sigmoid(mix[i] * a[1] + b[i]) }
        // comb: the row softmax, then Sinkhorn-Knopp.
        let (c, z, bc) = (coef + 2 * s, mix + 2 * s, b + 2 * s)
        for j in 0..<s {
            let row = c + j * s
            var top = -Float.infinity
            for k in 0..<s {
                row[k] = z[j * s + k] * a[2] + bc[j * s + k]
                top = max(top, row[k])
            }
            var sum: Float = 0
            for k in 0..<s {
                row[k] = exp(row[k] - top)  // max subtracted only for numerical stability
                sum += row[k]
            }
            for k in 0..<s { row[k] /= sum }
        }
        trace?.update(from: c, count: s * s)
        for i in 0..<(s * s) { c[i] += shape.eps }
        for step in 0..<shape.steps {
            let t = trace.map { $0 + s * s + step * (s * s + s) }
            normalize(c, streams: s, eps: shape.eps, columns: step % 2 == 0, divisors: t.map { $0 + s * s })
            t?.update(from: c, count: s * s)
        }
    }

    /// du [M] from d(coefficients) [M], in place: through the sigmoids, and through comb's
    /// normalisations and softmax, recomputed into `trace` (Shape.traceCount + M floats).
    static func coefficientsBackward(
        _ mix: UnsafePointer<Float>, base b: UnsafePointer<Float>, scale a: UnsafePointer<Float>, shape: Shape,
        gradient du: UnsafeMutablePointer<Float>, trace: UnsafeMutablePointer<Float>
    ) {
        let s = shape.streams
        for i in 0..<s {
            let y = sigmoid(mix[i] * a[0] + b[i])
            du[i] *= y * (1 - y)
        }
        guard !shape.isHead else { return }
        for i in s..<(2 * s) {
            let y = sigmoid(mix[i] * a[1] + b[i])
            du[i] *= 2 * y * (1 - y)
        }
        // The coefficients again, for comb's trace; they land past the trace and are dropped.
        coefficients(mix, base: b, scale: a, shape: shape, into: trace + shape.traceCount, trace: trace)
        let dc = du + 2 * s
        for step in (0..<shape.steps).reversed() {
            let out = trace + s * s + step * (s * s + s)
            normalizeBackward(dc, output: out, streams: s, columns: step % 2 == 0, divisors: out + s * s)
        }
        // The + eps after the softmax passes the gradient unchanged.
        let p = trace
        for j in 0..<s {
            var dot: Float = 0
            for k in 0..<s { dot += p[j * s + k] * dc[j * s + k] }
            for k in 0..<s { dc[j * s + k] = p[j * s + k] * (dc[j * s + k] - dot) }
        }
    }

    /// Divides each column (or row) of c [S, S] by its sum + eps; the divisors [S] go to `divisors`.
    static func normalize(
        _ c: UnsafeMutablePointer<Float>, streams s: Int, eps: Float, columns: Bool,
        divisors: UnsafeMutablePointer<Float>?
    ) {
        // Line i's t-th element: c[t s + i] for a column, c[i s + t] for a row.
        let (lineStride, step) = columns ? (1, s) : (s, 1)
        for i in 0..<s {
            let line = c + i * lineStride
            var sum: Float = 0
            for t in 0..<s { sum += line[t * step] }
            let divisor = sum + eps
            divisors?[i] = divisor
            for t in 0..<s { line[t * step] /= divisor }
        }
    }

    /// The gradient through `normalize`, in place: dc = (do - sum(do o)) / divisor along each line.
    static func normalizeBackward(
        _ dc: UnsafeMutablePointer<Float>, output o: UnsafePointer<Float>, streams s: Int, columns: Bool,
        divisors: UnsafePointer<Float>
    ) {
        let (lineStride, step) = columns ? (1, s) : (s, 1)
        for i in 0..<s {
            let (line, out) = (dc + i * lineStride, o + i * lineStride)
            var dot: Float = 0
            for t in 0..<s { dot += line[t * step] * out[t * step] }
            for t in 0..<s { line[t * step] = (line[t * step] - dot) / divisors[i] }
        }
    }
}

/// The last collapse of the streams, before the final norm: HyperConnection's pre alone, from its own
/// hc_fn [S, S D], hc_base [S] and hc_scale [1].
public enum HyperHead {
    /// h [N, D] (returned: state.collapsed) from the streams x [N, S D]; `shape` is the layers' own.
    @discardableResult
    public static func forward(
        _ x: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>, slots: HyperSlots,
        shape: HyperConnection.Shape, state: HyperState
    ) -> UnsafeMutablePointer<Float> {
        HyperConnection.forward(x, rows: n, params: w, slots: slots, shape: shape.head, state: state)
    }

    /// dx [N, S D] (written) from dh [N, D]; adds to hc_fn's, hc_base's and hc_scale's gradients.
    public static func backward(
        _ dh: UnsafePointer<Float>, streams x: UnsafePointer<Float>, rows n: Int, params w: UnsafePointer<Float>,
        grads g: UnsafeMutablePointer<Float>, slots: HyperSlots, shape: HyperConnection.Shape, state: HyperState,
        scratch: HyperScratch, into dx: UnsafeMutablePointer<Float>
    ) {
        HyperConnection.collapseBackward(
            dh, streams: x, rows: n, params: w, grads: g, slots: slots, shape: shape.head, state: state,
            scratch: scratch, into: dx, accumulate: false)
    }
}
