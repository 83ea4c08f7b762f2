// Importers from files users already have (no network): HumanEval, MBPP,
// GSM8K, MATH, and generic JSONL with a field mapping. Gzip input is accepted.
// Every record becomes a task; a fixed fraction (or count) goes to test, by a
// seeded shuffle; GSM8K and MATH rationales become SFT demonstrations of the
// training tasks.

import Foundation
import Support
import RewardRules

public enum Importers {
    public static let formats = ["humaneval", "mbpp", "gsm8k", "math", "jsonl"]

    public struct Options: Sendable {
        public var format: String
        public var name: String
        public var testCount: Int? = nil
        public var testFraction: Double = 0.1
        public var seed: UInt64 = 0
        /// For "jsonl": our field -> their field (id, prompt, answer, tests, entry_point, solution).
        public var mapping: [String: String] = [:]
        /// For "jsonl": the task kind.
        public var kind: String = "math"
        public init(format: String, name: String) {
            self.format = format
            self.name = name
        }
    }

    public static func load(_ path: String, options o: Options) throws -> GeneratedSet {
        let records = try readRecords(path)
        var tasks: [TaskRecord] = []
        var demos: [String: Demonstration] = [:]
        let kind: String
        for (line, r) in records {
            func field(_ key: String) throws -> String {
                guard let v = r[key], let s = v.text else {
                    throw TaskSetError.badLine(
                        file: path, line: line, field: key, message: r[key] == nil ? "missing" : "expected a string")
                }
                return s
            }
            let id = r["task_id"]?.text ?? r["id"]?.text ?? r["unique_id"]?.text ?? "\(o.name)-\(line)"
            switch o.format {
            case "humaneval":
                let entry = try field("entry_point")
                let prompt = try field("prompt")
                tasks.append(
                    TaskRecord(
                        id: id, prompt: prompt, tests: try field("test") + "\n\ncheck(\(entry))\n", entryPoint: entry,
                        solution: prompt + (try field("canonical_solution"))))
            case "mbpp":
                let code = try field("code")
                guard case .array(let list)? = r["test_list"], !list.isEmpty else {
                    throw TaskSetError.badLine(
                        file: path, line: line, field: "test_list", message: "expected a non-empty list of asserts")
                }
                let asserts = list.compactMap(\.text)
                let setup = r["test_setup_code"]?.text ?? ""
                let entry = firstFunctionName(code) ?? "solution"
                let prompt =
                    (try field(r["text"] != nil ? "text" : "prompt")) + "\nYour code should pass this test:\n"
                    + asserts[0]
                tasks.append(
                    TaskRecord(
                        id: id, prompt: prompt,
                        tests: (setup.isEmpty ? "" : setup + "\n") + asserts.joined(separator: "\n"),
                        entryPoint: entry, solution: code))
            case "gsm8k":
                let answer = try field("answer")
                guard let hash = answer.range(of: "####", options: .backwards) else {
                    throw TaskSetError.badLine(
                        file: path, line: line, field: "answer", message: "no \"#### <number>\" at the end")
                }
                let final = answer[hash.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines)
                    .replacingOccurrences(of: ",", with: "")
                let question = try field("question")
                let rationale = String(answer[..<hash.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
                tasks.append(TaskRecord(id: id, prompt: question, answer: final))
                demos[id] = Demonstration(
                    id: id, prompt: question, completion: "<think>\(rationale)</think><answer>\(final)</answer>")
            case "math":
                let solution = try field("solution")
                let problem = try field("problem")
                guard let boxed = lastBoxed(solution) else {
                    throw TaskSetError.badLine(
                        file: path, line: line, field: "solution", message: "no \\boxed{...} answer")
                }
                var meta: [String: JSONValue] = [:]
                for k in ["level", "type", "subject"] { if let v = r[k] { meta[k] = v } }
                tasks.append(TaskRecord(id: id, prompt: problem, answer: boxed, meta: meta))
                demos[id] = Demonstration(
                    id: id, prompt: problem, completion: "<think>\(solution)</think><answer>\(boxed)</answer>")
            case "jsonl":
                func mapped(_ ours: String, required: Bool) throws -> String? {
                    let theirs = o.mapping[ours] ?? ours
                    guard r[theirs] != nil else {
                        if required { return try field(theirs) }
                        return nil
                    }
                    return try field(theirs)
                }
                let mappedID = try mapped("id", required: false) ?? id
                tasks.append(
                    TaskRecord(
                        id: mappedID, prompt: try mapped("prompt", required: true)!,
                        answer: try mapped("answer", required: o.kind == "math"),
                        tests: try mapped("tests", required: o.kind == "code"),
                        entryPoint: try mapped("entry_point", required: o.kind == "code"),
                        solution: try mapped("solution", required: false)))
            default:
                throw TaskSetError.invalid("unknown format \"\(o.format)\" (\(formats.joined(separator: ", ")))")
            }
        }
        kind = ["humaneval", "mbpp"].contains(o.format) ? "code" : o.format == "jsonl" ? o.kind : "math"
        var seen = Set<String>()
        for (i, t) in tasks.enumerated() where !seen.insert(t.id).inserted {
            throw TaskSetError.duplicateID(id: t.id, file: path, line: records[i].line, first: "an earlier line")
        }
        var rng = Xoshiro(seed: o.seed)
        var order = Array(tasks.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let nTest = min(tasks.count, o.testCount ?? Int((Double(tasks.count) * o.testFraction).rounded()))
        let test = order.prefix(nTest).map { tasks[$0] }
        let train = order.dropFirst(nTest).map { tasks[$0] }
        let sft = train.compactMap { demos[$0.id] }
        let rules = kind == "code" ? "code" : "math"
        // HumanEval's check(candidate) functions are inlined assert by assert, each decided outside the
        // program; the few that loop over calls can only be checked in-process, which the set declares
        // (`grpo tasks validate` counts them).
        return GeneratedSet(
            manifest: TaskManifest(
                name: o.name, kind: kind,
                description: "Imported from \((path as NSString).lastPathComponent) (\(o.format)).",
                rules: rules, stop: kind == "math" ? ["</answer>"] : [],
                maxCompletionLength: kind == "code" ? 512 : 512,
                inProcessChecks: o.format == "humaneval"),
            train: train, test: test, sft: sft)
    }

    /// JSON lines of a file (gzip accepted), each with its line number.
    static func readRecords(_ path: String) throws -> [(line: Int, object: [String: JSONValue])] {
        guard var data = FileManager.default.contents(atPath: path) else {
            throw TaskSetError.notFound("\(path): no such file")
        }
        if data.starts(with: [0x1f, 0x8b]) { data = try gunzip(path) }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(
            "import-\(getpid())-\(UUID().uuidString).jsonl")
        try data.write(to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        do { return try TaskSet.jsonLines(tmp) } catch TaskSetError.badLine(_, let line, let field, let message) {
            throw TaskSetError.badLine(file: path, line: line, field: field, message: message)
        }
    }

    static func gunzip(_ path: String) throws -> Data {
        guard let gzip = ExecutableSearch.find("gzip") else {
            throw TaskSetError.invalid("\(path): a gzip file, and no gzip program on PATH to read it")
        }
        let p = Process()
        p.executableURL = gzip
        p.arguments = ["-dc", path]
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw TaskSetError.invalid(
                "\(path): gzip: " + String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        return data
    }

    /// The content of the last \boxed{...} (nested braces).
    public static func lastBoxed(_ text: String) -> String? {
        guard let r = text.range(of: "\\boxed{", options: .backwards) ?? text.range(of: "\\fbox{", options: .backwards)
        else { return nil }
        var depth = 1
        var i = r.upperBound
        while i < text.endIndex {
            if text[i] == "{" {
                depth += 1
            } else if text[i] == "}" {
                depth -= 1
                if depth == 0 { return String(text[r.upperBound..<i]) }
            }
            i = text.index(after: i)
        }
        return nil
    }

    static func firstFunctionName(_ code: String) -> String? {
        for line in code.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("def "), let paren = t.firstIndex(of: "(") {
                return String(t[t.index(t.startIndex, offsetBy: 4)..<paren]).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
