/* lwn_tiles.c — the register-blocked tiles of linear_weight_norm_bwd on a few rows (M ≤ 96):
 * a tile of up to 14 rows × 32 columns of C in 28 accumulators, per k two vectors of a row
 * of B and 14 broadcasts of A, both read in place (B: rows of v or x, contiguous along the
 * columns; A: dy, or dy⊙s packed by the caller), so nothing is packed per call. Columns
 * past the last 32 take a 16-column tile, then single columns; rows < 14 take a tile of
 * their own size (the row count is a constant in each). Every element is one chain of fused
 * multiply-adds over k in order. Without AVX-512F the same chains run one element at a
 * time. */
#include <math.h>

#include "lwn_tiles.h"

/* Column q ≥ 0 of the tile, one element at a time (the columns past the last whole vector,
 * and every column without AVX-512F): the vector tiles' order. */
static void column_scalar(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ks,
                          const float *b, int64_t ldb, int rows, int kc, int accumulate) {
    for (int r = 0; r < rows; r++) {
        float acc = accumulate ? c[r * ldc] : 0.0f;
        for (int p = 0; p < kc; p++) acc = fmaf(a[r * a_rs + p * a_ks], b[p * ldb], acc);
        c[r * ldc] = acc;
    }
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* ROWS × 16·VECS columns of C from column 0 (ROWS ≤ 14, VECS 1 or 2; both constants where
 * this is inlined). */
static inline __attribute__((always_inline)) void
tile(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ks, const float *b,
     int64_t ldb, int kc, int accumulate, const float *pf, int64_t pf_n, int pf_write,
     const int ROWS, const int VECS) {
    __m512 acc[LWN_TILE_ROWS][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < VECS; v++)
            acc[r][v] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * v) : _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        const float *bp = b + p * ldb, *ap = a + p * a_ks;
        if (p < pf_n) {
            if (pf_write)
                __builtin_prefetch(pf + 16 * (int64_t)p, 1, 2);
            else
                __builtin_prefetch(pf + 16 * (int64_t)p, 0, 2);
        }
        __m512 bv[2];
#pragma clang loop unroll(full)
        for (int v = 0; v < VECS; v++) bv[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            __m512 av = _mm512_set1_ps(ap[r * a_rs]);
#pragma clang loop unroll(full)
            for (int v = 0; v < VECS; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < VECS; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

/* All columns of a tile of ROWS rows: 32-column tiles, one 16-column tile, single columns. */
static inline __attribute__((always_inline)) void
tiles_rows(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ks, const float *b,
           int64_t ldb, int cols, int kc, int accumulate, struct lwn_prefetch pf,
           const int ROWS) {
    int q = 0;
    for (; q + 32 <= cols; q += 32, pf.lines += 16 * (int64_t)kc, pf.count -= kc)
        tile(c + q, ldc, a, a_rs, a_ks, b + q, ldb, kc, accumulate, pf.lines, pf.count,
             pf.write, ROWS, 2);
    for (; q + 16 <= cols; q += 16, pf.lines += 16 * (int64_t)kc, pf.count -= kc)
        tile(c + q, ldc, a, a_rs, a_ks, b + q, ldb, kc, accumulate, pf.lines, pf.count,
             pf.write, ROWS, 1);
    for (; q < cols; q++)
        column_scalar(c + q, ldc, a, a_rs, a_ks, b + q, ldb, ROWS, kc, accumulate);
}

/* One instance per row count, so every tile's accumulators are registers. */
#define LWN_ROWS_CASE(n)                                                                          \
    case n: tiles_rows(c, ldc, a, a_rs, a_ks, b, ldb, cols, kc, accumulate, pf, n); break;

void dino_lwn_tiles(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ks,
                    const float *b, int64_t ldb, int rows, int cols, int kc, int accumulate,
                    struct lwn_prefetch pf) {
    switch (rows) {
    LWN_ROWS_CASE(1) LWN_ROWS_CASE(2) LWN_ROWS_CASE(3) LWN_ROWS_CASE(4) LWN_ROWS_CASE(5)
    LWN_ROWS_CASE(6) LWN_ROWS_CASE(7) LWN_ROWS_CASE(8) LWN_ROWS_CASE(9) LWN_ROWS_CASE(10)
    LWN_ROWS_CASE(11) LWN_ROWS_CASE(12) LWN_ROWS_CASE(13) LWN_ROWS_CASE(14)
    default: break;
    }
}

#else /* no AVX-512F: every column one element at a time, in the same order */

void dino_lwn_tiles(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ks,
                    const float *b, int64_t ldb, int rows, int cols, int kc, int accumulate,
                    struct lwn_prefetch pf) {
    (void)pf;
    for (int q = 0; q < cols; q++)
        column_scalar(c + q, ldc, a, a_rs, a_ks, b + q, ldb, rows, kc, accumulate);
}

#endif
