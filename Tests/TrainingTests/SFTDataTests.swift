// SFT data: loading from files, folders and task-set names; every malformed
// input rejected by file, line and field; batch layout computed by hand;
// truncation, dropping, epoch order, and exact resume from a saved state.

import Foundation
import Kernels
import Policy
import Training
import XCTest
import Support

final class SFTDataTests: XCTestCase {
    private var root: String!
    private let tokenizer = ByteTokenizer()
    private var fm: FileManager { .default }

    override func setUpWithError() throws {
        root = fm.temporaryDirectory.appendingPathComponent("SFTDataTests-\(UUID().uuidString)").path
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? fm.removeItem(atPath: root) }

    @discardableResult
    private func write(_ relativePath: String, _ text: String) throws -> String {
        let path = root + "/" + relativePath
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    private func assertError(
        _ expected: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Void
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue(error is SFTDataError, "\(type(of: error)): \(error)", file: file, line: line)
            XCTAssertEqual("\(error)", expected, file: file, line: line)
        }
    }

    // MARK: loading

    func testLoadsJSONLSkippingBlankLinesAndExtraFields() throws {
        let path = try write(
            "demo.jsonl",
            """
            {"prompt": "1+1=", "completion": "2", "id": "a", "meta": {"source": "hand"}}

            {"prompt": "2+2=", "completion": "4", "id": null}\r
              \t
            {"completion": "é", "prompt": "\\u00e9?"}
            """)
        XCTAssertEqual(
            try SFTData.load(path),
            [
                SFTExample(prompt: "1+1=", completion: "2", id: "a"),
                SFTExample(prompt: "2+2=", completion: "4"),
                SFTExample(prompt: "é?", completion: "é"),
            ])
    }

    func testLoadsTaskSetByFolderAndByName() throws {
        try write("Tasks/arith/train.jsonl", #"{"prompt": "3+4=", "answer": "7"}"# + "\n")
        try write("Tasks/arith/sft.jsonl", #"{"prompt": "1+2=", "completion": "3"}"# + "\n")
        let expected = [SFTExample(prompt: "1+2=", completion: "3")]

        XCTAssertEqual(try SFTData.load(root + "/Tasks/arith"), expected)
        XCTAssertEqual(try SFTData.load(root + "/Tasks/arith/"), expected)
        XCTAssertEqual(try SFTData.load("Tasks/arith", relativeTo: root), expected)
        XCTAssertEqual(try SFTData.load("arith", relativeTo: root), expected)
        XCTAssertEqual(try SFTData.resolve("arith", relativeTo: root), root + "/Tasks/arith/sft.jsonl")
    }

    func testMissingFilesAndFoldersAreNamed() throws {
        try write("Tasks/bare/train.jsonl", "{}\n")
        assertError("\(root!)/missing.jsonl: no such file") { _ = try SFTData.load("missing.jsonl", relativeTo: root) }
        let searched = SetFolders.describe(SetFolders.search("Tasks", currentDirectory: root))
        XCTAssertTrue(searched.hasPrefix("\(root!)/Tasks (current folder)"), searched)
        assertError("no task set \"x\" (looked for a folder x in \(searched))") {
            _ = try SFTData.load("x", relativeTo: root)
        }
        assertError(
            "\(root!)/Tasks/bare: the task set has no demonstrations (looked for \(root!)/Tasks/bare/sft.jsonl)"
        ) {
            _ = try SFTData.load("bare", relativeTo: root)
        }
        assertError(
            "\(root!)/Tasks/bare: the task set has no demonstrations (looked for \(root!)/Tasks/bare/sft.jsonl)"
        ) {
            _ = try SFTData.load(root + "/Tasks/bare")
        }
    }

    func testMalformedLinesNameFileLineAndField() throws {
        let good = #"{"prompt": "p", "completion": "c"}"#
        let cases: [(body: String, message: String)] = [
            (good + "\n" + #"{"prompt": "p", "completion": }"#, "2: not valid JSON"),
            (good + "\n\n" + #"["prompt", "completion"]"#, "3: expected a JSON object"),
            (#""just text""#, "1: expected a JSON object"),
            (good + "\n" + #"{"prompt": "p"}"#, "2: missing field \"completion\""),
            (#"{"completion": "c"}"#, "1: missing field \"prompt\""),
            (#"{"prompt": 3, "completion": "c"}"#, "1: field \"prompt\": expected a string"),
            (#"{"prompt": "p", "completion": null}"#, "1: field \"completion\": expected a string"),
            (good + "\n" + #"{"prompt": "p", "completion": "c", "id": 7}"#, "2: field \"id\": expected a string"),
        ]
        for (index, test) in cases.enumerated() {
            let path = try write("bad\(index).jsonl", test.body)
            assertError("\(path):\(test.message)") { _ = try SFTData.load(path) }
        }
        // A byte that is not UTF-8 is invalid JSON on its own line, not a failure of the whole file.
        let latin1 = root + "/latin1.jsonl"
        let cafeInLatin1 = Array(#"{"prompt": "caf"#.utf8) + [0xE9] + Array(#"", "completion": "c"}"#.utf8)
        try Data(Array((good + "\n").utf8) + cafeInLatin1).write(to: URL(fileURLWithPath: latin1))
        assertError("\(latin1):2: not valid JSON") { _ = try SFTData.load(latin1) }
        let empty = try write("empty.jsonl", "")
        assertError("\(empty): no examples") { _ = try SFTData.load(empty) }
        let blank = try write("blank.jsonl", "\n  \n\n")
        assertError("\(blank): no examples") { _ = try SFTData.load(blank) }
    }

    // MARK: batches

    private func batcher(
        _ examples: [SFTExample], maxLength: Int = 64, batchSize: Int, seed: UInt64 = 1
    ) throws -> SFTBatcher {
        try SFTBatcher(examples: examples, tokenizer: tokenizer, maxLength: maxLength, batchSize: batchSize, seed: seed)
    }

    /// Tokens and targets of row b, up to the batch length.
    private func row(_ batch: SFTBatch, _ b: Int) -> (tokens: [Int32], targets: [Int32]) {
        let range = (b * batch.length)..<((b + 1) * batch.length)
        return (Array(batch.tokens[range]), Array(batch.targets[range]))
    }

    func testTinyBatchLayoutByHand() throws {
        let bos: Int32 = 257
        let eos: Int32 = 258
        let pad: Int32 = 256
        var batcher = try batcher(
            [SFTExample(prompt: "ab", completion: "c"), SFTExample(prompt: "d", completion: "e")],
            batchSize: 2)
        let batch = batcher.next()
        XCTAssertEqual(batch.batch, 2)
        XCTAssertEqual(batch.length, 5)
        XCTAssertEqual(batch.targetCount, 4)
        XCTAssertEqual(Set(batch.exampleIndices), [0, 1])
        let first = batch.exampleIndices.firstIndex(of: 0)!
        let second = batch.exampleIndices.firstIndex(of: 1)!
        XCTAssertEqual(batch.lengths[first], 5)
        XCTAssertEqual(batch.lengths[second], 4)
        XCTAssertEqual(row(batch, first).tokens, [bos, 97, 98, 99, eos])
        XCTAssertEqual(row(batch, first).targets, [-1, -1, 99, eos, -1])
        // The shorter row is padded with pad tokens and -1 targets.
        XCTAssertEqual(row(batch, second).tokens, [bos, 100, 101, eos, pad])
        XCTAssertEqual(row(batch, second).targets, [-1, 101, eos, -1, -1])
    }

    func testTruncatesCompletionsAndDropsLongPrompts() throws {
        let examples = [
            SFTExample(prompt: "ab", completion: "cdef"),  // 8 tokens: cut to 5, loses the eos
            SFTExample(prompt: "abcd", completion: "x"),  // bos + prompt + 1 = 6 > 5: dropped
            SFTExample(prompt: "abc", completion: "x"),  // 6 tokens: only the eos goes
            SFTExample(prompt: "a", completion: "b"),  // fits whole
        ]
        var batcher = try batcher(examples, maxLength: 5, batchSize: 3)
        XCTAssertEqual(batcher.examplesCount, 3)
        XCTAssertEqual(batcher.droppedCount, 1)
        XCTAssertEqual(batcher.truncatedCount, 2)
        let batch = batcher.next()
        XCTAssertEqual(batch.length, 5)
        XCTAssertEqual(Set(batch.exampleIndices), [0, 2, 3])
        let rows = Dictionary(uniqueKeysWithValues: batch.exampleIndices.enumerated().map { ($1, row(batch, $0)) })
        XCTAssertEqual(rows[0]!.tokens, [257, 97, 98, 99, 100])
        XCTAssertEqual(rows[0]!.targets, [-1, -1, 99, 100, -1])
        XCTAssertEqual(rows[2]!.tokens, [257, 97, 98, 99, 120])
        XCTAssertEqual(rows[2]!.targets, [-1, -1, -1, 120, -1])
        XCTAssertEqual(rows[3]!.tokens, [257, 97, 98, 258, 256])
        XCTAssertEqual(rows[3]!.targets, [-1, 98, 258, -1, -1])
        XCTAssertEqual(batch.targetCount, 2 + 1 + 2)

        assertError("none of the 1 examples fits max length 5 (bos, the prompt and one completion token must fit)") {
            _ = try self.batcher([examples[1]], maxLength: 5, batchSize: 1)
        }
        assertError("batchSize 0: must be at least 1") { _ = try self.batcher(examples, batchSize: 0) }
        assertError("maxLength 1: must be at least 2 (bos and one token)") {
            _ = try self.batcher(examples, maxLength: 1, batchSize: 1)
        }
    }

    private func numbered(_ count: Int) -> [SFTExample] {
        (0..<count).map { SFTExample(prompt: "q\($0)=", completion: "a\($0)", id: "\($0)") }
    }

    /// The example indices of the next `batches` batches, row after row.
    private func stream(_ batcher: inout SFTBatcher, batches: Int) -> [Int] {
        (0..<batches).flatMap { _ in batcher.next().exampleIndices }
    }

    func testOrderIsDeterministicPerSeed() throws {
        var a = try batcher(numbered(20), batchSize: 4, seed: 7)
        var b = try batcher(numbered(20), batchSize: 4, seed: 7)
        var c = try batcher(numbered(20), batchSize: 4, seed: 8)
        let streamA = stream(&a, batches: 10)
        XCTAssertEqual(streamA, stream(&b, batches: 10))
        XCTAssertNotEqual(streamA, stream(&c, batches: 10))
        XCTAssertNotEqual(Array(streamA.prefix(20)), Array(0..<20), "the first epoch is shuffled")
    }

    func testEveryExampleOncePerEpochAcrossStraddlingBatches() throws {
        // 7 examples in batches of 3: batches straddle epoch ends, and 7 batches are exactly 3 epochs.
        var batcher = try batcher(numbered(7), batchSize: 3, seed: 3)
        let rows = stream(&batcher, batches: 7)
        let epochs = (0..<3).map { Array(rows[($0 * 7)..<(($0 + 1) * 7)]) }
        for epoch in epochs { XCTAssertEqual(epoch.sorted(), Array(0..<7)) }
        XCTAssertFalse(epochs[0] == epochs[1] && epochs[1] == epochs[2], "each epoch is reshuffled")
        XCTAssertEqual(batcher.epoch, 3)
        XCTAssertEqual(batcher.state.position, 0)
    }

    func testRestoredStateContinuesTheSameStream() throws {
        let examples = numbered(9)
        var original = try batcher(examples, batchSize: 4, seed: 11)
        _ = stream(&original, batches: 5)  // mid-way through the third epoch
        let saved = try JSONDecoder().decode(SFTBatcherState.self, from: JSONEncoder().encode(original.state))
        XCTAssertEqual(saved, original.state)
        XCTAssertEqual(saved.epoch, 2)
        XCTAssertEqual(saved.position, 2)

        var resumed = try batcher(examples, batchSize: 4, seed: 999)  // the seed is overridden by the state
        try resumed.restore(saved)
        XCTAssertEqual(resumed.state, saved)
        for _ in 0..<6 { XCTAssertEqual(resumed.next(), original.next()) }
        XCTAssertEqual(resumed.epoch, original.epoch)

        var shorter = try batcher(Array(examples.prefix(2)), batchSize: 1)
        assertError(
            "SFT batcher state: epoch 2, position 2 does not fit 2 examples; "
                + "was it saved with other data or max length?"
        ) {
            try shorter.restore(saved)
        }
    }

    func testMultibyteTextRoundTripsThroughTokens() throws {
        let example = SFTExample(prompt: "Größe von 日本? ", completion: "≈ 3 🙂")
        var batcher = try batcher([example], batchSize: 1)
        let batch = batcher.next()
        XCTAssertEqual(batch.lengths, [1 + example.prompt.utf8.count + example.completion.utf8.count + 1])
        XCTAssertEqual(tokenizer.decode(batch.tokens), example.prompt + example.completion)
        let targets = batch.targets.filter { $0 >= 0 }
        XCTAssertEqual(targets.last, tokenizer.eos)
        XCTAssertEqual(tokenizer.decode(targets), example.completion)
    }
}
