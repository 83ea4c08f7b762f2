// Finds a program the way a shell does, in the folders of PATH, so that nothing
// assumes where a distribution installs it (gzip is /bin/gzip on Debian and
// /usr/bin/gzip elsewhere).

import Foundation

public enum ExecutableSearch {
    /// The first executable file `name` in PATH's folders (a default PATH when unset), or nil.
    public static func find(_ name: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> URL? {
        for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !dir.isEmpty {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }
}
