// y = x W^T with one rounding per output, whatever the batch: the forward's
// products. Each output is a chain of fused multiply-adds over k in order, so
// a token's activations are the same bits whether it is decoded with 7 other
// rows or recomputed in a training forward over 8,000 (a BLAS kernel chooses
// its summation order by the shape and gives neither guarantee). This is what
// keeps the sampler's log-probabilities and the trainer's equal, not merely
// close: their difference is the importance ratio's error.
// Legend: M rows, K in features, N out features.
//   x [M, K] (row stride ldx), W [N, K] (Hugging Face layout, row stride ldw), y [M, N] (ldy)
// The kernel reads W^T in 16-column panels. Packing it costs about as much as
// a product over 8 rows, so a decode step would spend most of its time there:
// PackedWeights keeps the packing of every weight for a stretch of work in
// which the parameters do not change (one generation).

import CKernels
import Foundation

/// y = x W^T, or y += x W^T when `accumulate`; large products split over the cores (by rows when
/// there are many, by columns otherwise: a split never changes a result).
@inline(__always)
public func orderedLinear(
    m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int,
    y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false
) {
    if m == 0 || n == 0 { return }
    if GemmRecorder.isRecording { GemmRecorder.record(GemmShape(transB: true, m: m, n: n, k: k)) }
    let parts = Parallel.cores
    let split = parts > 1 && m * n * k >= 1 << 18 && Parallel.canSplit && (m >= 16 * parts || n >= 32 * parts)
    let npad = (n + 15) / 16 * 16
    let kept = PackedWeights.panel(w, n: n, k: k, ldw: ldw)
    if !split && kept == nil {
        if ck_linear(x, ldx, w, ldw, y, ldy, m, n, k, accumulate ? 1 : 0) != 0 { outOfMemory(n * k) }
        return
    }
    // Packed once here (kept, or into this thread's scratch, which the workers only read).
    guard let wt = kept ?? ck_pack_linear_scratch(w, ldw, n, k) else { outOfMemory(n * k) }
    let acc: Int32 = accumulate ? 1 : 0
    if !split {
        ck_linear_packed(x, ldx, wt, y, ldy, m, n, k, acc)
    } else if m >= 16 * parts {
        Parallel.run(parts: parts) { p in
            let lo = m * p / parts
            let hi = m * (p + 1) / parts
            ck_linear_packed(x + lo * ldx, ldx, wt, y + lo * ldy, ldy, hi - lo, n, k, acc)
        }
    } else {
        // Column parts of whole 16-wide panels.
        let panels = npad / 16
        Parallel.run(parts: parts) { p in
            let lo = min(n, panels * p / parts * 16)
            let hi = min(n, panels * (p + 1) / parts * 16)
            ck_linear_packed(x, ldx, wt + lo * k, y + lo, ldy, m, hi - lo, k, acc)
        }
    }
}

/// Not a precondition: -Ounchecked drops those, and the product would silently not happen.
private func outOfMemory(_ floats: Int) -> Never {
    fatalError("out of memory packing a \(floats)-float weight")
}

/// The packed W^T of every weight of one parameter buffer, made on first use, while `using` runs.
public final class PackedWeights: @unchecked Sendable {
    private struct Panel {
        var n: Int, k: Int, ldw: Int
        var wt: UnsafeMutablePointer<Float>
    }

    private let base: UnsafePointer<Float>
    private let count: Int
    private var panels: [Int: Panel] = [:]
    private let lock = NSLock()

    nonisolated(unsafe) private static var active: [PackedWeights] = []
    private static let registry = NSLock()

    private init(base: UnsafePointer<Float>, count: Int) {
        self.base = base
        self.count = count
    }

    deinit {
        for panel in panels.values { panel.wt.deallocate() }
    }

    /// Runs `body` with every product whose weights lie in `parameters[0..<count]` reading them
    /// packed once. The parameters must not change while `body` runs.
    public static func using<R>(
        _ parameters: UnsafePointer<Float>, count: Int, _ body: () throws -> R
    ) rethrows -> R {
        let packed = PackedWeights(base: parameters, count: count)
        registry.lock()
        active.append(packed)
        registry.unlock()
        defer {
            registry.lock()
            active.removeAll { $0 === packed }
            registry.unlock()
        }
        return try body()
    }

    /// The kept packing of W [n, k] (row stride ldw), or nil when no `using` holds W.
    static func panel(_ w: UnsafePointer<Float>, n: Int, k: Int, ldw: Int) -> UnsafePointer<Float>? {
        registry.lock()
        let holder = active.last { w >= $0.base && w + (n - 1) * ldw + k <= $0.base + $0.count }
        registry.unlock()
        return holder?.packing(w, n: n, k: k, ldw: ldw)
    }

    private func packing(_ w: UnsafePointer<Float>, n: Int, k: Int, ldw: Int) -> UnsafePointer<Float>? {
        let offset = w - base
        lock.lock()
        defer { lock.unlock() }
        if let p = panels[offset] {
            // The same weight seen with another shape: pack per call rather than guess.
            return p.n == n && p.k == k && p.ldw == ldw ? UnsafePointer(p.wt) : nil
        }
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: k * ((n + 15) / 16 * 16))
        ck_pack_linear(w, ldw, n, k, wt)
        panels[offset] = Panel(n: n, k: k, ldw: ldw, wt: wt)
        return UnsafePointer(wt)
    }
}
