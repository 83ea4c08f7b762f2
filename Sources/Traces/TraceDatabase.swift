// Opening a trace database, for the writer or for a reader, and the errors a
// user sees. Readers open read-only (immutable where the folder is read-only,
// see ReaderLocation): `grpo traces sql` cannot change a thing. A database that
// holds anything but a trace database's tables is refused by both: the writer
// never adds its tables to another program's file.

import Foundation
import GRDB

public enum TraceError: Error, CustomStringConvertible, Equatable {
    case noDatabase(String)
    case notATraceDatabase(path: String, message: String)
    case newerSchema(path: String, version: Int)
    case noRun
    case unknownRun(String)
    case unknownSample(Int64)
    case unknownGroup(Int64)
    case unknownRule(String)
    /// Resuming a run into a database whose run of that id is another run.
    case runMismatch(path: String, message: String)
    case badRecord(String)
    case badQuery(String)
    case sqlite(String)

    public var description: String {
        switch self {
        case .noDatabase(let where_): return "no trace database: \(where_)"
        case let .notATraceDatabase(path, message): return "\(path): not a trace database (\(message))"
        case let .newerSchema(path, version):
            return
                "\(path): schema version \(version) is newer than this grpo's \(Schema.version); update grpo to read it"
        case .noRun: return "no run started: call startRun or resumeRun first"
        case .unknownRun(let r): return "no run \(r) in this database (grpo traces runs lists them)"
        case .unknownSample(let s): return "no sample \(s) in this database"
        case .unknownGroup(let g): return "no group \(g) in this database"
        case .unknownRule(let r): return "no rule named \"\(r)\" in this run"
        case let .runMismatch(path, message): return "\(path): \(message)"
        case .badRecord(let m): return "bad trace record: \(m)"
        case .badQuery(let m): return m
        case .sqlite(let m): return "sqlite: \(m)"
        }
    }
}

enum TraceDatabase {
    /// The writer migrates; a reader only checks the version. Both refuse a newer schema.
    static func open(path: String, readonly: Bool) throws -> DatabaseQueue {
        if readonly && !FileManager.default.fileExists(atPath: path) { throw TraceError.noDatabase(path) }
        var config = Configuration()
        config.readonly = readonly
        // The keys are declared for every reader and tool; the writer does not have SQLite
        // re-check them on each of its inserts (a large share of its time, docs/measurements.md): it takes
        // every id it writes from the row it inserted just before, in the same transaction,
        // and the tests run `PRAGMA foreign_key_check` on what it wrote.
        config.foreignKeysEnabled = readonly
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // 64 MB of page cache: the index tails and zone maps stay in memory.
            try db.execute(sql: "PRAGMA cache_size = -65536")
            if !db.configuration.readonly {
                // 16 KiB pages (for a new file only) hold several completions with their token
                // blobs: a smaller file and faster writes than 4 KiB (docs/measurements.md). The
                // WAL is folded back into the file every 4,096 pages (64 MB).
                try db.execute(sql: "PRAGMA page_size = 16384")
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 4096")
                // In WAL mode NORMAL never corrupts the file; a power cut (not a kill) may lose
                // the last commits.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: readonly ? ReaderLocation.name(for: path) : path, configuration: config)
            let version = try queue.read { try Int.fetchOne($0, sql: "PRAGMA user_version") ?? 0 }
            if version > Schema.version { throw TraceError.newerSchema(path: path, version: version) }
            // Another program's database is refused before anything in it changes (WAL mode, tables).
            if let problem = try queue.read({ try Schema.notTraceDatabase($0, emptyIsFine: !readonly) }) {
                throw TraceError.notATraceDatabase(path: path, message: problem)
            }
            if !readonly {
                try queue.writeWithoutTransaction { db in
                    if try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")?.lowercased() != "wal" {
                        throw TraceError.notATraceDatabase(path: path, message: "cannot switch to WAL mode")
                    }
                }
                try Schema.migrator.migrate(queue)
            }
        } catch let error as DatabaseError {
            throw TraceError.notATraceDatabase(path: path, message: error.message ?? "\(error.resultCode)")
        }
        return queue
    }
}
