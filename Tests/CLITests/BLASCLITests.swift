// The OpenBLAS kernel choice end to end, through the built binary: OpenBLAS
// reads OPENBLAS_CORETYPE only when it loads, so a kernel other than its own
// pick in `grpo blas` proves the probe and the re-execution ran. Which kernels
// exist depends on the machine: the test picks a target the CPU can run that
// differs from what OpenBLAS picks by itself.

import XCTest
import Foundation

extension CLITests {
    /// This process's environment without any BLAS setting of the user's or of the CI's.
    func blasEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("OPENBLAS_") || key.hasPrefix("GRPO_BLAS") { env[key] = nil }
        return env.merging(extra) { $1 }
    }

    func blasState(_ extra: [String: String]) throws -> (state: [String: Any], err: String) {
        let r = try grpo(["blas", "--json"], environment: blasEnvironment(extra))
        return (try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]), r.err)
    }

    /// OpenBLAS's own pick, and a kernel every CPU of the architecture runs that differs from it.
    func reexecTarget() throws -> (own: String, plain: String, target: String) {
        let off = try blasState(["GRPO_BLAS_KERNEL": "off"])
        let own = try XCTUnwrap(off.state["core"] as? String)
        XCTAssertEqual(off.state["selection"] as? String, "off")
        XCTAssertEqual(off.state["picked_by_openblas"] as? String, own)
        XCTAssertEqual(off.err, "", "nothing to say when nothing changed")
        let cpu = try XCTUnwrap(off.state["cpu"] as? [String: Any])
        let arm = cpu["architecture"] as? String == "arm64"
        let plain = arm ? "ARMV8" : "Prescott"
        return (own, plain, own.lowercased() == plain.lowercased() ? (arm ? "CORTEXA57" : "Core2") : plain)
    }

    func testReexecutesWithTheChosenKernelAfterItsSelfCheck() throws {
        let (own, plain, target) = try reexecTarget()

        // A name OpenBLAS does not have fails its probe; the next one is used.
        let chosen = try blasState(["GRPO_BLAS_KERNEL": "NoSuchKernel,\(target)"])
        XCTAssertEqual((chosen.state["core"] as? String)?.lowercased(), target.lowercased(), chosen.err)
        XCTAssertEqual(chosen.state["selection"] as? String, "selected")
        XCTAssertEqual(chosen.state["picked_by_openblas"] as? String, own)
        XCTAssertEqual(chosen.state["rejected"] as? [String], ["NoSuchKernel"])
        let line =
            "blas: \(chosen.state["core"] as? String ?? "?") (OpenBLAS picked \(own)); "
            + "failed the self-check: NoSuchKernel\n"
        XCTAssertEqual(chosen.err, line, "said once on standard error")

        // --quiet keeps the line off standard error; the choice is the same.
        let quiet = try grpo(["blas", "--json", "--quiet"], environment: blasEnvironment(["GRPO_BLAS_KERNEL": target]))
        XCTAssertEqual(quiet.err, "")
        XCTAssertTrue(quiet.out.contains("\"selection\":\"selected\""), quiet.out)

        // Nothing passes: OpenBLAS's pick stays, and the failures are named.
        let none = try blasState(["GRPO_BLAS_KERNEL": "NoSuchKernel,AlsoMissing"])
        XCTAssertEqual(none.state["core"] as? String, own)
        XCTAssertEqual(none.state["selection"] as? String, "openblas")
        XCTAssertEqual(none.state["rejected"] as? [String], ["NoSuchKernel", "AlsoMissing"])
        XCTAssertTrue(none.err.contains("failed the self-check: NoSuchKernel, AlsoMissing"), none.err)

        // The user's OPENBLAS_CORETYPE is respected, whatever GRPO_BLAS_KERNEL says.
        let user = try blasState(["OPENBLAS_CORETYPE": target, "GRPO_BLAS_KERNEL": plain])
        XCTAssertEqual((user.state["core"] as? String)?.lowercased(), target.lowercased())
        XCTAssertEqual(user.state["selection"] as? String, "user")

        // The kernel in use passes the self-check when asked.
        let checked = try grpo(["blas", "--check"], environment: blasEnvironment())
        XCTAssertTrue(checked.out.contains("self-check: passed"), checked.out)
    }

    /// The benchmark names the kernel and how it was chosen, and its MFU is within (0, 1].
    func testBenchReportsTheKernelAndAnMFUWithinOne() throws {
        let r = try grpo(
            ["bench", "policy", "--shape", "toy", "--repeats", "1", "--json", "--quiet"],
            environment: blasEnvironment(["GRPO_BLAS_KERNEL": "off"]))
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let state = try blasState(["GRPO_BLAS_KERNEL": "off"]).state
        XCTAssertEqual(report["blas_core"] as? String, state["core"] as? String)
        XCTAssertEqual(report["blas_selection"] as? String, "off")
        let mfu = try XCTUnwrap(report["train_mfu"] as? Double)
        XCTAssertGreaterThan(mfu, 0)
        XCTAssertLessThanOrEqual(mfu, 1)
        let best = try XCTUnwrap(report["sgemm_best_shape"] as? String)
        let shape = #"^[0-9]+x[0-9]+x[0-9]+( A\^T)?( B\^T)?$"#
        XCTAssertTrue(best.range(of: shape, options: .regularExpression) != nil, best)
        XCTAssertGreaterThan(try XCTUnwrap(report["sgemm_best_gflops"] as? Double), 0)
        // The model's FLOP count is the FLOPs of the products the step ran.
        XCTAssertEqual(try XCTUnwrap(report["train_gemm_flops_over_model_flops"] as? Double), 1, accuracy: 1e-9)
    }

    /// After the re-execution, programs grpo starts (here a reward plugin) see the user's
    /// environment: no OPENBLAS_CORETYPE of grpo's choosing, no marker variables.
    func testStartedProgramsGetTheUsersEnvironmentBack() throws {
        let plugin = tmp.appendingPathComponent("env_plugin.py")
        try """
        import json, os, sys
        for line in sys.stdin:
            request = json.loads(line)
            seen = [k for k in os.environ
                    if k.startswith("OPENBLAS_") or k.startswith("GRPO_BLAS") and k != "GRPO_BLAS_KERNEL"]
            reply = {"id": request["id"], "score": 1.0, "reason": ",".join(sorted(seen)) or "clean"}
            print(json.dumps(reply), flush=True)
        """.write(to: plugin, atomically: false, encoding: .utf8)
        let rules = tmp.appendingPathComponent("env.yaml")
        try """
        name: env
        rules:
          - {name: env, kind: command, command: python3, args: ['\(plugin.path)'], weight: 1.0}
        """.write(to: rules, atomically: false, encoding: .utf8)
        let input = tmp.appendingPathComponent("in.jsonl")
        try #"{"id": "a", "completion": "x", "task": {"kind": "math"}}"#.write(
            to: input, atomically: false,
            encoding: .utf8)
        let out = tmp.appendingPathComponent("out.jsonl")
        let r = try grpo(
            ["rewards", "score", "--rules", rules.path, "--input", input.path, "--output", out.path],
            environment: blasEnvironment(["GRPO_BLAS_KERNEL": try reexecTarget().target]))
        XCTAssertTrue(r.err.contains("OpenBLAS picked"), "re-executed: \(r.err)")
        let line = try String(contentsOf: out, encoding: .utf8)
        XCTAssertTrue(line.contains("\"env\":\"clean\""), line)
    }
}
