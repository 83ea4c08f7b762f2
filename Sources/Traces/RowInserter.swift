// A prepared INSERT bound through SQLite's C API. The writer's hot path inserts
// four rows a sample (a sample, three rule scores); GRDB's StatementArguments
// box every value in an existential and copy it into an array, which cost more
// than SQLite's own b-tree work at 50,000 samples a second. Everything else
// goes through GRDB; this runs only inside a GRDB write transaction, on GRDB's
// connection. (A separate file: CSQLite and GRDBSQLite declare the same C
// functions, and Swift refuses the ambiguity in one file.)

import CSQLite
import Foundation

#if !_endian(little)
#error("token blobs are written as the array's bytes: little-endian hosts only")
#endif

/// SQLITE_TRANSIENT: SQLite copies the bytes before the bind returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

final class RowInserter {
    private let connection: OpaquePointer
    private let statement: OpaquePointer
    private var index: Int32 = 0

    init(connection: OpaquePointer, sql: String) throws {
        var s: OpaquePointer?
        guard sqlite3_prepare_v3(connection, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &s, nil) == SQLITE_OK, let s
        else {
            throw TraceError.sqlite(String(cString: sqlite3_errmsg(connection)) + " in: " + sql)
        }
        self.connection = connection
        self.statement = s
    }

    deinit { sqlite3_finalize(statement) }

    func bind(_ v: Int64) {
        index += 1
        sqlite3_bind_int64(statement, index, v)
    }
    func bind(_ v: Int) { bind(Int64(v)) }
    func bind(_ v: Bool) { bind(Int64(v ? 1 : 0)) }
    /// NULL for nil and for NaN and infinities (SQLite would store NaN as NULL anyway; infinities do
    /// not round-trip through JSON).
    func bind(_ v: Double?) {
        index += 1
        if let v, v.isFinite { sqlite3_bind_double(statement, index, v) } else { sqlite3_bind_null(statement, index) }
    }
    func bind(_ v: String?) {
        index += 1
        guard let v else {
            sqlite3_bind_null(statement, index)
            return
        }
        var s = v
        s.withUTF8 { p in
            _ = sqlite3_bind_text(
                statement, index, UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(p.count),
                transient)
        }
    }
    /// `count` elements of 4 bytes as a little-endian blob (int32 token ids, float32 log-probs);
    /// NULL when empty.
    func bindBlob<T: BitwiseCopyable>(_ values: [T]) {
        index += 1
        guard !values.isEmpty else {
            sqlite3_bind_null(statement, index)
            return
        }
        values.withUnsafeBufferPointer { p in
            // x86-64 and arm64 are little-endian: the array's bytes are the blob's bytes.
            _ = sqlite3_bind_blob(statement, index, p.baseAddress, Int32(p.count * MemoryLayout<T>.size), transient)
        }
    }

    /// Runs the insert with the values bound since the last run; returns the new rowid.
    @discardableResult
    func run() throws -> Int64 {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            index = 0
        }
        guard sqlite3_step(statement) == SQLITE_DONE else {
            throw TraceError.sqlite(String(cString: sqlite3_errmsg(connection)))
        }
        return sqlite3_last_insert_rowid(connection)
    }
}
