// Whether a configured interpreter is a Python 3 that runs, asked once when a
// rule set is loaded. A wrong path (`python: /bin/true`, a typo, a shell
// script) would otherwise reach the sandbox only when the first completion is
// scored, and every program would score 0 "no_verdict" with nothing to say
// why; with a large program written to an interpreter that never reads it,
// the write used to kill the trainer with SIGPIPE.
//
// The interpreter runs here, outside the sandbox, with the flags the sandbox
// gives it (-I -S) and a program that prints a marker only Python can print.

import Foundation

public enum InterpreterCheck {
    /// Nil when `path` runs Python 3 (answering within `timeout` seconds); else what is wrong,
    /// for an error that names the field. An answer is kept for the life of the process: rule
    /// sets are loaded many times over.
    public static func problem(with path: String, timeout: Double = 20) -> String? {
        lock.lock()
        defer { lock.unlock() }
        if let known = answers[path] { return known }
        let answer = check(path, timeout: timeout)
        answers[path] = .some(answer)
        return answer
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var answers: [String: String?] = [:]

    private static func check(_ path: String, timeout: Double) -> String? {
        guard path.hasPrefix("/") else { return "\(path): not an absolute path" }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            return "\(path): no such file"
        }
        guard !isFolder.boolValue, FileManager.default.isExecutableFile(atPath: path) else {
            return "\(path): not an executable file"
        }
        let marker = "grpo-python-check"
        // Concatenated at run time, so an interpreter that merely echoes its arguments fails.
        let program = "import sys; print('\(marker.prefix(4))' + '\(marker.dropFirst(4))', sys.version_info[0])"
        let process: ContainedProcess
        do { process = try ContainedProcess(executable: path, arguments: ["-I", "-S", "-c", program]) } catch {
            return "\(path): cannot start: \(error)"
        }
        defer { process.stop() }
        process.closeInput()
        let deadline = Date().addingTimeInterval(timeout)
        let output: [UInt8]
        do { output = try process.readToEnd(deadline: deadline) } catch {
            return "\(path): did not answer within \(String(format: "%g", timeout)) s"
        }
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let status = process.wait(deadline: deadline)
        guard status == 0, text == "\(marker) 3" else {
            let said = text.isEmpty ? process.stderrTail(200) : String(text.prefix(200))
            return "\(path): does not run Python 3 programs (exit status \(status.map(String.init) ?? "none")"
                + (said.isEmpty ? ")" : "; it said: \(said))")
        }
        return nil
    }
}
