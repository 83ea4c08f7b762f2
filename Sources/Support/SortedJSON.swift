// The one JSON encoder for what grpo writes and prints: keys sorted, so a file or a line
// is the same for the same value and diffs stay small; slashes left alone, so paths read
// as typed.

import Foundation

extension JSONEncoder {
    public static var sortedKeys: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
