// The bookkeeping of one GRPO update: a row per completion (prompt + completion), the rows
// cut into micro-batches, and where each row's completion log-probs sit in the flat buffers.
//   flat layout: micro-batch c is a [rows_c, length_c] block at offset_c (MicroBatch);
//   row i's log-prob of its completion token k sits at first[i] + k (the position before
//   the token predicts it).

import Policy

struct UpdateRows {
    /// (rollout, completion index) for each row, in rollout order.
    let rows: [(rollout: Rollout, completion: Int)]
    let batches: [MicroBatch]
    /// The batches' model inputs, and per batch the routes to replay (nil: router replay off).
    let inputs: [(tokens: [Int32], targets: [Int32], lengths: [Int])]
    let routes: [[[Int32]]]?
    /// Row i's first completion log-prob in the flat layout.
    let first: [Int]
    /// Positions in the flat layout, padding included.
    let total: Int

    /// `microBatches`: how many to cut (nil: as MicroBatch.plan finds best).
    init(_ rollouts: [Rollout], microBatches: Int?, routerReplay: Bool, pad: Int32, config: ModelConfig) {
        rows = rollouts.flatMap { r in r.completions.indices.map { (r, $0) } }
        let sequences = rows.map { $0.rollout.promptTokens + $0.rollout.completions[$0.completion].tokens }
        let promptLengths = rows.map { $0.rollout.promptTokens.count }
        // The balance loss is per forward: with it on, micro-batches would change the loss.
        batches = MicroBatch.plan(lengths: sequences.map(\.count), fixed: config.auxLossAlpha > 0 ? 1 : microBatches)
        total = batches.reduce(0) { $0 + $1.size }
        var first = [Int](repeating: 0, count: rows.count)
        for b in batches {
            for (r, i) in b.rows.enumerated() { first[i] = b.offset + r * b.length + promptLengths[i] - 1 }
        }
        self.first = first
        inputs = batches.map { $0.inputs(sequences, promptLengths: promptLengths, pad: pad) }
        let recorded = rows.map { $0.rollout.completions[$0.completion].routes }
        routes =
            routerReplay ? batches.map { $0.routes(recorded, sequences: sequences, config: config) } : nil
    }

    func completion(_ i: Int) -> Completion { rows[i].rollout.completions[rows[i].completion] }

    /// Row i's completion positions in the flat layout.
    func range(ofRow i: Int) -> Range<Int> { first[i]..<(first[i] + completion(i).tokens.count) }
}
