// The types an option of `grpo sft`, `grpo train` and `grpo eval` may have, each
// read the same way from a YAML file's value and from a flag's text, and shown
// the same way in `--help` and the README's tables. A value of the wrong type is
// refused with what the key expects and what was found, never a decoder's words.

import Foundation
import Yams

/// What a value was, for an error ("expected a number, found \"abc\"").
public struct OptionValueError: Error, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }

    /// `expected <what the type takes>, found <the value as the user wrote it>`.
    static func mismatch<V: OptionValue>(_ type: V.Type, _ node: Node) -> OptionValueError {
        OptionValueError("expected \(V.expected), found \(describe(node))")
    }

    /// A YAML value as the user wrote it.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return "\"\(s.string.prefix(60))\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

public protocol OptionValue: Codable, Sendable {
    /// What a value must be, in words, for errors.
    static var expected: String { get }
    /// What stands for the value in `--help` (`NUMBER`, `a|b`).
    static var placeholder: String { get }
    /// A flag's text is taken as it is (true) or read as YAML (false: lists and mappings).
    static var isPlainText: Bool { get }
    /// Whether the flag may be given without a value (`--json` for `--json true`).
    static var isSwitch: Bool { get }
    static func parse(_ node: Node) throws -> Self
    /// The value as a user writes it (defaults in `--help`).
    var optionText: String { get }
    /// An optional without a value.
    var isAbsent: Bool { get }
}

extension OptionValue {
    public static var isPlainText: Bool { false }
    public static var isSwitch: Bool { false }
    public var isAbsent: Bool { false }
    /// The scalar's text, or a mismatch.
    static func text(_ node: Node) throws -> String {
        guard let s = node.scalar?.string else { throw OptionValueError.mismatch(Self.self, node) }
        return s
    }
}

extension Int: OptionValue {
    public static var expected: String { "a whole number (within \(Int.min)...\(Int.max))" }
    public static var placeholder: String { "INT" }
    public static func parse(_ node: Node) throws -> Int {
        guard let v = Int(try text(node)) else { throw OptionValueError.mismatch(Self.self, node) }
        return v
    }
    public var optionText: String { String(self) }
}

extension UInt64: OptionValue {
    public static var expected: String { "a whole number (within 0...\(UInt64.max))" }
    public static var placeholder: String { "INT" }
    public static func parse(_ node: Node) throws -> UInt64 {
        guard let v = UInt64(try text(node)) else { throw OptionValueError.mismatch(Self.self, node) }
        return v
    }
    public var optionText: String { String(self) }
}

/// YAML's spellings of the special numbers (`.nan`, `.inf`, `-.inf`) and Swift's; NaN and
/// infinities are read so the config's checks can refuse them by name.
private func realNumber(_ text: String) -> Double? {
    switch text.lowercased() {
    case ".nan": return .nan
    case ".inf", "+.inf": return .infinity
    case "-.inf": return -.infinity
    default: return Double(text)
    }
}

extension Float: OptionValue {
    public static var expected: String { "a number" }
    public static var placeholder: String { "NUMBER" }
    public static func parse(_ node: Node) throws -> Float {
        guard let v = realNumber(try text(node)) else { throw OptionValueError.mismatch(Self.self, node) }
        return Float(v)
    }
    public var optionText: String { "\(self)" }
}

extension Double: OptionValue {
    public static var expected: String { "a number" }
    public static var placeholder: String { "NUMBER" }
    public static func parse(_ node: Node) throws -> Double {
        guard let v = realNumber(try text(node)) else { throw OptionValueError.mismatch(Self.self, node) }
        return v
    }
    public var optionText: String { "\(self)" }
}

extension Bool: OptionValue {
    public static var expected: String { "true or false" }
    public static var placeholder: String { "[BOOL]" }
    public static var isSwitch: Bool { true }
    public static func parse(_ node: Node) throws -> Bool {
        switch try text(node).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw OptionValueError.mismatch(Self.self, node)
        }
    }
    public var optionText: String { self ? "true" : "false" }
}

extension String: OptionValue {
    public static var expected: String { "text" }
    public static var placeholder: String { "TEXT" }
    public static var isPlainText: Bool { true }
    public static func parse(_ node: Node) throws -> String { try text(node) }
    public var optionText: String { self }
}

/// An option whose values are a fixed list of names: errors and `--help` list them.
public protocol OptionChoice: OptionValue, RawRepresentable<String>, CaseIterable {}

extension OptionChoice {
    public static var expected: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
    public static var placeholder: String { allCases.map(\.rawValue).joined(separator: "|") }
    public static func parse(_ node: Node) throws -> Self {
        let given = try text(node)
        guard let v = Self(rawValue: given) else {
            throw OptionValueError("\"\(given.prefix(60))\" is not \(expected)")
        }
        return v
    }
    public var optionText: String { rawValue }
}

/// Absent by default; YAML's null (`~`, `null`) leaves it absent.
extension Optional: OptionValue where Wrapped: OptionValue {
    public static var expected: String { Wrapped.expected }
    public static var placeholder: String { Wrapped.placeholder }
    public static var isPlainText: Bool { Wrapped.isPlainText }
    public static var isSwitch: Bool { Wrapped.isSwitch }
    public static func parse(_ node: Node) throws -> Wrapped? {
        if node.null != nil { return nil }
        return try Wrapped.parse(node)
    }
    public var optionText: String { map(\.optionText) ?? "none" }
    public var isAbsent: Bool { self == nil }
}
