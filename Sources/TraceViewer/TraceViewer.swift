// `grpo traces serve`: a trace database in the browser. One read-only
// connection (TraceReader: SQLite itself refuses a write), WAL mode so a
// training run can go on writing the file while it is read, and loopback by
// default: the traces hold prompts and completions, not for the network.
//
// The pages (Pages/: one HTML file, its script and style, no framework) are a
// client of the JSON endpoints below, which are the documented interface:
//
//   GET /api/runs                              every run (config, rule set, status, progress)
//   GET /api/runs/{run}/curves                 every metric against the step, evaluations as points
//   GET /api/runs/{run}/steps/{step}/groups    a step's groups, widest reward spread first
//   GET /api/groups/{id}                       a group: prompt, completions, every rule's verdict, tokens
//   GET /api/samples/{id}                      one sample the same way, with its prompt
//   GET /api/runs/{run}/lists/{list}           never-solved, format-ok-answer-wrong, highest-reward-wrong,
//                                              flat-groups, samples (the filters of `grpo traces samples`)
//   GET /api/sql?q=SELECT...                   read-only SQL
//
// `{run}` is a run's id or name. Every answer that is a table takes
// `format=json` (default), `csv` or `jsonl`. Errors are JSON {"error": "..."}
// with 400 (bad parameter) or 404 (no such run, group, sample).
//
// Charts are drawn by Chart.js, served from Debian's libjs-chart.js at
// /chart.js (see ChartJS): nothing is fetched from the network.

import Foundation
import Hummingbird
import Logging
import Traces

public final class TraceViewer: Sendable {
    public let reader: TraceReader
    private let chartJS: Data
    private let pages: [String: (content: Data, type: String)]

    /// Opens `database` read-only and reads the pages and Chart.js (from `chartJS`, else the
    /// first of ChartJS.searchPaths that exists).
    public init(database: String, chartJS: String? = nil) throws {
        reader = try TraceReader(path: database)
        self.chartJS = try ChartJS.load(chartJS)
        var pages: [String: (Data, String)] = [:]
        for (file, type) in [
            ("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
        ] {
            guard let url = Bundle.module.url(forResource: file, withExtension: nil, subdirectory: "Pages"),
                let content = try? Data(contentsOf: url)
            else { throw ViewerError.missingPage(file) }
            pages[file] = (content, type)
        }
        self.pages = pages
    }

    /// The server on `host`:`port` (0: any free port); `onRunning` gets the bound port.
    public func application(
        host: String = "127.0.0.1", port: Int = 8080, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        // The command says where it listens; the server's own log says only what goes wrong.
        var logger = Logger(label: "grpo traces serve")
        logger.logLevel = .warning
        return Application(
            router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "grpo traces"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        for (path, file) in [("/", "index.html"), ("/app.js", "app.js"), ("/style.css", "style.css")] {
            let page = pages[file]!
            router.get(RouterPath(path)) { _, _ in Self.response(page.content, type: page.type) }
        }
        let chartJS = chartJS
        router.get("/chart.js") { _, _ in Self.response(chartJS, type: "text/javascript; charset=utf-8") }
        let reader = reader
        router.get("/api/runs") { request, _ in
            try Self.answer(request) {
                try Query(request).wantsTable ? .table(try reader.runs()) : .value(try reader.runSummaries())
            }
        }
        router.get("/api/runs/{run}/curves") { request, context in
            try Self.answer(request) {
                let curves = try reader.curves(run: try reader.resolveRun(context.parameters.get("run")))
                return try Query(request).wantsTable ? .table(curves.table) : .value(curves)
            }
        }
        router.get("/api/runs/{run}/steps/{step}/groups") { request, context in
            try Self.answer(request) {
                let run = try reader.resolveRun(context.parameters.get("run"))
                guard let step = context.parameters.get("step", as: Int.self) else {
                    throw ViewerError.badParameter("step", "an integer")
                }
                return .table(try reader.stepGroups(run: run, step: step))
            }
        }
        router.get("/api/groups/{id}") { request, context in
            try Self.answer(request) {
                guard let id = context.parameters.get("id", as: Int64.self) else {
                    throw ViewerError.badParameter("id", "an integer")
                }
                return .value(try reader.groupView(id))
            }
        }
        router.get("/api/samples/{id}") { request, context in
            try Self.answer(request) {
                guard let id = context.parameters.get("id", as: Int64.self) else {
                    throw ViewerError.badParameter("id", "an integer")
                }
                return .value(try reader.sampleView(id))
            }
        }
        router.get("/api/runs/{run}/lists/{list}") { request, context in
            try Self.answer(request) {
                let run = try reader.resolveRun(context.parameters.get("run"))
                let name = context.parameters.get("list") ?? ""
                guard let list = SampleList(rawValue: name) else {
                    throw ViewerError.badParameter(
                        "list", SampleList.allCases.map(\.rawValue).joined(separator: ", ") + " (not \(name))")
                }
                return .table(try list.table(reader, run: run, query: try Query(request)))
            }
        }
        router.get("/api/sql") { request, _ in
            try Self.answer(request) {
                guard let sql = try Query(request).string("q") else { throw ViewerError.badParameter("q", "a query") }
                return .table(try reader.sql(sql))
            }
        }
        return router
    }

    private enum Answer {
        case table(Table)
        case value(any Encodable)
    }

    /// The answer of `body` in the format the request asks for, or its error as JSON.
    private static func answer(_ request: Request, _ body: () throws -> Answer) throws -> Response {
        do {
            let query = try Query(request)
            switch try body() {
            case .table(let table):
                switch query.format {
                case .csv: return response(Data(table.csv.utf8), type: "text/csv; charset=utf-8")
                case .jsonl: return response(Data(try table.jsonLines().utf8), type: "application/jsonl; charset=utf-8")
                case .json: return response(try encoder.encode(table), type: "application/json")
                }
            case .value(let value):
                return response(try encoder.encode(value), type: "application/json")
            }
        } catch let error as ViewerError {
            return failure(.badRequest, error.description)
        } catch let error as TraceError {
            switch error {
            case .unknownRun, .unknownGroup, .unknownSample, .noDatabase: return failure(.notFound, error.description)
            default: return failure(.badRequest, error.description)
            }
        } catch {
            // SQLite's own errors (a database another program broke, ...): said, not swallowed.
            return failure(.internalServerError, "\(error)")
        }
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    private static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? encoder.encode(["error": message])) ?? Data("{}".utf8)
        return response(body, type: "application/json", status: status)
    }

    private static func response(_ body: Data, type: String, status: HTTPResponse.Status = .ok) -> Response {
        // Answers change as a run writes: never cached.
        Response(
            status: status, headers: [.contentType: type, .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}
