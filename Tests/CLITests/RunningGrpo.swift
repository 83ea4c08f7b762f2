// grpo started in the background, as a user's run they will interrupt: its
// standard error read as it comes (progress lines are plain lines on a pipe),
// killed past a deadline.

import Foundation

final class RunningGrpo {
    let process = Process()
    private let err = Pipe()
    let deadline: Deadline
    /// Standard error so far.
    private(set) var seen = ""

    init(_ binary: URL, _ arguments: [String], in folder: URL, seconds: TimeInterval) throws {
        process.executableURL = binary
        process.currentDirectoryURL = folder
        process.arguments = arguments
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        deadline = Deadline(process, seconds: seconds)
    }

    /// Reads standard error until `text` has appeared in it, or it closes.
    func read(until text: String) {
        while !seen.contains(text) {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
    }

    func interrupt() { kill(process.processIdentifier, SIGINT) }

    /// Reads the rest of standard error and waits for the exit.
    func finish() {
        seen += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        deadline.cancel()
    }
}
