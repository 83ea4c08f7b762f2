// The rule model. A rule reads a completion and its task and returns a score
// with a short reason, or nil when it does not apply (a code rule on a math
// task): a rule that does not apply is left out of the weighted sum.
//
//   let rule = RegexRule(...)                  // kind "regex"
//   rule.score(completion: "<think>..</think><answer>4</answer>", task: t)
//     -> RuleScore(score: 1, reason: "format_ok")

import Foundation
import Support

/// A task as the task-set format describes it (math: prompt + answer; code:
/// prompt + tests + entry point). Unknown fields are kept in `extra`.
public struct RewardTask: Sendable, Equatable {
    public var id: String?
    /// "math" or "code" (or anything a plugin understands).
    public var kind: String?
    public var prompt: String?
    public var answer: String?
    public var tests: String?
    public var entryPoint: String?
    /// True when the whole completion is the program (no fenced block expected).
    public var rawCompletion: Bool
    /// Relative tolerance for numeric answers, exact golds included (the task set's
    /// `numeric_tolerance`); nil: exact golds need exact answers.
    public var numericTolerance: Double?
    /// The task set accepts checks that only the program's own interpreter can run (forgeable;
    /// a task set declares it with `in_process_checks: true`).
    public var allowsInProcessChecks: Bool
    /// The task as it was read, for plugins (a JSON object).
    public var json: [String: JSONValue]

    public init(
        id: String? = nil, kind: String? = nil, prompt: String? = nil, answer: String? = nil,
        tests: String? = nil, entryPoint: String? = nil, rawCompletion: Bool = false,
        numericTolerance: Double? = nil, allowsInProcessChecks: Bool = false,
        json: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.kind = kind
        self.prompt = prompt
        self.answer = answer
        self.tests = tests
        self.entryPoint = entryPoint
        self.rawCompletion = rawCompletion
        self.numericTolerance = numericTolerance
        self.allowsInProcessChecks = allowsInProcessChecks
        self.json = json
    }
}

extension RewardTask {
    /// The kinds a task set may declare (its manifest's `kind`), which `applies_to` names.
    public static let kinds = ["math", "code"]
}

/// A rule's verdict on one completion.
public struct RuleScore: Sendable, Equatable, Codable {
    public var score: Double
    /// Short and machine-readable: "format_ok", "no_answer", "wrong_answer", "timeout", ...
    public var reason: String
    /// Optional human-readable detail (the extracted answer, the failing assertion, ...).
    public var detail: String?
    /// The rule could not judge (a plugin that crashed, timed out or gave no reply): the score
    /// is a stand-in 0, not a verdict, and `detail` says what went wrong (RuleErrors counts these).
    public var isError: Bool

    public init(score: Double, reason: String, detail: String? = nil, isError: Bool = false) {
        self.score = score
        self.reason = reason
        self.detail = detail
        self.isError = isError
    }

    enum CodingKeys: String, CodingKey { case score, reason, detail, isError = "is_error" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        score = try c.decode(Double.self, forKey: .score)
        reason = try c.decode(String.self, forKey: .reason)
        detail = try c.decodeIfPresent(String.self, forKey: .detail)
        isError = try c.decodeIfPresent(Bool.self, forKey: .isError) ?? false
    }

    /// A score of 1, allowing for rounding in scores summed from parts (partial credit):
    /// what passes a rule, satisfies a `requires` gate and counts as a correct answer.
    public var isFullMarks: Bool { score >= PassThreshold.fullMarks }
}

/// A reward rule. Implementations must be safe to call from several threads at once.
public protocol RewardRule: Sendable {
    /// The rule's name in its rule set (unique there).
    var name: String { get }
    /// nil: the rule does not apply to this task.
    func score(completion: String, task: RewardTask) -> RuleScore?
    /// The same, knowing what the sampler knows of the completion's length (rules that measure
    /// length use it). Default: `score(completion:task:)`.
    func score(completion: String, length: CompletionLength, task: RewardTask) -> RuleScore?
    /// Why a completion written after `leadIn` (the text a prompt template puts after the
    /// prompt, such as "<think>") can hardly satisfy this rule, or nil. The trainer warns
    /// with it before the first step. Default: nil.
    func leadInConflict(_ leadIn: String) -> String?
    /// Why this rule can no longer score (a plugin that fails every request), or nil. Whoever
    /// scores stops with it as the error rather than record the rule's zeros as real scores.
    /// Default: nil.
    func failureReason() -> String?
}

extension RewardRule {
    public func leadInConflict(_ leadIn: String) -> String? { nil }
    public func failureReason() -> String? { nil }
    public func score(completion: String, length: CompletionLength, task: RewardTask) -> RuleScore? {
        score(completion: completion, task: task)
    }
}

/// Errors loading or running rule sets: each names the file, rule and field.
public enum RewardError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    /// A rule-set name found in none of the search folders (`searched` lists them).
    case noRuleSet(name: String, searched: String)
    case badRuleFile(file: String, line: Int?, rule: String?, field: String?, message: String)
    case badInput(file: String, line: Int, field: String?, message: String)
    case plugin(rule: String, message: String)
    /// A rule that can no longer score (see `RewardRule.failureReason`).
    case broken(rule: String, file: String, message: String)
    /// A rule whose scores in one batch were errors on more than `maxShare` of its samples
    /// (RuleErrors); `first`: the first error's message.
    case erring(rule: String, file: String, errors: Int, scored: Int, maxShare: Double, first: String)
    /// The answer rule named does not exist, or none was named and the guess is ambiguous.
    case answerRule(file: String, message: String)

    public var description: String {
        switch self {
        case .missingFile(let p): return "\(p): no such file"
        case let .noRuleSet(name, searched):
            return "no rule set \"\(name)\" (looked for \(name).yaml in \(searched))"
        case let .badRuleFile(file, line, rule, field, message):
            var s = file
            if let line { s += ":\(line)" }
            if let rule { s += ": rule \"\(rule)\"" }
            if let field { s += ": field \"\(field)\"" }
            return s + ": " + message
        case let .badInput(file, line, field, message):
            return field.map { "\(file):\(line): field \"\($0)\": \(message)" } ?? "\(file):\(line): \(message)"
        case let .plugin(rule, message): return "rule \"\(rule)\": plugin: \(message)"
        case let .broken(rule, file, message):
            return "\(file): rule \"\(rule)\" stopped working, so its scores would be meaningless zeros: \(message)"
        case let .erring(rule, file, errors, scored, maxShare, first):
            let share =
                errors == scored
                ? "every one of its \(scored) samples"
                : "\(errors) of its \(scored) samples, more than max_rule_error_share (\(maxShare)) allows"
            return "\(file): rule \"\(rule)\" failed to score \(share), so its scores would be meaningless zeros; "
                + "the first error: \(first)"
        case let .answerRule(file, message): return "\(file): \(message)"
        }
    }
}
