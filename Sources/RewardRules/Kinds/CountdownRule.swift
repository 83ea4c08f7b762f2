// kind "countdown": the answer is an arithmetic expression over the task's
// numbers (each used at most once) that equals the target, checked with exact
// rational arithmetic. The task carries meta {"numbers": [...], "target": n}.
//   numbers [3, 7, 25, 2], target 31: "<answer>25+7-3+2</answer>" -> 1 "correct";
//   "<answer>25+7</answer>" -> 0 "wrong_value"; "<answer>25+25-19</answer>" -> 0 "bad_numbers"

import Foundation
import Support

public struct CountdownRule: RewardRule {
    public let name: String
    public init(name: String) { self.name = name }

    public static let kind = RuleKind(
        name: "countdown",
        summary: "the <answer> expression uses the task's numbers at most once each and equals the target"
    ) { spec in
        CountdownRule(name: spec.name)
    }

    public func score(completion: String, task: RewardTask) -> RuleScore? {
        guard case .array(let ns)? = metaValue(task, "numbers"), let target = metaValue(task, "target")?.number else {
            return nil
        }
        let numbers = ns.compactMap { $0.number }.map { Int64($0) }
        guard let expression = Self.lastAnswer(in: completion) else { return RuleScore(score: 0, reason: "no_answer") }
        let outcome = Self.check(expression, numbers: numbers, target: Int64(target))
        return RuleScore(score: outcome == "correct" ? 1 : 0, reason: outcome, detail: expression)
    }

    private func metaValue(_ task: RewardTask, _ key: String) -> JSONValue? {
        if case .object(let meta)? = task.json["meta"] { return meta[key] }
        return task.json[key]
    }

    /// The text of the last <answer>...</answer>.
    static func lastAnswer(in text: String) -> String? {
        AnswerExtractor.lastAnswerTag(Array(text.utf8), closedOnly: true).map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// "correct", "wrong_value", "bad_numbers" or "not_an_expression".
    public static func check(_ expression: String, numbers: [Int64], target: Int64) -> String {
        var parser = ExpressionParser(Array(expression.utf8))
        guard expression.utf8.count <= 200, let value = parser.parse() else { return "not_an_expression" }
        var available = numbers
        for literal in parser.literals {
            guard let i = available.firstIndex(of: literal) else { return "bad_numbers" }
            available.remove(at: i)
        }
        return value == Rational(Int(target)) ? "correct" : "wrong_value"
    }
}

extension Rational {
    /// a op b for + - * /, nil when undefined (division by zero) or too large.
    func combine(_ op: UInt8, _ o: Rational) -> Rational? {
        switch op {
        case UInt8(ascii: "+"): return try? self + o
        case UInt8(ascii: "-"): return try? self - o
        case UInt8(ascii: "*"): return try? self * o
        default: return try? self / o
        }
    }
}

/// Integers, + - * / (x and × too), parentheses, unary minus; depth-limited.
struct ExpressionParser {
    let s: [UInt8]
    var i = 0, depth = 0
    var literals: [Int64] = []
    init(_ s: [UInt8]) { self.s = s }

    mutating func parse() -> Rational? {
        guard let v = sum() else { return nil }
        skip()
        return i == s.count ? v : nil
    }
    mutating func skip() { while i < s.count && (s[i] == 32 || s[i] == 9) { i += 1 } }
    mutating func sum() -> Rational? {
        guard var v = product() else { return nil }
        while true {
            skip()
            guard i < s.count, s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") else { return v }
            let op = s[i]
            i += 1
            guard let r = product(), let c = v.combine(op, r) else { return nil }
            v = c
        }
    }
    mutating func product() -> Rational? {
        guard var v = factor() else { return nil }
        while true {
            skip()
            var op: UInt8?
            if i < s.count, s[i] == UInt8(ascii: "*") || s[i] == UInt8(ascii: "/") || s[i] == UInt8(ascii: "x") {
                op = s[i] == UInt8(ascii: "x") ? UInt8(ascii: "*") : s[i]
                i += 1
            } else if i + 1 < s.count, s[i] == 0xC3, s[i + 1] == 0x97 {
                op = UInt8(ascii: "*")
                i += 2
            }  // ×
            guard let o = op else { return v }
            guard let r = factor(), let c = v.combine(o, r) else { return nil }
            v = c
        }
    }
    mutating func factor() -> Rational? {
        skip()
        guard i < s.count else { return nil }
        if s[i] == UInt8(ascii: "-") {
            i += 1
            return factor().flatMap { Rational(0).combine(UInt8(ascii: "-"), $0) }
        }
        if s[i] == UInt8(ascii: "(") {
            depth += 1
            guard depth < 50 else { return nil }
            i += 1
            let v = sum()
            skip()
            guard i < s.count, s[i] == UInt8(ascii: ")") else { return nil }
            i += 1
            depth -= 1
            return v
        }
        var n: Int64 = 0
        var any = false
        while i < s.count, s[i] >= 48, s[i] <= 57 {
            guard n < 100_000_000_000 else { return nil }
            n = n * 10 + Int64(s[i] - 48)
            i += 1
            any = true
        }
        guard any else { return nil }
        literals.append(n)
        return Rational(Int(n))
    }
}
