// A `Table` as the trace viewer sends it: JSON ({"columns": [...], "rows":
// [[...]]}, compact and in column order), CSV (RFC 4180: fields with a comma,
// quote or line break quoted, quotes doubled) or JSON lines (one object a row,
// keyed by column). Numbers that are not finite and blobs, which JSON and CSV
// cannot hold as such, are null / empty and "<N bytes>".

import Foundation

extension TraceValue: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let i): try container.encode(i)
        case .real(let d): if d.isFinite { try container.encode(d) } else { try container.encodeNil() }
        case .text(let s): try container.encode(s)
        case .blob(let b): try container.encode("<\(b.count) bytes>")
        }
    }
}

extension Table: Encodable {
    enum CodingKeys: String, CodingKey { case columns, rows }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(columns, forKey: .columns)
        try container.encode(rows, forKey: .rows)
    }
}

extension Table {
    public var csv: String {
        func field(_ v: TraceValue) -> String {
            let text: String
            switch v {
            case .null: return ""
            case .integer(let i): return String(i)
            case .real(let d): return d.isFinite ? "\(d)" : ""
            case .text(let s): text = s
            case .blob(let b): text = "<\(b.count) bytes>"
            }
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        let lines = [columns.map { field(.text($0)) }] + rows.map { $0.map(field) }
        return lines.map { $0.joined(separator: ",") + "\r\n" }.joined()
    }

    public func jsonLines() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try rows.map { row in
            // Keyed by column, in column order (a Dictionary would reorder them).
            let fields = try zip(columns, row).map { column, value in
                String(decoding: try encoder.encode(column), as: UTF8.self) + ":"
                    + String(decoding: try encoder.encode(value), as: UTF8.self)
            }
            return "{" + fields.joined(separator: ",") + "}\n"
        }.joined()
    }
}
