// What a reader passes SQLite to open a trace database read-only. A database
// in a folder this user cannot write (a read-only mount, another user's
// runs/) is opened as immutable: SQLite then takes no locks and creates no
// -wal or -shm file beside it, which it could not; nothing can be writing
// there meanwhile. (Not covered: steps a killed writer left in a -wal file in
// such a folder are not read; they are once the folder is writable.)
// Elsewhere the plain path, opened read-only, so a running
// trainer's newest steps are seen through its WAL. (A separate file: CSQLite
// and GRDB declare the same C functions, and Swift refuses the ambiguity in
// one file.)

import CSQLite
import Foundation

enum ReaderLocation {
    /// The name to open `path` by: a `file:` URI with `immutable=1` where the folder is not
    /// writable and this SQLite reads URIs, else the path itself.
    static func name(for path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        guard access(folder.isEmpty ? "." : folder, W_OK) != 0, acceptsURIs else { return path }
        return uri(path, immutable: true)
    }

    /// `file:` URI of `path` (made absolute, `?`, `#`, `%` and spaces escaped) with its options.
    static func uri(_ path: String, immutable: Bool) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let escaped = absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? absolute
        return "file:" + escaped + "?mode=ro" + (immutable ? "&immutable=1" : "")
    }

    /// Whether this SQLite was built to read `file:` names as URIs (Debian's is).
    static let acceptsURIs = sqlite3_compileoption_used("USE_URI") == 1
}
