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
    /// The file's top-level keys with their values, in the file's order.
    static func mapping(file: String, text: String) throws -> [(String, Node)] {
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ConfigError(file: file, line: e.source.begin.line, key: nil, message: "not TOML: \(e.description)")
        }
        let order = keyOrder(text)
        let keys = table.keys.sorted { (order[$0] ?? .max, $0) < (order[$1] ?? .max, $1) }
        return try keys.map { key in (key, try node(table[key]!, file: file, key: key)) }
    }

    static func node(_ value: TOMLValueConvertible, file: String, key: String) throws -> Node {
        switch value.type {
        case .string: return Node(value.string!, Tag(.str), .doubleQuoted)
        case .int: return Node(String(value.int!))
        case .double:
            let d = value.double!
            return Node(d.isNaN ? ".nan" : d.isInfinite ? (d < 0 ? "-.inf" : ".inf") : "\(d)")
        case .bool: return Node(value.bool! ? "true" : "false")
        case .array: return Node(try value.array!.map { try node($0, file: file, key: key) })
        case .table:
            let t = value.table!
            return Node(try t.keys.map { (Node($0), try node(t[$0]!, file: file, key: key)) })
        case .date, .time, .dateTime:
            throw ConfigError(file: file, key: key, message: "a TOML \(value.type) is no option value")
        }
    }

    /// The position of each top-level key in the text, so errors come in the order a reader
    /// sees them (the parser keeps its tables sorted).
    static func keyOrder(_ text: String) -> [String: Int] {
        var order: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard let eq = trimmed.firstIndex(of: "="), !trimmed.hasPrefix("#"), !trimmed.hasPrefix("[") else {
                continue
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                in: CharacterSet(charactersIn: "\"'"))
            if order[key] == nil { order[key] = order.count }
        }
        return order
    }
}
