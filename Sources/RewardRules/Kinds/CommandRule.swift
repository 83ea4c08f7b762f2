// kind "command": a rule written in any language. The executable is started
// once and kept running; it reads one JSON request per line on stdin,
//   {"id": "17", "completion": "...", "task": {...}}
// and writes one JSON response per line on stdout,
//   {"id": "17", "score": 1.0, "reason": "ok", "detail": "optional"}
// ("score": null means the rule does not apply to this task). Requests are sent
// one at a time. A request that takes longer than `timeout_seconds` kills the
// plugin (score 0, reason "plugin_timeout"); a plugin that exits, answers with
// bad JSON or the wrong id is killed and restarted on the next request (score
// 0, reason "plugin_error", the detail says what went wrong, with the tail of
// its stderr). After `max_restarts` restarts the rule keeps answering
// "plugin_error" without starting it again.

import Foundation

public final class CommandRule: RewardRule, @unchecked Sendable {
    public let name: String
    let executable: URL
    let arguments: [String]
    let timeout: Double
    let maxRestarts: Int
    private let lock = NSLock()
    private var process: Process?
    private var stdinFD: Int32 = -1, stdoutFD: Int32 = -1
    private var buffer: [UInt8] = []
    private var stderrTail = StderrTail()
    private var nextID = 0
    private var starts = 0

    public static let kind = RuleKind(
        name: "command", summary: "a plugin executable speaking JSON lines on stdin/stdout (any language)",
        parameters: ["command": "executable, relative to the rule file's folder or on PATH (required)",
                     "args": "list of arguments", "timeout_seconds": "per request (default 10)",
                     "max_restarts": "restarts after crashes before giving up (default 5)"]) { spec in
        let command = try spec.requiredString("command")
        let base = URL(fileURLWithPath: spec.file).deletingLastPathComponent()
        guard let exe = CommandRule.resolve(command, relativeTo: base) else {
            throw spec.error("command", "\(command): no such executable (looked in \(base.path) and on PATH)")
        }
        let timeout = try spec.double("timeout_seconds", default: 10)
        guard timeout > 0 else { throw spec.error("timeout_seconds", "must be positive") }
        return CommandRule(name: spec.name, executable: exe, arguments: try spec.strings("args") ?? [],
                           timeout: timeout, maxRestarts: try spec.int("max_restarts", default: 5))
    }

    public init(name: String, executable: URL, arguments: [String] = [], timeout: Double = 10, maxRestarts: Int = 5) {
        self.name = name; self.executable = executable; self.arguments = arguments
        self.timeout = timeout; self.maxRestarts = maxRestarts
        signal(SIGPIPE, SIG_IGN)  // a plugin that dies mid-request must not take the trainer with it
    }

    deinit { lock.lock(); stop(); lock.unlock() }

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
        lock.lock(); defer { lock.unlock() }
        do { return try request(completion: completion, task: task) } catch let failure as Failure {
            stop()
            return RuleScore(score: 0, reason: failure.reason, detail: failure.message + stderrTail.suffix)
        } catch {
            stop()
            return RuleScore(score: 0, reason: "plugin_error", detail: "\(error)")
        }
    }

    struct Failure: Error { let reason: String; let message: String }

    private func request(completion: String, task: RewardTask) throws -> RuleScore? {
        if process == nil {
            guard starts <= maxRestarts else {
                throw Failure(reason: "plugin_error", message: "\(executable.path) crashed \(starts) times; not restarted")
            }
            try start()
        }
        nextID += 1
        let id = String(nextID)
        var taskJSON = task.json
        if taskJSON.isEmpty {
            for (k, v) in [("id", task.id), ("kind", task.kind), ("prompt", task.prompt), ("answer", task.answer),
                           ("tests", task.tests), ("entry_point", task.entryPoint)] { if let v { taskJSON[k] = .string(v) } }
        }
        let message = JSONValue.object(["id": .string(id), "completion": .string(completion), "task": .object(taskJSON)])
        var line = try JSONEncoder().encode(message)
        line.append(UInt8(ascii: "\n"))
        try line.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(stdinFD, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { throw Failure(reason: "plugin_error", message: "\(exitDescription()) (writing the request failed)") }
                off += n
            }
        }
        let reply = try readLine(deadline: Date().addingTimeInterval(timeout))
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(reply)) else {
            throw Failure(reason: "plugin_error", message: "bad JSON in reply: \(String(decoding: reply.prefix(200), as: UTF8.self))")
        }
        guard object["id"]?.text == id else {
            throw Failure(reason: "plugin_error", message: "reply has id \(object["id"]?.text ?? "none"), expected \(id)")
        }
        if object["score"] == .null { return nil }  // the plugin says the rule does not apply
        guard let score = object["score"]?.number, score.isFinite else {
            throw Failure(reason: "plugin_error", message: "reply has no numeric \"score\"")
        }
        return RuleScore(score: score, reason: object["reason"]?.text ?? "plugin", detail: object["detail"]?.text)
    }

    private func start() throws {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = errors
        do { try p.run() } catch {
            starts += 1
            throw Failure(reason: "plugin_error", message: "cannot start \(executable.path): \(error)")
        }
        starts += 1
        process = p
        stdinFD = input.fileHandleForWriting.fileDescriptor
        stdoutFD = output.fileHandleForReading.fileDescriptor
        buffer = []
        // Keep the pipes' handles alive with the process; drain stderr so the plugin never blocks on it.
        handles = [input.fileHandleForWriting, output.fileHandleForReading, errors.fileHandleForReading]
        let tail = stderrTail
        errors.fileHandleForReading.readabilityHandler = { h in tail.append(h.availableData) }
    }
    private var handles: [FileHandle] = []

    private func stop() {
        if let p = process, p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        handles.last?.readabilityHandler = nil
        for h in handles { try? h.close() }
        handles = []
        process = nil
        stdinFD = -1; stdoutFD = -1
    }

    private func exitDescription() -> String {
        guard let p = process else { return "plugin not running" }
        if p.isRunning { return "plugin running" }
        return "plugin exited with status \(p.terminationStatus)"
    }

    /// One line from the plugin's stdout, or a timeout/exit failure.
    private func readLine(deadline: Date) throws -> [UInt8] {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 {
                throw Failure(reason: "plugin_timeout", message: "no reply within \(timeout) s; plugin killed")
            }
            var pfd = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(remaining, 1) * 1000) + 1)
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n <= 0 {
                process?.waitUntilExit()
                throw Failure(reason: "plugin_error", message: exitDescription() + " before replying")
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

/// The last few kilobytes a plugin wrote to stderr, for error messages.
final class StderrTail: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    func append(_ data: Data) {
        lock.lock(); defer { lock.unlock() }
        bytes.append(contentsOf: data)
        if bytes.count > 2048 { bytes.removeFirst(bytes.count - 2048) }
    }
    var suffix: String {
        lock.lock(); defer { lock.unlock() }
        let s = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return s.isEmpty ? "" : "; stderr: " + s.suffix(500)
    }
}
