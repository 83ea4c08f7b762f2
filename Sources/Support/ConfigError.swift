// A configuration a user wrote (a YAML or TOML file, flags, a manifest) that cannot be used.
// It names where the problem is (the file or "flags", the line when the reader knows it) and
// the key at fault, so the fix is one edit away.

public struct ConfigError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file, or "flags" for the command line.
    public var file: String
    /// 1-based, when the reader reports one.
    public var line: Int?
    public var key: String?
    public var message: String

    public init(file: String, line: Int? = nil, key: String?, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// `file:line: key "k": message`; the line and key only when known.
    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return key.map { "\(place): key \"\($0)\": \(message)" } ?? "\(place): \(message)"
    }
}
