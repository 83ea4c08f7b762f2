// Writes a file by a temporary sibling and a rename, so a reader never sees
// half a file. Files are created with open(2), never through Foundation's
// atomic write (`.atomic`, `atomically: true`) or FileManager.createFile: on
// Linux some Foundation versions write through an item-replacement folder and
// leave it behind, empty, as TemporaryDirectory.* in the temporary directory.
// The folder is created if missing, as for every output path a command takes.

import Foundation

public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): cannot write: \(reason)" }
}

public enum AtomicFile {
    public static func write(_ text: String, to url: URL) throws { try write(Data(text.utf8), to: url) }

    public static func write(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: url.path, reason: "cannot create the folder \(folder.path)")
        }
        let tmp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            let file = try FileHandle.creating(tmp)
            defer { try? file.close() }
            try file.write(contentsOf: data)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw FileWriteError(path: url.path, reason: "cannot write \(tmp.lastPathComponent) beside it: \(error)")
        }
        guard rename(tmp.path, url.path) == 0 else {
            let message = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw FileWriteError(path: url.path, reason: message)
        }
    }
}

extension FileHandle {
    /// Creates (or truncates) `url` for writing, mode 0644 less the umask.
    public static func creating(_ url: URL) throws -> FileHandle {
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileWriteError(path: url.path, reason: String(cString: strerror(errno))) }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}
