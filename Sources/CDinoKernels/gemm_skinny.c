/* gemm_skinny.c — C = A·Bᵀ for a few rows of A against very many rows of B (the teacher's
 * head: A the batch's [2·batch, bottleneck] features, B the [K, bottleneck] last layer),
 * where sgemm's packing and blocking cost more than streaming B once. gemm.c picks it by
 * shape alone (`dino_gemm_is_skinny`), for the fused and the unfused pipeline alike. */
#include "internal.h"

/** Rows of B done together: their dot products with one row of A share its loads. */
enum { skinny_rows = 8 };

/** Σ_p a[p]·b[p] over 16 interleaved partial sums then a halving tree, as `dino_dot`. */
static inline float reduce16(float acc[16]) {
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

int dino_gemm_is_skinny(int m, int n, int trans_a, int trans_b) {
    return !trans_a && trans_b && m <= DINO_SKINNY_MAX_M && n >= DINO_SKINNY_MIN_N;
}

void dino_gemm_skinny_block(float *restrict c, const float *restrict a, const float *restrict b,
                            int m, int n, int k, int m0, int m1, int n0, int n1) {
    (void)m;
    // a is (m, k), b is (n, k), c is (m, n); rows [m0, m1) and columns [n0, n1) of c. Every
    // c[i, j] is one dot
    // product in dino_dot's order, whichever block or thread computes it. Eight rows of B
    // (8·k floats, in L1 with A's m·k) meet each row of A in turn: B is read from memory once.
    int j = n0;
    for (; j + skinny_rows <= n1; j += skinny_rows) {
        const float *bj = b + (int64_t)j * k;
        for (int i = m0; i < m1; i++) {
            const float *ai = a + (int64_t)i * k;
            float acc[skinny_rows][16] = {{0}};
            int p = 0;
            for (; p + 16 <= k; p += 16)
                for (int r = 0; r < skinny_rows; r++)
                    for (int l = 0; l < 16; l++)
                        acc[r][l] += ai[p + l] * bj[(int64_t)r * k + p + l];
            for (int r = 0; r < skinny_rows; r++)
                for (int l = 0; p + l < k; l++) acc[r][l] += ai[p + l] * bj[(int64_t)r * k + p + l];
            float *ci = c + (int64_t)i * n + j;
            for (int r = 0; r < skinny_rows; r++) ci[r] = reduce16(acc[r]);
        }
    }
    for (; j < n1; j++)
        for (int i = m0; i < m1; i++)
            c[(int64_t)i * n + j] = dino_dot(a + (int64_t)i * k, b + (int64_t)j * k, k);
}
