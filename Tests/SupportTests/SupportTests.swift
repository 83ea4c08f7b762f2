// The support module against published references: SHA-256's FIPS 180-4 test vectors,
// xoshiro256** against its reference output, and the file and error helpers as a user sees them.

import Foundation
import Support
import XCTest

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex("abc".utf8), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Two blocks: the padding spills into a second one.
        XCTAssertEqual(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(
            SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

final class XoshiroTests: XCTestCase {
    /// xoshiro256** from the state (1, 2, 3, 4): the reference implementation's first ten outputs.
    func testMatchesTheReferenceSequence() {
        var rng = Xoshiro(seed: 0)
        rng.state = [1, 2, 3, 4]
        let expected: [UInt64] = [
            11520, 0, 1_509_978_240, 1_215_971_899_390_074_240, 1_216_172_134_540_287_360,
            607_988_272_756_665_600, 16_172_922_978_634_559_625, 8_476_171_486_693_032_832,
            10_595_114_339_597_558_777, 2_904_607_092_377_533_576,
        ]
        XCTAssertEqual((0..<10).map { _ in rng.next() }, expected)
    }

    /// A checkpoint carries the state as JSON; the restored generator continues the same stream.
    func testStateRoundTripsThroughJSON() throws {
        var rng = Xoshiro(seed: 42, stream: 3)
        _ = (0..<5).map { _ in rng.next() }
        var restored = try JSONDecoder().decode(Xoshiro.self, from: try JSONEncoder().encode(rng))
        XCTAssertEqual((0..<5).map { _ in restored.next() }, (0..<5).map { _ in rng.next() })
        XCTAssertNotEqual(Xoshiro(seed: 42, stream: 3), Xoshiro(seed: 42, stream: 4))
    }
}

final class AtomicFileTests: XCTestCase {
    func testWritesCreateTheFolderAndLeaveNoTemporary() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("a/b.txt")
        try AtomicFile.write("one", to: file)
        try AtomicFile.write("two", to: file)
        XCTAssertEqual(try String(contentsOf: file, encoding: .utf8), "two")
        let left = try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path)
        XCTAssertEqual(left, ["b.txt"])
    }

    func testAFolderThatCannotBeMadeNamesTheFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try AtomicFile.write("a file where a folder should be", to: folder)
        let target = folder.appendingPathComponent("x.txt")
        XCTAssertThrowsError(try AtomicFile.write("x", to: target)) {
            XCTAssertTrue("\($0)".hasPrefix("\(target.path): cannot write"), "\($0)")
        }
    }
}

final class ConfigErrorTests: XCTestCase {
    func testNamesFileLineAndKeyWhenKnown() {
        XCTAssertEqual(
            "\(ConfigError(file: "run.toml", line: 3, key: "learning_rate", message: "not a number"))",
            "run.toml:3: key \"learning_rate\": not a number")
        XCTAssertEqual(
            "\(ConfigError(file: "flags", key: "seed", message: "needs a value"))",
            "flags: key \"seed\": needs a value")
        XCTAssertEqual("\(ConfigError(file: "run.yaml", key: nil, message: "not YAML"))", "run.yaml: not YAML")
    }

    func testSortedKeysEncoderSortsAndLeavesSlashes() throws {
        let text = String(decoding: try JSONEncoder.sortedKeys.encode(["b": "runs/x", "a": "1"]), as: UTF8.self)
        XCTAssertEqual(text, #"{"a":"1","b":"runs/x"}"#)
    }
}
