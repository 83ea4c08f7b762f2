// Axis ticks at round values: steps of 1, 2 or 5 times a power of ten, the
// axis widened to whole steps so the first and last tick sit on its ends.
//
//   Ticks(low: 0.13, high: 0.87)             -> 0, 0.2, 0.4, 0.6, 0.8, 1 (step 0.2)
//   Ticks(low: 1, high: 3, integers: true)   -> 1, 2, 3 (a step is never below 1)

import Foundation

struct Ticks {
    /// The axis range, widened to whole steps.
    let low: Double
    let high: Double
    let step: Double

    /// About `count` ticks over [low, high]; an empty range is widened by one either side.
    init(low: Double, high: Double, count: Int = 5, integers: Bool = false) {
        var (a, b) = (min(low, high), max(low, high))
        if b - a < 1e-12 {
            let pad = integers || a == 0 ? 1 : abs(a) * 0.1
            (a, b) = (a - pad, b + pad)
        }
        let raw = (b - a) / Double(max(count, 1))
        let magnitude = pow(10, floor(log10(raw)))
        // The smallest of 1, 2, 5, 10 x magnitude that keeps the ticks at or under `count`.
        let multiple = [1.0, 2, 5, 10].first { $0 * magnitude >= raw } ?? 10
        var step = multiple * magnitude
        if integers { step = max(step.rounded(.up), 1) }
        self.step = step
        self.low = floor(a / step + 1e-9) * step
        self.high = ceil(b / step - 1e-9) * step
    }

    var values: [Double] {
        let count = Int(((high - low) / step).rounded())
        return (0...count).map { low + Double($0) * step }
    }

    /// A tick's label with as many decimals as the step needs ("0.05", "40", "1.5e+06").
    func label(_ value: Double) -> String {
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        if abs(value) >= 1e6 { return String(format: "%.3g", value) }
        let text = String(format: "%.\(decimals)f", value)
        // "-0" and "-0.0" are 0.
        return Double(text) == 0 ? String(format: "%.\(decimals)f", 0.0) : text
    }
}
