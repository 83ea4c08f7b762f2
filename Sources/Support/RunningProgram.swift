// This program's own file: the BLAS start-up probes re-execute it, and the set folders
// find the install prefix beside it.

import Foundation

public enum RunningProgram {
    /// The real path of the running executable (Linux: /proc/self/exe), symlinks resolved.
    public static func path() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
