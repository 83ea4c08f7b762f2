#include "ckernels.h"
#include <math.h>
#include <stdlib.h>
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

// One AdamW step over n parameters: the operations of the per-element definition, in its order and
// without fusing a multiply into an add (contract off), so every clone and every element gives the
// bits the scalar loop gave, 8 elements at a time. The square root is the IEEE one (v >= 0).
#pragma clang fp contract(off)
CLONES void ck_adamw(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, long n,
                     float b1, float b2, float step, float inv_sqrt_bc2, float eps, float decay) {
    typedef float v8 __attribute__((vector_size(32)));
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8 gi, mi, vi, pi;
        memcpy(&gi, g + i, sizeof gi);
        memcpy(&mi, m + i, sizeof mi);
        memcpy(&vi, v + i, sizeof vi);
        memcpy(&pi, p + i, sizeof pi);
        mi = b1 * mi + (1 - b1) * gi;
        vi = b2 * vi + (1 - b2) * gi * gi;
        pi = pi * decay - step * mi / (__builtin_elementwise_sqrt(vi) * inv_sqrt_bc2 + eps);
        memcpy(m + i, &mi, sizeof mi);
        memcpy(v + i, &vi, sizeof vi);
        memcpy(p + i, &pi, sizeof pi);
    }
    for (; i < n; i++) {
        const float gi = g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * decay - step * m[i] / (__builtin_elementwise_sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
}
#pragma clang fp contract(on)

// Sixteen floats: one AVX-512 register, two of AVX2, four of SSE; the compiler splits it per target.
typedef float v16 __attribute__((vector_size(64)));
// v16 is passed by value only between always-inline helpers, so the ABI warning
// for a 64-byte vector outside an AVX-512 function does not apply.
#pragma clang diagnostic ignored "-Wpsabi"

static inline __attribute__((always_inline)) v16 load16(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
static inline __attribute__((always_inline)) void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

// Attention's two products, written so that each result has one defined
// rounding: a chain of fused multiply-adds in index order. The batched
// forward and the cached decode call these on the same rows, so the sampler
// and the trainer compute bit-identical scores and outputs, whatever the CPU
// or the number of rows (a BLAS kernel's summation order can change with
// the matrix's shape). The fused multiply-add is exact on every clone: an
// instruction where the CPU has FMA, glibc's exact fmaf otherwise.
#if defined(__x86_64__)
#define FMA_CLONES __attribute__((target_clones("avx512f", "fma", "default")))
#else
#define FMA_CLONES
#endif

// Keys are kept in tiles: the chain of one score runs over d, so 16 keys at once are 16 lanes, and
// each lane must read its own key's d-th value. Rows of K would make that a strided gather; a tile
// holds 16 positions transposed, [width][16], and each step of the chain is one contiguous load.
void ck_attn_tile_keys(const float *restrict k, long ldk, long n, long width, float *restrict kt, long first) {
    for (long r = 0; r < n; r++) {
        const long t = first + r;
        float *block = kt + (t / 16) * width * 16;
        // A new block starts from zeros: its unused lanes are computed (never stored), and must not be
        // garbage that could be denormal and slow every multiply-add of the block.
        if (t % 16 == 0) memset(block, 0, sizeof(float) * width * 16);
        for (long c = 0; c < width; c++) block[c * 16 + t % 16] = k[r * ldk + c];
    }
}

// QR queries x KB blocks of 16 keys: QR * KB sums in flight, each block row loaded once for the QR queries.
#define SCORES_TILE(NAME, QR, KB)                                                                              \
    static inline __attribute__((always_inline)) void NAME(                                                    \
        const float *q, long ldq, const float *kt, long ldblock, long b0, long hd, float scale, float *out,    \
        long ldout, const long *count) {                                                                       \
        v16 acc[QR][KB];                                                                                       \
        for (int r = 0; r < QR; r++)                                                                           \
            for (int b = 0; b < KB; b++) acc[r][b] = (v16){0};                                                 \
        for (long d = 0; d < hd; d++) {                                                                        \
            v16 key[KB];                                                                                       \
            for (int b = 0; b < KB; b++) key[b] = load16(kt + (b0 + b) * ldblock + d * 16);                    \
            for (int r = 0; r < QR; r++) {                                                                     \
                v16 x = q[r * ldq + d] - (v16){0};                                                             \
                for (int b = 0; b < KB; b++) acc[r][b] = __builtin_elementwise_fma(x, key[b], acc[r][b]);      \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < QR; r++)                                                                           \
            for (int b = 0; b < KB; b++) {                                                                     \
                const long base = (b0 + b) * 16, valid = count[r] - base;                                      \
                v16 scaled = acc[r][b] * scale;                                                                \
                if (valid >= 16) {                                                                             \
                    store16(out + r * ldout + base, scaled);                                                   \
                } else {                                                                                       \
                    for (long e = 0; e < valid; e++) out[r * ldout + base + e] = scaled[e];                    \
                }                                                                                              \
            }                                                                                                  \
    }

SCORES_TILE(scores_3x2, 3, 2)
SCORES_TILE(scores_3x1, 3, 1)
SCORES_TILE(scores_1x4, 1, 4)
SCORES_TILE(scores_1x2, 1, 2)
SCORES_TILE(scores_1x1, 1, 1)

FMA_CLONES void ck_attn_scores_tiled(const float *restrict q, long ldq, long nq, const float *restrict kt,
                                     long ldblock, long n, long dn, long hd, float scale, float *restrict out,
                                     long ldout) {
    long i = 0;
    for (; i + 3 <= nq; i += 3) {
        const long count[3] = {n + i * dn, n + (i + 1) * dn, n + (i + 2) * dn};
        const long blocks = (count[2] + 15) / 16;
        long b = 0;
        const float *qi = q + i * ldq;
        float *oi = out + i * ldout;
        for (; b + 2 <= blocks; b += 2) scores_3x2(qi, ldq, kt, ldblock, b, hd, scale, oi, ldout, count);
        for (; b < blocks; b++) scores_3x1(qi, ldq, kt, ldblock, b, hd, scale, oi, ldout, count);
    }
    for (; i < nq; i++) {
        const long count[1] = {n + i * dn};
        const long blocks = (count[0] + 15) / 16;
        long b = 0;
        const float *qi = q + i * ldq;
        float *oi = out + i * ldout;
        for (; b + 4 <= blocks; b += 4) scores_1x4(qi, ldq, kt, ldblock, b, hd, scale, oi, ldout, count);
        for (; b + 2 <= blocks; b += 2) scores_1x2(qi, ldq, kt, ldblock, b, hd, scale, oi, ldout, count);
        for (; b < blocks; b++) scores_1x1(qi, ldq, kt, ldblock, b, hd, scale, oi, ldout, count);
    }
}

// QR queries over positions j0..<j1 and columns d0..<d0 + 16 * W: the value rows loaded once for the
// QR queries, each sum continuing its query's chain (acc is read first and written back).
#define VALUES_TILE(NAME, QR, W)                                                                               \
    static inline __attribute__((always_inline)) void NAME(                                                    \
        const float *p, long ldp, const float *v, long ldv, long j0, long j1, long d0, float *acc,             \
        long ldacc) {                                                                                          \
        v16 a[QR][W];                                                                                          \
        for (int r = 0; r < QR; r++)                                                                           \
            for (int w = 0; w < W; w++) a[r][w] = load16(acc + r * ldacc + d0 + 16 * w);                      \
        for (long j = j0; j < j1; j++) {                                                                       \
            v16 row[W];                                                                                        \
            for (int w = 0; w < W; w++) row[w] = load16(v + j * ldv + d0 + 16 * w);                            \
            for (int r = 0; r < QR; r++) {                                                                     \
                v16 x = p[r * ldp + j] - (v16){0};                                                             \
                for (int w = 0; w < W; w++) a[r][w] = __builtin_elementwise_fma(x, row[w], a[r][w]);           \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < QR; r++)                                                                           \
            for (int w = 0; w < W; w++) store16(acc + r * ldacc + d0 + 16 * w, a[r][w]);                       \
    }

VALUES_TILE(values_3x32, 3, 2)
VALUES_TILE(values_3x16, 3, 1)
VALUES_TILE(values_1x32, 1, 2)
VALUES_TILE(values_1x16, 1, 1)

// Positions j0..<j1 for `nq` (1 or 3) queries on every column: 32 and 16 at a time, the rest one by one.
static inline __attribute__((always_inline)) void values_span(
    int three, const float *p, long ldp, const float *v, long ldv, long j0, long j1, long hd, float *acc,
    long ldacc) {
    long d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) {
        if (three) values_3x32(p, ldp, v, ldv, j0, j1, d0, acc, ldacc);
        else values_1x32(p, ldp, v, ldv, j0, j1, d0, acc, ldacc);
    }
    for (; d0 + 16 <= hd; d0 += 16) {
        if (three) values_3x16(p, ldp, v, ldv, j0, j1, d0, acc, ldacc);
        else values_1x16(p, ldp, v, ldv, j0, j1, d0, acc, ldacc);
    }
    for (int r = 0; r < (three ? 3 : 1); r++)
        for (long d = d0; d < hd; d++) {
            float a = acc[r * ldacc + d];
            for (long j = j0; j < j1; j++) a = fmaf(p[r * ldp + j], v[j * ldv + d], a);
            acc[r * ldacc + d] = a;
        }
}

FMA_CLONES void ck_attn_values_multi(const float *restrict p, long ldp, long nq, const float *restrict v, long ldv,
                                     long n, long dn, long hd, float *restrict acc, long ldacc) {
    long i = 0;
    for (; i + 3 <= nq; i += 3) {
        // The positions all three queries read, together; then each query's own last ones, in order.
        const long shared = n + i * dn;
        values_span(1, p + i * ldp, ldp, v, ldv, 0, shared, hd, acc + i * ldacc, ldacc);
        for (long r = 1; r < 3; r++) {
            const long own = n + (i + r) * dn;
            values_span(0, p + (i + r) * ldp, ldp, v, ldv, shared, own, hd, acc + (i + r) * ldacc, ldacc);
        }
    }
    for (; i < nq; i++) values_span(0, p + i * ldp, ldp, v, ldv, 0, n + i * dn, hd, acc + i * ldacc, ldacc);
}

// The forward's products, y = x W^T, with one defined rounding per output: a
// chain of fused multiply-adds over k = 0..<K in order, from zero. A BLAS
// kernel's order can change with the number of rows (and does, for W stored
// transposed), so a decode step over 8 rows and a training forward over 8,000
// would round differently; these do not, on any CPU. W [N, K] is packed
// transposed, 16-column panels padded with zeros (once for a whole generation
// when the caller keeps the packing, else per call into a buffer each thread
// keeps), and an outer-product kernel broadcasts x[i][k] against W^T rows.
// Backward products stay in BLAS: only the forward must agree with the sampler.

void ck_pack_linear(const float *restrict w, long ldw, long n, long k, float *restrict wt) {
    // Panel p holds columns 16p..16p+15 as [K][16], contiguous, so that the kernel streams it
    // (rows of a plain W^T lie N floats apart and share a handful of cache sets).
    for (long j0 = 0; j0 < n; j0 += 16) {
        float *panel = wt + j0 * k;
        if (n - j0 >= 16) {
            for (long kk = 0; kk < k; kk++)
                for (long u = 0; u < 16; u++) panel[kk * 16 + u] = w[(j0 + u) * ldw + kk];
        } else {
            for (long kk = 0; kk < k; kk++)
                for (long u = 0; u < 16; u++) panel[kk * 16 + u] = j0 + u < n ? w[(j0 + u) * ldw + kk] : 0;
        }
    }
}

static _Thread_local float *panel_buffer;
static _Thread_local long panel_capacity;

// ROWS rows x COLS16 * 16 columns of the output, starting at row i and column j. With PREFETCH it asks
// for the next panels (into L2) as it reads its own: a decode step streams 33 MB of weights, more than
// the L3 holds, through products of a dozen rows, and without it each panel's first pass waits on memory.
#define TILE(NAME, ROWS, COLS16, PREFETCH)                                                                     \
    static inline __attribute__((always_inline)) void NAME(                                                    \
        const float *a, long lda, const float *wt, long k, float *c, long ldc, long i,                         \
        long j, long n, int accumulate) {                                                                      \
        v16 acc[ROWS][COLS16];                                                                                 \
        for (int r = 0; r < ROWS; r++)                                                                         \
            for (int u = 0; u < COLS16; u++) acc[r][u] = (v16){0};                                             \
        const long next = j + 16 * COLS16 < n ? j + 16 * COLS16 : j;                                           \
        for (long kk = 0; kk < k; kk++) {                                                                      \
            if (PREFETCH)                                                                                      \
                for (int u = 0; u < COLS16; u++) __builtin_prefetch(wt + (next + 16 * u) * k + kk * 16, 0, 2); \
            v16 b[COLS16];                                                                                     \
            for (int u = 0; u < COLS16; u++) b[u] = load16(wt + (j + 16 * u) * k + kk * 16);                   \
            for (int r = 0; r < ROWS; r++) {                                                                   \
                /* A splat (x - 0 is x, so it folds to a broadcast). */                                        \
                v16 x = a[(i + r) * lda + kk] - (v16){0};                                                      \
                for (int u = 0; u < COLS16; u++)                                                               \
                    acc[r][u] = __builtin_elementwise_fma(x, b[u], acc[r][u]);                                 \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < ROWS; r++)                                                                         \
            for (int u = 0; u < COLS16; u++) {                                                                 \
                float *out = c + (i + r) * ldc + j + 16 * u;                                                   \
                long valid = n - (j + 16 * u);                                                                 \
                if (valid >= 16) {                                                                             \
                    store16(out, accumulate ? load16(out) + acc[r][u] : acc[r][u]);                            \
                } else {                                                                                       \
                    for (long e = 0; e < valid; e++)                                                           \
                        out[e] = accumulate ? out[e] + acc[r][u][e] : acc[r][u][e];                            \
                }                                                                                              \
            }                                                                                                  \
    }

// One group of rows (a TILE's height) over all the columns: tiles C16 panels wide, then single panels.
#define ROWSPAN(NAME, ROWS, C16)                                                                               \
    TILE(NAME##_wide, ROWS, C16, 0)                                                                            \
    TILE(NAME##_narrow, ROWS, 1, 0)                                                                            \
    static inline __attribute__((always_inline)) void NAME(                                                    \
        const float *a, long lda, const float *wt, long k, float *c, long ldc, long i, long n, int accumulate) { \
        const long npad = (n + 15) / 16 * 16;                                                                  \
        long j = 0;                                                                                            \
        for (; j + 16 * C16 <= npad; j += 16 * C16) NAME##_wide(a, lda, wt, k, c, ldc, i, j, n, accumulate);   \
        for (; j < npad; j += 16) NAME##_narrow(a, lda, wt, k, c, ldc, i, j, n, accumulate);                   \
    }

// Rows in blocks that stay in cache while every column panel passes over them, ROWS at a time; the
// block's last rows (fewer than ROWS) in groups of 4, 2 and 1, each group with a tile wide enough to keep
// as many sums in flight as a fused multiply-add's latency needs: a 1 x 16 tile alone is two chains,
// a fifth of what the two FMA units can take.
#define LINEAR(NAME, TARGET, ROWS, COLS16, C4, C2, C1)                                                         \
    TILE(NAME##_tile, ROWS, COLS16, 1)                                                                         \
    TILE(NAME##_narrow, ROWS, 1, 1)                                                                            \
    ROWSPAN(NAME##_four, 4, C4)                                                                                \
    ROWSPAN(NAME##_two, 2, C2)                                                                                 \
    ROWSPAN(NAME##_one, 1, C1)                                                                                 \
    TARGET static void NAME(const float *a, long lda, const float *wt, long n, long k,                         \
                            float *c, long ldc, long m, int accumulate) {                                      \
        const long block = 128, npad = (n + 15) / 16 * 16;                                                     \
        for (long i0 = 0; i0 < m; i0 += block) {                                                               \
            long i1 = i0 + block < m ? i0 + block : m;                                                         \
            long rest = i0 + (i1 - i0) / ROWS * ROWS;                                                          \
            if (rest > i0) {                                                                                   \
                long j = 0;                                                                                    \
                for (; j + 16 * COLS16 <= npad; j += 16 * COLS16)                                              \
                    for (long i = i0; i < rest; i += ROWS)                                                     \
                        NAME##_tile(a, lda, wt, k, c, ldc, i, j, n, accumulate);                               \
                for (; j < npad; j += 16)                                                                      \
                    for (long i = i0; i < rest; i += ROWS)                                                     \
                        NAME##_narrow(a, lda, wt, k, c, ldc, i, j, n, accumulate);                             \
            }                                                                                                  \
            long i = rest;                                                                                     \
            for (; i + 4 <= i1; i += 4) NAME##_four(a, lda, wt, k, c, ldc, i, n, accumulate);                  \
            for (; i + 2 <= i1; i += 2) NAME##_two(a, lda, wt, k, c, ldc, i, n, accumulate);                   \
            for (; i < i1; i++) NAME##_one(a, lda, wt, k, c, ldc, i, n, accumulate);                           \
        }                                                                                                      \
    }

// Tile sizes per instruction set (they change the speed, never the result). AVX2 has 16 registers of
// 8 floats and two FMA units of latency 4-5: 6 x 16 keeps 12 sums in flight (the classic Haswell shape),
// and the last rows take 4 x 16, 2 x 32 and 1 x 64, 8 sums each (wider ones spill and measured slower).
// AVX-512's 32 registers of 16 floats take 12 x 32 (24 sums), then 4 x 64, 2 x 64 and 1 x 128.
#if defined(__x86_64__)
LINEAR(linear_avx512, __attribute__((target("avx512f"))), 12, 2, 4, 4, 8)
LINEAR(linear_fma, __attribute__((target("fma"))), 6, 1, 1, 2, 4)
#endif
LINEAR(linear_generic, , 6, 1, 1, 2, 4)

int ck_linear_packed_on(int isa, const float *x, long ldx, const float *wt, float *y, long ldy, long m, long n,
                        long k, int accumulate) {
    if (m <= 0 || n <= 0) return 0;
    switch (isa) {
#if defined(__x86_64__)
    case 2:
        if (!__builtin_cpu_supports("avx512f")) return -1;
        linear_avx512(x, ldx, wt, n, k, y, ldy, m, accumulate);
        return 0;
    case 1:
        if (!__builtin_cpu_supports("fma")) return -1;
        linear_fma(x, ldx, wt, n, k, y, ldy, m, accumulate);
        return 0;
#endif
    case 0:
        linear_generic(x, ldx, wt, n, k, y, ldy, m, accumulate);
        return 0;
    default:
        return -1;
    }
}

void ck_linear_packed(const float *x, long ldx, const float *wt, float *y, long ldy, long m, long n, long k,
                      int accumulate) {
    // The widest path the CPU has; every path gives the same bits.
    for (int isa = 2; isa >= 0; isa--)
        if (ck_linear_packed_on(isa, x, ldx, wt, y, ldy, m, n, k, accumulate) == 0) return;
}

const float *ck_pack_linear_scratch(const float *w, long ldw, long n, long k) {
    const long size = k * ((n + 15) / 16 * 16);
    if (panel_capacity < size) {
        free(panel_buffer);
        panel_buffer = malloc(sizeof(float) * (size > 0 ? size : 1));
        panel_capacity = panel_buffer ? size : 0;
        if (!panel_buffer) return NULL;
    }
    ck_pack_linear(w, ldw, n, k, panel_buffer);
    return panel_buffer;
}

int ck_linear(const float *x, long ldx, const float *w, long ldw, float *y, long ldy, long m, long n, long k,
              int accumulate) {
    if (m <= 0 || n <= 0) return 0;
    const float *wt = ck_pack_linear_scratch(w, ldw, n, k);
    if (!wt) return -1;
    ck_linear_packed(x, ldx, wt, y, ldy, m, n, k, accumulate);
    return 0;
}
