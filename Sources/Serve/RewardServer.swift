// The HTTP face of the reward service, on Hummingbird. Endpoints:
//   POST /get_reward   OpenRLHF's remote reward (OpenRLHFProtocol.swift)
//   POST /run_code     Sandbox Fusion's code execution, the part verl calls (SandboxFusionProtocol.swift)
//   GET  /v1/ping      Sandbox Fusion's liveness check: "pong"
//   POST /score        every rule's verdict (NativeProtocol.swift)
//   GET  /rules        the loaded rule set and its SHA-256
//   GET  /health       {"status": "ok"} (no token needed)
//   GET  /metrics      Prometheus text
// Every answer but 200 carries a sentence saying why ({"error": ...}): 400 for a
// body that is not what the endpoint takes, 401 without the token, 413 above
// the size limit, 503 + Retry-After when the queue is full, 504 past the
// request's deadline. SIGTERM or SIGINT: no new connections, the requests in
// flight are answered, then the queue drains and the trace run is closed.

import Foundation
import Hummingbird
import Logging
import RewardRules

public enum RewardServer {
    /// Serves until SIGTERM or SIGINT; `onListening` gets the port once bound (useful with port 0).
    /// `quiet`: log only critical errors (the benchmark's own servers).
    public static func run(
        _ service: RewardService, quiet: Bool = false, onListening: @escaping @Sendable (Int) -> Void
    ) async throws {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: Gate(service: service))
        router.get("/health") { _, _ in json(HealthResponse(status: "ok", rules: service.rules.name)) }
        router.get("/v1/ping") { _, _ in text("pong") }
        router.get("/rules") { _, _ in
            json(RulesResponse(rules: service.rules, taskSet: service.taskSetName, tasks: service.tasks.count))
        }
        router.get("/metrics") { _, _ in
            text(
                service.metrics.render(queueDepth: service.queue.depth, queueCapacity: service.queue.capacity),
                contentType: "text/plain; version=0.0.4")
        }
        router.post("/get_reward") { request, _ in
            await scoring(request, service, OpenRLHFRequest.self, resolve: service.batch) {
                OpenRLHFResponse(rules: service.rules, scored: $0)
            }
        }
        router.post("/score") { request, _ in
            await scoring(request, service, ScoreRequest.self, resolve: service.batch) {
                ScoreResponse(rules: service.rules, scored: $0)
            }
        }
        router.post("/run_code") { request, _ in
            await respond(request, service, RunCodeRequest.self) { r in
                if let problem = r.unsupported { return .immediate(json(RunCodeResponse.sandboxError(problem))) }
                return .queued { json(service.runCode(r)) }
            }
        }
        let configuration = ApplicationConfiguration(
            address: .hostname(service.configuration.host, port: service.configuration.port),
            serverName: "grpo-serve")
        let app = Application(
            router: router, configuration: configuration,
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? service.configuration.port) },
            logger: logger(quiet: quiet))
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    static func logger(quiet: Bool) -> Logger {
        var logger = Logger(label: "grpo-serve")
        logger.logLevel = quiet ? .critical : .info
        return logger
    }

    struct HealthResponse: Encodable {
        var status: String
        var rules: String
    }

    /// What a request's body turned into: an answer at once, or work for the queue.
    enum Plan: Sendable {
        case immediate(Response)
        case queued(@Sendable () -> Response)
    }

    /// Reads and decodes the body, then answers as `plan` says (queued work within the deadline).
    static func respond<R: Decodable>(
        _ request: Request, _ service: RewardService, _ type: R.Type, plan: (R) throws -> Plan
    ) async -> Response {
        let deadline = Date().addingTimeInterval(service.configuration.requestSeconds)
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: service.configuration.maxBodyBytes) } catch {
            service.metrics.error("too_large")
            return failure(
                .contentTooLarge,
                "the request body is larger than this server takes (\(service.configuration.maxBodyBytes) bytes)")
        }
        let decided: Plan
        do { decided = try plan(try RequestDecoding.decode(R.self, from: Data(body.readableBytesView))) } catch {
            service.metrics.error("bad_request")
            return failure(.badRequest, (error as? BadRequest)?.message ?? "\(error)")
        }
        switch decided {
        case .immediate(let response): return response
        case .queued(let work):
            switch await service.queue.submit(deadline: deadline, work) {
            case .success(let response): return response
            case .failure(.full):
                service.metrics.error("queue_full")
                var r = failure(
                    .serviceUnavailable,
                    "the queue is full (\(service.queue.capacity) requests queued or running): retry later")
                r.headers[.retryAfter] = String(service.configuration.retryAfterSeconds)
                return r
            case .failure(.deadlinePassed):
                service.metrics.error("deadline")
                return failure(
                    .gatewayTimeout,
                    "the request was not scored within \(service.configuration.requestSeconds) seconds")
            case .failure(.closed):
                service.metrics.error("shutting_down")
                var r = failure(.serviceUnavailable, "the server is shutting down")
                r.headers[.retryAfter] = String(service.configuration.retryAfterSeconds)
                return r
            }
        }
    }

    /// A scoring endpoint: resolve the request, score its batch in the queue, answer with `render`.
    static func scoring<R: Decodable, Out: Encodable>(
        _ request: Request, _ service: RewardService, _ type: R.Type,
        resolve: @escaping (R) throws -> RewardService.Batch,
        render: @escaping @Sendable ([ScoredCompletion]) -> Out
    ) async -> Response {
        await respond(request, service, type) { r in
            let batch = try resolve(r)
            return .queued { json(render(service.score(batch))) }
        }
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else {
            return failure(.internalServerError, "the answer could not be encoded as JSON")
        }
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func text(_ s: String, contentType: String = "text/plain") -> Response {
        Response(
            status: .ok, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(string: s)))
    }

    static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        struct ErrorBody: Encodable { var error: String }
        let data = (try? JSONEncoder().encode(ErrorBody(error: message))) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
