// The viewer on a free loopback port inside this process, and a blocking GET
// with a deadline: what the tests and `grpo bench viewer` talk to.

import Foundation
import Logging
import ServiceLifecycle

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public final class LoopbackServer: @unchecked Sendable {
    private var task: Task<Void, Error>?
    private var group: ServiceGroup?
    private let lock = NSLock()
    private var bound: Int?

    /// Starts `viewer` on 127.0.0.1, any free port; returns once it listens (or throws after 30 s).
    public init(_ viewer: TraceViewer) throws {
        let app = viewer.application(host: "127.0.0.1", port: 0) { [self] port in lock.withLock { bound = port } }
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "viewer")))
        self.group = group
        task = Task { try await group.run() }
        let deadline = Date().addingTimeInterval(30)
        while lock.withLock({ bound }) == nil {
            guard Date() < deadline else {
                task?.cancel()
                throw ViewerError.failed("the viewer did not listen within 30 s")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    public var port: Int { lock.withLock { bound ?? 0 } }

    /// Shuts the server down gracefully (open requests are answered) and waits for it, at most 30 s.
    public func stop() {
        let done = DispatchSemaphore(value: 0)
        let (group, task) = (group, task)
        Task {
            await group?.triggerGracefulShutdown()
            _ = await task?.result
            done.signal()
        }
        _ = done.wait(timeout: .now() + 30)
    }

    /// GET `path`: status, content type and body, or an error past `seconds`.
    public func get(_ path: String, seconds: TimeInterval = 60) throws -> (status: Int, type: String, body: Data) {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else {
            throw ViewerError.badParameter("path", "a URL path (not \(path))")
        }
        var request = URLRequest(url: url)
        request.timeoutInterval = seconds
        let done = DispatchSemaphore(value: 0)
        let answer = Answer()
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                answer.result = .failure(error)
            } else if let http = response as? HTTPURLResponse {
                answer.result = .success(
                    (http.statusCode, http.value(forHTTPHeaderField: "Content-Type") ?? "", data ?? Data()))
            }
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + seconds + 5) == .success else {
            throw ViewerError.failed("GET \(path): no answer within \(Int(seconds)) s")
        }
        return try answer.result.get()
    }

    /// Written by the session's thread before it signals, read after the wait.
    private final class Answer: @unchecked Sendable {
        var result: Result<(status: Int, type: String, body: Data), Error> = .failure(ViewerError.failed("no answer"))
    }
}
