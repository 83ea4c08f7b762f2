// How a task's tests are checked, worked out once per tests text by the clean
// planner (Harness.clean, in the sandbox, without candidate code). Every
// top-level assert becomes one check:
//   assert f(0) == 2          direct: the runner returns f(0); compared here with 2
//   assert f(1) is None       direct (`is` only against None, True, False)
//   assert f(2) / not f(2)    truthy: f(2)'s truth value, decided here
//   assert len(f(9)) == 3     computed: the runner returns f(9); the clean verifier
//                             evaluates len(v) == 3 on that value
//   assert 2 + 2 == 4         constant: true whatever the solution
//   assert all(f(x) for x in xs), loops with asserts, names bound from the
//   solution's results      in-process: only the candidate's interpreter can run
//                             it, so the candidate can forge it; accepted only
//                             where the task set says so (`in_process_checks`)
// HumanEval's `def check(candidate): ...` + `check(f)` is inlined first.

import Foundation

public struct TestPlan: Sendable, Equatable {
    /// What the runner executes after the solution, in order.
    public struct Step: Sendable, Equatable {
        public enum Kind: String, Sendable, Codable {
            /// Test-owned setup that the calls under test use (imports, inputs).
            case setup
            /// A statement that uses the solution (`r = f(3)`): run for its effect.
            case statement
            /// A call under test: its value comes back as data.
            case probe
            /// A check only the candidate's interpreter can run (weak).
            case inProcess = "in_process"

            var wireCode: Character {
                switch self {
                case .setup, .statement: return "S"
                case .probe: return "P"
                case .inProcess: return "W"
                }
            }
        }
        public var kind: Kind
        public var source: String
        public var line: Int
        /// For probes: the probe's number (checks refer to it).
        public var probe: Int?
    }

    public struct Check: Sendable, Equatable {
        public enum Rule: Sendable, Equatable {
            case direct(probe: Int, op: Operator, expected: PythonValue)
            case truthy(probe: Int, negated: Bool)
            /// Evaluated by the clean verifier on these probes' values.
            case computed(probes: [Int])
            /// The runner's own verdict for this step (forgeable).
            case inProcess(step: Int)
            case constant(Bool)
        }
        public enum Operator: String, Sendable { case equal = "==", notEqual = "!=", isSame = "is", isNot = "is not" }
        public var line: Int
        /// The assert as written (for details).
        public var source: String
        public var rule: Rule
    }

    /// One item of the verifier's program: a setup statement, or a computed check.
    struct VerifierStep: Sendable, Equatable, Codable {
        var exec: String?
        var check: Int?
        var expression: String?
    }

    public var steps: [Step]
    public var checks: [Check]
    var verifier: [VerifierStep]

    /// Checks decided where the candidate never ran (all but in-process ones).
    public var strictChecks: Int { checks.count - inProcessChecks }
    public var inProcessChecks: Int {
        checks.filter { if case .inProcess = $0.rule { return true } else { return false } }.count
    }
    /// Checks that need the verifier after the run.
    public var computedChecks: Int {
        checks.filter { if case .computed = $0.rule { return true } else { return false } }.count
    }

    /// Why the tests cannot be planned (they do not parse, an expected value fails...).
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Decodes the planner's answer.
    static func decode(_ data: [UInt8]) throws -> TestPlan {
        struct RawStep: Decodable {
            var kind: Step.Kind
            var source: String
            var line: Int
            var probe: Int?
        }
        struct RawCheck: Decodable {
            var line: Int
            var source: String
            var mode: String
            var probe: Int?
            var op: String?
            var expected: String?
            var negate: Bool?
            var probes: [Int]?
            var step: Int?
            var value: Bool?
        }
        struct Raw: Decodable {
            var error: String?
            var steps: [RawStep]?
            var checks: [RawCheck]?
            var verify: [VerifierStep]?
        }
        let raw: Raw
        do { raw = try JSONDecoder().decode(Raw.self, from: Data(data)) } catch {
            throw Failure(message: "the test planner's answer is not readable: \(error)")
        }
        if let message = raw.error { throw Failure(message: message) }
        guard let rawSteps = raw.steps, let rawChecks = raw.checks, let verify = raw.verify else {
            throw Failure(message: "the test planner's answer is incomplete")
        }
        let steps = rawSteps.map { Step(kind: $0.kind, source: $0.source, line: $0.line, probe: $0.probe) }
        let probes = Set(steps.compactMap(\.probe))
        let checks: [Check] = try rawChecks.map { c in
            func bad() -> Failure { Failure(message: "the test planner's check for line \(c.line) is malformed") }
            let rule: Check.Rule
            switch c.mode {
            case "direct":
                guard let p = c.probe, probes.contains(p), let op = c.op.flatMap(Check.Operator.init(rawValue:)),
                    let e = c.expected, let expected = try? PythonValue.parse(Array(e.utf8))
                else { throw bad() }
                rule = .direct(probe: p, op: op, expected: expected)
            case "truthy":
                guard let p = c.probe, probes.contains(p) else { throw bad() }
                rule = .truthy(probe: p, negated: c.negate ?? false)
            case "computed":
                guard let ps = c.probes, ps.allSatisfy(probes.contains) else { throw bad() }
                rule = .computed(probes: ps)
            case "in_process":
                guard let s = c.step, steps.indices.contains(s), steps[s].kind == .inProcess else { throw bad() }
                rule = .inProcess(step: s)
            case "constant":
                guard let v = c.value else { throw bad() }
                rule = .constant(v)
            default: throw bad()
            }
            return Check(line: c.line, source: c.source, rule: rule)
        }
        return TestPlan(steps: steps, checks: checks, verifier: verify)
    }
}
