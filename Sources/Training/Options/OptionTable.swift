// A command's options as one table: read from a YAML or TOML file (`--config FILE`) and
// from flags (which win), with the same checks and the same errors for both:
// an unknown key gets the nearest names, a refused TRL key the reason, a value
// of the wrong type what the key expects. `--help` and the README's Markdown
// tables are printed from the same rows.

import Foundation
import Policy
import RewardRules
import Yams
import Support

/// What the command line held: the config file, the options in order, whether help was asked for.
public struct CommandLineOptions {
    public var configFile: String?
    /// (key, value as typed, the flag as typed), keys resolved to their table names.
    public var flags: [(key: String, value: String, flag: String)] = []
    public var wantsHelp = false
}

public struct OptionTable<Root: OptionRoot> {
    /// The subcommand (`train`), for help and errors.
    public let command: String
    public let keys: [OptionKey<Root>]
    /// Names users bring from TRL that have no meaning here, each with the reason.
    public let refused: [(name: String, reason: String)]

    public init(command: String, keys: [OptionKey<Root>], refused: [(name: String, reason: String)] = []) {
        self.command = command
        self.keys = keys
        self.refused = refused
    }

    public func key(_ spelling: String) -> OptionKey<Root>? { keys.first { $0.isNamed(spelling) } }

    /// The error for a name that is no key: refused with its reason, or unknown with the nearest names.
    func unknown(_ spelling: String, source: String, line: Int? = nil, prefix: String) -> ConfigError {
        let snake = spelling.replacingOccurrences(of: "-", with: "_")
        if let reason = refused.first(where: { $0.name == snake })?.reason {
            return ConfigError(
                file: source, line: line, key: spelling, message: "not taken by grpo \(command): \(reason)")
        }
        let near = NearNames.suggest(snake, among: keys.map(\.name) + ["config"])
        let hint = near.isEmpty ? "" : " (did you mean \(near.map { prefix + $0 }.joined(separator: ", "))?)"
        return ConfigError(
            file: source, line: line, key: spelling,
            message: "unknown option\(hint); `grpo \(command) --help` lists them all")
    }

    // MARK: reading

    /// `--key value`, `--key=value`, `--switch` (true), `-k value` for a one-letter alias, and
    /// `--config FILE`. Keys are resolved here, so an unknown flag is named before anything runs.
    public func parseCommandLine(_ args: [String]) throws -> CommandLineOptions {
        var out = CommandLineOptions()
        var i = 0
        func fail(_ flag: String, _ message: String) -> ConfigError {
            ConfigError(file: "flags", key: flag, message: message)
        }
        while i < args.count {
            let arg = args[i]
            i += 1
            if arg == "--help" || arg == "-h" {
                out.wantsHelp = true
                continue
            }
            let body: Substring
            if arg.hasPrefix("--"), arg.count > 2 {
                body = arg.dropFirst(2)
            } else if arg.hasPrefix("-"), arg.count == 2, let letter = arg.last, !letter.isNumber {
                body = Substring(String(letter))
            } else {
                throw PolicyError.invalidArgument(
                    "unexpected argument \"\(arg)\": options are --name value "
                        + "(`grpo \(command) --help` lists them)")
            }
            let (name, inline): (String, String?) =
                body.firstIndex(of: "=").map {
                    (String(body[..<$0]), String(body[body.index(after: $0)...]))
                } ?? (String(body), nil)
            if name == "config" {
                guard let file = inline ?? (i < args.count ? args[i] : nil) else {
                    throw fail(name, "needs a value (a YAML or TOML file)")
                }
                if inline == nil { i += 1 }
                out.configFile = file
                continue
            }
            guard let key = key(name) else { throw unknown(name, source: "flags", prefix: "--") }
            let value: String
            if let inline {
                value = inline
            } else if key.isSwitch {
                // A switch takes the next word only when it is a truth value: `--json --quiet`.
                let next = i < args.count ? args[i].lowercased() : ""
                if ["true", "false", "yes", "no", "on", "off"].contains(next) {
                    value = args[i]
                    i += 1
                } else {
                    value = "true"
                }
            } else {
                guard i < args.count, !args[i].hasPrefix("--") else {
                    throw fail(name, "needs a value (\(key.placeholder))")
                }
                value = args[i]
                i += 1
            }
            out.flags.append((key.name, value, arg))
        }
        return out
    }

    /// The config from a YAML or TOML file (may be nil) and then the flags; `given` holds every key set,
    /// `places` where each was set. Values are checked for type here; the config's own `validate`
    /// checks ranges (run it through `places.checking` so its errors name the line).
    public func read(
        file: String?, flags: [(key: String, value: String, flag: String)]
    ) throws
        -> (config: Root, given: Set<String>, places: OptionPlaces)
    {
        var root = Root()
        var given: [String: String] = [:]
        var places = OptionPlaces(file: file)
        func set(_ key: OptionKey<Root>, _ node: Node, source: String, line: Int?, as spelling: String) throws {
            if let earlier = given[key.name] {
                throw ConfigError(
                    file: source, line: line, key: key.name,
                    message: "given twice (as \(earlier) and \(spelling))")
            }
            given[key.name] = spelling
            do { try key.assign(&root, node) } catch let e as OptionValueError {
                throw ConfigError(file: source, line: line, key: key.name, message: e.message)
            }
        }
        if let file {
            for (name, node, line) in try Self.mapping(file: file) {
                guard let key = key(name) else { throw unknown(name, source: file, line: line, prefix: "") }
                try set(key, node, source: file, line: line, as: name)
                if let line { places.lines[key.name] = line }
            }
        }
        // A flag wins over the file: the file's keys are forgotten, duplicates among flags are not.
        let fromFile = given
        given = [:]
        for (name, text, flag) in flags {
            guard let key = key(name) else { throw unknown(name, source: "flags", prefix: "--") }
            let node = try key.isPlainText ? Node(text) : (Self.yaml(text, source: flag) ?? Node("~"))
            try set(key, node, source: "flags", line: nil, as: flag)
            places.flags.insert(key.name)
        }
        return (root, Set(fromFile.keys).union(given.keys), places)
    }

    /// A YAML or TOML file's option: value pairs, in order, each with the line of its key.
    static func mapping(file: String) throws -> [(String, Node, line: Int?)] {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ConfigError(file: file, key: nil, message: "cannot read the file")
        }
        if file.lowercased().hasSuffix(".toml") { return try TOMLOptions.mapping(file: file, text: text) }
        guard let root = try yaml(text, source: file) else { return [] }
        guard let pairs = root.mapping else {
            throw ConfigError(file: file, key: nil, message: "must be a mapping of option: value")
        }
        return try pairs.map { k, v in
            guard let name = k.string else {
                throw ConfigError(file: file, line: k.mark?.line, key: nil, message: "keys must be option names")
            }
            return (name, v, k.mark?.line)
        }
    }

    static func yaml(_ text: String, source: String) throws -> Node? {
        do { return try BoundedYAML.compose(text) } catch let e as BoundedYAML.TooLarge {
            throw ConfigError(file: source, key: nil, message: e.description)
        } catch {
            throw ConfigError(file: source, key: nil, message: "not YAML: \(error)")
        }
    }

    // MARK: Codable

    /// The saved keys, absent optionals left out.
    public func encode(_ root: Root, to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: OptionCodingKey.self)
        for key in keys where key.isSaved { try key.encodeValue(root, &container) }
    }

    /// Every key optional (the defaults); keys outside the table are ignored, as JSON decoding does.
    public func decode(from decoder: Decoder) throws -> Root {
        let container = try decoder.container(keyedBy: OptionCodingKey.self)
        var root = Root()
        for key in keys { try key.decodeValue(&root, container) }
        return root
    }

    // MARK: documentation

    /// `grpo COMMAND --help`: every option with its value, default and a line of help.
    public func help(abstract: String) -> String {
        let rows = keys.map { key -> (String, String, String) in
            ("--\(key.name) " + key.placeholder, key.defaultText.isEmpty ? "\"\"" : key.defaultText, key.help)
        }
        let first = max(30, rows.map(\.0.count).max() ?? 0) + 2
        let second = max(12, rows.map(\.1.count).max() ?? 0) + 2
        func pad(_ s: String, _ n: Int) -> String {
            s.padding(toLength: max(n, s.count + 1), withPad: " ", startingAt: 0)
        }
        var lines = [
            "OVERVIEW: \(abstract)", "",
            "USAGE: grpo \(command) [--config FILE] [--OPTION VALUE ...]", "",
            "Options are read from --config FILE (YAML or TOML, the same keys) and then from flags, which win.",
            "Keys are Hugging Face / TRL names; --snake_case and --kebab-case are the same flag.", "",
            "OPTIONS:",
            "  " + pad("OPTION VALUE", first) + pad("DEFAULT", second) + "MEANING",
            "  " + pad("--config FILE", first) + pad("none", second) + "YAML or TOML file of these options.",
        ]
        lines += rows.map { "  " + pad($0.0, first) + pad($0.1, second) + $0.2 }
        lines.append("  " + pad("-h, --help", first) + pad("", second) + "Show this help.")
        if !refused.isEmpty {
            lines += ["", "TRL OPTIONS NOT TAKEN:"]
            let width = (refused.map(\.name.count).max() ?? 0) + 2
            lines += refused.map { "  " + pad($0.name, width) + $0.reason }
        }
        return lines.joined(separator: "\n")
    }

    /// The same table in Markdown, for the README (`grpo help-options COMMAND --markdown`).
    public func markdown() -> String {
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var lines = [
            "| option | value | default | meaning |", "|---|---|---|---|",
            "| `--config` | FILE | none | YAML or TOML file of these options; flags win |",
        ]
        lines += keys.map { key in
            let shown = key.defaultText.isEmpty ? "\"\"" : key.defaultText
            return "| `--\(key.name)` | \(cell(key.placeholder)) | `\(cell(shown))` | \(cell(key.help)) |"
        }
        if !refused.isEmpty {
            lines += ["", "Not taken: " + refused.map { "`\($0.name)` (\($0.reason))" }.joined(separator: "; ") + "."]
        }
        return lines.joined(separator: "\n")
    }
}

/// Where each key of a reading was set: a line of the config file, or a flag (which wins).
public struct OptionPlaces: Sendable {
    var file: String?
    var lines: [String: Int] = [:]
    var flags: Set<String> = []

    /// Runs `body` (a config's range checks): a `ConfigError` about a key names the file and line
    /// that set it, or "flags".
    public func checking(_ body: () throws -> Void) throws {
        do { try body() } catch var e as ConfigError {
            if let key = e.key {
                if flags.contains(key) {
                    e.file = "flags"
                    e.line = nil
                } else if let file, let line = lines[key] {
                    e.file = file
                    e.line = line
                }
            }
            throw e
        }
    }
}
