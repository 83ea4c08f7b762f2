// A line chart as a standalone SVG file: a title, axes with round ticks and
// grid lines, axis labels, one polyline per series and a legend beside the plot
// (outside it, so it never hides a curve). No fonts, scripts or links: any
// browser or image viewer shows it, offline.
//
//   LineChart(title: "reward", x: Axis(label: "step", integers: true), y: Axis(label: "mean reward"),
//             series: [Series(name: "reward", points: [(1, 0.2), (2, 0.35), (3, 0.5)])]).svg
//
// Each series is one element with `class="series"` and `data-series="<name>"`: a
// <polyline> whose `points` hold one "x,y" pair per data point, or, for
// markers-only series, a <g> of one <circle> per point. Non-finite values are
// left out.

import Foundation

public struct LineChart: Sendable {
    public struct Axis: Sendable {
        public var label: String
        /// A fixed range (rates: 0...1); nil fits the data.
        public var range: ClosedRange<Double>?
        /// Ticks at whole numbers only (steps).
        public var integers: Bool

        public init(label: String, range: ClosedRange<Double>? = nil, integers: Bool = false) {
            self.label = label
            self.range = range
            self.integers = integers
        }
    }

    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Circles and no line: for values measured now and then (evaluations).
        public var markersOnly: Bool
        /// A dashed line: for curves that are shown but not optimised (diagnostic rules).
        public var dashed: Bool

        public init(name: String, points: [(x: Double, y: Double)], markersOnly: Bool = false, dashed: Bool = false) {
            self.name = name
            self.points = points.filter { $0.x.isFinite && $0.y.isFinite }
            self.markersOnly = markersOnly
            self.dashed = dashed
        }
    }

    public var title: String
    public var x: Axis
    public var y: Axis
    public var series: [Series]

    public init(title: String, x: Axis, y: Axis, series: [Series]) {
        self.title = title
        self.x = x
        self.y = y
        self.series = series
    }

    // Layout in SVG user units: the plot area, and the legend's column to its right.
    static let width = 760.0
    static let height = 420.0
    static let left = 70.0
    static let right = 220.0
    static let top = 44.0
    static let bottom = 56.0
    /// Tableau's ten colours: distinct, and readable on white.
    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]

    public var svg: String {
        let points = series.flatMap(\.points)
        let xTicks = ticks(x, points.map { $0.x })
        let yTicks = ticks(y, points.map { $0.y })
        let area = PlotArea(
            x0: Self.left, x1: Self.width - Self.right, y0: Self.top, y1: Self.height - Self.bottom,
            xTicks: xTicks, yTicks: yTicks)
        let size = "width=\"\(number(Self.width))\" height=\"\(number(Self.height))\""
        let viewBox = "viewBox=\"0 0 \(number(Self.width)) \(number(Self.height))\""
        var out: [String] = []
        out.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        let font = "font-family=\"sans-serif\" font-size=\"12\""
        out.append("<svg xmlns=\"http://www.w3.org/2000/svg\" \(size) \(viewBox) \(font)>")
        out.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        out.append(text(title, x: area.midX, y: 26, anchor: "middle", extra: " font-size=\"15\""))
        out += axes(area)
        if points.isEmpty {
            let grey = " fill=\"#7f7f7f\""
            out.append(text("no data recorded", x: area.midX, y: area.midY, anchor: "middle", extra: grey))
        }
        for (i, s) in series.enumerated() {
            out += curve(s, color: Self.palette[i % Self.palette.count], in: area)
        }
        out += legend(at: area.x1 + 16, top: area.y0 + 8)
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }

    /// Grid lines and ticks, then the axes over them, and their labels.
    private func axes(_ area: PlotArea) -> [String] {
        var out: [String] = []
        for v in area.xTicks.values {
            let at = area.px(v)
            out.append(line(at, area.y0, at, area.y1, stroke: "#e5e5e5"))
            out.append(line(at, area.y1, at, area.y1 + 5, stroke: "black"))
            out.append(text(area.xTicks.label(v), x: at, y: area.y1 + 19, anchor: "middle"))
        }
        for v in area.yTicks.values {
            let at = area.py(v)
            out.append(line(area.x0, at, area.x1, at, stroke: "#e5e5e5"))
            out.append(line(area.x0 - 5, at, area.x0, at, stroke: "black"))
            out.append(text(area.yTicks.label(v), x: area.x0 - 8, y: at + 4, anchor: "end"))
        }
        out.append(line(area.x0, area.y1, area.x1, area.y1, stroke: "black"))
        out.append(line(area.x0, area.y0, area.x0, area.y1, stroke: "black"))
        out.append(text(x.label, x: area.midX, y: Self.height - 14, anchor: "middle"))
        let rotate = " transform=\"rotate(-90 18 \(number(area.midY)))\""
        out.append(text(y.label, x: 18, y: area.midY, anchor: "middle", extra: rotate))
        return out
    }

    /// One series: its polyline, or its markers; a lone point draws no line, so it is marked too.
    private func curve(_ s: Series, color: String, in area: PlotArea) -> [String] {
        var out: [String] = []
        let name = escape(s.name)
        if !s.markersOnly {
            let pairs = s.points.map { "\(number(area.px($0.x))),\(number(area.py($0.y)))" }
            let stroke = "fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\"\(dash(s))"
            let points = "points=\"\(pairs.joined(separator: " "))\""
            out.append("<polyline class=\"series\" data-series=\"\(name)\" \(stroke) \(points)/>")
        }
        if s.markersOnly || s.points.count == 1 {
            let role = s.markersOnly ? "class=\"series\" data-series=\"\(name)\"" : "class=\"markers\""
            out.append("<g \(role) fill=\"\(color)\">")
            for p in s.points {
                out.append(circle(area.px(p.x), area.py(p.y)))
            }
            out.append("</g>")
        }
        return out
    }

    /// One entry per series, top down from (`x`, `top`): its line or marker, then its name.
    private func legend(at x: Double, top: Double) -> [String] {
        var out = ["<g class=\"legend\">"]
        for (i, s) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let at = top + Double(i) * 20
            if s.markersOnly {
                out.append(circle(x + 12, at, fill: color))
            } else {
                out.append(line(x, at, x + 24, at, stroke: color, extra: " stroke-width=\"2\"\(dash(s))"))
            }
            out.append(text(s.name, x: x + 32, y: at + 4, anchor: "start"))
        }
        out.append("</g>")
        return out
    }

    private func dash(_ s: Series) -> String { s.dashed ? " stroke-dasharray=\"6 4\"" : "" }

    /// The axis's ticks: over its fixed range, or over the data (0...1 when there is none).
    private func ticks(_ axis: Axis, _ values: [Double]) -> Ticks {
        if let range = axis.range {
            return Ticks(low: range.lowerBound, high: range.upperBound, integers: axis.integers)
        }
        guard let low = values.min(), let high = values.max() else {
            return Ticks(low: 0, high: 1, integers: axis.integers)
        }
        return Ticks(low: low, high: high, integers: axis.integers)
    }
}

/// Where the data goes, in SVG units (y grows downwards), and the map from data to it.
private struct PlotArea {
    let x0: Double
    let x1: Double
    let y0: Double
    let y1: Double
    let xTicks: Ticks
    let yTicks: Ticks

    var midX: Double { (x0 + x1) / 2 }
    var midY: Double { (y0 + y1) / 2 }
    func px(_ v: Double) -> Double { x0 + (v - xTicks.low) / (xTicks.high - xTicks.low) * (x1 - x0) }
    func py(_ v: Double) -> Double { y1 - (v - yTicks.low) / (yTicks.high - yTicks.low) * (y1 - y0) }
}

private func line(
    _ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double,
    stroke: String, extra: String = ""
) -> String {
    let ends = "x1=\"\(number(x1))\" y1=\"\(number(y1))\" x2=\"\(number(x2))\" y2=\"\(number(y2))\""
    return "<line \(ends) stroke=\"\(stroke)\"\(extra)/>"
}

private func circle(_ x: Double, _ y: Double, fill: String? = nil) -> String {
    "<circle cx=\"\(number(x))\" cy=\"\(number(y))\" r=\"4\"\(fill.map { " fill=\"\($0)\"" } ?? "")/>"
}

private func text(_ s: String, x: Double, y: Double, anchor: String, extra: String = "") -> String {
    "<text x=\"\(number(x))\" y=\"\(number(y))\" text-anchor=\"\(anchor)\"\(extra)>\(escape(s))</text>"
}

/// A coordinate with two decimals: finer than a pixel, short in the file.
private func number(_ v: Double) -> String { String(format: "%.2f", v) }

/// Text and attribute values as XML wants them.
func escape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        // XML 1.0 allows no other control character, even escaped.
        case _ where c.asciiValue.map({ $0 < 0x20 && c != "\t" && c != "\n" }) == true: out += " "
        default: out.append(c)
        }
    }
    return out
}
