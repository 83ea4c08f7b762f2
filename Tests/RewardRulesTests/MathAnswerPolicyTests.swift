// The math rule on its hand-labelled phrasing and policy pairs (MathAnswerPolicyCorpus.swift):
// closing "the result is" sentences, the Minerva phrasing, Markdown headings, braceless
// fractions, hedges, exact golds and the task set's numeric_tolerance. Every mismatch is listed.

import XCTest
import RewardRules

final class MathAnswerPolicyTests: XCTestCase {
    struct Case { let line: Int, expected: String, tolerance: Double?, gold: String, completion: String }

    static func cases() throws -> [Case] {
        var cases: [Case] = []
        let lines = MathAnswerPolicyCorpus.text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let f = line.split(separator: "\t", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard f.count == 4 else { throw CorpusError.badLine(i + 1) }
            let tolerance: Double?
            if f[1] == "-" {
                tolerance = nil
            } else {
                guard let t = Double(f[1]) else { throw CorpusError.badLine(i + 1) }
                tolerance = t
            }
            cases.append(
                Case(
                    line: i + 1, expected: f[0], tolerance: tolerance, gold: f[2],
                    completion: f[3].replacingOccurrences(of: "⏎", with: "\n")))
        }
        return cases
    }

    enum CorpusError: Error { case badLine(Int) }

    func testEveryLabelledPair() throws {
        let rule = MathRule(name: "math")
        let cases = try Self.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 70)
        var mismatches: [String] = []
        for c in cases {
            let task = RewardTask(kind: "math", answer: c.gold, numericTolerance: c.tolerance)
            let s = try XCTUnwrap(rule.score(completion: c.completion, task: task), "line \(c.line)")
            let got = s.reason == "correct" ? "1" : s.reason == "wrong_answer" ? "0" : s.reason
            if got != c.expected {
                mismatches.append(
                    "line \(c.line): gold \(c.gold), answer \(s.detail ?? "-"): "
                        + "expected \(c.expected), got \(got)")
            }
        }
        XCTAssert(
            mismatches.isEmpty,
            "\(mismatches.count) of \(cases.count) wrong:\n" + mismatches.joined(separator: "\n"))
    }

    /// Each section holds both outcomes, so no section passes by scoring everything alike.
    func testEverySectionHasPositivesAndNegatives() throws {
        var section = ""
        var outcomes: [String: Set<String>] = [:]
        for line in MathAnswerPolicyCorpus.text.split(separator: "\n") {
            if line.hasPrefix("# ---") {
                section = String(line)
                continue
            }
            if line.hasPrefix("#") { continue }
            outcomes[section, default: []].insert(line.hasPrefix("1\t") ? "right" : "not right")
        }
        XCTAssertEqual(outcomes.count, 8)
        for (name, seen) in outcomes { XCTAssertEqual(seen, ["right", "not right"], name) }
    }

    /// What the extractor hands the comparison, for the new phrasings.
    func testExtractedAnswers() {
        let rule = MathRule(name: "math")
        func detail(_ completion: String) -> String? {
            rule.score(completion: completion, task: RewardTask(kind: "math", answer: "0"))?.detail
        }
        XCTAssertEqual(detail("Final Answer: The final answer is $\\$45$. I hope it is correct."), "\\$45")
        XCTAssertEqual(detail("**Final answer:** 0.25"), "0.25")
        XCTAssertEqual(detail("Adding the three parts, the result is 1,234."), "1,234")
        XCTAssertEqual(
            detail("The answer is $\\frac{1}{2}$ or $\\frac{1}{3}$, I'm not sure which."),
            "\\frac{1}{2}$ or $\\frac{1}{3}")
        XCTAssertEqual(detail("So it is \\boxed{2} or \\boxed{3}."), "2, 3")
        XCTAssertEqual(detail("I first thought \\boxed{2}, but it is \\boxed{3}."), "3")
    }
}
