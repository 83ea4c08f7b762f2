// The option tables of sft, train and eval: aliases and kebab case set the same
// field, value errors name the key and the source (file or flags) with what the
// key expects, refused TRL names say why, and the TRL names taken here do what
// they say (num_train_epochs, reward_weights, max_prompt_length,
// gradient_accumulation_steps). The saved config round-trips through the table.

import XCTest
import Foundation
import Policy
import RewardRules
import TaskSets
import Training

final class OptionTableTests: XCTestCase {
    func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch { return "\(error)" }
    }
    func flags(_ pairs: [(String, String)]) -> [(key: String, value: String, flag: String)] {
        pairs.map { ($0.0, $0.1, "--" + $0.0) }
    }
    func sft(_ pairs: [(String, String)]) throws -> SFTConfig {
        try SFTConfig.load(file: nil, flags: flags(pairs))
    }
    func eval(_ pairs: [(String, String)]) throws -> EvalConfig {
        try EvalConfig.load(file: nil, flags: flags([("model", "m"), ("task_set", "t")] + pairs))
    }

    func testAliasesAndKebabCaseSetTheSameFieldAsTheKey() throws {
        let canonical = try sft([
            ("task_set", "arith"), ("per_device_train_batch_size", "4"), ("max_steps", "7"),
            ("output_dir", "o"), ("learning_rate", "0.002"),
        ])
        let old = try sft([
            ("data", "arith"), ("batch-size", "4"), ("max-steps", "7"), ("output-dir", "o"),
            ("learning-rate", "0.002"),
        ])
        XCTAssertEqual(old, canonical)
        XCTAssertEqual(canonical.perDeviceTrainBatchSize, 4)
        XCTAssertEqual(canonical.optimizer.learningRate, 0.002)
        XCTAssertNotEqual(canonical, SFTConfig(), "the premise: the flags changed something")
        let line = try EvalConfig.options.parseCommandLine([
            "--checkpoint", "m", "--tasks", "t", "-k", "8", "-n", "16",
            "--limit", "5", "--json",
        ])
        let fromOld = try EvalConfig.load(file: nil, flags: line.flags)
        let fromNew = try EvalConfig.load(
            file: nil,
            flags: try EvalConfig.options.parseCommandLine(
                [
                    "--model", "m", "--task_set", "t", "--k", "8", "--num_generations", "16", "--eval_limit", "5",
                    "--json", "true",
                ]).flags)
        XCTAssertEqual(fromOld, fromNew)
        XCTAssertEqual(fromNew.numGenerations, 16)
        XCTAssertTrue(fromNew.json)
        let resume = try GRPOConfig.options.parseCommandLine(["--resume", "x/checkpoint-2"])
        XCTAssertEqual(
            try GRPOConfig.options.read(file: nil, flags: resume.flags).config.resumeFromCheckpoint, "x/checkpoint-2")
        // Both spellings of one key at once: refused, naming both.
        XCTAssertEqual(
            message { try self.sft([("data", "a"), ("task_set", "b")]) },
            "flags: key \"task_set\": given twice (as --data and --task_set)")
    }

    func testValueErrorsNameTheKeyTheSourceAndWhatTheKeyExpects() throws {
        XCTAssertEqual(
            message {
                try GRPOConfig.load(
                    file: nil,
                    overrides: [
                        ("model", "m"), ("task_set", "t"),
                        ("learning_rate", "abc"),
                    ])
            },
            "flags: key \"learning_rate\": expected a number, found \"abc\"")
        XCTAssertEqual(
            message { try self.sft([("task_set", "t"), ("max_steps", "ten")]) },
            "flags: key \"max_steps\": expected a whole number (within \(Int.min)...\(Int.max)), found \"ten\"")
        XCTAssertEqual(
            message { try self.eval([("json", "maybe")]) },
            "flags: key \"json\": expected true or false, found \"maybe\"")
        XCTAssertEqual(
            message { try GRPOConfig.options.parseCommandLine(["--loss_type", "ppo"]) }, "no error",
            "the command line is read first, the values after")
        XCTAssertEqual(
            message {
                try GRPOConfig.load(
                    file: nil,
                    overrides: [
                        ("model", "m"), ("task_set", "t"),
                        ("scale_rewards", "std"),
                    ])
            },
            "flags: key \"scale_rewards\": \"std\" is not one of group, batch, none")
        // A misspelt flag and a misspelt file key get the same suggestion.
        XCTAssertTrue(
            message { try SFTConfig.options.parseCommandLine(["--max-stpes", "3"]) }
                .hasPrefix("flags: key \"max-stpes\": unknown option (did you mean --max_steps"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("options-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try "task_set: arith\nmax_stpes: 3\n".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertTrue(
            message { try SFTConfig.load(file: file.path, flags: []) }
                .hasPrefix("\(file.path):2: key \"max_stpes\": unknown option (did you mean max_steps"))
        try "model: m\ntask_set: arith\nlearning_rate: fast\n".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertEqual(
            message { try GRPOConfig.load(file: file.path) },
            "\(file.path):3: key \"learning_rate\": expected a number, found \"fast\"")
        // A flag wins over the file's value of the same key.
        try "model: m\ntask_set: arith\nlearning_rate: 1.0e-3\n".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertEqual(try GRPOConfig.load(file: file.path, overrides: [("learning_rate", "2e-5")]).learningRate, 2e-5)
        XCTAssertEqual(
            message { try GRPOConfig.options.parseCommandLine(["--learning_rate"]) },
            "flags: key \"learning_rate\": needs a value (NUMBER)")
    }

    func testErrorsAboutAFileKeyNameItsLineAndAFlagThatOverrodeItNamesTheFlags() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("options-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let yaml = folder.appendingPathComponent("run.yaml")
        // Out of range, found by the config's own checks after reading: still the file's line.
        try "# a run\nmodel: m\ntask_set: arith\n\nnum_generations: 1\n".write(
            to: yaml, atomically: false, encoding: .utf8)
        let range = message { try GRPOConfig.load(file: yaml.path) }
        XCTAssertTrue(range.hasPrefix("\(yaml.path):5: key \"num_generations\": "), range)
        // The same value from a flag is the flag's fault, not the file's.
        try "model: m\ntask_set: arith\nnum_generations: 8\n".write(to: yaml, atomically: false, encoding: .utf8)
        let flag = message { try GRPOConfig.load(file: yaml.path, overrides: [("num_generations", "1")]) }
        XCTAssertTrue(flag.hasPrefix("flags: key \"num_generations\": "), flag)
        try "task_set: arith\nmax_steps: 3\nnum_train_epochs: 2\nlearning_rate: -1\n".write(
            to: yaml, atomically: false, encoding: .utf8)
        let sft = message { try SFTConfig.load(file: yaml.path, flags: []) }
        XCTAssertTrue(sft.hasPrefix("\(yaml.path)"), sft)
        // TOML: keys before any [table] and the table's own header line.
        let toml = folder.appendingPathComponent("run.toml")
        try "model = \"m\"\n\ntask_set = \"arith\"\nlearning_rat = 1e-5\n[reward_weights]\nformat = 1\n".write(
            to: toml, atomically: false, encoding: .utf8)
        XCTAssertTrue(
            message { try GRPOConfig.load(file: toml.path) }.hasPrefix(
                "\(toml.path):4: key \"learning_rat\": unknown option (did you mean learning_rate"))
        try "model = \"m\"\ntask_set = \"arith\"\n[reward_weights]\nformat = \"heavy\"\n".write(
            to: toml, atomically: false, encoding: .utf8)
        let table = message { try GRPOConfig.load(file: toml.path) }
        XCTAssertTrue(table.hasPrefix("\(toml.path):3: key \"reward_weights\": "), table)
    }

    func testTRLNamesWithoutAMeaningHereAreRefusedWithTheReason() {
        XCTAssertEqual(
            message { try GRPOConfig.options.parseCommandLine(["--report_to", "wandb"]) },
            "flags: key \"report_to\": not taken by grpo train: metrics go to <run>.metrics.jsonl and the "
                + "traces database; there is no W&B/TensorBoard reporting")
        XCTAssertTrue(
            message { try GRPOConfig.options.parseCommandLine(["--per_device_train_batch_size", "8"]) }
                .contains("set prompts_per_step"))
        XCTAssertTrue(
            message { try GRPOConfig.options.parseCommandLine(["--log_completions"]) }
                .contains("recorded in the traces database"))
        XCTAssertTrue(
            message { try SFTConfig.options.parseCommandLine(["--gradient_accumulation_steps", "4"]) }
                .contains("raise per_device_train_batch_size"))
        XCTAssertEqual(
            message { try SFTConfig.options.parseCommandLine(["--per_device_train_batch_size", "8"]) },
            "no error", "SFT's batch size")
    }

    func testNumTrainEpochsSetsTheStepsAndMaxStepsWithItIsRefused() throws {
        let c = try sft([("task_set", "t"), ("num_train_epochs", "2.5"), ("per_device_train_batch_size", "4")])
        XCTAssertEqual(c.steps(examples: 10), 7, "2.5 passes over 10 examples in batches of 4: ceil(25 / 4)")
        XCTAssertEqual(try sft([("task_set", "t")]).steps(examples: 10), 200, "max_steps' default")
        XCTAssertEqual(
            message { try self.sft([("task_set", "t"), ("num_train_epochs", "1"), ("max_steps", "3")]) },
            "flags: key \"num_train_epochs\": give max_steps or num_train_epochs, not both")
    }

    func testRewardWeightsReplaceTheRuleSetsWeights() throws {
        let rules = GRPOTrainerTests.rules
        XCTAssertEqual(rules.entries.map(\.weight), [1, 0.5], "the premise")
        func weights(_ text: String) throws -> [Double] {
            let c = try GRPOConfig.load(
                file: nil, overrides: [("model", "m"), ("task_set", "t"), ("reward_weights", text)])
            return try XCTUnwrap(c.rewardWeights).applied(to: rules, file: "flags").entries.map(\.weight)
        }
        XCTAssertEqual(try weights("0.25,2"), [0.25, 2], "TRL's form: one a rule, in order")
        XCTAssertEqual(try weights("[0.25, 2]"), [0.25, 2])
        XCTAssertEqual(try weights("starts=0"), [1, 0], "by name: the others keep theirs")
        XCTAssertEqual(try weights("{has: 3}"), [3, 0.5])
        XCTAssertEqual(
            message { try weights("1") },
            "flags: key \"reward_weights\": 1 weights for 2 rules "
                + "(rule set toy: has, starts)")
        XCTAssertEqual(
            message { try weights("answer=1") },
            "flags: key \"reward_weights\": no rule \"answer\" "
                + "(rule set toy: has, starts)")
        let scored = try XCTUnwrap(
            GRPOConfig.load(
                file: nil,
                overrides: [
                    ("model", "m"), ("task_set", "t"),
                    ("reward_weights", "2,0"),
                ]
            ).rewardWeights
        )
        .applied(to: rules, file: "flags").score(completion: "a", task: RewardTask(kind: "math", answer: ""))
        XCTAssertEqual(scored.reward, 2, "'a' passes both rules: 2 x 1 + 0 x 1")
    }

    func testMaxPromptLengthRefusesALongerPromptAndGradientAccumulationFixesTheMicroBatches() throws {
        let model = Transformer(config: try ModelConfig.named("toy"))
        model.initialize(seed: 1)
        var c = GRPOConfig()
        c.model = "toy"
        c.taskSet = "toy"
        c.numGenerations = 2
        c.promptsPerStep = 2
        c.maxSteps = 1
        // The longest training prompt, "9+9=" with bos, is 5 tokens.
        c.maxPromptLength = 4
        XCTAssertThrowsError(
            try GRPOTrainer(
                config: c, model: model, tasks: GRPOTrainerTests.tasks,
                rules: GRPOTrainerTests.rules)
        ) {
            XCTAssertTrue("\($0)".hasPrefix("config: key \"max_prompt_length\": task \"t"), "\($0)")
            XCTAssertTrue("\($0)".contains("has a prompt of 5 tokens, more than 4"), "\($0)")
        }
        c.maxPromptLength = 5
        c.gradientAccumulationSteps = 3
        let trainer = try GRPOTrainer(
            config: c, model: model, tasks: GRPOTrainerTests.tasks, rules: GRPOTrainerTests.rules)
        XCTAssertEqual(trainer.microBatches, 3)
    }

    /// The saved config (grpo_config.json) holds the saved keys only, and reads back the same.
    func testTheSavedConfigRoundTripsThroughTheTable() throws {
        var c = try GRPOConfig.load(
            file: nil,
            overrides: [
                ("model", "m"), ("task_set", "t"), ("beta", "0.04"),
                ("reward_weights", "has=2"), ("quiet", "true"),
            ])
        let data = try JSONEncoder().encode(c)
        let keys = Set(try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any]).keys)
        let saved = GRPOConfig.options.keys.filter(\.isSaved).map(\.name)
        let absent: Set = [
            "rules", "run_name", "output_dir", "max_completion_length", "max_prompt_length",
            "epsilon_high", "gradient_accumulation_steps", "answer_rule",
        ]
        XCTAssertEqual(keys, Set(saved).subtracting(absent))
        XCTAssertFalse(keys.contains("quiet"), "how this invocation ran is not part of the run's config")
        let back = try JSONDecoder().decode(GRPOConfig.self, from: data)
        c.quiet = false
        XCTAssertEqual(back, c)
    }
}
