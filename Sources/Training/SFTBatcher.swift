// SFT batches: each example becomes [bos] + utf8(prompt) + utf8(completion) + [eos],
// and the loss covers the completion and the eos only. Batches are padded to
// their longest row (not packed), in a shuffled order per epoch that a saved
// SFTBatcherState reproduces exactly.
//
// Example, prompt "ab" and completion "c":
//   tokens   bos  97  98  99  eos
//   targets   -1  -1  99 eos   -1     (targets[t] = tokens[t+1] inside the completion)
//
// The stream of rows is the concatenation of the epochs: a batch that
// straddles an epoch end takes its last rows from the next epoch's order, so
// every batch has `batchSize` real rows and every example is seen once per epoch.

import Kernels
import Policy
import Support

public struct SFTBatch: Equatable, Sendable {
    public let batch: Int
    public let length: Int
    /// [batch * length], row-major, padded with the pad id.
    public let tokens: [Int32]
    /// [batch * length]: the next token where it belongs to the completion (or
    /// is the final eos), else -1.
    public let targets: [Int32]
    /// Real tokens per row.
    public let lengths: [Int]
    /// Targets that are not -1: the loss is averaged over these.
    public let targetCount: Int
    /// Row b came from `examples[exampleIndices[b]]` (for logging ids).
    public let exampleIndices: [Int]
}

/// Where a batcher stands: enough to continue the same stream after a restart.
public struct SFTBatcherState: Codable, Equatable, Sendable {
    public var epoch: Int
    /// Rows of this epoch already handed out.
    public var position: Int
    /// The generator as it was before it shuffled this epoch's order.
    public var rng: Xoshiro

    public init(epoch: Int, position: Int, rng: Xoshiro) {
        self.epoch = epoch
        self.position = position
        self.rng = rng
    }
}

public struct SFTBatcher: Sendable {
    private struct Encoded: Sendable {
        var tokens: [Int32]
        /// Index of the first completion token: targets start one position before it.
        var completionStart: Int
        var example: Int
    }

    public let batchSize: Int
    public let maxLength: Int
    /// Examples longer than maxLength whose completion was cut (they lose the eos).
    public let truncatedCount: Int
    /// Examples skipped because bos, the prompt and one completion token exceed maxLength.
    public let droppedCount: Int
    /// Examples that take part in training.
    public var examplesCount: Int { sequences.count }
    /// 0-based epoch the next row comes from.
    public private(set) var epoch = 0

    private let sequences: [Encoded]
    private let pad: Int32
    private var position = 0
    private var order: [Int] = []
    private var epochRNG: Xoshiro
    private var nextEpochRNG: Xoshiro

    public init(examples: [SFTExample], tokenizer: any Tokenizer, maxLength: Int, batchSize: Int, seed: UInt64) throws {
        guard batchSize >= 1 else {
            throw SFTDataError.invalidSetting(name: "batchSize", value: batchSize, requirement: "must be at least 1")
        }
        guard maxLength >= 2 else {
            throw SFTDataError.invalidSetting(
                name: "maxLength", value: maxLength, requirement: "must be at least 2 (bos and one token)")
        }
        var sequences: [Encoded] = []
        var truncated = 0
        for (index, example) in examples.enumerated() {
            let prompt = tokenizer.encode(example.prompt, addBOS: true)
            guard prompt.count + 1 <= maxLength else { continue }
            var tokens = prompt + tokenizer.encode(example.completion) + [tokenizer.eos]
            if tokens.count > maxLength {
                tokens.removeLast(tokens.count - maxLength)
                truncated += 1
            }
            sequences.append(Encoded(tokens: tokens, completionStart: prompt.count, example: index))
        }
        guard !sequences.isEmpty else { throw SFTDataError.nothingFits(examples: examples.count, maxLength: maxLength) }
        self.sequences = sequences
        self.batchSize = batchSize
        self.maxLength = maxLength
        truncatedCount = truncated
        droppedCount = examples.count - sequences.count
        pad = tokenizer.pad
        epochRNG = Xoshiro(seed: seed)
        nextEpochRNG = epochRNG
        beginEpoch(with: epochRNG)
    }

    public var state: SFTBatcherState { SFTBatcherState(epoch: epoch, position: position, rng: epochRNG) }

    /// Continues from `state`, saved by a batcher built from the same examples and settings.
    public mutating func restore(_ state: SFTBatcherState) throws {
        guard state.epoch >= 0, (0..<sequences.count).contains(state.position) else {
            throw SFTDataError.invalidState(
                "SFT batcher state: epoch \(state.epoch), position \(state.position) does not fit \(sequences.count) "
                    + "examples; was it saved with other data or max length?"
            )
        }
        epoch = state.epoch
        beginEpoch(with: state.rng)
        position = state.position
    }

    public mutating func next() -> SFTBatch {
        var rows: [Encoded] = []
        rows.reserveCapacity(batchSize)
        for _ in 0..<batchSize {
            rows.append(sequences[order[position]])
            position += 1
            if position == sequences.count {
                epoch += 1
                beginEpoch(with: nextEpochRNG)
            }
        }
        let length = rows.map(\.tokens.count).max()!
        var tokens = [Int32](repeating: pad, count: batchSize * length)
        var targets = [Int32](repeating: -1, count: batchSize * length)
        var targetCount = 0
        for (b, row) in rows.enumerated() {
            let start = b * length
            for (t, token) in row.tokens.enumerated() { tokens[start + t] = token }
            for t in (row.completionStart - 1)..<(row.tokens.count - 1) {
                targets[start + t] = row.tokens[t + 1]
                targetCount += 1
            }
        }
        return SFTBatch(
            batch: batchSize, length: length, tokens: tokens, targets: targets,
            lengths: rows.map(\.tokens.count), targetCount: targetCount, exampleIndices: rows.map(\.example))
    }

    private mutating func beginEpoch(with rng: Xoshiro) {
        epochRNG = rng
        var generator = rng
        order = Array(0..<sequences.count)
        // Our own Fisher-Yates rather than shuffle(using:): the standard library
        // does not promise its algorithm, and a resumed run must see the same order.
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high)
            order.swapAt(i, j)
        }
        nextEpochRNG = generator
        position = 0
    }
}
