// The SVG line chart: a well-formed XML document with one polyline point per
// data point of each series, markers for markers-only series, round ticks,
// a legend entry per series, and names escaped.

import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Charts

/// The elements of an SVG document, as XMLParser reads them.
final class SVGElements: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        /// Names of the enclosing elements, outermost first.
        var ancestors: [String]
        var text = ""
    }
    var elements: [Element] = []
    private var open: [Int] = []

    /// Parses `svg`, failing the test if it is not well-formed XML.
    static func parse(_ svg: String, file: StaticString = #filePath, line: UInt = #line) -> SVGElements {
        let reader = SVGElements()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = reader
        let parsed = parser.parse()
        XCTAssertTrue(parsed, "not well-formed XML: \(String(describing: parser.parserError))", file: file, line: line)
        return reader
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        let ancestors = open.map { elements[$0].name }
        elements.append(Element(name: name, attributes: attributes, ancestors: ancestors))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard let current = open.last else { return }
        elements[current].text += string
    }

    /// The series elements by name: polylines, or groups of markers.
    var series: [String: Element] {
        var out: [String: Element] = [:]
        for e in elements where e.attributes["class"] == "series" {
            out[e.attributes["data-series"] ?? ""] = e
        }
        return out
    }

    /// The "x,y" pairs of a polyline.
    static func points(_ polyline: Element) -> [String] {
        (polyline.attributes["points"] ?? "").split(separator: " ").map(String.init)
    }

    /// Circles inside the series group named `name`.
    func markers(of name: String) -> Int {
        let group = elements.indices.first { i in
            elements[i].name == "g" && elements[i].attributes["data-series"] == name
        }
        guard let group else { return 0 }
        // The group's circles follow it directly, before any other element.
        return elements[(group + 1)...].prefix(while: { $0.name == "circle" }).count
    }
}

final class LineChartTests: XCTestCase {
    static let rate = LineChart.Axis(label: "rate", range: 0...1)

    func chart(_ series: [LineChart.Series], y: LineChart.Axis = LineChartTests.rate) -> LineChart {
        LineChart(title: "run <1> & \"more\"", x: LineChart.Axis(label: "step", integers: true), y: y, series: series)
    }

    func testEverySeriesHasOnePointPerValueAndTheDocumentParses() {
        var rng = SplitMix(state: 7)
        let steps = (1...37).map(Double.init)
        let reward = LineChart.Series(name: "reward", points: steps.map { (x: $0, y: rng.unit()) })
        // A value that is not finite is left out, not drawn at the origin.
        let diagnostic = LineChart.Series(
            name: "used_code (diagnostic)",
            points: steps.map { (x: $0, y: $0 == 5 ? .nan : rng.unit()) }, dashed: true)
        let evals = LineChart.Series(
            name: "accuracy, arith test", points: [(x: 10, y: 0.4), (x: 37, y: 0.45)],
            markersOnly: true)
        let svg = chart([reward, diagnostic, evals]).svg
        let doc = SVGElements.parse(svg)
        XCTAssertEqual(doc.elements.first?.name, "svg")
        let series = doc.series
        XCTAssertEqual(Set(series.keys), ["reward", "used_code (diagnostic)", "accuracy, arith test"])
        XCTAssertEqual(SVGElements.points(series["reward"]!).count, 37)
        XCTAssertEqual(SVGElements.points(series["used_code (diagnostic)"]!).count, 36)
        XCTAssertEqual(series["used_code (diagnostic)"]!.attributes["stroke-dasharray"], "6 4")
        XCTAssertNil(series["reward"]!.attributes["stroke-dasharray"])
        XCTAssertEqual(doc.markers(of: "accuracy, arith test"), 2)
        // Every point lies inside the plot area (a rate axis of 0...1 holds every value).
        for pair in SVGElements.points(series["reward"]!) {
            let xy = pair.split(separator: ",").compactMap { Double($0) }
            XCTAssertEqual(xy.count, 2, pair)
            XCTAssertTrue((70...540).contains(xy[0]) && (44...364).contains(xy[1]), pair)
        }
        // Round ticks: the rate axis from 0 to 1 by 0.2, the steps at whole numbers.
        let texts = doc.elements.filter { $0.name == "text" }.map(\.text)
        for label in ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0", "10", "20", "30", "40"] {
            XCTAssertTrue(texts.contains(label), "tick \(label) in \(texts)")
        }
        XCTAssertFalse(texts.contains("2.5"), "steps are whole numbers")
        // The title, axis labels and a legend entry per series, names escaped and read back whole.
        let labels = ["run <1> & \"more\"", "step", "rate", "reward", "used_code (diagnostic)", "accuracy, arith test"]
        for label in labels {
            XCTAssertTrue(texts.contains(label), "\(label) in \(texts)")
        }
        let legend = doc.elements.filter { $0.ancestors.last == "g" && $0.name == "text" }
        XCTAssertEqual(legend.count, 3)
    }

    func testALonePointIsMarkedAndAnEmptyChartSaysSo() {
        let one = SVGElements.parse(
            chart(
                [LineChart.Series(name: "reward", points: [(x: 1, y: 0.5)])],
                y: LineChart.Axis(label: "mean reward")
            ).svg)
        XCTAssertEqual(SVGElements.points(one.series["reward"]!).count, 1)
        XCTAssertEqual(one.elements.filter { $0.name == "circle" && $0.ancestors.last == "g" }.count, 1)

        let empty = SVGElements.parse(chart([]).svg)
        XCTAssertTrue(empty.series.isEmpty)
        XCTAssertTrue(empty.elements.contains { $0.text == "no data recorded" })
    }

    func testTicksCoverTheDataAtRoundValues() {
        let points = [(x: 3.0, y: 41.3), (x: 4.0, y: 57.9), (x: 5.0, y: 49.0)]
        let doc = SVGElements.parse(
            chart(
                [LineChart.Series(name: "length", points: points)],
                y: LineChart.Axis(label: "mean tokens")
            ).svg)
        let texts = Set(doc.elements.filter { $0.name == "text" }.map(\.text))
        // 41.3 to 57.9 in about five steps: 40 to 60 by 5; steps 3 to 5 by 1.
        XCTAssertTrue(texts.isSuperset(of: ["40", "45", "50", "55", "60", "3", "4", "5"]), "\(texts.sorted())")
        XCTAssertFalse(texts.contains("35") || texts.contains("65"), "\(texts.sorted())")
    }
}

/// A seeded generator, so the curves are the same on every run.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double.random(in: 0...1, using: &self) }
}
