// Log-probabilities of target tokens under softmax(logits / temperature).
// Legend: N rows, V vocabulary.
//   logits [N, V], targets [N] (a negative target means "no token here")
//   logp[t] = z[t, y_t] - logsumexp(z[t]),  z = logits / temperature
// Backward, given dlogp [N] (d loss / d logp):
//   dlogits[t] = dlogp[t] / temperature * (onehot(y_t) - softmax(z[t]))
// Every loss in the project (SFT cross-entropy, the GRPO surrogate) is a
// function of these log-probabilities, so this is the only softmax backward.

import Foundation
import Kernels

public enum LogProbs {
    /// Writes logp [N] (0 where the target is negative) and, if asked, the entropy of each row.
    public static func forward(
        _ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows n: Int, vocab v: Int,
        temperature: Float = 1, logp: UnsafeMutablePointer<Float>,
        entropy: UnsafeMutablePointer<Float>? = nil
    ) {
        let invT = 1 / temperature
        Parallel.forRanges(n, minPerThread: 64) { r in
            for t in r {
                let y = targets[t]
                if y < 0 && entropy == nil {
                    logp[t] = 0
                    continue
                }
                let z = logits + t * v
                let mx = Vector.max(z, v) * invT  // temperature > 0
                let (sum, ez) = Vector.sumExp(z, v, scale: invT, shift: mx)
                let lse = logf(sum)
                logp[t] = y >= 0 ? z[Int(y)] * invT - mx - lse : 0
                // H = lse - E[z]
                entropy?[t] = lse - ez / sum
            }
        }
    }

    /// Writes dlogits [N, V] (rows with a negative target or zero dlogp get zeros).
    public static func backward(
        _ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, dlogp: UnsafePointer<Float>,
        rows n: Int, vocab v: Int, temperature: Float = 1, dlogits: UnsafeMutablePointer<Float>
    ) {
        let invT = 1 / temperature
        Parallel.forRanges(n, minPerThread: 64) { r in
            for t in r {
                let z = logits + t * v
                let dz = dlogits + t * v
                let y = targets[t]
                let g = dlogp[t]
                if y < 0 || g == 0 {
                    dz.update(repeating: 0, count: v)
                    continue
                }
                let mx = Vector.max(z, v) * invT
                dz.update(from: z, count: v)
                let sum = Vector.expShifted(dz, v, scale: invT, shift: mx)
                Vector.scale(dz, v, by: -g * invT / sum)
                dz[Int(y)] += g * invT
            }
        }
    }
}
