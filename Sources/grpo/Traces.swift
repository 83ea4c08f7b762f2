import ArgumentParser
import Foundation
import Kernels
import Traces
import Support

struct TracesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traces",
        abstract: "Inspect sampled completions, rule scores and step metrics in a trace database.",
        discussion:
            "Every subcommand reads --db PATH (default: the most recently written *.sqlite under runs/), read-only.",
        subcommands: [
            Runs.self, Steps.self, Samples.self, Show.self, Group.self, Export.self, Plot.self, SQL.self, Serve.self,
        ])

    struct Database: ParsableArguments {
        @Option(help: "Trace database (default: the most recently written *.sqlite under runs/).") var db: String?
        @Flag(help: "Print JSON (an array of objects) instead of a table.") var json = false

        func open() throws -> TraceReader { try TraceReader(path: db ?? TraceReader.latest()) }
    }

    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The runs: status, seed, task set, rule set and its hash, progress.")
        @OptionGroup var database: Database
        func run() throws { try printTable(database.open().runs(), json: database.json) }
    }

    struct Steps: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A run's metrics, a row per step, and each rule's pass rate (--json: every metric).")
        @OptionGroup var database: Database
        @Option(name: .customLong("run"), help: "Run id or name (default: the latest run).") var runName: String?
        func run() throws {
            let reader = try database.open()
            let id = try reader.resolveRun(runName)
            let rules = try reader.ruleInfos(run: id)
            if database.json {
                // The metrics column already is one JSON object a step; the pass rates are read from
                // the rule scores, so runs whose metrics lack them show them too.
                let metrics = try reader.stepMetrics(run: id)
                let curves = try reader.rulePassRates(run: id, steps: metrics.map { $0.step })
                let lines = try metrics.enumerated().map { i, step in
                    var rates: [String: Any] = [:]
                    for curve in curves {
                        rates[curve.rule.name] = curve.passRates[i].map { $0 as Any } ?? NSNull()
                    }
                    let passRates = try jsonText(rates)
                    return "{\"step\":\(step.step),\"metrics\":\(step.metrics),\"pass_rates\":\(passRates)}"
                }
                print("[" + lines.joined(separator: ",\n") + "]")
            } else {
                // Columns the run never wrote (no KL without a reference model, ...) are left out.
                let table = try reader.steps(run: id)
                let kept = table.columns.indices.filter { i in
                    table.rows.contains { $0[i] != .null } || table.rows.isEmpty
                }
                printTable(
                    Table(columns: kept.map { table.columns[$0] }, rows: table.rows.map { row in kept.map { row[$0] } })
                )
                if let note = ruleNote(rules) {
                    print(TerminalText.safe(note, keepLines: true))
                }
            }
        }

        /// What the rule columns hold, and which rules are diagnostics (weight 0, not in the reward).
        func ruleNote(_ rules: [RuleInfo]) -> String? {
            guard !rules.isEmpty else { return nil }
            var note =
                "rule columns (\(rules.map(\.name).joined(separator: ", "))): "
                + "the share of the step's samples with full marks, of those the rule applied to"
            let diagnostic = rules.filter(\.isDiagnostic).map(\.name)
            if !diagnostic.isEmpty {
                note += "\ndiagnostic, weight 0 (recorded, not in the reward): \(diagnostic.joined(separator: ", "))"
            }
            return note
        }
    }

    struct Samples: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sampled completions, filtered and ordered.",
            discussion: """
                grpo traces samples --step 40 --rule answer --below 1 --order reward
                grpo traces samples --reason timeout --limit 5
                grpo traces samples --task gsm8k-17 --order advantage --ascending
                """)
        @OptionGroup var database: Database
        @Option(name: .customLong("run"), help: "Run id or name (default: the latest run).") var runName: String?
        @Option var step: Int?
        @Option(help: "Task id.") var task: String?
        @Option(help: "A rule name: with --below/--above, its score; with --reason, its reason.") var rule: String?
        @Option(help: "The rule's score is below X.") var below: Double?
        @Option(help: "The rule's score is above X.") var above: Double?
        @Option(help: "A reason some rule gave (the --rule, when named): no_answer, timeout, ...") var reason: String?
        @Option(help: "id, reward, advantage or length (highest first unless --ascending).") var order: String = "id"
        @Flag(help: "Lowest first.") var ascending = false
        @Option var limit = 20
        @Option(help: "Characters of each completion shown.") var width = 60

        func validate() throws {
            if SampleFilter.Order(rawValue: order) == nil {
                throw ValidationError(
                    "--order: \"\(order)\" is not one of "
                        + "\(SampleFilter.Order.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            if (below != nil || above != nil) && rule == nil {
                throw ValidationError("--below and --above need --rule NAME")
            }
            if limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() throws {
            let reader = try database.open()
            var f = SampleFilter()
            f.step = step
            f.taskID = task
            f.rule = rule
            f.below = below
            f.above = above
            f.reason = reason
            f.order = SampleFilter.Order(rawValue: order)!
            f.descending = !ascending
            f.limit = limit
            f.preview = database.json ? nil : width
            try printTable(reader.samples(run: reader.resolveRun(runName), filter: f), json: database.json)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One sample whole: prompt, completion, and every rule's score and reason.")
        @OptionGroup var database: Database
        @Argument(help: "Sample id (the first column of `grpo traces samples`).") var sample: Int64
        @Flag(help: "Also print the token ids and their sampler log-probs.") var tokens = false

        func run() throws {
            let (fields, scores) = try database.open().sample(sample)
            var row = Dictionary(uniqueKeysWithValues: zip(fields.columns, fields.rows[0]))
            let ids = row.removeValue(forKey: "token_ids").flatMap(\.blobData).flatMap(Blob.decodeInt32) ?? []
            let logprobs = row.removeValue(forKey: "token_logprobs").flatMap(\.blobData).flatMap(Blob.decodeFloat) ?? []
            if database.json {
                var object = jsonObject(
                    columns: fields.columns.filter { row[$0] != nil }, row: fields.columns.compactMap { row[$0] })
                object["token_ids"] = ids.map { Int($0) }
                object["token_logprobs"] = logprobs.map { Double($0) }
                object["rules"] = scores.rows.map { jsonObject(columns: scores.columns, row: $0) }
                print(try jsonText(object))
                return
            }
            for key in fields.columns where !["prompt", "completion"].contains(key) {
                if let v = row[key] { print("\(key.padding(toLength: 14, withPad: " ", startingAt: 0)) \(format(v))") }
            }
            let prompt = TerminalText.safe(row["prompt"]?.string ?? "", keepLines: true)
            let completion = TerminalText.safe(row["completion"]?.string ?? "", keepLines: true)
            print("\n── prompt ──\n\(prompt)\n── completion ──\n\(completion)\n──")
            printTable(scores)
            if tokens {
                print("\ntokens (id: sampler log-prob):")
                print(
                    zip(ids, logprobs.isEmpty ? Array(repeating: Float.nan, count: ids.count) : logprobs)
                        .map { "\($0.0):\(String(format: "%.3f", $0.1))" }.joined(separator: " "))
            }
        }
    }

    struct Group: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A group's completions side by side: rewards, advantages, each rule's score.")
        @OptionGroup var database: Database
        @Argument(help: "Group id (the group column of `grpo traces samples`).") var group: Int64
        @Option(help: "Characters of each completion in the table (--full prints them whole below it).") var width = 50
        @Flag(help: "Print every completion whole after the table.") var full = false

        func run() throws {
            let (info, samples) = try database.open().group(group)
            if database.json {
                var object = jsonObject(columns: info.columns, row: info.rows[0])
                object["samples"] = samples.rows.map { jsonObject(columns: samples.columns, row: $0) }
                print(try jsonText(object))
                return
            }
            let g = Dictionary(uniqueKeysWithValues: zip(info.columns, info.rows[0]))
            print(
                "group \(group): run \(format(g["run"]!)), step \(format(g["step"]!)), task \(format(g["task_id"]!)), "
                    + "reward mean \(format(g["reward_mean"]!)) std \(format(g["reward_std"]!))")
            print("prompt: \(format(g["prompt"]!))\n")
            let c = samples.columns.count - 1
            var preview = samples
            preview.rows = samples.rows.map { row in
                var r = row
                r[c] = .text(String((row[c].string ?? "").prefix(width)))
                return r
            }
            printTable(preview)
            if full {
                for row in samples.rows {
                    print(
                        "\n── sample \(format(row[0])) (index \(format(row[1])), reward \(format(row[2])), advantage "
                            + "\(format(row[3]))) ──"
                    )
                    print(TerminalText.safe(row[c].string ?? "", keepLines: true))
                }
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A run's samples as JSON lines (prompt, completion, tokens, log-probs, scores).")
        @Option(help: "Trace database (default: the most recently written *.sqlite under runs/).") var db: String?
        @Option(name: .customLong("run"), help: "Run id or name (default: the latest run).") var runName: String?
        @Option(help: "jsonl (the only format).") var format = "jsonl"
        @Option(help: "Output file (default: standard output).") var output: String?

        func validate() throws {
            guard format == "jsonl" else { throw ValidationError("--format: \"\(format)\" is not supported (jsonl)") }
        }

        func run() throws {
            let reader = try TraceReader(path: db ?? TraceReader.latest())
            let id = try reader.resolveRun(runName)
            let out: FileHandle
            if let output {
                out = try FileHandle.creating(URL(fileURLWithPath: output))
            } else {
                out = FileHandle.standardOutput
            }
            var buffer = Data()
            func flush() throws {
                try buffer.withUnsafeBytes { raw in
                    var done = 0
                    while done < raw.count {
                        let n = write(out.fileDescriptor, raw.baseAddress! + done, raw.count - done)
                        if n < 0 && errno == EINTR { continue }
                        // The reader of standard output went away (`| head`): nothing more to do.
                        if n < 0 && errno == EPIPE && output == nil { throw ExitCode.success }
                        guard n > 0 else {
                            let why = String(cString: strerror(errno))
                            throw ValidationError("\(output ?? "standard output"): cannot write: \(why)")
                        }
                        done += n
                    }
                }
                buffer.removeAll(keepingCapacity: true)
            }
            try reader.exportJSONL(run: id) { line in
                buffer.append(contentsOf: line.utf8)
                buffer.append(10)
                if buffer.count > 1 << 20 { try flush() }
            }
            try flush()
        }
    }

    struct SQL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sql",
            abstract:
                "Run one read-only SQL query (tables: runs, rules, steps, groups, samples, rule_scores, evals, "
                + "checkpoints; views: rule_pass_rate, flat_groups, format_ok_answer_wrong)."
        )
        @OptionGroup var database: Database
        @Argument(help: "A SELECT statement.") var query: String
        func run() throws { try printTable(database.open().sql(query), json: database.json) }
    }
}

// MARK: - Printing

private func printTable(_ table: Table, json: Bool) throws {
    if json {
        print(try jsonText(table.rows.map { jsonObject(columns: table.columns, row: $0) }))
    } else {
        printTable(table)
    }
}

/// Aligned columns: numbers right-aligned, text left; NULL shown as "-".
private func printTable(_ table: Table) {
    let cells = table.rows.map { $0.map(format) }
    let columns = table.columns.map { TerminalText.safe($0, keepLines: false) }  // rule names head some
    var widths = columns.map(\.count)
    for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
    let numeric = table.columns.indices.map { i in
        table.rows.allSatisfy { $0[i].double != nil || $0[i] == .null } && table.rows.contains { $0[i].double != nil }
    }
    func line(_ values: [String]) -> String {
        values.enumerated().map { i, v in
            let pad = String(repeating: " ", count: widths[i] - v.count)
            return numeric[i] ? pad + v : v + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
    print(line(columns))
    print(line(widths.map { String(repeating: "-", count: $0) }))
    for row in cells { print(line(row)) }
    if table.rows.isEmpty { print("(no rows)") }
}

private func format(_ v: TraceValue) -> String {
    switch v {
    case .null: return "-"
    case .integer(let i): return String(i)
    case .real(let d): return d == d.rounded() && abs(d) < 1e9 ? String(format: "%.1f", d) : String(format: "%.4g", d)
    case .text(let s): return TerminalText.safe(s, keepLines: false)
    case .blob(let b): return "<\(b.count) bytes>"
    }
}

private func jsonObject(columns: [String], row: [TraceValue]) -> [String: Any] {
    var object: [String: Any] = [:]
    for (c, v) in zip(columns, row) {
        switch v {
        case .null: object[c] = NSNull()
        case .integer(let i): object[c] = i
        case .real(let d): object[c] = d.isFinite ? d : NSNull()
        case .text(let s): object[c] = s
        case .blob(let b): object[c] = b.base64EncodedString()
        }
    }
    return object
}

private func jsonText(_ value: Any) throws -> String {
    String(
        decoding: try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes]),
        as: UTF8.self)
}

private extension TraceValue {
    var blobData: Data? {
        if case .blob(let d) = self { return d }
        return nil
    }
}
