// The query string of a viewer request, read strictly: a parameter that is
// given but not what it must be is an error naming it, never a silent default.

import Foundation
import Hummingbird
import Traces

enum ViewerError: Error, CustomStringConvertible {
    case badParameter(String, String)
    case missingPage(String)
    case noChartJS([String])
    /// A benchmark or its browser could not go on.
    case failed(String)

    var description: String {
        switch self {
        case let .badParameter(name, expected): return "parameter \(name): expected \(expected)"
        case .missingPage(let file):
            return "the viewer's page \(file) is missing from its resources (reinstall grpo: make install)"
        case .failed(let message): return message
        case .noChartJS(let paths):
            return "Chart.js not found (looked at \(paths.joined(separator: ", "))): install Debian's libjs-chart.js "
                + "(apt-get install libjs-chart.js, or make deps) or pass --chart-js PATH"
        }
    }
}

struct Query {
    enum Format: String, CaseIterable { case json, csv, jsonl }

    private let parameters: [String: String]
    let format: Format

    init(_ request: Request) throws {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            parameters[String(key)] = String(value)  // Hummingbird has decoded it
        }
        self.parameters = parameters
        let format = parameters["format"] ?? "json"
        guard let known = Format(rawValue: format) else {
            throw ViewerError.badParameter("format", "json, csv or jsonl (not \(format))")
        }
        self.format = known
    }

    /// Whether the answer is to be a table: CSV and JSON lines are.
    var wantsTable: Bool { format != .json }

    func string(_ name: String) throws -> String? {
        guard let value = parameters[name], !value.isEmpty else { return nil }
        return value
    }

    func integer(_ name: String) throws -> Int? {
        guard let text = try string(name) else { return nil }
        guard let value = Int(text) else { throw ViewerError.badParameter(name, "an integer (not \(text))") }
        return value
    }

    func number(_ name: String) throws -> Double? {
        guard let text = try string(name) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw ViewerError.badParameter(name, "a number (not \(text))")
        }
        return value
    }

    func flag(_ name: String) throws -> Bool {
        guard let text = try string(name) else { return false }
        switch text {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw ViewerError.badParameter(name, "true or false (not \(text))")
        }
    }

    /// `limit`, 1 to 1,000 (default 50).
    func limit() throws -> Int {
        let limit = try integer("limit") ?? 50
        guard (1...1000).contains(limit) else { throw ViewerError.badParameter("limit", "1 to 1000 (not \(limit))") }
        return limit
    }

    var steps: StepRange {
        get throws { StepRange(first: try integer("first_step"), last: try integer("last_step")) }
    }
}
