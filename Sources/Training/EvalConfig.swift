// `grpo eval` configuration: held-out accuracy of a checkpoint, with the same
// nouns as `grpo train` (model, task_set, rules, db, run_name) and its names
// for what they share (num_generations, temperature, eval_limit).

import Policy
import TaskSets
import Support

public struct EvalConfig: Codable, Equatable, Sendable, OptionRoot {
    public var model = ""
    public var taskSet = ""
    public var split = "test"
    public var rules: String?
    /// The rule whose full marks count as solved (default: the task set's answer_rule, else the
    /// rule set's one answer rule).
    public var answerRule: String?
    /// Tasks evaluated, the first of the split (0: all).
    public var evalLimit = 0
    /// Also sample completions a task for pass@k (0: greedy only).
    public var k = 0
    /// Completions sampled a task for pass@k (at least k).
    public var numGenerations = 0
    public var temperature: Float = 1
    public var maxCompletionLength: Int?
    /// Text every completion must start with: the policy continues it, the rules score both.
    public var prefix = ""
    public var seed: UInt64 = 0
    public var db: String?
    public var runName: String?
    public var json = false
    public var quiet = false

    public init() {}
    public init(from decoder: Decoder) throws { self = try Self.options.decode(from: decoder) }
    public func encode(to encoder: Encoder) throws { try Self.options.encode(self, to: encoder) }

    public static let options = OptionTable<EvalConfig>(
        command: "eval",
        keys: [
            OptionKey("model", \.model, "Checkpoint folder to evaluate.", aliases: ["checkpoint"], default: "required"),
            OptionKey(
                "task_set", \.taskSet, "Task set: a name under Tasks/ or a folder.", aliases: ["tasks"],
                default: "required"),
            OptionKey("split", \.split, "Split to evaluate."),
            OptionKey("rules", \.rules, "Rule set: a name under Rewards/ or a file.", default: "the task set's"),
            OptionKey(
                "answer_rule", \.answerRule, "The rule whose full marks count as solved.",
                default: "the task set's"),
            OptionKey("eval_limit", \.evalLimit, "Evaluate the first N tasks (0: all).", aliases: ["limit"]),
            OptionKey("k", \.k, "Also sample completions a task for pass@k (0: greedy only)."),
            OptionKey(
                "num_generations", \.numGenerations, "Completions sampled a task for pass@k.", aliases: ["n"],
                default: "k"),
            OptionKey("temperature", \.temperature, "Sampling temperature for pass@k."),
            OptionKey(
                "max_completion_length", \.maxCompletionLength, "Longest completion in tokens.",
                default: "the task set's"),
            OptionKey(
                "prefix", \.prefix, "Text every completion starts with (\\n for a newline); the rules score both."),
            OptionKey("seed", \.seed, "Seed of the pass@k samples."),
            OptionKey(
                "db", \.db, "Also record the result in this trace database (greedy: step 0, pass@k: step 1).",
                default: "none"),
            OptionKey("run_name", \.runName, "Name of the run recorded in --db.", default: "eval <model>"),
            OptionKey("json", \.json, "Print the report as one JSON object."),
            OptionKey("quiet", \.quiet, "No notes on standard error."),
        ],
        refused: [
            ("per_device_eval_batch_size", "greedy decoding runs 32 prompts a call, sampling about 64 sequences"),
            ("report_to", "the report goes to standard output (--json) and, with --db, the traces database"),
        ])

    public func validate(file: String = "flags") throws {
        func fail(_ key: String, _ m: String) -> ConfigError { ConfigError(file: file, key: key, message: m) }
        guard !model.isEmpty else { throw fail("model", "required: the checkpoint folder to evaluate") }
        guard !taskSet.isEmpty else { throw fail("task_set", "required: a task set under Tasks/ or a folder") }
        guard TaskSet.splitNames.contains(split) else {
            throw fail("split", "\"\(split)\" is not one of \(TaskSet.splitNames.joined(separator: ", "))")
        }
        guard evalLimit >= 0 else { throw fail("eval_limit", "must be >= 0") }
        guard k >= 0, k <= 1 << 16 else { throw fail("k", "must be in 0...\(1 << 16)") }
        guard numGenerations >= 0, numGenerations <= 1 << 16 else {
            throw fail("num_generations", "must be in 0...\(1 << 16)")
        }
        guard temperature.isFinite, temperature > 0 else { throw fail("temperature", "must be a positive number") }
        if let m = maxCompletionLength, m < 1 || m > 1 << 20 {
            throw fail("max_completion_length", "must be in 1...\(1 << 20)")
        }
    }

    public static func load(file: String?, flags: [(key: String, value: String, flag: String)]) throws -> EvalConfig {
        let (config, _, places) = try options.read(file: file, flags: flags)
        try places.checking { try config.validate(file: file ?? "flags") }
        return config
    }
}
