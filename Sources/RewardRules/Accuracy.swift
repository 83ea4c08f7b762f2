// Accuracy: is a completion's answer right, whatever its form. The answer rules
// are those of the kinds that judge correctness; a completion is correct when
// every answer rule that applies to it gives full marks (a raw score, before any
// `requires` gate). A rule set without an answer rule judges by all its rules.
// Diagnostic rules (weight 0) never judge: adding one must not change what
// counts as solved. Held-out accuracy (`grpo eval`) and DAPO's dynamic sampling
// both count this way.
//
//   math.yaml on "<think>..</think><answer>4</answer>", answer 4: 1
//   the same with answer 5: 0 (the format rule's full marks do not count)

extension RuleSet {
    /// Kinds whose score says whether the answer is right.
    public static let answerKinds: Set<String> = ["math", "code", "program_output", "countdown", "command"]

    /// 1 when correct, 0 when not, nil when no judging rule applies to the completion.
    public func accuracy(of scored: ScoredCompletion) -> Double? {
        let judges = entries.filter { !$0.isDiagnostic }
        let answers = Set(judges.filter { Self.answerKinds.contains($0.kind) }.map(\.name))
        let judging = answers.isEmpty ? Set(judges.map(\.name)) : answers
        let judged = scored.rules.compactMap { result -> RuleScore? in
            guard judging.contains(result.name) else { return nil }
            return result.score
        }
        guard !judged.isEmpty else { return nil }
        return judged.allSatisfy(\.isFullMarks) ? 1 : 0
    }
}
