// What the CPU implements and what the operating system saves across context
// switches: the facts the BLAS kernel choice is made from.
#ifndef CK_CPU_FEATURES_H
#define CK_CPU_FEATURES_H

struct ck_cpu_features {
    int arch;               // 1 x86-64, 2 arm64, 0 other
    char vendor[13];        // CPUID vendor string on x86 ("GenuineIntel", "AuthenticAMD")
    int family, model;      // CPUID display family and model on x86
    int sse3, avx, avx2, fma;
    int avx512f, avx512dq, avx512cd, avx512bw, avx512vl, avx512bf16, amx_bf16;
    int os_avx, os_avx512;  // XCR0: the OS saves YMM, and ZMM with the opmask registers
    int neon, sve;          // arm64 (HWCAP)
};

/// Fills `features` from CPUID and XGETBV (x86-64) or the auxiliary vector (arm64).
void ck_cpu_features(struct ck_cpu_features *features);

#endif
