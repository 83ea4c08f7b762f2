import ArgumentParser
import Foundation
import Kernels
import Policy
import RewardRules
import TaskSets
import Training
import Support

struct Tasks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Task sets (./Tasks, $GRPO_HOME/Tasks, installed): list, show, generate, import, validate.",
        subcommands: [List.self, Show.self, Generate.self, Import.self, Validate.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The task sets in ./Tasks, $GRPO_HOME/Tasks and the installed ones, and where each is.")
        func run() throws {
            let folders = SetFolders.search("Tasks")
            SetListing.show(TaskSet.available(folders: folders), in: folders, what: "task sets") { entry in
                let s = try TaskSet.load(entry.path)
                return "\(s.manifest.name)  \(s.manifest.kind)  train \(s.train.count)  test \(s.test.count)  "
                    + "sft \(s.sft.count)  rules \(s.manifest.rules)  - \(s.manifest.description)"
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tasks of a set, as the policy sees them.")
        @Argument(help: "A task-set name (see `grpo tasks list`) or any folder path.") var name: String
        @Option var split = "train"
        @Option var limit = 5
        @Flag var json = false
        func run() throws {
            let set = try TaskSet.load(name)
            for t in try set.split(split).prefix(limit) {
                if json {
                    print(String(decoding: try JSONEncoder.sortedKeys.encode(JSONValue.object(t.json)), as: UTF8.self))
                } else {
                    print("--- \(t.id)")
                    print(set.manifest.prompt(for: t))
                    if let a = t.answer { print("answer: \(a)") }
                    if let tests = t.tests { print("tests:\n\(tests)") }
                }
            }
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a task set (deterministic by seed; test never overlaps train).",
            discussion: """
                Knobs: arith --digits N --ops '+-*' --direct-share P (percent of the demonstrations that answer \
                with no working, default 0); arith-code the same, --direct-share being the percent that answer from \
                memory rather than by a Python program (default 50); countdown --numbers N --max N; linear-code \
                --families linear,quadratic,modulo,piecewise.
                """)
        @Argument(help: "arith, arith-code, countdown or linear-code") var generator: String
        @Option var out: String
        @Option var train = 1000
        @Option var test = 200
        @Option(help: "Demonstrations (sft.jsonl), from problems not in test.") var sft = 1000
        @Option var seed: UInt64 = 0
        @Option var digits: Int?
        @Option var ops: String?
        @Option var numbers: Int?
        @Option var max: Int?
        @Option var families: String?
        @Option(help: "arith, arith-code: percent of demonstrations that answer from memory.")
        var directShare: Int?

        func run() throws {
            var knobs: [String: String] = [:]
            if let digits { knobs["digits"] = String(digits) }
            if let ops { knobs["ops"] = ops }
            if let numbers { knobs["numbers"] = String(numbers) }
            if let max { knobs["max"] = String(max) }
            if let families { knobs["families"] = families }
            if let directShare { knobs["direct_share"] = String(directShare) }
            var set = try Generators.generate(
                generator, options: GeneratorOptions(train: train, test: test, sft: sft, seed: seed, knobs: knobs))
            set.manifest.name = (out as NSString).lastPathComponent
            try TaskSet.write(
                to: URL(fileURLWithPath: out), manifest: set.manifest, train: set.train, test: set.test, sft: set.sft)
            print(
                "wrote \(out): train \(set.train.count), test \(set.test.count), sft \(set.sft.count) (\(generator), "
                    + "seed \(seed))"
            )
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a task set from a file you have (gzip accepted).",
            discussion:
                "Formats: humaneval, mbpp, gsm8k, math, jsonl (--map prompt=question,answer=label --kind math|code).")
        @Option var format: String
        @Argument var input: String
        @Option var out: String
        @Option(help: "Tasks for the test split (default: --test-fraction).") var test: Int?
        @Option(name: .customLong("test-fraction")) var testFraction = 0.1
        @Option var seed: UInt64 = 0
        @Option(help: "For jsonl: ours=theirs pairs.") var map: String?
        @Option(help: "For jsonl: math or code.") var kind = "math"

        func run() throws {
            var o = Importers.Options(format: format, name: (out as NSString).lastPathComponent)
            o.testCount = test
            o.testFraction = testFraction
            o.seed = seed
            o.kind = kind
            for pair in (map ?? "").split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1).map {
                    String($0).trimmingCharacters(in: .whitespaces)
                }
                guard kv.count == 2 else { throw ValidationError("--map: expected ours=theirs pairs, got \"\(pair)\"") }
                o.mapping[kv[0]] = kv[1]
            }
            let set = try Importers.load(input, options: o)
            try TaskSet.write(
                to: URL(fileURLWithPath: out), manifest: set.manifest, train: set.train, test: set.test, sft: set.sft)
            print("wrote \(out): train \(set.train.count), test \(set.test.count), sft \(set.sft.count) (\(format))")
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a task set: schema, unique ids, its rule set, and for code sets every reference solution "
                + "against its tests in the sandbox; with --model, that every task fits the model's context.")
        @Argument var name: String
        @Option(help: "A checkpoint folder: check every task's prompt plus the completion cap against its context.")
        var model: String?
        @Option(
            name: .customLong("max-completion-length"),
            help: "The completion cap to check with --model (default: the task set's max_completion_length).")
        var maxCompletionLength: Int?
        @Flag var quiet = false
        func run() throws {
            let terminal = Terminal(quiet: quiet)
            let set = try TaskSet.load(name)
            let report = try set.validate { done, total in terminal.progress("solutions: \(done)/\(total)") }
            terminal.note("")
            print(
                "\(set.manifest.name): \(report.tasks) tasks, \(report.demonstrations) demonstrations; "
                    + "schema, ids and rule set \(set.manifest.rules) ok")
            if let model {
                let checkpoint = URL(fileURLWithPath: model)
                let config = try ModelConfig.load(checkpoint.appendingPathComponent(Checkpoint.configFile))
                let cap = set.manifest.completionCap(asked: maxCompletionLength)
                do {
                    let longest = try ContextFit.check(set, splits: [("train", cap), ("test", cap)], model: config)
                    print(
                        "context: every task fits \(config.maxPositionEmbeddings) tokens with a completion cap of "
                            + "\(cap) (longest prompt \(longest) tokens)")
                } catch let e as ContextFitError {
                    for overflow in e.overflows { print("  TOO LONG \(overflow)") }
                    throw e
                }
            }
            if set.manifest.kind == "code" {
                print(
                    "reference solutions: "
                        + "\(report.solutionsChecked - report.failures.count)/\(report.solutionsChecked) pass their "
                        + "tests"
                        + (report.missingSolutions > 0 ? " (\(report.missingSolutions) tasks have none)" : ""))
                print(
                    "checks: \(report.strictChecks) decided outside the program, "
                        + "\(report.inProcessChecks) in-process "
                        + "(forgeable by the program) in \(report.tasksWithInProcessChecks.count) tasks"
                        + (report.inProcessChecks == 0
                            ? ""
                            : set.manifest.inProcessChecks
                                ? " (allowed: task.yaml has in_process_checks: true)"
                                : " (not allowed: these tasks score 0 in_process_checks; add in_process_checks: true "
                                    + "to task.yaml to accept them)"))
                for t in report.tasksWithInProcessChecks.prefix(20) { print("  in-process: \(t)") }
                for f in report.failures { print("  FAIL \(f)") }
                if !report.failures.isEmpty { throw ExitCode(1) }
            }
        }
    }
}
