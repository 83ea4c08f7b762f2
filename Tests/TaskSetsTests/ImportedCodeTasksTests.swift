// Imported HumanEval and MBPP tasks run in the sandbox, and their asserts are
// checked outside the program: an always-true __eq__ object scores 0, a
// HumanEval check function that loops is an in-process check, which the
// imported set declares and `validate` counts, and a set that does not
// declare them is told so.

import XCTest
import Foundation
import RewardRules
import Sandbox
import TaskSets

final class ImportedCodeTasksTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        if case .failure(let e) = Sandbox.availability { throw XCTSkip("needs the sandbox: \(e.reason)") }
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("imported-code-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDown() { if let tmp { try? FileManager.default.removeItem(at: tmp) } }

    func write(_ name: String, _ text: String) throws -> String {
        let url = tmp.appendingPathComponent(name)
        try text.write(to: url, atomically: false, encoding: .utf8)
        return url.path
    }

    let alwaysEqual = """
        class Anything:
            def __eq__(self, other):
                return True
            __hash__ = object.__hash__
        """

    func testHumanEvalAssertsAreCheckedOutsideTheProgram() throws {
        let path = try write(
            "he.jsonl",
            """
            {"task_id": "HumanEval/0", "prompt": "def add(a, b):\\n", "canonical_solution": "    return a + b\\n", \
            "test": "METADATA = {}\\n\\ndef check(candidate):\\n    assert candidate(1, 2) == 3\\n\
                assert candidate(-1, 1) == 0\\n", \
            "entry_point": "add"}
            {"task_id": "HumanEval/1", "prompt": "def double(a):\\n", "canonical_solution": "    return 2 * a\\n", \
            "test": "def check(candidate):\\n    for x in range(5):\\n        assert candidate(x) == 2 * x\\n", \
            "entry_point": "double"}
            """)
        var options = Importers.Options(format: "humaneval", name: "he")
        options.testCount = 0
        let imported = try Importers.load(path, options: options)
        XCTAssertTrue(imported.manifest.inProcessChecks)
        let folder = tmp.appendingPathComponent("he")
        try TaskSet.write(to: folder, manifest: imported.manifest, train: imported.train, test: imported.test, sft: [])
        let set = try TaskSet.load(folder.path)
        let sandbox = Sandbox(concurrency: 2)
        let report = try set.validate(sandbox: sandbox)
        XCTAssertEqual(report.failures, [])
        XCTAssertEqual(report.solutionsChecked, 2)
        XCTAssertEqual(report.strictChecks, 2)
        XCTAssertEqual(report.inProcessChecks, 1)
        XCTAssertEqual(report.tasksWithInProcessChecks, ["train/HumanEval/1"])

        let rule = CodeRule(name: "tests", sandbox: sandbox)
        let add = try XCTUnwrap(set.train.first { $0.id == "HumanEval/0" }).rewardTask(kind: "code")
        let right = rule.score(completion: "```python\ndef add(a, b):\n    return a + b\n```", task: add)
        XCTAssertEqual(right?.score, 1, "\(String(describing: right))")
        let hack = rule.score(
            completion: "```python\n\(alwaysEqual)\ndef add(a, b):\n    return Anything()\n```",
            task: add)
        XCTAssertEqual(hack?.score, 0)
        XCTAssertEqual(hack?.reason, "assertion_failed")
    }

    func testMBPPAssertsAreCheckedOutsideTheProgram() throws {
        let path = try write(
            "mbpp.jsonl",
            """
            {"task_id": 2, "text": "Write a function to square.", "code": "def square(x):\\n    return x * x", \
            "test_list": ["assert square(2) == 4", "assert square(-3) == 9", \
            "assert math.isclose(square(1.5), 2.25)"], \
            "test_setup_code": "import math"}
            """)
        var options = Importers.Options(format: "mbpp", name: "mbpp")
        options.testCount = 0
        let imported = try Importers.load(path, options: options)
        XCTAssertFalse(imported.manifest.inProcessChecks)
        let sandbox = Sandbox(concurrency: 2)
        let task = imported.train[0].rewardTask(kind: "code")
        let plan = try sandbox.plan(tests: task.tests!, entryPoint: task.entryPoint).get()
        XCTAssertEqual(plan.checks.count, 3)
        XCTAssertEqual(plan.inProcessChecks, 0)
        XCTAssertEqual(plan.computedChecks, 1, "math.isclose is evaluated by the clean verifier")
        let rule = CodeRule(name: "tests", sandbox: sandbox)
        XCTAssertEqual(rule.score(completion: "```python\ndef square(x):\n    return x * x\n```", task: task)?.score, 1)
        let hack = rule.score(
            completion: "```python\n\(alwaysEqual)\ndef square(x):\n    return Anything()\n```",
            task: task)
        XCTAssertEqual(hack?.score, 0)
        // math.isclose on a patched math module in the program changes nothing outside it.
        let patched = rule.score(
            completion: "```python\nimport math\nmath.isclose = lambda *a, **k: True\n"
                + "def square(x):\n    return 0\n```", task: task)
        XCTAssertEqual(patched?.score, 0)
        XCTAssertEqual(patched?.detail?.hasPrefix("0/3 passed"), true, "\(String(describing: patched))")
    }

    func testASetThatDoesNotAllowInProcessChecksIsToldWhichTasksNeedThem() throws {
        let folder = tmp.appendingPathComponent("loops")
        let loop = TaskRecord(
            id: "loop", prompt: "double", tests: "assert all(f(x) == 2 * x for x in range(3))",
            entryPoint: "f", solution: "def f(x):\n    return 2 * x\n")
        try TaskSet.write(
            to: folder, manifest: TaskManifest(name: "loops", kind: "code", rules: "code"),
            train: [loop], test: [], sft: [])
        let report = try TaskSet.load(folder.path).validate(sandbox: Sandbox(concurrency: 1))
        XCTAssertEqual(report.inProcessChecks, 1)
        XCTAssertEqual(report.failures.count, 1)
        let expected = "train/loop: in_process_checks (0/1 passed (1 in-process); line 1: "
        XCTAssertTrue(report.failures[0].hasPrefix(expected), report.failures[0])
        // Declared, the same set passes.
        let declared = TaskManifest(name: "loops", kind: "code", rules: "code", inProcessChecks: true)
        try TaskSet.write(to: folder, manifest: declared, train: [loop], test: [], sft: [])
        XCTAssertTrue(
            try String(contentsOf: folder.appendingPathComponent("task.yaml"), encoding: .utf8)
                .contains("in_process_checks: true"))
        XCTAssertEqual(try TaskSet.load(folder.path).validate(sandbox: Sandbox(concurrency: 1)).failures, [])
    }
}
