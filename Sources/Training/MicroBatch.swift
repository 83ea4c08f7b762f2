// The rows of a GRPO batch cut into micro-batches by length, each padded only
// to its own longest row. Completions vary in length, so one padded batch is
// much padding (docs/measurements.md) and sorted micro-batches far less. The trainer
// accumulates gradients over them (one optimizer step), so the update is the
// one-batch update up to summation order.
//   flat layout: micro-batch c is a [rows_c, length_c] block at offset_c

import Policy

struct MicroBatch {
    /// Indices of the batch's rows in this micro-batch, shortest first.
    let rows: [Int]
    /// Padded length, and where the block starts in the flat layout.
    let length: Int, offset: Int
    var size: Int { rows.count * length }

    /// Tokens [rows * length] padded after each sequence, targets (row position j predicts
    /// token j + 1: the completion's tokens, -1 elsewhere) and each row's real length.
    func inputs(
        _ sequences: [[Int32]], promptLengths: [Int], pad: Int32
    ) -> (tokens: [Int32], targets: [Int32], lengths: [Int]) {
        var tokens = [Int32](repeating: pad, count: size)
        var targets = [Int32](repeating: -1, count: size)
        for (r, i) in rows.enumerated() {
            let s = sequences[i]
            let base = r * length
            for (j, token) in s.enumerated() { tokens[base + j] = token }
            for j in (promptLengths[i] - 1)..<(s.count - 1) { targets[base + j] = s[j + 1] }
        }
        return (tokens, targets, rows.map { sequences[$0].count })
    }

    /// Per layer, the expert choices [rows * length, K] to replay: row r's positions take its
    /// completion's recorded routes [P + T - 1, L, K]; padding, and a row whose routes do not
    /// cover its sequence but the last token, choose for themselves (-1). Empty for a model
    /// without routed experts.
    func routes(_ recorded: [[Int32]], sequences: [[Int32]], config c: ModelConfig) -> [[Int32]] {
        guard c.nRoutedExperts > 0 else { return [] }
        let k = c.numExpertsPerTok
        let layers = c.numHiddenLayers
        let width = layers * k
        var out = [[Int32]](repeating: [Int32](repeating: -1, count: size * k), count: layers)
        for (r, i) in rows.enumerated() {
            let positions = recorded[i].count / width
            guard recorded[i].count == positions * width, positions == sequences[i].count - 1 else { continue }
            for l in 0..<layers {
                out[l].withUnsafeMutableBufferPointer { dst in
                    recorded[i].withUnsafeBufferPointer { src in
                        for j in 0..<positions {
                            let to = (r * length + j) * k
                            let from = j * width + l * k
                            for x in 0..<k { dst[to + x] = src[from + x] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// `fixed` micro-batches, or (nil) the count of 1, 2 or 4 with the fewest padded rows,
    /// each extra one charged 5% (its products run on fewer rows, a little less efficiently).
    static func plan(lengths: [Int], fixed: Int?) -> [MicroBatch] {
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        func cut(_ k: Int) -> [MicroBatch] {
            var out: [MicroBatch] = []
            var offset = 0
            for c in 0..<k {
                let rows = Array(order[(order.count * c / k)..<(order.count * (c + 1) / k)])
                guard let longest = rows.map({ lengths[$0] }).max() else { continue }
                out.append(MicroBatch(rows: rows, length: longest, offset: offset))
                offset += rows.count * longest
            }
            return out
        }
        if let fixed { return cut(max(1, min(fixed, lengths.count))) }
        func cost(_ b: [MicroBatch]) -> Double {
            Double(b.reduce(0) { $0 + $1.size }) * (1 + 0.05 * Double(b.count - 1))
        }
        return [1, 2, 4].filter { $0 <= max(1, lengths.count) }.map(cut).min { cost($0) < cost($1) }!
    }
}
