import ArgumentParser
import Foundation
import Kernels
import RewardRules
import Training
import Traces
import Sandbox
import Support

struct Rewards: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rule sets: list them, score completions with them, test them.",
        subcommands: [List.self, Score.self, Check.self, SandboxInfo.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The rule kinds and the rule sets in ./Rewards, $GRPO_HOME/Rewards and the installed ones "
                + "(or one rule set).")
        @Option(help: "A rule set (file or name, see `grpo rewards list`) to show.") var rules: String?

        func run() throws {
            if let rules {
                let set = try RuleSet.load(rules)
                print("\(set.name): \(set.description) (\(set.file))")
                for e in set.entries {
                    var extra = ""
                    if let r = e.requires { extra += ", requires \(r)" }
                    if let a = e.appliesTo { extra += ", applies to \(a.sorted().joined(separator: ", "))" }
                    if e.isDiagnostic {
                        extra += ", diagnostic (scored and recorded, not in the reward)"
                    }
                    print("  \(e.name)  kind \(e.kind), weight \(e.weight)\(extra)")
                }
                return
            }
            print(
                "every rule: name, kind, weight (default 1; 0 makes a diagnostic, recorded and not rewarded), "
                    + "requires (counts only when that rule scored 1), applies_to (task kinds)")
            print("kinds:")
            for k in RuleRegistry.shared.all {
                print("  \(k.name): \(k.summary)")
                for (p, d) in k.parameters.sorted(by: { $0.key < $1.key }) { print("      \(p): \(d)") }
            }
            let folders = SetFolders.search("Rewards")
            SetListing.show(RuleSet.available(folders: folders), in: folders, what: "rule sets") { entry in
                let set = try RuleSet.load(entry.path)
                return "\(set.name): \(set.entries.map(\.name).joined(separator: ", ")) - \(set.description)"
            }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Score completions: JSONL {\"id\", \"completion\", \"task\"} in, {\"id\", \"reward\", \"rules\", "
                + "\"reasons\"} out."
        )
        @Option(help: "Rule set: a file or a name (see `grpo rewards list`).") var rules: String
        @Option(help: "Input JSONL.") var input: String
        @Option(help: "Output JSONL (default: standard output).") var output: String?
        @Flag(
            name: .customLong("skip-bad-lines"), help: "Report bad input lines and go on (default: stop at the first).")
        var skipBadLines = false
        @Option(
            help: ArgumentHelp(
                "Also record the scored completions in this trace database (step 0, one group per task id) "
                    + "for `grpo traces`.")
        )
        var traces: String?
        @Option(help: "The run's name in --traces (default: the input file's name).") var runName: String?
        @Flag var quiet = false

        func run() throws {
            let terminal = Terminal(quiet: quiet)
            let set = try RuleSet.load(rules)
            let (items, bad) = try RewardInput.read(input, stopOnError: !skipBadLines)
            for e in bad { terminal.note("skipped: \(e)") }
            let start = Date()
            let scored = set.score(items.map { (completion: $0.completion, task: $0.task) })
            let seconds = Date().timeIntervalSince(start)
            var out = ""
            for (item, s) in zip(items, scored) {
                var rules: [String: JSONValue] = [:]
                var reasons: [String: JSONValue] = [:]
                for r in s.rules {
                    rules[r.name] = r.score.map { .number($0.score) } ?? .null
                    reasons[r.name] = r.score.map { .string($0.reason) } ?? .string("not_applicable")
                }
                let line: JSONValue = .object([
                    "id": item.id, "reward": s.reward.map { .number($0) } ?? .null,
                    "rules": .object(rules), "reasons": .object(reasons),
                ])
                out += String(decoding: try JSONEncoder.sortedKeys.encode(line), as: UTF8.self) + "\n"
            }
            if let output {
                try AtomicFile.write(out, to: URL(fileURLWithPath: output))
            } else {
                print(out, terminator: "")
            }
            if let traces {
                let run = try Rewards.record(
                    set: set, items: items, scored: scored, into: traces,
                    name: runName ?? URL(fileURLWithPath: input).lastPathComponent)
                terminal.note("recorded as run \(run) in \(traces): grpo traces samples --db \(traces) --run \(run)")
            }
            terminal.note(
                String(
                    format: "scored %d completions in %.2f s (%.0f per second), %d bad lines skipped",
                    items.count, seconds, Double(items.count) / max(seconds, 1e-9), bad.count))
            // A rule none of whose scores is a verdict (every one an error, share 1) fails the command
            // once the lines are written: they show each error's reason.
            try set.checkRulesWork(scored, maxErrorShare: 1)
        }
    }

    /// The scored lines as one step of a run: a group per task id (in order of first
    /// appearance), advantages as GRPO would compute them (scale_rewards = group).
    fileprivate static func record(
        set: RuleSet, items: [RewardInput], scored: [ScoredCompletion], into path: String, name: String
    ) throws -> Int64 {
        let writer = try TraceWriter(path: path)
        let run = try writer.startRun(
            RunInfo(
                name: name, rulesName: set.name, rulesText: set.text,
                rules: set.entries.map { RuleInfo(name: $0.name, kind: $0.kind, weight: $0.weight) },
                system: BLASStartup.state.json))
        let step = StepRecord(
            step: 0, keys: items.map { $0.task.id ?? $0.task.prompt ?? "line \($0.line)" },
            prompts: items.map { $0.task.prompt ?? "" }, completions: items.map(\.completion), scored: scored)
        try writer.record(step)
        try writer.finish(.finished)
        return run
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Unit tests for a rule set: each case {\"completion\", \"task\", \"expect\": {rule: score}, "
                + "\"expect_reward\"?}.",
            discussion: "Prints every mismatch; exits non-zero if there is any. A rule expected as null must not apply."
        )
        @Option(help: "Rule set: a file or a name (see `grpo rewards list`).") var rules: String
        @Option(help: "Cases JSONL.") var cases: String
        @Option(help: "Allowed difference between expected and actual scores.") var tolerance = 1e-6

        func run() throws {
            let set = try RuleSet.load(rules)
            let (items, _) = try RewardInput.read(cases, stopOnError: true)
            let scored = set.score(items.map { (completion: $0.completion, task: $0.task) })
            try set.checkRulesWork(scored, maxErrorShare: 1)
            var failures = 0
            for (item, s) in zip(items, scored) {
                var problems: [String] = []
                for (rule, want) in item.expect.sorted(by: { $0.key < $1.key }) {
                    guard let result = s.rules.first(where: { $0.name == rule }) else {
                        problems.append("no rule \"\(rule)\" in \(set.name)")
                        continue
                    }
                    switch (want, result.score) {
                    case (nil, nil): break
                    case (nil, let got?):
                        problems.append("\(rule): expected not applicable, got \(got.score) (\(got.reason))")
                    case (let w?, nil): problems.append("\(rule): expected \(w), but the rule does not apply")
                    case (let w?, let got?):
                        if abs(w - got.score) > tolerance {
                            problems.append(
                                "\(rule): expected \(w), got \(got.score) "
                                    + "(\(got.reason)\(got.detail.map { ": " + $0 } ?? ""))"
                            )
                        }
                    }
                }
                if let w = item.expectReward, abs(w - (s.reward ?? .nan)) > tolerance || s.reward == nil {
                    problems.append("reward: expected \(w), got \(s.reward.map { "\($0)" } ?? "none")")
                }
                if !problems.isEmpty {
                    failures += 1
                    print("\(cases):\(item.line) (\(item.id.text ?? "no id")): " + problems.joined(separator: "; "))
                }
            }
            print("\(items.count - failures) passed, \(failures) failed")
            if failures > 0 { throw ExitCode(1) }
        }
    }

    struct SandboxInfo: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sandbox",
            abstract: "What the code sandbox holds on this machine: interpreter, whole-run limits, whether it runs.")

        func run() throws {
            print("interpreter: \(Sandbox.defaultPython ?? "none found (python3 in /usr/bin, /usr/local/bin, PATH)")")
            print("whole-run limits: \(Sandbox.runLimitMode.summary)")
            print(
                "per run: PID, network, mount, IPC and UTS namespaces; read-only file system but fresh /tmp, "
                    + "/var/tmp, /dev/shm; its own uid; seccomp: no new user namespaces, no keyrings; rlimits; "
                    + "wall clock")
            switch Sandbox.availability {
            case .success: print("status: runs start here")
            case .failure(let e):
                print("status: runs cannot start here: \(e.reason)")
                throw ExitCode(1)
            }
        }
    }
}

/// Input lines for `score` and `check`.
struct RewardInput {
    var id: JSONValue
    var completion: String
    var task: RewardTask
    var expect: [String: Double?] = [:]
    var expectReward: Double?
    var line: Int

    /// Reads JSONL; bad lines are errors naming file, line and field (collected, or thrown at the first).
    static func read(_ path: String, stopOnError: Bool) throws -> ([RewardInput], [RewardError]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw RewardError.missingFile(path) }
        var items: [RewardInput] = []
        var bad: [RewardError] = []
        for (i, raw) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated()
        {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            do { items.append(try parse(line, file: path, line: i + 1)) } catch let e as RewardError {
                if stopOnError { throw e }
                bad.append(e)
            }
        }
        return (items, bad)
    }

    static func parse(_ text: String, file: String, line: Int) throws -> RewardInput {
        func fail(_ field: String?, _ m: String) -> RewardError {
            .badInput(file: file, line: line, field: field, message: m)
        }
        guard let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8)) else {
            throw fail(nil, "not a JSON object")
        }
        guard let completion = object["completion"]?.string else {
            throw fail("completion", object["completion"] == nil ? "missing" : "expected a string")
        }
        guard case .object(let t)? = object["task"] else {
            throw fail("task", object["task"] == nil ? "missing" : "expected an object")
        }
        let task: RewardTask
        do { task = try RewardTask(object: t) } catch let e as RewardTask.FieldError {
            throw fail("task.\(e.field)", e.message)
        }
        var item = RewardInput(
            id: object["id"] ?? .number(Double(line)), completion: completion, task: task, line: line)
        if let e = object["expect"] {
            guard case .object(let m) = e else { throw fail("expect", "expected an object of rule: score") }
            for (k, v) in m {
                if v == .null {
                    item.expect[k] = .some(nil)
                    continue
                }
                guard let n = v.number else { throw fail("expect.\(k)", "expected a number or null") }
                item.expect[k] = n
            }
        }
        if let r = object["expect_reward"] {
            guard let n = r.number else { throw fail("expect_reward", "expected a number") }
            item.expectReward = n
        }
        return item
    }
}
