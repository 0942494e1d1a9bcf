/* gemm_skinny.c — C = A·Bᵀ for a few rows of A against very many rows of B (the teacher's
 * head: A the batch's [2·batch, bottleneck] features, B the [K, bottleneck] last layer),
 * where sgemm's packing and blocking cost more than streaming B once. gemm.c picks it by
 * shape alone (`dino_gemm_is_skinny`), for the fused and the unfused pipeline alike;
 * linear_weight_norm.c runs its panels (`dino_skinny_panel`) for its forward of up to 96
 * rows.
 *
 * Aᵀ is the vector lanes ([k][16·vecs], A's rows zero-padded to whole 16-float vectors) and
 * each row of B is broadcast one float at a time: a tile of `rows` rows of B keeps rows ×
 * vecs accumulators (24–25 of the 32 zmm registers), so per k it loads vecs vectors of Aᵀ
 * and rows floats of B for rows · vecs fused multiply-adds. Each c[i, j] is acc = fma(a[i,
 * p], b[j, p], acc) for p = 0, 1, … from 0, whatever the tile, block or thread. */
#include <string.h>

#include "internal.h"

/** Rows of B per tile for `vecs` vectors of lanes: about 24 accumulators, enough chains to
 *  hide the FMA latency and few enough to leave registers for Aᵀ's vectors. */
#define SKINNY_TILE_ROWS(vecs)                                                                     \
    ((vecs) == 1 ? 16 : (vecs) == 2 ? 12 : (vecs) == 3 ? 8 : (vecs) == 4 ? 6 : (vecs) == 5 ? 5 : 4)

#if defined(__AVX512F__)
#include <immintrin.h>

/* Tile rows [0, ROWS) of `b` (row stride k) against Aᵀ (`at`, [k][16·VECS], 64-byte
 * aligned): ct[r][l] (row stride 16·VECS) = Σ_p at[p][l]·b[r, p], one fused multiply-add
 * per p in order from 0. `next`: floats to prefetch, ROWS a step (the tile's share of the
 * next rows of B, or NULL). VECS and ROWS are constants where this is inlined, so the
 * accumulators are registers and each b[r, p] an embedded broadcast. */
static inline __attribute__((always_inline)) void
skinny_tile(float *restrict ct, const float *restrict at, const float *restrict b, int k,
            const float *next, const int VECS, const int ROWS) {
    __m512 acc[16][DINO_SKINNY_PANEL_MAX_VECS];
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < VECS; v++) acc[r][v] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        const float *ap = at + (int64_t)p * 16 * VECS;
        if (next) __builtin_prefetch(next + (int64_t)p * ROWS, 0, 2);
        __m512 a[DINO_SKINNY_PANEL_MAX_VECS];
#pragma clang loop unroll(full)
        for (int v = 0; v < VECS; v++) a[v] = _mm512_load_ps(ap + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            __m512 bv = _mm512_set1_ps(b[(int64_t)r * k + p]);
#pragma clang loop unroll(full)
            for (int v = 0; v < VECS; v++) acc[r][v] = _mm512_fmadd_ps(a[v], bv, acc[r][v]);
        }
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < ROWS; r++)
#pragma clang loop unroll(full)
        for (int v = 0; v < VECS; v++) _mm512_storeu_ps(ct + (r * VECS + v) * 16, acc[r][v]);
}

/* Rows [0, 16·(rows / 16)) of dino_skinny_store, 16 × 16 blocks transposed in registers, so
 * that each row of C gets whole 64-byte stores (non-temporal ones when `stream` and the line
 * is aligned); returns the rows done. */
static int skinny_store_blocks(float *restrict c, int64_t ldc, const float *restrict ct, int vecs,
                               int lanes_used, int rows, const float *restrict scale, int stream) {
    int lanes = 16 * vecs, r0 = 0;
    for (; r0 + 16 <= rows; r0 += 16) {
        __m512 sv = scale ? _mm512_loadu_ps(scale + r0) : _mm512_setzero_ps();
        for (int v = 0; v < vecs && 16 * v < lanes_used; v++) {
            dino_v16 t[16];
            for (int q = 0; q < 16; q++) t[q] = *(const dino_v16 *)(ct + (r0 + q) * lanes + 16 * v);
            dino_transpose16(t);
            int count = lanes_used - 16 * v < 16 ? lanes_used - 16 * v : 16;
            for (int i = 0; i < count; i++) {
                float *ci = c + (16 * v + i) * ldc + r0;
                __m512 out = scale ? _mm512_mul_ps((__m512)t[i], sv) : (__m512)t[i];
                if (stream && ((uintptr_t)ci & 63) == 0)
                    _mm512_stream_ps(ci, out);
                else
                    _mm512_storeu_ps(ci, out);
            }
        }
    }
    return r0;
}

#else /* portable: the same sums, the lane loops left to the vectoriser (a·b + acc contracted
       * to one FMA by the build's -ffp-contract=fast) */

static inline __attribute__((always_inline)) void
skinny_tile(float *restrict ct, const float *restrict at, const float *restrict b, int k,
            const float *next, const int VECS, const int ROWS) {
    float acc[16][16 * DINO_SKINNY_PANEL_MAX_VECS];
    for (int r = 0; r < ROWS; r++)
        for (int l = 0; l < 16 * VECS; l++) acc[r][l] = 0;
    for (int p = 0; p < k; p++) {
        const float *ap = at + (int64_t)p * 16 * VECS;
        if (next) __builtin_prefetch(next + (int64_t)p * ROWS, 0, 2);
        for (int r = 0; r < ROWS; r++) {
            float bv = b[(int64_t)r * k + p];
            for (int l = 0; l < 16 * VECS; l++) acc[r][l] += ap[l] * bv;
        }
    }
    for (int r = 0; r < ROWS; r++)
        for (int l = 0; l < 16 * VECS; l++) ct[r * 16 * VECS + l] = acc[r][l];
}

static int skinny_store_blocks(float *restrict c, int64_t ldc, const float *restrict ct, int vecs,
                               int lanes_used, int rows, const float *restrict scale, int stream) {
    (void)c, (void)ldc, (void)ct, (void)vecs, (void)lanes_used, (void)rows, (void)scale;
    (void)stream;
    return 0;
}

#endif

void dino_skinny_store(float *restrict c, int64_t ldc, const float *restrict ct, int vecs,
                       int lanes_used, int rows, const float *restrict scale, int stream) {
    int lanes = 16 * vecs;
    int r0 = skinny_store_blocks(c, ldc, ct, vecs, lanes_used, rows, scale, stream);
    if (r0 == rows) return;
    for (int i = 0; i < lanes_used; i++) {
        float *ci = c + (int64_t)i * ldc;
        // Scalar: the strided reads of ct would become gathers, slower than these.
#pragma clang loop vectorize(disable)
        for (int r = r0; r < rows; r++)
            ci[r] = scale ? ct[r * lanes + i] * scale[r] : ct[r * lanes + i];
    }
}

/* Rows [0, rows) of a panel with VECS vectors: whole tiles, then 4-, 2- and 1-row tiles. */
static inline __attribute__((always_inline)) void
skinny_panel_vecs(float *restrict ct, const float *restrict at, const float *restrict b, int k,
                  int rows, const float *next, const int VECS) {
    const int tile = SKINNY_TILE_ROWS(VECS);
    int r = 0;
    for (; r + tile <= rows; r += tile)
        skinny_tile(ct + r * VECS * 16, at, b + (int64_t)r * k, k,
                    next ? next + (int64_t)r * k : NULL, VECS, tile);
    for (; r + 4 <= rows; r += 4)
        skinny_tile(ct + r * VECS * 16, at, b + (int64_t)r * k, k,
                    next ? next + (int64_t)r * k : NULL, VECS, 4);
    for (; r + 2 <= rows; r += 2)
        skinny_tile(ct + r * VECS * 16, at, b + (int64_t)r * k, k, NULL, VECS, 2);
    for (; r < rows; r++) skinny_tile(ct + r * VECS * 16, at, b + (int64_t)r * k, k, NULL, VECS, 1);
}

void dino_skinny_panel(float *restrict ct, const float *restrict at, int vecs,
                       const float *restrict b, int k, int rows, const float *next) {
    switch (vecs) {
    case 1: skinny_panel_vecs(ct, at, b, k, rows, next, 1); break;
    case 2: skinny_panel_vecs(ct, at, b, k, rows, next, 2); break;
    case 3: skinny_panel_vecs(ct, at, b, k, rows, next, 3); break;
    case 4: skinny_panel_vecs(ct, at, b, k, rows, next, 4); break;
    case 5: skinny_panel_vecs(ct, at, b, k, rows, next, 5); break;
    default: skinny_panel_vecs(ct, at, b, k, rows, next, 6); break;
    }
}

int dino_skinny_tile_rows(int vecs) { return SKINNY_TILE_ROWS(vecs); }

void dino_skinny_transpose_a(float *restrict at, const float *restrict a, int vecs, int k, int m0,
                             int m1) {
    int lanes = 16 * vecs;
    memset(at, 0, sizeof(float) * (size_t)k * (size_t)lanes);
    for (int i = m0; i < m1; i++)
        for (int p = 0; p < k; p++) at[(int64_t)p * lanes + i - m0] = a[(int64_t)i * k + p];
}

int dino_gemm_is_skinny(int m, int n, int k, int trans_a, int trans_b) {
    return !trans_a && trans_b && m <= DINO_SKINNY_MAX_M && n >= DINO_SKINNY_MIN_N &&
           k <= DINO_SKINNY_MAX_K;
}

void dino_gemm_skinny_block(float *restrict c, const float *restrict a, const float *restrict b,
                            int m, int n, int k, int m0, int m1, int n0, int n1) {
    // a is (m, k), b is (n, k), c is (m, n); rows [m0, m1) and columns [n0, n1) of c. A is
    // transposed once into `at` (k × 16 or 32 floats, on this thread's stack, in L1 for the
    // head's k = 256), then each group of rows of B is read once from memory (the next
    // group prefetched meanwhile), its tile staged in `ct` and written to C's columns.
    (void)m;
    _Alignas(64) float at[DINO_SKINNY_MAX_K * DINO_SKINNY_MAX_M];
    _Alignas(64) float ct[64 * DINO_SKINNY_MAX_M];
    int vecs = m1 - m0 <= 16 ? 1 : 2, step = vecs == 1 ? 64 : 48;
    dino_skinny_transpose_a(at, a, vecs, k, m0, m1);
    for (int j = n0; j < n1; j += step) {
        int rows = n1 - j < step ? n1 - j : step;
        const float *bj = b + (int64_t)j * k;
        const float *next = j + step + rows <= n1 ? bj + (int64_t)step * k : NULL;
        dino_skinny_panel(ct, at, vecs, bj, k, rows, next);
        dino_skinny_store(c + (int64_t)m0 * n + j, n, ct, vecs, m1 - m0, rows, NULL, 0);
    }
}
