// A config file in TOML (`--config run.toml`), read into the same option: value pairs as a
// YAML file, so both go through one key table with the same checks and errors. Values map
// to YAML nodes by kind: a string stays a string (quoted), numbers and booleans are scalars,
// arrays are sequences, tables are mappings (reward_weights by name). A file that is no TOML
// is refused with the line and column the parser reports.

import Foundation
import Support
import TOMLKit
import Yams

enum TOMLOptions {
    /// The file's top-level keys with their values and lines, in the file's order.
    static func mapping(file: String, text: String) throws -> [(String, Node, line: Int?)] {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ConfigError(file: file, line: e.source.begin.line, key: nil, message: "not TOML: \(e.description)")
        }
        let lines = keyLines(text)
        let keys = table.keys.sorted { (lines[$0] ?? .max, $0) < (lines[$1] ?? .max, $1) }
        return try keys.map { key in
            (key, try node(table[key]!, file: file, key: key, line: lines[key]), lines[key])
        }
    }

    static func node(_ value: TOMLValueConvertible, file: String, key: String, line: Int?) throws -> Node {
        switch value.type {
        case .string: return Node(value.string!, Tag(.str), .doubleQuoted)
        case .int: return Node(String(value.int!))
        case .double:
            let d = value.double!
            return Node(d.isNaN ? ".nan" : d.isInfinite ? (d < 0 ? "-.inf" : ".inf") : "\(d)")
        case .bool: return Node(value.bool! ? "true" : "false")
        case .array: return Node(try value.array!.map { try node($0, file: file, key: key, line: line) })
        case .table:
            let t = value.table!
            return Node(try t.keys.map { (Node($0), try node(t[$0]!, file: file, key: key, line: line)) })
        case .date, .time, .dateTime:
            throw ConfigError(file: file, line: line, key: key, message: "a TOML \(value.type) is no option value")
        }
    }

    /// The line (1-based) of each top-level key in the text (a `[table]` header is its table's key):
    /// errors name it, and come in the order a reader sees the keys (the parser keeps its tables
    /// sorted).
    static func keyLines(_ text: String) -> [String: Int] {
        var lines: [String: Int] = [:]
        var inTable = false
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                let name = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
                    .split(separator: ".").first.map(String.init) ?? ""
                if lines[name] == nil { lines[name] = n + 1 }
                inTable = true
                continue
            }
            guard !inTable, let eq = trimmed.firstIndex(of: "="), !trimmed.hasPrefix("#") else { continue }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                in: CharacterSet(charactersIn: "\"'"))
            if lines[key] == nil { lines[key] = n + 1 }
        }
        return lines
    }
}
