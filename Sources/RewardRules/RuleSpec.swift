// One rule's table from a rule-set file, with typed accessors whose errors name
// the file, line, rule and field. Every parameter a kind reads is marked used;
// a parameter no kind reads is an error (a typo never falls back to a default).

import Foundation
import Support

public final class RuleSpec: @unchecked Sendable {
    public let file: String
    public let name: String
    public let kind: String
    public let line: Int?
    /// Kind-specific parameters (everything but name, kind, weight, requires).
    let parameters: [String: (value: JSONValue, line: Int?)]
    private(set) var used: Set<String> = []

    public init(
        file: String, name: String, kind: String, line: Int? = nil, parameters: [String: (value: JSONValue, line: Int?)]
    ) {
        self.file = file
        self.name = name
        self.kind = kind
        self.line = line
        self.parameters = parameters
    }

    /// An error about `field` of this rule.
    public func error(_ field: String?, _ message: String) -> RewardError {
        .badRuleFile(
            file: file, line: field.flatMap { parameters[$0]?.line } ?? line, rule: name, field: field, message: message
        )
    }

    public func has(_ key: String) -> Bool { parameters[key] != nil }

    private func value(_ key: String) -> JSONValue? {
        used.insert(key)
        guard let v = parameters[key]?.value, v != .null else { return nil }
        return v
    }

    public func string(_ key: String) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.text else { throw error(key, "expected a string") }
        return s
    }

    public func string(_ key: String, default d: String) throws -> String { try string(key) ?? d }

    public func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw error(key, "required") }
        return s
    }

    public func double(_ key: String) throws -> Double? {
        guard let v = value(key) else { return nil }
        if let n = v.number { return n }
        if let s = v.string, let n = Double(s) { return n }
        throw error(key, "expected a number")
    }

    public func double(_ key: String, default d: Double) throws -> Double { try double(key) ?? d }

    public func int(_ key: String, default d: Int) throws -> Int {
        guard let n = try double(key) else { return d }
        guard n == n.rounded(), abs(n) < 1e15 else { throw error(key, "expected a whole number") }
        return Int(n)
    }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let v = value(key) else { return d }
        guard let b = v.bool else { throw error(key, "expected true or false") }
        return b
    }

    /// A list of strings (a single string counts as a one-element list).
    public func strings(_ key: String) throws -> [String]? {
        guard let v = value(key) else { return nil }
        if let s = v.string { return [s] }
        guard case .array(let items) = v else { throw error(key, "expected a list of strings") }
        return try items.map {
            guard let s = $0.text else { throw error(key, "expected a list of strings") }
            return s
        }
    }

    /// One of `choices`.
    public func choice(_ key: String, _ choices: [String], default d: String) throws -> String {
        let s = try string(key, default: d)
        guard choices.contains(s) else {
            throw error(key, "must be one of \(choices.joined(separator: ", ")), not \"\(s)\"")
        }
        return s
    }

    /// Throws for the first parameter no accessor read.
    func checkAllUsed() throws {
        if let extra = parameters.keys.sorted().first(where: { !used.contains($0) }) {
            throw error(extra, "unknown parameter for kind \"\(kind)\"")
        }
    }
}
