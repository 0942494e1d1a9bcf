/* internal.h — helpers shared by the optimised kernels: thread counts, vectorisable
 * math (sqrt, exp; GELU is in gelu.h), fixed-order reductions, and the broadcast plan.
 * Not a public header: omp.h stays out of include/ so that Swift clients need no include
 * paths. */
#ifndef DINO_INTERNAL_H
#define DINO_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dino_kernels.h"

/** Element-wise loops smaller than this run on one thread (a parallel region costs ~1 µs). */
enum { DINO_PAR_MIN = 1 << 15 };

/** The OpenMP thread count kernels split work over (omp_get_max_threads()). */
int dino_threads(void);

/** Applies the count of dino_set_num_threads to the calling thread's OpenMP setting
 *  (omp_set_num_threads is per thread); dino_exec calls it first. */
void dino_threads_sync(void);

/** How many static chunks to split `work` elements into: 1 when small, else the thread count. */
static inline int dino_chunks(int64_t work) { return work < DINO_PAR_MIN ? 1 : dino_threads(); }

/* ---- 16-float vectors ------------------------------------------------------------------ */

/** 16 floats (clang's vector extension: AVX-512 here, whatever the target has elsewhere),
 *  loaded and stored without an alignment requirement. */
typedef float dino_v16 __attribute__((vector_size(64), aligned(4)));

/* Stage b of dino_transpose16 pairs rows r and r + 2^b (bit b of r clear) and swaps bit b of
 * the column index with bit b of the row index: lane i of the new row r is x[i] where bit b
 * of i is clear, else y[i − 2^b]; lane i of the new row r + 2^b is x[i + 2^b] where it is
 * clear, else y[i]. Lanes 16…31 of __builtin_shufflevector are y's; each index is a constant
 * expression, as the builtin needs. */
#define DINO_T16_LO(b, i) ((((i) >> (b)) & 1) ? (i) - (1 << (b)) + 16 : (i))
#define DINO_T16_HI(b, i) ((((i) >> (b)) & 1) ? (i) + 16 : (i) + (1 << (b)))
#define DINO_T16_LANES(f, b)                                                                   \
    f(b, 0), f(b, 1), f(b, 2), f(b, 3), f(b, 4), f(b, 5), f(b, 6), f(b, 7), f(b, 8), f(b, 9),  \
        f(b, 10), f(b, 11), f(b, 12), f(b, 13), f(b, 14), f(b, 15)
#define DINO_T16_STAGE(m, b)                                                                   \
    for (int r = 0; r < 16; r++) {                                                             \
        if (r & (1 << (b))) continue;                                                          \
        dino_v16 x = (m)[r], y = (m)[r + (1 << (b))];                                          \
        (m)[r] = __builtin_shufflevector(x, y, DINO_T16_LANES(DINO_T16_LO, b));                \
        (m)[r + (1 << (b))] = __builtin_shufflevector(x, y, DINO_T16_LANES(DINO_T16_HI, b));   \
    }

/** Transposes the 16 × 16 block m in registers (row r of the block in m[r]): stage b swaps
 *  bit b of the row index with bit b of the column index, between rows r and r + 2^b. The
 *  attention's kᵀ/vᵀ copies and the skinny GEMM's stores of C share it. */
__attribute__((always_inline)) static inline void dino_transpose16(dino_v16 m[16]) {
    DINO_T16_STAGE(m, 0)
    DINO_T16_STAGE(m, 1)
    DINO_T16_STAGE(m, 2)
    DINO_T16_STAGE(m, 3)
}

/* ---- vectorisable math: no libm calls in hot loops (docs/PLATFORM.md §2) -------------- */

/** √x in float, correctly rounded like sqrtf but without errno, so loops calling it
 *  vectorise (vsqrtps); same bits as sqrtf for every x ≥ 0. */
static inline float dino_sqrtf(float x) {
#if __has_builtin(__builtin_elementwise_sqrt)
    return __builtin_elementwise_sqrt(x);
#else
    return sqrtf(x);
    /* ---- kernels more than one family calls ------------------------------------------- */

    /** y[b, gi·gw+gj, (c·p+i)·p+j] = x[b, c, gi·p+i, gj·p+j]. */
    void dino_patchify_fwd(float *restrict y, const float *restrict x, int batch, int channels,
                           int height, int width, int patch);

#endif
}

/** The Cephes exp core on a float or a vector of floats x (clang's vector extension): k =
 *  round(x·log2 e), r = x − k·ln 2 (ln 2 split in two, Cody–Waite) and p ≈ e^r, a degree-6
 *  polynomial, so e^x = p·2^k. dino_expf and the attention's 16-lane exp (attention_tiles.h)
 *  share it, so they round alike. */
#define DINO_EXP_CORE(x, k, r, p)                                                                  \
    do {                                                                                           \
        (k) = __builtin_elementwise_floor((x)*1.44269504088896341f + 0.5f);                        \
        (r) = (x) - (k)*0.693359375f;                                                              \
        (r) = (r) - (k) * -2.12194440e-4f;                                                         \
        (p) = 1.9875691500e-4f * (r) + 1.3981999507e-3f;                                           \
        (p) = (p) * (r) + 8.3334519073e-3f;                                                        \
        (p) = (p) * (r) + 4.1665795894e-2f;                                                        \
        (p) = (p) * (r) + 1.6666665459e-1f;                                                        \
        (p) = (p) * (r) + 5.0000001201e-1f;                                                        \
        (p) = (p) * (r) * (r) + (r) + 1.0f;                                                        \
    } while (0)

/** exp(x) in float, Cephes polynomial (~1 ulp). Below -87.3 it returns 0, above 88 it
 *  saturates at exp(88) (so the 2^k scale stays a normal float); NaN propagates. Inline and
 *  branch-free so that clang vectorises loops that call it. */
static inline float dino_expf(float xin) {
    float x = xin < -87.33654f ? -87.33654f : xin;
    x = x > 88.0f ? 88.0f : x;
    float k, r, p;
    DINO_EXP_CORE(x, k, r, p);
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return xin < -87.33654f ? 0.0f : p * scale;
}

/* ---- prefetch ------------------------------------------------------------------------ */

/** Asks for the lines of a rows × cols float rectangle (row stride ld) ahead of their use,
 *  `write` for lines about to be written: into L1 (`into_l1`: what the very next tile reads,
 *  e.g. gemm_tiled's C tile and epilogue operands) or into L2 only (a later work item's,
 *  e.g. the attention's next pair: into L1 they evicted the current pair's tiles, and the
 *  backward at N = 50 and 10 took 15–25 % longer, measured). Short rows far apart are more
 *  streams than the hardware prefetcher follows. __builtin_prefetch takes constants only,
 *  hence the four calls. */
static inline void dino_prefetch_rect(const float *p, int64_t ld, int rows, int cols, int write,
                                      int into_l1) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c += 16) {
            const float *line = p + r * ld + c;
            if (into_l1 && write)
                __builtin_prefetch(line, 1, 3);
            else if (into_l1)
                __builtin_prefetch(line, 0, 3);
            else if (write)
                __builtin_prefetch(line, 1, 2);
            else
                __builtin_prefetch(line, 0, 2);
        }
}

/* ---- fixed-order reductions: 16 interleaved float partial sums ---------------------- */

/** Σ x[i], summed in a fixed order (independent of threads), vectorised. */
static inline float dino_sum(const float *x, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += x[i + j];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/** Σ x[i]·y[i] in a fixed order, vectorised. */
static inline float dino_dot(const float *x, const float *y, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j] * y[i + j];
    for (int j = 0; i + j < n; j++) acc[j] += x[i + j] * y[i + j];
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/** max x[i] (n ≥ 1), vectorised. */
static inline float dino_max(const float *x, int64_t n) {
    float acc[16];
    for (int j = 0; j < 16; j++) acc[j] = x[0];
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] = fmaxf(acc[j], x[i + j]);
    for (int j = 0; i + j < n; j++) acc[j] = fmaxf(acc[j], x[i + j]);
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] = fmaxf(acc[j], acc[j + w]);
    return acc[0];
}

/** y = softmax(x) over one row of n ≥ 1 (max, exp, fixed-order sum, multiply); y may be x.
 *  softmax.c's kernel and the fused attention share it, so they round alike. */
static inline void dino_softmax_row(float *y, const float *x, int64_t n) {
    float mx = dino_max(x, n);
#pragma omp simd
    for (int64_t j = 0; j < n; j++) y[j] = dino_expf(x[j] - mx);
    float inv = 1.0f / dino_sum(y, n);
#pragma omp simd
    for (int64_t j = 0; j < n; j++) y[j] *= inv;
}

/** Number of fixed row blocks a blocked reduction over `rows` uses (independent of threads). */
static inline int64_t dino_row_blocks(int64_t rows) { return rows < 64 ? rows : 64; }

/** Σ f(x) over n elements with a fixed partition into dino_row_blocks(n) blocks
 *  (parallel over blocks, blocks combined in order in double). `square` sums x². */
double dino_sum_blocked(const float *x, int64_t n, int square);

/** dst = src for n floats (no overlap), split over the threads when large. */
void dino_copy(float *dst, const float *src, int64_t n);

/** The skinny GEMM's bounds: A with at most this many rows ... */
#define DINO_SKINNY_MAX_M 32
/** ... against at least this many rows of B ... */
#define DINO_SKINNY_MIN_N 4096
/** ... of at most this many columns (Aᵀ, k × 32 floats, sits on the thread's stack). */
#define DINO_SKINNY_MAX_K 512

/** Whether a GEMM C = op(A)·op(B) runs on the skinny kernel: A not transposed with
 *  m ≤ DINO_SKINNY_MAX_M rows, B transposed ([n, k]) with n ≥ DINO_SKINNY_MIN_N and
 *  k ≤ DINO_SKINNY_MAX_K. */
int dino_gemm_is_skinny(int m, int n, int k, int trans_a, int trans_b);

/** Rows [m0, m1), columns [n0, n1) of C[m, n] = A[m, k]·B[n, k]ᵀ, each element summed over
 *  k in order by fused multiply-adds, so the result does not depend on how C is split
 *  (gemm_skinny.c). */
void dino_gemm_skinny_block(float *restrict c, const float *restrict a, const float *restrict b,
                            int m, int n, int k, int m0, int m1, int n0, int n1);

/** The most 16-float vectors of lanes (A's rows) a skinny panel takes: A of ≤ 96 rows. */
#define DINO_SKINNY_PANEL_MAX_VECS 6

/** Aᵀ for the skinny panels: at[p][i − m0] = a[i, p] for rows [m0, m1) of a (m, k), each
 *  row of `at` 16·vecs floats, zero past m1 − m0 (≤ 16·vecs). */
void dino_skinny_transpose_a(float *restrict at, const float *restrict a, int vecs, int k, int m0,
                             int m1);

/** Rows of B one register tile of a skinny panel with `vecs` vectors takes (16 … 4). */
int dino_skinny_tile_rows(int vecs);

/** ct[r][l] (rows of 16·vecs floats) = Σ_p at[p][l]·b[r, p] for the `rows` rows of b (row
 *  stride k), 1 ≤ vecs ≤ DINO_SKINNY_PANEL_MAX_VECS: each element fused multiply-adds over
 *  p = 0, 1, … in order from 0 (gemm_skinny.c). `next` (or NULL): as many rows of k floats,
 *  prefetched into L2 meanwhile. */
void dino_skinny_panel(float *restrict ct, const float *restrict at, int vecs,
                       const float *restrict b, int k, int rows, const float *next);

/** Writes a staged panel to C: c[i·ldc + r] = ct[r][i] (times scale[r] when scale is not
 *  NULL) for lanes i < lanes_used and rows r < rows (ct's rows 16·vecs floats, 64-byte
 *  aligned): 16 × 16 blocks transposed in registers, so each row of C gets whole 64-byte
 *  stores (gemm_skinny.c), non-temporal ones where aligned when `stream` (the caller then
 *  fences before C is read: atomic_thread_fence on each thread that wrote). */
void dino_skinny_store(float *restrict c, int64_t ldc, const float *restrict ct, int vecs,
                       int lanes_used, int rows, const float *restrict scale, int stream);

/** Row dv = s·(dw − v·(v·dw)·rnorm²) of weight_norm's backward for v (rnorm = 1/‖v‖,
 *  s = g·rnorm), n floats; dv may be dw (in place). Returns v·dw. weight_norm_bwd_v and
 *  the fused linear_weight_norm_bwd share it, so both round alike. */
static inline float dino_weight_norm_bwd_v_row(float *dv, const float *dw, const float *v, float s,
                                               float rnorm, int64_t n) {
    float dot = dino_dot(v, dw, n);
    float proj = dot * rnorm * rnorm;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) dv[j] = s * (dw[j] - v[j] * proj);
    return dot;
}

/* ---- broadcasting ------------------------------------------------------------------- */

/** How a small shape broadcasts to a big one. When `simple`, the big tensor is viewed as
 *  [o, m, i] and the small one as [m] (broadcast over o and i); otherwise use strides. */
struct dino_bcast {
    int simple; /**< 1: the [o, m, i] view applies */
    int64_t o, m, i; /**< the view's extents */
    int rank; /**< rank of big (for the strided path) */
    int64_t shape[6]; /**< big's extents */
    int64_t stride[6]; /**< small's element strides per big dim (0: broadcast) */
};

/** Plans the broadcast of `small` (rank rs) to `big` (rank rb), right-aligned. The
 *  shapes must already be known to broadcast. */
void dino_bcast_plan(struct dino_bcast *p, const int64_t *big, int rb, const int64_t *small,
                     int rs);

/** Offset into the small tensor of the element whose big flat index is `row`·shape[last]
 *  (the first element of a row of the last dimension). */
static inline int64_t dino_bcast_row_offset(const struct dino_bcast *p, int64_t row) {
    int64_t off = 0;
    for (int d = p->rank - 2; d >= 0; d--) {
        int64_t idx = row % p->shape[d];
        row /= p->shape[d];
        off += idx * p->stride[d];
    }
    return off;
}

/* ---- kernels more than one family calls ------------------------------------------- */

/** y[b, gi·gw+gj, (c·p+i)·p+j] = x[b, c, gi·p+i, gj·p+j]. */
void dino_patchify_fwd(float *restrict y, const float *restrict x, int batch, int channels,
                       int height, int width, int patch);

#endif
