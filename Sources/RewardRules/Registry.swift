// Rule kinds by name. Built-in kinds register themselves; a program adds its own:
//
//   RuleRegistry.shared.register(RuleKind(
//       name: "min_length", summary: "1 when the completion has at least `min` characters",
//       parameters: ["min": "characters (default 10)"]) { spec in
//       let min = try spec.int("min", default: 10)
//       return ClosureRule(name: spec.name) { completion, _ in
//           let long = completion.count >= min
//           return RuleScore(score: long ? 1 : 0, reason: long ? "long_enough" : "too_short")
//       }
//   })
//
// after which rule files may say `kind: min_length`.

import Foundation

public struct RuleKind: Sendable {
    public let name: String
    public let summary: String
    /// Parameter name -> one-line description (for `grpo rewards list`).
    public let parameters: [String: String]
    public let make: @Sendable (RuleSpec) throws -> any RewardRule

    public init(
        name: String, summary: String, parameters: [String: String] = [:],
        make: @escaping @Sendable (RuleSpec) throws -> any RewardRule
    ) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.make = make
    }
}

public final class RuleRegistry: @unchecked Sendable {
    public static let shared = RuleRegistry(builtIn: true)
    private var kinds: [String: RuleKind] = [:]
    private let lock = NSLock()

    public init(builtIn: Bool = false) {
        if builtIn { for k in BuiltInKinds.all { kinds[k.name] = k } }
    }

    /// Adds (or replaces) a kind.
    public func register(_ kind: RuleKind) {
        lock.lock()
        defer { lock.unlock() }
        kinds[kind.name] = kind
    }

    public func kind(named name: String) -> RuleKind? {
        lock.lock()
        defer { lock.unlock() }
        return kinds[name]
    }

    public var all: [RuleKind] {
        lock.lock()
        defer { lock.unlock() }
        return kinds.values.sorted { $0.name < $1.name }
    }

    /// Builds a rule from its spec, rejecting parameters the kind did not read.
    public func make(_ spec: RuleSpec) throws -> any RewardRule {
        guard let kind = kind(named: spec.kind) else {
            throw spec.error(
                "kind", "unknown kind \"\(spec.kind)\" (known: \(all.map(\.name).joined(separator: ", ")))")
        }
        let rule = try kind.make(spec)
        try spec.checkAllUsed()
        return rule
    }
}

/// A rule from a closure: the simplest way to add a kind in code.
public struct ClosureRule: RewardRule {
    public let name: String
    let body: @Sendable (String, RewardTask) -> RuleScore?
    public init(name: String, _ body: @escaping @Sendable (String, RewardTask) -> RuleScore?) {
        self.name = name
        self.body = body
    }
    public func score(completion: String, task: RewardTask) -> RuleScore? { body(completion, task) }
}
