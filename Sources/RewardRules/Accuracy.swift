// Accuracy: is a completion's answer right, whatever its form. One rule judges it, the
// answer rule, named by the task set (`answer_rule:` in task.yaml), by `grpo eval
// --answer_rule` or by the training config's `answer_rule`. Without a name, the rule set's
// one rule of an answer kind (math, code, program_output, countdown, command) that is no
// diagnostic and can apply to the task set's kind judges. Two such rules (a `command`
// format checker beside a `math` answer) are ambiguous: an error lists them, and naming
// one settles it. A rule set with no rule of an answer kind judges by all its rules that
// are no diagnostics, each of which must give full marks.
// A completion is correct when the judging rules that apply give it full marks (a raw
// score, before any `requires` gate; RuleScore.isFullMarks, PassThreshold's threshold,
// which the pass rates of training and the traces use too). Held-out accuracy (`grpo
// eval`) and DAPO's dynamic sampling both count this way.
//
//   math.yaml on "<think>..</think><answer>4</answer>", answer 4: 1
//   the same with answer 5: 0 (the format rule's full marks do not count)

public struct AnswerJudge: Sendable, Equatable {
    /// The rule that judges; nil when every rule that is no diagnostic does (no answer kind).
    public let answerRule: String?
    /// The rules whose full marks make a completion correct.
    public let rules: Set<String>

    /// Kinds whose score says whether the answer is right.
    public static let answerKinds: Set<String> = ["math", "code", "program_output", "countdown", "command"]

    /// `answerRule`: the rule named by the task set, a flag or the config (nil: the guess above);
    /// `taskKind`: the task set's kind, which leaves out rules that never apply to it.
    public init(rules set: RuleSet, answerRule: String? = nil, taskKind: String? = nil) throws {
        if let answerRule {
            guard set.entries.contains(where: { $0.name == answerRule }) else {
                let names = set.entries.map(\.name).joined(separator: ", ")
                throw RewardError.answerRule(
                    file: set.file,
                    message: "answer rule \"\(answerRule)\" is not a rule "
                        + "of \(set.name) (its rules: \(names))")
            }
            self.answerRule = answerRule
            self.rules = [answerRule]
            return
        }
        let judges = set.entries.filter { entry in
            !entry.isDiagnostic && (taskKind.map { entry.appliesTo?.contains($0) ?? true } ?? true)
        }
        let answers = judges.filter { Self.answerKinds.contains($0.kind) }
        switch answers.count {
        case 0:
            self.answerRule = nil
            self.rules = Set(judges.map(\.name))
        case 1:
            self.answerRule = answers[0].name
            self.rules = [answers[0].name]
        default:
            let candidates = answers.map { "\($0.name) (\($0.kind))" }.joined(separator: ", ")
            throw RewardError.answerRule(
                file: set.file,
                message: "which rule judges the answer is ambiguous: "
                    + "\(candidates) could; name one with answer_rule in the task set's "
                    + "task.yaml, `grpo eval --answer_rule NAME` or the training config's "
                    + "answer_rule")
        }
    }

    /// 1 when correct, 0 when not, nil when no judging rule applies to the completion.
    public func accuracy(of scored: ScoredCompletion) -> Double? {
        let judged = scored.rules.compactMap { result -> RuleScore? in
            guard rules.contains(result.name) else { return nil }
            return result.score
        }
        guard !judged.isEmpty else { return nil }
        return judged.allSatisfy(\.isFullMarks) ? 1 : 0
    }
}
