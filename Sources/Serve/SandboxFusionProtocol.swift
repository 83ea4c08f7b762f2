// The subset of Sandbox Fusion's code-execution API that verl's sandbox_fusion
// reward calls (`reward_model.sandbox_fusion.url=http://HOST:PORT/run_code`):
//   POST {"code", "language": "python", "run_timeout", "memory_limit_MB", "stdin", "files"}
//   ->   {"status": "Success" | "Failed" | "SandboxError", "message",
//         "compile_result": null, "run_result": {"status": "Finished" | "TimeLimitExceeded" | "Error",
//         "execution_time", "return_code", "stdout", "stderr"}}
// "Success" is a run that finished with status 0; "Failed" any other run;
// "SandboxError" a request the server cannot run (another language, files).
// compile_timeout and fetch_files are accepted and ignored (Python compiles as it runs).

import Foundation
import Sandbox

struct RunCodeRequest: Decodable {
    var code: String
    var language: String?
    var runTimeout: Double?
    var memoryLimitMB: Int?
    var stdin: String?
    var files: [String: String]?

    enum CodingKeys: String, CodingKey {
        case code, language, stdin, files
        case runTimeout = "run_timeout"
        case memoryLimitMB = "memory_limit_MB"
    }

    static let languages = ["python", "python3"]

    /// Why this server cannot run the request, or nil.
    var unsupported: String? {
        let language = self.language ?? "python"
        if !RunCodeRequest.languages.contains(language) {
            return "language \"\(language)\" is not supported: this server runs python (\"python\" or \"python3\")"
        }
        if let files, !files.isEmpty { return "files are not supported: put the data the program needs in stdin" }
        return nil
    }
}

struct RunCodeResponse: Encodable {
    struct RunResult: Encodable {
        var status: String
        var executionTime: Double
        var returnCode: Int32?
        var stdout: String
        var stderr: String
        enum CodingKeys: String, CodingKey {
            case status, stdout, stderr
            case executionTime = "execution_time"
            case returnCode = "return_code"
        }
    }
    var status: String
    var message: String
    var runResult: RunResult?
    var files: [String: String] = [:]

    enum CodingKeys: String, CodingKey {
        case status, message, files
        case runResult = "run_result"
        case compileResult = "compile_result"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(message, forKey: .message)
        try c.encodeNil(forKey: .compileResult)
        try c.encode(runResult, forKey: .runResult)
        try c.encode(files, forKey: .files)
    }

    static func sandboxError(_ message: String) -> RunCodeResponse {
        RunCodeResponse(status: "SandboxError", message: message, runResult: nil)
    }

    init(status: String, message: String, runResult: RunResult?) {
        self.status = status
        self.message = message
        self.runResult = runResult
    }

    init(_ run: ScriptResult) {
        switch run.ending {
        case .crashed:
            self = .sandboxError(run.stderr)
            return
        case .timeout:
            status = "Failed"
            message = ""
            runResult = RunResult(
                status: "TimeLimitExceeded", executionTime: run.seconds, returnCode: nil, stdout: run.stdout,
                stderr: run.stderr)
        case .outputLimit:
            status = "Failed"
            message = "the program printed more than the output limit and was stopped"
            runResult = RunResult(
                status: "Error", executionTime: run.seconds, returnCode: run.exitStatus, stdout: run.stdout,
                stderr: run.stderr)
        case .exited:
            status = run.exitStatus == 0 ? "Success" : "Failed"
            message = ""
            runResult = RunResult(
                status: "Finished", executionTime: run.seconds, returnCode: run.exitStatus, stdout: run.stdout,
                stderr: run.stderr)
        }
    }
}
