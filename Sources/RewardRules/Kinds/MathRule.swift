// kind "math": extracts the final answer and decides equivalence with the task's answer.
//   gold "\frac{1}{2}": "... so the answer is \boxed{0.5}"   -> 1 "correct"       detail "0.5"
//   gold "\frac{1}{3}": "... so the answer is \boxed{0.3333}" -> 0 "wrong_answer"  (exact golds need exact answers)
//   gold "3":           "The answer is 1, 2, 3 or 4."        -> 0 "wrong_answer"  (a list is not a value)
//   gold "72":          "I am not sure."                     -> 0 "no_answer"
//   gold "1":           "\boxed{9^{9^{9^9}}}"                -> 0 "too_complex"   (refused in microseconds)
// The semantics are in Math/MathEquivalence.swift, extraction in Math/AnswerExtractor.swift.

import Foundation

public struct MathRule: RewardRule {
    public let name: String
    /// Extraction methods, in order; the first that finds an answer wins.
    public var extraction: [AnswerExtraction]
    /// Without any marker, take the last number in the completion.
    public var fallbackLastNumber: Bool
    /// Relative tolerance when the gold is written with a decimal point (a task's
    /// `numericTolerance`, when set, replaces it for every gold).
    public var relativeTolerance: Double

    public static let defaultRelativeTolerance = 1e-6

    public init(
        name: String, extraction: [AnswerExtraction] = AnswerExtraction.allCases, fallbackLastNumber: Bool = false,
        relativeTolerance: Double = MathRule.defaultRelativeTolerance
    ) {
        self.name = name
        self.extraction = extraction
        self.fallbackLastNumber = fallbackLastNumber
        self.relativeTolerance = relativeTolerance
    }

    public static let kind = RuleKind(
        name: "math",
        summary: "1 when the completion's final answer is equivalent to the task's answer (exact rationals, bounded)",
        parameters: [
            "extract": "list of boxed, answer_tag, the_answer_is, gsm8k, in order (default: all, in that order)",
            "fallback_last_number": "take the last number when no method finds an answer (default false)",
            "relative_tolerance": "relative tolerance when the gold answer has a decimal point (default 1e-6; "
                + "exact golds need exact answers unless the task set sets numeric_tolerance)",
        ]
    ) { spec in
        var extraction = AnswerExtraction.allCases
        if let names = try spec.strings("extract") {
            guard !names.isEmpty else { throw spec.error("extract", "needs at least one method") }
            extraction = try names.map { n in
                guard let m = AnswerExtraction(rawValue: n) else {
                    throw spec.error(
                        "extract",
                        "unknown method \"\(n)\" (known: "
                            + "\(AnswerExtraction.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                return m
            }
        }
        let tolerance = try spec.double("relative_tolerance", default: defaultRelativeTolerance)
        guard tolerance >= 0, tolerance < 1 else {
            throw spec.error("relative_tolerance", "must be at least 0 and below 1")
        }
        return MathRule(
            name: spec.name, extraction: extraction,
            fallbackLastNumber: try spec.bool("fallback_last_number", default: false), relativeTolerance: tolerance)
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        guard let gold = task.answer else { return nil }
        let extractor = AnswerExtractor(methods: extraction, fallbackLastNumber: fallbackLastNumber)
        guard let answer = extractor.extract(Array(completion.utf8)) else {
            return RuleScore(score: 0, reason: "no_answer")
        }
        let detail = String(decoding: answer.prefix(200), as: UTF8.self)
        do {
            let same = try MathEquivalence.equivalent(
                answer: answer, gold: Array(gold.utf8)[...],
                tolerance: Self.tolerance(relativeTolerance, for: task))
            return RuleScore(score: same ? 1 : 0, reason: same ? "correct" : "wrong_answer", detail: detail)
        } catch MathError.tooComplex {
            return RuleScore(score: 0, reason: "too_complex", detail: detail)
        } catch {
            // The other MathErrors (.undefined everywhere, .invalid) mean the answer is not the gold.
            return RuleScore(score: 0, reason: "wrong_answer", detail: detail)
        }
    }

    /// The rule's tolerance for decimal golds; the task's, when it has one, for every gold.
    static func tolerance(_ relativeTolerance: Double, for task: RewardTask) -> MathEquivalence.Tolerance {
        MathEquivalence.Tolerance(decimalGold: relativeTolerance, everyGold: task.numericTolerance)
    }

    // MARK: - throughput

    /// A mixed corpus of (gold, completion) pairs: GSM8K-style integers, MATH-style
    /// LaTeX (fractions, radicals, tuples, sets, intervals, expressions), wrong answers,
    /// missing answers and a few hostile ones, each with 200-600 bytes of reasoning.
    public static func benchmarkCorpus() -> [(gold: String, completion: String)] {
        let cases: [(String, String)] = [
            ("72", "#### 72"), ("#### 1,000", "The answer is 1000."), ("18", "<answer>18</answer>"),
            ("5", "\\boxed{6}"),
            ("\\frac{1}{2}", "\\boxed{\\dfrac{1}{2}}"), ("\\frac{3}{4}", "\\boxed{0.75}"),
            ("2\\sqrt{2}", "\\boxed{\\sqrt{8}}"),
            ("(1,2)", "\\boxed{(1, 2)}"), ("\\{1,2,3\\}", "\\boxed{\\{3,2,1\\}}"), ("[0,1)", "\\boxed{[0,1]}"),
            ("x^2+2x+1", "\\boxed{(x+1)^2}"), ("\\pi", "\\boxed{3.14}"), ("50\\%", "The answer is 50."),
            ("1000", "\\boxed{1\\times10^{3}}"), ("B", "\\boxed{(B)}"), ("x=3", "\\boxed{3}"),
            ("5", "\\boxed{5 \\text{ cm}}"),
            ("90^\\circ", "\\boxed{90}"), ("\\frac{1}{2^{60}}", "\\boxed{\\frac{1}{2^{61}}}"),
            ("3", "The answer is 1, 2, 3 or 4."),
            ("42", "I could not solve it."), ("1", "\\boxed{9^{9^{9^9}}}"), ("-7", "so \\boxed{-7}"),
            ("12", "<answer>\\boxed{12}</answer>"),
            ("\\sqrt[3]{2}", "\\boxed{2^{1/3}}"), ("\\frac{\\sqrt{3}}{2}", "\\boxed{\\frac{1}{2}\\sqrt{3}}"),
            ("2x+3", "\\boxed{y = 3 + 2x}"),
            ("(-\\infty, 2]", "\\boxed{(-\\infty,2]}"), ("0.125", "\\boxed{\\frac18}"), ("1,234,567", "#### 1234567"),
        ]
        let filler = [
            "First", "we", "note", "that", "the", "sum", "of", "the", "two", "numbers", "is", "$a+b$,", "so", "we",
            "compute",
            "$3 \\cdot 4 = 12$", "and", "then", "subtract", "carefully.", "Checking", "again", "gives", "the", "same",
            "result.",
        ]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33)
        }
        return cases.map { gold, tail in
            let reasoning = (0..<(40 + next() % 80)).map { _ in filler[next() % filler.count] }.joined(separator: " ")
            return (gold, reasoning + "\n" + tail)
        }
    }

    /// Verifications per second on the calling thread over `benchmarkCorpus()`
    /// (extraction, normalisation, parsing of both answers and the comparison).
    public static func benchmark(seconds: Double = 1) -> Double {
        let rule = MathRule(name: "math")
        let tasks = benchmarkCorpus().map { (RewardTask(kind: "math", answer: $0.gold), $0.completion) }
        var done = 0
        var correct = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            for (task, completion) in tasks where rule.score(completion: completion, task: task)?.isFullMarks == true {
                correct += 1
            }
            done += tasks.count
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        precondition(correct > 0)
        return Double(done) / elapsed
    }
}
