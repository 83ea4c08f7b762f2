// Checkpoints: one directory in the Hugging Face layout, replaced atomically.
//
//   config.json               ModelConfig, Hugging Face keys
//   tokenizer.json, ...       (optional) a byte-level BPE tokenizer (TokenizerFiles); none: the byte tokenizer
//   model.safetensors         every ParameterLayout slot, float32, in layout order
//   optimizer.safetensors     (optional) Adam moments: "exp_avg.NAME", then "exp_avg_sq.NAME"
//   trainer_state.json        (optional) TrainingState: step, RNG, Adam step, caller's extras
//
// safetensors: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {str: str}, NAME: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
// with offsets relative to the first byte after the header, then the raw
// little-endian bytes. The header is padded with spaces to a multiple of 8 so
// every tensor starts 8-byte aligned in the file. A checkpoint is F32 only:
// the trainer keeps float32 master weights, and converting silently would hide
// a file meant for another tool; only `grpo export` and `grpo import` ask for
// BF16 or F16 (SafetensorsDType), and say so.

import Foundation
import Kernels
import Support

#if _endian(big)
#error("safetensors data is little-endian, and this file copies tensor bytes as they are")
#endif

// MARK: - safetensors

/// A parsed safetensors file. The bytes are memory-mapped: reading a tensor
/// touches only its own pages.
public struct SafetensorsFile: Sendable {
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        /// Byte range within the data section (after the header).
        public let bytes: Range<Int>
        public var count: Int { shape.reduce(1, *) }
        /// How the elements are stored (F32 unless the file was read accepting others).
        public var dtype = SafetensorsDType.f32
    }

    public let url: URL
    public let metadata: [String: String]
    /// Every tensor, in data order.
    public let entries: [Entry]
    private let index: [String: Int]
    private let contents: Data
    private let dataStart: Int

    fileprivate init(url: URL, metadata: [String: String], entries: [Entry], contents: Data, dataStart: Int) {
        self.url = url
        self.metadata = metadata
        self.entries = entries
        self.contents = contents
        self.dataStart = dataStart
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    public var names: [String] { entries.map(\.name) }

    /// The stored bytes of `entry` (in its own dtype), while `body` runs.
    public func withBytes<R>(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try contents.withUnsafeBytes { raw in
            let range = (dataStart + entry.bytes.lowerBound)..<(dataStart + entry.bytes.upperBound)
            return try body(UnsafeRawBufferPointer(rebasing: raw[range]))
        }
    }

    public func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Copies tensor `name` (`entry.count` floats) to `destination`.
    public func copy(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        guard let e = entry(named: name) else { throw failure(name, "missing") }
        contents.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(destination).copyMemory(
                from: raw.baseAddress! + dataStart + e.bytes.lowerBound,
                byteCount: e.bytes.count)
        }
    }

    /// `copy`, refusing a tensor with a NaN or an infinity in it: a damaged weight would
    /// spread through every layer after it (a NaN router once made the expert dispatch write
    /// out of bounds), so it is named here rather than found later as a crash or a NaN loss.
    public func copyFinite(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        try copy(name, into: destination)
        let count = entry(named: name)?.count ?? 0
        var bad = 0
        var first = -1
        for i in 0..<count where !destination[i].isFinite {
            bad += 1
            if first < 0 { first = i }
        }
        guard bad == 0 else {
            throw failure(
                name,
                "\(bad) of \(count) values are not finite (the first, at index \(first), is "
                    + "\(destination[first])); refusing damaged weights")
        }
    }

    /// Throws unless the file holds exactly these tensors with these shapes,
    /// naming the first that is missing or misshapen (in `expected` order),
    /// else the first unexpected one (in file order).
    public func validate(matching expected: [(name: String, shape: [Int])]) throws {
        for (name, shape) in expected {
            guard let e = entry(named: name) else { throw failure(name, "missing") }
            guard e.shape == shape else { throw failure(name, "shape \(e.shape) in the file, expected \(shape)") }
        }
        let known = Set(expected.map(\.name))
        if let extra = entries.first(where: { !known.contains($0.name) }) {
            throw failure(extra.name, "unexpected tensor (not in the model's parameter layout)")
        }
    }

    private func failure(_ tensor: String, _ message: String) -> PolicyError {
        .badCheckpoint(file: url.path, tensor: tensor, message: message)
    }
}

public enum Safetensors {
    /// Larger headers are refused before parsing, as the reference implementation does.
    static let maxHeaderBytes = 100_000_000

    /// Writes `tensors` in the order given (float32), fsynced before returning.
    public static func write(
        _ tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)],
        metadata: [String: String], to url: URL
    ) throws {
        try write(tensors.map { ($0.name, $0.shape, SafetensorsDType.f32, $0.data) }, metadata: metadata, to: url)
    }

    /// Writes `tensors` in the order given, each stored as its dtype, fsynced before returning.
    public static func write(
        _ tensors: [(name: String, shape: [Int], dtype: SafetensorsDType, data: UnsafePointer<Float>)],
        metadata: [String: String], to url: URL
    ) throws {
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var names = Set<String>()
        var offset = 0
        for t in tensors {
            guard t.name != "__metadata__", names.insert(t.name).inserted, t.shape.allSatisfy({ $0 >= 0 }) else {
                throw PolicyError.badCheckpoint(
                    file: url.path, tensor: t.name, message: "duplicate or reserved name, or negative shape")
            }
            let bytes = t.shape.reduce(t.dtype.width, *)
            let shape = t.shape.map(String.init).joined(separator: ",")
            fields.append(
                "\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(shape)],"
                    + "\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Data("{\(fields.joined(separator: ","))}".utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        try writeFile(url) { file in
            try file.write(contentsOf: withUnsafeBytes(of: UInt64(header.count).littleEndian) { Data($0) })
            try file.write(contentsOf: header)
            for t in tensors {
                if t.dtype == .f32 {
                    try file.write(contentsOf: UnsafeRawBufferPointer(start: t.data, count: t.shape.reduce(4, *)))
                } else {
                    try file.write(contentsOf: t.dtype.encode(t.data, count: t.shape.reduce(1, *)))
                }
            }
        }
    }

    /// Maps and checks a file: header length within the file, a JSON object,
    /// accepted dtypes only, offsets inside the data section, sized as the shape says, and
    /// not overlapping. Errors name the tensor at fault.
    /// `dtypes`: the element types accepted (F32 for a checkpoint; imports take BF16 and F16 too).
    public static func read(_ url: URL, dtypes: Set<SafetensorsDType> = [.f32]) throws -> SafetensorsFile {
        let path = url.path
        func fail(_ tensor: String?, _ message: String) -> PolicyError {
            .badCheckpoint(file: path, tensor: tensor, message: message)
        }
        guard FileManager.default.fileExists(atPath: path) else { throw PolicyError.missingFile(path) }
        let contents: Data
        do { contents = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw fail(nil, "cannot read: \(error.localizedDescription)")
        }
        guard contents.count >= 8 else {
            throw fail(nil, "\(contents.count) bytes, too short for the 8-byte header length")
        }
        let n = contents.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard n <= UInt64(contents.count - 8) else {
            throw fail(nil, "header length \(n) runs past the end of the file (\(contents.count) bytes); truncated?")
        }
        guard n <= maxHeaderBytes else {
            throw fail(nil, "header length \(n) is over the \(maxHeaderBytes)-byte limit")
        }
        let dataStart = 8 + Int(n)
        let dataSize = contents.count - dataStart
        guard let header = (try? JSONSerialization.jsonObject(with: contents[8..<dataStart])) as? [String: Any] else {
            throw fail(nil, "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let m = m as? [String: String] else { throw fail(nil, "__metadata__ must map strings to strings") }
            metadata = m
        }
        var entries: [SafetensorsFile.Entry] = []
        // Sorted so that the first error reported does not depend on hashing.
        for name in header.keys.sorted() where name != "__metadata__" {
            guard let info = header[name] as? [String: Any] else { throw fail(name, "not a JSON object") }
            guard let dtype = info["dtype"] as? String else { throw fail(name, "no dtype") }
            guard let type = SafetensorsDType(rawValue: dtype), dtypes.contains(type) else {
                let accepted = dtypes.map(\.rawValue).sorted().joined(separator: ", ")
                throw fail(name, "dtype \(dtype) is not supported (only \(accepted))")
            }
            guard let shape = info["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(name, "shape must be a list of non-negative integers")
            }
            guard let o = info["data_offsets"] as? [Int], o.count == 2, 0 <= o[0], o[0] <= o[1] else {
                throw fail(name, "data_offsets must be [begin, end] with 0 <= begin <= end")
            }
            guard o[1] <= dataSize else {
                throw fail(name, "data_offsets \(o) run past the data section (\(dataSize) bytes); truncated?")
            }
            guard byteCount(shape, width: type.width) == o[1] - o[0] else {
                throw fail(name, "shape \(shape) of \(dtype) does not fill data_offsets \(o) (\(o[1] - o[0]) bytes)")
            }
            entries.append(.init(name: name, shape: shape, bytes: o[0]..<o[1], dtype: type))
        }
        entries.sort { ($0.bytes.lowerBound, $0.name) < ($1.bytes.lowerBound, $1.name) }
        for (a, b) in zip(entries, entries.dropFirst()) where b.bytes.lowerBound < a.bytes.upperBound {
            throw fail(b.name, "data_offsets overlap those of \"\(a.name)\"")
        }
        return SafetensorsFile(url: url, metadata: metadata, entries: entries, contents: contents, dataStart: dataStart)
    }

    /// Bytes of a tensor of `shape` with `width`-byte elements, or nil where the product overflows (a hostile header).
    private static func byteCount(_ shape: [Int], width: Int) -> Int? {
        var bytes = width
        for d in shape {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            bytes = p
        }
        return bytes
    }

    private static func jsonString(_ s: String) -> String {
        let e = JSONEncoder()
        e.outputFormatting = .withoutEscapingSlashes
        return String(decoding: try! e.encode(s), as: UTF8.self)  // encoding a String cannot fail
    }
}

// MARK: - trainer state

/// What a resumed run needs besides the weights and moments. Stored as
/// trainer_state.json.
public struct TrainingState: Codable, Equatable, Sendable {
    /// Training steps completed.
    public var step: Int
    /// The trainer's generator as it stood after `step`, so a resumed run draws the same numbers.
    public var rng: Xoshiro
    /// Adam's step count (its bias correction), which need not equal `step`.
    public var adamStep: Int
    /// Free-form values for callers: run name, task set, commit.
    public var extra: [String: String]

    public init(step: Int, rng: Xoshiro, adamStep: Int = 0, extra: [String: String] = [:]) {
        self.step = step
        self.rng = rng
        self.adamStep = adamStep
        self.extra = extra
    }

    enum CodingKeys: String, CodingKey { case step, rng, adamStep = "adam_step", extra }

    /// Decodes trainer_state.json, naming the key of any error.
    public static func decode(_ data: Data, source: String) throws -> TrainingState {
        func key(_ path: [CodingKey]) -> String? { path.isEmpty ? nil : path.map(\.stringValue).joined(separator: ".") }
        do { return try JSONDecoder().decode(TrainingState.self, from: data) } catch let DecodingError.keyNotFound(
            k, ctx)
        {
            throw PolicyError.badConfig(file: source, key: key(ctx.codingPath + [k]), message: "missing")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw PolicyError.badConfig(file: source, key: key(ctx.codingPath), message: "wrong type")
        } catch {
            throw PolicyError.badConfig(file: source, key: nil, message: "not valid JSON")
        }
    }
}

// MARK: - checkpoint directory

public enum Checkpoint {
    public static let configFile = "config.json"
    public static let modelFile = "model.safetensors"
    public static let optimizerFile = "optimizer.safetensors"
    public static let stateFile = "trainer_state.json"

    /// Writes a complete checkpoint to `directory`, replacing any there (see `writeDirectory`).
    public static func save(
        to directory: URL, model: Transformer,
        optimizerMoments: (m: UnsafePointer<Float>, v: UnsafePointer<Float>)? = nil,
        state: TrainingState? = nil
    ) throws {
        try writeDirectory(directory) { temp in
            let layout = model.layout
            let format = ["format": "pt"]  // transformers refuses files without a format
            try writeFile(temp.appendingPathComponent(configFile)) { try $0.write(contentsOf: model.config.encoded()) }
            for (name, data) in TokenizerFiles.files(of: model.tokenizer) {
                try writeFile(temp.appendingPathComponent(name)) { try $0.write(contentsOf: data) }
            }
            let weights = UnsafePointer(model.parameters.data)
            try Safetensors.write(
                layout.slots.map { ($0.name, $0.shape, weights + $0.offset) },
                metadata: format, to: temp.appendingPathComponent(modelFile))
            if case let (m, v)? = optimizerMoments {
                let names = momentNames(layout)
                let tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)] =
                    zip(names.m, layout.slots).map { ($0, $1.shape, m + $1.offset) }
                    + zip(names.v, layout.slots).map { ($0, $1.shape, v + $1.offset) }
                try Safetensors.write(tensors, metadata: format, to: temp.appendingPathComponent(optimizerFile))
            }
            if let state {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let json = try e.encode(state)
                try writeFile(temp.appendingPathComponent(stateFile)) { try $0.write(contentsOf: json) }
            }
        }
    }

    /// Writes a folder at `directory` through `body`, replacing any folder there.
    ///
    /// Everything is written and fsynced in a sibling `.NAME.tmp-PID` first,
    /// so no file under the final name is ever half-written; then the
    /// directory is published (see `publish`). A crash before publishing
    /// leaves the previous folder untouched and a stale temp directory,
    /// which the next save into that folder removes (`removeStaleTemporaries`).
    static func writeDirectory(_ directory: URL, _ body: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let parent = directory.deletingLastPathComponent()
        let temp = parent.appendingPathComponent(temporaryPrefix(directory.lastPathComponent) + "\(getpid())")
        do {
            try fm.createDirectory(at: parent, withIntermediateDirectories: true)
            removeStaleTemporaries(in: parent)
            // A directory under our own temp name is a leftover of an interrupted save by an
            // earlier process with our pid (pid 1 in a container, say); anything else is not
            // ours to delete, and createDirectory below refuses it.
            if isDirectory(temp) { try fm.removeItem(at: temp) }
            try fm.createDirectory(at: temp, withIntermediateDirectories: false)
        } catch {
            throw PolicyError.badCheckpoint(
                file: temp.path, tensor: nil, message: "cannot create: \(error.localizedDescription)")
        }
        do {
            try body(temp)
            syncDirectory(temp)
            try publish(temp, at: directory)
        } catch {
            try? fm.removeItem(at: temp)
            throw error
        }
    }

    /// The name of a save's temporary directory, less the pid of the process saving.
    private static func temporaryPrefix(_ name: String) -> String { ".\(name).tmp-" }

    /// Removes the temporary directories (`.NAME.tmp-PID`) that saves killed midway left in
    /// `folder` (a kill -9 leaves one the size of a checkpoint), and returns them. Only those
    /// whose process is gone: a save running meanwhile in another process keeps its own.
    @discardableResult
    public static func removeStaleTemporaries(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var removed: [URL] = []
        for name in names where name.hasPrefix(".") {
            guard let marker = name.range(of: ".tmp-", options: .backwards),
                marker.lowerBound > name.index(after: name.startIndex),
                let pid = pid_t(name[marker.upperBound...]), pid > 0
            else { continue }
            let url = folder.appendingPathComponent(name)
            // Our own pid's are left to `save`, which knows which one it is writing.
            let gone = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
            guard gone, isDirectory(url), (try? FileManager.default.removeItem(at: url)) != nil else { continue }
            removed.append(url)
        }
        return removed
    }

    /// Reads config.json and model.safetensors. The file must hold exactly the
    /// layout's tensors with the layout's shapes; the first that differs is named.
    public static func loadModel(from directory: URL) throws -> Transformer {
        try requireDirectory(directory)
        let config = try ModelConfig.load(directory.appendingPathComponent(configFile))
        let model = Transformer(config: config)
        let file = try Safetensors.read(directory.appendingPathComponent(modelFile))
        let slots = model.layout.slots
        try file.validate(matching: slots.map { ($0.name, $0.shape) })
        for slot in slots { try file.copyFinite(slot.name, into: model.parameters.data + slot.offset) }
        model.tokenizer = try TokenizerFiles.load(from: directory, config: config)
        return model
    }

    /// Reads the Adam moments into `m` and `v` (each `layout.count` floats).
    /// False when the checkpoint was saved without them.
    public static func loadOptimizer(
        from directory: URL, layout: ParameterLayout,
        into m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>
    ) throws -> Bool {
        try requireDirectory(directory)
        let url = directory.appendingPathComponent(optimizerFile)
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        let file = try Safetensors.read(url)
        let names = momentNames(layout)
        let slots = layout.slots
        try file.validate(matching: zip(names.m + names.v, slots + slots).map { ($0, $1.shape) })
        for (name, slot) in zip(names.m, slots) { try file.copyFinite(name, into: m + slot.offset) }
        for (name, slot) in zip(names.v, slots) { try file.copyFinite(name, into: v + slot.offset) }
        return true
    }

    /// Nil when the checkpoint was saved without a trainer state.
    public static func loadState(from directory: URL) throws -> TrainingState? {
        try requireDirectory(directory)
        let url = directory.appendingPathComponent(stateFile)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PolicyError.badConfig(file: url.path, key: nil, message: "cannot read: \(error.localizedDescription)")
        }
        return try TrainingState.decode(data, source: url.path)
    }

    /// PyTorch's Adam state keys prefixed to each parameter name.
    private static func momentNames(_ layout: ParameterLayout) -> (m: [String], v: [String]) {
        (layout.slots.map { "exp_avg.\($0.name)" }, layout.slots.map { "exp_avg_sq.\($0.name)" })
    }

    private static func requireDirectory(_ url: URL) throws {
        guard isDirectory(url) else { throw PolicyError.missingFile(url.path) }
    }

    /// Moves the complete checkpoint at `temp` to `directory`.
    ///
    /// No checkpoint there yet: one rename. Over an existing one: an atomic
    /// exchange of the two names (renameat2 RENAME_EXCHANGE on Linux,
    /// renamex_np RENAME_SWAP on macOS), so the final name always holds one
    /// complete checkpoint; the old one, now under the temp name, is removed
    /// after (a crash first leaves it there as a stale temp directory). Where
    /// the file system cannot exchange, two renames: old aside to
    /// `.NAME.old-PID`, new in. A crash between those two leaves nothing under
    /// the final name but both complete checkpoints on disk, the old one under
    /// `.NAME.old-PID`, to be renamed back by hand.
    private static func publish(_ temp: URL, at directory: URL) throws {
        let parent = directory.deletingLastPathComponent()
        func move(_ from: URL, _ to: URL) throws {
            guard rename(from.path, to.path) == 0 else {
                throw PolicyError.badCheckpoint(
                    file: to.path, tensor: nil,
                    message: "cannot rename \(from.path) here: \(String(cString: strerror(errno)))")
            }
        }
        guard FileManager.default.fileExists(atPath: directory.path) else {
            try move(temp, directory)
            return syncDirectory(parent)
        }
        guard isDirectory(directory) else {
            throw PolicyError.badCheckpoint(
                file: directory.path, tensor: nil, message: "exists and is not a directory; not replacing it")
        }
        if exchange(temp, directory) {
            syncDirectory(parent)
            try? FileManager.default.removeItem(at: temp)  // the old checkpoint; the new one is in place either way
            return
        }
        let old = parent.appendingPathComponent(".\(directory.lastPathComponent).old-\(getpid())")
        try move(directory, old)
        do { try move(temp, directory) } catch {
            try? move(old, directory)
            throw error
        }
        syncDirectory(parent)
        try? FileManager.default.removeItem(at: old)
    }

    /// Atomically swaps two paths; false where this system or file system cannot.
    private static func exchange(_ a: URL, _ b: URL) -> Bool {
        #if canImport(Darwin)
        return renamex_np(a.path, b.path, UInt32(RENAME_SWAP)) == 0
        #elseif canImport(Glibc)
        // glibc declares renameat2 only under _GNU_SOURCE, which Swift's Glibc
        // module does not define, so look it up at run time.
        typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
        guard let libc = dlopen(nil, RTLD_NOW), let symbol = dlsym(libc, "renameat2") else { return false }
        let renameExchange: UInt32 = 1 << 1  // RENAME_EXCHANGE, <linux/fs.h>
        return unsafeBitCast(symbol, to: Renameat2.self)(AT_FDCWD, a.path, AT_FDCWD, b.path, renameExchange) == 0
        #else
        return false
        #endif
    }
}

// MARK: - files

private func isDirectory(_ url: URL) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue
}

/// Creates `url`, writes it through `body`, and fsyncs it, so that a later
/// rename publishes bytes that are on disk.
func writeFile(_ url: URL, _ body: (FileHandle) throws -> Void) throws {
    do {
        let file = try FileHandle.creating(url)
        defer { try? file.close() }
        try body(file)
        try file.synchronize()
    } catch let error as PolicyError {
        throw error
    } catch {
        throw PolicyError.badCheckpoint(
            file: url.path, tensor: nil, message: "cannot write: \(error.localizedDescription)")
    }
}

/// Makes a directory's entries durable. Best effort: some file systems refuse
/// fsync on a directory, and the files themselves are already synced.
private func syncDirectory(_ url: URL) {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    close(fd)
}
