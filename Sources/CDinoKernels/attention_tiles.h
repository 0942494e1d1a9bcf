/* attention_tiles.h — the small-matrix pieces of the fused attention (private to
 * attention.c): copies of one (image, head) pair's q, k, v into zero-padded tiles, a
 * register-blocked product of such tiles in plain C vector code (clang's vector
 * extension: AVX-512 here, whatever the target has elsewhere), and the softmax's vector
 * pieces (exp, log, lane masks, lane sums and maxima).
 *
 * Products take any row count (blocks of 8 rows, DINO_ATT_ROWS, then one of the rest) and
 * column counts that are multiples of 8 (panels of 32, 16, 8): B's and C's rows are whole
 * vectors, so a B operand is either a tile padded with zeros or rows read in place when
 * they are whole vectors wide. Each element of a product is one chain of fused
 * multiply-adds over k in order 0 … K−1 from zero, whatever the block, tile or thread: the
 * results do not depend on how the work is split or on which path padded it. */
#ifndef DINO_ATTENTION_TILES_H
#define DINO_ATTENTION_TILES_H

#include <stdint.h>

#include "internal.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>
#endif

/** Rows of one register block (the tiles' row counts are multiples of it). */
#define DINO_ATT_ROWS 8
/** Columns of one vector (tile column counts are multiples of it). */
#define DINO_ATT_COLS 16

/** 8 floats, as dino_v16 (internal.h): a last panel of 8 columns. */
typedef float dino_v8 __attribute__((vector_size(32), aligned(4)));

/** 8 ints: lane masks of dino_v8 comparisons. */
typedef int32_t dino_i8 __attribute__((vector_size(32), aligned(4)));
/** 16 ints: lane masks (all ones or zero) of vector comparisons. */
typedef int32_t dino_i16 __attribute__((vector_size(64), aligned(4)));

/** `x` splat into all 16 lanes. */
static inline dino_v16 dino_att_splat(float x) {
    return (dino_v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

/** Lane by lane `mask ? a : b` (mask lanes all ones or zero), bitwise. */
static inline dino_v16 dino_att_select(dino_i16 mask, dino_v16 a, dino_v16 b) {
    return (dino_v16)(((dino_i16)a & mask) | ((dino_i16)b & ~mask));
}

/** All ones in lanes 0 … live−1, zero in the others (live ≤ 16). */
static inline dino_i16 dino_att_first_lanes(int live) {
    const dino_i16 lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    dino_i16 bound = {live, live, live, live, live, live, live, live,
                      live, live, live, live, live, live, live, live};
    return lanes < bound;
}

/** Lane by lane max(a, b): a where a > b, else b (one vmaxps on x86). */
static inline dino_v16 dino_att_max16(dino_v16 a, dino_v16 b) {
    return dino_att_select(a > b, a, b);
}

/** exp of 16 lanes of x ≤ 0 (a softmax's scores less their row's max; a rounding above 0
 *  is fine): internal.h's dino_expf (its DINO_EXP_CORE, 0 below −87.3, NaN propagated)
 *  without its upper clamp, which such x never reach; with AVX-512 the 2^k scale is one
 *  vscalefps. */
static inline dino_v16 dino_att_exp16(dino_v16 x) {
    dino_v16 k, r, p;
    DINO_EXP_CORE(x, k, r, p);
#if defined(__x86_64__) && defined(__AVX512F__)
    // Lanes not below −87.3 (NaN included) keep p · 2^k, the others 0.
    __mmask16 live = _mm512_cmp_ps_mask((__m512)x, _mm512_set1_ps(-87.33654f), _CMP_NLT_UQ);
    return (dino_v16)_mm512_maskz_scalef_ps(live, (__m512)p, (__m512)k);
#else
    dino_i16 under = x < dino_att_splat(-87.33654f);
    dino_i16 bits = (__builtin_convertvector(k, dino_i16) + 127) << 23;
    return dino_att_select(under, dino_att_splat(0.0f), p * (dino_v16)bits);
#endif
}

/** Natural log of 16 lanes of positive normal x (Cephes logf: the mantissa in
 *  [√½, √2), a degree-8 polynomial, ~1 ulp); other lanes give garbage. */
static inline dino_v16 dino_att_log16(dino_v16 x) {
    dino_i16 bits = (dino_i16)x;
    dino_i16 e = ((bits >> 23) & 0xff) - 126;
    dino_v16 m = (dino_v16)((bits & 0x007fffff) | 0x3f000000);
    dino_i16 small = m < dino_att_splat(0.707106781186547524f);
    e = e + small;  /* −1 where the mantissa doubles */
    dino_v16 f = m + dino_att_select(small, m, dino_att_splat(0.0f)) - 1.0f;
    dino_v16 z = f * f, y = dino_att_splat(7.0376836292e-2f);
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    dino_v16 ef = __builtin_convertvector(e, dino_v16);
    y = y + ef * -2.12194440e-4f;
    y = y - 0.5f * z;
    return f + y + ef * 0.693359375f;
}

/** Σ of the 16 lanes in dino_sum's order (lane j + 8 into j, then + 4, + 2, + 1). */
static inline float dino_att_lane_sum(dino_v16 x) {
    dino_v8 a = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    typedef float v4 __attribute__((vector_size(16)));
    v4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    float c0 = b[0] + b[2], c1 = b[1] + b[3];
    return c0 + c1;
}

/** max of the 16 lanes (any NaN among them may or may not come out: callers' sums catch
 *  it). */
static inline float dino_att_lane_max(dino_v16 x) {
    dino_v8 lo = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7);
    dino_v8 hi = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    dino_v8 a = (dino_v8)(((dino_i8)lo & (lo > hi)) | ((dino_i8)hi & ~(lo > hi)));
    float m = a[0];
    for (int j = 1; j < 8; j++) m = a[j] > m ? a[j] : m;
    return m;
}

/** Hides a vector's value from the optimiser so that a copy loop stays a loop: clang
 *  otherwise turns each short row copy into a libc memcpy call, whose per-call cost
 *  doubled the kernels' time at N ≤ 50 (measured). */
#if defined(__x86_64__) && defined(__AVX512F__)
#define DINO_ATT_OPAQUE(x) __asm__("" : "+v"(x))
#else
#define DINO_ATT_OPAQUE(x) __asm__("" : "+m"(x))
#endif

/** n rounded up to a multiple of m. */
static inline int dino_att_round(int n, int m) { return (n + m - 1) / m * m; }

/** Element (r, p) of A: row-major at stride lda, or (ta) A's transpose stored row-major,
 *  so that the 8 rows' elements at one p are adjacent. */
#define DINO_ATT_A(a, lda, r, p, ta) ((ta) ? (a)[(int64_t)(p) * (lda) + (r)] : \
                                             (a)[(int64_t)(r) * (lda) + (p)])

/** C[rows × 32] = A[rows × k]·B[k × 32] (rows ≤ 8): rows of B at stride ldb, of C at ldc, A
 *  as DINO_ATT_A; each element a fused multiply-add chain over k in order (up to 16
 *  accumulators in registers). */
__attribute__((always_inline)) static inline void dino_att_block32(
    int rows, int ta, int k, const float *restrict a, int lda, const float *restrict b, int ldb,
    float *restrict c, int ldc) {
    dino_v16 acc0[DINO_ATT_ROWS], acc1[DINO_ATT_ROWS];
    for (int r = 0; r < rows; r++) acc0[r] = acc1[r] = (dino_v16){0};
    for (int p = 0; p < k; p++) {
        dino_v16 b0 = *(const dino_v16 *)(b + (int64_t)p * ldb);
        dino_v16 b1 = *(const dino_v16 *)(b + (int64_t)p * ldb + 16);
        for (int r = 0; r < rows; r++) {
            float s = DINO_ATT_A(a, lda, r, p, ta);
            acc0[r] += s * b0;
            acc1[r] += s * b1;
        }
    }
    for (int r = 0; r < rows; r++) {
        *(dino_v16 *)(c + (int64_t)r * ldc) = acc0[r];
        *(dino_v16 *)(c + (int64_t)r * ldc + 16) = acc1[r];
    }
}

/** C[rows × 16] = A[rows × k]·B[k × 16], as dino_att_block32. */
__attribute__((always_inline)) static inline void dino_att_block16(
    int rows, int ta, int k, const float *restrict a, int lda, const float *restrict b, int ldb,
    float *restrict c, int ldc) {
    dino_v16 acc[DINO_ATT_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = (dino_v16){0};
    for (int p = 0; p < k; p++) {
        dino_v16 b0 = *(const dino_v16 *)(b + (int64_t)p * ldb);
        for (int r = 0; r < rows; r++) acc[r] += DINO_ATT_A(a, lda, r, p, ta) * b0;
    }
    for (int r = 0; r < rows; r++) *(dino_v16 *)(c + (int64_t)r * ldc) = acc[r];
}

/** C[rows × 8] = A[rows × k]·B[k × 8], as dino_att_block16 on half vectors (half the cost of
 *  a 16-column panel on this machine: 256-bit halves). */
__attribute__((always_inline)) static inline void dino_att_block8(
    int rows, int ta, int k, const float *restrict a, int lda, const float *restrict b, int ldb,
    float *restrict c, int ldc) {
    dino_v8 acc[DINO_ATT_ROWS];
    for (int r = 0; r < rows; r++) acc[r] = (dino_v8){0};
    for (int p = 0; p < k; p++) {
        dino_v8 b0 = *(const dino_v8 *)(b + (int64_t)p * ldb);
        for (int r = 0; r < rows; r++) acc[r] += DINO_ATT_A(a, lda, r, p, ta) * b0;
    }
    for (int r = 0; r < rows; r++) *(dino_v8 *)(c + (int64_t)r * ldc) = acc[r];
}

/** Expands to `case R: BLOCK(R, …); break;` for R = 7 … 1: the last row block's count
 *  as a constant, so that each count gets its own unrolled copy with its accumulators in
 *  registers. */
#define DINO_ATT_ROW_CASES(block, ta, k, a, lda, b, ldb, c, ldc) \
    case 7: block(7, ta, k, a, lda, b, ldb, c, ldc); break;     \
    case 6: block(6, ta, k, a, lda, b, ldb, c, ldc); break;     \
    case 5: block(5, ta, k, a, lda, b, ldb, c, ldc); break;     \
    case 4: block(4, ta, k, a, lda, b, ldb, c, ldc); break;     \
    case 3: block(3, ta, k, a, lda, b, ldb, c, ldc); break;     \
    case 2: block(2, ta, k, a, lda, b, ldb, c, ldc); break;     \
    case 1: block(1, ta, k, a, lda, b, ldb, c, ldc); break;     \
    default: break;

/** One panel of columns [j, j + width) of dino_att_gemm_any with `block` (width 32, 16 or
 *  8): row blocks of 8, then one of the m mod 8 rows left (no padded rows). */
#define DINO_ATT_PANEL(block, ta, m, k, a, lda, b, ldb, c, ldc, j)                          \
    do {                                                                                   \
        int whole_ = (m) / DINO_ATT_ROWS * DINO_ATT_ROWS;                                  \
        for (int i_ = 0; i_ < whole_; i_ += DINO_ATT_ROWS)                                 \
            block(DINO_ATT_ROWS, ta, k, (ta) ? (a) + i_ : (a) + (int64_t)i_ * (lda), lda,  \
                  (b) + (j), ldb, (c) + (int64_t)i_ * (ldc) + (j), ldc);                   \
        const float *last_ = (ta) ? (a) + whole_ : (a) + (int64_t)whole_ * (lda);         \
        switch ((m) - whole_) {                                                            \
            DINO_ATT_ROW_CASES(block, ta, k, last_, lda, (b) + (j), ldb,                   \
                               (c) + (int64_t)whole_ * (ldc) + (j), ldc)                   \
        }                                                                                  \
    } while (0)

/** C[m × n] = A[m × k]·B[k × n] (A as DINO_ATT_A) for any m and n a multiple of 8: column
 *  panels of 32 (B's panel stays in L1 across the row blocks), then one of 16, then one
 *  of 8 (DINO_ATT_PANEL). */
__attribute__((always_inline)) static inline void dino_att_gemm_any(
    int ta, int m, int n, int k, const float *restrict a, int lda, const float *restrict b,
    int ldb, float *restrict c, int ldc) {
    int j = 0;
    for (; j + 32 <= n; j += 32)
        DINO_ATT_PANEL(dino_att_block32, ta, m, k, a, lda, b, ldb, c, ldc, j);
    if (j + 16 <= n) {
        DINO_ATT_PANEL(dino_att_block16, ta, m, k, a, lda, b, ldb, c, ldc, j);
        j += 16;
    }
    if (j < n) DINO_ATT_PANEL(dino_att_block8, ta, m, k, a, lda, b, ldb, c, ldc, j);
}

/** C = A·B, A row-major [m × k] at stride lda (dino_att_gemm_any). */
static void dino_att_gemm(int m, int n, int k, const float *restrict a, int lda,
                          const float *restrict b, int ldb, float *restrict c, int ldc) {
    dino_att_gemm_any(0, m, n, k, a, lda, b, ldb, c, ldc);
}

/** C = Aᵀ·B with A row-major [k × m] at stride lda (≥ m; its columns past the valid
 *  ones are read into C's discarded rows, so they must hold finite values). */
static void dino_att_gemm_tn(int m, int n, int k, const float *restrict a, int lda,
                             const float *restrict b, int ldb, float *restrict c, int ldc) {
    dino_att_gemm_any(1, m, n, k, a, lda, b, ldb, c, ldc);
}

/** dst[0 … n) = src[0 … n) then dst[n … cols) = 0, cols a multiple of 16, in vector
 *  moves (libc's memcpy on rows this short costs more than the products' share). */
static inline void dino_att_copy_row(float *restrict dst, const float *restrict src, int n,
                                     int cols) {
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        dino_v16 x = *(const dino_v16 *)(src + j);
        DINO_ATT_OPAQUE(x);
        *(dino_v16 *)(dst + j) = x;
    }
    if (j < cols) {
        dino_v16 tail = {0};
        for (int t = 0; j + t < n; t++) tail[t] = src[j + t];
        *(dino_v16 *)(dst + j) = tail;
        j += 16;
    }
    for (; j < cols; j += 16) {
        dino_v16 zero = {0};
        DINO_ATT_OPAQUE(zero);
        *(dino_v16 *)(dst + j) = zero;
    }
}

/** dst[rows × cols] (stride ldd) = src[r][c] (stride lds) for r < vr, c < vc, else 0. */
static inline void dino_att_pack(float *restrict dst, int ldd, int rows, int cols,
                                 const float *restrict src, int64_t lds, int vr, int vc) {
    for (int r = 0; r < rows; r++)
        dino_att_copy_row(dst + (int64_t)r * ldd, src + r * lds, r < vr ? vc : 0, cols);
}

/** dst[c][r] (stride ldd; rows × cols) = src[r][c] (stride lds) for r < vr, c < vc, else
 *  0: the transpose, zero-padded (rows and cols multiples of 16). Whole 16-column blocks
 *  of src go through 16 × 16 transposes in registers (a gather per column of dst cost 40 %
 *  of the backward at N = 10, single-float stores 27 % at N = 50: measured); a partial
 *  one float by float. */
static inline void dino_att_pack_t(float *restrict dst, int ldd, int rows, int cols,
                                   const float *restrict src, int64_t lds, int vr, int vc) {
    int whole = vc / 16 * 16;
    for (int r0 = 0; r0 < cols; r0 += 16) {
        int live = vr - r0 < 16 ? vr - r0 : 16;
        for (int c0 = 0; c0 < whole; c0 += 16) {
            dino_v16 m[16];
            for (int r = 0; r < 16; r++)
                m[r] = r < live ? *(const dino_v16 *)(src + (r0 + r) * lds + c0) : (dino_v16){0};
            dino_transpose16(m);
            for (int c = 0; c < 16; c++) *(dino_v16 *)(dst + (int64_t)(c0 + c) * ldd + r0) = m[c];
        }
        for (int c = whole; c < rows; c++) {
            dino_v16 x = {0};
            for (int r = 0; r < live && c < vc; r++) x[r] = src[(r0 + r) * lds + c];
            *(dino_v16 *)(dst + (int64_t)c * ldd + r0) = x;
        }
    }
}

/** out[r][c] (stride ldo) = tile[r][c] (stride ldt) for r < vr, c < vc. */
static inline void dino_att_unpack(float *restrict out, int64_t ldo, const float *restrict tile,
                                   int ldt, int vr, int vc) {
    for (int r = 0; r < vr; r++) {
        float *o = out + r * ldo;
        const float *t = tile + (int64_t)r * ldt;
        int c = 0;
        for (; c + 16 <= vc; c += 16) {
            dino_v16 x = *(const dino_v16 *)(t + c);
            DINO_ATT_OPAQUE(x);
            *(dino_v16 *)(o + c) = x;
        }
        for (; c < vc; c++) o[c] = t[c];
    }
}

#endif
