// SwiGLU activation. Legend: N rows, I intermediate width.
//   h [N, 2I] = [g | u] (one product for gate_proj and up_proj), a [N, I]
//   a = silu(g) * u,  silu(g) = g * sigmoid(g)
// Backward reads h:
//   du = da * silu(g)
//   dg = da * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))

import Foundation
import Kernels

public enum SwiGLU {
    public static func forward(_ h: UnsafePointer<Float>, _ a: UnsafeMutablePointer<Float>, rows n: Int, width i: Int) {
        Parallel.forRanges(n, minPerThread: 32) { range in
            for r in range {
                let g = h + r * 2 * i, u = g + i, ar = a + r * i
                for j in 0..<i {
                    let s = 1 / (1 + expf(-g[j]))
                    ar[j] = g[j] * s * u[j]
                }
            }
        }
    }

    /// Writes dh [N, 2I] from da [N, I].
    public static func backward(_ da: UnsafePointer<Float>, _ h: UnsafePointer<Float>,
                                _ dh: UnsafeMutablePointer<Float>, rows n: Int, width i: Int) {
        Parallel.forRanges(n, minPerThread: 32) { range in
            for r in range {
                let g = h + r * 2 * i, u = g + i, dar = da + r * i
                let dg = dh + r * 2 * i, du = dg + i
                for j in 0..<i {
                    let s = 1 / (1 + expf(-g[j]))
                    du[j] = dar[j] * g[j] * s
                    dg[j] = dar[j] * u[j] * s * (1 + g[j] * (1 - s))
                }
            }
        }
    }
}
