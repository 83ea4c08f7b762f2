// Token embedding. Legend: N tokens, V vocabulary, D width, S streams (1, or
// hc_mult under hyper-connections, whose S residual streams all start as the embedding).
//   ids [N], table [V, D], out [N, S D]: each token's row S times
// Backward scatters: dTable[ids[t]] += sum_s dOut[t, s]  (sequential: ids repeat).

public enum Embedding {
    public static func forward(
        _ ids: UnsafePointer<Int32>, _ table: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>, count n: Int, width d: Int, streams: Int = 1
    ) {
        for t in 0..<n {
            for s in 0..<streams {
                (out + (t * streams + s) * d).update(from: table + Int(ids[t]) * d, count: d)
            }
        }
    }

    public static func backward(
        _ ids: UnsafePointer<Int32>, _ dOut: UnsafePointer<Float>,
        _ dTable: UnsafeMutablePointer<Float>, count n: Int, width d: Int, streams: Int = 1
    ) {
        for t in 0..<n {
            let dst = dTable + Int(ids[t]) * d
            for s in 0..<streams {
                let src = dOut + (t * streams + s) * d
                for i in 0..<d { dst[i] += src[i] }
            }
        }
    }
}
