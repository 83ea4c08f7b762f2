import ArgumentParser
import Foundation
import RewardRules
import Sandbox
import Serve
import TaskSets

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a rule set and the sandbox over HTTP to OpenRLHF, verl and TRL.",
        discussion: """
            Endpoints: POST /get_reward (OpenRLHF's --reward.remote_url), POST /run_code and GET /v1/ping \
            (Sandbox Fusion, for verl's reward_model.sandbox_fusion.url), POST /score and GET /rules (every \
            rule's verdict; the rule set and its SHA-256), GET /health, GET /metrics (Prometheus). \
            A label or task may be a task id of --tasks, a task object, or a math answer. \
            Binds 127.0.0.1 unless told otherwise; any other address needs --token or --token-file, which \
            clients send as "Authorization: Bearer TOKEN" (or ?token=TOKEN in the URL, for clients that cannot \
            set headers). A full queue answers 503 with Retry-After; SIGTERM lets the requests in flight finish \
            and closes the trace database. clients/python has a verl compute_score and a TRL reward function.
            """)

    @Option(help: "Rule set: a file or a name (see `grpo rewards list`).") var rules: String
    @Option(help: "Task set (name or folder) whose task ids requests may name.") var tasks: String?
    @Option(help: "Address to bind; anything but loopback needs a token.") var host = "127.0.0.1"
    @Option(help: "Port (0: any free one; the server prints it).") var port = 8000
    @Option(help: "Bearer token clients must send (at least 16 characters).") var token: String?
    @Option(help: "File whose first line is the token (keeps it out of the process list).") var tokenFile: String?
    @Option(help: "Trace database: a run per server start, a step per scored request.") var db: String?
    @Option(help: "Requests queued or being scored at once; more are answered 503 with Retry-After.")
    var queue = 256
    @Option(help: "Threads scoring requests.") var workers = 8
    @Option(help: "Seconds a request may take, queued and scored, before it is answered 504.")
    var requestSeconds = 60.0
    @Option(help: "Largest request body, in MB (413 above).") var maxBodyMb = 32
    @Option(help: "Most completions in one request.") var maxItems = 4096
    @Option(help: "/run_code: the most wall-clock seconds a program may ask for (run_timeout).")
    var runSeconds = 10.0
    @Option(help: "/run_code: the most memory (MB) a program may ask for (memory_limit_MB).") var runMemoryMb = 1024
    @Option(help: "/run_code: programs run at once.") var runConcurrency = 8

    func validate() throws {
        if token != nil && tokenFile != nil { throw ValidationError("pass --token or --token-file, not both") }
        guard runSeconds > 0, runMemoryMb >= 64, maxBodyMb > 0 else {
            throw ValidationError("--run-seconds and --max-body-mb must be positive, --run-memory-mb at least 64")
        }
    }

    func run() throws {
        var c = ServeConfiguration()
        c.host = host
        c.port = port
        c.token = try token ?? tokenFile.map { try ServeError.readToken(path: $0) }
        c.databasePath = db
        c.queueCapacity = queue
        c.workers = workers
        c.requestSeconds = requestSeconds
        c.maxBodyBytes = maxBodyMb << 20
        c.maxItems = maxItems
        c.runCodeLimits.wallSeconds = runSeconds
        c.runCodeLimits.cpuSeconds = max(1, Int(runSeconds.rounded(.up)))
        c.runCodeLimits.memoryMB = runMemoryMb
        c.runCodeConcurrency = runConcurrency
        try c.validate()
        let set = try RuleSet.load(rules)
        let taskSet = try tasks.map { try TaskSet.load($0) }
        let service = try RewardService(rules: set, tasks: taskSet, configuration: c)
        let host = self.host
        let outcome = Blocking.run {
            try await RewardServer.run(service) { port in
                print("grpo serve: \(set.name) (sha256 \(set.contentHash.prefix(12))) on http://\(host):\(port)")
                fflush(stdout)
            }
        }
        try service.shutDown()
        if let run = service.traceRun, let db {
            FileHandle.standardError.write(Data("traces: run \(run) in \(db)\n".utf8))
        }
        try outcome.get()
    }
}

/// Runs async work from a synchronous command and waits for it.
enum Blocking {
    static func run(_ work: @escaping @Sendable () async throws -> Void) -> Result<Void, Error> {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox()
        Task {
            do { try await work() } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return box.result
    }

    private final class ResultBox: @unchecked Sendable {
        var result: Result<Void, Error> = .success(())
    }
}
