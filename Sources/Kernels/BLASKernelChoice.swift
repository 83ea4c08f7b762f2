// Which OpenBLAS kernel to run on this CPU: a pure decision over what OpenBLAS
// picked, the CPU's features and the user's settings, so that every case can
// be tested as a table.
//
// A DYNAMIC_ARCH OpenBLAS picks its kernel from a table of CPU models it knew
// when it was built. On a newer model it falls back to its oldest x86-64
// kernel: Debian's 0.3.21 runs SSE3 `Prescott` code on an AVX-512 Xeon of
// family 6 model 207, at a fifth of the speed its `Cooperlake` kernel reaches
// there. So when the pick is older than what the CPU's features allow, the
// better kernels are tried best first; each must pass a numerical self-check
// in a child process before it is used (older builds are known to compute
// wrong results, or to crash, with some kernels on some processors), and if
// none passes OpenBLAS's own pick stays.
//
// OPENBLAS_CORETYPE set by the user is always respected. GRPO_BLAS_KERNEL
// turns the choice off (`off`) or names the kernels to try, best first
// (`SkylakeX,Haswell`); unset or `auto` chooses from the CPU's features.

import Foundation

public enum BLASKernelChoice {
    /// GRPO_BLAS_KERNEL.
    public enum Setting: Equatable, Sendable {
        case automatic
        case off
        case prefer([String])

        public init(_ value: String?) {
            let v = (value ?? "").trimmingCharacters(in: .whitespaces)
            switch v.lowercased() {
            case "", "auto": self = .automatic
            case "off", "0", "no", "none": self = .off
            default:
                self = .prefer(
                    v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                        .filter { !$0.isEmpty })
            }
        }
    }

    public enum Decision: Equatable, Sendable {
        /// Run with OpenBLAS's pick (or the user's OPENBLAS_CORETYPE), for this reason.
        case keep(String)
        /// Try these kernels in order; the first that passes the self-check is used.
        case tryInOrder([String])
    }

    /// Kernel families by the widest instructions their sgemm uses. Names are
    /// OPENBLAS_CORETYPE's (what `openblas_get_corename` reports, any case).
    static let rank: [String: Int] = {
        var r: [String: Int] = [:]
        let x86: [(Int, [String])] = [
            (
                1,
                [
                    "katmai", "coppermine", "northwood", "prescott", "banias", "atom", "core2", "penryn", "dunnington",
                    "nehalem", "opteron", "opteron_sse3", "barcelona", "bobcat", "nano", "athlon",
                ]
            ),
            (2, ["sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"]),  // AVX
            (3, ["haswell", "zen"]),  // AVX2 + FMA
            (4, ["skylakex"]),  // AVX-512
            (5, ["cooperlake", "sapphirerapids"]),  // AVX-512 with BF16
        ]
        let arm: [(Int, [String])] = [
            (1, ["armv8"]),
            (
                2,
                [
                    "cortexa53", "cortexa55", "cortexa57", "cortexa72", "cortexa73", "falkor", "thunderx",
                    "thunderx2t99",
                    "thunderx3t110", "tsv110", "emag8180", "neoversen1", "vortex",
                ]
            ),  // tuned NEON
            (3, ["neoversev1", "neoversen2", "a64fx"]),  // SVE
        ]
        for (tier, names) in x86 + arm { for n in names { r[n] = tier } }
        return r
    }()

    /// The kernels this CPU can run, best first, ending with the plainest one
    /// better than OpenBLAS's fallback.
    public static func candidates(for cpu: CPUFeatures) -> [String] {
        switch cpu.architecture {
        case .x86_64:
            let avx512 = cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq
            var list: [String] = []
            if avx512 && cpu.avx512bf16 { list.append("Cooperlake") }
            if avx512 { list.append("SkylakeX") }
            if cpu.avx2 && cpu.fma { list.append("Haswell") }
            return list
        case .arm64:
            var list: [String] = []
            if cpu.sve { list.append("NEOVERSEV1") }
            if cpu.neon { list.append("NEOVERSEN1") }
            return list
        case .other:
            return []
        }
    }

    /// - Parameters:
    ///   - picked: the kernel OpenBLAS chose by itself (`openblas_get_corename`).
    ///   - userCoretype: OPENBLAS_CORETYPE as the user set it (nil when unset).
    ///   - dynamicArch: whether this OpenBLAS can switch kernels at all.
    public static func decide(
        picked: String, cpu: CPUFeatures, userCoretype: String?, setting: Setting,
        dynamicArch: Bool
    ) -> Decision {
        if let user = userCoretype, !user.isEmpty { return .keep("OPENBLAS_CORETYPE=\(user) is set") }
        if !dynamicArch { return .keep("this OpenBLAS has one kernel (not a DYNAMIC_ARCH build)") }
        let same = { (name: String) in name.lowercased() == picked.lowercased() }
        switch setting {
        case .off:
            return .keep("GRPO_BLAS_KERNEL=off")
        case .prefer(let names):
            if let first = names.first, same(first) { return .keep("OpenBLAS picked \(picked), the first named") }
            return names.isEmpty ? .keep("GRPO_BLAS_KERNEL names no kernel") : .tryInOrder(names)
        case .automatic:
            let better = candidates(for: cpu)
            guard let best = better.first, let bestRank = rank[best.lowercased()] else {
                return .keep("no better kernel known for this CPU")
            }
            // A pick this table does not know is a newer OpenBLAS's: trust it.
            guard let pickedRank = rank[picked.lowercased()] else { return .keep("OpenBLAS picked \(picked)") }
            if pickedRank >= bestRank { return .keep("OpenBLAS picked \(picked), the best for this CPU") }
            return .tryInOrder(better.filter { (rank[$0.lowercased()] ?? 0) > pickedRank })
        }
    }
}
