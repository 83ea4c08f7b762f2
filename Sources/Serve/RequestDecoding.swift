// Request bodies decoded into typed requests, and every failure turned into
// one sentence a client can act on (400): which field, what was expected.
//   {"query": "x"}  ->  "field \"query\": expected an array, found a string"

import Foundation
import RewardRules
import Support

/// A request the server will not score, and why (answered 400).
public struct BadRequest: Error, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

public enum RequestDecoding {
    public static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        guard !body.isEmpty else { throw BadRequest("the request has no body: expected a JSON object") }
        do { return try JSONDecoder().decode(T.self, from: body) } catch let e as DecodingError {
            throw BadRequest(sentence(e))
        } catch let e as BadRequest {
            throw e
        } catch { throw BadRequest("the body is not valid JSON: \(error.localizedDescription)") }
    }

    static func sentence(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().drop { $0 == "." }.description
        }
        switch error {
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty { return "the body is not valid JSON" }
            return "field \"\(path(c.codingPath))\": \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "field \"\(path(c.codingPath + [key]))\" is missing"
        case .typeMismatch(let type, let c):
            let field = path(c.codingPath)
            return (field.isEmpty ? "the body" : "field \"\(field)\"") + ": expected \(name(type))"
        case .valueNotFound(let type, let c):
            return "field \"\(path(c.codingPath))\": expected \(name(type)), found null"
        @unknown default: return "the body does not have the expected shape"
        }
    }

    private static func name(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Double.Type, is Int.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let t = "\(type)"
            if t.hasPrefix("Array") { return "an array" }
            if t.hasPrefix("Dictionary") { return "a JSON object" }
            return "a JSON object"
        }
    }

    /// Fails unless every optional list has the length of `count` (named `reference`).
    static func checkLengths(_ reference: String, _ count: Int, _ others: [(String, Int?)]) throws {
        for (name, n) in others {
            if let n, n != count {
                throw BadRequest(
                    "\"\(reference)\" has \(count) items but \"\(name)\" has \(n): they must have the same length")
            }
        }
    }
}

/// A task in a request: a task object, a task id of the loaded task set, or (OpenRLHF's labels,
/// verl's ground truth) a bare answer.
public enum TaskReference: Decodable, Sendable {
    case text(String)
    case object([String: JSONValue])
    case none

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .none
        } else if let s = try? c.decode(String.self) {
            self = .text(s)
        } else if let n = try? c.decode(Double.self) {
            self = .text(JSONValue.number(n).text ?? "\(n)")
        } else if let o = try? c.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.typeMismatch(
                String.self,
                .init(codingPath: c.codingPath, debugDescription: "expected a task object, a task id or an answer"))
        }
    }
}
