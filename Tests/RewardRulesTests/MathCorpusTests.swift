// The math rule on its corpus (MathCorpus.swift, tab-separated lines): every
// category of equivalence, both equivalent and not, near misses, extraction
// formats, "many candidates" answers and hostile ones. Every mismatch is listed.

import XCTest
import Foundation
import RewardRules

final class MathCorpusTests: XCTestCase {
    struct Case { let line: Int, expected: String, gold: String, completion: String }

    static func loadCorpus() throws -> [Case] {
        let text = MathCorpus.text
        var cases: [Case] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 else {
                XCTFail("corpus line \(i + 1): expected 3 tab-separated fields")
                continue
            }
            let answer = fields[2]
            let completion =
                answer.hasPrefix("raw:")
                ? String(answer.dropFirst(4)).replacingOccurrences(of: "⏎", with: "\n")
                : "Let me work through this step by step. After simplifying, the final answer is $\\boxed{\(answer)}$."
            cases.append(Case(line: i + 1, expected: fields[0], gold: fields[1], completion: completion))
        }
        return cases
    }

    func testCorpus() throws {
        let rule = MathRule(name: "math")
        let cases = try Self.loadCorpus()
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        var mismatches: [String] = []
        for c in cases {
            guard let s = rule.score(completion: c.completion, task: RewardTask(kind: "math", answer: c.gold)) else {
                mismatches.append("line \(c.line): not applicable")
                continue
            }
            let got: String
            switch s.reason {
            case "correct": got = "1"
            case "wrong_answer": got = "0"
            default: got = s.reason
            }
            if ProcessInfo.processInfo.environment["MATH_DEBUG"] != nil {
                print("L\(c.line) exp=\(c.expected) got=\(got) gold=\(c.gold) ans=\(s.detail ?? "-")")
            }
            if got != c.expected {
                mismatches.append(
                    "line \(c.line): gold \(c.gold) answer \(s.detail ?? "-"): "
                        + "expected \(c.expected), got \(got) (\(s.reason))")
            }
        }
        XCTAssert(
            mismatches.isEmpty,
            "\(mismatches.count) of \(cases.count) corpus cases wrong:\n" + mismatches.joined(separator: "\n"))
    }

    /// Equivalence is symmetric on the corpus's plain (boxed) pairs, except where exactly one
    /// side is a decimal: the gold decides the tolerance (0.333333333 takes 1/3, not the reverse).
    func testSymmetry() throws {
        let rule = MathRule(name: "math")
        var asymmetric: [String] = []
        var checked = 0
        for c in try Self.loadCorpus()
        where (c.expected == "1" || c.expected == "0") && c.completion.contains("\\boxed{") {
            let answer = String(c.completion.split(separator: "$").dropLast().last ?? "")
            guard answer.hasPrefix("\\boxed{"), !c.gold.contains("\\boxed"), !c.gold.contains("####"),
                !c.gold.contains("\t")
            else { continue }
            let inner = String(answer.dropFirst(7).dropLast())
            if Self.hasDecimalPoint(c.gold) != Self.hasDecimalPoint(inner) { continue }
            // Choices are asymmetric by design: the gold letter is strict, the answer may carry its text.
            if c.gold.count <= 13,
                c.gold.range(of: #"^\\?(text|textbf)?\{?\(?[A-J]\)?\}?$"#, options: .regularExpression) != nil
            {
                continue
            }
            checked += 1
            let swapped = rule.score(completion: "so $\\boxed{\(c.gold)}$.", task: RewardTask(answer: inner))
            let expected = c.expected == "1" ? "correct" : "wrong_answer"
            if swapped?.reason != expected, !(c.expected == "0" && swapped?.reason == "too_complex") {
                asymmetric.append("line \(c.line): \(c.gold) vs \(inner): \(swapped?.reason ?? "nil")")
            }
        }
        XCTAssertGreaterThan(checked, 200)
        XCTAssert(asymmetric.isEmpty, "asymmetric:\n" + asymmetric.joined(separator: "\n"))
    }

    /// A digit, a point and a digit: "0.5", not "5." nor "\ldots".
    static func hasDecimalPoint(_ s: String) -> Bool {
        s.range(of: #"[0-9]\.[0-9]|(^|[^0-9])\.[0-9]"#, options: .regularExpression) != nil
    }
}
