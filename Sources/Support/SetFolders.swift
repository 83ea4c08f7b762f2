// Where rule sets (`Rewards/`) and task sets (`Tasks/`) named by a bare name are looked
// up, the first match winning:
//   ./Rewards                            the current folder (a checkout, or a user's project)
//   $GRPO_HOME/Rewards                   a user's own collection, usable from any folder
//   <prefix>/share/swift-grpo/Rewards    the sets `make install` puts beside <prefix>/bin/grpo
// The install folder comes from the executable's real path (/proc/self/exe), so a symlink
// to the binary finds it too; a binary outside a `bin` folder (.build/release/grpo) has none.

import Foundation

/// One folder of the search, and why it is searched.
public struct SetFolder: Sendable, Equatable {
    public enum Origin: String, Sendable {
        case current = "current folder", home = "GRPO_HOME", install = "installed"
    }
    public let origin: Origin
    public let path: String

    public init(origin: Origin, path: String) {
        self.origin = origin
        self.path = path
    }

    /// "./Tasks (current folder)", for listings and errors.
    public var label: String { "\(path) (\(origin.rawValue))" }
}

public enum SetFolders {
    /// Under the install prefix: <prefix>/share/swift-grpo/<kind>.
    public static let installShare = "share/swift-grpo"

    /// The folders searched for `kind` ("Rewards" or "Tasks"), in order, existing or not.
    /// `executable`: the running binary's real path (default: this process's).
    public static func search(
        _ kind: String,
        currentDirectory: String = FileManager.default.currentDirectoryPath,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: String? = RunningProgram.path()
    ) -> [SetFolder] {
        var folders = [SetFolder(origin: .current, path: join(currentDirectory, kind))]
        if let home = environment["GRPO_HOME"], !home.isEmpty {
            folders.append(SetFolder(origin: .home, path: join(absolute(home, in: currentDirectory), kind)))
        }
        if let executable, let prefix = installPrefix(ofExecutable: executable) {
            folders.append(SetFolder(origin: .install, path: join(join(prefix, installShare), kind)))
        }
        return folders
    }

    /// <prefix> of an executable installed as <prefix>/bin/NAME, or nil.
    public static func installPrefix(ofExecutable path: String) -> String? {
        let bin = (path as NSString).deletingLastPathComponent
        guard (bin as NSString).lastPathComponent == "bin" else { return nil }
        return (bin as NSString).deletingLastPathComponent
    }

    static func absolute(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : join(directory, path)
    }

    static func join(_ folder: String, _ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
}

/// A set found in one of the search folders.
public struct FoundSet: Sendable, Equatable {
    public let name: String
    public let path: String
    public let folder: SetFolder
    /// An earlier folder has a set of the same name, which a lookup by name finds instead.
    public let isShadowed: Bool
}

extension SetFolders {
    /// Every set in `folders`, folder by folder, names sorted; `entry(folder, item)` says what
    /// set, if any, the item of that name is (its name and path).
    public static func list(
        _ folders: [SetFolder],
        entry: (String, String) -> (name: String, path: String)?
    ) -> [FoundSet] {
        var seen: Set<String> = []
        var found: [FoundSet] = []
        for folder in folders {
            let items = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            for set in items.compactMap({ entry(folder.path, $0) }).sorted(by: { $0.name < $1.name }) {
                found.append(
                    FoundSet(
                        name: set.name, path: set.path, folder: folder,
                        isShadowed: seen.contains(set.name)))
                seen.insert(set.name)
            }
        }
        return found
    }

    /// "A (current folder), B (GRPO_HOME)": what a failed lookup searched.
    public static func describe(_ folders: [SetFolder]) -> String { folders.map(\.label).joined(separator: ", ") }
}
