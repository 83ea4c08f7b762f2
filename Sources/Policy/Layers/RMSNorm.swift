// RMSNorm. Legend: N rows, D width.
//   x [N, D], w [D], y [N, D] (row stride ldy, D unless y is a slice of wider rows), rstd [N] saved for backward
//   y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)
// Backward reads x and rstd:
//   dx = rstd * (w*dy) - x * rstd^3 / D * sum(w*dy*x)
//   dw += sum over rows of dy * x * rstd

import Kernels

public enum RMSNorm {
    public static func forward(
        _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ y: UnsafeMutablePointer<Float>, ldy: Int? = nil, rstd: UnsafeMutablePointer<Float>?,
        rows n: Int, width d: Int, eps: Float
    ) {
        let ldy = ldy ?? d
        Parallel.forRanges(n, minPerThread: 64) { range in
            for r in range {
                let xr = x + r * d
                let yr = y + r * ldy
                let ss = Vector.dot(xr, xr, d)
                let s = 1 / (ss / Float(d) + eps).squareRoot()
                rstd?[r] = s
                for i in 0..<d { yr[i] = xr[i] * s * w[i] }
            }
        }
    }

    /// dx is written (not accumulated); dw is accumulated. dy's rows are ldDy apart.
    public static func backward(
        _ dy: UnsafePointer<Float>, ldDy: Int? = nil, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        rstd: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
        _ dw: UnsafeMutablePointer<Float>, rows n: Int, width d: Int
    ) {
        let ldDy = ldDy ?? d
        // Each thread sums its rows' dw into its own partial, then the partials are added:
        // no two threads write the same dw element.
        let parts = min(Parallel.cores, max(1, n / 64))
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: parts * d)
        partial.initialize(repeating: 0, count: parts * d)
        defer { partial.deallocate() }
        Parallel.forEach(parts) { p in
            let pw = partial + p * d
            for r in (n * p / parts)..<(n * (p + 1) / parts) {
                let xr = x + r * d
                let dyr = dy + r * ldDy
                let dxr = dx + r * d
                let s = rstd[r]
                let dot = Vector.dot(w, dyr, xr, d)
                let c = dot * s * s * s / Float(d)
                for i in 0..<d {
                    dxr[i] = s * w[i] * dyr[i] - xr[i] * c
                    pw[i] += dyr[i] * xr[i] * s
                }
            }
        }
        for p in 0..<parts { for i in 0..<d { dw[i] += partial[p * d + i] } }
    }
}
