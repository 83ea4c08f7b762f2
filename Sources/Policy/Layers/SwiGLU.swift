// SwiGLU activation. Legend: N rows, I intermediate width.
//   h [N, 2I] = [g | u] (one product for gate_proj and up_proj), a [N, I]
//   a = silu(g) * u,  silu(g) = g * sigmoid(g)
// Backward reads h:
//   du = da * silu(g)
//   dg = da * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))

import CKernels
import Kernels

public enum SwiGLU {
    public static func forward(_ h: UnsafePointer<Float>, _ a: UnsafeMutablePointer<Float>, rows n: Int, width i: Int) {
        Parallel.forRanges(n, minPerThread: 32) { r in
            ck_swiglu_forward(h + r.lowerBound * 2 * i, a + r.lowerBound * i, r.count, i)
        }
    }

    /// Writes dh [N, 2I] from da [N, I].
    public static func backward(
        _ da: UnsafePointer<Float>, _ h: UnsafePointer<Float>,
        _ dh: UnsafeMutablePointer<Float>, rows n: Int, width i: Int
    ) {
        Parallel.forRanges(n, minPerThread: 32) { r in
            ck_swiglu_backward(da + r.lowerBound * i, h + r.lowerBound * 2 * i, dh + r.lowerBound * 2 * i, r.count, i)
        }
    }
}
