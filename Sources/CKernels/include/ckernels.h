// Elementwise kernels that need exp, and attention's products: written in C because Swift's SIMD types
// lower lane by lane for min/max and integer bit tricks, and libm's expf does
// not vectorise. Each is a plain loop that clang vectorises; exp is one
// polynomial (Cephes-style, relative error < 2e-7) used everywhere, so every
// caller computes bit-identical values for the same input.
#ifndef CKERNELS_H
#define CKERNELS_H

/// exp(x), clamped to [-87.3, 88.3].
float ck_exp(float x);
/// a[i] = exp(a[i] * scale - shift); returns the sum.
float ck_exp_shifted(float *a, long n, float scale, float shift);
/// Returns sum(exp(a[i] * scale - shift)); *weighted = sum(exp(z) * z).
float ck_sum_exp(const float *a, long n, float scale, float shift, float *weighted);
/// AdamW over n parameters: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g;
/// p = p decay - step m / (sqrt(v) inv_sqrt_bc2 + eps), each operation rounded on its own, as a scalar loop.
void ck_adamw(float *p, const float *g, float *m, float *v, long n, float b1, float b2, float step,
              float inv_sqrt_bc2, float eps, float decay);
/// max(a[0..<n]) (n >= 1).
float ck_max(const float *a, long n);
/// SwiGLU over rows of h = [g | u] (width each): a = silu(g) * u.
void ck_swiglu_forward(const float *h, float *a, long rows, long width);
/// Gradient of SwiGLU: dh = [dg | du] from da.
void ck_swiglu_backward(const float *da, const float *h, float *dh, long rows, long width);
/// Writes n key rows (width floats each, row stride ldk) as positions first..<first + n of a tiled key
/// buffer: position t's column c at kt[((t / 16) * width + c) * 16 + t % 16]. A block is zeroed when its
/// first position is written. Room: width * 16 floats per started block of 16 positions.
void ck_attn_tile_keys(const float *k, long ldk, long n, long width, float *kt, long first);
/// Scores of nq queries (query i at q + i * ldq) over tiled keys (block b of 16 at kt + b * ldblock,
/// [hd][16]): out[i * ldout + j] = scale * (q_i . k_j) for j < n + i * dn (dn >= 0), each dot product one
/// fused multiply-add chain over d = 0..<hd in order, then times scale. Nothing else of out is written.
void ck_attn_scores_tiled(const float *q, long ldq, long nq, const float *kt, long ldblock, long n, long dn, long hd,
                          float scale, float *out, long ldout);
/// acc_i[d] += sum over j < n + i * dn of p_i[j] * v_j[d] for nq queries (p_i = p + i * ldp,
/// acc_i = acc + i * ldacc) sharing the value rows v_j = v + j * ldv: one fused multiply-add chain per
/// (i, d) over j in order, continuing from acc_i[d], so two calls over consecutive segments equal one
/// call over both.
void ck_attn_values_multi(const float *p, long ldp, long nq, const float *v, long ldv, long n, long dn, long hd,
                          float *acc, long ldacc);
/// y[i][j] = sum over k of x[i][k] * w[j][k] (y += that when `accumulate`), each output one fused
/// multiply-add chain over k = 0..<K in order from zero, so a row's result does not depend on the
/// other rows, the column range or the CPU. x [M, K] (row stride ldx), w [N, K] (ldw), y [M, N] (ldy).
/// W is packed (ck_pack_linear) into the thread's scratch: returns -1 if that could not be allocated, else 0.
int ck_linear(const float *x, long ldx, const float *w, long ldw, float *y, long ldy, long m, long n, long k,
              int accumulate);
/// W for ck_linear_packed: panels of 16 columns, each [K][16] (W^T's rows), columns past N zero:
/// K * (N rounded up to 16) floats.
void ck_pack_linear(const float *w, long ldw, long n, long k, float *wt);
/// ck_linear over weights packed by ck_pack_linear (wt may start at any panel of a wider packing, for
/// the columns from there): the same bits, without the copy.
void ck_linear_packed(const float *x, long ldx, const float *wt, float *y, long ldy, long m, long n, long k,
                      int accumulate);
/// ck_linear_packed on one path: 2 AVX-512, 1 AVX2 with FMA, 0 plain C. Returns -1 (computing nothing)
/// where the CPU lacks it. The paths differ in speed only; the tests compare their bits.
int ck_linear_packed_on(int isa, const float *x, long ldx, const float *wt, float *y, long ldy, long m, long n,
                        long k, int accumulate);
/// Packs W into this thread's scratch (reused by its next ck_linear or pack): NULL if out of memory.
const float *ck_pack_linear_scratch(const float *w, long ldw, long n, long k);

#endif
