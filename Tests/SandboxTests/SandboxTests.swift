// Honest programs, and how the verdict is reached: each assert split into the
// calls under test (run in the sandbox) and what is expected (compared here,
// or by the clean verifier), checks that only run in-process refused unless
// the task allows them, and broken tests named as such.

import XCTest
import Foundation
import Sandbox
import RewardRules

final class SandboxTests: SandboxTestCase {
    func testHonestProgramsPass() {
        let tests = "assert f(2) == 4\nassert f(-1) == -2\nassert f(0) == 0"
        let r = sandbox.run(solution: "def f(x):\n    return x * 2\n", tests: tests, entryPoint: "f")
        XCTAssertEqual(r.outcome, .passed, "\(r)")
        XCTAssertEqual(r.passed, 3)
        XCTAssertEqual(r.total, 3)
        XCTAssertEqual(r.leftoverProcesses, 0)
        let wrong = sandbox.run(solution: "def f(x):\n    return x + 2\n", tests: tests, entryPoint: "f")
        XCTAssertEqual(wrong.outcome, .assertionFailed)
        XCTAssertEqual(wrong.passed, 1)
        XCTAssertEqual(wrong.failure, "line 2: assert f(-1) == -2: got 1")
        XCTAssertEqual(sandbox.run(solution: "def f(x) return 1", tests: "assert f(1) == 1").outcome, .syntaxError)
        let raised = sandbox.run(solution: "def f(x):\n    return 1 / 0\n", tests: "assert f(1) == 1")
        XCTAssertEqual(raised.outcome, .error)
        XCTAssertEqual(raised.failure, "line 1: assert f(1) == 1: raised ZeroDivisionError")
        // Writing and reading in its own working directory is fine.
        let scratch = "open('a.txt','w').write('hi')\ndef f(x):\n    return open('a.txt').read()\n"
        XCTAssertEqual(sandbox.run(solution: scratch, tests: "assert f(0) == 'hi'").outcome, .passed)
    }

    /// Every shape of assert the task sets use, with the right and a wrong solution.
    func testEachKindOfCheckIsDecidedOutsideTheProgram() throws {
        let tests = """
            import math
            xs = [3, 1, 2]
            expected = [1, 2, 3]
            assert f(xs) == expected
            assert f([]) == []
            assert f([2.0, 1]) == [1, 2]
            assert f(xs) is not None
            assert f([1])
            assert not f([])
            assert len(f(list(range(9)))) == 9
            assert abs(f([math.pi])[0] - 3.14159) < 1e-4
            assert f(['b', 'a']) != ['b', 'a']
            assert 2 + 2 == 4
            """
        let plan = try sandbox.plan(tests: tests, entryPoint: "f").get()
        XCTAssertEqual(plan.checks.count, 10)
        XCTAssertEqual(plan.inProcessChecks, 0)
        XCTAssertEqual(plan.computedChecks, 2)
        // The expected list never reaches the program; the inputs it needs do.
        XCTAssertFalse(plan.steps.contains { $0.source.contains("expected") })
        XCTAssertTrue(plan.steps.contains { $0.source == "xs = [3, 1, 2]" && $0.kind == .setup })
        let right = sandbox.run(solution: "def f(xs):\n    return sorted(xs)\n", tests: tests, entryPoint: "f")
        XCTAssertEqual(right.outcome, .passed, "\(right)")
        XCTAssertEqual(right.passed, 10)
        let wrong = sandbox.run(solution: "def f(xs):\n    return list(xs)\n", tests: tests, entryPoint: "f")
        XCTAssertEqual(wrong.outcome, .assertionFailed)
        // [3, 1, 2] != [1, 2, 3], [2.0, 1] != [1, 2], and ['b', 'a'] is unchanged; the rest hold.
        XCTAssertEqual(wrong.passed, 7)
    }

    /// Type-strict: True is not 1, a tuple is not a list, an int subclass is not an int;
    /// an int and a float compare by value.
    func testComparisonsAreTypeStrict() {
        func outcome(_ value: String, _ expected: String) -> SandboxResult.Outcome {
            sandbox.run(
                solution: "class I(int):\n    pass\ndef f():\n    return \(value)\n",
                tests: "assert f() == \(expected)", entryPoint: "f"
            ).outcome
        }
        XCTAssertEqual(outcome("True", "1"), .assertionFailed)
        XCTAssertEqual(outcome("1", "True"), .assertionFailed)
        XCTAssertEqual(outcome("(1, 2)", "[1, 2]"), .assertionFailed)
        XCTAssertEqual(outcome("I(3)", "3"), .assertionFailed)
        XCTAssertEqual(outcome("{'a': (1, 2.5)}", "{'a': (1.0, 2.5)}"), .passed)
        XCTAssertEqual(outcome("{1: 'x', 2: 'y'}", "{2: 'y', 1: 'x'}"), .passed)
        XCTAssertEqual(outcome("{True: 'x'}", "{1: 'x'}"), .assertionFailed)
        XCTAssertEqual(outcome("{frozenset({1, 2}), 3}", "{3, frozenset({2, 1})}"), .passed)
        XCTAssertEqual(outcome("float('nan')", "float('nan')"), .assertionFailed)
        XCTAssertEqual(outcome("10 ** 30", "10 ** 30"), .passed)
        XCTAssertEqual(outcome("1e30", "10 ** 30"), .assertionFailed, "1e30 is not exactly 10**30")
        XCTAssertEqual(outcome("2.0 ** 70", "2 ** 70"), .passed)
        XCTAssertEqual(outcome("'caf\\u00e9\\ud800'", "'caf\\u00e9\\ud800'"), .passed)
        XCTAssertEqual(outcome("b'\\x00'", "'\\x00'"), .assertionFailed)
    }

    /// An assert that only the candidate's interpreter can evaluate is refused unless the
    /// task allows in-process checks; allowed, it runs (and the result says how many).
    func testInProcessChecksNeedTheTasksConsent() {
        let tests = "assert f(1) == 2\nassert all(f(x) == 2 * x for x in range(5))"
        let solution = "def f(x):\n    return 2 * x\n"
        let refused = sandbox.run(solution: solution, tests: tests, entryPoint: "f")
        XCTAssertEqual(refused.outcome, .inProcessRefused)
        XCTAssertEqual(refused.inProcessChecks, 1)
        XCTAssertTrue(refused.failure?.hasPrefix("line 2: ") == true, "\(refused)")
        let allowed = sandbox.run(solution: solution, tests: tests, entryPoint: "f", allowInProcessChecks: true)
        XCTAssertEqual(allowed.outcome, .passed, "\(allowed)")
        XCTAssertEqual(allowed.passed, 2)
        XCTAssertEqual(allowed.inProcessChecks, 1)
        let wrong = sandbox.run(
            solution: "def f(x):\n    return 2\n", tests: tests, entryPoint: "f",
            allowInProcessChecks: true)
        XCTAssertEqual(wrong.outcome, .assertionFailed)
        XCTAssertEqual(wrong.passed, 1)
    }

    /// HumanEval's check(candidate) is inlined: each assert is its own strict check.
    func testHumanEvalCheckFunctionsAreSplit() throws {
        let plan = try sandbox.plan(tests: SandboxTestCase.humanEvalTests, entryPoint: "f").get()
        XCTAssertEqual(plan.checks.count, 3)
        XCTAssertEqual(plan.inProcessChecks, 0)
        XCTAssertEqual(plan.steps.map(\.source), ["f(0)", "f(-4)", "f(7)"])
        XCTAssertEqual(
            sandbox.run(
                solution: "def f(x):\n    return 3 * x + 2\n", tests: SandboxTestCase.humanEvalTests,
                entryPoint: "f"
            ).outcome, .passed)
        // A check that loops stays in-process.
        let looping = """
            def check(candidate):
                for x in range(3):
                    assert candidate(x) == 3 * x + 2

            check(f)
            """
        XCTAssertEqual(try sandbox.plan(tests: looping, entryPoint: "f").get().inProcessChecks, 1)
    }

    /// Tests that are broken without any solution are named, not scored as the program's fault.
    func testBrokenTestsAreReportedAsSuch() {
        let cases: [(String, String)] = [
            ("assert f(1) == (", "not valid Python"),
            ("assert f(1) == undefined_name + 1", "in-process"),
            ("assert f(1) == 1 / 0", "the expected value fails"),
            ("assert 1 == 2", "fails whatever the solution"),
            ("import no_such_module_here\nassert f(1) == 1", "fails without the solution"),
            ("x = 1", "no assert"),
        ]
        for (tests, words) in cases {
            let r = sandbox.run(solution: "def f(x):\n    return x\n", tests: tests, entryPoint: "f")
            if words == "in-process" {
                XCTAssertEqual(r.outcome, .inProcessRefused, tests)
            } else {
                XCTAssertEqual(r.outcome, .testsError, tests)
                XCTAssertTrue(r.failure?.contains(words) == true, "\(tests): \(r.failure ?? "nil")")
            }
        }
    }

    /// The entry point is the candidate's even when a builtin has its name: `max` under test
    /// is not Python's max.
    func testTheEntryPointShadowsBuiltins() {
        let tests = "assert max([1, 5, 2]) == 5"
        XCTAssertEqual(
            sandbox.run(solution: "def max(xs):\n    return 0\n", tests: tests, entryPoint: "max").outcome,
            .assertionFailed)
        let right = "def max(xs):\n    return sorted(xs)[-1]\n"
        XCTAssertEqual(sandbox.run(solution: right, tests: tests, entryPoint: "max").outcome, .passed)
    }

    func testCodeRuleExtractsAndScores() throws {
        let set = try RuleSet.parse(
            "rules:\n  - {name: tests, kind: code, partial_credit: true, wall_seconds: 4}",
            file: "r.yaml")
        let tests = "assert f(1) == 2\nassert f(2) == 4\nassert f(3) == 7\nassert f(4) == 8"
        let task = RewardTask(kind: "code", tests: tests, entryPoint: "f")
        let c = "Here:\n```python\ndef f(x):\n    return 0\n```\nbetter:\n```python\ndef f(x):\n    return 2 * x\n```\n"
        let s = try XCTUnwrap(set.score(completion: c, task: task).score(of: "tests"))
        XCTAssertEqual(s.score, 0.75)
        XCTAssertEqual(s.reason, "assertion_failed")
        XCTAssertEqual(s.detail, "3/4 passed; line 3: assert f(3) == 7: got 6")
        XCTAssertEqual(set.score(completion: "no code here", task: task).score(of: "tests")?.reason, "no_code")
        XCTAssertNil(
            set.score(completion: c, task: RewardTask(kind: "math", answer: "1")).score(of: "tests"),
            "no tests: not applicable")
        var raw = RewardTask(kind: "code", tests: "assert f(2) == 4")
        raw.rawCompletion = true
        XCTAssertEqual(set.score(completion: "def f(x):\n    return 2 * x\n", task: raw).reward, 1)
        XCTAssertThrowsError(try RuleSet.parse("rules:\n  - {name: t, kind: code, memory_mb: 0}", file: "r.yaml")) {
            XCTAssertEqual("\($0)", "r.yaml:2: rule \"t\": field \"memory_mb\": must be positive")
        }
        let missing = "rules:\n  - {name: t, kind: code, python: /no/such/python3}"
        XCTAssertThrowsError(try RuleSet.parse(missing, file: "r.yaml")) {
            XCTAssertEqual(
                "\($0)",
                "r.yaml:2: rule \"t\": field \"python\": /no/such/python3: no such file")
        }
    }

    func testConcurrentRunsStayIndependent() {
        let good = "def f(x):\n    return 3 * x + 2\n"
        let spin = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"
        var results = [SandboxResult?](repeating: nil, count: 16)
        results.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: 16) { i in
                out[i] = sandbox.run(
                    solution: i % 4 == 0 ? spin : good, tests: SandboxTestCase.tests,
                    entryPoint: "f")
            }
        }
        for (i, r) in results.enumerated() {
            XCTAssertEqual(r?.outcome, i % 4 == 0 ? .timeout : .passed, "run \(i)")
            XCTAssertEqual(r?.leftoverProcesses, 0, "run \(i)")
        }
    }
}
