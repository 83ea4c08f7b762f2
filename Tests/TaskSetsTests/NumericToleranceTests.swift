// A task set's `numeric_tolerance`: read from task.yaml, checked with an error naming the
// field, written back by TaskSet.write, and handed to the rules with every task, where it
// decides whether a rounded decimal answers an exact gold.

import XCTest
import Foundation
import RewardRules
import TaskSets

final class NumericToleranceTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory
            .appendingPathComponent("tolerance-\(getpid())-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(at: tmp) }

    /// A task set with one task (gold 1/7) and this manifest tail.
    func set(_ extra: String) throws -> String {
        let folder = tmp.appendingPathComponent("s-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ("name: s\nkind: math\nrules: math\n" + extra).write(
            to: folder.appendingPathComponent("task.yaml"),
            atomically: false, encoding: .utf8)
        try "{\"id\": \"a\", \"prompt\": \"1/7=\", \"answer\": \"\\\\frac{1}{7}\"}\n"
            .write(to: folder.appendingPathComponent("train.jsonl"), atomically: false, encoding: .utf8)
        try "{\"id\": \"b\", \"prompt\": \"1/3=\", \"answer\": \"\\\\frac{1}{3}\"}\n"
            .write(to: folder.appendingPathComponent("test.jsonl"), atomically: false, encoding: .utf8)
        return folder.path
    }

    func reason(_ completion: String, in set: TaskSet) -> String? {
        MathRule(name: "m").score(completion: completion, task: set.manifest.rewardTask(for: set.train[0]))?.reason
    }

    func testManifestToleranceReachesTheMathRule() throws {
        let exact = try TaskSet.load(try set(""))
        XCTAssertNil(exact.manifest.numericTolerance)
        XCTAssertNil(exact.manifest.rewardTask(for: exact.train[0]).numericTolerance)
        XCTAssertEqual(reason("\\boxed{0.142857}", in: exact), "wrong_answer", "an exact gold needs an exact answer")
        XCTAssertEqual(reason("\\boxed{\\frac{2}{14}}", in: exact), "correct")

        let loose = try TaskSet.load(try set("numeric_tolerance: 1e-5\n"))
        XCTAssertEqual(loose.manifest.numericTolerance, 1e-5)
        let task = loose.manifest.rewardTask(for: loose.train[0])
        XCTAssertEqual(task.numericTolerance, 1e-5)
        XCTAssertEqual(task.kind, "math")
        XCTAssertEqual(task.answer, "\\frac{1}{7}")
        XCTAssertEqual(reason("\\boxed{0.142857}", in: loose), "correct")
        XCTAssertEqual(reason("\\boxed{0.1428}", in: loose), "wrong_answer", "3e-4 off is beyond 1e-5")
    }

    func testWrittenSetsKeepTheirTolerance() throws {
        let loaded = try TaskSet.load(try set("numeric_tolerance: 0.001\n"))
        let copy = tmp.appendingPathComponent("copy")
        try TaskSet.write(to: copy, manifest: loaded.manifest, train: loaded.train, test: loaded.test, sft: [])
        XCTAssertEqual(try TaskSet.load(copy.path).manifest.numericTolerance, 0.001)
        let none = tmp.appendingPathComponent("none")
        try TaskSet.write(
            to: none, manifest: TaskManifest(name: "n", kind: "math", rules: "math"), train: loaded.train,
            test: loaded.test, sft: [])
        let yaml = try String(contentsOf: none.appendingPathComponent("task.yaml"), encoding: .utf8)
        XCTAssertFalse(yaml.contains("numeric_tolerance"), yaml)
    }

    func testBadTolerancesNameTheField() throws {
        for (value, message) in [
            ("-0.1", "must be at least 0 and below 1"), ("1", "must be at least 0 and below 1"),
            (".nan", "must be at least 0 and below 1"), ("lots", "wrong type"),
        ] {
            let path = try set("numeric_tolerance: \(value)\n")
            XCTAssertThrowsError(try TaskSet.load(path), value) { error in
                guard case let TaskSetError.badManifest(file, field, text)? = error as? TaskSetError else {
                    return XCTFail("\(value): \(error)")
                }
                XCTAssertEqual(file, path + "/task.yaml")
                XCTAssertEqual(field, "numeric_tolerance")
                XCTAssertTrue(text.contains(message), "\(value): \(text)")
            }
        }
    }
}
