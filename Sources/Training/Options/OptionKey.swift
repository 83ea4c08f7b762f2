// One row of a command's option table: the key (a Hugging Face / TRL name in
// snake case), the field it sets, its default (read from the config's own
// initial value, so the table cannot disagree with it) and a line of help.
// `--help`, the README's tables, the errors and the config's Codable form are
// all generated from these rows.

import Yams

/// A configuration a table fills: every field has a default.
public protocol OptionRoot {
    init()
}

/// Any option name as a coding key (the config's Codable form follows its table).
public struct OptionCodingKey: CodingKey {
    public let stringValue: String
    public init(stringValue: String) { self.stringValue = stringValue }
    public var intValue: Int? { nil }
    public init?(intValue: Int) { nil }
}

public struct OptionKey<Root: OptionRoot> {
    public let name: String
    /// Other spellings accepted (older names, TRL's); never shown. A one-letter alias is also `-x`.
    public let aliases: [String]
    public let help: String
    /// Part of the run's saved config (false: how this invocation runs, e.g. json, quiet, resume).
    public let isSaved: Bool
    public let placeholder: String
    /// A flag that may stand alone (`--json`): a Bool.
    public let isSwitch: Bool
    /// A flag's text is the value as it is; otherwise it is read as YAML (lists, mappings).
    let isPlainText: Bool
    public let defaultText: String
    let assign: (inout Root, Node) throws -> Void
    let encodeValue: (Root, inout KeyedEncodingContainer<OptionCodingKey>) throws -> Void
    let decodeValue: (inout Root, KeyedDecodingContainer<OptionCodingKey>) throws -> Void

    /// `defaultText`: what to show for the default when the field's initial value does not say it
    /// (`runs/<run_name>` for an absent output_dir).
    public init<V: OptionValue>(
        _ name: String, _ path: WritableKeyPath<Root, V>, _ help: String,
        aliases: [String] = [], default defaultText: String? = nil, saved: Bool = true
    ) {
        self.name = name
        self.aliases = aliases
        self.help = help
        self.isSaved = saved
        placeholder = V.placeholder
        isSwitch = V.isSwitch
        isPlainText = V.isPlainText
        self.defaultText = defaultText ?? Root()[keyPath: path].optionText
        assign = { root, node in root[keyPath: path] = try V.parse(node) }
        let key = OptionCodingKey(stringValue: name)
        encodeValue = { root, container in
            let value = root[keyPath: path]
            // An absent optional is left out, as Codable's synthesized form does.
            if value.isAbsent { return }
            try container.encode(value, forKey: key)
        }
        decodeValue = { root, container in
            if let value = try container.decodeIfPresent(V.self, forKey: key) { root[keyPath: path] = value }
        }
    }

    /// Whether `spelling` (snake or kebab case, or an alias) names this key.
    func isNamed(_ spelling: String) -> Bool {
        let snake = spelling.replacingOccurrences(of: "-", with: "_")
        return snake == name || aliases.contains(snake)
    }
}
