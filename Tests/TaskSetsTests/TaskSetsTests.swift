// Task sets: the format and its errors, generators (determinism, no train/test
// overlap, demonstrations that are right), importers on small fixture files,
// and the countdown rule.

import XCTest
import Sandbox
import Foundation
import RewardRules
import TaskSets

final class TaskSetsTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "tasksets-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    func write(_ name: String, _ text: String) throws -> URL {
        let url = tmp.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
        return url
    }

    func makeSet(
        manifest: String = "name: s\nkind: math\nrules: math\n", train: String,
        test: String = "{\"id\": \"t1\", \"prompt\": \"1+1=\", \"answer\": \"2\"}\n"
    ) throws -> String {
        _ = try write("s/task.yaml", manifest)
        _ = try write("s/train.jsonl", train)
        _ = try write("s/test.jsonl", test)
        return tmp.appendingPathComponent("s").path
    }

    func error(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch { return "\(error)" }
    }

    func testFormatAndErrors() throws {
        let path = try makeSet(
            train: "{\"id\": \"a\", \"prompt\": \"2+2=\", \"answer\": \"4\", \"meta\": {\"level\": 1}}\n\n")
        let set = try TaskSet.load(path)
        XCTAssertEqual(set.train.map(\.id), ["a"])
        XCTAssertEqual(set.manifest.promptTemplate, "{prompt}")
        XCTAssertEqual(set.train[0].rewardTask(kind: "math").answer, "4")

        let bad = try makeSet(
            train:
                "{\"id\": \"a\", \"prompt\": \"x\", \"answer\": \"1\"}\n"
                + "{\"id\": \"b\", \"prompt\": 3, \"answer\": \"1\"}\n")
        XCTAssertEqual(error { try TaskSet.load(bad) }, "\(bad)/train.jsonl:2: field \"prompt\": expected a string")
        let missing = try makeSet(train: "{\"id\": \"a\", \"prompt\": \"x\"}\n")
        XCTAssertEqual(error { try TaskSet.load(missing) }, "\(missing)/train.jsonl:1: field \"answer\": missing")
        let dup = try makeSet(train: "{\"id\": \"t1\", \"prompt\": \"x\", \"answer\": \"1\"}\n")
        XCTAssertEqual(
            error { try TaskSet.load(dup) },
            "\(dup)/test.jsonl:1: field \"id\": duplicate id \"t1\" (first at train.jsonl:1)")
        let json = try makeSet(train: "{\"id\": \"a\",\n")
        XCTAssertEqual(error { try TaskSet.load(json) }, "\(json)/train.jsonl:1: not valid JSON")
        let code = try makeSet(
            manifest: "name: s\nkind: code\nrules: code\n",
            train: "{\"id\": \"a\", \"prompt\": \"x\", \"tests\": \"assert 1\"}\n",
            test: "{\"id\": \"b\", \"prompt\": \"x\", \"tests\": \"assert 1\", \"entry_point\": \"f\"}\n")
        XCTAssertEqual(error { try TaskSet.load(code) }, "\(code)/train.jsonl:1: field \"entry_point\": missing")
        let manifest = try makeSet(manifest: "name: s\nkind: math\nrules: math\nprompt_templat: x\n", train: "")
        XCTAssertTrue(error { try TaskSet.load(manifest) }.contains("task.yaml: field \"prompt_templat\": unknown key"))
        let kind = try makeSet(manifest: "name: s\nkind: poetry\nrules: math\n", train: "")
        XCTAssertTrue(error { try TaskSet.load(kind) }.contains("field \"kind\": must be \"math\" or \"code\""))
        XCTAssertTrue(error { try TaskSet.load(self.tmp.appendingPathComponent("none").path) }.contains("no task set"))
    }

    func testGeneratorsAreDeterministicAndDisjoint() throws {
        for name in Generators.names {
            let o = GeneratorOptions(train: 150, test: 40, sft: 60, seed: 7)
            let a = try Generators.generate(name, options: o)
            let b = try Generators.generate(name, options: o)
            XCTAssertEqual(a.train, b.train, name)
            XCTAssertEqual(a.test, b.test, name)
            XCTAssertEqual(a.sft, b.sft, name)
            var other = o
            other.seed = 8
            XCTAssertNotEqual(try Generators.generate(name, options: other).train, a.train, name)
            XCTAssertEqual(a.train.count, 150)
            XCTAssertEqual(a.test.count, 40)
            XCTAssertEqual(a.sft.count, 60)
            // No test problem appears in train or among the demonstrations.
            let testPrompts = Set(a.test.map(\.prompt))
            XCTAssertTrue(a.train.allSatisfy { !testPrompts.contains($0.prompt) }, name)
            XCTAssertTrue(a.sft.allSatisfy { !testPrompts.contains($0.prompt) }, name)
            XCTAssertEqual(Set(a.train.map(\.id) + a.test.map(\.id)).count, 190, "unique ids")
            // Written and read back through the loader.
            let folder = tmp.appendingPathComponent(name)
            try TaskSet.write(to: folder, manifest: a.manifest, train: a.train, test: a.test, sft: a.sft)
            let loaded = try TaskSet.load(folder.path)
            XCTAssertEqual(loaded.train, a.train)
            XCTAssertEqual(loaded.sft, a.sft)
        }
    }

    func testArithmeticWorkingIsRight() throws {
        let set = try Generators.generate(
            "arith", options: GeneratorOptions(train: 10, test: 10, sft: 300, seed: 1, knobs: ["digits": "3"]))
        for d in set.sft {
            // The answer in the demonstration is the true result of the prompt.
            let prompt = d.prompt.dropLast()
            let op = prompt.first { "+-*".contains($0) && prompt.firstIndex(of: $0) != prompt.startIndex }!
            let parts = prompt.split(separator: op).map { Int($0)! }
            let want = op == "+" ? parts[0] + parts[1] : op == "-" ? parts[0] - parts[1] : parts[0] * parts[1]
            XCTAssertTrue(d.completion.hasSuffix("<answer>\(want)</answer>"), "\(d.prompt) \(d.completion)")
        }
        XCTAssertEqual(Arithmetic.working((47, "+", 85)), "7+5+0=12 so 2\n4+8+1=13 so 132")
        XCTAssertEqual(Arithmetic.working((806, "+", 53)), "6+3+0=9 so 9\n0+5+0=5 so 59\n8+0+0=8 so 859")
        XCTAssertEqual(Arithmetic.working((503, "-", 27)), "13-7-0=6 so 6\n10-2-1=7 so 76\n5-0-1=4 so 476")
        XCTAssertEqual(Arithmetic.working((503, "-", 498)), "13-8-0=5 so 5\n10-9-1=0 so 05\n5-4-1=0 so 005")
        XCTAssertEqual(Arithmetic.working((47, "*", 36)), "47*6=282\n47*30=1410\n282+1410=1692")
    }

    /// arith with direct_share: a demonstration either answers at once or works the problem out a step a
    /// line, in the asked share; the token after "<think>" tells the styles apart.
    func testArithmeticStyles() throws {
        var options = GeneratorOptions(train: 20, test: 20, sft: 400, seed: 5, knobs: ["digits": "3"])
        let worked = try Generators.generate("arith", options: options)
        options.knobs["direct_share"] = "70"
        let set = try Generators.generate("arith", options: options)
        XCTAssertEqual(set.manifest.rules, "arith")
        var direct = 0
        for (d, w) in zip(set.sft, worked.sft) {
            XCTAssertEqual(d.prompt, w.prompt, "the same problems whatever the share")
            let answer = try XCTUnwrap(
                w.completion.components(separatedBy: "<think>\n").last?
                    .components(separatedBy: "\n</think>").last)
            XCTAssertTrue(w.completion.hasPrefix("<think>\n"), w.completion)
            if d.completion.hasPrefix("<think></think>") {
                direct += 1
                XCTAssertEqual(d.completion, "<think></think>" + answer)
            } else {
                XCTAssertEqual(d.completion, w.completion)
            }
        }
        XCTAssertEqual(Double(direct) / 400, 0.7, accuracy: 0.06)
    }

    /// arith-code: arith's problems, each demonstration either the answer from memory or a
    /// program printing the prompt's own expression, in the asked share.
    func testArithmeticCodeStyles() throws {
        let options = GeneratorOptions(train: 20, test: 20, sft: 400, seed: 3, knobs: ["direct_share": "25"])
        let set = try Generators.generate("arith-code", options: options)
        let arith = try Generators.generate("arith", options: options)
        XCTAssertEqual(set.test.map(\.prompt), arith.test.map(\.prompt), "the same problems as arith")
        XCTAssertEqual(set.test.map(\.answer), arith.test.map(\.answer))
        XCTAssertTrue(set.test.allSatisfy { $0.id.hasPrefix("arith-code-test-") })
        XCTAssertEqual(set.manifest.rules, "arith-code")
        XCTAssertEqual(set.manifest.stop, ["</answer>", "\n```"])
        var direct = 0
        for (d, a) in zip(set.sft, arith.sft) {
            XCTAssertEqual(d.prompt, a.prompt)
            let answer = try XCTUnwrap(a.completion.components(separatedBy: "<answer>").last)
            if d.completion.hasPrefix("<answer>") {
                direct += 1
                XCTAssertEqual("<answer>" + answer, d.completion)
            } else {
                XCTAssertEqual(d.completion, "```python\nprint(\(d.prompt.dropLast()))\n```")
            }
            XCTAssertLessThanOrEqual(d.completion.utf8.count + 1, set.manifest.maxCompletionLength)
        }
        XCTAssertEqual(Double(direct) / 400, 0.25, accuracy: 0.06)
        // Deterministic for a seed.
        XCTAssertEqual(try Generators.generate("arith-code", options: options).sft, set.sft)
        let tooMuch = GeneratorOptions(knobs: ["direct_share": "101"])
        XCTAssertThrowsError(try Generators.generate("arith-code", options: tooMuch)) { error in
            XCTAssertTrue("\(error)".contains("direct_share"), "\(error)")
        }
    }

    func testCountdownRuleAndSolver() throws {
        let task = RewardTask(
            kind: "math", answer: "31",
            json: ["meta": .object(["numbers": .array([3, 7, 25, 2].map { .number($0) }), "target": .number(31)])])
        let rule = CountdownRule(name: "c")
        XCTAssertEqual(rule.score(completion: "<answer>25+7-3+2</answer>", task: task)?.reason, "correct")
        XCTAssertEqual(rule.score(completion: "<answer>(25 + 7) - (3 - 2)</answer>", task: task)?.reason, "correct")
        XCTAssertEqual(rule.score(completion: "<answer>25+7</answer>", task: task)?.reason, "wrong_value")
        XCTAssertEqual(
            rule.score(completion: "<answer>25+3+3</answer>", task: task)?.reason, "bad_numbers", "3 used twice")
        XCTAssertEqual(rule.score(completion: "<answer>31</answer>", task: task)?.reason, "bad_numbers")
        XCTAssertEqual(rule.score(completion: "<answer>25+7-(3/0)</answer>", task: task)?.reason, "not_an_expression")
        XCTAssertEqual(rule.score(completion: "no answer", task: task)?.reason, "no_answer")
        XCTAssertEqual(
            CountdownRule.check("7/2*2", numbers: [7, 2, 2], target: 7), "correct", "exact rationals, no truncation")
        XCTAssertEqual(CountdownRule.check("7/2", numbers: [7, 2], target: 3), "wrong_value")
        XCTAssertNil(
            rule.score(completion: "<answer>1</answer>", task: RewardTask(kind: "math", answer: "1")),
            "not a countdown task")
        // Every generated demonstration is accepted by the rule.
        let set = try Generators.generate("countdown", options: GeneratorOptions(train: 5, test: 5, sft: 50, seed: 3))
        for t in set.train + set.test {
            guard case .array(let ns)? = t.meta["numbers"], let target = t.meta["target"]?.number else {
                return XCTFail("meta")
            }
            let solved = try XCTUnwrap(Countdown.solve(ns.map { Int($0.number!) }, Int(target)))
            XCTAssertEqual(
                rule.score(completion: "<answer>\(solved.expression)</answer>", task: t.rewardTask(kind: "math"))?
                    .reason, "correct")
        }
        for d in set.sft {
            let numbersText = d.prompt.components(separatedBy: "numbers ")[1].components(separatedBy: ", make ")
            let numbers = numbersText[0].split(separator: ",").map { Int64($0.trimmingCharacters(in: .whitespaces))! }
            let target = Int64(numbersText[1].prefix { $0.isNumber })!
            let answer = d.completion.components(separatedBy: "<answer>")[1].replacingOccurrences(
                of: "</answer>", with: "")
            XCTAssertEqual(CountdownRule.check(answer, numbers: numbers, target: target), "correct", d.completion)
        }
    }

    func testImporters() throws {
        let he = try write(
            "he.jsonl",
            """
            {"task_id": "HumanEval/0", "prompt": "def add(a, b):\\n    \\"\\"\\"Add.\\"\\"\\"\\n", \
            "canonical_solution": "    return a + b\\n", \
            "test": "def check(candidate):\\n    assert candidate(1, 2) == 3\\n", "entry_point": "add"}
            {"task_id": "HumanEval/1", "prompt": "def neg(a):\\n", "canonical_solution": "    return -a\\n", \
            "test": "def check(candidate):\\n    assert candidate(1) == -1\\n", "entry_point": "neg"}
            """)
        let h = try Importers.load(
            he.path,
            options: {
                var o = Importers.Options(format: "humaneval", name: "he")
                o.testCount = 1
                return o
            }())
        XCTAssertEqual(h.manifest.kind, "code")
        let all = h.train + h.test
        XCTAssertEqual(all.count, 2)
        XCTAssertEqual(h.test.count, 1)
        let add = all.first { $0.id == "HumanEval/0" }!
        XCTAssertTrue(add.tests!.hasSuffix("check(add)\n"))
        XCTAssertEqual(add.solution, "def add(a, b):\n    \"\"\"Add.\"\"\"\n    return a + b\n")

        let gsm = try write(
            "gsm.jsonl",
            """
            {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = <<3+4=7>>7\\n#### 7"}
            {"question": "A farm has 1,200 cows. Half leave.", "answer": "1200 / 2 = 600\\n#### 600"}
            {"question": "Big?", "answer": "#### 1,000"}
            """)
        // Gzip input is accepted (where a gzip program is on PATH to make and read it).
        var paths = [gsm.path]
        if let gzip = ExecutableSearch.find("gzip") {
            let p = Process()
            p.executableURL = gzip
            p.arguments = ["-kf", gsm.path]
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            paths.append(gsm.path + ".gz")
        } else {
            print("skipped the gzip import: no gzip on PATH")
        }
        for path in paths {
            let g = try Importers.load(
                path,
                options: {
                    var o = Importers.Options(format: "gsm8k", name: "g")
                    o.testCount = 0
                    return o
                }())
            XCTAssertEqual(Set(g.train.map { $0.answer! }), ["7", "600", "1000"])
            XCTAssertEqual(g.sft.count, 3)
            XCTAssertTrue(g.sft.contains { $0.completion == "<think>3 + 4 = <<3+4=7>>7</think><answer>7</answer>" })
        }
        let math = try write(
            "math.jsonl",
            """
            {"problem": "Find x.", "solution": "So $x = \\\\boxed{\\\\frac{1}{2}}$.", "level": "Level 2", \
            "type": "Algebra"}
            {"problem": "No box", "solution": "It is 3."}
            """)
        XCTAssertEqual(
            error { try Importers.load(math.path, options: Importers.Options(format: "math", name: "m")) },
            "\(math.path):2: field \"solution\": no \\boxed{...} answer")
        XCTAssertEqual(Importers.lastBoxed("a \\boxed{1} b \\boxed{\\frac{1}{2}}"), "\\frac{1}{2}")
        let mbpp = try write(
            "mbpp.jsonl",
            """
            {"task_id": 2, "text": "Write a function to square.", "code": "def square(x):\\n    return x * x", \
            "test_list": ["assert square(2) == 4", "assert square(-3) == 9"]}
            """)
        let m = try Importers.load(
            mbpp.path,
            options: {
                var o = Importers.Options(format: "mbpp", name: "m")
                o.testCount = 0
                return o
            }())
        XCTAssertEqual(m.train[0].entryPoint, "square")
        XCTAssertEqual(m.train[0].id, "2")
        XCTAssertEqual(m.train[0].tests, "assert square(2) == 4\nassert square(-3) == 9")
        let generic = try write(
            "g.jsonl", "{\"q\": \"2+3\", \"label\": 5, \"uid\": \"x1\"}\n{\"q\": \"1+1\", \"uid\": \"x2\"}\n")
        var o = Importers.Options(format: "jsonl", name: "g")
        o.mapping = ["prompt": "q", "answer": "label", "id": "uid"]
        XCTAssertEqual(
            error { try Importers.load(generic.path, options: o) }, "\(generic.path):2: field \"label\": missing")
        try "{\"q\": \"2+3\", \"label\": 5, \"uid\": \"x1\"}\n".write(to: generic, atomically: false, encoding: .utf8)
        o.testCount = 0
        XCTAssertEqual(
            try Importers.load(generic.path, options: o).train, [TaskRecord(id: "x1", prompt: "2+3", answer: "5")])
    }

    /// The task sets shipped under Tasks/ load, and their demonstrations are right.
    func testShippedSets() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Tasks").path)
            .filter {
                FileManager.default.fileExists(atPath: root.appendingPathComponent("Tasks/\($0)/task.yaml").path)
            }
        XCTAssertTrue(Set(names).isSuperset(of: ["arith", "countdown", "linear-code", "python-basics"]), "\(names)")
        for name in names {
            let set = try TaskSet.load(name, relativeTo: root.path)
            XCTAssertFalse(set.train.isEmpty, name)
            XCTAssertFalse(set.test.isEmpty, name)
            XCTAssertTrue(
                Set(set.test.map(\.prompt)).isDisjoint(with: set.train.map(\.prompt)), "\(name): test overlaps train")
            XCTAssertNoThrow(
                try RuleSet.load(set.manifest.rules, relativeTo: root.path).name,
                "\(name): its rule set \(set.manifest.rules)")
        }
        let countdown = try TaskSet.load("countdown", relativeTo: root.path)
        for d in countdown.sft.prefix(200) {
            let parts = d.prompt.components(separatedBy: "numbers ")[1].components(separatedBy: ", make ")
            let numbers = parts[0].split(separator: ",").map { Int64($0.trimmingCharacters(in: .whitespaces))! }
            let answer = d.completion.components(separatedBy: "<answer>")[1].replacingOccurrences(
                of: "</answer>", with: "")
            XCTAssertEqual(
                CountdownRule.check(answer, numbers: numbers, target: Int64(parts[1].prefix { $0.isNumber })!),
                "correct")
        }
    }

    /// Every reference solution of the shipped code sets passes its tests in the sandbox
    /// (linear-code: its test split and a slice of train, to keep the suite quick).
    func testShippedCodeSetsAreSolvable() throws {
        if case .failure(let e) = Sandbox.availability { throw XCTSkip("needs the sandbox: \(e.reason)") }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let lc = try TaskSet.load("linear-code", relativeTo: root.path)
        let sample = TaskSet(
            folder: lc.folder, manifest: lc.manifest, train: Array(lc.train.prefix(50)), test: lc.test, sft: [])
        let report = try sample.validate()
        XCTAssertEqual(report.solutionsChecked, 250)
        XCTAssertEqual(report.failures, [])
        // A wrong solution is caught: the check is not vacuous.
        var broken = lc.test[0]
        broken.solution = "def f(x):\n    return x\n"
        let bad = try TaskSet(folder: lc.folder, manifest: lc.manifest, train: [], test: [broken], sft: []).validate()
        XCTAssertEqual(bad.failures.count, 1)
        XCTAssertTrue(bad.failures[0].contains("assertion_failed"), bad.failures[0])

        // python-basics is hand-written: every task's reference passes, all 113 of them.
        let basics = try TaskSet.load("python-basics", relativeTo: root.path).validate()
        XCTAssertEqual(basics.solutionsChecked, 113)
        XCTAssertEqual(basics.failures, [])
    }
}
