// Checkpoints: bit-exact round trips, files an independent reader accepts,
// corrupt inputs rejected by name, and saves that replace a checkpoint whole
// or not at all.

import Foundation
import Kernels
import Policy
import XCTest
import Support

final class CheckpointTests: XCTestCase {
    private var root: URL!
    private var fm: FileManager { .default }

    override func setUpWithError() throws {
        root = fm.temporaryDirectory.appendingPathComponent("CheckpointTests-\(UUID().uuidString)")
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? fm.removeItem(at: root) }

    // MARK: round trips

    func testRoundTripIsBitExactWithMomentsAndState() throws {
        let model = try toyModel(seed: 7)
        // Values a float32 file must keep bit for bit (a checkpoint refuses non-finite weights:
        // testNonFiniteWeightsAreRefusedByTensorName; the file format keeps them too, see below).
        let specials: [Float] = [
            -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
            Float(bitPattern: 0x0000_1234),
        ]
        for (i, x) in specials.enumerated() { model.parameters[model.layout.lmHead + i] = x }
        let n = model.layout.count
        let m = Tensor([n])
        let v = Tensor([n])
        var rng = Xoshiro(seed: 3)
        for i in 0..<n {
            m[i] = rng.normal()
            v[i] = rng.uniform()
        }
        let state = TrainingState(step: 42, rng: rng, adamStep: 40, extra: ["run": "toy/α \"β\"", "tasks": "arith"])
        let dir = root.appendingPathComponent("step-42")

        try Checkpoint.save(
            to: dir, model: model, optimizerMoments: (UnsafePointer(m.data), UnsafePointer(v.data)), state: state)

        let loaded = try Checkpoint.loadModel(from: dir)
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertEqual(bits(loaded.parameters), bits(model.parameters))
        let m2 = Tensor([n])
        let v2 = Tensor([n])
        XCTAssertTrue(try Checkpoint.loadOptimizer(from: dir, layout: loaded.layout, into: m2.data, v2.data))
        XCTAssertEqual(bits(m2), bits(m))
        XCTAssertEqual(bits(v2), bits(v))
        let resumed = try XCTUnwrap(Checkpoint.loadState(from: dir))
        XCTAssertEqual(resumed, state)
        var original = state.rng
        var restored = resumed.rng
        XCTAssertEqual((0..<100).map { _ in restored.next() }, (0..<100).map { _ in original.next() })
    }

    /// A model with hyper-connections (mHC) saves its hc_* settings and its attn_hc, ffn_hc and hc_head
    /// tensors, and loads back bit for bit: the same logits.
    func testHyperConnectionsRoundTrip() throws {
        var c = try ModelConfig.named("toy")
        ModelGradientTests.hyper(&c, streams: 3, iterations: 7, eps: 1e-4)
        let model = Transformer(config: c)
        model.initialize(seed: 5)
        var rng = Xoshiro(seed: 1)
        ModelGradientTests.spreadHyperConnections(model, rng: &rng)
        let dir = root.appendingPathComponent("mhc")
        try Checkpoint.save(to: dir, model: model)
        let config = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        for key in ["\"hc_mult\" : 3", "\"hc_sinkhorn_iters\" : 7", "\"hc_eps\""] {
            XCTAssertTrue(config.contains(key), config)
        }
        let loaded = try Checkpoint.loadModel(from: dir)
        XCTAssertEqual(loaded.config, model.config)
        XCTAssertNotNil(loaded.layout.slot(named: "model.layers.1.ffn_hc.scale"))
        XCTAssertNotNil(loaded.layout.slot(named: "model.hc_head.hc_base"))
        XCTAssertEqual(bits(loaded.parameters), bits(model.parameters))
        let tokens: [Int32] = [257, 49, 50, 43, 55, 61]
        XCTAssertEqual(
            loaded.logits(tokens: tokens, batch: 1, length: 6), model.logits(tokens: tokens, batch: 1, length: 6))
    }

    func testCheckpointWithoutMomentsOrStateSaysSo() throws {
        let model = try toyModel(seed: 1)
        let dir = root.appendingPathComponent("weights-only")
        try Checkpoint.save(to: dir, model: model)
        let m = Tensor([model.layout.count])
        let v = Tensor([model.layout.count])
        XCTAssertFalse(try Checkpoint.loadOptimizer(from: dir, layout: model.layout, into: m.data, v.data))
        XCTAssertNil(try Checkpoint.loadState(from: dir))
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir.path).sorted(), ["config.json", "model.safetensors"])
    }

    func testSafetensorsRoundTripsScalarsEmptyTensorsAndMetadata() throws {
        let url = root.appendingPathComponent("misc.safetensors")
        // Non-finite values too, NaN payload included: the format keeps what it is given.
        let matrix: [Float] = [1, .infinity, -.infinity, 4, Float(bitPattern: 0x7FC0_1234), 6]
        let scalar: [Float] = [7.5]
        let none: [Float] = [0]
        let metadata = ["format": "pt", "note": "a/b \"quoted\" ünïcode\n"]
        try matrix.withUnsafeBufferPointer { a in
            try scalar.withUnsafeBufferPointer { s in
                try none.withUnsafeBufferPointer { e in
                    try Safetensors.write(
                        [
                            ("w", [2, 3], a.baseAddress!), ("scale", [], s.baseAddress!),
                            ("empty", [0, 4], e.baseAddress!),
                        ],
                        metadata: metadata, to: url)
                }
            }
        }
        let file = try Safetensors.read(url)
        XCTAssertEqual(file.metadata, metadata)
        XCTAssertEqual(file.names, ["w", "scale", "empty"])
        XCTAssertEqual(file.entry(named: "w")?.shape, [2, 3])
        XCTAssertEqual(file.entry(named: "scale")?.shape, [])
        XCTAssertEqual(try floats(file, "w").map(\.bitPattern), matrix.map(\.bitPattern))
        XCTAssertEqual(try floats(file, "scale"), scalar)
        XCTAssertEqual(try floats(file, "empty"), [])

        XCTAssertThrowsError(
            try matrix.withUnsafeBufferPointer { a in
                try Safetensors.write([("w", [6], a.baseAddress!), ("w", [6], a.baseAddress!)], metadata: [:], to: url)
            }
        ) { assertCheckpointError($0, file: url, tensor: "w", containing: "duplicate") }
    }

    // MARK: the format, as others read it

    /// Parses model.safetensors by hand: the data section must be the flat
    /// parameter buffer itself, tensors in layout order.
    func testHeaderLayoutParsedByHand() throws {
        let model = try toyModel(seed: 2)
        let dir = root.appendingPathComponent("ckpt")
        try Checkpoint.save(to: dir, model: model)
        let bytes = try Data(contentsOf: dir.appendingPathComponent("model.safetensors"))

        let n = headerLength(bytes)
        XCTAssertEqual(n % 8, 0, "header padded to a multiple of 8")
        let headerBytes = bytes[8..<(8 + n)]
        XCTAssertEqual(headerBytes.first, UInt8(ascii: "{"))
        let close = try XCTUnwrap(headerBytes.lastIndex(of: UInt8(ascii: "}")))
        XCTAssertTrue(headerBytes[(close + 1)...].allSatisfy { $0 == UInt8(ascii: " ") }, "padding is trailing spaces")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes[8..<(8 + n)]) as? [String: Any])
        XCTAssertEqual(header["__metadata__"] as? [String: String], ["format": "pt"])
        XCTAssertEqual(Set(header.keys), Set(model.layout.slots.map(\.name) + ["__metadata__"]))

        var expectedBegin = 0
        for slot in model.layout.slots {
            let info = try XCTUnwrap(header[slot.name] as? [String: Any], slot.name)
            XCTAssertEqual(info["dtype"] as? String, "F32", slot.name)
            XCTAssertEqual(info["shape"] as? [Int], slot.shape, slot.name)
            XCTAssertEqual(info["data_offsets"] as? [Int], [expectedBegin, expectedBegin + 4 * slot.count], slot.name)
            expectedBegin += 4 * slot.count
        }
        let data = bytes[(8 + n)...]
        XCTAssertEqual(data.count, expectedBegin)
        let params = Data(bytes: model.parameters.data, count: 4 * model.layout.count)
        XCTAssertTrue(data.elementsEqual(params), "data section is the little-endian parameter buffer")
    }

    /// A Python reader and writer using only the standard library (struct, json):
    /// it must read our file, and we must read its file (unpadded header, so
    /// its data section is not aligned). Floats come back as bit patterns in
    /// hex: JSONSerialization on Linux does not parse every double exactly.
    func testIndependentPythonReaderAndWriterAgree() throws {
        let model = try toyModel(seed: 5)
        let dir = root.appendingPathComponent("ckpt")
        try Checkpoint.save(to: dir, model: model)
        let script = """
            import json, struct, sys
            raw = open(sys.argv[1], 'rb').read()
            n, = struct.unpack('<Q', raw[:8])
            header = json.loads(raw[8:8 + n])
            data = raw[8 + n:]
            out = {}
            for name, info in header.items():
                if name == '__metadata__': continue
                b, e = info['data_offsets']
                assert info['dtype'] == 'F32' and e - b == 4 * eval('*'.join(map(str, info['shape'])) or '1')
                vals = struct.unpack('<%df' % ((e - b) // 4), data[b:e])
                first, = struct.unpack('<I', struct.pack('<f', vals[0]))
                total, = struct.unpack('<Q', struct.pack('<d', sum(vals)))
                out[name] = {'shape': info['shape'], 'first': '%08x' % first, 'sum': '%016x' % total}
            print(json.dumps({'metadata': header['__metadata__'], 'tensors': out}))
            mine = {'b': ([2, 3], [0.5, -1, 2, 3, 4, 5]), 'a': ([], [7.25])}
            fields, blob = {'__metadata__': {'by': 'python'}}, b''
            for name, (shape, vals) in mine.items():
                fields[name] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [len(blob), len(blob) + 4 * len(vals)]}
                blob += struct.pack('<%df' % len(vals), *vals)
            h = json.dumps(fields).encode()
            open(sys.argv[2], 'wb').write(struct.pack('<Q', len(h)) + h + blob)
            """
        let theirs = root.appendingPathComponent("python.safetensors")
        let output = try runPython(
            script, arguments: [dir.appendingPathComponent("model.safetensors").path, theirs.path])

        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        XCTAssertEqual(report["metadata"] as? [String: String], ["format": "pt"])
        let tensors = try XCTUnwrap(report["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(tensors.count, model.layout.slots.count)
        for slot in model.layout.slots {
            let t = try XCTUnwrap(tensors[slot.name], slot.name)
            let values = UnsafeBufferPointer(start: model.parameters.data + slot.offset, count: slot.count)
            XCTAssertEqual(t["shape"] as? [Int], slot.shape, slot.name)
            XCTAssertEqual((t["first"] as? String).flatMap { UInt32($0, radix: 16) }, values[0].bitPattern, slot.name)
            // Python adds in Double in the same order, so the sums agree bit for bit.
            let sum = values.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual((t["sum"] as? String).flatMap { UInt64($0, radix: 16) }, sum.bitPattern, slot.name)
        }

        let file = try Safetensors.read(theirs)
        XCTAssertEqual(file.metadata, ["by": "python"])
        XCTAssertEqual(file.entry(named: "b")?.shape, [2, 3])
        XCTAssertEqual(try floats(file, "b"), [0.5, -1, 2, 3, 4, 5])
        XCTAssertEqual(try floats(file, "a"), [7.25])
    }

    // MARK: corrupt inputs

    func testMissingDirectoryAndFilesAreNamed() throws {
        let nowhere = root.appendingPathComponent("nowhere")
        let m = Tensor([1])
        let v = Tensor([1])
        let layout = ParameterLayout(try ModelConfig.named("toy"))
        XCTAssertThrowsError(try Checkpoint.loadModel(from: nowhere)) {
            XCTAssertEqual($0 as? PolicyError, .missingFile(nowhere.path))
        }
        XCTAssertThrowsError(try Checkpoint.loadState(from: nowhere)) {
            XCTAssertEqual($0 as? PolicyError, .missingFile(nowhere.path))
        }
        XCTAssertThrowsError(try Checkpoint.loadOptimizer(from: nowhere, layout: layout, into: m.data, v.data)) {
            XCTAssertEqual($0 as? PolicyError, .missingFile(nowhere.path))
        }
        let dir = try savedToy()
        let weights = dir.appendingPathComponent("model.safetensors")
        try fm.removeItem(at: weights)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            XCTAssertEqual($0 as? PolicyError, .missingFile(weights.path))
        }
    }

    func testTruncatedFileIsRejected() throws {
        let dir = try savedToy()
        let url = dir.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: url)
        // Losing the last 4 bytes cuts into the last tensor in layout order only.
        try bytes.dropLast(4).write(to: url)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError($0, file: url, tensor: "lm_head.weight", containing: "past the data section")
        }
        try bytes.prefix(5).write(to: url)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError($0, file: url, tensor: nil, containing: "too short")
        }
    }

    func testHeaderLengthBeyondFileIsRejected() throws {
        let dir = try savedToy()
        let url = dir.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: url)
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { Data($0) })
        try bytes.write(to: url)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError(
                $0, file: url, tensor: nil, containing: "header length \(bytes.count) runs past the end")
        }
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(8).littleEndian) { Data($0) })
        try bytes.write(to: url)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError($0, file: url, tensor: nil, containing: "not a JSON object")
        }
    }

    func testWrongDtypeNamesTheTensor() throws {
        let dir = try savedToy()
        let url = dir.appendingPathComponent("model.safetensors")
        try rewriteHeader(url) { editEntry(&$0, "model.norm.weight") { $0["dtype"] = "F16" } }
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError($0, file: url, tensor: "model.norm.weight", containing: "dtype F16 is not supported")
        }
    }

    func testSizeThatDisagreesWithShapeNamesTheTensor() throws {
        let dir = try savedToy()
        let url = dir.appendingPathComponent("model.safetensors")
        try rewriteHeader(url) { editEntry(&$0, "model.norm.weight") { $0["shape"] = [17] } }
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError($0, file: url, tensor: "model.norm.weight", containing: "does not fill data_offsets")
        }
    }

    func testOverlappingTensorsAreNamed() throws {
        let dir = try savedToy()
        let url = dir.appendingPathComponent("model.safetensors")
        // Point the final norm (16 floats) at the first 64 bytes of the embedding.
        try rewriteHeader(url) { editEntry(&$0, "model.norm.weight") { $0["data_offsets"] = [0, 64] } }
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError(
                $0, file: url, tensor: "model.norm.weight", containing: "overlap those of \"model.embed_tokens.weight\""
            )
        }
    }

    func testMissingTensorIsNamed() throws {
        let (dir, url) = try writeToyWeights {
            $0.filter { $0.name != "model.layers.1.mlp.gate.e_score_correction_bias" }
        }
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            XCTAssertEqual(
                $0 as? PolicyError,
                .badCheckpoint(
                    file: url.path, tensor: "model.layers.1.mlp.gate.e_score_correction_bias", message: "missing"))
        }
    }

    func testWrongShapeIsNamedWithBothShapes() throws {
        let (dir, url) = try writeToyWeights {
            $0.map { $0.name == "model.norm.weight" ? ($0.name, [4, 4], $0.data) : $0 }
        }
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            XCTAssertEqual(
                $0 as? PolicyError,
                .badCheckpoint(
                    file: url.path, tensor: "model.norm.weight",
                    message: "shape [4, 4] in the file, expected [16]"))
        }
    }

    func testUnexpectedTensorIsNamed() throws {
        let (dir, url) = try writeToyWeights { $0 + [("model.layers.2.input_layernorm.weight", [16], $0[0].data)] }
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError(
                $0, file: url, tensor: "model.layers.2.input_layernorm.weight", containing: "unexpected tensor")
        }
    }

    func testMissingMomentIsNamed() throws {
        let model = try toyModel(seed: 1)
        let n = model.layout.count
        let m = Tensor([n])
        let v = Tensor([n])
        let dir = root.appendingPathComponent("ckpt")
        let url = dir.appendingPathComponent("optimizer.safetensors")
        try Checkpoint.save(to: dir, model: model, optimizerMoments: (UnsafePointer(m.data), UnsafePointer(v.data)))
        try rewriteHeader(url) { $0["exp_avg_sq.lm_head.weight"] = nil }
        XCTAssertThrowsError(try Checkpoint.loadOptimizer(from: dir, layout: model.layout, into: m.data, v.data)) {
            XCTAssertEqual(
                $0 as? PolicyError,
                .badCheckpoint(file: url.path, tensor: "exp_avg_sq.lm_head.weight", message: "missing"))
        }
    }

    func testUnknownConfigKeyIsNamed() throws {
        let dir = try savedToy()
        let url = dir.appendingPathComponent("config.json")
        var config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        config["hidden_sizes"] = 16
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            XCTAssertEqual($0 as? PolicyError, .badConfig(file: url.path, key: "hidden_sizes", message: "unknown key"))
        }
    }

    func testBadTrainerStateNamesTheKey() throws {
        let model = try toyModel(seed: 1)
        let dir = root.appendingPathComponent("ckpt")
        let url = dir.appendingPathComponent("trainer_state.json")
        try Checkpoint.save(to: dir, model: model, state: TrainingState(step: 1, rng: Xoshiro(seed: 1)))
        try Data(#"{"step": 1, "adam_step": "one", "rng": {"state": [1, 2, 3, 4]}, "extra": {}}"#.utf8).write(to: url)
        XCTAssertThrowsError(try Checkpoint.loadState(from: dir)) {
            XCTAssertEqual($0 as? PolicyError, .badConfig(file: url.path, key: "adam_step", message: "wrong type"))
        }
    }

    // MARK: atomic replacement

    func testSavingOverACheckpointReplacesItWholeAndLeavesNoTempDirectories() throws {
        let dir = root.appendingPathComponent("latest")
        let first = try toyModel(seed: 1)
        let second = try toyModel(seed: 2)
        try Checkpoint.save(to: dir, model: first, state: TrainingState(step: 1, rng: Xoshiro(seed: 1)))
        try Checkpoint.save(to: dir, model: second)

        XCTAssertEqual(bits(try Checkpoint.loadModel(from: dir).parameters), bits(second.parameters))
        XCTAssertNil(try Checkpoint.loadState(from: dir), "nothing of the old checkpoint survives the replacement")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: root.path), ["latest"])
    }

    func testFailedSaveLeavesThePreviousCheckpointIntact() throws {
        let dir = root.appendingPathComponent("latest")
        let first = try toyModel(seed: 1)
        let second = try toyModel(seed: 2)
        try Checkpoint.save(to: dir, model: first)
        // A file where the save wants its temp directory: not ours to delete, so the save must fail.
        let blocker = root.appendingPathComponent(".latest.tmp-\(ProcessInfo.processInfo.processIdentifier)")
        try Data("not a directory".utf8).write(to: blocker)

        XCTAssertThrowsError(try Checkpoint.save(to: dir, model: second)) {
            assertCheckpointError($0, file: blocker, tensor: nil, containing: "cannot create")
        }
        XCTAssertEqual(bits(try Checkpoint.loadModel(from: dir).parameters), bits(first.parameters))
        XCTAssertEqual(try Data(contentsOf: blocker), Data("not a directory".utf8))
        XCTAssertEqual(Set(try fm.contentsOfDirectory(atPath: root.path)), ["latest", blocker.lastPathComponent])

        // A leftover temp directory from an interrupted save is cleared, not fatal.
        try fm.removeItem(at: blocker)
        try fm.createDirectory(at: blocker, withIntermediateDirectories: false)
        try Data("half-written".utf8).write(to: blocker.appendingPathComponent("model.safetensors"))
        try Checkpoint.save(to: dir, model: second)
        XCTAssertEqual(bits(try Checkpoint.loadModel(from: dir).parameters), bits(second.parameters))
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: root.path), ["latest"])
    }

    func testSaveRefusesToReplaceAFile() throws {
        let target = root.appendingPathComponent("precious")
        try Data("keep me".utf8).write(to: target)
        XCTAssertThrowsError(try Checkpoint.save(to: target, model: try toyModel(seed: 1))) {
            assertCheckpointError($0, file: target, tensor: nil, containing: "not a directory")
        }
        XCTAssertEqual(try Data(contentsOf: target), Data("keep me".utf8))
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: root.path), ["precious"])
    }

    // MARK: damaged weights and leftovers

    /// A NaN router (every expert score NaN) used to make the MoE dispatch write through expert -1
    /// at the first forward pass; such weights are refused at load, naming the tensor.
    func testNonFiniteWeightsAreRefusedByTensorName() throws {
        let model = try toyModel(seed: 4)
        let gate = try XCTUnwrap(model.layout.slot(named: "model.layers.1.mlp.gate.weight"))
        for i in gate.range { model.parameters[i] = .nan }
        let dir = root.appendingPathComponent("nan-router")
        try Checkpoint.save(to: dir, model: model)
        XCTAssertThrowsError(try Checkpoint.loadModel(from: dir)) {
            assertCheckpointError(
                $0, file: dir.appendingPathComponent("model.safetensors"), tensor: gate.name,
                containing: "\(gate.count) of \(gate.count) values are not finite")
        }
        // One infinity among finite values, in the optimizer moments: named with its index.
        let healthy = try toyModel(seed: 4)
        let n = healthy.layout.count
        let m = Tensor([n])
        let v = Tensor([n])
        let head = healthy.layout.slot(named: "lm_head.weight")!
        v[head.offset + 5] = .infinity
        let withMoments = root.appendingPathComponent("inf-moment")
        let moments = (UnsafePointer(m.data), UnsafePointer(v.data))
        try Checkpoint.save(to: withMoments, model: healthy, optimizerMoments: moments)
        XCTAssertNoThrow(try Checkpoint.loadModel(from: withMoments))
        XCTAssertThrowsError(
            try Checkpoint.loadOptimizer(
                from: withMoments, layout: healthy.layout,
                into: m.data, v.data)
        ) {
            assertCheckpointError(
                $0, file: withMoments.appendingPathComponent("optimizer.safetensors"),
                tensor: "exp_avg_sq.lm_head.weight",
                containing:
                    "1 of \(head.count) values are not finite (the first, at index 5, is inf)")
        }
    }

    /// A save killed midway leaves `.NAME.tmp-PID`: the next save into that folder removes it
    /// when its process is gone, and keeps one whose process still runs.
    func testStaleTemporaryDirectoriesOfDeadSavesAreRemoved() throws {
        // A pid that is surely dead (a child we started and reaped) and one that surely lives (another child).
        let dead = Process()
        let alive = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/sh")
        dead.arguments = ["-c", "exit 0"]
        alive.executableURL = URL(fileURLWithPath: "/bin/sh")
        alive.arguments = ["-c", "read x"]
        alive.standardInput = Pipe()
        try dead.run()
        dead.waitUntilExit()
        try alive.run()
        defer {
            alive.terminate()
            alive.waitUntilExit()
        }
        let stale = root.appendingPathComponent(".checkpoint-3.tmp-\(dead.processIdentifier)")
        let running = root.appendingPathComponent(".checkpoint-4.tmp-\(alive.processIdentifier)")
        let notOurs = root.appendingPathComponent(".notes.tmp-\(dead.processIdentifier)")
        for folder in [stale, running] {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(repeating: 7, count: 4096).write(to: folder.appendingPathComponent("model.safetensors"))
        }
        try Data("a file, not a save's folder".utf8).write(to: notOurs)
        try Checkpoint.save(to: root.appendingPathComponent("checkpoint-5"), model: try toyModel(seed: 2))
        XCTAssertEqual(
            try fm.contentsOfDirectory(atPath: root.path).sorted(),
            [running.lastPathComponent, notOurs.lastPathComponent, "checkpoint-5"].sorted())
        XCTAssertEqual(Checkpoint.removeStaleTemporaries(in: root), [], "nothing else is stale")
    }

    // MARK: helpers

    private func toyModel(seed: UInt64) throws -> Transformer {
        let model = Transformer(config: try ModelConfig.named("toy"))
        model.initialize(seed: seed)
        // The balancer's bias starts at zero; give it values so it is checked too.
        for (l, layer) in model.layout.layers.enumerated() {
            for e in 0..<model.config.nRoutedExperts { model.parameters[layer.routerBias + e] = Float(l * 10 + e) / 7 }
        }
        return model
    }

    private func savedToy() throws -> URL {
        let dir = root.appendingPathComponent("ckpt")
        try Checkpoint.save(to: dir, model: try toyModel(seed: 1))
        return dir
    }

    /// A saved toy checkpoint whose model.safetensors is rewritten from an edited tensor list.
    private func writeToyWeights(
        _ edit: ([(name: String, shape: [Int], data: UnsafePointer<Float>)]) -> [(
            name: String, shape: [Int], data: UnsafePointer<Float>
        )]
    ) throws -> (URL, URL) {
        let model = try toyModel(seed: 1)
        let dir = root.appendingPathComponent("ckpt")
        let url = dir.appendingPathComponent("model.safetensors")
        try Checkpoint.save(to: dir, model: model)
        let p = UnsafePointer(model.parameters.data)
        try Safetensors.write(
            edit(model.layout.slots.map { ($0.name, $0.shape, p + $0.offset) }), metadata: [:], to: url)
        return (dir, url)
    }

    /// Replaces the JSON header of a safetensors file, keeping its data section.
    private func rewriteHeader(_ url: URL, _ edit: (inout [String: Any]) -> Void) throws {
        let bytes = try Data(contentsOf: url)
        let n = headerLength(bytes)
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes[8..<(8 + n)]) as? [String: Any])
        edit(&header)
        var json = try JSONSerialization.data(withJSONObject: header)
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Data($0) }
        out.append(json)
        out.append(bytes[(8 + n)...])
        try out.write(to: url)
    }

    private func editEntry(_ header: inout [String: Any], _ name: String, _ edit: (inout [String: Any]) -> Void) {
        var entry = header[name] as! [String: Any]
        edit(&entry)
        header[name] = entry
    }

    private func headerLength(_ bytes: Data) -> Int {
        Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    private func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    private func floats(_ file: SafetensorsFile, _ name: String) throws -> [Float] {
        let count = try XCTUnwrap(file.entry(named: name)).count
        var out = [Float](repeating: .nan, count: max(1, count))  // never empty, so it has an address
        try out.withUnsafeMutableBufferPointer { try file.copy(name, into: $0.baseAddress!) }
        return Array(out.prefix(count))
    }

    private func runPython(_ script: String, arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 127 { throw XCTSkip("python3 is not installed") }
        XCTAssertEqual(process.terminationStatus, 0, String(decoding: errors, as: UTF8.self))
        return String(decoding: output, as: UTF8.self)
    }
}

private func assertCheckpointError(
    _ error: Error, file: URL, tensor: String?, containing text: String,
    line: UInt = #line
) {
    guard case let .badCheckpoint(f, t, message)? = error as? PolicyError else {
        return XCTFail("expected badCheckpoint, got \(error)", line: line)
    }
    XCTAssertEqual(f, file.path, line: line)
    XCTAssertEqual(t, tensor, line: line)
    XCTAssertTrue(message.contains(text), "\"\(message)\" does not contain \"\(text)\"", line: line)
}
