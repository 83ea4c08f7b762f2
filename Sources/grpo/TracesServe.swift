import ArgumentParser
import Foundation
import TraceViewer
import Traces

extension TracesCommand {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The trace database in a browser: runs, curves, groups side by side, lists (read-only).",
            discussion: """
                Serves http://HOST:PORT/ until interrupted (Ctrl-C). The database is opened read-only and may be \
                one a training run is writing: the pages show its steps as they land. The JSON endpoints the \
                pages read are listed in the README (Trace viewer).
                """)
        @Option(help: "Trace database (default: the most recently written *.sqlite under runs/).") var db: String?
        @Option(help: "Address to listen on; anything but loopback shares prompts and completions.")
        var host = "127.0.0.1"
        @Option(help: "Port (0: any free one; the address is printed).") var port = 8080
        @Option(name: .customLong("chart-js"), help: "Chart.js file (default: Debian's libjs-chart.js).")
        var chartJS: String?

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port)") }
        }

        func run() throws {
            let path = try db ?? TraceReader.latest()
            let viewer = try TraceViewer(database: path, chartJS: chartJS)
            let loopback = ["127.0.0.1", "::1", "localhost"].contains(host)
            let app = viewer.application(host: host, port: port) { bound in
                let shown = host.contains(":") ? "[\(host)]" : host
                print("trace viewer: http://\(shown):\(bound)/ (\(path), read-only); Ctrl-C stops it")
                if !loopback { print("warning: listening on \(host): reachable from other machines") }
                fflush(stdout)
            }
            try runBlocking { try await app.runService() }
        }
    }
}

/// Runs `body` to its end on the concurrency pool while this (synchronous) command waits.
private func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    let failure = LockedError()
    Task {
        do { try await body() } catch { failure.set(error) }
        done.signal()
    }
    done.wait()
    if let error = failure.error { throw error }
}

private final class LockedError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var error: Error? { lock.withLock { stored } }
    func set(_ error: Error) { lock.withLock { stored = error } }
}
