// Auxiliary-loss-free balancing (DeepSeek-V3): after each optimizer step,
//   b_i += gamma * sign(mean_load - load_i)
// per layer, where load_i is the number of tokens routed to expert i in that
// step. The bias only changes which experts are chosen (see Router).

public struct ExpertBalancer: Sendable {
    public let model: Transformer
    /// gamma; default: the model's bias_update_speed.
    public let speed: Float
    public init(model: Transformer, speed: Float? = nil) {
        self.model = model
        self.speed = speed ?? model.config.biasUpdateSpeed
    }

    public func update(load: [[Int]]) {
        guard speed > 0 else { return }
        for (slots, counts) in zip(model.layout.layers, load) where !counts.isEmpty {
            let mean = Float(counts.reduce(0, +)) / Float(counts.count)
            for (i, c) in counts.enumerated() {
                let diff = mean - Float(c)
                model.parameters[slots.routerBias + i] += speed * (diff > 0 ? 1 : diff < 0 ? -1 : 0)
            }
        }
    }

    /// Max load over mean load, per layer (1 is perfectly balanced).
    public static func imbalance(_ load: [[Int]]) -> [Float] {
        load.map { counts in
            let mean = Float(counts.reduce(0, +)) / Float(max(1, counts.count))
            return mean > 0 ? Float(counts.max() ?? 0) / mean : 0
        }
    }
}
