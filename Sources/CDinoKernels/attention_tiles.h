/* attention_tiles.h — the small-matrix pieces of the fused attention (private to
 * attention.c): copies of one (image, head) pair's q, k, v into zero-padded tiles, and a
 * register-blocked product of such tiles in plain C vector code (clang's vector
 * extension: AVX-512 here, whatever the target has elsewhere).
 *
 * Tiles: rows padded to a multiple of 8 (DINO_ATT_ROWS), columns to a multiple of 16
 * (DINO_ATT_COLS), the padding zero, so the product needs no edge code. Each element of
 * a product is one chain of fused multiply-adds over k in order 0 … K−1 from zero,
 * whatever the tile or thread: the results do not depend on how the work is split. */
#ifndef DINO_ATTENTION_TILES_H
#define DINO_ATTENTION_TILES_H

#include <stdint.h>

/** Rows of one register block (tile row counts are multiples of it). */
#define DINO_ATT_ROWS 8
/** Columns of one vector (tile column counts are multiples of it). */
#define DINO_ATT_COLS 16

/** 16 floats, loaded and stored without an alignment requirement. */
typedef float dino_v16 __attribute__((vector_size(64), aligned(4)));

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

/** C[8 × 32] = A[8 × k]·B[k × 32]: rows of B at stride ldb, of C at ldc, A as DINO_ATT_A;
 *  each element a fused multiply-add chain over k in order (16 accumulators in
 *  registers). */
__attribute__((always_inline)) static inline void dino_att_block32(
    int ta, int k, const float *restrict a, int lda, const float *restrict b, int ldb,
    float *restrict c, int ldc) {
    dino_v16 acc0[DINO_ATT_ROWS], acc1[DINO_ATT_ROWS];
    for (int r = 0; r < DINO_ATT_ROWS; r++) acc0[r] = acc1[r] = (dino_v16){0};
    for (int p = 0; p < k; p++) {
        dino_v16 b0 = *(const dino_v16 *)(b + (int64_t)p * ldb);
        dino_v16 b1 = *(const dino_v16 *)(b + (int64_t)p * ldb + 16);
        for (int r = 0; r < DINO_ATT_ROWS; r++) {
            float s = DINO_ATT_A(a, lda, r, p, ta);
            acc0[r] += s * b0;
            acc1[r] += s * b1;
        }
    }
    for (int r = 0; r < DINO_ATT_ROWS; r++) {
        *(dino_v16 *)(c + (int64_t)r * ldc) = acc0[r];
        *(dino_v16 *)(c + (int64_t)r * ldc + 16) = acc1[r];
    }
}

/** C[8 × 16] = A[8 × k]·B[k × 16], as dino_att_block32. */
__attribute__((always_inline)) static inline void dino_att_block16(
    int ta, int k, const float *restrict a, int lda, const float *restrict b, int ldb,
    float *restrict c, int ldc) {
    dino_v16 acc[DINO_ATT_ROWS];
    for (int r = 0; r < DINO_ATT_ROWS; r++) acc[r] = (dino_v16){0};
    for (int p = 0; p < k; p++) {
        dino_v16 b0 = *(const dino_v16 *)(b + (int64_t)p * ldb);
        for (int r = 0; r < DINO_ATT_ROWS; r++) acc[r] += DINO_ATT_A(a, lda, r, p, ta) * b0;
    }
    for (int r = 0; r < DINO_ATT_ROWS; r++) *(dino_v16 *)(c + (int64_t)r * ldc) = acc[r];
}

/** C[m × n] = A[m × k]·B[k × n] (A as DINO_ATT_A) for m a multiple of 8 and n of 16:
 *  column panels of 32 (B's panel stays in L1 across the row blocks), then one of 16. */
__attribute__((always_inline)) static inline void dino_att_gemm_any(
    int ta, int m, int n, int k, const float *restrict a, int lda, const float *restrict b,
    int ldb, float *restrict c, int ldc) {
    int j = 0;
    for (; j + 32 <= n; j += 32)
        for (int i = 0; i < m; i += DINO_ATT_ROWS)
            dino_att_block32(ta, k, ta ? a + i : a + (int64_t)i * lda, lda, b + j, ldb,
                             c + (int64_t)i * ldc + j, ldc);
    if (j < n)
        for (int i = 0; i < m; i += DINO_ATT_ROWS)
            dino_att_block16(ta, k, ta ? a + i : a + (int64_t)i * lda, lda, b + j, ldb,
                             c + (int64_t)i * ldc + j, ldc);
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
 *  0: the transpose, zero-padded. */
static inline void dino_att_pack_t(float *restrict dst, int ldd, int rows, int cols,
                                   const float *restrict src, int64_t lds, int vr, int vc) {
    for (int c = 0; c < rows; c++) {
        float *d = dst + (int64_t)c * ldd;
        if (c < vc) {
            for (int r = 0; r < vr; r++) d[r] = src[r * lds + c];
            for (int r = vr; r < cols; r++) d[r] = 0.0f;
        } else {
            for (int r = 0; r < cols; r += 16) {
                dino_v16 zero = {0};
                DINO_ATT_OPAQUE(zero);
                *(dino_v16 *)(d + r) = zero;
            }
        }
    }
}

/** Asks for rows 0 … n−1 of a row-major [n × w] block at stride ld (w floats each) to be
 *  brought into cache (`write` for rows about to be written): the next pair's rows, which
 *  lie 3·C floats apart, too short a run for the hardware prefetcher at small N. */
static inline void dino_att_prefetch(const float *p, int64_t ld, int n, int w, int write) {
    for (int r = 0; r < n; r++)
        for (int c = 0; c < w; c += 16) {
            if (write)
                __builtin_prefetch(p + r * ld + c, 1, 3);
            else
                __builtin_prefetch(p + r * ld + c, 0, 3);
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
