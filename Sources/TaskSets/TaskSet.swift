// A task set is a folder Tasks/<name>/ with a manifest (task.yaml) and JSONL
// splits: train.jsonl, test.jsonl and, optionally, sft.jsonl (demonstrations
// {"prompt", "completion"} for the cold start). A task line is
//   math: {"id", "prompt", "answer", "meta"?}
//   code: {"id", "prompt", "tests", "entry_point", "solution"?, "meta"?}
// Loading validates every line and names file, line and field; an id may
// appear only once across the splits.

import Foundation
import Support
import RewardRules
import Yams

public struct TaskManifest: Codable, Equatable, Sendable {
    public var name: String
    /// "math" or "code".
    public var kind: String
    public var description: String = ""
    /// The prompt the policy sees; "{prompt}" is replaced by the task's prompt.
    public var promptTemplate: String = "{prompt}"
    /// The default rule set (a name under Rewards/ or a path).
    public var rules: String
    /// Generation stops after any of these strings.
    public var stop: [String] = []
    /// Suggested max_completion_length for GRPO, in tokens.
    public var maxCompletionLength: Int = 256

    /// The one completion cap: what a command asks for (max_completion_length), else this task
    /// set's. Generation, dr_grpo's divisor, the length rule and the evaluations all take it here.
    public func completionCap(asked: Int?) -> Int { asked ?? maxCompletionLength }
    /// Relative tolerance for numeric answers, exact golds included (0.142857 for 1/7 passes
    /// at 1e-5); nil: an exact gold needs an exact answer, a decimal gold allows the rule's.
    public var numericTolerance: Double?
    /// Code tasks: accept checks that only the program's own interpreter can run (an assert
    /// over a loop of calls, say), which the program can forge. Off by default: such a task
    /// then scores 0 `in_process_checks`, and `grpo tasks validate` names it.
    public var inProcessChecks: Bool = false
    /// The rule whose full marks make a task solved (`grpo eval`'s accuracy, DAPO's accuracy
    /// metric); nil: the rule set's one answer rule (AnswerJudge).
    public var answerRule: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, kind, description, promptTemplate = "prompt_template", rules, stop
        case maxCompletionLength = "max_completion_length", numericTolerance = "numeric_tolerance"
        case inProcessChecks = "in_process_checks", answerRule = "answer_rule"
    }

    public init(
        name: String, kind: String, description: String = "", promptTemplate: String = "{prompt}", rules: String,
        stop: [String] = [], maxCompletionLength: Int = 256, numericTolerance: Double? = nil,
        inProcessChecks: Bool = false, answerRule: String? = nil
    ) {
        self.name = name
        self.kind = kind
        self.description = description
        self.promptTemplate = promptTemplate
        self.rules = rules
        self.stop = stop
        self.maxCompletionLength = maxCompletionLength
        self.numericTolerance = numericTolerance
        self.inProcessChecks = inProcessChecks
        self.answerRule = answerRule
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(String.self, forKey: .kind)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        promptTemplate = try c.decodeIfPresent(String.self, forKey: .promptTemplate) ?? "{prompt}"
        rules = try c.decode(String.self, forKey: .rules)
        stop = try c.decodeIfPresent([String].self, forKey: .stop) ?? []
        maxCompletionLength = try c.decodeIfPresent(Int.self, forKey: .maxCompletionLength) ?? 256
        numericTolerance = try c.decodeIfPresent(Double.self, forKey: .numericTolerance)
        inProcessChecks = try c.decodeIfPresent(Bool.self, forKey: .inProcessChecks) ?? false
        answerRule = try c.decodeIfPresent(String.self, forKey: .answerRule)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(description, forKey: .description)
        try c.encode(promptTemplate, forKey: .promptTemplate)
        try c.encode(rules, forKey: .rules)
        try c.encode(stop, forKey: .stop)
        try c.encode(maxCompletionLength, forKey: .maxCompletionLength)
        // Written only when set, so existing manifests keep their text.
        try c.encodeIfPresent(numericTolerance, forKey: .numericTolerance)
        if inProcessChecks { try c.encode(true, forKey: .inProcessChecks) }
        try c.encodeIfPresent(answerRule, forKey: .answerRule)
    }

    public func prompt(for task: TaskRecord) -> String {
        promptTemplate.replacingOccurrences(of: "{prompt}", with: task.prompt)
    }

    /// A task as the reward rules see it, with this set's kind and numeric tolerance.
    public func rewardTask(for task: TaskRecord) -> RewardTask {
        var t = task.rewardTask(kind: kind)
        t.numericTolerance = numericTolerance
        return t
    }
}

public struct TaskRecord: Equatable, Sendable {
    public var id: String
    public var prompt: String
    public var answer: String?
    public var tests: String?
    public var entryPoint: String?
    public var solution: String?
    public var meta: [String: JSONValue]
    /// From the manifest's `in_process_checks` (not a field of the task line).
    public var allowsInProcessChecks = false

    public init(
        id: String, prompt: String, answer: String? = nil, tests: String? = nil, entryPoint: String? = nil,
        solution: String? = nil, meta: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.prompt = prompt
        self.answer = answer
        self.tests = tests
        self.entryPoint = entryPoint
        self.solution = solution
        self.meta = meta
    }

    /// As the reward rules see it.
    public func rewardTask(kind: String) -> RewardTask {
        RewardTask(
            id: id, kind: kind, prompt: prompt, answer: answer, tests: tests, entryPoint: entryPoint,
            allowsInProcessChecks: allowsInProcessChecks, json: json)
    }

    /// The JSONL object (keys in a fixed order when encoded with sorted keys).
    public var json: [String: JSONValue] {
        var o: [String: JSONValue] = ["id": .string(id), "prompt": .string(prompt)]
        if let answer { o["answer"] = .string(answer) }
        if let tests { o["tests"] = .string(tests) }
        if let entryPoint { o["entry_point"] = .string(entryPoint) }
        if let solution { o["solution"] = .string(solution) }
        if !meta.isEmpty { o["meta"] = .object(meta) }
        return o
    }
}

public struct Demonstration: Equatable, Sendable {
    public var id: String?
    public var prompt: String
    public var completion: String
    public init(id: String? = nil, prompt: String, completion: String) {
        self.id = id
        self.prompt = prompt
        self.completion = completion
    }
    public var json: [String: JSONValue] {
        var o: [String: JSONValue] = ["prompt": .string(prompt), "completion": .string(completion)]
        if let id { o["id"] = .string(id) }
        return o
    }
}

public enum TaskSetError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case badManifest(file: String, field: String?, message: String)
    case badLine(file: String, line: Int, field: String?, message: String)
    case duplicateID(id: String, file: String, line: Int, first: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notFound(let m): return m
        case let .badManifest(file, field, message):
            return field.map { "\(file): field \"\($0)\": \(message)" } ?? "\(file): \(message)"
        case let .badLine(file, line, field, message):
            return field.map { "\(file):\(line): field \"\($0)\": \(message)" } ?? "\(file):\(line): \(message)"
        case let .duplicateID(id, file, line, first):
            return "\(file):\(line): field \"id\": duplicate id \"\(id)\" (first at \(first))"
        case .invalid(let m): return m
        }
    }
}

public struct TaskSet: Sendable {
    public let folder: URL
    public let manifest: TaskManifest
    public let train: [TaskRecord]
    public let test: [TaskRecord]
    public let sft: [Demonstration]

    public init(folder: URL, manifest: TaskManifest, train: [TaskRecord], test: [TaskRecord], sft: [Demonstration]) {
        self.folder = folder
        self.manifest = manifest
        self.train = train
        self.test = test
        self.sft = sft
    }

    /// The splits a task set has, by name: every `split` key and argument is one of these.
    public static let splitNames = ["train", "test"]

    /// The one place a split is chosen by name.
    public func split(_ name: String) throws -> [TaskRecord] {
        switch name {
        case "train": return train
        case "test": return test
        default: throw TaskSetError.invalid("unknown split \"\(name)\" (train or test)")
        }
    }

    /// A folder path, or a task-set name found as a folder in the search folders (SetFolders:
    /// ./Tasks, $GRPO_HOME/Tasks, the install's). `directory`: the current folder (default: the
    /// process's); `folders`: the search (default: SetFolders.search).
    public static func resolve(
        _ nameOrPath: String, relativeTo directory: String? = nil,
        folders: [SetFolder]? = nil
    ) throws -> URL {
        let base = URL(fileURLWithPath: directory ?? FileManager.default.currentDirectoryPath)
        if nameOrPath.hasPrefix("/") {
            let folder = URL(fileURLWithPath: nameOrPath)
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("task.yaml").path) else {
                throw TaskSetError.notFound("\(nameOrPath): no task set (no task.yaml in it)")
            }
            return folder
        }
        let searched = folders ?? SetFolders.search("Tasks", currentDirectory: base.path)
        let candidates =
            [base.appendingPathComponent(nameOrPath)]
            + searched.map { URL(fileURLWithPath: $0.path).appendingPathComponent(nameOrPath) }
        for c in candidates where FileManager.default.fileExists(atPath: c.appendingPathComponent("task.yaml").path) {
            return c
        }
        throw TaskSetError.notFound(
            "no task set \"\(nameOrPath)\" (no folder of that name with a task.yaml in "
                + "\(base.path) (a path), \(SetFolders.describe(searched)))")
    }

    /// Every task set (a folder with a task.yaml) in the search folders, in lookup order.
    public static func available(folders: [SetFolder] = SetFolders.search("Tasks")) -> [FoundSet] {
        SetFolders.list(folders) { folder, item in
            let path = (folder as NSString).appendingPathComponent(item)
            let manifest = (path as NSString).appendingPathComponent("task.yaml")
            return FileManager.default.fileExists(atPath: manifest) ? (item, path) : nil
        }
    }

    public static func load(
        _ nameOrPath: String, relativeTo directory: String? = nil,
        folders: [SetFolder]? = nil
    ) throws -> TaskSet {
        let folder = try resolve(nameOrPath, relativeTo: directory, folders: folders)
        let manifest = try loadManifest(folder.appendingPathComponent("task.yaml"))
        var seen: [String: String] = [:]
        func split(_ name: String, required: Bool) throws -> [TaskRecord] {
            let url = folder.appendingPathComponent("\(name).jsonl")
            guard FileManager.default.fileExists(atPath: url.path) else {
                if required {
                    throw TaskSetError.notFound(
                        "\(url.path): no such file (every task set has train.jsonl and test.jsonl)")
                }
                return []
            }
            return try readTasks(url, kind: manifest.kind, seen: &seen).map { task in
                var task = task
                task.allowsInProcessChecks = manifest.inProcessChecks
                return task
            }
        }
        let train = try split("train", required: true)
        let test = try split("test", required: true)
        let sftURL = folder.appendingPathComponent("sft.jsonl")
        let sft = FileManager.default.fileExists(atPath: sftURL.path) ? try readDemonstrations(sftURL) : []
        return TaskSet(folder: folder, manifest: manifest, train: train, test: test, sft: sft)
    }

    static func loadManifest(_ url: URL) throws -> TaskManifest {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskSetError.notFound("\(path): no such file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let node: Node?
        do { node = try BoundedYAML.compose(text) } catch {
            throw TaskSetError.badManifest(file: path, field: nil, message: "not valid YAML: \(error)")
        }
        guard let map = node?.mapping else {
            throw TaskSetError.badManifest(file: path, field: nil, message: "expected a mapping")
        }
        let known = Set(TaskManifest.CodingKeys.allCases.map(\.rawValue))
        for (k, _) in map where !known.contains(k.string ?? "") {
            throw TaskSetError.badManifest(
                file: path, field: k.string, message: "unknown key (known: \(known.sorted().joined(separator: ", ")))")
        }
        let manifest: TaskManifest
        do { manifest = try YAMLDecoder().decode(TaskManifest.self, from: text) } catch let DecodingError.keyNotFound(
            key, _)
        {
            throw TaskSetError.badManifest(file: path, field: key.stringValue, message: "required")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw TaskSetError.badManifest(
                file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), message: "wrong type")
        } catch {
            throw TaskSetError.badManifest(file: path, field: nil, message: "\(error)")
        }
        guard RewardTask.kinds.contains(manifest.kind) else {
            let kinds = RewardTask.kinds.map { "\"\($0)\"" }.joined(separator: " or ")
            throw TaskSetError.badManifest(
                file: path, field: "kind",
                message: "must be \(kinds), not \"\(manifest.kind)\"")
        }
        guard manifest.promptTemplate.contains("{prompt}") else {
            throw TaskSetError.badManifest(file: path, field: "prompt_template", message: "must contain {prompt}")
        }
        guard manifest.maxCompletionLength > 0 else {
            throw TaskSetError.badManifest(file: path, field: "max_completion_length", message: "must be positive")
        }
        if let t = manifest.numericTolerance, !(t >= 0 && t < 1) {
            throw TaskSetError.badManifest(
                file: path, field: "numeric_tolerance",
                message: "must be at least 0 and below 1, not \(t)")
        }
        return manifest
    }

    /// JSON objects of a JSONL file with their 1-based line numbers (blank lines skipped).
    static func jsonLines(_ url: URL) throws -> [(line: Int, object: [String: JSONValue])] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TaskSetError.notFound("\(url.path): no such file")
        }
        var out: [(Int, [String: JSONValue])] = []
        for (i, raw) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if raw.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(raw)) else {
                throw TaskSetError.badLine(file: url.path, line: i + 1, field: nil, message: "not valid JSON")
            }
            guard case .object(let o) = value else {
                throw TaskSetError.badLine(file: url.path, line: i + 1, field: nil, message: "expected a JSON object")
            }
            out.append((i + 1, o))
        }
        return out
    }

    static func readTasks(_ url: URL, kind: String, seen: inout [String: String]) throws -> [TaskRecord] {
        try jsonLines(url).map { line, o in
            func fail(_ field: String, _ m: String) -> TaskSetError {
                .badLine(file: url.path, line: line, field: field, message: m)
            }
            func string(_ key: String, required: Bool) throws -> String? {
                guard let v = o[key], v != .null else {
                    if required { throw fail(key, "missing") }
                    return nil
                }
                guard let s = v.string else { throw fail(key, "expected a string") }
                return s
            }
            let id = try string("id", required: true)!
            guard !id.isEmpty else { throw fail("id", "must not be empty") }
            if let first = seen[id] { throw TaskSetError.duplicateID(id: id, file: url.path, line: line, first: first) }
            seen[id] = "\(url.lastPathComponent):\(line)"
            var meta: [String: JSONValue] = [:]
            if let m = o["meta"], m != .null {
                guard case .object(let mm) = m else { throw fail("meta", "expected an object") }
                meta = mm
            }
            let record = TaskRecord(
                id: id, prompt: try string("prompt", required: true)!,
                answer: try string("answer", required: kind == "math"),
                tests: try string("tests", required: kind == "code"),
                entryPoint: try string("entry_point", required: kind == "code"),
                solution: try string("solution", required: false),
                meta: meta)
            return record
        }
    }

    static func readDemonstrations(_ url: URL) throws -> [Demonstration] {
        try jsonLines(url).map { line, o in
            func field(_ key: String) throws -> String {
                guard let s = o[key]?.string else {
                    throw TaskSetError.badLine(
                        file: url.path, line: line, field: key, message: o[key] == nil ? "missing" : "expected a string"
                    )
                }
                return s
            }
            return Demonstration(id: o["id"]?.string, prompt: try field("prompt"), completion: try field("completion"))
        }
    }

    /// Writes a task set folder (manifest + splits), replacing the files it writes.
    public static func write(
        to folder: URL, manifest: TaskManifest, train: [TaskRecord], test: [TaskRecord], sft: [Demonstration]
    ) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let yaml = try YAMLEncoder().encode(manifest)
        try AtomicFile.write(yaml, to: folder.appendingPathComponent("task.yaml"))
        func lines(_ objects: [[String: JSONValue]]) throws -> String {
            try objects.map { String(decoding: try JSONEncoder.sortedKeys.encode($0), as: UTF8.self) }.joined(
                separator: "\n")
                + (objects.isEmpty ? "" : "\n")
        }
        try AtomicFile.write(lines(train.map(\.json)), to: folder.appendingPathComponent("train.jsonl"))
        try AtomicFile.write(lines(test.map(\.json)), to: folder.appendingPathComponent("test.jsonl"))
        let sftURL = folder.appendingPathComponent("sft.jsonl")
        if sft.isEmpty {
            try? FileManager.default.removeItem(at: sftURL)
        } else {
            try AtomicFile.write(lines(sft.map(\.json)), to: sftURL)
        }
    }
}
