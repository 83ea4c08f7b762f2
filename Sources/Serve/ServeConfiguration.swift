// What `grpo serve` listens on and how much it takes at once. A server bound to
// anything but loopback must have a bearer token: a reward service that runs
// programs for whoever asks is a code-execution service.

import Foundation
import Sandbox

public struct ServeConfiguration: Sendable {
    /// The address to bind (loopback by default).
    public var host = "127.0.0.1"
    /// 0: any free port (the server says which once it listens).
    public var port = 8000
    /// Requests must carry it (`Authorization: Bearer T`, or `?token=T` for clients that cannot set
    /// headers); nil: none needed, allowed only on loopback.
    public var token: String?
    /// Trace database: a run per server start, a step per scored request.
    public var databasePath: String?
    /// Requests queued or being scored at once; one more is answered 503 with Retry-After.
    public var queueCapacity = 256
    /// Threads that score requests (each request's completions are scored in parallel too).
    public var workers = 8
    /// A request not answered within this many seconds (queued and scored) gets 504.
    public var requestSeconds = 60.0
    /// The largest request body accepted (413 above it).
    public var maxBodyBytes = 32 << 20
    /// The most completions (or query items) in one request.
    public var maxItems = 4096
    /// `/run_code`: the limits a client may ask for at most (run_timeout, memory_limit_MB).
    public var runCodeLimits = SandboxLimits()
    /// Programs `/run_code` runs at once.
    public var runCodeConcurrency = 8
    /// What a 503 tells the client to wait, in seconds.
    public var retryAfterSeconds = 1

    public init() {}

    /// Whether `host` is a loopback address (reachable only from this machine).
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "[::1]" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Refuses what would be unsafe or meaningless.
    public func validate() throws {
        if !ServeConfiguration.isLoopback(host) && token == nil {
            throw ServeError.tokenRequired(host: host)
        }
        if let token, token.count < 16 {
            throw ServeError.badOption("the token must be at least 16 characters (it has \(token.count))")
        }
        guard (0...65535).contains(port) else { throw ServeError.badOption("--port must be in 0...65535") }
        guard queueCapacity > 0, workers > 0, maxItems > 0, maxBodyBytes > 0, runCodeConcurrency > 0 else {
            throw ServeError.badOption("queue capacity, workers, items, body size and concurrency must be positive")
        }
        guard requestSeconds > 0 else { throw ServeError.badOption("--request-seconds must be positive") }
    }
}

/// Why the server cannot start, or a request cannot be served.
public enum ServeError: Error, CustomStringConvertible, Equatable {
    case tokenRequired(host: String)
    case badOption(String)
    case tokenFile(path: String, message: String)

    public var description: String {
        switch self {
        case .tokenRequired(let host):
            return "refusing to bind \(host) without a token: anyone who can reach it could run programs here; "
                + "pass --token or --token-file (clients send it as \"Authorization: Bearer TOKEN\"), "
                + "or bind 127.0.0.1"
        case .badOption(let m): return m
        case let .tokenFile(path, message): return "\(path): \(message)"
        }
    }

    /// The token in `path`: its first line, without surrounding white space.
    public static func readToken(path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServeError.tokenFile(path: path, message: "cannot read the token file")
        }
        let token =
            String(decoding: data, as: UTF8.self).split(separator: "\n").first
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw ServeError.tokenFile(path: path, message: "the token file is empty") }
        return token
    }
}
