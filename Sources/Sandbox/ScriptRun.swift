// A whole program with its own standard input, its standard output and error
// kept apart (what a code-execution API such as Sandbox Fusion answers). The
// sandbox runs a small bootstrap that moves stderr to the result pipe
// (fd 3), reads the program (length-prefixed) from stdin and executes it as
// __main__; what follows on stdin is the program's input. Nothing it prints is
// judged here: the caller decides what the output is worth.

import Foundation

/// A program's run with its input and separate outputs (`Sandbox.runScript`).
public struct ScriptResult: Sendable, Equatable {
    public var ending: ProgramResult.Ending
    /// The exit status, or 128 + the signal that ended it.
    public var exitStatus: Int32
    public var stdout: String
    public var stderr: String
    public var seconds: Double
}

extension Sandbox {
    static let scriptBootstrap = """
        import os, sys
        os.dup2(3, 2)
        os.close(3)
        _n = int(sys.stdin.buffer.readline())
        _source = sys.stdin.buffer.read(_n)
        _globals = {"__name__": "__main__", "__builtins__": __builtins__}
        del _n
        exec(compile(_source, "<code>", "exec"), _globals)
        """

    /// Runs `source` with `stdin` as its input, within the sandbox's limits but at most
    /// `wallSeconds` of wall clock and `memoryMB` of memory when given.
    public func runScript(
        _ source: String, stdin: String = "", wallSeconds: Double? = nil, memoryMB: Int? = nil
    )
        -> ScriptResult
    {
        var l = limits
        if let wallSeconds { l.wallSeconds = min(l.wallSeconds, wallSeconds) }
        if let memoryMB { l.memoryMB = min(l.memoryMB, memoryMB) }
        l.cpuSeconds = max(1, min(l.cpuSeconds, Int(l.wallSeconds.rounded(.up))))
        let program = Array(source.utf8)
        let input = Array("\(program.count)\n".utf8) + program + Array(stdin.utf8)
        let run = execute(.script, input: input, resultChannel: true, limits: l)
        if let failure = run.failure {
            return ScriptResult(ending: .crashed, exitStatus: -1, stdout: "", stderr: failure, seconds: run.seconds)
        }
        return ScriptResult(
            ending: run.ending, exitStatus: run.exitStatus, stdout: String(decoding: run.output, as: UTF8.self),
            stderr: String(decoding: run.results, as: UTF8.self), seconds: run.seconds)
    }
}
