// The reward service without HTTP: requests in, responses out. A request is
// checked and resolved (tasks looked up, lengths compared) where it arrives,
// so a bad one is refused at once (400); only the scoring waits in the queue.
// Scores, records (--db) and counts what it did.

import Foundation
import RewardRules
import Sandbox
import TaskSets
import Support

public final class RewardService: @unchecked Sendable {
    public let rules: RuleSet
    public let configuration: ServeConfiguration
    public let taskSetName: String?
    let tasks: [String: RewardTask]
    let runner: Sandbox
    let queue: WorkQueue
    let metrics = ServeMetrics()
    let recorder: ServeRecorder?
    let token: BearerToken?
    /// Rules whose kind runs programs (the sandbox-runs metric counts them).
    private let programRules: [Int]
    /// Scores the completions of requests that run programs (see ItemPool).
    private let items: ItemPool

    /// A scoring job: completions and their tasks, with what the traces group them by.
    public struct Batch: Sendable {
        public var completions: [String]
        public var tasks: [RewardTask]
        public var prompts: [String]
        public var keys: [String]
    }

    public init(rules: RuleSet, tasks: TaskSet?, configuration: ServeConfiguration) throws {
        try configuration.validate()
        self.rules = rules
        self.configuration = configuration
        taskSetName = tasks?.manifest.name
        var byID: [String: RewardTask] = [:]
        if let tasks {
            for t in tasks.train + tasks.test { byID[t.id] = tasks.manifest.rewardTask(for: t) }
        }
        self.tasks = byID
        runner = Sandbox(limits: configuration.runCodeLimits, concurrency: configuration.runCodeConcurrency)
        queue = WorkQueue(capacity: configuration.queueCapacity, workers: configuration.workers)
        recorder = try configuration.databasePath.map {
            try ServeRecorder(path: $0, rules: rules, taskSet: tasks?.manifest.name)
        }
        token = configuration.token.map(BearerToken.init)
        programRules = rules.entries.indices.filter { ["code", "program_output"].contains(rules.entries[$0].kind) }
        items = ItemPool(threads: programRules.isEmpty ? 1 : 16)
    }

    /// Finishes the queued and running work, then closes the trace run.
    public func shutDown() throws {
        queue.drainAndClose()
        try recorder?.close()
    }

    /// The trace run of this server start (with --db).
    public var traceRun: Int64? { recorder?.runID }

    // MARK: resolving requests

    /// The task a reference names. `lenient`: a text that is no task id is a JSON task object
    /// or a math answer (OpenRLHF labels, verl ground truths); otherwise it must be a task id.
    func task(_ reference: TaskReference, field: String, lenient: Bool) throws -> RewardTask {
        switch reference {
        case .none:
            return RewardTask()
        case .object(let o):
            do { return RewardTask.inferringKind(try RewardTask(object: o)) } catch let e as RewardTask.FieldError {
                throw BadRequest("field \"\(field).\(e.field)\": \(e.message)")
            }
        case .text(let s):
            if let t = tasks[s] { return t }
            guard lenient else {
                throw BadRequest(
                    "field \"\(field)\": no task \"\(s.prefix(80))\" in "
                        + (taskSetName.map { "the task set \($0)" } ?? "this server (it was started without --tasks)"))
            }
            if s.hasPrefix("{"), let o = try? JSONDecoder().decode([String: JSONValue].self, from: Data(s.utf8)) {
                return try task(.object(o), field: field, lenient: false)
            }
            return RewardTask(kind: "math", answer: s)
        }
    }

    public func batch(_ r: OpenRLHFRequest) throws -> Batch {
        try checkCount(r.query.count, "query")
        try RequestDecoding.checkLengths(
            "query", r.query.count, [("prompts", r.prompts?.count), ("labels", r.labels?.count)])
        var completions: [String] = []
        var tasks: [RewardTask] = []
        completions.reserveCapacity(r.query.count)
        tasks.reserveCapacity(r.query.count)
        for i in r.query.indices {
            let prompt = r.prompts?[i]
            completions.append(OpenRLHFRequest.completion(query: r.query[i], prompt: prompt))
            var t = try task(r.labels?[i] ?? .none, field: "labels[\(i)]", lenient: true)
            if t.prompt == nil { t.prompt = prompt }
            tasks.append(t)
        }
        let prompts = tasks.map { $0.prompt ?? "" }
        return Batch(
            completions: completions, tasks: tasks, prompts: prompts,
            keys: zip(tasks, prompts).map { $0.id ?? $1 })
    }

    func batch(_ r: ScoreRequest) throws -> Batch {
        try checkCount(r.completions.count, "completions")
        try RequestDecoding.checkLengths("completions", r.completions.count, [("tasks", r.tasks.count)])
        let tasks = try r.tasks.enumerated().map { try task($1, field: "tasks[\($0)]", lenient: false) }
        let prompts = tasks.map { $0.prompt ?? "" }
        return Batch(
            completions: r.completions, tasks: tasks, prompts: prompts,
            keys: zip(tasks, prompts).map { $0.id ?? $1 })
    }

    private func checkCount(_ n: Int, _ field: String) throws {
        guard n <= configuration.maxItems else {
            throw BadRequest(
                "\"\(field)\" has \(n) items, more than this server takes in one request (\(configuration.maxItems))")
        }
    }

    // MARK: scoring

    /// Scores a batch (on a worker thread), records it and counts it.
    public func score(_ batch: Batch) -> [ScoredCompletion] {
        let scored: [ScoredCompletion]
        if programRules.isEmpty || !batch.tasks.contains(where: { $0.tests != nil }) {
            scored = rules.score(Array(zip(batch.completions, batch.tasks)).map { (completion: $0, task: $1) })
        } else {
            let out = ScoredBuffer(count: batch.completions.count)
            items.run(batch.completions.count) { i in
                out.set(i, self.rules.score(completion: batch.completions[i], task: batch.tasks[i]))
            }
            scored = out.all
        }
        var runs = 0
        for s in scored { for i in programRules where s.rules[i].score != nil { runs += 1 } }
        metrics.scored(completions: scored.count, sandboxRuns: runs)
        recorder?.record(keys: batch.keys, prompts: batch.prompts, completions: batch.completions, scored: scored)
        return scored
    }

    func runCode(_ r: RunCodeRequest) -> RunCodeResponse {
        if let problem = r.unsupported { return .sandboxError(problem) }
        let run = runner.runScript(
            r.code, stdin: r.stdin ?? "", wallSeconds: r.runTimeout.map { max(0.1, $0) },
            memoryMB: r.memoryLimitMB.map { max(64, $0) })
        metrics.scored(completions: 0, sandboxRuns: 1)
        return RunCodeResponse(run)
    }
}

extension RewardTask {
    /// A task object without a kind: code when it has tests, math when it has an answer
    /// (rules with applies_to read the kind).
    static func inferringKind(_ task: RewardTask) -> RewardTask {
        guard task.kind == nil else { return task }
        var t = task
        if t.tests != nil { t.kind = "code" } else if t.answer != nil { t.kind = "math" }
        return t
    }
}

/// One result a completion, filled from several threads.
private final class ScoredBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [ScoredCompletion?]
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ s: ScoredCompletion) {
        lock.lock()
        results[i] = s
        lock.unlock()
    }
    var all: [ScoredCompletion] {
        lock.lock()
        defer { lock.unlock() }
        return results.map { $0! }
    }
}
