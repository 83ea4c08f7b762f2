// Rotary position embedding, "rotate half" convention (as Llama/DeepSeek in
// Hugging Face): within a head of width hd, element i pairs with i + hd/2.
//   angle(p, i) = p * theta^(-2i/hd)
//   y1 = x1 cos - x2 sin,  y2 = x2 cos + x1 sin
// Backward is the rotation by -angle:
//   dx1 = dy1 cos + dy2 sin,  dx2 = dy2 cos - dy1 sin
// Applied in place to H heads of a row with row stride `ld`, head h at h * stride
// (the head width unless the rotated part is a slice of a wider head, as in MLA).

import Foundation
import Kernels

public final class RoPE: @unchecked Sendable {
    public let headDim: Int
    public let maxPositions: Int
    /// [maxPositions, headDim/2] tables.
    private let cosTable: UnsafeMutablePointer<Float>
    private let sinTable: UnsafeMutablePointer<Float>

    public init(headDim: Int, maxPositions: Int, theta: Float) {
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        cosTable = .allocate(capacity: maxPositions * half)
        sinTable = .allocate(capacity: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                // Angles in Double: at position 500 a Float angle would lose ~1e-4 rad.
                let freq = pow(Double(theta), -2 * Double(i) / Double(headDim))
                let a = Double(p) * freq
                cosTable[p * half + i] = Float(cos(a))
                sinTable[p * half + i] = Float(sin(a))
            }
        }
    }

    deinit {
        cosTable.deallocate()
        sinTable.deallocate()
    }

    /// Rotates `heads` heads of each row r at position positions(r). `inverse` applies backward.
    @inline(__always)
    public func apply(
        _ x: UnsafeMutablePointer<Float>, ld: Int, rows n: Int, heads: Int, stride: Int? = nil,
        inverse: Bool = false, position: (Int) -> Int
    ) {
        let stride = stride ?? headDim
        let half = headDim / 2
        let sign: Float = inverse ? -1 : 1
        for r in 0..<n {
            let p = position(r)
            precondition(p < maxPositions, "position \(p) beyond max_position_embeddings \(maxPositions)")
            let c = cosTable + p * half
            let s = sinTable + p * half
            for h in 0..<heads {
                let v = x + r * ld + h * stride
                for i in 0..<half {
                    let x1 = v[i]
                    let x2 = v[i + half]
                    let sn = sign * s[i]
                    v[i] = x1 * c[i] - x2 * sn
                    v[i + half] = x2 * c[i] + x1 * sn
                }
            }
        }
    }
}
