/* gelu.h — the exact (erf) GELU and its derivative, one element at a time: the single
 * definition that the unfused ops (gelu, gelu_bwd, eltwise_chain's steps) and the GEMM
 * epilogues (linear_gelu, linear_gelu_only, matmul_gelu_bwd) share, so that fused and
 * unfused kernels give the same bits (private).
 *
 * One branch-free formula for every input, written so that clang vectorises the loops that
 * call it (no libm calls, selects instead of branches; every multiply-add an explicit fmaf,
 * so no call site contracts differently). With a = |v| and h = Φ(−a) = ½erfc(a/√2),
 *     gelu(v)  = v·Φ(v)          = max(v, 0) − a·h
 *     gelu'(v) = Φ(v) + v·φ(v)   = 1 + w  (v ≥ 0),  −w  (v < 0),   w = a·φ(a) − h
 * and the Gaussian tail is h = exp(−a²/2)·R(a) with R(a) = Φ(−a)·exp(a²/2) a rational
 * function of degree 4/5 (relative error 5e-9 on [0, 13.25]), so the backward's pdf
 * φ(a) = exp(−a²/2)/√(2π) reuses the one exponential. Cost per 16 floats: ~24 FMA-class
 * instructions and one division (the erf form it replaces took two polynomials and an exp,
 * and the backward a second exp).
 *
 * Accuracy against a float64 reference over every 1e-4 step of [−10, 10]
 * (GeluAccuracyTests): gelu within 2.4e-7 absolute (half an ulp at |v| ≈ 5) and 4e-7
 * relative everywhere, the tail included; gelu' within 1.03e-7 absolute. NaN propagates,
 * gelu(−inf) = 0, gelu(+inf) = +inf, gelu'(−inf) = −0, gelu'(+inf) = 1. */
#ifndef DINO_GELU_H
#define DINO_GELU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/** |v| is clamped here: exp(−a²/2) rounds to 0 at 13.25 (2^−127 scale, see below), so
 *  gelu(v) is exactly max(v, 0) and gelu'(v) exactly 1 or −0 beyond. */
#define DINO_GELU_A_MAX 13.25f

/** exp(−a²/2) for 0 ≤ a ≤ DINO_GELU_A_MAX (or NaN), relative error ~2e-7; exactly 0 where
 *  −a²/2·log2(e) rounds to −127 (a ≥ 13.243). a² is carried as s + s_lo (exact) and
 *  −log2(e)/2 as c_hi + c_lo, so the exponent y = −a²·log2(e)/2 is split into k + f, f in
 *  [−½, ½], to ~1e-9 even at y = −127; 2^f is a degree-6 minimax polynomial (Cephes' exp2f)
 *  and 2^k is built from the bits of the rounded exponent. */
static inline float dino_exp_neg_half_square(float a) {
    float s = a * a;
    float s_lo = fmaf(a, a, -s);
    const float c_hi = -7.213475108e-01f, c_lo = -9.629815168e-09f;
    // Adding 1.5·2^23 rounds to an integer; the +127 leaves k + 127 in the low mantissa bits.
    const float shift = 0x1.8p23f + 127.0f;
    float t = fmaf(s, c_hi, shift);
    float k = t - shift;
    float f = fmaf(s, c_hi, -k);
    f = fmaf(s, c_lo, f);
    f = fmaf(s_lo, c_hi, f);
    float p = 1.535336196e-04f;
    p = fmaf(p, f, 1.339887502e-03f);
    p = fmaf(p, f, 9.618436918e-03f);
    p = fmaf(p, f, 5.550332367e-02f);
    p = fmaf(p, f, 2.402264774e-01f);
    p = fmaf(p, f, 6.931471825e-01f);
    p = fmaf(p, f, 1.0f);
    // 2^k: (k + 127) << 23 is the float's exponent field; k = −127 leaves 0, so 2^k = 0.
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits <<= 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/** Numerator N(a) of R(a) = Φ(−a)·exp(a²/2) ≈ N(a)/D(a) on [0, 13.25] (relative minimax
 *  fit, error 5e-9; R(0) = ½, R(a) → 1/(a√(2π))). */
static inline float dino_gelu_tail_numerator(float a) {
    float n = 4.015937448e-03f;
    n = fmaf(n, a, 3.995532915e-02f);
    n = fmaf(n, a, 1.812208444e-01f);
    n = fmaf(n, a, 4.355697036e-01f);
    return fmaf(n, a, 0.5f);
}

/** Denominator D(a) of R(a) ≈ N(a)/D(a) (positive coefficients: D ≥ 1 for a ≥ 0). */
static inline float dino_gelu_tail_denominator(float a) {
    float d = 1.006631833e-02f;
    d = fmaf(d, a, 1.001605839e-01f);
    d = fmaf(d, a, 4.641535878e-01f);
    d = fmaf(d, a, 1.194126248e+00f);
    d = fmaf(d, a, 1.669024348e+00f);
    return fmaf(d, a, 1.0f);
}

/** The exact GELU v·Φ(v) = ½v(1 + erf(v/√2)) of one value, as max(v, 0) − |v|·Φ(−|v|):
 *  gelu and the linear_gelu epilogues share it, so both round alike. */
static inline float dino_gelu1(float v) {
    float a = fabsf(v);
    float ac = a > DINO_GELU_A_MAX ? DINO_GELU_A_MAX : a; // a ternary, not fminf: NaN stays
    float h = dino_exp_neg_half_square(ac) * dino_gelu_tail_numerator(ac) /
              dino_gelu_tail_denominator(ac);
    float relu = v > 0.0f ? v : 0.0f;
    return fmaf(-ac, h, relu);
}

/** dy·(Φ(v) + v·φ(v)), GELU's gradient at v times dy, with w = a·φ(a) − Φ(−a) from the one
 *  exponential: gelu_bwd and the matmul_gelu_bwd epilogue share it, so both round alike. */
static inline float dino_gelu_bwd1(float dy, float v) {
    float a = fabsf(v);
    float ac = a > DINO_GELU_A_MAX ? DINO_GELU_A_MAX : a;
    float n = dino_gelu_tail_numerator(ac), d = dino_gelu_tail_denominator(ac);
    // w = e·q: e = exp(−a²/2), q = a/√(2π) − N/D over one division. Explicit fmaf, so that
    // no call site contracts 1 + e·q differently (fused and unfused must round alike).
    float e = dino_exp_neg_half_square(ac);
    float q = fmaf(ac * 3.989422917e-01f, d, -n) / d;
    float grad = v < 0.0f ? -(e * q) : fmaf(e, q, 1.0f);
    return dy * grad;
}

#endif
