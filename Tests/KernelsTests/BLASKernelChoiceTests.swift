// The BLAS kernel choice as a table of (OpenBLAS's pick, CPU features, user
// settings) cases, the self-check against right and wrong products, and the
// product recorder the benchmark's MFU is measured with.

import XCTest
import Kernels

final class BLASKernelChoiceTests: XCTestCase {
    // CPUs as CPUID describes them.
    static let emeraldRapids = CPUFeatures(
        architecture: .x86_64, vendor: "GenuineIntel", family: 6, model: 207,
        avx2: true, fma: true, avx512f: true, avx512bw: true, avx512vl: true,
        avx512dq: true, avx512bf16: true)
    static let skylakeServer = CPUFeatures(
        architecture: .x86_64, vendor: "GenuineIntel", family: 6, model: 85,
        avx2: true, fma: true, avx512f: true, avx512bw: true, avx512vl: true,
        avx512dq: true)
    static let zen3 = CPUFeatures(
        architecture: .x86_64, vendor: "AuthenticAMD", family: 25, model: 1,
        avx2: true, fma: true)
    static let zen4 = CPUFeatures(
        architecture: .x86_64, vendor: "AuthenticAMD", family: 25, model: 17,
        avx2: true, fma: true, avx512f: true, avx512bw: true, avx512vl: true,
        avx512dq: true, avx512bf16: true)
    /// AVX-512 in CPUID but not saved by the OS: CPUFeatures reports it absent.
    static let avx512Unsaved = CPUFeatures(
        architecture: .x86_64, vendor: "GenuineIntel", family: 6, model: 143,
        avx2: true, fma: true)
    static let oldAtom = CPUFeatures(architecture: .x86_64, vendor: "GenuineIntel", family: 6, model: 55)
    static let graviton3 = CPUFeatures(architecture: .arm64, neon: true, sve: true)
    static let graviton2 = CPUFeatures(architecture: .arm64, neon: true)

    func testSelectionTable() {
        typealias Case = (
            picked: String, cpu: CPUFeatures, user: String?, setting: String?, dynamic: Bool,
            expected: BLASKernelChoice.Decision?
        )
        let cases: [Case] = [
            // OpenBLAS falls back to Prescott on a model it does not know: the best kernels, best first.
            ("Prescott", Self.emeraldRapids, nil, nil, true, .tryInOrder(["Cooperlake", "SkylakeX", "Haswell"])),
            ("Prescott", Self.skylakeServer, nil, nil, true, .tryInOrder(["SkylakeX", "Haswell"])),
            ("Prescott", Self.zen3, nil, nil, true, .tryInOrder(["Haswell"])),
            ("Prescott", Self.avx512Unsaved, nil, "auto", true, .tryInOrder(["Haswell"])),
            ("Sandybridge", Self.emeraldRapids, nil, nil, true, .tryInOrder(["Cooperlake", "SkylakeX", "Haswell"])),
            // Only kernels better than the pick are tried.
            ("Haswell", Self.emeraldRapids, nil, nil, true, .tryInOrder(["Cooperlake", "SkylakeX"])),
            ("Zen", Self.zen4, nil, nil, true, .tryInOrder(["Cooperlake", "SkylakeX"])),
            // A pick as good as the CPU allows stays (names in any case).
            ("SkylakeX", Self.skylakeServer, nil, nil, true, nil),
            ("Cooperlake", Self.emeraldRapids, nil, nil, true, nil),
            ("COOPERLAKE", Self.emeraldRapids, nil, nil, true, nil),
            ("Zen", Self.zen3, nil, nil, true, nil),
            ("Haswell", Self.zen3, nil, nil, true, nil),
            // A pick this table does not know comes from a newer OpenBLAS: trusted.
            ("Graniterapids", Self.emeraldRapids, nil, nil, true, nil),
            // Nothing better than the fallback exists.
            ("Atom", Self.oldAtom, nil, nil, true, nil),
            // The user's OPENBLAS_CORETYPE always wins; an empty one is unset.
            ("Prescott", Self.emeraldRapids, "Haswell", nil, true, nil),
            ("Prescott", Self.emeraldRapids, "Prescott", "SkylakeX", true, nil),
            ("Prescott", Self.emeraldRapids, "", nil, true, .tryInOrder(["Cooperlake", "SkylakeX", "Haswell"])),
            // GRPO_BLAS_KERNEL: off, or the kernels to try.
            ("Prescott", Self.emeraldRapids, nil, "off", true, nil),
            ("Prescott", Self.emeraldRapids, nil, "OFF", true, nil),
            ("Prescott", Self.emeraldRapids, nil, "SkylakeX, Haswell", true, .tryInOrder(["SkylakeX", "Haswell"])),
            ("Haswell", Self.emeraldRapids, nil, "Prescott", true, .tryInOrder(["Prescott"])),
            ("Haswell", Self.emeraldRapids, nil, "haswell", true, nil),
            ("Prescott", Self.emeraldRapids, nil, " , ", true, nil),
            // A single-kernel OpenBLAS cannot switch.
            ("Haswell", Self.emeraldRapids, nil, nil, false, nil),
            ("Haswell", Self.emeraldRapids, nil, "SkylakeX", false, nil),
            // arm64: SVE, then tuned NEON, over the generic ARMV8 kernel.
            ("ARMV8", Self.graviton3, nil, nil, true, .tryInOrder(["NEOVERSEV1", "NEOVERSEN1"])),
            ("armv8", Self.graviton2, nil, nil, true, .tryInOrder(["NEOVERSEN1"])),
            ("NEOVERSEN1", Self.graviton2, nil, nil, true, nil),
            ("neoversen1", Self.graviton3, nil, nil, true, .tryInOrder(["NEOVERSEV1"])),
        ]
        for (i, c) in cases.enumerated() {
            let got = BLASKernelChoice.decide(
                picked: c.picked, cpu: c.cpu, userCoretype: c.user,
                setting: .init(c.setting), dynamicArch: c.dynamic)
            switch (got, c.expected) {
            case (.tryInOrder(let names), .tryInOrder(let want)?):
                XCTAssertEqual(names, want, "case \(i): \(c.picked) \(c.cpu.names)")
            case (.keep(let reason), nil):
                XCTAssertFalse(reason.isEmpty, "case \(i): a kept pick says why")
            default:
                XCTFail(
                    "case \(i): \(c.picked) \(c.cpu.names) user \(c.user ?? "-") setting \(c.setting ?? "-"): "
                        + "got \(got), expected \(String(describing: c.expected))")
            }
        }
    }

    /// On every CPU with AVX2 (or AVX-512), an SSE-era pick is never kept.
    func testNeverTheGenericFallbackWithAVX2() {
        let sseKernels = ["Prescott", "Core2", "Nehalem", "Penryn", "Atom", "Barcelona", "Opteron"]
        for bits in 0..<32 {
            let cpu = CPUFeatures(
                architecture: .x86_64, avx2: true, fma: true, avx512f: bits & 1 != 0,
                avx512bw: bits & 2 != 0, avx512vl: bits & 4 != 0, avx512dq: bits & 8 != 0,
                avx512bf16: bits & 16 != 0)
            for picked in sseKernels {
                let d = BLASKernelChoice.decide(
                    picked: picked, cpu: cpu, userCoretype: nil, setting: .automatic,
                    dynamicArch: true)
                guard case .tryInOrder(let names) = d else { return XCTFail("\(picked) kept on \(cpu.names)") }
                XCTAssertEqual(names.last, "Haswell", "AVX2 is the last step before the fallback")
                let avx512 = bits & 15 == 15
                XCTAssertEqual(names.contains("SkylakeX"), avx512, "\(cpu.names)")
                XCTAssertEqual(names.contains("Cooperlake"), avx512 && bits & 16 != 0, "\(cpu.names)")
            }
        }
    }

    func testSettingParsing() {
        XCTAssertEqual(BLASKernelChoice.Setting(nil), .automatic)
        XCTAssertEqual(BLASKernelChoice.Setting(" auto "), .automatic)
        XCTAssertEqual(BLASKernelChoice.Setting("off"), .off)
        XCTAssertEqual(BLASKernelChoice.Setting("SkylakeX,,Haswell "), .prefer(["SkylakeX", "Haswell"]))
    }

    func testSelfCheckPassesOnTheKernelInUse() {
        XCTAssertNil(BLASSelfCheck.run())
    }

    /// Wrong products of each kind are caught: a value off by 1e-4 relative, beta ignored,
    /// a write past the last column.
    func testSelfCheckCatchesWrongProducts() throws {
        let real: BLASSelfCheck.Product = { tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            gemm(
                transA: tA, transB: tB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                beta: beta, c: c, ldc: ldc)
        }
        let slightlyOff: BLASSelfCheck.Product = { tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            real(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            if m > 1 { c[ldc + n - 1] *= 1 + 1e-4 }
        }
        let noBeta: BLASSelfCheck.Product = { tA, tB, m, n, k, alpha, a, lda, b, ldb, _, c, ldc in
            real(tA, tB, m, n, k, alpha, a, lda, b, ldb, 0, c, ldc)
        }
        let pastTheEnd: BLASSelfCheck.Product = { tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            real(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            c[n] = 0
        }
        for (name, product) in [("slightly off", slightlyOff), ("no beta", noBeta), ("past the end", pastTheEnd)] {
            let failure = try XCTUnwrap(BLASSelfCheck.run(product: product), name)
            XCTAssertTrue(failure.contains("expected"), "\(name): \(failure)")
        }
        XCTAssertNil(BLASSelfCheck.run(product: real))
    }

    func testRecorderCountsEachShape() {
        let a = [Float](repeating: 1, count: 64 * 64)
        let b = a
        var c = [Float](repeating: 0, count: 64 * 64)
        let calls = GemmRecorder.recording {
            for _ in 0..<3 { gemm(m: 8, n: 16, k: 32, a: a, lda: 32, b: b, ldb: 16, c: &c, ldc: 16) }
            gemm(transB: true, m: 64, n: 64, k: 64, a: a, lda: 64, b: b, ldb: 64, c: &c, ldc: 64)
        }
        XCTAssertEqual(calls, [GemmShape(m: 8, n: 16, k: 32): 3, GemmShape(transB: true, m: 64, n: 64, k: 64): 1])
        XCTAssertFalse(GemmRecorder.isRecording)
        // Outside a recording nothing is counted.
        gemm(m: 8, n: 16, k: 32, a: a, lda: 32, b: b, ldb: 16, c: &c, ldc: 16)
        XCTAssertEqual(GemmRecorder.recording {}, [:])
    }
}
