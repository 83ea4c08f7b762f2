// Mixture-of-experts feed-forward (DeepSeek-V3): shared experts on every token
// plus K of E routed experts, each a SwiGLU MLP.
// Legend: N tokens, D width, E routed experts, K chosen per token, I expert
// width, Is shared width (I * n_shared_experts).
//   x [N, D] (normed input), out [N, D]
//   out = shared(x) + sum_k gate_k * expert_{chosen_k}(x)
// Dispatch: the N*K (token, choice) pairs are sorted by expert into one
// gathered block xe [N*K, D] (rows of expert e contiguous, in token order), so
// each expert is one [n_e, D] x [D, 2I] and one [n_e, I] x [I, D] product,
// forward and backward.
// Saved for backward (MoEState): router scores/choices/gates, the dispatch
// maps, xe, he = [g|u] [N*K, 2I], ae [N*K, I], ye [N*K, D], shared hs, as.

import Kernels

/// What one MoE layer's forward keeps for its backward, and its expert load.
public final class MoEState: @unchecked Sendable {
    public internal(set) var rows = 0
    let scores = FloatBuffer(), gates = FloatBuffer()
    let chosen = Buffer<Int32>(), rowOf = Buffer<Int32>(), tokenOf = Buffer<Int32>()
    var expertStart: [Int] = []
    let xe = FloatBuffer(), he = FloatBuffer(), ae = FloatBuffer(), ye = FloatBuffer()
    let hs = FloatBuffer(), sharedAct = FloatBuffer()
    /// Balance-loss coefficients per sequence [B, E] and the row ranges of the sequences.
    let auxCoefficients = FloatBuffer()
    var sequences: [Range<Int>] = []
    /// Tokens routed to each expert by the last forward (valid rows only).
    public internal(set) var load: [Int] = []
    /// Sequence-wise balance loss of the last forward (0 when alpha = 0).
    public internal(set) var auxLoss: Float = 0
    /// Rows of the last forward whose replayed choice differed from this router's own.
    public internal(set) var flips = 0
    let flipped = Buffer<Int32>()

    public init() {}

    /// The expert chosen for (token, choice): for tests and inspection.
    public func choice(token t: Int, k j: Int, topK: Int) -> Int { Int(chosen[t * topK + j]) }
}

/// Scratch for MoE backward, shared by all layers.
public final class MoEGradScratch: @unchecked Sendable {
    let dye = FloatBuffer(), dae = FloatBuffer(), dhe = FloatBuffer(), dxe = FloatBuffer()
    let dgates = FloatBuffer(), dlogits = FloatBuffer(), dAs = FloatBuffer(), dHs = FloatBuffer()
    public init() {}
}

public struct MoEShape: Sendable {
    public let width: Int, experts: Int, topK: Int, intermediate: Int
    public let router: RouterConfig
    public let auxAlpha: Float
    public init(_ c: ModelConfig) {
        width = c.hiddenSize
        experts = c.nRoutedExperts
        topK = c.numExpertsPerTok
        intermediate = c.moeIntermediateSize
        router = RouterConfig(c)
        auxAlpha = c.auxLossAlpha
    }
}

public enum MoE {
    /// Below this many rows per expert on average, experts run whole on each core.
    static let expertParallelRows = 128

    /// Experts split into `parts` groups of about equal cost (largest first).
    static func balancedGroups(start: [Int], parts: Int) -> [[Int]] {
        let e = start.count - 1
        let parts = max(1, parts)
        let rows: [Int] = (0..<e).map { start[$0 + 1] - start[$0] }
        var groups = [[Int]](repeating: [], count: parts)
        var load = [Int](repeating: 0, count: parts)
        let order: [Int] = (0..<e).sorted { rows[$0] > rows[$1] }
        for x in order where rows[x] > 0 {
            var g = 0
            for j in 1..<parts where load[j] < load[g] { g = j }
            groups[g].append(x)
            // Each expert also costs a fixed packing of its weights (~ 32 rows' work).
            load[g] += rows[x] + 32
        }
        return groups.filter { !$0.isEmpty }
    }

    /// `sequences` (row ranges of real tokens) limits load counting to them and enables the
    /// balance loss when alpha > 0; `replay` [N, K] replays expert choices (see Router).
    public static func forward(
        _ shape: MoEShape, params w: UnsafePointer<Float>, slots: LayerSlots,
        x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, rows n: Int,
        state st: MoEState, sequences: [Range<Int>]? = nil, replay: UnsafePointer<Int32>? = nil
    ) {
        let d = shape.width
        let e = shape.experts
        let k = shape.topK
        let i = shape.intermediate
        st.rows = n
        st.flips = 0

        // Shared experts write `out`; routed experts write their own rows (ye), which the
        // combine then adds to `out`.
        func runShared() {
            guard let sh = slots.sharedExpert else { return out.update(repeating: 0, count: n * d) }
            let iw = sh.intermediate
            let hs = st.hs.reserve(n * 2 * iw)
            let act = st.sharedAct.reserve(n * iw)
            Linear.forward(x, w + sh.gateUp, hs, rows: n, inFeatures: d, outFeatures: 2 * iw)
            SwiGLU.forward(hs, act, rows: n, width: iw)
            Linear.forward(act, w + sh.down, out, rows: n, inFeatures: iw, outFeatures: d)
        }
        // Few rows per expert (decoding): every expert, the shared one too, runs whole on one core,
        // in one hand-off, rather than each small product split.
        let decoding = n * k / max(1, e) < expertParallelRows
        if !decoding || e == 0 || slots.sharedExpert == nil { runShared() }
        guard e > 0 else { return }

        let scores = st.scores.reserve(n * e)
        let chosen = st.chosen.reserve(n * k)
        let gates = st.gates.reserve(n * k)
        Linear.forward(x, w + slots.router, scores, rows: n, inFeatures: d, outFeatures: e)
        let flipped = replay == nil ? nil : st.flipped.reserve(n)
        Router.forward(
            shape.router, scores: scores, bias: w + slots.routerBias, chosen: chosen, gates: gates, rows: n,
            replay: replay, flipped: flipped)
        if let flipped { for t in 0..<n { st.flips += Int(flipped[t]) } }

        // Dispatch: count, then place each (token, choice) at its expert's next row.
        var start = [Int](repeating: 0, count: e + 1)
        for p in 0..<(n * k) { start[Int(chosen[p]) + 1] += 1 }
        for x in 0..<e { start[x + 1] += start[x] }
        st.expertStart = start
        let rowOf = st.rowOf.reserve(n * k)
        let tokenOf = st.tokenOf.reserve(n * k)
        var cursor = start
        for p in 0..<(n * k) {
            let x = Int(chosen[p])
            rowOf[p] = Int32(cursor[x])
            tokenOf[cursor[x]] = Int32(p / k)
            cursor[x] += 1
        }
        let m = n * k
        let xe = st.xe.reserve(m * d)
        let he = st.he.reserve(m * 2 * i)
        let ae = st.ae.reserve(m * i)
        let ye = st.ye.reserve(m * d)
        Parallel.forRanges(m, minPerThread: 256) { r in
            for row in r { (xe + row * d).update(from: x + Int(tokenOf[row]) * d, count: d) }
        }
        // One expert's MLP on its contiguous block of rows.
        func runExpert(_ x: Int) {
            let r0 = start[x]
            let ne = start[x + 1] - r0
            guard ne > 0 else { return }
            Linear.forward(
                xe + r0 * d, w + slots.routedExperts[x].gateUp, he + r0 * 2 * i,
                rows: ne, inFeatures: d, outFeatures: 2 * i)
            SwiGLU.forward(he + r0 * 2 * i, ae + r0 * i, rows: ne, width: i)
            Linear.forward(
                ae + r0 * i, w + slots.routedExperts[x].down, ye + r0 * d,
                rows: ne, inFeatures: i, outFeatures: d)
        }
        if decoding {
            // The shared expert is task e, with its n rows (none without one: it ran above).
            let shared = slots.sharedExpert == nil ? 0 : n
            let groups = balancedGroups(start: start + [start[e] + shared], parts: Parallel.cores)
            Parallel.run(parts: groups.count) { p in
                for x in groups[p] { if x == e { runShared() } else { runExpert(x) } }
            }
        } else {
            for x in 0..<e { runExpert(x) }
        }
        // Combine: each token adds its K expert outputs, weighted by the gates.
        Parallel.forRanges(n, minPerThread: 128) { r in
            for t in r {
                let o = out + t * d
                for j in 0..<k {
                    Vector.axpy(gates[t * k + j], ye + Int(rowOf[t * k + j]) * d, o, d)
                }
            }
        }

        var load = [Int](repeating: 0, count: e)
        let real = sequences ?? [0..<n]
        for rows in real { for t in rows { for j in 0..<k { load[Int(chosen[t * k + j])] += 1 } } }
        st.load = load
        st.auxLoss = 0
        st.sequences = []
        if shape.auxAlpha > 0, let sequences {
            st.sequences = sequences
            let coef = st.auxCoefficients.reserve(sequences.count * e)
            st.auxLoss = Router.balanceLoss(
                shape.router, alpha: shape.auxAlpha, scores: scores, chosen: chosen,
                sequences: sequences, coefficients: coef)
        }
    }

    /// dx [N, D] is written; parameter gradients are accumulated into `g`.
    public static func backward(
        _ shape: MoEShape, params w: UnsafePointer<Float>, grads g: UnsafeMutablePointer<Float>,
        slots: LayerSlots, x: UnsafePointer<Float>, dout: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, state st: MoEState, scratch sc: MoEGradScratch
    ) {
        let n = st.rows
        let d = shape.width
        let e = shape.experts
        let k = shape.topK
        let i = shape.intermediate
        if let sh = slots.sharedExpert {
            let iw = sh.intermediate
            let dAs = sc.dAs.reserve(n * iw)
            let dHs = sc.dHs.reserve(n * 2 * iw)
            Linear.backward(
                dout, st.sharedAct.pointer, w + sh.down, g + sh.down, dAs, rows: n, inFeatures: iw, outFeatures: d)
            SwiGLU.backward(dAs, st.hs.pointer, dHs, rows: n, width: iw)
            Linear.backward(dHs, x, w + sh.gateUp, g + sh.gateUp, dx, rows: n, inFeatures: d, outFeatures: 2 * iw)
        } else {
            dx.update(repeating: 0, count: n * d)
        }
        guard e > 0 else { return }

        let m = n * k
        let start = st.expertStart
        let gates = st.gates.pointer
        let rowOf = st.rowOf.pointer
        let ye = st.ye.pointer
        let dye = sc.dye.reserve(m * d)
        let dgates = sc.dgates.reserve(m)
        Parallel.forRanges(n, minPerThread: 128) { r in
            for t in r {
                let dor = dout + t * d
                for j in 0..<k {
                    let row = Int(rowOf[t * k + j])
                    let gv = gates[t * k + j]
                    let dy = dye + row * d
                    for c in 0..<d { dy[c] = gv * dor[c] }
                    dgates[t * k + j] = Vector.dot(dor, ye + row * d, d)
                }
            }
        }
        let dae = sc.dae.reserve(m * i)
        let dhe = sc.dhe.reserve(m * 2 * i)
        let dxe = sc.dxe.reserve(m * d)
        for x in 0..<e where start[x + 1] > start[x] {
            let r0 = start[x]
            let ne = start[x + 1] - r0
            let ex = slots.routedExperts[x]
            Linear.backward(
                dye + r0 * d, st.ae.pointer + r0 * i, w + ex.down, g + ex.down, dae + r0 * i,
                rows: ne, inFeatures: i, outFeatures: d)
        }
        SwiGLU.backward(dae, st.he.pointer, dhe, rows: m, width: i)
        for x in 0..<e where start[x + 1] > start[x] {
            let r0 = start[x]
            let ne = start[x + 1] - r0
            let ex = slots.routedExperts[x]
            Linear.backward(
                dhe + r0 * 2 * i, st.xe.pointer + r0 * d, w + ex.gateUp, g + ex.gateUp, dxe + r0 * d,
                rows: ne, inFeatures: d, outFeatures: 2 * i)
        }
        Parallel.forRanges(n, minPerThread: 128) { r in
            for t in r {
                let dxr = dx + t * d
                for j in 0..<k { Vector.axpy(1, dxe + Int(rowOf[t * k + j]) * d, dxr, d) }
            }
        }

        // Router: gradient through the gate values (and the balance loss).
        let dlogits = sc.dlogits.reserve(n * e)
        var coefOf: ((Int) -> UnsafePointer<Float>?)? = nil
        if !st.sequences.isEmpty {
            var seqOf = [Int](repeating: -1, count: n)
            for (si, rows) in st.sequences.enumerated() { for t in rows { seqOf[t] = si } }
            let coef = st.auxCoefficients.pointer
            coefOf = { t in seqOf[t] >= 0 ? UnsafePointer(coef + seqOf[t] * e) : nil }
        }
        Router.backward(
            shape.router, dgates: dgates, scores: st.scores.pointer, chosen: st.chosen.pointer,
            dlogits: dlogits, rows: n, auxCoefficient: coefOf)
        Linear.backward(
            dlogits, x, w + slots.router, g + slots.router, dx, rows: n, inFeatures: d, outFeatures: e,
            accumulate: true)
    }
}
