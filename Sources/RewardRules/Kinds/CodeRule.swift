// kind "code": the task's tests run against the completion's solution in the
// sandbox (Sources/Sandbox). The solution is the last fenced code block
// (```python ... ```), or the whole completion when the task says
// raw_completion. Applies to tasks with tests.
//   tests "assert f(2) == 4", completion "```python\ndef f(x): return 2*x\n```" -> 1 "passed"
//   no code block -> 0 "no_code"; a failing assert -> 0 "assertion_failed" (or the
//   fraction of asserts passed, with partial_credit: true); "timeout", "error",
//   "syntax_error", "output_limit", "no_verdict" (the program ended before the runner could report),
//   "tests_error" (the task's tests themselves fail), "in_process_checks" (the tests need checks
//   only the program's own interpreter can run, and the task does not allow them).
// The verdict is decided outside the program (Sources/Sandbox/Sandbox.swift): the detail says
// how many checks, if any, were in-process (forgeable).

import Foundation
import Sandbox

public struct CodeRule: RewardRule {
    public let name: String
    let sandbox: Sandbox
    let partialCredit: Bool

    /// The sandbox's limits as rule parameters, shared by the kinds that run programs.
    static let sandboxParameters: [String: String] = [
        "cpu_seconds": "CPU seconds per process (default 5)", "wall_seconds": "wall-clock seconds (default 10)",
        "memory_mb": "memory of the whole run (with a cgroup) and of each process (default 512)",
        "max_processes": "processes (default 32)",
        "max_file_mb": "largest file written, and twice that for the scratch tmpfs (default 16)",
        "max_output_kb": "stdout + stderr kept before the run is killed (default 1024)",
        "python": "interpreter (default: the first python3 binary in /usr/bin, /usr/local/bin, PATH)",
    ]

    public static let kind = RuleKind(
        name: "code", summary: "the task's tests pass against the last fenced code block, run in the sandbox",
        parameters: sandboxParameters.merging(
            ["partial_credit": "score the fraction of asserts passed (default false)"]) { $1 }
    ) { spec in
        CodeRule(
            name: spec.name, sandbox: try sandbox(from: spec),
            partialCredit: try spec.bool("partial_credit", default: false))
    }

    /// A sandbox with the limits a rule's parameters set (`sandboxParameters`).
    static func sandbox(from spec: RuleSpec) throws -> Sandbox {
        var l = SandboxLimits()
        l.cpuSeconds = try spec.int("cpu_seconds", default: l.cpuSeconds)
        l.wallSeconds = try spec.double("wall_seconds", default: l.wallSeconds)
        l.memoryMB = try spec.int("memory_mb", default: l.memoryMB)
        l.maxProcesses = try spec.int("max_processes", default: l.maxProcesses)
        l.maxFileMB = try spec.int("max_file_mb", default: l.maxFileMB)
        l.maxOutputBytes = try spec.int("max_output_kb", default: l.maxOutputBytes >> 10) << 10
        let values: [(String, Double)] = [
            ("cpu_seconds", Double(l.cpuSeconds)), ("wall_seconds", l.wallSeconds), ("memory_mb", Double(l.memoryMB)),
            ("max_processes", Double(l.maxProcesses)), ("max_file_mb", Double(l.maxFileMB)),
            ("max_output_kb", Double(l.maxOutputBytes)),
        ]
        for (key, value) in values where !(value > 0) { throw spec.error(key, "must be positive") }
        guard l.memoryMB >= 64 else { throw spec.error("memory_mb", "must be at least 64 (the interpreter needs it)") }
        let python = try spec.string("python")
        if let chosen = python ?? Sandbox.defaultPython, let problem = InterpreterCheck.problem(with: chosen) {
            throw spec.error("python", problem + (python == nil ? " (the default interpreter)" : ""))
        }
        return Sandbox(limits: l, python: python)
    }

    public init(name: String, sandbox: Sandbox = Sandbox(), partialCredit: Bool = false) {
        self.name = name
        self.sandbox = sandbox
        self.partialCredit = partialCredit
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        guard let tests = task.tests else { return nil }
        guard let code = task.rawCompletion ? completion : Self.lastCodeBlock(completion) else {
            return RuleScore(score: 0, reason: "no_code")
        }
        let r = sandbox.run(
            solution: code, tests: tests, entryPoint: task.entryPoint,
            allowInProcessChecks: task.allowsInProcessChecks)
        var detail = "\(r.passed)/\(r.total) passed"
        if r.inProcessChecks > 0 { detail += " (\(r.inProcessChecks) in-process)" }
        if let failure = r.failure { detail += "; " + failure }
        let tail = r.outputTail.trimmingCharacters(in: .whitespacesAndNewlines)
        if !tail.isEmpty { detail += "; " + tail }
        if r.outcome == .passed { return RuleScore(score: 1, reason: "passed", detail: detail) }
        let partial = partialCredit && r.total > 0 ? Double(r.passed) / Double(r.total) : 0
        return RuleScore(score: partial, reason: r.outcome.rawValue, detail: detail)
    }

    /// The body of the last ``` fenced block (any language tag), or nil.
    public static func lastCodeBlock(_ text: String) -> String? {
        let parts = text.components(separatedBy: "```")
        guard parts.count >= 3 else { return nil }
        // Blocks are the odd-numbered parts; the last complete one is at the largest odd index < count - 1.
        var i = parts.count - 2
        if i % 2 == 0 { i -= 1 }
        guard i >= 1 else { return nil }
        var body = parts[i]
        if let nl = body.firstIndex(of: "\n") {
            let tag = body[..<nl].trimmingCharacters(in: .whitespaces)
            if tag.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" }) {
                body = String(body[body.index(after: nl)...])
            }
        }
        return body
    }
}
