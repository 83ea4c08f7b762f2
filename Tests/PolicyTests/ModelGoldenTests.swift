// The whole forward pass against an independent implementation: a NumPy
// (float64) model written from the formulas (Fixtures/reference.py), run on a
// checkpoint that script also wrote. Regenerate with the commands in its header.

import XCTest
import Foundation
import Kernels
import Policy

final class ModelGoldenTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Golden: Decodable {
        struct Case: Decodable {
            let tokens: [Int32]
            let logits: [[Double]]
            let next_token_logprobs: [Double]
        }
        let cases: [Case]
    }

    func testForwardMatchesNumPyReference() throws {
        try checkForward(model: "toy-model", golden: "golden.json")
    }

    /// Grouped-query attention: 4 query heads on 2 key/value heads.
    func testGroupedQueryForwardMatchesNumPyReference() throws {
        try checkForward(model: "toy-gqa-model", golden: "golden-gqa.json")
    }

    func checkForward(model name: String, golden goldenFile: String) throws {
        let model = try Checkpoint.loadModel(from: Self.fixtures.appendingPathComponent(name))
        XCTAssertEqual(model.config.routedScalingFactor, 2.5)
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(goldenFile))
        let golden = try JSONDecoder().decode(Golden.self, from: data)
        XCTAssertEqual(golden.cases.count, 2)
        let v = model.config.vocabSize
        for c in golden.cases {
            let t = c.tokens.count
            for saving in [true, false] {
                let acts = Activations()
                let logits = model.forward(tokens: c.tokens, batch: 1, length: t, into: acts, saving: saving)
                defer { withExtendedLifetime(acts) {} }
                var worst = 0.0
                for row in 0..<t {
                    for j in 0..<v { worst = max(worst, abs(Double(logits[row * v + j]) - c.logits[row][j])) }
                }
                XCTAssertLessThan(worst, 2e-4, "logits differ from the NumPy reference (saving \(saving))")
                let targets = (0..<t).map { $0 + 1 < t ? c.tokens[$0 + 1] : -1 }
                let logp = Tensor([t])
                LogProbs.forward(logits, targets: targets, rows: t, vocab: v, logp: logp.data)
                for i in 0..<(t - 1) { XCTAssertEqual(Double(logp[i]), c.next_token_logprobs[i], accuracy: 1e-4) }
            }
        }
        // Batched with padding: the same logits for the real rows of each sequence.
        let t = golden.cases.map(\.tokens.count).max()!
        var tokens: [Int32] = []
        for c in golden.cases { tokens += c.tokens + [Int32](repeating: 256, count: t - c.tokens.count) }
        let logits = model.logits(tokens: tokens, batch: 2, length: t, lengths: golden.cases.map(\.tokens.count))
        for (b, c) in golden.cases.enumerated() {
            for row in 0..<c.tokens.count {
                for j in 0..<v {
                    XCTAssertEqual(Double(logits[(b * t + row) * v + j]), c.logits[row][j], accuracy: 2e-4)
                }
            }
        }
    }
}
