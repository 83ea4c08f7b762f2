// Text from a trace database (completions, prompts, details) as a terminal may
// show it. A completion is whatever the policy wrote: escape sequences in it
// would set the window title, clear the screen, move the cursor over earlier
// lines or print fake "passed" lines with a carriage return. Every control
// character is shown as an escape instead (ESC as \x1b), as are the Unicode
// controls that reorder what is shown (bidirectional overrides).

enum TerminalText {
    /// `keepLines`: newlines and tabs stay (a completion shown whole); otherwise they become
    /// spaces (a table cell, a one-line preview).
    static func safe(_ text: String, keepLines: Bool) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x0A, 0x09:
                out.unicodeScalars.append(keepLines ? scalar : " ")
            case 0x00..<0x20, 0x7F:
                out += "\\x" + hex(scalar.value, digits: 2)
            case 0x80..<0xA0, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                out += "\\u{" + hex(scalar.value, digits: 4) + "}"
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }
}
