// The residual around a sublayer, in the backward: one stream, x + f(norm(x)),
// or under mHC S streams, merge(f(norm(collapse(x))), x) (HyperConnection).
// Legend: N rows, D width, S streams (1 without mHC).

import Kernels

extension Transformer {
    /// The gradient of a sublayer's output [N, D] from that of the residual after it, dout [N, S D]:
    /// dout itself with one stream; under mHC merge's, which also writes the streams' share through
    /// comb to dStreams [N, S D].
    func sublayerOutputBackward(
        _ dout: UnsafeMutablePointer<Float>, streams x: UnsafePointer<Float>, hyper: HyperSlots?, state: HyperState,
        from a: Activations, into dStreams: UnsafeMutablePointer<Float>
    ) -> UnsafeMutablePointer<Float> {
        guard hyper != nil, let shape = self.hyper else { return dout }
        let dy = a.hyperScratch.dy.reserve(a.rows * config.hiddenSize)
        HyperConnection.mergeBackward(
            dout, streams: x, rows: a.rows, shape: shape, state: state, scratch: a.hyperScratch, dy: dy, into: dStreams)
        return dy
    }

    /// From dnormed [N, D], the gradient of the sublayer's RMSNorm output: the norm's backward (adding to
    /// its weight's gradient), then into dStreams [N, S D], the gradient of the residual before the
    /// sublayer: with one stream d(norm input) + dResidual, the residual's own share; under mHC added
    /// through the collapse and the coefficients to merge's share, which dStreams holds.
    func sublayerInputBackward(
        _ dnormed: UnsafePointer<Float>, streams x: UnsafePointer<Float>, norm: Int, rstd: UnsafePointer<Float>,
        hyper: HyperSlots?, state: HyperState, from a: Activations, into dStreams: UnsafeMutablePointer<Float>,
        residual dResidual: UnsafePointer<Float>
    ) {
        let (w, g, n, d) = (parameters.data, gradients.data, a.rows, config.hiddenSize)
        guard let hyper, let shape = self.hyper else {
            RMSNorm.backward(dnormed, x, w + norm, rstd: rstd, dStreams, g + norm, rows: n, width: d)
            add(dResidual, into: dStreams, count: n * d)
            return
        }
        let dh = a.hyperScratch.dh.reserve(n * d)
        RMSNorm.backward(dnormed, state.collapsed.pointer, w + norm, rstd: rstd, dh, g + norm, rows: n, width: d)
        HyperConnection.backward(
            dh, streams: x, rows: n, params: w, grads: g, slots: hyper, shape: shape, state: state,
            scratch: a.hyperScratch, into: dStreams)
    }
}
