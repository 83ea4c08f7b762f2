// The `grpo` binary the CLI tests run: the one built beside this test bundle (so a
// debug test run never picks up an old release build), refused with a clear message
// when any file under Sources/ or Package.swift is newer than it. `swift test`
// builds the executable with the tests; running the bundle by hand after editing a
// source without rebuilding fails here instead of testing yesterday's binary.

import XCTest
import Foundation

enum BuiltBinary {
    struct Stale: Error, CustomStringConvertible {
        let description: String
    }

    /// The binary, or an error saying why it cannot be trusted (computed once per run).
    static func locate(root: URL) throws -> URL { try cached(root).get() }

    private static let lock = NSLock()
    private static var result: Result<URL, Stale>?

    private static func cached(_ root: URL) -> Result<URL, Stale> {
        lock.lock()
        defer { lock.unlock() }
        if let result { return result }
        let found = find(root)
        result = found
        return found
    }

    /// Folders the test bundle may have been built into, nearest first.
    static func buildFolders() -> [URL] {
        let bundle = Bundle(for: CLITests.self).bundleURL
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        return [bundle, bundle.deletingLastPathComponent(), executable]
    }

    private static func find(_ root: URL) -> Result<URL, Stale> {
        let fm = FileManager.default
        guard
            let binary = buildFolders().map({ $0.appendingPathComponent("grpo") })
                .first(where: { fm.isExecutableFile(atPath: $0.path) })
        else {
            return .failure(
                Stale(
                    description: "no grpo beside the test bundle (looked in "
                        + buildFolders().map(\.path).joined(separator: ", ")
                        + "): build it with the same configuration, "
                        + "e.g. `swift build -c release --product grpo`"))
        }
        guard let built = modified(binary) else { return .failure(Stale(description: "\(binary.path): unreadable")) }
        if let (newest, when) = newestSource(root), when > built {
            return .failure(
                Stale(
                    description: "\(binary.path) (built \(built)) is older than \(newest) "
                        + "(changed \(when)): rebuild it (`swift build -c release --product grpo`) "
                        + "so the tests run the current sources"))
        }
        return .success(binary)
    }

    private static func modified(_ url: URL) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
    }

    /// The most recently changed file under Sources/ (or Package.swift), relative to `root`.
    static func newestSource(_ root: URL) -> (String, Date)? {
        var newest: (String, Date)?
        func consider(_ url: URL) {
            guard let date = modified(url) else { return }
            if newest == nil || date > newest!.1 { newest = (String(url.path.dropFirst(root.path.count + 1)), date) }
        }
        consider(root.appendingPathComponent("Package.swift"))
        let sources = root.appendingPathComponent("Sources")
        let walker = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true { consider(url) }
        }
        return newest
    }
}
