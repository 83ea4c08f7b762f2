// Hyper-connections (mHC) against transformers' DeepseekV4HyperConnection and
// DeepseekV4HyperHead, through Fixtures/huggingface/hc.json (make_fixtures.py
// --only hc): the collapsed input, post, comb, the new streams after a given
// sublayer output and the head's collapse, and the gradients autograd gives of
// a random probe of them, in transformers' default setting and in one with few
// Sinkhorn-Knopp iterations and a coarse hc_eps.

import XCTest
import Foundation
import Kernels
import Policy

final class HyperConnectionTests: XCTestCase {
    struct Case: Decodable {
        let streams: Int, width: Int, sinkhornIters: Int, eps: Float, rmsNormEps: Float, rows: Int
        let x: [Float], y: [Float], fn: [Float], base: [Float], scale: [Float]
        let headFn: [Float], headBase: [Float], headScale: [Float]
        let collapsed: [Float], post: [Float], comb: [Float], streamsOut: [Float], headOut: [Float]
        let probeCollapsed: [Float], probeStreams: [Float], probeHead: [Float]
        let gradX: [Float], gradY: [Float], gradFn: [Float], gradBase: [Float], gradScale: [Float]
        let gradHeadFn: [Float], gradHeadBase: [Float], gradHeadScale: [Float]
    }

    static func cases() throws -> [Case] {
        struct File: Decodable { let cases: [Case] }
        let url = HuggingFaceTests.fixtures.appendingPathComponent("hc.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(File.self, from: Data(contentsOf: url)).cases
    }

    /// Largest |a - b| over two equally long sequences.
    func worst(_ a: UnsafePointer<Float>, _ b: [Float]) -> Float {
        (0..<b.count).reduce(0) { max($0, abs(a[$1] - b[$1])) }
    }

    func testOutputsAndGradientsMatchTransformers() throws {
        var largest: (outputs: Float, gradients: Float) = (0, 0)
        for c in try Self.cases() {
            let shape = HyperConnection.Shape(
                streams: c.streams, width: c.width, sinkhornIterations: c.sinkhornIters, eps: c.eps,
                normEps: c.rmsNormEps)
            let (n, s, m) = (c.rows, c.streams, shape.count)
            // One flat buffer: the layer's fn, base, scale, then the head's.
            let params = Tensor(
                [c.fn.count + m + 3 + c.headFn.count + s + 1],
                c.fn + c.base + c.scale + c.headFn
                    + c.headBase + c.headScale)
            let slots = HyperSlots(fn: 0, base: c.fn.count, scale: c.fn.count + m)
            let head = HyperSlots(
                fn: slots.scale + 3, base: slots.scale + 3 + c.headFn.count,
                scale: slots.scale + 3 + c.headFn.count + s)
            let (x, y) = (Tensor([c.x.count], c.x), Tensor([c.y.count], c.y))
            let (state, headState) = (HyperState(), HyperState())
            let h = HyperConnection.forward(
                x.data, rows: n, params: params.data, slots: slots, shape: shape, state: state)
            state.output.reserve(c.y.count).update(from: y.data, count: c.y.count)
            let out = Tensor([c.x.count])
            HyperConnection.merge(y.data, streams: x.data, rows: n, shape: shape, state: state, into: out.data)
            let top = HyperHead.forward(
                x.data, rows: n, params: params.data, slots: head, shape: shape, state: headState)
            let coefficients = state.coefficients.pointer
            let post = (0..<n).flatMap { r in (0..<s).map { coefficients[r * m + s + $0] } }
            let comb = (0..<n).flatMap { r in (0..<(s * s)).map { coefficients[r * m + 2 * s + $0] } }
            let outputs = [
                worst(h, c.collapsed), worst(post, c.post), worst(comb, c.comb), worst(out.data, c.streamsOut),
                worst(top, c.headOut),
            ]
            XCTAssertLessThan(outputs.max()!, 1e-5, "collapsed, post, comb, streams, head: \(outputs)")

            let (dx, dy, dHead, grads) = (
                Tensor([c.x.count]), Tensor([c.y.count]), Tensor([c.x.count]),
                Tensor([params.count])
            )
            let scratch = HyperScratch()
            HyperConnection.mergeBackward(
                c.probeStreams, streams: x.data, rows: n, shape: shape, state: state, scratch: scratch, dy: dy.data,
                into: dx.data)
            HyperConnection.backward(
                c.probeCollapsed, streams: x.data, rows: n, params: params.data, grads: grads.data, slots: slots,
                shape: shape, state: state, scratch: scratch, into: dx.data)
            HyperHead.backward(
                c.probeHead, streams: x.data, rows: n, params: params.data, grads: grads.data, slots: head,
                shape: shape, state: headState, scratch: scratch, into: dHead.data)
            for i in 0..<c.x.count { dx[i] += dHead[i] }
            let g = grads.data
            let gradients = [
                worst(dx.data, c.gradX), worst(dy.data, c.gradY), worst(g, c.gradFn), worst(g + slots.base, c.gradBase),
                worst(g + slots.scale, c.gradScale), worst(g + head.fn, c.gradHeadFn),
                worst(g + head.base, c.gradHeadBase), worst(g + head.scale, c.gradHeadScale),
            ]
            XCTAssertLessThan(gradients.max()!, 2e-5, "x, y, fn, base, scale, head fn/base/scale: \(gradients)")
            largest = (max(largest.outputs, outputs.max()!), max(largest.gradients, gradients.max()!))
        }
        print("mHC against transformers: outputs within \(largest.outputs), gradients within \(largest.gradients)")
    }
}
