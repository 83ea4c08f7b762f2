// The benchmark's HTTP clients: URLSession (Foundation's, over libcurl on
// Linux) posting JSON to a server on loopback, each answer timed.

import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

final class LoadClient: @unchecked Sendable {
    private let session: URLSession
    private let base: String
    private let token: String?

    init(base: String, token: String?, connections: Int) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = connections
        configuration.timeoutIntervalForRequest = 120
        session = URLSession(configuration: configuration)
        self.base = base
        self.token = token
    }

    struct Answer: Sendable {
        var status: Int
        var body: Data
        var seconds: Double
    }

    /// POSTs `body` to `path`; the status (0 when no answer came) and body.
    func post(_ path: String, _ body: Data) async -> Answer {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let start = Date()
        return await withCheckedContinuation { continuation in
            session.dataTask(with: request) { data, response, _ in
                continuation.resume(
                    returning: Answer(
                        status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data ?? Data(),
                        seconds: Date().timeIntervalSince(start)))
            }.resume()
        }
    }

    func close() { session.finishTasksAndInvalidate() }
}
