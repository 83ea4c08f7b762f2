// Applies the BLAS kernel choice (BLASKernelChoice) before any work: OpenBLAS
// reads OPENBLAS_CORETYPE once, when the library is loaded, so a process that
// wants another kernel sets the variable and executes itself again. Each
// candidate first runs the self-check (BLASSelfCheck) in a child process of
// this same binary with the variable set: a kernel that computes wrong values,
// is not in this OpenBLAS, or crashes, is passed over without harm.
//
// Variables between the processes:
//   GRPO_BLAS_PROBE     set in a probe child: run the self-check and exit
//   GRPO_BLAS_CHOSEN    the kernel this process was re-executed with
//   GRPO_BLAS_PICKED    what OpenBLAS picked by itself before that
//   GRPO_BLAS_REJECTED  candidates that failed their self-check, comma-separated

import COpenBLAS
import Foundation
import Support

/// The kernel in use and how it came to be, for reports, run records and traces.
public struct BLASState: Codable, Equatable, Sendable {
    /// The kernel running now (`openblas_get_corename`).
    public var core: String
    /// What OpenBLAS loaded with by itself: from its table of CPU models, or from
    /// OPENBLAS_CORETYPE when the user set it.
    public var pickedByOpenBLAS: String
    /// `selected` (chosen here), `openblas` (OpenBLAS's pick kept), `user` (OPENBLAS_CORETYPE), `off`.
    public var selection: String
    /// Why the pick was kept, when it was.
    public var reason: String?
    /// Kernels that failed their self-check.
    public var rejected: [String]
    public var cpu: CPUFeatures

    enum CodingKeys: String, CodingKey {
        case core, pickedByOpenBLAS = "picked_by_openblas", selection, reason, rejected, cpu
    }

    /// As one line of JSON (sorted keys), for run records and traces.
    public var json: String {
        (try? JSONEncoder.sortedKeys.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// One line for the terminal: `blas: Cooperlake (OpenBLAS picked Prescott)`.
    public var summary: String {
        var s = "blas: \(core)"
        switch selection {
        case "selected": s += " (OpenBLAS picked \(pickedByOpenBLAS))"
        case "user": s += " (set by OPENBLAS_CORETYPE)"
        default: s += reason.map { " (\($0))" } ?? ""
        }
        if !rejected.isEmpty { s += "; failed the self-check: " + rejected.joined(separator: ", ") }
        return s
    }
}

public enum BLASStartup {
    static let probeVariable = "GRPO_BLAS_PROBE"
    static let chosenVariable = "GRPO_BLAS_CHOSEN"
    static let pickedVariable = "GRPO_BLAS_PICKED"
    static let rejectedVariable = "GRPO_BLAS_REJECTED"
    /// A probe that has not finished by then is killed and counts as failed.
    static let probeDeadline: TimeInterval = 10

    /// The state of this process, set by `run` (or read from the environment).
    public static var state: BLASState {
        lock.lock()
        defer { lock.unlock() }
        if let s = current { return s }
        let s = observed(reason: nil, rejected: [])
        current = s
        return s
    }
    nonisolated(unsafe) private static var current: BLASState?
    private static let lock = NSLock()

    /// Call first in `main`, before anything uses BLAS or starts a thread. May replace
    /// the process (exec) with the chosen kernel; in a probe child it exits. `quiet`
    /// keeps the one line that reports a change off standard error.
    public static func run(quiet: Bool) {
        let env = ProcessInfo.processInfo.environment
        if env[probeVariable] != nil { exit(probe(requested: env["OPENBLAS_CORETYPE"] ?? "")) }
        let picked = BLAS.coreName
        let chosen = env[chosenVariable]
        if let chosen, chosen == env["OPENBLAS_CORETYPE"] {
            // Re-executed with the chosen kernel, which OpenBLAS has now read. The programs this
            // one starts (plugins, sandboxed code, another grpo) get the user's environment back.
            let s = observed(reason: nil, rejected: [])
            for name in ["OPENBLAS_CORETYPE", chosenVariable, pickedVariable, rejectedVariable] { unsetenv(name) }
            return report(s, quiet: quiet)
        }
        let decision = BLASKernelChoice.decide(
            picked: picked, cpu: .current, userCoretype: env["OPENBLAS_CORETYPE"],
            setting: .init(env["GRPO_BLAS_KERNEL"]), dynamicArch: BLAS.isDynamicArch)
        guard case .tryInOrder(let candidates) = decision else {
            if case .keep(let reason) = decision { set(observed(reason: reason, rejected: [])) }
            return
        }
        guard let exe = RunningProgram.path() else {
            return report(
                observed(reason: "cannot find this program's file to run it again", rejected: []),
                quiet: quiet)
        }
        var rejected: [String] = []
        for kernel in candidates {
            guard probePasses(exe: exe, kernel: kernel) else {
                rejected.append(kernel)
                continue
            }
            setenv("OPENBLAS_CORETYPE", kernel, 1)
            setenv(chosenVariable, kernel, 1)
            setenv(pickedVariable, picked, 1)
            setenv(rejectedVariable, rejected.joined(separator: ","), 1)
            execv(exe, CommandLine.unsafeArgv)
            // Still here: exec failed. Carry on with OpenBLAS's pick.
            let reason = "could not execute \(exe) again: \(String(cString: strerror(errno)))"
            for name in ["OPENBLAS_CORETYPE", chosenVariable, pickedVariable, rejectedVariable] { unsetenv(name) }
            return report(observed(reason: reason, rejected: rejected), quiet: quiet)
        }
        report(observed(reason: "no better kernel passed the self-check", rejected: rejected), quiet: quiet)
    }

    private static func report(_ s: BLASState, quiet: Bool) {
        set(s)
        if !quiet { FileHandle.standardError.write(Data((s.summary + "\n").utf8)) }
    }

    private static func set(_ s: BLASState) {
        lock.lock()
        current = s
        lock.unlock()
    }

    /// The state as the environment and the loaded library tell it.
    static func observed(reason: String?, rejected: [String]) -> BLASState {
        let env = ProcessInfo.processInfo.environment
        let core = BLAS.coreName
        let coretype = env["OPENBLAS_CORETYPE"]
        let reexecuted = env[chosenVariable] != nil && env[chosenVariable] == coretype
        let failed = reexecuted ? (env[rejectedVariable] ?? "").split(separator: ",").map(String.init) : rejected
        let selection: String
        if reexecuted {
            selection = "selected"
        } else if let coretype, !coretype.isEmpty {
            selection = "user"
        } else if BLASKernelChoice.Setting(env["GRPO_BLAS_KERNEL"]) == .off {
            selection = "off"
        } else {
            selection = "openblas"
        }
        return BLASState(
            core: core, pickedByOpenBLAS: reexecuted ? env[pickedVariable] ?? core : core,
            selection: selection, reason: reexecuted ? nil : reason, rejected: failed, cpu: .current)
    }

    /// In a probe child: 0 when the loaded kernel is the one requested and passes the
    /// self-check; 2 when OpenBLAS runs another kernel; 3 when a product is wrong.
    static func probe(requested: String) -> Int32 {
        guard BLAS.coreName.lowercased() == requested.lowercased() else { return 2 }
        return BLASSelfCheck.run() == nil ? 0 : 3
    }

    /// Runs this binary as a probe with OPENBLAS_CORETYPE = `kernel`, silenced, with a deadline.
    static func probePasses(exe: String, kernel: String) -> Bool {
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_CORETYPE"] = kernel
        env[probeVariable] = "1"
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let argv = [strdup(exe), nil]
        defer {
            envp.forEach { free($0) }
            argv.forEach { free($0) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var pid: pid_t = 0
        guard posix_spawn(&pid, exe, &actions, nil, argv, envp) == 0 else { return false }
        let deadline = Date().addingTimeInterval(probeDeadline)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return false }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return false
            }
            usleep(1000)
        }
        // Exited normally (not by a signal) with status 0.
        return status & 0x7f == 0 && (status >> 8) & 0xff == 0
    }
}
