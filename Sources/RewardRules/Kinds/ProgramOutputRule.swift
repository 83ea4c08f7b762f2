// kind "program_output": program-aided answers. A completion either answers in
// words (judged as the `math` kind judges it) or writes a fenced Python block;
// the block runs in the sandbox as a whole program, and the last line it
// prints is its answer, compared with the task's `answer` by the math matcher.
// The program's output is only data: the comparison runs here, where the
// program never ran, and a program that ends badly (an error, a signal, the
// time or output limit) scores 0 whatever it printed. Applies to tasks with
// an answer.
//   answer 2847, "```python\nprint(73*39)\n```"          -> 1 "correct", detail "printed 2847"
//   answer 2847, "```python\nprint(73*38)\n```"          -> 0 "wrong_answer"
//   answer 2847, "```python\nprint(2847)\n1/0\n```"      -> 0 "error" (exit status 1)
//   answer 2847, "<answer>2847</answer>" (no block)      -> 1 "correct" (as `math`; `answer_in_words: false`
//                                                           makes it 0 "no_code")

import Foundation
import Sandbox

public struct ProgramOutputRule: RewardRule {
    public let name: String
    let sandbox: Sandbox
    /// Judges a completion without a code block by its written answer.
    let words: MathRule?

    public static let kind = RuleKind(
        name: "program_output",
        summary: "the last line printed by the last fenced Python block (run in the sandbox) equals the answer",
        parameters: CodeRule.sandboxParameters.merging([
            "answer_in_words": "without a code block, judge the written answer as `math` does (default true)"
        ]) { $1 }
    ) { spec in
        ProgramOutputRule(
            name: spec.name, sandbox: try CodeRule.sandbox(from: spec),
            answerInWords: try spec.bool("answer_in_words", default: true))
    }

    public init(name: String, sandbox: Sandbox = Sandbox(), answerInWords: Bool = true) {
        self.name = name
        self.sandbox = sandbox
        words = answerInWords ? MathRule(name: name) : nil
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        guard let gold = task.answer else { return nil }
        guard let program = CodeRule.lastCodeBlock(completion) else {
            return words?.score(completion: completion, task: task) ?? RuleScore(score: 0, reason: "no_code")
        }
        let run = sandbox.runProgram(program)
        let printed = run.output.split(whereSeparator: \.isNewline)
            .last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { String($0.trimmingCharacters(in: .whitespaces).prefix(200)) }
        let detail = "printed " + (printed ?? "nothing")
        switch run.ending {
        case .timeout: return RuleScore(score: 0, reason: "timeout", detail: detail)
        case .outputLimit: return RuleScore(score: 0, reason: "output_limit", detail: detail)
        case .crashed: return RuleScore(score: 0, reason: "sandbox_error", detail: run.output)
        case .exited: break
        }
        guard run.exitStatus == 0 else {
            return RuleScore(score: 0, reason: "error", detail: detail + "; exit status \(run.exitStatus)")
        }
        guard let printed else { return RuleScore(score: 0, reason: "no_output", detail: detail) }
        let tolerance = MathRule.tolerance(MathRule.defaultRelativeTolerance, for: task)
        let same =
            (try? MathEquivalence.equivalent(
                answer: Array(printed.utf8)[...], gold: Array(gold.utf8)[...],
                tolerance: tolerance)) ?? false
        return RuleScore(score: same ? 1 : 0, reason: same ? "correct" : "wrong_answer", detail: detail)
    }
}
