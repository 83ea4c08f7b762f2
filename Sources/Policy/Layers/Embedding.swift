// Token embedding. Legend: N tokens, V vocabulary, D width.
//   ids [N], table [V, D], out [N, D]
// Backward scatters: dTable[ids[t]] += dOut[t]  (sequential: ids repeat).

public enum Embedding {
    public static func forward(
        _ ids: UnsafePointer<Int32>, _ table: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>, count n: Int, width d: Int
    ) {
        for t in 0..<n {
            (out + t * d).update(from: table + Int(ids[t]) * d, count: d)
        }
    }

    public static func backward(
        _ ids: UnsafePointer<Int32>, _ dOut: UnsafePointer<Float>,
        _ dTable: UnsafeMutablePointer<Float>, count n: Int, width d: Int
    ) {
        for t in 0..<n {
            let src = dOut + t * d
            let dst = dTable + Int(ids[t]) * d
            for i in 0..<d { dst[i] += src[i] }
        }
    }
}
