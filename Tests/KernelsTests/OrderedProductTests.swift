// orderedLinear against its definition: every output is the fused multiply-add
// chain over k in order from zero (Swift's addingProduct, one rounding per
// step), bit for bit, for any number of rows, strides, splits over the cores,
// and widths that are not a multiple of the kernel's panels; and against
// naiveGemm, the definition of every product.

import CKernels
import XCTest
import Kernels
import Support

final class OrderedProductTests: XCTestCase {
    /// y[i][j] (+)= the in-order FMA chain of x[i][:] and w[j][:], computed one scalar at a time.
    func chain(
        m: Int, n: Int, k: Int, x: [Float], ldx: Int, w: [Float], ldw: Int, y: inout [Float], ldy: Int,
        accumulate: Bool
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var acc: Float = 0
                for p in 0..<k { acc = acc.addingProduct(x[i * ldx + p], w[j * ldw + p]) }
                y[i * ldy + j] = accumulate ? y[i * ldy + j] + acc : acc
            }
        }
    }

    func testEveryOutputIsTheInOrderFusedChain() {
        var rng = Xoshiro(seed: 7)
        // Tails in every direction, the shapes of the tiny model, and sizes past the split threshold.
        let shapes = [(1, 1, 1), (3, 5, 7), (9, 8, 256), (17, 33, 16), (13, 259, 256), (64, 768, 256), (700, 96, 40)]
        for (m, n, k) in shapes {
            for accumulate in [false, true] {
                let ldx = k + 3
                let ldy = n + 2
                let x = (0..<(m * ldx)).map { _ in rng.normal() }
                let w = (0..<(n * k)).map { _ in rng.normal() }
                let y0 = (0..<(m * ldy)).map { _ in rng.normal() }
                var fast = y0
                var slow = y0
                orderedLinear(
                    m: m, n: n, k: k, x: x, ldx: ldx, w: w, ldw: k, y: &fast, ldy: ldy, accumulate: accumulate)
                chain(m: m, n: n, k: k, x: x, ldx: ldx, w: w, ldw: k, y: &slow, ldy: ldy, accumulate: accumulate)
                XCTAssertEqual(fast, slow, "m \(m) n \(n) k \(k) accumulate \(accumulate)")
                // Within float rounding of the exact product (naiveGemm, in Double).
                var naive = y0
                naiveGemm(
                    transB: true, m: m, n: n, k: k, a: x, lda: ldx, b: w, ldb: k, beta: accumulate ? 1 : 0,
                    c: &naive, ldc: ldy)
                for i in 0..<m {
                    for j in 0..<n {
                        let magnitude = (0..<k).reduce(0.0) { $0 + abs(Double(x[i * ldx + $1] * w[j * k + $1])) }
                        let bound = KernelTests.productErrorBound(
                            k: k, magnitude: magnitude, prior: accumulate ? abs(Double(y0[i * ldy + j])) : 0,
                            reference: Double(naive[i * ldy + j]))
                        XCTAssertLessThanOrEqual(abs(Double(fast[i * ldy + j]) - Double(naive[i * ldy + j])), bound)
                    }
                }
            }
        }
    }

    /// What the sampler relies on: a row computed among 1,000 (split over the cores by rows)
    /// equals the same row computed alone or among 7 (split by columns), bit for bit.
    func testARowDoesNotDependOnTheBatch() {
        var rng = Xoshiro(seed: 8)
        let (k, n) = (256, 768)
        let x = (0..<(1000 * k)).map { _ in rng.normal() }
        let w = (0..<(n * k)).map { _ in rng.normal() }
        var all = [Float](repeating: 0, count: 1000 * n)
        orderedLinear(m: 1000, n: n, k: k, x: x, ldx: k, w: w, ldw: k, y: &all, ldy: n)
        for (start, rows) in [(0, 1), (501, 7), (993, 7), (130, 64)] {
            var part = [Float](repeating: 0, count: rows * n)
            x.withUnsafeBufferPointer { xs in
                orderedLinear(
                    m: rows, n: n, k: k, x: xs.baseAddress! + start * k, ldx: k, w: w, ldw: k, y: &part, ldy: n)
            }
            XCTAssertEqual(part, Array(all[(start * n)..<((start + rows) * n)]), "rows \(start)..<\(start + rows)")
        }
    }

    /// Weights packed once for a generation give the same bits as packing per call, for every
    /// weight of a buffer (offsets, strides, widths that are not a multiple of 16, row and column splits).
    func testPackedWeightsGiveTheSameBits() {
        var rng = Xoshiro(seed: 9)
        let parameters = (0..<40_000).map { _ in rng.normal() }
        // (offset into the buffer, n, k, ldw, m): small decode-like products and ones that split.
        let products = [
            (0, 16, 24, 24, 3), (500, 33, 40, 41, 9), (3_000, 259, 64, 64, 1), (8_000, 300, 100, 100, 10),
            (20_000, 96, 120, 120, 40),
        ]
        func run() -> [[Float]] {
            products.enumerated().map { (index, product) in
                let (offset, n, k, ldw, m) = product
                let x = (0..<(m * k)).map { Float($0 % 13) * 0.25 - 1.5 }
                var y = [Float](repeating: 0.5, count: m * n)
                parameters.withUnsafeBufferPointer { p in
                    orderedLinear(
                        m: m, n: n, k: k, x: x, ldx: k, w: p.baseAddress! + offset, ldw: ldw, y: &y, ldy: n,
                        accumulate: index % 2 == 1)
                }
                return y
            }
        }
        let perCall = run()
        let packed = parameters.withUnsafeBufferPointer { p in
            PackedWeights.using(p.baseAddress!, count: p.count) { [run(), run()] }
        }
        XCTAssertEqual(packed[0], perCall)
        XCTAssertEqual(packed[1], perCall, "the second pass reads the kept packing")
        XCTAssertEqual(run(), perCall)
    }

    /// The AVX-512, AVX2 and plain C kernels differ in tile sizes, never in order: the same bits,
    /// on every path this CPU has (the plain one always), each the in-order chain. The row counts
    /// take every remainder of the 6- and 12-row tiles (the last rows run in groups of 4, 2 and 1, each
    /// with its own width) and cross a 128-row block; the widths leave every count of 16-column panels
    /// past a whole wide tile, and a part of a panel.
    func testEveryInstructionSetGivesTheSameBits() {
        var rng = Xoshiro(seed: 10)
        let k = 75
        for n in [131, 47, 16, 200] {
            for m in Array(1...25) + [37, 131] {
                let x = (0..<(m * k)).map { _ in rng.normal() }
                let w = (0..<(n * k)).map { _ in rng.normal() }
                var packed = [Float](repeating: 0, count: k * ((n + 15) / 16 * 16))
                ck_pack_linear(w, k, n, k, &packed)
                let y0 = (0..<(m * n)).map { _ in rng.normal() }
                var reference = y0
                chain(m: m, n: n, k: k, x: x, ldx: k, w: w, ldw: k, y: &reference, ldy: n, accumulate: m % 2 == 1)
                var paths = 0
                for isa in [0, 1, 2] as [Int32] {
                    var y = y0
                    guard ck_linear_packed_on(isa, x, k, packed, &y, n, m, n, k, m % 2 == 1 ? 1 : 0) == 0 else {
                        continue
                    }
                    paths += 1
                    XCTAssertEqual(y, reference, "isa \(isa) m \(m) n \(n)")
                }
                XCTAssertGreaterThanOrEqual(paths, 1)
            }
        }
    }

    /// Attention's scores over keys in tiles of 16 positions: each score is the query's in-order fused
    /// chain over d times the scale, for shared key counts (the decode) and counts that grow by one per
    /// query (the forward's causal rows), every remainder of the 3-query and 4-block tiles, widths past
    /// 16 and odd ones; nothing is written past a query's keys.
    func testTiledAttentionScoresAreEachQuerysInOrderChain() {
        var rng = Xoshiro(seed: 11)
        let cases = [
            (1, 1, 0, 1), (5, 15, 0, 32), (8, 16, 0, 32), (4, 64, 0, 32), (32, 80, 0, 32), (3, 47, 0, 64),
            (2, 20, 0, 300), (1, 70, 0, 24), (80, 1, 1, 32), (7, 3, 1, 17), (35, 10, 1, 8),
        ]
        for (nq, n, dn, hd) in cases {
            let count = { (i: Int) in n + i * dn }
            let keys = count(nq - 1)
            let (ldq, ldk, ldout) = (hd + 5, hd * 3, keys + 4)
            let q = (0..<(nq * ldq)).map { _ in rng.normal() }
            let k = (0..<(keys * ldk)).map { _ in rng.normal() }
            let scale = 1 / Float(hd).squareRoot()
            var tiles = [Float](repeating: .nan, count: (keys + 15) / 16 * 16 * hd)
            ck_attn_tile_keys(k, ldk, keys, hd, &tiles, 0)
            var out = [Float](repeating: .nan, count: nq * ldout)
            ck_attn_scores_tiled(q, ldq, nq, tiles, 16 * hd, n, dn, hd, scale, &out, ldout)
            for i in 0..<nq {
                for j in 0..<count(i) {
                    var acc: Float = 0
                    for d in 0..<hd { acc = acc.addingProduct(q[i * ldq + d], k[j * ldk + d]) }
                    XCTAssertEqual(
                        out[i * ldout + j].bitPattern, (acc * scale).bitPattern, "\((nq, n, dn, hd)) \(i) \(j)")
                }
                for j in count(i)..<ldout { XCTAssertTrue(out[i * ldout + j].isNaN, "\((nq, n, dn, hd)) \(i) \(j)") }
            }
        }
    }

    /// Keys written one position at a time (the decode's cache) make the same tiles as a whole block of
    /// rows at once (the prefill), from any starting position.
    func testKeyTilesDoNotDependOnHowTheRowsArrive() {
        var rng = Xoshiro(seed: 12)
        let (n, width, ldk) = (37, 24, 30)
        let k = (0..<(n * ldk)).map { _ in rng.normal() }
        var whole = [Float](repeating: .nan, count: 48 * width)
        ck_attn_tile_keys(k, ldk, n, width, &whole, 0)
        var one = [Float](repeating: .nan, count: 48 * width)
        k.withUnsafeBufferPointer { kp in
            ck_attn_tile_keys(kp.baseAddress!, ldk, 20, width, &one, 0)
            for t in 20..<n { ck_attn_tile_keys(kp.baseAddress! + t * ldk, ldk, 1, width, &one, t) }
        }
        for t in 0..<n {
            for c in 0..<width {
                let at = (t / 16 * width + c) * 16 + t % 16
                XCTAssertEqual(whole[at], k[t * ldk + c])
                XCTAssertEqual(one[at], whole[at])
            }
        }
        // Lanes past the last position are zeros, not what the buffer held.
        for c in 0..<width { for lane in (n % 16)..<16 { XCTAssertEqual(whole[(n / 16 * width + c) * 16 + lane], 0) } }
    }

    /// Attention's weighted sums: for each query and column, the in-order fused chain over its positions,
    /// continuing from what the output held, for shared and growing counts, tile remainders, widths that
    /// are not a multiple of 16; and two calls over consecutive segments equal one call over both.
    func testAttentionValuesAreEachQuerysInOrderChain() {
        var rng = Xoshiro(seed: 13)
        let cases = [(1, 1, 0, 1), (3, 16, 0, 32), (8, 30, 0, 32), (4, 5, 0, 48), (80, 1, 1, 32), (7, 2, 1, 20)]
        for (nq, n, dn, hd) in cases {
            let count = { (i: Int) in n + i * dn }
            let keys = count(nq - 1)
            let (ldp, ldv, ldacc) = (keys + 3, hd + 7, hd + 2)
            let p = (0..<(nq * ldp)).map { _ in rng.normal() }
            let v = (0..<(keys * ldv)).map { _ in rng.normal() }
            let start = (0..<(nq * ldacc)).map { _ in rng.normal() }
            var acc = start
            ck_attn_values_multi(p, ldp, nq, v, ldv, n, dn, hd, &acc, ldacc)
            for i in 0..<nq {
                for d in 0..<ldacc {
                    var want = start[i * ldacc + d]
                    if d < hd { for j in 0..<count(i) { want = want.addingProduct(p[i * ldp + j], v[j * ldv + d]) } }
                    XCTAssertEqual(acc[i * ldacc + d].bitPattern, want.bitPattern, "\((nq, n, dn, hd)) \(i) \(d)")
                }
            }
            // A shared count split in two segments (the decode's prompt, then a row's own positions).
            guard dn == 0, n > 1 else { continue }
            var split = start
            let first = n / 2
            ck_attn_values_multi(p, ldp, nq, v, ldv, first, 0, hd, &split, ldacc)
            p.withUnsafeBufferPointer { pp in
                v.withUnsafeBufferPointer { vp in
                    ck_attn_values_multi(
                        pp.baseAddress! + first, ldp, nq, vp.baseAddress! + first * ldv, ldv, n - first, 0, hd, &split,
                        ldacc)
                }
            }
            XCTAssertEqual(split.map(\.bitPattern), acc.map(\.bitPattern), "\((nq, n, hd)) in two segments")
        }
    }
}
