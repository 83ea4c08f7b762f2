// A Python value of the core types, as plain data: what a sandboxed run says
// its calls returned, and what the tests expect. The comparison between the
// two happens here, in the trainer, where the program never ran, so nothing
// the program does to its own interpreter (metaclasses, builtins, settrace,
// ctypes) can change it.
//
// The wire form (written by `Harness.encoder`, one value per line, ASCII only):
//   N  T  F                         None, True, False
//   i<hex>;  f<repr>;  c<re>,<im>;  int (any size), float, complex
//   s<hex utf-8>;  b<hex>;          str (surrogates kept), bytes
//   l<n>:  t<n>:  S<n>:  z<n>:      list, tuple, set, frozenset, then n values
//   d<n>:                           dict, then n key-value pairs
//   ?<hex type name>;               anything else (equal to nothing)
//
// Equality is type-strict, as the tests mean it: `True` is not `1`, a tuple is
// not a list, an instance of any other class (an `int` subclass included)
// equals nothing; an int and a float are compared by value (`[2, 4] == [2.0,
// 4.0]`), and a dict's keys or a set's elements match as Python would hash
// them, with the same rule.

import Foundation

public indirect enum PythonValue: Sendable, Equatable {
    case none
    case bool(Bool)
    /// Lower-case hexadecimal digits with an optional leading "-", no leading zeros.
    case int(String)
    case float(Double)
    case complex(Double, Double)
    case str([UInt8])
    case bytes([UInt8])
    case list([PythonValue])
    case tuple([PythonValue])
    case dict([DictEntry])
    case set([PythonValue])
    case frozenset([PythonValue])
    /// A value of another type (its type name): it equals nothing.
    case unsupported(String)

    public struct DictEntry: Sendable, Equatable {
        public var key: PythonValue
        public var value: PythonValue
        public init(key: PythonValue, value: PythonValue) {
            self.key = key
            self.value = value
        }
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let offset: Int
        public let message: String
        public var description: String { "malformed value at byte \(offset): \(message)" }
    }

    /// Containers nested deeper than this are refused (the encoder marks deeper ones unsupported).
    static let maxDepth = 64

    /// Parses one value in the wire form; the whole of `text` must be that value.
    public static func parse<S: Collection>(_ text: S) throws -> PythonValue where S.Element == UInt8 {
        var reader = Reader(bytes: Array(text))
        let value = try reader.value(depth: 0)
        guard reader.position == reader.bytes.count else { throw reader.error("trailing bytes") }
        return value
    }

    // MARK: comparisons

    /// Type-strict equality (see the header).
    public func strictlyEquals(_ other: PythonValue) -> Bool {
        switch (self, other) {
        case (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.float(a), .float(b)): return a == b
        case let (.int(a), .float(b)), let (.float(b), .int(a)): return PythonValue.integerHex(of: b) == a
        case let (.complex(a, b), .complex(c, d)): return a == c && b == d
        case let (.str(a), .str(b)), let (.bytes(a), .bytes(b)): return a == b
        case let (.list(a), .list(b)), let (.tuple(a), .tuple(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.strictlyEquals($1) }
        case let (.dict(a), .dict(b)):
            guard a.count == b.count else { return false }
            var byKey: [String: PythonValue] = [:]
            for entry in b { byKey[entry.key.hashKey] = entry.value }
            guard byKey.count == b.count else { return false }
            return a.allSatisfy { entry in byKey[entry.key.hashKey].map { entry.value.strictlyEquals($0) } ?? false }
        case let (.set(a), .set(b)), let (.frozenset(a), .frozenset(b)):
            return a.count == b.count && Set(a.map(\.hashKey)) == Set(b.map(\.hashKey))
        default: return false
        }
    }

    /// Python's truth value; a value of an unknown type is never taken as true.
    public var isTruthy: Bool {
        switch self {
        case .none, .unsupported: return false
        case .bool(let b): return b
        case .int(let h): return h != "0"
        case .float(let d): return d != 0
        case let .complex(a, b): return a != 0 || b != 0
        case .str(let s), .bytes(let s): return !s.isEmpty
        case .list(let v), .tuple(let v), .set(let v), .frozenset(let v): return !v.isEmpty
        case .dict(let v): return !v.isEmpty
        }
    }

    /// None, True or False: the values `is` compares meaningfully.
    public var isSingleton: Bool {
        switch self {
        case .none, .bool: return true
        default: return false
        }
    }

    /// A string naming the value as a dict key or set element: equal for values that match
    /// under `strictlyEquals` (an integral float and the same int share one), distinct
    /// otherwise. NaN and unsupported values get keys that match nothing else.
    var hashKey: String {
        switch self {
        case .none: return "N"
        case .bool(let b): return b ? "T" : "F"
        case .int(let h): return "i" + h
        case .float(let d):
            if let h = PythonValue.integerHex(of: d) { return "i" + h }
            return d.isNaN ? "nan:" + UUID().uuidString : "f\(d)"
        case let .complex(a, b): return "c\(a),\(b)"
        case .str(let s): return "s" + PythonValue.hex(s)
        case .bytes(let s): return "b" + PythonValue.hex(s)
        case .tuple(let v): return "t(" + v.map(\.hashKey).joined(separator: ",") + ")"
        case .frozenset(let v): return "z(" + v.map(\.hashKey).sorted().joined(separator: ",") + ")"
        case .list, .dict, .set, .unsupported: return "?" + UUID().uuidString
        }
    }

    /// The exact integer an integral, finite double holds, in the wire form's hex; nil otherwise.
    static func integerHex(of d: Double) -> String? {
        guard d.isFinite, d == d.rounded(.towardZero) else { return nil }
        if d == 0 { return "0" }
        let sign = d < 0 ? "-" : ""
        let m = d.magnitude
        if m < 9.0e15 { return sign + String(UInt64(m), radix: 16) }
        // m = significand * 2^shift with a 53-bit integer significand: the hex of a left shift.
        let significand = m.significandBitPattern | (1 << 52)
        let shift = Int(m.exponent) - 52
        var bits = String(significand, radix: 2) + String(repeating: "0", count: shift)
        bits = String(repeating: "0", count: (4 - bits.count % 4) % 4) + bits
        var hex = ""
        var i = bits.startIndex
        while i < bits.endIndex {
            let j = bits.index(i, offsetBy: 4)
            hex.append(String(Int(bits[i..<j], radix: 2)!, radix: 16))
            i = j
        }
        while hex.hasPrefix("0") && hex.count > 1 { hex.removeFirst() }
        return sign + hex
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A short rendering for the rule's detail text (Python's repr where it is easy).
    public var summary: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let h):
            if let v = Int(h, radix: 16) { return String(v) }
            return (h.hasPrefix("-") ? "-0x" + h.dropFirst() : "0x" + h)
        case .float(let d): return d.isNaN ? "nan" : d.isInfinite ? (d > 0 ? "inf" : "-inf") : "\(d)"
        case let .complex(a, b): return "(\(a)+\(b)j)"
        case .str(let s): return "'" + String(decoding: s, as: UTF8.self) + "'"
        case .bytes(let s): return "b'" + String(decoding: s, as: UTF8.self) + "'"
        case .list(let v): return "[" + v.map(\.summary).joined(separator: ", ") + "]"
        case .tuple(let v): return "(" + v.map(\.summary).joined(separator: ", ") + (v.count == 1 ? ",)" : ")")
        case .dict(let v): return "{" + v.map { $0.key.summary + ": " + $0.value.summary }.joined(separator: ", ") + "}"
        case .set(let v), .frozenset(let v):
            return v.isEmpty ? "set()" : "{" + v.map(\.summary).joined(separator: ", ") + "}"
        case .unsupported(let name): return "<\(name) object>"
        }
    }
}

/// A cursor over the wire form.
private struct Reader {
    let bytes: [UInt8]
    var position = 0

    func error(_ message: String) -> PythonValue.FormatError {
        PythonValue.FormatError(offset: position, message: message)
    }

    mutating func value(depth: Int) throws -> PythonValue {
        guard depth < PythonValue.maxDepth else { throw error("nested too deeply") }
        guard position < bytes.count else { throw error("unexpected end") }
        let tag = bytes[position]
        position += 1
        switch tag {
        case UInt8(ascii: "N"): return .none
        case UInt8(ascii: "T"): return .bool(true)
        case UInt8(ascii: "F"): return .bool(false)
        case UInt8(ascii: "i"): return .int(try integer(field(until: ";")))
        case UInt8(ascii: "f"): return .float(try float(field(until: ";")))
        case UInt8(ascii: "c"):
            let real = try float(field(until: ","))
            let imaginary = try float(field(until: ";"))
            return .complex(real, imaginary)
        case UInt8(ascii: "s"): return .str(try unhex(field(until: ";")))
        case UInt8(ascii: "b"): return .bytes(try unhex(field(until: ";")))
        case UInt8(ascii: "?"): return .unsupported(String(decoding: try unhex(field(until: ";")), as: UTF8.self))
        case UInt8(ascii: "l"): return .list(try items(depth: depth))
        case UInt8(ascii: "t"): return .tuple(try items(depth: depth))
        case UInt8(ascii: "S"): return .set(try items(depth: depth))
        case UInt8(ascii: "z"): return .frozenset(try items(depth: depth))
        case UInt8(ascii: "d"):
            let n = try count()
            var entries: [PythonValue.DictEntry] = []
            for _ in 0..<n {
                let key = try value(depth: depth + 1)
                entries.append(.init(key: key, value: try value(depth: depth + 1)))
            }
            return .dict(entries)
        default: throw error("unknown tag \(tag)")
        }
    }

    mutating func field(until terminator: Character) throws -> [UInt8] {
        let end = UInt8(ascii: terminator.unicodeScalars.first!)
        guard let stop = bytes[position...].firstIndex(of: end) else { throw error("no \"\(terminator)\"") }
        defer { position = stop + 1 }
        return Array(bytes[position..<stop])
    }

    /// "<n>:" before a container's items; n can be no larger than the bytes left (one or more each).
    mutating func count() throws -> Int {
        let digits = try field(until: ":")
        guard !digits.isEmpty, digits.count < 10, digits.allSatisfy({ (48...57).contains($0) }),
            let n = Int(String(decoding: digits, as: UTF8.self)), n <= bytes.count - position
        else {
            throw error("bad item count")
        }
        return n
    }

    mutating func items(depth: Int) throws -> [PythonValue] {
        let n = try count()
        var out: [PythonValue] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try value(depth: depth + 1)) }
        return out
    }

    func integer(_ digits: [UInt8]) throws -> String {
        var body = digits[...]
        let negative = body.first == UInt8(ascii: "-")
        if negative { body = body.dropFirst() }
        guard !body.isEmpty, body.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw error("bad int")
        }
        let trimmed = body.drop { $0 == UInt8(ascii: "0") }
        let magnitude = trimmed.isEmpty ? "0" : String(decoding: trimmed, as: UTF8.self)
        return negative && magnitude != "0" ? "-" + magnitude : magnitude
    }

    func float(_ text: [UInt8]) throws -> Double {
        // Python's repr: digits, ".", "e", signs, "inf", "nan".
        guard !text.isEmpty, text.count < 40,
            text.allSatisfy({ (48...57).contains($0) || Array("+-.einfa".utf8).contains($0) }),
            let d = Double(String(decoding: text, as: UTF8.self))
        else { throw error("bad float") }
        return d
    }

    func unhex(_ text: [UInt8]) throws -> [UInt8] {
        guard text.count % 2 == 0 else { throw error("odd hex length") }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            default: throw error("bad hex digit")
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(text.count / 2)
        var i = 0
        while i < text.count {
            out.append(try nibble(text[i]) << 4 | nibble(text[i + 1]))
            i += 2
        }
        return out
    }
}
