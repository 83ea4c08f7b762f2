// Demonstrations for SFT (the cold start before GRPO): JSONL, one object per
// line with string fields "prompt" and "completion" (optional "id"; anything
// else, e.g. "meta", is ignored). A task set keeps them in
// Tasks/<name>/sft.jsonl next to its train.jsonl and test.jsonl.

import Foundation
import Kernels
import Support

public struct SFTExample: Equatable, Sendable {
    public var prompt: String
    public var completion: String
    public var id: String?

    public init(prompt: String, completion: String, id: String? = nil) {
        self.prompt = prompt
        self.completion = completion
        self.id = id
    }
}

/// Errors a user can act on: each names the file, and where it applies the
/// 1-based line and the field.
public enum SFTDataError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    /// A task-set name found in none of the search folders (`searched` lists them).
    case noTaskSet(name: String, searched: String)
    case noDemonstrations(taskSet: String, expected: String)
    case unreadable(file: String, message: String)
    case invalidJSON(file: String, line: Int)
    case notAnObject(file: String, line: Int)
    case missingField(file: String, line: Int, field: String)
    case wrongType(file: String, line: Int, field: String, expected: String)
    case noExamples(file: String)
    // Batching: settings and resume state.
    case invalidSetting(name: String, value: Int, requirement: String)
    case nothingFits(examples: Int, maxLength: Int)
    case invalidState(String)

    public var description: String {
        switch self {
        case .missingFile(let path): return "\(path): no such file"
        case let .noTaskSet(name, searched):
            return "no task set \"\(name)\" (looked for a folder \(name) in \(searched))"
        case let .noDemonstrations(taskSet, expected):
            return "\(taskSet): the task set has no demonstrations (looked for \(expected))"
        case let .unreadable(file, message): return "\(file): \(message)"
        case let .invalidJSON(file, line): return "\(file):\(line): not valid JSON"
        case let .notAnObject(file, line): return "\(file):\(line): expected a JSON object"
        case let .missingField(file, line, field): return "\(file):\(line): missing field \"\(field)\""
        case let .wrongType(file, line, field, expected):
            return "\(file):\(line): field \"\(field)\": expected \(expected)"
        case .noExamples(let file): return "\(file): no examples"
        case let .invalidSetting(name, value, requirement): return "\(name) \(value): \(requirement)"
        case let .nothingFits(examples, maxLength):
            return
                "none of the \(examples) examples fits max length \(maxLength) (bos, the prompt and one completion "
                + "token must fit)"
        case .invalidState(let message): return message
        }
    }
}

public enum SFTData {
    /// Examples from `path`: a JSONL file, a task-set folder (its sft.jsonl),
    /// or a bare task-set name (Tasks/<name>/sft.jsonl). Relative paths are
    /// resolved against `directory`, or the current directory when nil.
    public static func load(_ path: String, relativeTo directory: String? = nil) throws -> [SFTExample] {
        let file = try resolve(path, relativeTo: directory)
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
            throw SFTDataError.unreadable(file: file, message: error.localizedDescription)
        }
        var examples: [SFTExample] = []
        // Split bytes, not a decoded String, so a bad byte is reported on its own line.
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(isJSONWhitespace) {
            examples.append(try parse(Data(line), file: file, line: index + 1))
        }
        if examples.isEmpty { throw SFTDataError.noExamples(file: file) }
        return examples
    }

    /// The JSONL file that `load` reads for `path`; the CLI can show it.
    public static func resolve(_ path: String, relativeTo directory: String? = nil) throws -> String {
        let full = joined(directory, path)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: full, isDirectory: &isFolder) {
            return isFolder.boolValue ? try demonstrations(inTaskSet: full) : full
        }
        // A bare name ("arith") names a task set; "x.jsonl" or "dir/x" is a path that is missing.
        if !path.contains("/") && !path.hasSuffix(".jsonl") {
            let current = directory ?? FileManager.default.currentDirectoryPath
            let searched = SetFolders.search("Tasks", currentDirectory: current)
            for folder in searched {
                let taskSet = (folder.path as NSString).appendingPathComponent(path)
                if FileManager.default.fileExists(atPath: taskSet, isDirectory: &isFolder), isFolder.boolValue {
                    return try demonstrations(inTaskSet: taskSet)
                }
            }
            throw SFTDataError.noTaskSet(name: path, searched: SetFolders.describe(searched))
        }
        throw SFTDataError.missingFile(full)
    }

    private static func demonstrations(inTaskSet folder: String) throws -> String {
        let trimmed = folder.hasSuffix("/") && folder.count > 1 ? String(folder.dropLast()) : folder
        let file = trimmed + "/sft.jsonl"
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isFolder), !isFolder.boolValue else {
            throw SFTDataError.noDemonstrations(taskSet: trimmed, expected: file)
        }
        return file
    }

    private static func joined(_ directory: String?, _ path: String) -> String {
        guard let directory, !path.hasPrefix("/") else { return path }
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func parse(_ line: Data, file: String, line number: Int) throws -> SFTExample {
        let value: Any
        // Fragments allowed so that a line holding `"text"` or `3` is reported as
        // "not an object" rather than as invalid JSON.
        do { value = try JSONSerialization.jsonObject(with: line, options: .fragmentsAllowed) } catch {
            throw SFTDataError.invalidJSON(file: file, line: number)
        }
        guard let object = value as? [String: Any] else { throw SFTDataError.notAnObject(file: file, line: number) }

        func string(_ field: String) throws -> String? {
            guard let raw = object[field] else { return nil }
            guard let text = raw as? String else {
                throw SFTDataError.wrongType(file: file, line: number, field: field, expected: "a string")
            }
            return text
        }
        func required(_ field: String) throws -> String {
            guard let text = try string(field) else {
                throw SFTDataError.missingField(file: file, line: number, field: field)
            }
            return text
        }
        // An explicit null id means "no id", as if the field were absent.
        let id = object["id"] is NSNull ? nil : try string("id")
        return SFTExample(prompt: try required("prompt"), completion: try required("completion"), id: id)
    }
}
