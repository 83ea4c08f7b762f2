// The math rule beyond the corpus: extraction order and fallback, parameters
// from a rule file, applicability, the exact-arithmetic core, and hostile inputs
// (each refused by a bound, with its reason).

import XCTest
import Foundation
import RewardRules

final class MathRuleTests: XCTestCase {
    func score(_ completion: String, gold: String, _ rule: MathRule = MathRule(name: "math")) -> RuleScore {
        rule.score(completion: completion, task: RewardTask(kind: "math", answer: gold))!
    }

    func testNotApplicableWithoutAnswer() {
        XCTAssertNil(
            MathRule(name: "math").score(completion: "\\boxed{4}", task: RewardTask(kind: "code", tests: "assert True"))
        )
    }

    func testReasonsAndDetail() {
        XCTAssertEqual(
            score("so \\boxed{\\frac{1}{2}}", gold: "0.5"),
            RuleScore(score: 1, reason: "correct", detail: "\\frac{1}{2}"))
        XCTAssertEqual(score("so \\boxed{3}", gold: "4"), RuleScore(score: 0, reason: "wrong_answer", detail: "3"))
        XCTAssertEqual(score("no idea", gold: "4"), RuleScore(score: 0, reason: "no_answer"))
        XCTAssertEqual(score("\\boxed{9^{9^{9^9}}}", gold: "1").reason, "too_complex")
    }

    func testExtractionOrderAndLastOccurrence() {
        let text = "<answer>1</answer> The answer is 2. \\boxed{3} #### 4"
        func rule(_ methods: [AnswerExtraction]) -> MathRule { MathRule(name: "m", extraction: methods) }
        XCTAssertEqual(score(text, gold: "3").reason, "correct", "boxed comes first by default")
        XCTAssertEqual(score(text, gold: "1", rule([.answerTag, .boxed])).reason, "correct")
        XCTAssertEqual(score(text, gold: "2", rule([.theAnswerIs])).reason, "correct")
        XCTAssertEqual(score(text, gold: "4", rule([.gsm8k, .boxed])).reason, "correct")
        XCTAssertEqual(score("no markers, 7", gold: "7", rule([.gsm8k])).reason, "no_answer")
        // The last occurrence of the winning method counts.
        XCTAssertEqual(score("\\boxed{1} then \\boxed{2}", gold: "2").reason, "correct")
        XCTAssertEqual(score("<answer>5</answer> ... <answer>6</answer>", gold: "6").reason, "correct")
        XCTAssertEqual(score("The answer is 5. No wait, the answer is 6.", gold: "6").reason, "correct")
        XCTAssertEqual(score("#### 5\n#### 6", gold: "6").reason, "correct")
        // Nested braces, \fbox, an unclosed \boxed before a good one.
        XCTAssertEqual(score("\\boxed{\\frac{\\sqrt{3}}{2}}", gold: "\\frac{\\sqrt3}{2}").reason, "correct")
        XCTAssertEqual(score("\\fbox{12}", gold: "12").reason, "correct")
        XCTAssertEqual(score("\\boxed{7} and \\boxed{8", gold: "7").reason, "correct")
    }

    func testFallbackToLastNumberOnlyWhenAsked() {
        let text = "She has 3 apples, buys 4 more, so 7 in all."
        XCTAssertEqual(score(text, gold: "7").reason, "no_answer")
        let fallback = MathRule(name: "m", fallbackLastNumber: true)
        XCTAssertEqual(score(text, gold: "7", fallback), RuleScore(score: 1, reason: "correct", detail: "7"))
        XCTAssertEqual(score("the total is -1,250.", gold: "-1250", fallback).reason, "correct")
        XCTAssertEqual(score("no numbers", gold: "7", fallback).reason, "no_answer")
        XCTAssertEqual(
            score("\\boxed{8} and later 7", gold: "8", fallback).reason, "correct", "markers win over the fallback")
    }

    func testTinyDifferencesAreNotRoundedAway() {
        XCTAssertEqual(score("\\boxed{1/2^61}", gold: "1/2^60").reason, "wrong_answer")
        XCTAssertEqual(score("\\boxed{\\frac{1}{2^{61}}}", gold: "\\frac{1}{2^{60}}").reason, "wrong_answer")
        XCTAssertEqual(score("\\boxed{\\frac{2}{2^{61}}}", gold: "\\frac{1}{2^{60}}").reason, "correct")
        XCTAssertEqual(score("\\boxed{1 + 2^{-200}}", gold: "1").reason, "wrong_answer")
        XCTAssertEqual(score("\\boxed{10^{100} + 1}", gold: "10^{100}").reason, "wrong_answer")
        XCTAssertEqual(score("\\boxed{0.1 + 0.2}", gold: "0.3").reason, "correct", "decimals are exact rationals")
    }

    func testManyCandidatesDoNotWin() {
        for answer in ["1, 2, 3 or 4", "3 or 4", "\\{3, 4\\}", "3, 3", "(3, 4)", "3 \\pm 1", "[3, 4]"] {
            XCTAssertEqual(score("\\boxed{\(answer)}", gold: "3").reason, "wrong_answer", answer)
        }
        XCTAssertEqual(score("The answer is 1, 2, 3 or 4.", gold: "3").reason, "wrong_answer")
        XCTAssertEqual(
            score("Candidates: \\boxed{1}, \\boxed{2}, \\boxed{3}, \\boxed{4}", gold: "3").reason, "wrong_answer")
    }

    /// The rule's tolerance is for decimal golds; an exact gold needs an exact answer unless the
    /// task carries a numeric tolerance (its task set's), which then holds for every gold.
    func testRelativeToleranceParameter() throws {
        let loose = MathRule(name: "m", relativeTolerance: 1e-2)
        XCTAssertEqual(score("\\boxed{\\frac{1}{3}}", gold: "0.333").reason, "wrong_answer", "1e-3 off, beyond 1e-6")
        XCTAssertEqual(score("\\boxed{\\frac{1}{3}}", gold: "0.333", loose).reason, "correct")
        XCTAssertEqual(score("\\boxed{\\pi}", gold: "3.14", loose).reason, "correct")
        XCTAssertEqual(score("\\boxed{3.2}", gold: "3.14", loose).reason, "wrong_answer", "2% off, beyond 1%")
        // Exact golds stay exact whatever the rule's tolerance.
        XCTAssertEqual(score("\\boxed{0.333}", gold: "\\frac{1}{3}", loose).reason, "wrong_answer")
        XCTAssertEqual(score("\\boxed{3.14}", gold: "\\pi", loose).reason, "wrong_answer")
        XCTAssertEqual(score("\\boxed{\\frac{100}{101}}", gold: "1", loose).reason, "wrong_answer")
        // A task's tolerance covers them, and replaces the rule's for decimal golds.
        func withTask(_ answer: String, gold: String, _ tolerance: Double) -> String? {
            let task = RewardTask(kind: "math", answer: gold, numericTolerance: tolerance)
            return loose.score(completion: "\\boxed{\(answer)}", task: task)?.reason
        }
        XCTAssertEqual(withTask("0.333", gold: "\\frac{1}{3}", 1e-2), "correct")
        XCTAssertEqual(withTask("3.14", gold: "\\pi", 1e-3), "correct")
        XCTAssertEqual(withTask("3.14", gold: "\\pi", 1e-4), "wrong_answer", "5e-4 off")
        XCTAssertEqual(withTask("3.2", gold: "3.14", 0.05), "correct")
        XCTAssertEqual(withTask("\\pi", gold: "3.14", 0), "wrong_answer", "the task's 0 replaces the rule's 1e-2")
    }

    func testRuleFileParameters() throws {
        let set = try RuleSet.parse(
            """
            rules:
              - name: answer
                kind: math
                extract: [gsm8k, boxed]
                fallback_last_number: true
                relative_tolerance: 0.01
            """, file: "math.yaml")
        let task = RewardTask(kind: "math", answer: "5")
        XCTAssertEqual(set.score(completion: "\\boxed{4}\n#### 5", task: task).score(of: "answer")?.reason, "correct")
        XCTAssertEqual(set.score(completion: "so it is 5", task: task).score(of: "answer")?.reason, "correct")
        XCTAssertEqual(
            set.score(completion: "\\boxed{5.001}", task: task).score(of: "answer")?.reason, "wrong_answer",
            "an exact gold")
        let decimal = RewardTask(kind: "math", answer: "5.0")
        for (answer, reason) in [("5.04", "correct"), ("5.06", "wrong_answer")] {
            let scored = set.score(completion: "\\boxed{\(answer)}", task: decimal)
            XCTAssertEqual(scored.score(of: "answer")?.reason, reason, answer)
        }
        for (yaml, field) in [
            ("extract: [boxd]", "extract"), ("relative_tolerance: -1", "relative_tolerance"),
            ("fallback_last_number: maybe", "fallback_last_number"), ("tolerance: 1", "tolerance"),
        ] {
            XCTAssertThrowsError(try RuleSet.parse("rules:\n  - {name: a, kind: math, \(yaml)}", file: "m.yaml"), yaml)
            { error in
                XCTAssert("\(error)".contains("field \"\(field)\""), "\(error)")
            }
        }
        XCTAssertEqual(RuleRegistry.shared.kind(named: "math")?.name, "math")
    }

    // MARK: - hostile inputs: each refused by a bound (a size, a depth, a count), never computed
    // (the bounds are counted, not timed: a shared machine's speed decides nothing here)

    func testAstronomicalPowersAreRefused() {
        for answer in [
            "9^{9^{9^9}}", "9^{9^{9^{9^{9^{9}}}}}", "10^{10^{10^{10}}}", "2^{2^{2^{2^{2^{2}}}}}", "(10^{100})!",
            "x^{10^{12}}", "e^{e^{e^{10}}}", "\\sqrt{10^{10^{10}}}", "1e99999", "9^{9^9}-9^{9^9}",
        ] {
            XCTAssertEqual(score("\\boxed{\(answer)}", gold: "1").reason, "too_complex", answer)
        }
        // Large but bounded values are computed exactly.
        XCTAssertEqual(score("\\boxed{2^{8000} - 2^{7999}}", gold: "2^{7999}").reason, "correct")
    }

    func testDeeplyNestedInputsAreBounded() {
        let braces = String(repeating: "{", count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        let parens = String(repeating: "(", count: 400) + "1" + String(repeating: ")", count: 400)
        let fracs = String(repeating: "\\frac{1}{", count: 300) + "2" + String(repeating: "}", count: 300)
        let chain = Array(repeating: "1", count: 300).joined(separator: "+")
        let letters = String(repeating: "x ", count: 300)
        for answer in [braces, parens, fracs, chain, letters] {
            XCTAssertEqual(score("\\boxed{\(answer)}", gold: "1").reason, "too_complex", String(answer.prefix(20)))
        }
        // Just inside the bounds, the same shapes are judged.
        let shallow = String(repeating: "(", count: 10) + "1" + String(repeating: ")", count: 10)
        XCTAssertEqual(score("\\boxed{\(shallow)}", gold: "1").reason, "correct")
        XCTAssertEqual(score(String(repeating: "\\boxed{", count: 200_000), gold: "1").reason, "no_answer")
    }

    func testMegabyteInputsAreBounded() {
        let digits = String(repeating: "9", count: 1 << 20)
        for (completion, rule) in [
            ("\\boxed{\(digits)}", MathRule(name: "m")), ("#### \(digits)", MathRule(name: "m")),
            ("it is \(digits)", MathRule(name: "m", fallbackLastNumber: true)),
        ] {
            XCTAssertEqual(score(completion, gold: "9", rule).reason, "too_complex")
        }
        // A megabyte of reasoning before a normal answer is fine.
        let long = String(repeating: "we add 3 and 4. ", count: 65_536) + "\\boxed{7}"
        XCTAssertEqual(score(long, gold: "7").reason, "correct")
    }

    func testMalformedAnswersAreJudgedNotCrashed() {
        for answer in [
            "1,,2", ",", "()", "(,)", "\\{\\}", "\\frac{", "\\sqrt[", "^", "1^", "x=", "=3", "((1)", "1)", "|",
            "\\left(", "1e", "..5",
            "\\frac{1}{0}", "0^{-1}", "\\sqrt{-1}", "\\ln 0", "(-8)^{1/3}", "\\binom{-1}{2}", "(-3)!", "1.5!",
            "\\log_1 5", "{}", "\\{",
        ] {
            let s = score("\\boxed{\(answer)}", gold: "2")
            XCTAssert(["wrong_answer", "too_complex", "no_answer"].contains(s.reason), "\(answer): \(s.reason)")
        }
        XCTAssertEqual(score("\\boxed{(-8)^{1/3}}", gold: "-2").reason, "correct")
    }

    // MARK: - exact arithmetic

    func testRationalArithmeticAgainstIntegers() throws {
        var state: UInt64 = 42
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 34) - (1 << 29)
        }
        for _ in 0..<2000 {
            let a = next()
            let b = next() | 1
            let c = next()
            let d = next() | 1
            let sum = try Rational(a) / Rational(b) + Rational(c) / Rational(d)
            XCTAssertEqual(sum, try Rational(a * d + c * b) / Rational(b * d))
            let product = try (Rational(a) / Rational(b)) * (Rational(c) / Rational(d))
            XCTAssertEqual(product, try Rational(a * c) / Rational(b * d))
            XCTAssertEqual(
                product.doubleValue, Double(a * c) / Double(b * d), accuracy: 1e-9 * abs(Double(a * c) / Double(b * d)))
        }
    }

    func testBigIntegers() throws {
        let max64 = BoundedUInt(UInt64.max)
        let square = try max64 * max64  // (2^64 - 1)^2 = 2^128 - 2^65 + 1
        XCTAssertEqual(
            square, try BoundedUInt(decimalDigits: Array("340282366920938463426481119284349108225".utf8)[...]))
        let two = Rational(2)
        XCTAssertEqual(try two.power(200), try two.power(100) * two.power(100))
        XCTAssertNotEqual(try two.power(-60), try two.power(-61))
        XCTAssertEqual(try two.power(-60) * two, try two.power(-59))
        XCTAssertEqual(try (two.power(300) + Rational(1)) - two.power(300), Rational(1))
        XCTAssertThrowsError(try Rational(9).power(387_420_489)) { XCTAssertEqual($0 as? MathError, .tooComplex) }
        XCTAssertThrowsError(try two.power(8192)) { XCTAssertEqual($0 as? MathError, .tooComplex) }
        XCTAssertEqual(try two.power(1000).doubleValue, Foundation.pow(2, 1000))
        XCTAssertEqual(try (Rational(1) / two.power(1000)).doubleValue, Foundation.pow(2, -1000))
    }

    /// `MATH_BENCH_SECONDS=2 swift test -c release -Xswiftc -enable-testing --filter MathRuleTests/testBenchmarkRuns`
    /// prints the release throughput.
    func testBenchmarkRuns() {
        let seconds = ProcessInfo.processInfo.environment["MATH_BENCH_SECONDS"].flatMap(Double.init) ?? 0.05
        let rate = MathRule.benchmark(seconds: seconds)
        print("math verifications per second (one thread): \(Int(rate))")
        XCTAssertTrue(rate.isFinite && rate > 0, "\(rate)")
        XCTAssertEqual(MathRule.benchmarkCorpus().count, 30)
    }
}
