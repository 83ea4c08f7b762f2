// A run's plots, one SVG file each, from its traces: what GRPO taught, step by
// step, without a notebook or a network.
//
//   reward.svg             the mean reward of each step
//   pass_rates.svg         each rule's pass rate (diagnostic rules of weight 0
//                          dashed), and the held-out accuracy where evaluations
//                          were recorded, as points
//   completion_length.svg  the mean completion length in tokens
//
// `grpo traces plot` writes them for any run; `grpo train` for its own run
// into <output_dir>/plots at the end.

import Charts
import Foundation
import Support

public enum RunPlots {
    /// The charts of a run, with their file names.
    public static func charts(_ series: RunSeries, title: String) -> [(file: String, chart: LineChart)] {
        let steps = LineChart.Axis(label: "step", integers: true)
        func curve(_ name: String, _ values: [Double?], dashed: Bool = false) -> LineChart.Series {
            let points = zip(series.steps, values).compactMap { step, value in value.map { (x: Double(step), y: $0) } }
            return LineChart.Series(name: name, points: points, dashed: dashed)
        }
        // Diagnostics dashed: shown, not optimised.
        let rules = series.rules.map { ruleCurve in
            let rule = ruleCurve.rule
            return curve(
                rule.isDiagnostic ? "\(rule.name) (diagnostic)" : rule.name, ruleCurve.passRates,
                dashed: rule.isDiagnostic)
        }
        let evals = series.evals.map { eval in
            LineChart.Series(
                name: "accuracy, \(eval.taskSet) \(eval.split)",
                points: eval.points.map { (x: Double($0.step), y: $0.accuracy) }, markersOnly: true)
        }
        let reward = LineChart(
            title: "\(title): reward", x: steps, y: LineChart.Axis(label: "mean reward"),
            series: [curve("reward mean", series.rewardMean)])
        let rates = LineChart(
            title: "\(title): pass rate per rule", x: steps,
            y: LineChart.Axis(label: "share of samples with full marks", range: 0...1),
            series: rules + evals)
        let length = LineChart(
            title: "\(title): completion length", x: steps, y: LineChart.Axis(label: "mean tokens"),
            series: [curve("completion length mean", series.completionLengthMean)])
        return [("reward.svg", reward), ("pass_rates.svg", rates), ("completion_length.svg", length)]
    }

    /// Writes a run's charts into `folder` (created if needed); returns the files written.
    @discardableResult
    public static func write(from reader: TraceReader, run: Int64, to folder: URL) throws -> [URL] {
        let series = try reader.series(run: run)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return try charts(series, title: series.runName).map { file, chart in
            let url = folder.appendingPathComponent(file)
            try AtomicFile.write(chart.svg, to: url)
            return url
        }
    }
}
