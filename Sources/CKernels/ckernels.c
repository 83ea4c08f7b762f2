#include "ckernels.h"
#include <stdint.h>
#include <string.h>

// One copy per instruction set, picked at load time: AVX-512 and AVX2 where
// the CPU has them, SSE2 otherwise.
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

static inline float exp_poly(float v) {
    float x = v < -87.3f ? -87.3f : (v > 88.3f ? 88.3f : v);
    // Round x log2(e) to an integer by adding 1.5 * 2^23 (the sum's low mantissa bits hold it).
    const float magic = 12582912.0f;
    float t = x * 1.44269504f + magic;
    float n = t - magic;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    int32_t ti; memcpy(&ti, &t, 4);
    int32_t bits = (ti - 0x4B400000 + 127) << 23;
    float scale; memcpy(&scale, &bits, 4);
    return e * scale;
}

float ck_exp(float x) { return exp_poly(x); }

CLONES float ck_exp_shifted(float *a, long n, float scale, float shift) {
    float acc[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) { float e = exp_poly(a[i + j] * scale - shift); a[i + j] = e; acc[j] += e; }
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) { a[i] = exp_poly(a[i] * scale - shift); s += a[i]; }
    return s;
}

CLONES float ck_sum_exp(const float *a, long n, float scale, float shift, float *weighted) {
    float acc[16] = {0}, wacc[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float z = a[i + j] * scale - shift;
            float e = exp_poly(z);
            acc[j] += e;
            wacc[j] += e * z;
        }
    float s = 0, w = 0;
    for (int j = 0; j < 16; j++) { s += acc[j]; w += wacc[j]; }
    for (; i < n; i++) { float z = a[i] * scale - shift; float e = exp_poly(z); s += e; w += e * z; }
    *weighted = w;
    return s;
}

CLONES float ck_max(const float *a, long n) {
    float m[16];
    long i = 0;
    for (int j = 0; j < 16; j++) m[j] = a[0];
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) m[j] = a[i + j] > m[j] ? a[i + j] : m[j];
    float s = m[0];
    for (int j = 1; j < 16; j++) s = m[j] > s ? m[j] : s;
    for (; i < n; i++) s = a[i] > s ? a[i] : s;
    return s;
}

CLONES void ck_swiglu_forward(const float *h, float *a, long rows, long width) {
    for (long r = 0; r < rows; r++) {
        const float *g = h + r * 2 * width, *u = g + width;
        float *ar = a + r * width;
        for (long j = 0; j < width; j++) {
            float s = 1.0f / (1.0f + exp_poly(-g[j]));
            ar[j] = g[j] * s * u[j];
        }
    }
}

CLONES void ck_swiglu_backward(const float *da, const float *h, float *dh, long rows, long width) {
    for (long r = 0; r < rows; r++) {
        const float *g = h + r * 2 * width, *u = g + width, *dar = da + r * width;
        float *dg = dh + r * 2 * width, *du = dg + width;
        for (long j = 0; j < width; j++) {
            float s = 1.0f / (1.0f + exp_poly(-g[j]));
            du[j] = dar[j] * g[j] * s;
            dg[j] = dar[j] * u[j] * s * (1.0f + g[j] * (1.0f - s));
        }
    }
}
