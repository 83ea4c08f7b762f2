// The verdict on a run of the runner (Harness.runner), decided here from what
// it wrote on fd 3. That channel belongs to the candidate as much as to the
// runner, so it is read as data only: a value for each call under test,
// compared with the expected value the candidate never saw; malformed or
// missing data is `no_verdict`. The channel's layout, one line each:
//   ok | syntax_error | error <hex exception name>    the solution itself
//   one line per plan step: a value (wire form), "!<hex name>;" (it raised),
//   N (a statement ran), T / F (an in-process check's own verdict)
//   end

import Foundation

enum Verdict {
    /// One check's outcome; details are for the rule's detail text.
    enum CheckOutcome: Equatable {
        case passed
        case failed(String)
        case error(String)
    }

    /// What the runner said about one step.
    enum StepResult {
        case value(PythonValue, wire: String)
        case raised(String)
        case ran
        case inProcess(Bool)
    }

    /// The verifier: given its program and the probes' values (wire form), the outcome of
    /// each computed check by index; nil when it could not run.
    typealias Verifier = (_ program: [TestPlan.VerifierStep], _ values: [String: String]) -> [Int: CheckOutcome]?

    static func judge(plan: TestPlan, run: Execution, verify: Verifier) -> SandboxResult {
        let text = String(decoding: run.output.suffix(4096), as: UTF8.self)
        let tail = String(text.suffix(600))
        func result(_ outcome: SandboxResult.Outcome, passed: Int = 0, detail: String? = nil) -> SandboxResult {
            SandboxResult(
                outcome: outcome, passed: passed, total: plan.checks.count, seconds: run.seconds,
                outputTail: tail, inProcessChecks: plan.inProcessChecks, failure: detail,
                leftoverProcesses: run.leftoverProcesses)
        }
        if let failure = run.failure { return result(.crashed, detail: failure) }
        if run.ending == .outputLimit { return result(.outputLimit) }
        // Killed by the wall clock or a CPU limit: a timeout, whatever it reported (a
        // background thread that never ends scores 0 even after the tests passed).
        if run.ending == .timeout { return result(.timeout) }
        guard let lines = channelLines(run.results) else {
            return result(.noVerdict, detail: "no complete report from the run (exit status \(run.exitStatus))")
        }
        switch lines[0] {
        case "ok": break
        case "syntax_error": return result(.syntaxError)
        default:
            guard lines[0].hasPrefix("error ") else { return result(.noVerdict, detail: "malformed report") }
            return result(.error, detail: "the solution raised \(exceptionName(hex: lines[0].dropFirst(6)))")
        }
        guard lines.count == plan.steps.count + 1 else { return result(.noVerdict, detail: "malformed report") }
        guard run.exitStatus == 0 else {
            return result(.noVerdict, detail: "the run ended with status \(run.exitStatus) after the tests")
        }
        var steps: [StepResult] = []
        var probes: [Int: Int] = [:]
        for (i, step) in plan.steps.enumerated() {
            guard let r = parse(lines[i + 1], kind: step.kind) else {
                return result(.noVerdict, detail: "malformed report for line \(step.line)")
            }
            steps.append(r)
            if let p = step.probe { probes[p] = i }
        }
        var outcomes = [CheckOutcome?](repeating: nil, count: plan.checks.count)
        var computed: [Int] = []
        for (c, check) in plan.checks.enumerated() {
            let at = "line \(check.line): \(check.source)"
            switch check.rule {
            case .constant(let v): outcomes[c] = v ? .passed : .failed(at)
            case .inProcess(let s):
                switch steps[s] {
                case .inProcess(true): outcomes[c] = .passed
                case .inProcess(false): outcomes[c] = .failed(at)
                case .raised(let name): outcomes[c] = .error("\(at): raised \(name)")
                default: outcomes[c] = .error("\(at): malformed report")
                }
            case let .direct(p, op, expected):
                switch steps[probes[p]!] {
                case .value(let v, _):
                    let equal = op == .equal || op == .notEqual ? v.strictlyEquals(expected) : v == expected
                    let holds = op == .equal || op == .isSame ? equal : !equal
                    outcomes[c] = holds ? .passed : .failed("\(at): got \(v.summary.prefix(200))")
                case .raised(let name): outcomes[c] = .error("\(at): raised \(name)")
                default: outcomes[c] = .error("\(at): malformed report")
                }
            case let .truthy(p, negated):
                switch steps[probes[p]!] {
                case .value(let v, _):
                    outcomes[c] = v.isTruthy != negated ? .passed : .failed("\(at): got \(v.summary.prefix(200))")
                case .raised(let name): outcomes[c] = .error("\(at): raised \(name)")
                default: outcomes[c] = .error("\(at): malformed report")
                }
            case .computed(let ps):
                if let name = ps.lazy.compactMap({ p -> String? in
                    if case .raised(let n) = steps[probes[p]!] { return n } else { return nil }
                }).first {
                    outcomes[c] = .error("\(at): raised \(name)")
                } else {
                    computed.append(c)
                }
            }
        }
        if !computed.isEmpty {
            var values: [String: String] = [:]
            for c in computed {
                guard case .computed(let ps) = plan.checks[c].rule else { continue }
                for p in ps { if case .value(_, let wire) = steps[probes[p]!] { values[String(p)] = wire } }
            }
            let wanted = Set(computed)
            let program = plan.verifier.filter { $0.exec != nil || $0.check.map(wanted.contains) == true }
            let answers = verify(program, values)
            for c in computed {
                let at = "line \(plan.checks[c].line): \(plan.checks[c].source)"
                switch answers?[c] {
                case .passed?: outcomes[c] = .passed
                case .failed?: outcomes[c] = .failed(at)
                case .error(let e)?: outcomes[c] = .error("\(at): \(e)")
                case nil: outcomes[c] = .error("\(at): the verifier did not answer")
                }
            }
        }
        let statementError = zip(plan.steps, steps).first { step, r in
            if step.kind == .setup || step.kind == .statement, case .raised = r { return true }
            return false
        }
        let passed = outcomes.filter { $0 == .passed }.count
        if let failed = outcomes.first(where: { if case .failed = $0 { return true } else { return false } }),
            case .failed(let detail)? = failed
        {
            return result(.assertionFailed, passed: passed, detail: detail)
        }
        if let errored = outcomes.first(where: { if case .error = $0 { return true } else { return false } }),
            case .error(let detail)? = errored
        {
            return result(.error, passed: passed, detail: detail)
        }
        if let (step, r) = statementError, case .raised(let name) = r {
            return result(.error, passed: passed, detail: "line \(step.line): \(step.source) raised \(name)")
        }
        return result(.passed, passed: passed)
    }

    /// The channel's lines before the final "end" (nothing may follow it); nil if there is none.
    static func channelLines(_ data: [UInt8]) -> [Substring]? {
        guard data.last == UInt8(ascii: "\n") else { return nil }
        let text = String(decoding: data.dropLast(), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 2, lines.last == "end" else { return nil }
        return Array(lines.dropLast())
    }

    static func parse(_ line: Substring, kind: TestPlan.Step.Kind) -> StepResult? {
        if line.hasPrefix("!") {
            guard line.hasSuffix(";") else { return nil }
            return .raised(exceptionName(hex: line.dropFirst().dropLast()))
        }
        switch kind {
        case .probe:
            guard let v = try? PythonValue.parse(Array(line.utf8)) else { return nil }
            return .value(v, wire: String(line))
        case .inProcess:
            return line == "T" ? .inProcess(true) : line == "F" ? .inProcess(false) : nil
        case .setup, .statement:
            return line == "N" ? .ran : nil
        }
    }

    static func exceptionName<S: StringProtocol>(hex: S) -> String {
        guard case .str(let bytes)? = try? PythonValue.parse(Array(("s" + hex + ";").utf8)), !bytes.isEmpty else {
            return "an exception"
        }
        return String(decoding: bytes.prefix(80), as: UTF8.self)
    }
}
