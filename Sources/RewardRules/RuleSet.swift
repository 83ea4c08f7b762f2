// A rule set: rules from one YAML file, combined as
//   reward = sum over applicable rules of weight x score
// where a rule with `requires: other` counts only when `other` scored 1, and a
// rule with `applies_to: [math]` is skipped for tasks of other kinds. A
// completion for which no rule applies has no reward (nil): the trainer gives
// it advantage 0.
//
// A rule with `weight: 0` is a diagnostic: it is scored and recorded like any
// other (traces, per-rule pass rates, plots) but never touches the reward, so
// it shows what the policy does without teaching it anything. It does not even
// turn a missing reward into 0, and accuracy does not count it.
//
//   name: math
//   description: Format and answer for math tasks.
//   rules:
//     - name: format
//       kind: regex
//       weight: 0.2
//       pattern: '^<think>.*?</think>\s*<answer>.*?</answer>$'
//       flags: [dotall]
//     - name: answer
//       kind: math
//       weight: 1.0

import Foundation
import Support
import Yams

public struct RuleSet: Sendable {
    public struct Entry: Sendable {
        public let rule: any RewardRule
        public let kind: String
        public let weight: Double
        public let requires: String?
        public let appliesTo: Set<String>?
        public var name: String { rule.name }
        /// Weight 0: scored and recorded, never part of the reward.
        public var isDiagnostic: Bool { weight == 0 }

        public init(
            rule: any RewardRule, kind: String, weight: Double = 1, requires: String? = nil,
            appliesTo: Set<String>? = nil
        ) {
            self.rule = rule
            self.kind = kind
            self.weight = weight
            self.requires = requires
            self.appliesTo = appliesTo
        }
    }

    public let name: String
    public let description: String
    /// The file it was read from, and its full text (traces record it).
    public let file: String
    public let text: String
    public let entries: [Entry]

    public init(name: String, description: String = "", file: String = "<code>", text: String = "", entries: [Entry]) {
        self.name = name
        self.description = description
        self.file = file
        self.text = text
        self.entries = entries
    }

    /// The same rules with other weights, one a rule in order (reward_weights).
    public func reweighted(_ weights: [Double]) -> RuleSet {
        precondition(weights.count == entries.count, "one weight a rule")
        let changed = zip(entries, weights).map { e, w in
            Entry(rule: e.rule, kind: e.kind, weight: w, requires: e.requires, appliesTo: e.appliesTo)
        }
        return RuleSet(name: name, description: description, file: file, text: text, entries: changed)
    }

    /// A file path, or a rule-set name (`math`) found as NAME.yaml in the search folders
    /// (SetFolders: ./Rewards, $GRPO_HOME/Rewards, the install's). `directory`: the current
    /// folder (default: the process's); `folders`: the search (default: SetFolders.search).
    public static func resolve(
        _ nameOrPath: String, relativeTo directory: String? = nil,
        folders: [SetFolder]? = nil
    ) throws -> String {
        let base = directory ?? FileManager.default.currentDirectoryPath
        let path = nameOrPath.hasPrefix("/") ? nameOrPath : (base as NSString).appendingPathComponent(nameOrPath)
        if FileManager.default.fileExists(atPath: path) { return path }
        // "x/y" and "x.yaml" are paths; only a bare name is looked up.
        let isName = !nameOrPath.contains("/") && !nameOrPath.hasSuffix(".yaml") && !nameOrPath.hasSuffix(".yml")
        guard isName else { throw RewardError.missingFile(path) }
        let searched = folders ?? SetFolders.search("Rewards", currentDirectory: base)
        for folder in searched {
            for ext in ["yaml", "yml"] {
                let candidate = (folder.path as NSString).appendingPathComponent("\(nameOrPath).\(ext)")
                if FileManager.default.fileExists(atPath: candidate) { return candidate }
            }
        }
        throw RewardError.noRuleSet(name: nameOrPath, searched: SetFolders.describe(searched))
    }

    public static func load(
        _ nameOrPath: String, registry: RuleRegistry = .shared, relativeTo directory: String? = nil,
        folders: [SetFolder]? = nil
    ) throws -> RuleSet {
        let path = try resolve(nameOrPath, relativeTo: directory, folders: folders)
        guard let data = FileManager.default.contents(atPath: path) else { throw RewardError.missingFile(path) }
        let text = String(decoding: data, as: UTF8.self)
        return try parse(text, file: path, registry: registry)
    }

    /// Every rule-set file (NAME.yaml) in the search folders, in lookup order.
    public static func available(folders: [SetFolder] = SetFolders.search("Rewards")) -> [FoundSet] {
        SetFolders.list(folders) { folder, item in
            guard let ext = ["yaml", "yml"].first(where: { item.hasSuffix(".\($0)") }) else { return nil }
            return (String(item.dropLast(ext.count + 1)), (folder as NSString).appendingPathComponent(item))
        }
    }

    public static func parse(_ text: String, file: String, registry: RuleRegistry = .shared) throws -> RuleSet {
        func fail(_ line: Int?, _ rule: String?, _ field: String?, _ message: String) -> RewardError {
            .badRuleFile(file: file, line: line, rule: rule, field: field, message: message)
        }
        let root: Node
        do {
            guard let node = try BoundedYAML.compose(text) else { throw fail(nil, nil, nil, "empty rule file") }
            root = node
        } catch let e as YamlError {
            throw fail(nil, nil, nil, "not valid YAML: \(e)")
        } catch let e as BoundedYAML.TooLarge {
            throw fail(nil, nil, nil, e.description)
        }
        guard let top = root.mapping else { throw fail(line(root), nil, nil, "expected a mapping with name and rules") }
        for (k, _) in top where !["name", "description", "rules"].contains(k.string ?? "") {
            throw fail(line(k), nil, k.string, "unknown key (expected name, description, rules)")
        }
        let setName = top["name"]?.string ?? ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        guard let rulesNode = top["rules"] else {
            throw fail(nil, nil, "rules", "missing: a rule set needs a list of rules")
        }
        guard let list = rulesNode.sequence, !list.isEmpty else {
            throw fail(line(rulesNode), nil, "rules", "expected a non-empty list of rules")
        }

        var entries: [Entry] = []
        for (index, item) in list.enumerated() {
            guard let map = item.mapping else {
                throw fail(line(item), "#\(index + 1)", nil, "expected a mapping (name, kind, weight, ...)")
            }
            var fields: [String: (value: JSONValue, line: Int?)] = [:]
            for (k, v) in map {
                guard let key = k.string else { throw fail(line(k), "#\(index + 1)", nil, "keys must be strings") }
                fields[key] = (json(v), line(v))
            }
            guard let ruleName = fields["name"]?.value.text, !ruleName.isEmpty else {
                throw fail(line(item), "#\(index + 1)", "name", "required")
            }
            guard !entries.contains(where: { $0.name == ruleName }) else {
                throw fail(fields["name"]?.line, ruleName, "name", "duplicate rule name")
            }
            guard let kind = fields["kind"]?.value.text else { throw fail(line(item), ruleName, "kind", "required") }
            var weight = 1.0
            if let w = fields["weight"] {
                guard let n = w.value.number, n.isFinite else {
                    throw fail(w.line, ruleName, "weight", "expected a number")
                }
                weight = n
            }
            var appliesTo: Set<String>?
            if let a = fields["applies_to"] {
                switch a.value {
                case .string(let s): appliesTo = [s]
                case .array(let items) where items.allSatisfy({ $0.string != nil }):
                    appliesTo = Set(items.compactMap(\.string))
                default: throw fail(a.line, ruleName, "applies_to", "expected a task kind or a list of them")
                }
                // A typo ("maths") would make the rule silently never apply.
                if let unknown = appliesTo?.sorted().first(where: { !RewardTask.kinds.contains($0) }) {
                    let kinds = RewardTask.kinds.joined(separator: ", ")
                    throw fail(
                        a.line, ruleName, "applies_to",
                        "unknown task kind \"\(unknown)\" (task kinds: \(kinds))")
                }
            }
            let requires = fields["requires"]?.value.text
            var parameters = fields
            for k in ["name", "kind", "weight", "requires", "applies_to"] { parameters[k] = nil }
            let spec = RuleSpec(file: file, name: ruleName, kind: kind, line: line(item), parameters: parameters)
            let rule = try registry.make(spec)
            entries.append(Entry(rule: rule, kind: kind, weight: weight, requires: requires, appliesTo: appliesTo))
        }
        for e in entries {
            if let r = e.requires {
                guard r != e.name else { throw fail(nil, e.name, "requires", "a rule cannot require itself") }
                guard entries.contains(where: { $0.name == r }) else {
                    throw fail(nil, e.name, "requires", "no rule named \"\(r)\" in this set")
                }
            }
        }
        return RuleSet(
            name: setName, description: top["description"]?.string ?? "", file: file, text: text, entries: entries)
    }

    private static func line(_ node: Node) -> Int? { node.mark.map { $0.line } }

    private static func json(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if s.string == "null" || s.string == "~" || s.string.isEmpty { return .null }
                if let b = Bool.construct(from: s) { return .bool(b) }
                if let i = Int.construct(from: s) { return .number(Double(i)) }
                if let d = Double.construct(from: s) { return .number(d) }
            }
            return .string(s.string)
        case .sequence(let seq): return .array(seq.map(json))
        case .mapping(let map):
            var o: [String: JSONValue] = [:]
            for (k, v) in map { o[k.string ?? ""] = json(v) }
            return .object(o)
        case .alias: return .null
        }
    }
}

/// Every rule's verdict on one completion, and the weighted total.
public struct ScoredCompletion: Sendable {
    public struct RuleResult: Sendable {
        public let name: String
        /// nil: the rule does not apply to this task.
        public let score: RuleScore?
        /// Whether it entered the total (applies, is no diagnostic, and its `requires` rule scored 1).
        public let counted: Bool
    }
    /// nil when no rule applies.
    public let reward: Double?
    public let rules: [RuleResult]

    public func score(of rule: String) -> RuleScore? { rules.first { $0.name == rule }?.score }
}

extension RuleSet {
    /// `length`: what the sampler knows of the completion's length (the `length` kind reads it).
    public func score(
        completion: String, task: RewardTask,
        length: CompletionLength = CompletionLength()
    ) -> ScoredCompletion {
        var results: [ScoredCompletion.RuleResult] = []
        var byName: [String: RuleScore] = [:]
        for e in entries {
            let s: RuleScore?
            if let kinds = e.appliesTo, !kinds.contains(task.kind ?? "") {
                s = nil
            } else {
                s = e.rule.score(completion: completion, length: length, task: task)
            }
            if let s { byName[e.name] = s }
            results.append(.init(name: e.name, score: s, counted: false))
        }
        var total = 0.0
        var any = false
        for (i, e) in entries.enumerated() {
            // A diagnostic that applies must not turn "no reward" into a reward of 0: that
            // would change the advantages of a group the other rules do not judge.
            guard let s = results[i].score, !e.isDiagnostic else { continue }
            any = true
            // A gated rule counts only when the rule it requires scored 1.
            if let r = e.requires, !(byName[r]?.isFullMarks ?? false) { continue }
            total += e.weight * s.score
            results[i] = .init(name: e.name, score: s, counted: true)
        }
        return ScoredCompletion(reward: any ? total : nil, rules: results)
    }

    /// Scores a batch on all cores; each completion independently. `lengths`: one per completion, or nil.
    public func score(
        _ batch: [(completion: String, task: RewardTask)],
        lengths: [CompletionLength]? = nil
    ) -> [ScoredCompletion] {
        var out = [ScoredCompletion?](repeating: nil, count: batch.count)
        out.withUnsafeMutableBufferPointer { buf in
            DispatchQueue.concurrentPerform(iterations: batch.count) { i in
                let length = lengths?[i] ?? CompletionLength()
                buf[i] = score(completion: batch[i].completion, task: batch[i].task, length: length)
            }
        }
        return out.map { $0! }
    }
}

extension RuleSet {
    /// SHA-256 of the rule file's text (what `sha256sum` prints for the file).
    public var contentHash: String { SHA256.hex(text.utf8) }
}
