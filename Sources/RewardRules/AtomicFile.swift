// Writes a file by a temporary sibling and a rename, so a reader never sees
// half a file. (Foundation's `atomically: true` on Linux leaves an empty
// TemporaryDirectory.* folder in /tmp behind on every write.) The folder is
// created if missing, as for every output path a command takes.

import Foundation

public struct FileWriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): cannot write: \(reason)" }
}

public enum AtomicFile {
    public static func write(_ text: String, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw FileWriteError(path: url.path, reason: "cannot create the folder \(folder.path)")
        }
        let tmp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: Data(text.utf8)) else {
            throw FileWriteError(path: url.path, reason: "cannot create \(tmp.lastPathComponent) beside it (permissions? a folder of that name?)")
        }
        guard rename(tmp.path, url.path) == 0 else {
            let message = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw FileWriteError(path: url.path, reason: message)
        }
    }
}
