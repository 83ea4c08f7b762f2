// Work split over the cores for the loops that BLAS does not run. BLAS is never
// called with its own threads while these run on both cores, except for small
// products that OpenBLAS runs single-threaded anyway (attention heads).

import Dispatch
import Foundation

public enum Parallel {
    /// Cores this process may use (2 on the reference machine).
    public static let cores: Int = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Calls `body` on contiguous sub-ranges of 0..<count, one per core, in
    /// parallel. Small loops run inline: a thread hand-off costs microseconds.
    @inline(__always)
    public static func forRanges(_ count: Int, minPerThread: Int = 1024, _ body: (Range<Int>) -> Void) {
        let parts = min(cores, count / max(1, minPerThread))
        if parts <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = count * p / parts, hi = count * (p + 1) / parts
            body(lo..<hi)
        }
    }

    /// Calls `body(i)` for each i in 0..<count, split over the cores in chunks.
    @inline(__always)
    public static func forEach(_ count: Int, minPerThread: Int = 1, _ body: (Int) -> Void) {
        forRanges(count, minPerThread: minPerThread) { r in for i in r { body(i) } }
    }
}
