// The GRPO loss on batches small enough to compute by hand, and its gradient
// against finite differences for every loss type and both ratio levels.

import XCTest
import Foundation
import Kernels
import Training
import Support

final class GRPOLossTests: XCTestCase {
    /// Two sequences: A = +1 with 2 tokens, A = -1 with 1 token (and a masked one).
    /// logp = oldLogp except token 1 of sequence 0, whose ratio is e^0.5 = 1.6487 (clipped at 1.2 for A > 0).
    let batch = [
        LossSequence(logp: [-1, -0.5], oldLogp: [-1, -1], advantage: 1),
        LossSequence(logp: [-2, -3], oldLogp: [-2, -3], advantage: -1, mask: [true, false]),
    ]

    func testLossTypesByHand() {
        // Token terms l: seq 0: min(1*1, 1*1) = 1 and min(1.6487, 1.2) = 1.2; seq 1: min(-1, -1) = -1.
        var o = LossOptions()
        o.lossType = .dapo
        XCTAssertEqual(GRPOLoss.compute(batch, options: o).loss, -(1 + 1.2 - 1) / 3, accuracy: 1e-12)
        o.lossType = .bnpo
        XCTAssertEqual(GRPOLoss.compute(batch, options: o).loss, -(1 + 1.2 - 1) / 3, accuracy: 1e-12)
        o.lossType = .grpo  // mean over sequences of per-sequence means: ((1 + 1.2) / 2 + (-1) / 1) / 2
        XCTAssertEqual(GRPOLoss.compute(batch, options: o).loss, -((2.2 / 2) + -1) / 2, accuracy: 1e-12)
        o.lossType = .drGRPO
        o.maxCompletionLength = 4  // sum / (2 sequences * 4)
        let r = GRPOLoss.compute(batch, options: o)
        XCTAssertEqual(r.loss, -(1 + 1.2 - 1) / 8, accuracy: 1e-12)
        // The clipped token passes no gradient; the others pass -w * A * rho = -w * A.
        XCTAssertEqual(r.dlogp[0], [-1.0 / 8, 0])
        XCTAssertEqual(r.dlogp[1], [1.0 / 8, 0])
        XCTAssertEqual(r.clipFracHigh, 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(r.clipFracLow, 0)
        XCTAssertEqual(r.ratioMean, (1 + exp(0.5) + 1) / 3, accuracy: 1e-12)
        XCTAssertEqual(r.tokens, 3)
    }

    func testClipHigherAndKL() {
        var o = LossOptions()
        o.epsilonHigh = 0.28  // DAPO clip-higher: the 1.6487 token is still clipped, at 1.28
        XCTAssertEqual(GRPOLoss.compute(batch, options: o).loss, -(1 + 1.28 - 1) / 3, accuracy: 1e-12)
        // k3 KL with ref = logp - 0.1 on every token: e^-0.1 + 0.1 - 1 = 0.0048374.
        o.beta = 0.5
        let withRef = batch.map { s in
            LossSequence(
                logp: s.logp, oldLogp: s.oldLogp, refLogp: s.logp.map { $0 - 0.1 }, advantage: s.advantage, mask: s.mask
            )
        }
        let r = GRPOLoss.compute(withRef, options: o)
        let kl = exp(-0.1) + 0.1 - 1
        XCTAssertEqual(r.kl, kl, accuracy: 1e-12)
        XCTAssertEqual(r.loss, -(1 + 1.28 - 1 - 3 * 0.5 * kl) / 3, accuracy: 1e-12)
    }

    /// One token, A = 0, beta 1, one token's weight 1: the gradient is the KL term's alone. With
    /// rho = 1 the corrected term's gradient is logp - ref (1, -2, 0 at logp - ref = 1, -2, 0);
    /// plain k3's is 1 - exp(ref - logp) (0.632, -6.389, 0).
    func testKLGradientByHand() {
        func gradient(_ logRatio: Double, corrected: Bool, oldShift: Double = 0) -> Double {
            var o = LossOptions()
            o.beta = 1
            o.useBiasCorrectionKL = corrected
            let s = LossSequence(logp: [-1], oldLogp: [-1 - oldShift], refLogp: [-1 - logRatio], advantage: 0)
            return GRPOLoss.compute([s], options: o).dlogp[0][0]
        }
        XCTAssertEqual(gradient(1, corrected: true), 1, accuracy: 1e-12)
        XCTAssertEqual(gradient(-2, corrected: true), -2, accuracy: 1e-12)
        XCTAssertEqual(gradient(0, corrected: true), 0)
        XCTAssertEqual(gradient(1, corrected: false), 1 - exp(-1), accuracy: 1e-12)
        XCTAssertEqual(gradient(-2, corrected: false), 1 - exp(2), accuracy: 1e-12)
        XCTAssertEqual(gradient(0, corrected: false), 0)
        // rho = e^0.1 scales it: beta * rho * (logp - ref).
        XCTAssertEqual(gradient(1, corrected: true, oldShift: 0.1), exp(0.1), accuracy: 1e-12)
    }

    /// The corrected KL term is k3 * rho in the loss and in the KL metric: ref = logp - 0.1 on
    /// every token, so k3 = e^-0.1 + 0.1 - 1 on each, times that token's ratio.
    func testBiasCorrectedKLIsK3TimesTheRatio() {
        var o = LossOptions()
        o.epsilonHigh = 0.28
        o.beta = 0.5
        o.useBiasCorrectionKL = true
        let withRef = batch.map { s in
            LossSequence(
                logp: s.logp, oldLogp: s.oldLogp, refLogp: s.logp.map { $0 - 0.1 }, advantage: s.advantage,
                mask: s.mask)
        }
        let r = GRPOLoss.compute(withRef, options: o)
        let k3 = exp(-0.1) + 0.1 - 1
        let ratios = 1 + exp(0.5) + 1  // the three counted tokens
        XCTAssertEqual(r.kl, k3 * ratios / 3, accuracy: 1e-12)
        XCTAssertEqual(r.loss, -(1 + 1.28 - 1 - 0.5 * k3 * ratios) / 3, accuracy: 1e-12)
    }

    func testGSPOSequenceRatioByHand() {
        var o = LossOptions()
        o.level = .sequence
        o.epsilonLow = 3e-4
        o.epsilonHigh = 4e-4
        // Sequence 0: s = exp((0 + 0.5) / 2) = 1.284, clipped at 1.0004 for A = 1: l = 1.0004 on both tokens.
        // Sequence 1: s = 1, l = -1.
        let r = GRPOLoss.compute(batch, options: o)
        XCTAssertEqual(r.loss, -(2 * 1.0004 - 1) / 3, accuracy: 1e-12)
        XCTAssertEqual(r.dlogp[0], [0, 0], "the whole sequence is clipped")
        XCTAssertEqual(r.dlogp[1][0], 1.0 / 3, accuracy: 1e-12)
        // Clip fractions count sequences, as TRL's: one of two, not two tokens of three.
        XCTAssertEqual(r.clipFracHigh, 0.5)
        XCTAssertEqual(r.clipFracLow, 0)
        XCTAssertEqual(r.ratioMean, (exp(0.25) + 1) / 2, accuracy: 1e-12)
    }

    /// d loss / d logp against central differences, for every option, on random sequences whose
    /// ratios (0.55 to 1.8) reach past both clip edges: where the clip holds (A > 0 above 1 + eps,
    /// A < 0 below 1 - eps) the gradient is exactly zero without KL, and such tokens are counted so
    /// the clipped branch cannot go untested. Ratios within 1e-3 of an edge are redrawn: there the
    /// loss has a kink and a central difference straddles it.
    func testGradientMatchesFiniteDifferences() {
        var rng = Xoshiro(seed: 11)
        var clippedChecked = 0
        var unclippedChecked = 0
        for lossType in LossType.allCases {
            for level in ImportanceSamplingLevel.allCases {
                for (beta, corrected) in [(0.0, false), (0.04, false), (0.04, true)] {
                    var o = LossOptions()
                    o.lossType = lossType
                    o.level = level
                    o.beta = beta
                    o.maxCompletionLength = 6
                    o.useBiasCorrectionKL = corrected
                    if level == .sequence {
                        o.epsilonLow = 0.05
                        o.epsilonHigh = 0.05
                    }
                    let edges = [Foundation.log(1 - o.epsilonLow), Foundation.log(1 + o.epsilonHigh)]
                    func nearAnEdge(_ logRatio: Double) -> Bool { edges.contains { abs(logRatio - $0) < 1e-3 } }
                    func sequence() -> LossSequence {
                        while true {
                            let n = Int.random(in: 1...5, using: &rng)
                            let old = (0..<n).map { _ in -Double.random(in: 0.1...3, using: &rng) }
                            let shifts = (0..<n).map { _ in Double.random(in: -0.6...0.6, using: &rng) }
                            let mask = (0..<n).map { $0 == 0 || Bool.random(using: &rng) }
                            let logp = zip(old, shifts).map { $0 + $1 }
                            let counted = zip(shifts, mask).filter(\.1).map(\.0)
                            let tooClose =
                                level == .token
                                ? counted.contains(where: nearAnEdge)
                                : nearAnEdge(counted.reduce(0, +) / Double(counted.count))
                            if tooClose { continue }
                            return LossSequence(
                                logp: logp, oldLogp: old,
                                refLogp: logp.map { $0 + Double.random(in: -0.3...0.3, using: &rng) },
                                advantage: Double.random(in: -2...2, using: &rng), mask: mask)
                        }
                    }
                    var seqs = (0..<4).map { _ in sequence() }
                    let r = GRPOLoss.compute(seqs, options: o)
                    let h = 1e-6
                    for i in seqs.indices {
                        let s = seqs[i]
                        let counted = s.mask.indices.filter { s.mask[$0] }
                        let sequenceLogRatio =
                            counted.reduce(0.0) { $0 + s.logp[$1] - s.oldLogp[$1] }
                            / Double(counted.count)
                        for t in s.logp.indices {
                            let logRatio = level == .token ? s.logp[t] - s.oldLogp[t] : sequenceLogRatio
                            let clipped =
                                s.mask[t]
                                && (s.advantage > 0 && logRatio > edges[1] || s.advantage < 0 && logRatio < edges[0])
                            let x = s.logp[t]
                            seqs[i].logp[t] = x + h
                            let up = GRPOLoss.compute(seqs, options: o).loss
                            seqs[i].logp[t] = x - h
                            let down = GRPOLoss.compute(seqs, options: o).loss
                            seqs[i].logp[t] = x
                            let label = "\(lossType) \(level) beta \(beta) corrected \(corrected) seq \(i) token \(t)"
                            XCTAssertEqual(r.dlogp[i][t], (up - down) / (2 * h), accuracy: 1e-6, label)
                            if clipped && beta == 0 {
                                XCTAssertEqual(r.dlogp[i][t], 0, "clipped: " + label)
                                clippedChecked += 1
                            } else if s.mask[t] && !clipped {
                                unclippedChecked += 1
                            }
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(clippedChecked, 10, "the clipped branch was barely reached")
        XCTAssertGreaterThanOrEqual(unclippedChecked, 50)
    }

    /// With one update per batch (logp = oldLogp) the loss of advantages that sum to zero
    /// per group is zero, yet its gradient is the policy gradient, -A / tokens for each token.
    func testOneUpdatePerBatchHasZeroLossButAGradient() {
        let seqs = [
            LossSequence(logp: [-1, -2], oldLogp: [-1, -2], advantage: 1),
            LossSequence(logp: [-3, -1], oldLogp: [-3, -1], advantage: -1),
        ]
        let r = GRPOLoss.compute(seqs, options: LossOptions())
        XCTAssertEqual(r.loss, 0, accuracy: 1e-15)
        XCTAssertEqual(r.dlogp, [[-0.25, -0.25], [0.25, 0.25]])
    }
}
