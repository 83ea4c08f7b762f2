// What a user sees of a run: `grpo train` with diagnostic rules writes its
// plots, `grpo traces plot` writes the same, every SVG parses as XML with one
// point per recorded step on each curve, and `grpo traces steps` shows every
// rule's pass rate, diagnostics named.

import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The `points` of each polyline and the circles of each markers-only group, by series name.
private final class SeriesPoints: NSObject, XMLParserDelegate {
    var lines: [String: Int] = [:]
    var markers: [String: Int] = [:]
    private var group: String?

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        let series = attributes["class"] == "series" ? attributes["data-series"] : nil
        if name == "polyline", let series {
            lines[series] = (attributes["points"] ?? "").split(separator: " ").count
        }
        if name == "g", let series {
            group = series
            markers[series] = 0
        }
        if name == "circle", let group {
            markers[group, default: 0] += 1
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "g" {
            group = nil
        }
    }
}

extension CLITests {
    private func seriesPoints(_ file: String) throws -> SeriesPoints {
        let reader = SeriesPoints()
        let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: file)))
        parser.delegate = reader
        XCTAssertTrue(parser.parse(), "\(file): \(String(describing: parser.parserError))")
        return reader
    }

    func testTrainWithDiagnosticsWritesPlotsWithAPointPerStep() throws {
        let initModel = tmp.appendingPathComponent("init").path
        try grpo(["init-model", "--shape", "toy", "--out", initModel, "--seed", "2"])
        let out = tmp.appendingPathComponent("out").path
        let db = tmp.appendingPathComponent("t.sqlite").path
        try grpo([
            "train", "--model", initModel, "--task_set", "arith",
            "--rules", "Rewards/examples/math-diagnostics.yaml", "--prompts_per_step", "2",
            "--num_generations", "3", "--max_completion_length", "8", "--max_steps", "3",
            "--output_dir", out, "--run_name", "watched", "--eval_limit", "2", "--learning-rate", "1e-3",
            "--db", db, "--quiet",
        ])
        let files = ["reward.svg", "pass_rates.svg", "completion_length.svg"]
        for file in files {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/plots/\(file)"), file)
        }
        let rates = try seriesPoints("\(out)/plots/pass_rates.svg")
        let rules = ["format", "answer", "used_code (diagnostic)", "worked (diagnostic)"]
        XCTAssertEqual(rates.lines, Dictionary(uniqueKeysWithValues: rules.map { ($0, 3) }))
        XCTAssertEqual(rates.markers, ["accuracy, arith test": 1], "the evaluation at the end")
        XCTAssertEqual(try seriesPoints("\(out)/plots/reward.svg").lines, ["reward mean": 3])
        XCTAssertEqual(try seriesPoints("\(out)/plots/completion_length.svg").lines, ["completion length mean": 3])

        // `grpo traces plot` draws the same run the same way.
        let again = tmp.appendingPathComponent("again").path
        let listed = try grpo(["traces", "plot", "--db", db, "--run", "watched", "--out", again]).out
        XCTAssertEqual(listed.split(separator: "\n").map { URL(fileURLWithPath: String($0)).lastPathComponent }, files)
        for file in files {
            XCTAssertEqual(
                try String(contentsOfFile: "\(again)/\(file)", encoding: .utf8),
                try String(contentsOfFile: "\(out)/plots/\(file)", encoding: .utf8), file)
        }

        // `grpo traces steps`: a column per rule, diagnostics named under the table.
        let table = try grpo(["traces", "steps", "--db", db]).out
        let header = table.split(separator: "\n").first.map(String.init) ?? ""
        for rule in ["format", "answer", "used_code", "worked"] {
            XCTAssertTrue(header.contains(rule), header)
        }
        XCTAssertTrue(table.contains("diagnostic, weight 0 (recorded, not in the reward): used_code, worked"), table)
        let steps = try json(grpo(["traces", "steps", "--db", db, "--json"]).out)
        XCTAssertEqual(steps.count, 3)
        let passRates = try XCTUnwrap(steps[0]["pass_rates"] as? [String: Any])
        XCTAssertEqual(Set(passRates.keys), ["format", "answer", "used_code", "worked"])
        let metrics = try XCTUnwrap(steps[0]["metrics"] as? [String: Any])
        let recorded = try XCTUnwrap(metrics["pass_rate/format"] as? Double)
        XCTAssertEqual(recorded, try XCTUnwrap(passRates["format"] as? Double), accuracy: 1e-12)
    }
}
