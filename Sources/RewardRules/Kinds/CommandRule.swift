// kind "command": a rule written in any language. The executable is started
// once and kept running; it reads one JSON request per line on stdin,
//   {"id": "17", "completion": "...", "task": {...}}
// and writes one JSON reply per line on stdout,
//   {"id": "17", "score": 1.0, "reason": "ok", "detail": "optional"}
// ("score": null means the rule does not apply to this task). Requests are sent
// one at a time. The reply is the line holding a JSON object with a "score" key
// (alone, or after text printed without a newline); every other line on stdout is
// the plugin's own output (a debug print, a dict printed with Python's repr, the
// request echoed back): kept as its log, shown with the tail of its stderr when a
// request fails, and mentioned in the detail of the reply it came before. A reply
// with another request's id, or a "score" that is no number, is an error.
//
// A request that takes longer than `timeout_seconds` (writing it, or waiting for the
// reply) kills the plugin (score 0, reason "plugin_timeout"); a plugin that exits
// or answers with the wrong id is killed and restarted on the next request (score 0,
// reason "plugin_error", the detail says what went wrong, with its log and the tail
// of its stderr). Such scores are errors (RuleScore.isError), not verdicts: the
// trainer counts them per step and stops when they pass max_rule_error_share
// (RuleErrors). After `max_restarts` restarts the rule answers "plugin_error"
// without starting it again.
//
// The plugin runs contained (Sources/Sandbox/ContainedProcess): killing it kills
// whatever it started, so a plugin that leaves a daemon behind, closes its
// stdout and sleeps, or never reads its input cannot hang the trainer.
//
// A rule that fails `max_consecutive_errors` requests in a row is broken, not
// strict: `failureReason()` says so, and RuleSet.checkRulesWork stops whoever
// scores with that error instead of recording its zeros as real scores.

import Foundation
import Sandbox
import Support

public final class CommandRule: RewardRule, @unchecked Sendable {
    public let name: String
    let executable: URL
    let arguments: [String]
    let timeout: Double
    let maxRestarts: Int
    let maxConsecutiveErrors: Int
    private let lock = NSLock()
    private var plugin: ContainedProcess?
    private var nextID = 0
    private var starts = 0
    private var consecutiveErrors = 0
    private var lastError = ""
    /// The plugin's last lines on stdout that were not replies (its log).
    private var log: [String] = []
    static let logLines = 5

    public static let kind = RuleKind(
        name: "command", summary: "a plugin executable speaking JSON lines on stdin/stdout (any language)",
        parameters: [
            "command": "executable, relative to the rule file's folder or on PATH (required)",
            "args": "list of arguments", "timeout_seconds": "per request (default 10)",
            "max_restarts": "restarts after crashes before giving up (default 5)",
            "max_consecutive_errors":
                "failed requests in a row that stop scoring with an error (default 10)",
        ]
    ) { spec in
        let command = try spec.requiredString("command")
        let base = URL(fileURLWithPath: spec.file).deletingLastPathComponent()
        guard let exe = CommandRule.resolve(command, relativeTo: base) else {
            throw spec.error("command", "\(command): no such executable (looked in \(base.path) and on PATH)")
        }
        let timeout = try spec.double("timeout_seconds", default: 10)
        guard timeout > 0, timeout.isFinite else { throw spec.error("timeout_seconds", "must be a positive number") }
        let maxRestarts = try spec.int("max_restarts", default: 5)
        guard maxRestarts >= 0 else { throw spec.error("max_restarts", "must be >= 0") }
        let maxErrors = try spec.int("max_consecutive_errors", default: 10)
        guard maxErrors >= 1 else { throw spec.error("max_consecutive_errors", "must be at least 1") }
        return CommandRule(
            name: spec.name, executable: exe, arguments: try spec.strings("args") ?? [],
            timeout: timeout, maxRestarts: maxRestarts, maxConsecutiveErrors: maxErrors)
    }

    public init(
        name: String, executable: URL, arguments: [String] = [], timeout: Double = 10, maxRestarts: Int = 5,
        maxConsecutiveErrors: Int = 10
    ) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.timeout = timeout
        self.maxRestarts = maxRestarts
        self.maxConsecutiveErrors = maxConsecutiveErrors
    }

    deinit {
        lock.lock()
        stop()
        lock.unlock()
    }

    static func resolve(_ command: String, relativeTo base: URL) -> URL? {
        let fm = FileManager.default
        if command.contains("/") {
            let url = command.hasPrefix("/") ? URL(fileURLWithPath: command) : base.appendingPathComponent(command)
            return fm.isExecutableFile(atPath: url.path) ? url.standardizedFileURL : nil
        }
        let local = base.appendingPathComponent(command)
        if fm.isExecutableFile(atPath: local.path) { return local }
        return ExecutableSearch.find(command)
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        lock.lock()
        defer { lock.unlock() }
        do {
            let score = try request(completion: completion, task: task)
            consecutiveErrors = 0
            return score
        } catch let failure as Failure {
            let tail = plugin.map { $0.stderrTail() } ?? ""
            stop()
            consecutiveErrors += 1
            lastError = failure.message
            if !log.isEmpty { lastError += "; its stdout (not replies): " + log.joined(separator: " | ") }
            if !tail.isEmpty { lastError += "; stderr: " + tail }
            return RuleScore(score: 0, reason: failure.reason, detail: lastError, isError: true)
        } catch {
            stop()
            consecutiveErrors += 1
            lastError = "\(error)"
            return RuleScore(score: 0, reason: "plugin_error", detail: lastError, isError: true)
        }
    }

    /// Broken after `maxConsecutiveErrors` failed requests in a row.
    public func failureReason() -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard consecutiveErrors >= maxConsecutiveErrors else { return nil }
        return "\(executable.path) failed \(consecutiveErrors) requests in a row; the last: \(lastError)"
    }

    /// How the running plugin is contained (nil when none is running), for tests and reports.
    public var isolation: ContainedProcess.Isolation? {
        lock.lock()
        defer { lock.unlock() }
        return plugin?.isolation
    }

    struct Failure: Error {
        let reason: String
        let message: String
    }

    private func request(completion: String, task: RewardTask) throws -> RuleScore? {
        if plugin == nil {
            guard starts <= maxRestarts else {
                throw Failure(
                    reason: "plugin_error", message: "\(executable.path) crashed \(starts) times; not restarted")
            }
            starts += 1
            do {
                plugin = try ContainedProcess(executable: executable.path, arguments: arguments)
            } catch {
                throw Failure(reason: "plugin_error", message: "cannot start \(executable.path): \(error)")
            }
        }
        guard let plugin else { throw Failure(reason: "plugin_error", message: "plugin not running") }
        nextID += 1
        let id = String(nextID)
        var taskJSON = task.json
        if taskJSON.isEmpty {
            for (k, v) in [
                ("id", task.id), ("kind", task.kind), ("prompt", task.prompt), ("answer", task.answer),
                ("tests", task.tests), ("entry_point", task.entryPoint),
            ] { if let v { taskJSON[k] = .string(v) } }
        }
        let message = JSONValue.object([
            "id": .string(id), "completion": .string(completion), "task": .object(taskJSON),
        ])
        var line = [UInt8](try JSONEncoder().encode(message))
        line.append(UInt8(ascii: "\n"))
        let deadline = Date().addingTimeInterval(timeout)
        var stray: [String] = []
        do {
            try plugin.send(line, deadline: deadline)
            while true {
                let text = String(decoding: try plugin.readLine(deadline: deadline), as: UTF8.self)
                if let reply = Self.reply(in: text) { return try decode(reply, id: id, stray: stray) }
                let logged = String(text.trimmingCharacters(in: .whitespaces).prefix(120))
                stray.append(logged)
                log.append(logged)
                if log.count > Self.logLines { log.removeFirst() }
            }
        } catch let failure as ContainedProcess.Failure {
            switch failure {
            case .timeout:
                throw Failure(
                    reason: "plugin_timeout",
                    message: "no reply (a JSON object with \"id\" and \"score\" "
                        + "on one line) within \(timeout) s; plugin killed")
            case .closed(let status):
                let how =
                    status.map { "plugin exited with status \($0)" }
                    ?? "plugin closed its standard input or output"
                throw Failure(reason: "plugin_error", message: how + " before replying")
            case .system(let m):
                throw Failure(reason: "plugin_error", message: m)
            }
        }
    }

    /// The reply in a line of the plugin's stdout: a JSON object with a "score" key, alone on the
    /// line or after text printed without a newline; nil when the line is the plugin's own output.
    static func reply(in line: String) -> [String: JSONValue]? {
        var start = line.firstIndex(of: "{")
        // A few tries: a log line is bounded, but need not be cheap to parse from every brace.
        for _ in 0..<8 {
            guard let i = start else { return nil }
            if let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(line[i...].utf8)),
                object["score"] != nil
            {
                return object
            }
            start = line[line.index(after: i)...].firstIndex(of: "{")
        }
        return nil
    }

    private func decode(_ object: [String: JSONValue], id: String, stray: [String]) throws -> RuleScore? {
        guard object["id"]?.text == id else {
            throw Failure(
                reason: "plugin_error", message: "reply has id \(object["id"]?.text ?? "none"), expected \(id)")
        }
        if object["score"] == .null { return nil }  // the plugin says the rule does not apply
        guard let score = object["score"]?.number, score.isFinite else {
            throw Failure(reason: "plugin_error", message: "reply has no numeric \"score\"")
        }
        var detail = object["detail"]?.text
        if !stray.isEmpty {
            let note =
                "plugin printed \(stray.count) line(s) that are not replies before its reply (debug output "
                + "belongs on stderr): \(stray.last!)"
            detail = detail.map { $0 + "; " + note } ?? note
        }
        return RuleScore(score: score, reason: object["reason"]?.text ?? "plugin", detail: detail)
    }

    private func stop() {
        plugin?.stop()
        plugin = nil
    }
}
