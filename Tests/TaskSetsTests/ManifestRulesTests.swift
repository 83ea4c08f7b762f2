// A task set's `rules:` names a rule set that must load: `tasks validate`
// says so, naming the manifest and the field, instead of letting every run
// that uses the set's default rules fail later.

import XCTest
import Foundation
import RewardRules
import TaskSets

extension TaskSetsTests {
    func testValidateNamesAMissingRuleSet() throws {
        let path = try makeSet(
            manifest: "name: s\nkind: math\nrules: no-such-rules\n",
            train: "{\"id\": \"a\", \"prompt\": \"2+2=\", \"answer\": \"4\"}\n")
        let set = try TaskSet.load(path)
        let manifest = URL(fileURLWithPath: path).appendingPathComponent("task.yaml").path
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        // The folders searched start with the current one (GRPO_HOME and an install may follow).
        XCTAssertThrowsError(try set.validate()) {
            guard case let .badManifest(file, field, message)? = $0 as? TaskSetError else { return XCTFail("\($0)") }
            XCTAssertEqual(file, manifest)
            XCTAssertEqual(field, "rules")
            XCTAssertTrue(
                message.hasPrefix(
                    "no rule set \"no-such-rules\" (looked for no-such-rules.yaml in "
                        + "\(here.path)/Rewards (current folder)"), message)
        }
        // A rule file that is there but wrong is named through the same field, with its own error.
        let broken = try write("broken.yaml", "rules:\n  - {name: f, kind: regex, pattern: x, applies_to: [maths]}\n")
        let other = try makeSet(
            manifest: "name: s\nkind: math\nrules: \(broken.path)\n",
            train: "{\"id\": \"a\", \"prompt\": \"2+2=\", \"answer\": \"4\"}\n")
        XCTAssertThrowsError(try TaskSet.load(other).validate()) {
            let expected =
                "\(manifest): field \"rules\": rule set \"\(broken.path)\": \(broken.path):2: rule \"f\": "
                + "field \"applies_to\": unknown task kind \"maths\""
            XCTAssertTrue("\($0)".hasPrefix(expected), "\($0)")
        }
        // A rule set that loads passes.
        let fine = try write("fine.yaml", "rules:\n  - {name: f, kind: regex, pattern: x}\n")
        let good = try makeSet(
            manifest: "name: s\nkind: math\nrules: \(fine.path)\n",
            train: "{\"id\": \"a\", \"prompt\": \"2+2=\", \"answer\": \"4\"}\n")
        XCTAssertEqual(try TaskSet.load(good).validate().tasks, 2)
    }
}
