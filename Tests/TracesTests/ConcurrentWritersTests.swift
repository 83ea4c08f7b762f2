// Several writers on one trace database at once (two runs sharing a --db, a scoring
// job beside a trainer): each on its own connection, SQLite serialising their step
// transactions. Every step of every run lands whole, under its own run, while a
// reader watching the file only ever sees whole steps.

import XCTest
import Foundation
import Traces

final class ConcurrentWritersTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("traces-writers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func testWritersOnOneDatabaseEachKeepTheirWholeSteps() throws {
        let path = folder.appendingPathComponent("shared.sqlite").path
        try TraceWriter(path: path).startRun(RunInfo(name: "before", rules: TraceStoreTests.rules))  // the file exists
        let writers = 4
        let steps = 25
        let errors = ErrorList()
        let done = DispatchGroup()
        for w in 0..<writers {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let writer = try TraceWriter(path: path)
                    try writer.startRun(RunInfo(name: "writer-\(w)", rules: TraceStoreTests.rules))
                    for step in 1...steps {
                        let group = TraceStoreTests.group(task: "w\(w)", step: step)
                        try writer.record(StepRecord(step: step, groups: [group]))
                    }
                    try writer.finish(.finished)
                } catch { errors.append("writer \(w): \(error)") }
            }
        }
        // A reader polls while they write: committed steps are whole (4 samples each).
        var polls = 0
        while done.wait(timeout: .now() + .milliseconds(20)) == .timedOut {
            let r = try TraceReader(path: path)
            let partial = try r.sql(
                """
                SELECT count(*) FROM steps st WHERE st.first_sample IS NOT NULL
                AND (SELECT count(*) FROM samples s WHERE s.run_id = st.run_id AND s.step = st.step) != 4
                """
            ).rows
            XCTAssertEqual(partial, [[.integer(0)]], "a reader saw part of a step")
            polls += 1
        }
        XCTAssertEqual(errors.all, [], "no writer was refused (busy, locked)")

        let r = try TraceReader(path: path)
        XCTAssertEqual(try r.sql("PRAGMA integrity_check").rows, [[.text("ok")]])
        let perRun = try r.sql(
            """
            SELECT r.name, count(DISTINCT st.step), min(st.step), max(st.step),
                   (SELECT count(*) FROM samples s WHERE s.run_id = r.id),
                   (SELECT count(*) FROM rule_scores rs JOIN samples s ON s.id = rs.sample_id WHERE s.run_id = r.id)
            FROM runs r LEFT JOIN steps st ON st.run_id = r.id GROUP BY r.id ORDER BY r.id
            """
        ).rows
        XCTAssertEqual(perRun.count, writers + 1)
        XCTAssertEqual(perRun[0][0], .text("before"))
        for row in perRun.dropFirst() {
            XCTAssertEqual(
                Array(row[1...]),
                [
                    .integer(Int64(steps)), .integer(1), .integer(Int64(steps)),
                    .integer(Int64(steps * 4)), .integer(Int64(steps * 4 * 2)),
                ], "\(row)")
        }
        // Each step's samples are its own: the task of every sample matches the run that wrote it.
        let crossed = try r.sql(
            """
            SELECT count(*) FROM samples s JOIN groups g ON g.id = s.group_id JOIN runs r ON r.id = s.run_id
            WHERE r.name != 'writer-' || substr(g.task_id, 2)
            """
        ).rows
        XCTAssertEqual(crossed, [[.integer(0)]])
        XCTAssertEqual(
            try r.sql("SELECT count(*) FROM runs WHERE status = 'finished'").rows,
            [[.integer(Int64(writers))]])
        print("concurrent writers: \(polls) polls while writing")
    }
}

/// Errors collected from several threads.
private final class ErrorList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) {
        lock.lock()
        items.append(s)
        lock.unlock()
    }
    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}
