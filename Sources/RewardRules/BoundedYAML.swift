// YAML for files a user hands us (rule sets, task manifests, GRPO configs),
// parsed with a bound on its size once aliases are expanded. An anchor can be
// repeated by aliases, those by further aliases: ten lines of "billion
// laughs" stand for a billion nodes, and whoever walks the document (turning
// it into values, decoding it) walks every one, growing by gigabytes. Yams
// shares the aliased nodes when composing, so composing is cheap; the walk
// here counts the nodes as they would be expanded and stops at the bound.

import Foundation
import Yams

public enum BoundedYAML {
    /// Nodes a document may hold with its aliases expanded: far more than any config holds.
    public static let maxNodes = 100_000

    public struct TooLarge: Error, CustomStringConvertible {
        public var description: String {
            "the document holds more than \(BoundedYAML.maxNodes) values once its aliases are expanded "
                + "(an alias bomb?); refusing it"
        }
    }

    /// The document's root node, nil for an empty document. Throws YamlError for invalid
    /// YAML and TooLarge past `maxNodes`.
    public static func compose(_ text: String) throws -> Node? {
        guard let root = try Yams.compose(yaml: text) else { return nil }
        var budget = maxNodes
        try count(root, &budget)
        return root
    }

    private static func count(_ node: Node, _ budget: inout Int) throws {
        budget -= 1
        guard budget >= 0 else { throw TooLarge() }
        switch node {
        case .mapping(let pairs):
            for (key, value) in pairs {
                try count(key, &budget)
                try count(value, &budget)
            }
        case .sequence(let items):
            for item in items { try count(item, &budget) }
        case .scalar, .alias:
            break
        }
    }
}
