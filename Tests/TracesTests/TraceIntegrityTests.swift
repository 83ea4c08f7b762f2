// What a trace database refuses so that nothing of another's is damaged: a
// resume into another run's traces, another program's SQLite file, a `runs`
// table that is not ours; and readers that open read-only, so a database on a
// read-only folder reads as well as any.

import XCTest
import Foundation
import GRDB
import Traces

extension TraceStoreTests {
    func makeRun(_ path: String, name: String, steps: Int) throws -> TraceWriter {
        let w = try TraceWriter(path: path)
        try w.startRun(RunInfo(name: name, rules: Self.rules))
        for step in 1...steps {
            try w.record(StepRecord(step: step, groups: [Self.group(task: "t", step: step)]))
        }
        return w
    }

    func stepRows(_ path: String) throws -> [[TraceValue]] {
        try TraceReader(path: path).sql("SELECT run_id, step FROM steps ORDER BY run_id, step").rows
    }

    // MARK: run identity

    /// Run A's checkpoint resumed with run B's database (both runs have id 1): refused, and B's
    /// steps are all still there. The same name with another uid is another run too.
    func testResumingIntoAnotherRunsDatabaseIsRefusedUntouched() throws {
        let a = folder.appendingPathComponent("a.sqlite").path
        let b = folder.appendingPathComponent("b.sqlite").path
        let runA = try makeRun(a, name: "a", steps: 2)
        let identityA = try XCTUnwrap(runA.runIdentity)
        XCTAssertEqual(identityA.name, "a")
        XCTAssertEqual(identityA.uid?.count, 32)
        let runB = try makeRun(b, name: "b", steps: 4)
        XCTAssertEqual(runA.runID, runB.runID, "the same numeric id in both files")
        XCTAssertNotEqual(runB.runIdentity?.uid, identityA.uid)
        let before = try stepRows(b)

        let intoB = try TraceWriter(path: b)
        XCTAssertThrowsError(try intoB.resumeRun(runA.runID!, identity: identityA, afterStep: 1)) { error in
            guard case let .runMismatch(path, message)? = error as? TraceError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, b)
            let expected =
                "run 1 here is \"b\" (uid \(runB.runIdentity!.uid!)), "
                + "not the checkpoint's run \"a\" (uid \(identityA.uid!)); refusing"
            XCTAssertTrue(message.hasPrefix(expected), message)
        }
        let sameName = RunIdentity(name: "b", uid: identityA.uid)
        XCTAssertThrowsError(try TraceWriter(path: b).resumeRun(runB.runID!, identity: sameName, afterStep: 1)) {
            guard case .runMismatch? = $0 as? TraceError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try stepRows(b), before, "nothing deleted")
        XCTAssertEqual(before.count, 4)

        // Its own run resumes: the steps after the checkpoint go, to be redone.
        try TraceWriter(path: a).resumeRun(runA.runID!, identity: identityA, afterStep: 1)
        XCTAssertEqual(try stepRows(a), [[.integer(1), .integer(1)]])
    }

    /// A checkpoint from before runs had a uid (only the name) resumes its own run, which gets a
    /// uid then; another run's name is refused all the same.
    func testCheckpointWithoutUidIsMatchedByName() throws {
        let path = folder.appendingPathComponent("old.sqlite").path
        let w = try makeRun(path, name: "old", steps: 2)
        try DatabaseQueue(path: path).write { try $0.execute(sql: "UPDATE runs SET uid = NULL") }
        let otherName = RunIdentity(name: "new", uid: nil)
        XCTAssertThrowsError(try TraceWriter(path: path).resumeRun(w.runID!, identity: otherName, afterStep: 1))
        let resumed = try TraceWriter(path: path)
        try resumed.resumeRun(w.runID!, identity: RunIdentity(name: "old", uid: nil), afterStep: 1)
        XCTAssertEqual(resumed.runIdentity?.uid?.count, 32, "given a uid for its next checkpoints")
    }

    // MARK: other programs' databases

    /// A non-empty SQLite file of another program is left exactly as it was: no trace tables,
    /// no WAL mode.
    func testWriterRefusesAnotherProgramsDatabase() throws {
        let path = folder.appendingPathComponent("app.sqlite").path
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
            try db.execute(sql: "INSERT INTO users VALUES (1, 'x')")
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TraceWriter(path: path)) { error in
            let message =
                "no grdb_migrations, runs, rules, steps, groups, samples, rule_scores table; it holds users: "
                + "another program's database? grpo never writes into one"
            XCTAssertEqual(error as? TraceError, .notATraceDatabase(path: path, message: message))
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before, "not a byte changed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))
        // An empty file is a new database.
        let empty = folder.appendingPathComponent("empty.sqlite").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertNoThrow(try TraceWriter(path: empty).startRun(RunInfo(name: "r", rules: Self.rules)))
    }

    /// A `runs` table (and a `samples` one) of another program: readers say it is not a trace
    /// database instead of showing SQL errors about the tables it lacks.
    func testForeignRunsTableIsNotATraceDatabase() throws {
        let path = folder.appendingPathComponent("ci.sqlite").path
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "CREATE TABLE runs (id INTEGER PRIMARY KEY, branch TEXT); CREATE TABLE samples (x)")
        }
        for open in [{ _ = try TraceReader(path: path) }, { _ = try TraceWriter(path: path) }] {
            XCTAssertThrowsError(try open()) { error in
                guard case let .notATraceDatabase(p, message)? = error as? TraceError else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(p, path)
                let expected = "no grdb_migrations, rules, steps, groups, rule_scores table; it holds runs, samples"
                XCTAssertTrue(message.hasPrefix(expected), message)
            }
        }
        // Every table present but a runs table of other columns.
        let lookalike = folder.appendingPathComponent("lookalike.sqlite").path
        try DatabaseQueue(path: lookalike).write { db in
            for table in ["grdb_migrations", "rules", "steps", "groups", "samples", "rule_scores"] {
                try db.execute(sql: "CREATE TABLE \(table) (x)")
            }
            try db.execute(sql: "CREATE TABLE runs (id INTEGER PRIMARY KEY, branch TEXT)")
        }
        XCTAssertThrowsError(try TraceReader(path: lookalike)) {
            XCTAssertTrue("\($0)".contains("its runs table has no name, created, status, rules_hash column"), "\($0)")
        }
    }

    // MARK: read-only readers

    /// A reader never writes: not the database, and no -wal or -shm beside a database whose
    /// folder it cannot write (opened immutable), which it reads all the same.
    func testReaderOpensADatabaseInAReadOnlyFolder() throws {
        let original = folder.appendingPathComponent("w/traces.sqlite").path
        do {
            // Closed at the end of this block, which folds its WAL back into the file.
            let writer = try makeRun(original, name: "r", steps: 2)
            try writer.finish(.finished)
        }
        let shelf = folder.appendingPathComponent("shelf")
        try FileManager.default.createDirectory(at: shelf, withIntermediateDirectories: true)
        let copy = shelf.appendingPathComponent("traces.sqlite").path
        try FileManager.default.copyItem(atPath: original, toPath: copy)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("w").path),
            ["traces.sqlite"], "the writer folded its WAL back on closing")
        // Where the folder is writable, the reader still cannot change the database.
        XCTAssertThrowsError(try TraceReader(path: copy).sql("DELETE FROM samples")) {
            XCTAssertTrue("\($0)".contains("readonly"), "\($0)")
        }
        chmod(copy, 0o444)
        chmod(shelf.path, 0o555)
        defer { chmod(shelf.path, 0o755) }  // or the folder could not be removed after the test
        guard access(shelf.path, W_OK) != 0 else {
            throw XCTSkip(
                "as root a read-only folder is writable all the same; CLITests."
                    + "testTracesReadsADatabaseInAFolderTheUserCannotWrite reads one as another user")
        }
        XCTAssertEqual(try TraceReader(path: copy).runs().rows.count, 1)
        XCTAssertEqual(try TraceReader(path: copy).sql("SELECT count(*) FROM samples").rows, [[.integer(8)]])
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: shelf.path), ["traces.sqlite"],
            "nothing created")
    }
}
