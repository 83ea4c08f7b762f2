// The CPU's instruction-set features, as the BLAS kernel choice needs them:
// what the processor implements (CPUID, or the auxiliary vector on arm64) and
// what the operating system saves across context switches (XGETBV), since an
// AVX-512 kernel on a kernel or hypervisor that does not save ZMM state dies
// of SIGILL even when CPUID lists the instructions.
#include "cpu_features.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void ck_cpu_features(struct ck_cpu_features *f) {
    memset(f, 0, sizeof *f);
    f->arch = 1;
    unsigned int a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned int max_leaf = a;
    memcpy(f->vendor, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    __get_cpuid(1, &a, &b, &c, &d);
    unsigned int base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    f->family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    f->model = (base_family == 0x6 || base_family == 0xf) ? base_model | (((a >> 16) & 0xf) << 4) : base_model;
    f->sse3 = (c >> 0) & 1;
    f->fma = (c >> 12) & 1;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
    // XMM and YMM state (bits 1, 2); opmask, upper ZMM halves and ZMM16-31 (bits 5, 6, 7).
    f->os_avx = (xcr0 & 0x6) == 0x6;
    f->os_avx512 = f->os_avx && (xcr0 & 0xe0) == 0xe0;
    f->avx = avx;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512cd = (b >> 28) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        unsigned int leaves = a;
        if (leaves >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            f->avx512bf16 = (a >> 5) & 1;
        }
        __cpuid_count(7, 0, a, b, c, d);
        f->amx_bf16 = (d >> 22) & 1;
    }
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif

void ck_cpu_features(struct ck_cpu_features *f) {
    memset(f, 0, sizeof *f);
    f->arch = 2;
    unsigned long hwcap = getauxval(AT_HWCAP);
    f->neon = (hwcap & HWCAP_ASIMD) != 0;
    f->sve = (hwcap & HWCAP_SVE) != 0;
}

#else
void ck_cpu_features(struct ck_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif
