// Elementwise kernels that need exp: written in C because Swift's SIMD types
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
/// max(a[0..<n]) (n >= 1).
float ck_max(const float *a, long n);
/// SwiGLU over rows of h = [g | u] (width each): a = silu(g) * u.
void ck_swiglu_forward(const float *h, float *a, long rows, long width);
/// Gradient of SwiGLU: dh = [dg | du] from da.
void ck_swiglu_backward(const float *da, const float *h, float *dh, long rows, long width);

#endif
