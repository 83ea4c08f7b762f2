// Work split over the cores. OpenBLAS runs single-threaded (its idle threads
// spin in sched_yield long after each call and would fight ours for the
// cores); we split large products and elementwise loops ourselves over a
// small pool whose workers spin briefly between jobs, so a hand-off is far
// cheaper than a futex wake-up, which matters in decoding, where a step is
// many short parallel sections (docs/measurements.md has the figures).

import Foundation
import Synchronization
import COpenBLAS

public enum Parallel {
    /// Cores this process uses (2 on the reference machine).
    public static let cores: Int = {
        let n = max(1, ProcessInfo.processInfo.activeProcessorCount)
        openblas_set_num_threads(1)
        return n
    }()

    static let pool = WorkerPool(workers: cores - 1)

    /// Calls `body` on contiguous sub-ranges of 0..<count, one per core, in
    /// parallel. Small loops, and loops inside a parallel section, run inline.
    @inline(__always)
    public static func forRanges(_ count: Int, minPerThread: Int = 1024, _ body: (Range<Int>) -> Void) {
        let parts = min(cores, count / max(1, minPerThread))
        if parts <= 1 || !pool.run(parts: parts, { p in body((count * p / parts)..<(count * (p + 1) / parts)) }) {
            body(0..<count)
        }
    }

    /// Calls `body(i)` for each i in 0..<count, split over the cores in chunks.
    @inline(__always)
    public static func forEach(_ count: Int, minPerThread: Int = 1, _ body: (Int) -> Void) {
        forRanges(count, minPerThread: minPerThread) { r in for i in r { body(i) } }
    }

    /// Calls `body(p)` for p in 0..<parts on up to `cores` threads (parts <= cores).
    public static func run(parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 || !pool.run(parts: parts, body) { for p in 0..<parts { body(p) } }
    }

    /// Whether the caller may split work (false inside a parallel section).
    public static var canSplit: Bool { cores > 1 && !pool.isBusy }
}

/// The calling thread runs part 0; worker w runs part w.
final class WorkerPool: @unchecked Sendable {
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var job: ((Int) -> Void)?
    private var parts = 0
    private let workers: Int
    /// Spin iterations before a worker sleeps (a few hundred microseconds: longer
    /// than the serial stretches of a decode step, far shorter than a user notices).
    private let spinLimit = 200_000

    init(workers: Int) {
        self.workers = workers
        for w in 0..<workers {
            let t = Thread { [unowned self] in self.loop(index: w + 1) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Runs `body` on the pool; false (and nothing run) when the pool is taken:
    /// a nested section, or another thread's. The caller then runs it inline.
    func run(parts: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        return withoutActuallyEscaping(body) { body in
            job = body
            self.parts = parts
            pending.store(min(parts, workers + 1) - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            body(0)
            while pending.load(ordering: .acquiring) > 0 {}
            // Parts beyond the worker count (never with parts <= cores) run here.
            if parts > workers + 1 { for p in (workers + 1)..<parts { body(p) } }
            job = nil
            busy.store(false, ordering: .releasing)
            return true
        }
    }

    /// Calls the job; its reference is released when this returns, before the
    /// caller reports the part done (the job is a non-escaping closure of `run`).
    @inline(never)
    private func runJob(_ index: Int) { job?(index) }

    private func loop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins < spinLimit {
                    current = generation.load(ordering: .acquiring)
                    continue
                }
                condition.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            // Only the workers a job has a part for count towards `pending`
            // (on machines with more cores than parts, the others skip it).
            if index < parts {
                runJob(index)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }
}
