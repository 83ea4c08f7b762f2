// What a run refuses before its first step, by name: config values that are
// not numbers or not finite, or of the wrong type, an alias bomb, a batch that
// cannot fit in memory, a task too long for the context; and a rule that stops
// working mid-run stops the run instead of training on its zeros.

import XCTest
import Foundation
import Policy
import RewardRules
import TaskSets
import Support
import Training

final class RunChecksTests: XCTestCase {
    func error(_ overrides: [(String, String)], file: String? = nil) -> String {
        do {
            _ = try GRPOConfig.load(file: file, overrides: [("model", "m"), ("task_set", "t")] + overrides)
            return "no error"
        } catch { return "\(error)" }
    }

    /// Non-finite numbers, fractions, text and out-of-range integers: the key and the problem.
    func testConfigValuesNameTheKeyAndTheProblem() {
        XCTAssertEqual(
            error([("learning_rate", ".nan")]),
            "flags: key \"learning_rate\": must be a finite number, not nan")
        XCTAssertEqual(error([("beta", ".inf")]), "flags: key \"beta\": must be a finite number, not inf")
        XCTAssertEqual(
            error([("epsilon_high", "-.inf")]),
            "flags: key \"epsilon_high\": must be a finite number, not -inf")
        let wholeNumber = "a whole number (within \(Int.min)...\(Int.max))"
        XCTAssertEqual(
            error([("num_generations", "2.5")]),
            "flags: key \"num_generations\": expected \(wholeNumber), found \"2.5\"")
        XCTAssertEqual(
            error([("num_generations", "100000000000000000000000")]),
            "flags: key \"num_generations\": expected \(wholeNumber), found \"100000000000000000000000\"")
        XCTAssertEqual(error([("temperature", "hot")]), "flags: key \"temperature\": expected a number, found \"hot\"")
        XCTAssertEqual(
            error([("dynamic_sampling", "[1, 2]")]),
            "flags: key \"dynamic_sampling\": expected true or false, found a list")
        XCTAssertEqual(
            error([("num_generations", "1000000000000")]),
            "flags: key \"num_generations\": 1000000000000 is beyond the largest this trainer takes (65536)")
        XCTAssertEqual(
            error([("loss_type", "ppo")]),
            "flags: key \"loss_type\": \"ppo\" is not one of grpo, bnpo, dapo, dr_grpo")
        XCTAssertEqual(error([("learning_rate", "2e-5"), ("num_generations", "4")]), "no error")
    }

    /// The same from a file, and an alias bomb in one refused before it is walked.
    func testConfigFileErrorsAndAliasBomb() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("run-checks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("grpo.yaml")
        try "learning_rate: .nan\nbeta: 0.0\n".write(to: file, atomically: false, encoding: .utf8)
        XCTAssertEqual(
            error([], file: file.path),
            "\(file.path):1: key \"learning_rate\": must be a finite number, not nan")
        // A flag wins over the file.
        XCTAssertEqual(error([("learning_rate", "1e-5")], file: file.path), "no error")
        let levels = (1...9).map { level in
            "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"
        }
        let bomb = (["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + levels + ["run_name: *a9"]).joined(separator: "\n")
        try bomb.write(to: file, atomically: false, encoding: .utf8)
        XCTAssertEqual(
            error([], file: file.path),
            "\(file.path): the document holds more than 100000 values once its "
                + "aliases are expanded (an alias bomb?); refusing it")
    }

    /// Ten short math tasks and one test task, the completion cap 12.
    static let tasks = GRPOTrainerTests.tasks

    func config(_ configure: (inout GRPOConfig) -> Void = { _ in }) -> GRPOConfig {
        var c = GRPOConfig()
        c.model = "toy"
        c.taskSet = "toy"
        c.numGenerations = 2
        c.promptsPerStep = 2
        c.maxSteps = 2
        configure(&c)
        return c
    }

    func toy() throws -> Transformer {
        let m = Transformer(config: try ModelConfig.named("toy"))
        m.initialize(seed: 1)
        return m
    }

    /// A task whose prompt and completion cap do not fit the context is named before step 1,
    /// with what to do about it.
    func testTaskTooLongForTheContextIsNamedBeforeTheFirstStep() throws {
        let model = try toy()
        let context = model.config.maxPositionEmbeddings
        // bos and context - 11 prompt bytes: 10 tokens left over, fewer than the cap of 12.
        var train = Self.tasks.train
        train.append(TaskRecord(id: "long-one", prompt: "q" + String(repeating: "9", count: context - 12), answer: "1"))
        let tasks = TaskSet(
            folder: Self.tasks.folder, manifest: Self.tasks.manifest, train: train,
            test: Self.tasks.test, sft: [])
        let rules = GRPOTrainerTests.rules
        XCTAssertThrowsError(try GRPOTrainer(config: config(), model: model, tasks: tasks, rules: rules)) {
            let overflow = ContextOverflow(
                taskID: "long-one", split: "train", promptTokens: context - 10,
                completionCap: 12, context: context)
            XCTAssertEqual($0 as? ContextFitError, ContextFitError(taskSet: "toy", overflows: [overflow]))
            XCTAssertEqual(
                "\($0)",
                "toy: task \"long-one\" (train): its prompt is \(context - 10) tokens, and with a "
                    + "completion cap of 12 it needs \(context + 2), past the model's context of \(context) "
                    + "(max_position_embeddings): lower max_completion_length to at most 10, shorten the "
                    + "prompt, or leave the task out; `grpo tasks validate toy --model DIR` lists every one")
        }
        // With the cap lowered as it says, the run starts.
        XCTAssertNoThrow(
            try GRPOTrainer(
                config: config { $0.maxCompletionLength = 10 }, model: model, tasks: tasks,
                rules: rules))
        // Evaluation names it too (it shortens the cap to fit, but a prompt must leave room for a token).
        let filling = TaskRecord(id: "full", prompt: String(repeating: "9", count: context), answer: "1")
        let full = TaskSet(
            folder: Self.tasks.folder, manifest: Self.tasks.manifest, train: [], test: [filling],
            sft: [])
        XCTAssertThrowsError(try Evaluation.run(model: model, tasks: full, rules: rules)) {
            XCTAssertEqual(($0 as? ContextFitError)?.overflows.map(\.taskID), ["full"])
        }
    }

    /// A batch that cannot fit in memory is refused before anything of its size is allocated,
    /// naming the key and both figures.
    func testBatchBeyondTheMemoryIsRefusedByKey() throws {
        let model = try toy()
        let huge = config {
            $0.numGenerations = 65536
            $0.promptsPerStep = 65536
        }
        let estimate = MemoryEstimate.grpo(huge, model: model.config, longestPrompt: 5, completionCap: 12)
        XCTAssertGreaterThan(estimate.total, 1e14, "2^32 rows of 17 tokens: far beyond any machine")
        let rules = GRPOTrainerTests.rules
        XCTAssertThrowsError(try GRPOTrainer(config: huge, model: model, tasks: Self.tasks, rules: rules)) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.file, "config")
            XCTAssertEqual(error.key, "num_generations")
            let message = error.message
            XCTAssertTrue(message.hasPrefix("this run needs about "), message)
            XCTAssertTrue(message.contains(" available (weights, gradients"), message)
        }
        // The estimate grows with the batch, exactly as rows for what is per row.
        func withGenerations(_ generations: Int) -> MemoryEstimate {
            MemoryEstimate.grpo(
                config { $0.numGenerations = generations }, model: model.config, longestPrompt: 5,
                completionCap: 12)
        }
        let small = withGenerations(2)
        let double = withGenerations(4)
        XCTAssertEqual(double.parts[0].bytes, small.parts[0].bytes, "the weights do not grow with the batch")
        for i in 1..<small.parts.count {
            XCTAssertEqual(double.parts[i].bytes, 2 * small.parts[i].bytes, accuracy: 1e-6)
        }
        XCTAssertEqual(small.parts[0].bytes, 4 * 4 * model.config.parameterCount, "weights, gradients and two moments")
    }

    /// A rule that fails every request stops the step with its error: its zeros are not trained on.
    func testBrokenRuleStopsTheRun() throws {
        let broken = BrokenRule(name: "judge")
        let registry = RuleRegistry(builtIn: false)
        registry.register(RuleKind(name: "breakable", summary: "scores until told to fail") { _ in broken })
        let rules = try RuleSet.parse(
            "rules:\n  - {name: judge, kind: breakable}\n", file: "r.yaml",
            registry: registry)
        let trainer = try GRPOTrainer(config: config(), model: try toy(), tasks: Self.tasks, rules: rules)
        XCTAssertNoThrow(try trainer.trainStep(), "healthy: the step runs")
        broken.fails = true
        XCTAssertThrowsError(try trainer.trainStep()) {
            XCTAssertEqual(
                $0 as? RewardError,
                .broken(rule: "judge", file: "r.yaml", message: "judge has failed for good"))
        }
        XCTAssertEqual(trainer.step, 1, "the failed step counts for nothing")
    }
}

/// A rule that scores 1 until told to fail, then says it is broken.
private final class BrokenRule: RewardRule, @unchecked Sendable {
    let name: String
    var fails = false
    init(name: String) { self.name = name }
    func score(completion: String, task: RewardTask) -> RuleScore? {
        if fails { return RuleScore(score: 0, reason: "plugin_error") }
        return RuleScore(score: completion.count % 2 == 0 ? 1 : 0, reason: "ok")
    }
    func failureReason() -> String? { fails ? "\(name) has failed for good" : nil }
}
