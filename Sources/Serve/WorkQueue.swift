// A bounded queue of scoring work in front of a fixed set of threads. The HTTP
// side never blocks on a program: it hands the work over and awaits it. When
// `capacity` requests are already queued or running the next one is refused at
// once (the caller answers 503 with Retry-After): under overload the server
// sheds load instead of piling up memory and latency. A request waits at most
// until its deadline; work still queued then is dropped unrun, work already
// running finishes in the background and its result is discarded.

import Foundation

public final class WorkQueue: @unchecked Sendable {
    public enum Rejection: Error, Equatable {
        /// `capacity` requests were queued or running.
        case full
        /// The deadline passed before the work finished.
        case deadlinePassed
        /// The queue is shutting down.
        case closed
    }

    private struct Job {
        let deadline: Date
        let run: () -> Void
        let expire: () -> Void
    }

    public let capacity: Int
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var head = 0
    private var running = 0
    private var isClosed = false
    private var threads = 0

    public init(capacity: Int, workers: Int) {
        self.capacity = capacity
        for i in 0..<workers {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "grpo-serve-\(i)"
            thread.stackSize = 4 << 20
            threads += 1
            thread.start()
        }
    }

    /// Requests queued or running now.
    public var depth: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head + running
    }

    /// Runs `work` on a worker thread; its result, or why there is none.
    public func submit<T: Sendable>(deadline: Date, _ work: @escaping @Sendable () -> T) async -> Result<T, Rejection> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, Rejection>, Never>) in
            let once = Once(continuation)
            condition.lock()
            if isClosed {
                condition.unlock()
                once.resume(.failure(.closed))
                return
            }
            if jobs.count - head + running >= capacity {
                condition.unlock()
                once.resume(.failure(.full))
                return
            }
            jobs.append(
                Job(
                    deadline: deadline, run: { once.resume(.success(work())) },
                    expire: { once.resume(.failure(.deadlinePassed)) }))
            condition.signal()
            condition.unlock()
            let delay = max(0, deadline.timeIntervalSinceNow)
            DispatchQueue.global().asyncAfter(deadline: .now() + delay) { once.resume(.failure(.deadlinePassed)) }
        }
    }

    /// Lets the queued and running work finish, then stops the threads.
    public func drainAndClose() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        while threads > 0 { condition.wait() }
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while head == jobs.count && !isClosed { condition.wait() }
            if head == jobs.count {
                threads -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            running += 1
            condition.unlock()
            if Date() < job.deadline { job.run() } else { job.expire() }
            condition.lock()
            running -= 1
        }
    }
}

/// A continuation resumed by the first of several callers (the work, or its deadline).
private final class Once<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, Never>?
    init(_ c: CheckedContinuation<T, Never>) { continuation = c }
    func resume(_ value: T) {
        lock.lock()
        let c = continuation
        continuation = nil
        lock.unlock()
        c?.resume(returning: value)
    }
}
