// The harness's Python programs compiled once by the interpreter itself
// (marshal, in the sandbox), so that each run loads their code instead of
// compiling their source: a run starts a few milliseconds sooner, and the
// sandbox is in the training loop's hot path. If compiling fails, runs are
// given the sources.

import Foundation

final class CompiledPrograms: @unchecked Sendable {
    enum Program: Int, CaseIterable { case runner, planner, verifier }

    private let sources = [Harness.runner, Harness.planner, Harness.verifier]
    private var hex: [String]?
    private let lock = NSLock()
    private var tried = false
    /// The sandbox that compiles them (set once, right after it is made).
    weak var sandbox: Sandbox?

    /// The interpreter's arguments (after its path) that run `program`.
    func arguments(for program: Program) -> [String] {
        lock.lock()
        if !tried {
            tried = true
            hex = compile()
        }
        let compiled = hex?[program.rawValue]
        lock.unlock()
        guard let compiled else { return ["-I", "-S", "-c", sources[program.rawValue]] }
        return ["-I", "-S", "-c", "import marshal\nexec(marshal.loads(bytes.fromhex('\(compiled)')))"]
    }

    /// Each program's code object in hex, one line each; nil if the interpreter would not.
    private func compile() -> [String]? {
        let script = """
            import marshal, sys
            for source in sys.stdin.buffer.read().decode("utf-8").split("\\0"):
                print(marshal.dumps(compile(source, "<grpo>", "exec")).hex())
            """
        let input = Array(sources.joined(separator: "\u{0}").utf8)
        guard let run = sandbox?.execute(arguments: ["-I", "-S", "-c", script], input: input, resultChannel: false)
        else { return nil }
        guard run.failure == nil, run.ending == .exited, run.exitStatus == 0 else { return nil }
        let lines = String(decoding: run.output, as: UTF8.self).split(separator: "\n").map(String.init)
        func isHex(_ line: String) -> Bool {
            !line.isEmpty && line.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        }
        guard lines.count == sources.count, lines.allSatisfy(isHex) else { return nil }
        return lines
    }
}
