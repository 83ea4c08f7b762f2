// `grpo tasks validate`: the schema and ids (by loading), and for code sets,
// every reference solution run against its tests through the sandboxed
// `code` rule: a set whose tasks cannot be solved teaches nothing.

import Foundation
import RewardRules

public struct ValidationReport: Sendable {
    public var tasks = 0, demonstrations = 0
    public var solutionsChecked = 0
    /// "<split>/<id>: <reason>" for every reference solution that failed.
    public var failures: [String] = []
    public var missingSolutions = 0
}

extension TaskSet {
    public func validate(registry: RuleRegistry = .shared, progress: (Int, Int) -> Void = { _, _ in }) throws -> ValidationReport {
        var report = ValidationReport(tasks: train.count + test.count, demonstrations: sft.count)
        try checkRuleSet(registry: registry)
        guard manifest.kind == "code" else { return report }
        guard let kind = registry.kind(named: "code") else { throw TaskSetError.invalid("no \"code\" rule kind to run solutions with") }
        let rule = try kind.make(RuleSpec(file: "<validate>", name: "tests", kind: "code", parameters: [:]))
        let all = train.map { ("train", $0) } + test.map { ("test", $0) }
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
                lock.lock(); done += 1; let d = done; lock.unlock()
                if d % 10 == 0 || d == withSolution.count { progress(d, withSolution.count) }
            }
        }
        report.solutionsChecked = withSolution.count
        for (i, r) in results.enumerated() where r?.score != 1 {
            let (split, t) = withSolution[i]
            report.failures.append("\(split)/\(t.id): \(r?.reason ?? "rule did not apply")\(r?.detail.map { " (" + $0.prefix(200) + ")" } ?? "")")
        }
        return report
    }
}

extension TaskSet {
    /// The manifest's `rules` must name a rule set that loads: a typo there would otherwise pass
    /// here and fail every run that uses the set's default rules.
    func checkRuleSet(registry: RuleRegistry) throws {
        let manifestFile = folder.appendingPathComponent("task.yaml").path
        do { _ = try RuleSet.load(manifest.rules, registry: registry) } catch RewardError.missingFile(let path) {
            throw TaskSetError.badManifest(file: manifestFile, field: "rules", message:
                "no rule set \"\(manifest.rules)\" (no file \(path), nor Rewards/\(manifest.rules).yaml)")
        } catch {
            throw TaskSetError.badManifest(file: manifestFile, field: "rules",
                                           message: "rule set \"\(manifest.rules)\": \(error)")
        }
    }
}
