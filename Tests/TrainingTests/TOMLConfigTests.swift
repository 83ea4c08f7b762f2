// A TOML config file goes through the same key table as a YAML one: the same run read from
// both forms is the same config, and a bad TOML file gets the errors a bad YAML file gets
// (file, key, nearest names, what the key expects), with the parser's line for a file that
// is no TOML.

import Foundation
import Support
import Training
import XCTest

final class TOMLConfigTests: XCTestCase {
    var folder: URL!
    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("toml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func write(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try text.write(to: url, atomically: false, encoding: .utf8)
        return url.path
    }

    func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch { return "\(error)" }
    }

    func testTheSameRunInYAMLAndTOMLIsTheSameConfig() throws {
        let yaml = try write(
            "grpo.yaml",
            """
            model: runs/sft/final
            task_set: arith
            num_generations: 6
            learning_rate: 2.0e-5
            lr_scheduler_type: constant
            dynamic_sampling: true
            reward_weights: {format: 0.5, answer: 1}
            seed: 7
            """)
        let toml = try write(
            "grpo.toml",
            """
            # the same run
            model = "runs/sft/final"
            task_set = "arith"
            num_generations = 6
            learning_rate = 2.0e-5
            lr_scheduler_type = "constant"
            dynamic_sampling = true
            reward_weights = { format = 0.5, answer = 1 }
            seed = 7
            """)
        let fromYAML = try GRPOConfig.load(file: yaml)
        let fromTOML = try GRPOConfig.load(file: toml)
        XCTAssertEqual(fromTOML, fromYAML)
        XCTAssertEqual(fromTOML.numGenerations, 6)
        XCTAssertEqual(fromTOML.learningRate, 2e-5)
        XCTAssertEqual(fromTOML.rewardWeights, .byName(["format": 0.5, "answer": 1]))
        // Lists and the other commands' tables too; flags still win.
        let sft = try write("sft.toml", "task_set = \"arith\"\nmax_steps = 12\nlearning_rate = 1e-3\n")
        let config = try SFTConfig.load(file: sft, flags: [(key: "max_steps", value: "3", flag: "--max_steps")])
        XCTAssertEqual(config.maxSteps, 3)
        XCTAssertEqual(config.optimizer.learningRate, 1e-3)
        let eval = try write("eval.toml", "model = \"m\"\ntask_set = \"arith\"\nk = 4\n")
        XCTAssertEqual(try EvalConfig.load(file: eval, flags: []).k, 4)
        let weights = try write("w.toml", "model = \"m\"\ntask_set = \"t\"\nreward_weights = [1, 0.5]\n")
        XCTAssertEqual(try GRPOConfig.load(file: weights).rewardWeights, .inOrder([1, 0.5]))
    }

    func testBadTOMLFilesGetTheYAMLErrors() throws {
        let misspelt = try write("a.toml", "model = \"m\"\ntask_set = \"t\"\nmax_stpes = 3\n")
        XCTAssertTrue(
            message { try GRPOConfig.load(file: misspelt) }
                .hasPrefix("\(misspelt):3: key \"max_stpes\": unknown option (did you mean max_steps"),
            message { try GRPOConfig.load(file: misspelt) })
        let wrongType = try write("b.toml", "model = \"m\"\ntask_set = \"t\"\nlearning_rate = \"fast\"\n")
        XCTAssertEqual(
            message { try GRPOConfig.load(file: wrongType) },
            "\(wrongType):3: key \"learning_rate\": expected a number, found \"fast\"")
        let notANumber = try write("c.toml", "model = \"m\"\ntask_set = \"t\"\nlearning_rate = nan\n")
        XCTAssertEqual(
            message { try GRPOConfig.load(file: notANumber) },
            "\(notANumber):3: key \"learning_rate\": must be a finite number, not nan")
        let badValue = try write("d.toml", "model = \"m\"\ntask_set = \"t\"\nloss_type = \"ppo\"\n")
        XCTAssertEqual(
            message { try GRPOConfig.load(file: badValue) },
            "\(badValue):3: key \"loss_type\": \"ppo\" is not one of grpo, bnpo, dapo, dr_grpo")
        let date = try write("e.toml", "model = \"m\"\ntask_set = \"t\"\nseed = 2024-01-01\n")
        XCTAssertEqual(
            message { try GRPOConfig.load(file: date) }, "\(date):3: key \"seed\": a TOML date is no option value")
        let refused = try write("f.toml", "model = \"m\"\ntask_set = \"t\"\nreport_to = \"wandb\"\n")
        XCTAssertTrue(
            message { try GRPOConfig.load(file: refused) }.hasPrefix("\(refused):3: key \"report_to\": not taken"),
            message { try GRPOConfig.load(file: refused) })
    }

    func testAFileThatIsNoTOMLNamesTheLine() throws {
        let broken = try write("broken.toml", "model = \"m\"\ntask_set = \"t\"\nlearning_rate = = 3\n")
        XCTAssertThrowsError(try GRPOConfig.load(file: broken)) { error in
            guard let error = error as? ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.file, broken)
            XCTAssertEqual(error.line, 3)
            XCTAssertNil(error.key)
            XCTAssertTrue(error.message.hasPrefix("not TOML: "), error.message)
            XCTAssertTrue("\(error)".hasPrefix("\(broken):3: not TOML: "), "\(error)")
        }
    }
}
