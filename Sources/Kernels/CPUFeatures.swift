// The CPU's instruction-set features (CPUID and XGETBV on x86-64, HWCAP on
// arm64), as the BLAS kernel choice reads them. An AVX-512 feature counts only
// when the operating system also saves the ZMM and opmask registers.

import CKernels

public struct CPUFeatures: Codable, Equatable, Sendable {
    public enum Architecture: String, Codable, Sendable { case x86_64, arm64, other }

    public var architecture: Architecture
    /// "GenuineIntel", "AuthenticAMD", ... (empty off x86).
    public var vendor = ""
    /// CPUID display family and model (x86).
    public var family = 0, model = 0
    public var avx2 = false, fma = false
    public var avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512bf16 = false
    public var neon = false, sve = false

    public init(
        architecture: Architecture, vendor: String = "", family: Int = 0, model: Int = 0,
        avx2: Bool = false, fma: Bool = false, avx512f: Bool = false, avx512bw: Bool = false,
        avx512vl: Bool = false, avx512dq: Bool = false, avx512bf16: Bool = false,
        neon: Bool = false, sve: Bool = false
    ) {
        self.architecture = architecture
        self.vendor = vendor
        self.family = family
        self.model = model
        self.avx2 = avx2
        self.fma = fma
        self.avx512f = avx512f
        self.avx512bw = avx512bw
        self.avx512vl = avx512vl
        self.avx512dq = avx512dq
        self.avx512bf16 = avx512bf16
        self.neon = neon
        self.sve = sve
    }

    /// This machine's features.
    public static let current: CPUFeatures = {
        var raw = ck_cpu_features()
        ck_cpu_features(&raw)
        let vendor = withUnsafeBytes(of: raw.vendor) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        let arch: Architecture = raw.arch == 1 ? .x86_64 : raw.arch == 2 ? .arm64 : .other
        let avx = raw.avx != 0 && raw.os_avx != 0
        let avx512 = raw.os_avx512 != 0
        return CPUFeatures(
            architecture: arch, vendor: vendor, family: Int(raw.family), model: Int(raw.model),
            avx2: avx && raw.avx2 != 0, fma: avx && raw.fma != 0,
            avx512f: avx512 && raw.avx512f != 0, avx512bw: avx512 && raw.avx512bw != 0,
            avx512vl: avx512 && raw.avx512vl != 0, avx512dq: avx512 && raw.avx512dq != 0,
            avx512bf16: avx512 && raw.avx512bf16 != 0,
            neon: raw.neon != 0, sve: raw.sve != 0)
    }()

    /// The feature names present, for messages and reports ("avx2 fma avx512f ...").
    public var names: [String] {
        let all: [(String, Bool)] = [
            ("avx2", avx2), ("fma", fma), ("avx512f", avx512f), ("avx512bw", avx512bw),
            ("avx512vl", avx512vl), ("avx512dq", avx512dq), ("avx512_bf16", avx512bf16),
            ("neon", neon), ("sve", sve),
        ]
        return all.filter(\.1).map(\.0)
    }
}
