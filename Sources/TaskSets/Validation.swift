// `grpo tasks validate`: the schema and ids (by loading), and for code sets,
// every task's tests planned (how many checks are decided outside the program,
// how many only in-process) and every reference solution run against its
// tests through the sandboxed `code` rule: a set whose tasks cannot be solved
// teaches nothing.

import Foundation
import RewardRules
import Sandbox

public struct ValidationReport: Sendable {
    public var tasks = 0, demonstrations = 0
    public var solutionsChecked = 0
    /// "<split>/<id>: <reason>" for every task whose tests cannot be planned and every
    /// reference solution that failed.
    public var failures: [String] = []
    public var missingSolutions = 0
    /// Checks (asserts) of the code tasks decided outside the program (compared in the
    /// trainer or by the clean verifier), and decided in the program's own interpreter.
    public var strictChecks = 0, inProcessChecks = 0
    /// "<split>/<id>" of the tasks with in-process checks.
    public var tasksWithInProcessChecks: [String] = []
}

extension TaskSet {
    public func validate(
        sandbox: Sandbox = Sandbox(), registry: RuleRegistry = .shared,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> ValidationReport {
        var report = ValidationReport(tasks: train.count + test.count, demonstrations: sft.count)
        try checkRuleSet(registry: registry)
        guard manifest.kind == "code" else { return report }
        let rule = CodeRule(name: "tests", sandbox: sandbox)
        let all = train.map { ("train", $0) } + test.map { ("test", $0) }
        var planned = [Result<TestPlan, TestPlan.Failure>?](repeating: nil, count: all.count)
        planned.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: all.count) { i in
                out[i] = all[i].1.tests.map { sandbox.plan(tests: $0, entryPoint: all[i].1.entryPoint) }
            }
        }
        for (i, result) in planned.enumerated() {
            let (split, t) = all[i]
            switch result {
            case .success(let plan)?:
                report.strictChecks += plan.strictChecks
                report.inProcessChecks += plan.inProcessChecks
                if plan.inProcessChecks > 0 { report.tasksWithInProcessChecks.append("\(split)/\(t.id)") }
            case .failure(let f)?: report.failures.append("\(split)/\(t.id): tests_error (\(f.message.prefix(200)))")
            case nil: break
            }
        }
        let withSolution = all.filter { $0.1.solution != nil }
        report.missingSolutions = all.count - withSolution.count
        var results = [RuleScore?](repeating: nil, count: withSolution.count)
        let lock = NSLock()
        var done = 0
        results.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: withSolution.count) { i in
                var task = withSolution[i].1.rewardTask(kind: "code")
                task.rawCompletion = true
                out[i] = rule.score(completion: withSolution[i].1.solution!, task: task)
                lock.lock()
                done += 1
                let d = done
                lock.unlock()
                if d % 10 == 0 || d == withSolution.count { progress(d, withSolution.count) }
            }
        }
        report.solutionsChecked = withSolution.count
        for (i, r) in results.enumerated() where r?.score != 1 && r?.reason != "tests_error" {
            let (split, t) = withSolution[i]
            report.failures.append(
                "\(split)/\(t.id): "
                    + "\(r?.reason ?? "rule did not apply")\(r?.detail.map { " (" + $0.prefix(200) + ")" } ?? "")"
            )
        }
        return report
    }
}

extension TaskSet {
    /// The manifest's `rules` must name a rule set that loads: a typo there would otherwise pass
    /// here and fail every run that uses the set's default rules.
    func checkRuleSet(registry: RuleRegistry) throws {
        let manifestFile = folder.appendingPathComponent("task.yaml").path
        let rules: RuleSet
        do { rules = try RuleSet.load(manifest.rules, registry: registry) } catch RewardError.missingFile(let path) {
            throw TaskSetError.badManifest(
                file: manifestFile, field: "rules",
                message:
                    "no rule set \"\(manifest.rules)\" (no file \(path))")
        } catch let RewardError.noRuleSet(name, searched) {
            throw TaskSetError.badManifest(
                file: manifestFile, field: "rules",
                message: "\(RewardError.noRuleSet(name: name, searched: searched))")
        } catch {
            throw TaskSetError.badManifest(
                file: manifestFile, field: "rules",
                message: "rule set \"\(manifest.rules)\": \(error)")
        }
        // Evaluations need one answer rule: a missing or ambiguous one is named here, not mid-run.
        do { _ = try AnswerJudge(rules: rules, answerRule: manifest.answerRule, taskKind: manifest.kind) } catch {
            throw TaskSetError.badManifest(file: manifestFile, field: "answer_rule", message: "\(error)")
        }
    }
}
