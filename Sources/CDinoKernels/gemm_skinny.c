/* gemm_skinny.c — C = A·Bᵀ for a few rows of A against very many rows of B (the teacher's
 * head: A the batch's [2·batch, bottleneck] features, B the [K, bottleneck] last layer),
 * where sgemm's packing and blocking cost more than streaming B once. gemm.c picks it by
 * shape alone (`dino_gemm_is_skinny`), for the fused and the unfused pipeline alike. */
#include <string.h>

#include "internal.h"

/** Rows of B done together: eight independent accumulator chains hide the FMA latency. */
enum { skinny_rows = 8 };

int dino_gemm_is_skinny(int m, int n, int k, int trans_a, int trans_b) {
    return !trans_a && trans_b && m <= DINO_SKINNY_MAX_M && n >= DINO_SKINNY_MIN_N &&
           k <= DINO_SKINNY_MAX_K;
}

/* Rows [j0, j1) of B against Aᵀ (`at`, [k][lanes], A's rows as the lanes, zero-padded):
 * c[i, j] = Σ_p a[i, p]·b[j, p], summed p = 0, 1, … one fused multiply-add after another,
 * whether j is in a group of eight or alone. `lanes` (16 or 32) is a constant where this is
 * inlined, so the lane loops are whole vectors. */
static inline __attribute__((always_inline)) void
skinny_columns(float *restrict c, const float *restrict at, const float *restrict b, int lanes,
               int m0, int m1, int n, int k, int j0, int j1) {
    int j = j0;
    for (; j + skinny_rows <= j1; j += skinny_rows) {
        float acc[skinny_rows][32] = {{0}};
        const float *bj = b + (int64_t)j * k;
        // The next group's rows (8·k contiguous floats), a line every other p: eight rows
        // read a float at a time are more streams than the hardware prefetcher follows
        // (measured: the head's GEMM 7.6 → 5.5 ms at 2 threads).
        const float *next = j + 2 * skinny_rows <= j1 ? bj + (int64_t)skinny_rows * k : bj;
        for (int p = 0; p < k; p++) {
            const float *ap = at + (int64_t)p * lanes;
            __builtin_prefetch(next + 8 * (int64_t)p);
            for (int r = 0; r < skinny_rows; r++) {
                float bv = bj[(int64_t)r * k + p];
                for (int l = 0; l < lanes; l++) acc[r][l] += ap[l] * bv;
            }
        }
        for (int r = 0; r < skinny_rows; r++)
            for (int i = m0; i < m1; i++) c[(int64_t)i * n + j + r] = acc[r][i];
    }
    for (; j < j1; j++) {
        float acc[32] = {0};
        const float *bj = b + (int64_t)j * k;
        for (int p = 0; p < k; p++)
            for (int l = 0; l < lanes; l++) acc[l] += at[(int64_t)p * lanes + l] * bj[p];
        for (int i = m0; i < m1; i++) c[(int64_t)i * n + j] = acc[i];
    }
}

void dino_gemm_skinny_block(float *restrict c, const float *restrict a, const float *restrict b,
                            int m, int n, int k, int m0, int m1, int n0, int n1) {
    // a is (m, k), b is (n, k), c is (m, n); rows [m0, m1) and columns [n0, n1) of c. A is
    // transposed once into `at` (k × 16 or 32 floats, on this thread's stack, in L1 for the
    // head's k = 256), then each row of B is read once from memory and meets every row of A
    // at once: no horizontal sums, and each c[i, j] has one order whichever block or thread
    // computes it.
    float at[DINO_SKINNY_MAX_K * DINO_SKINNY_MAX_M];
    int lanes = m <= 16 ? 16 : 32;
    memset(at, 0, sizeof(float) * (size_t)k * (size_t)lanes);
    for (int i = m0; i < m1; i++)
        for (int p = 0; p < k; p++) at[(int64_t)p * lanes + i] = a[(int64_t)i * k + p];
    if (lanes == 16)
        skinny_columns(c, at, b, 16, m0, m1, n, k, n0, n1);
    else
        skinny_columns(c, at, b, 32, m0, m1, n, k, n0, n1);
}
