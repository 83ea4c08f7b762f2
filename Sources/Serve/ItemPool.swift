// Threads that score one request's completions side by side. A request's
// programs mostly wait (on the sandbox, at worst for its wall-clock limit), so
// they are run as wide as the sandbox has slots, not as wide as the machine
// has cores: a slow program then holds one slot, not its batch's neighbours.

import Foundation

final class ItemPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "grpo-serve-item-\(i)"
            thread.start()
        }
    }

    /// Calls `body(i)` for every i below `count` on the pool's threads; returns when all are done.
    func run(_ count: Int, _ body: @escaping (Int) -> Void) {
        let group = DispatchGroup()
        condition.lock()
        for i in 0..<count {
            group.enter()
            jobs.append {
                body(i)
                group.leave()
            }
        }
        condition.broadcast()
        condition.unlock()
        group.wait()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
