// Program-aided answers: whole programs in the sandbox (`runProgram`) and the
// `program_output` rule, which believes nothing of a run but its printed output
// and how it ended: right-looking output followed by misbehaviour scores 0.

import XCTest
import Foundation
import Sandbox
import RewardRules

final class ProgramOutputTests: SandboxTestCase {
    var rule: ProgramOutputRule { ProgramOutputRule(name: "answer", sandbox: sandbox) }
    let task = RewardTask(kind: "math", answer: "2847")

    func block(_ program: String) -> String { "<think>x</think>```python\n\(program)\n```" }

    func testRunProgramReturnsItsOutputAndExitStatus() {
        let r = sandbox.runProgram("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n")
        XCTAssertEqual(r.ending, .exited)
        XCTAssertEqual(r.exitStatus, 3)
        XCTAssertTrue(r.output.contains("out\n"), r.output)
        XCTAssertTrue(r.output.contains("err\n"), r.output)
        // A program larger than a command line may hold still runs (it is read from stdin).
        let big = String(repeating: "x = 1\n", count: 40_000) + "print(len('done'))\n"
        let b = sandbox.runProgram(big)
        XCTAssertEqual(b.exitStatus, 0, b.output)
        XCTAssertEqual(b.output, "4\n")
    }

    func testHonestProgramsAndWrittenAnswers() throws {
        let cases: [(String, Double, String)] = [
            (block("print(73*39)"), 1, "correct"),
            (block("a = 73\nb = 39\nprint(a * b)"), 1, "correct"),
            (block("print('The answer is')\nprint(2847.0)"), 1, "correct"),
            (block("print(73*38)"), 0, "wrong_answer"),
            (block("x = 1"), 0, "no_output"),
            (block("print(73*39"), 0, "error"),
            ("<answer>2847</answer>", 1, "correct"),
            ("<answer>2846</answer>", 0, "wrong_answer"),
            ("I do not know", 0, "no_answer"),
        ]
        for (completion, score, reason) in cases {
            let s = try XCTUnwrap(rule.score(completion: completion, task: task), completion)
            XCTAssertEqual(s.score, score, completion)
            XCTAssertEqual(s.reason, reason, completion)
        }
        XCTAssertEqual(rule.score(completion: block("print(73*39)"), task: task)?.detail, "printed 2847")
        // Without answers in words, a completion with no program scores 0.
        let codeOnly = ProgramOutputRule(name: "answer", sandbox: sandbox, answerInWords: false)
        XCTAssertEqual(codeOnly.score(completion: "<answer>2847</answer>", task: task)?.reason, "no_code")
        // A task without an answer is not this rule's.
        XCTAssertNil(rule.score(completion: block("print(1)"), task: RewardTask(kind: "code", tests: "assert 1")))
    }

    /// Programs that print the right answer and then misbehave score 0, in bounded time.
    func testRightLookingOutputThenMisbehaviourScoresZero() throws {
        let hostile: [(String, Set<String>)] = [
            ("print(2847)\nraise SystemExit(1)", ["error"]),
            ("import os\nprint(2847, flush=True)\nos._exit(7)", ["error"]),
            ("print(2847)\n1/0", ["error"]),
            ("import os, signal\nprint(2847, flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)", ["error", "timeout"]),
            ("import time\nprint(2847, flush=True)\ntime.sleep(60)", ["timeout"]),
            // Loops and forks bounded by themselves too (60 s, 200 processes): a broken sandbox must
            // not leave them running on the machine.
            (
                "import time\nprint(2847, flush=True)\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass",
                ["timeout"]
            ),
            ("print(2847, flush=True)\nprint('x' * 10**7)", ["output_limit"]),
            (
                "import os, time\nprint(2847, flush=True)\nfor _ in range(200):\n    if os.fork() == 0:\n"
                    + "        time.sleep(60)\n        os._exit(0)", ["error"]
            ),
            // Printing something other than the answer last, whatever came before.
            ("print(2847)\nprint('PASSED')", ["wrong_answer"]),
        ]
        for (program, reasons) in hostile {
            let start = Date()
            let s = try XCTUnwrap(rule.score(completion: block(program), task: task))
            XCTAssertEqual(s.score, 0, program)
            XCTAssertTrue(reasons.contains(s.reason), "\(program): \(s.reason) \(s.detail ?? "")")
            XCTAssertLessThan(Date().timeIntervalSince(start), SandboxTestCase.limits.wallSeconds + 3, program)
        }
    }

    func testTheKindLoadsFromARuleFile() throws {
        let set = try RuleSet.parse(
            """
            name: pal
            rules:
              - {name: answer, kind: program_output, wall_seconds: 3, answer_in_words: false}
            """, file: "pal.yaml")
        let scored = set.score(completion: block("print(73*39)"), task: task)
        XCTAssertEqual(scored.reward, 1)
        XCTAssertThrowsError(
            try RuleSet.parse(
                """
                name: pal
                rules:
                  - {name: answer, kind: program_output, wall_seconds: -1}
                """, file: "pal.yaml")
        ) { error in
            XCTAssertTrue("\(error)".contains("wall_seconds"), "\(error)")
        }
    }
}
