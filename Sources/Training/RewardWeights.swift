// reward_weights: TRL's per-reward-function weights, here per rule. A list gives
// a weight to every rule in the rule set's order (TRL's form); a mapping
// (`answer: 1, format: 0.5`, or `answer=1,format=0.5` as a flag) replaces the
// weights of the rules it names and keeps the others.

import Foundation
import Policy
import RewardRules
import Yams
import Support

public enum RewardWeights: OptionValue, Equatable {
    case inOrder([Double])
    case byName([String: Double])

    public static var expected: String { "a list of numbers, one a rule, or rule: weight pairs" }
    public static var placeholder: String { "W1,W2|RULE=W,..." }

    public var values: [Double] {
        switch self {
        case .inOrder(let w): return w
        case .byName(let w): return w.keys.sorted().map { w[$0]! }
        }
    }

    public static func parse(_ node: Node) throws -> RewardWeights {
        func number(_ n: Node) throws -> Double {
            guard let text = n.scalar?.string, let v = Double(text) else {
                throw OptionValueError.mismatch(Self.self, n)
            }
            return v
        }
        switch node {
        case .sequence(let items):
            return .inOrder(try items.map(number))
        case .mapping(let pairs):
            var out: [String: Double] = [:]
            for (k, v) in pairs {
                guard let name = k.string else { throw OptionValueError.mismatch(Self.self, node) }
                out[name] = try number(v)
            }
            return .byName(out)
        case .scalar(let s):
            // The flag's form: `1,0.5` or `answer=1,format=0.5`.
            let parts = s.string.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.allSatisfy({ $0.contains("=") }) {
                var out: [String: Double] = [:]
                for part in parts {
                    let side = part.split(separator: "=", maxSplits: 1).map(String.init)
                    guard side.count == 2, let v = Double(side[1]) else {
                        throw OptionValueError.mismatch(Self.self, node)
                    }
                    out[side[0]] = v
                }
                return .byName(out)
            }
            guard !parts.isEmpty else { throw OptionValueError.mismatch(Self.self, node) }
            return .inOrder(try parts.map { try number(Node($0)) })
        case .alias:
            throw OptionValueError.mismatch(Self.self, node)
        }
    }

    public var optionText: String {
        switch self {
        case .inOrder(let w): return w.map { "\($0)" }.joined(separator: ",")
        case .byName(let w): return w.keys.sorted().map { "\($0)=\(w[$0]!)" }.joined(separator: ",")
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let list = try? c.decode([Double].self) {
            self = .inOrder(list)
        } else {
            self = .byName(try c.decode([String: Double].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .inOrder(let w): try c.encode(w)
        case .byName(let w): try c.encode(w)
        }
    }

    /// `rules` with these weights; a rule named that is not in the set, or a list of another
    /// length, is refused naming the set's rules.
    public func applied(to rules: RuleSet, file: String) throws -> RuleSet {
        let names = rules.entries.map(\.name)
        func fail(_ m: String) -> ConfigError {
            ConfigError(
                file: file, key: "reward_weights",
                message: m + " (rule set \(rules.name): "
                    + names.joined(separator: ", ") + ")")
        }
        switch self {
        case .inOrder(let w):
            guard w.count == names.count else { throw fail("\(w.count) weights for \(names.count) rules") }
            return rules.reweighted(w)
        case .byName(let w):
            if let unknown = w.keys.sorted().first(where: { !names.contains($0) }) {
                throw fail("no rule \"\(unknown)\"")
            }
            return rules.reweighted(rules.entries.map { w[$0.name] ?? $0.weight })
        }
    }
}
