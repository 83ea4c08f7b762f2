// The importers beyond their happy formats: MATH end to end (answers, metadata, ids,
// demonstrations the math rule accepts, the test split), every error a user's file can
// cause (each naming file, line and field), and imported HumanEval and MBPP tasks run in
// the sandbox, where the reference solutions pass and a wrong one fails.

import XCTest
import Foundation
import RewardRules
import TaskSets

final class ImporterTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory
            .appendingPathComponent("importers-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    func write(_ name: String, _ lines: [String]) throws -> String {
        let url = tmp.appendingPathComponent(name)
        try lines.joined(separator: "\n").write(to: url, atomically: false, encoding: .utf8)
        return url.path
    }

    /// A JSONL file of these objects, one a line.
    func write(_ name: String, objects: [[String: Any]]) throws -> String {
        try write(
            name,
            objects.map { object in
                String(
                    decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
            })
    }

    func options(_ format: String, test: Int? = 0) -> Importers.Options {
        var o = Importers.Options(format: format, name: format)
        o.testCount = test
        return o
    }

    func testMATHImportSucceeds() throws {
        let path = try write(
            "math.jsonl",
            objects: [
                [
                    "problem": "Find $x$ if $2x = 1$.", "solution": #"Divide: $x = \boxed{\frac{1}{2}}$."#,
                    "level": "Level 1",
                    "type": "Algebra", "unique_id": "test/algebra/1.json",
                ],
                [
                    "problem": #"What is $\{1,2\}\cup\{3\}$?"#,
                    "solution": #"First \boxed{2}, no: it is $\boxed{\{1,2,3\}}$."#, "subject": "Prealgebra",
                ],
                ["problem": #"Evaluate $\sqrt{8}$."#, "solution": #"$\sqrt{8} = \boxed{2\sqrt{2}}$"#],
                ["problem": "Compute $3!$.", "solution": #"$3! = \fbox{6}$"#],
            ])
        let set = try Importers.load(path, options: options("math", test: 1))
        XCTAssertEqual(set.manifest.kind, "math")
        XCTAssertEqual(set.manifest.rules, "math")
        XCTAssertEqual(set.manifest.stop, ["</answer>"])
        XCTAssertEqual(set.train.count, 3)
        XCTAssertEqual(set.test.count, 1)
        let all = Dictionary(uniqueKeysWithValues: (set.train + set.test).map { ($0.id, $0) })
        XCTAssertEqual(
            Set(all.keys), ["test/algebra/1.json", "math-2", "math-3", "math-4"],
            "unique_id, else name-line")
        XCTAssertEqual(all["test/algebra/1.json"]?.answer, "\\frac{1}{2}")
        XCTAssertEqual(all["test/algebra/1.json"]?.meta, ["level": .string("Level 1"), "type": .string("Algebra")])
        XCTAssertEqual(all["math-2"]?.answer, "\\{1,2,3\\}", "the last box, nested braces whole")
        XCTAssertEqual(all["math-2"]?.meta, ["subject": .string("Prealgebra")])
        XCTAssertEqual(all["math-3"]?.answer, "2\\sqrt{2}")
        XCTAssertEqual(all["math-4"]?.answer, "6", "\\fbox counts as a box")
        // One demonstration per training task, the solution as reasoning; the math rule accepts each.
        XCTAssertEqual(Set(set.sft.compactMap(\.id)), Set(set.train.map(\.id)))
        let rule = MathRule(name: "answer")
        for demo in set.sft {
            let task = try XCTUnwrap(all[demo.id ?? ""])
            XCTAssertEqual(demo.prompt, task.prompt)
            XCTAssertTrue(demo.completion.hasPrefix("<think>"), demo.completion)
            XCTAssertTrue(demo.completion.hasSuffix("</answer>"), demo.completion)
            XCTAssertEqual(
                rule.score(completion: demo.completion, task: set.manifest.rewardTask(for: task))?.reason,
                "correct", demo.completion)
        }
        // Written and read back as a task set.
        let folder = tmp.appendingPathComponent("imported")
        try TaskSet.write(to: folder, manifest: set.manifest, train: set.train, test: set.test, sft: set.sft)
        let loaded = try TaskSet.load(folder.path)
        XCTAssertEqual(loaded.train, set.train)
        XCTAssertEqual(loaded.sft.count, 3)
        // The split is seeded: the same seed, the same test task.
        XCTAssertEqual(try Importers.load(path, options: options("math", test: 1)).test, set.test)
    }

    /// Every user error names the file, the line and the field, as a typed error.
    func testImporterErrorsNameFileLineAndField() throws {
        func badLine(
            _ format: String, _ lines: [String], line: Int, field: String?, _ message: String,
            file: StaticString = #filePath, at: UInt = #line
        ) throws {
            let path = try write("\(format)-\(UUID().uuidString.prefix(4)).jsonl", lines)
            XCTAssertThrowsError(try Importers.load(path, options: options(format)), file: file, line: at) { error in
                XCTAssertEqual(
                    error as? TaskSetError, .badLine(file: path, line: line, field: field, message: message),
                    file: file, line: at)
            }
        }
        func line(_ object: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
        }
        let he = try line([
            "task_id": "a", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
            "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f",
        ])
        let noEntry = try line(["task_id": "b", "prompt": "def g():\n", "canonical_solution": "x", "test": "t"])
        try badLine("humaneval", [he, noEntry], line: 2, field: "entry_point", "missing")
        let listPrompt = try line([
            "task_id": "b", "prompt": ["def g():"], "canonical_solution": "x", "test": "t",
            "entry_point": "g",
        ])
        try badLine("humaneval", [listPrompt], line: 1, field: "prompt", "expected a string")
        let noTests = try line(["task_id": 1, "text": "Square.", "code": "def sq(x): return x*x", "test_list": []])
        try badLine("mbpp", [noTests], line: 1, field: "test_list", "expected a non-empty list of asserts")
        try badLine(
            "mbpp", [try line(["task_id": 1, "text": "Square.", "test_list": ["assert sq(2) == 4"]])],
            line: 1, field: "code", "missing")
        try badLine(
            "gsm8k",
            [
                try line(["question": "How many?", "answer": "#### 3"]),
                try line(["question": "And now?", "answer": "4"]),
            ],
            line: 2, field: "answer", "no \"#### <number>\" at the end")
        try badLine("math", [try line(["problem": "p"])], line: 1, field: "solution", "missing")
        let sum = try line(["prompt": "2+2", "answer": "4"])
        try badLine("jsonl", [sum, "{\"prompt\": \"3+3\","], line: 2, field: nil, "not valid JSON")
        try badLine("jsonl", [sum, "[1, 2]"], line: 2, field: nil, "expected a JSON object")

        let dup = try write("dup.jsonl", [he, he])
        XCTAssertThrowsError(try Importers.load(dup, options: options("humaneval"))) {
            XCTAssertEqual($0 as? TaskSetError, .duplicateID(id: "a", file: dup, line: 2, first: "an earlier line"))
        }
        let missing = tmp.appendingPathComponent("none.jsonl").path
        XCTAssertThrowsError(try Importers.load(missing, options: options("gsm8k"))) {
            XCTAssertEqual($0 as? TaskSetError, .notFound("\(missing): no such file"))
        }
        let any = try write("any.jsonl", [he])
        XCTAssertThrowsError(try Importers.load(any, options: options("parquet"))) {
            guard case .invalid(let message)? = $0 as? TaskSetError else { return XCTFail("\($0)") }
            XCTAssertTrue(message.hasPrefix("unknown format \"parquet\""), message)
        }
        // A gzip header over a truncated stream: gzip's complaint, with the file's name.
        guard ExecutableSearch.find("gzip") != nil else { throw XCTSkip("no gzip on PATH to read a broken .gz with") }
        let broken = tmp.appendingPathComponent("broken.jsonl.gz")
        try Data([0x1f, 0x8b, 0x08, 0x00, 0x00]).write(to: broken)
        XCTAssertThrowsError(try Importers.load(broken.path, options: options("gsm8k"))) {
            guard case .invalid(let message)? = $0 as? TaskSetError else { return XCTFail("\($0)") }
            XCTAssertTrue(message.hasPrefix("\(broken.path): gzip: "), message)
        }
    }

    /// Imported HumanEval and MBPP tasks run in the sandbox: every reference solution passes its
    /// imported tests, and a wrong solution fails them.
    func testImportedCodeTasksRunInTheSandbox() throws {
        guard geteuid() == 0 else {
            throw XCTSkip("the sandbox needs root (namespaces and its own uids); run the tests as root to check this")
        }
        let he = try write(
            "he.jsonl",
            objects: [
                [
                    "task_id": "HumanEval/0", "prompt": "def add(a, b):\n    \"\"\"Add.\"\"\"\n",
                    "canonical_solution": "    return a + b\n",
                    "test":
                        "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
                    "entry_point": "add",
                ],
                [
                    "task_id": "HumanEval/1", "prompt": "def rev(s):\n", "canonical_solution": "    return s[::-1]\n",
                    "test": "def check(candidate):\n    assert candidate('ab') == 'ba'\n", "entry_point": "rev",
                ],
            ])
        let mbpp = try write(
            "mbpp.jsonl",
            objects: [
                [
                    "task_id": 2, "text": "Write a function to square.", "code": "def square(x):\n    return x * x",
                    "test_list": ["assert square(2) == 4", "assert square(-3) == 9"],
                ],
                [
                    "task_id": 3, "text": "Write a function to add one.", "code": "def inc(x):\n    return x + 1",
                    "test_setup_code": "BASE = 41", "test_list": ["assert inc(BASE) == 42"],
                ],
            ])
        for (path, format) in [(he, "humaneval"), (mbpp, "mbpp")] {
            let imported = try Importers.load(path, options: options(format, test: 1))
            let set = TaskSet(
                folder: tmp, manifest: imported.manifest, train: imported.train, test: imported.test,
                sft: [])
            let report = try set.validate()
            XCTAssertEqual(report.solutionsChecked, 2, format)
            XCTAssertEqual(report.failures, [], format)
            var wrong = imported.train[0]
            wrong.solution = "def \(wrong.entryPoint!)(*args):\n    return None\n"
            let broken = TaskSet(folder: tmp, manifest: imported.manifest, train: [wrong], test: [], sft: [])
            let failures = try broken.validate().failures
            XCTAssertEqual(failures.count, 1, format)
            XCTAssertTrue(failures.first?.contains("assertion_failed") ?? false, "\(format): \(failures)")
        }
    }
}
