/* linear_weight_norm.c — the weight-normalised linear layer (DINO's last layer, W = g·v/‖v‖
 * per row) folded into its GEMMs, so that W [N, K] is never stored: linear_weight_norm
 * (y = x·Wᵀ, each column scaled after its dot products) and linear_weight_norm_bwd (dx =
 * dy·W, dv and optionally dg written straight into their buffers). Family gemm in ops.def;
 * a file of its own, not gemm.c. Up to 96 rows of x (DINO's heads) the products run on
 * register tiles: the forward on gemm_skinny.c's panels with xᵀ as the vector lanes, the
 * backward on lwn_tiles.c's tiles; more rows take OpenBLAS sgemm (single-threaded,
 * threads.c) per block.
 *
 * Both kernels walk v in blocks of rows sized for L2 (`lwn_block_rows`, fixed by K alone):
 * a block's norms, its products and its per-row epilogue run while it is in cache, so v is
 * read from memory once. The OpenMP threads take whole blocks (forward) or whole chunks of
 * blocks (backward) in a partition that does not depend on the thread count, and the one
 * sum across blocks (dx) adds one partial per chunk in chunk order, so a result is
 * bitwise the same at any thread count. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lwn_tiles.h"
#include "shim.h"

/** Bytes of v per block: the block, its scaled copy and its rows of dv fit a 1 MiB L2. */
enum { lwn_block_bytes = 128 << 10 };
/** At most this many blocks (and dx partials) per backward: the parallelism it offers. */
enum { lwn_max_chunks = 16 };
/** The dx partials of one backward stay under this many bytes (fewer chunks when M·K is large). */
enum { lwn_partial_bytes = 2 << 20 };
/** Kernels below this many flops run on the calling thread (same partition, same bits). */
static const double lwn_serial_flops = 1 << 20;

/** Rows of v per block: lwn_block_bytes of v, a multiple of 16, between 16 and 4096. */
static int64_t lwn_block_rows(int64_t k) {
    int64_t rows = lwn_block_bytes / (4 * (k > 0 ? k : 1));
    rows = rows / 16 * 16;
    if (rows < 16) rows = 16;
    if (rows > 4096) rows = 4096;
    return rows;
}

/** Blocks of `rows` rows covering n. */
static int64_t lwn_blocks(int64_t n, int64_t rows) { return (n + rows - 1) / rows; }

/** Chunks of blocks the backward splits into: one partial of dx [m, k] each. */
static int64_t lwn_chunks(int64_t m, int64_t n, int64_t k) {
    int64_t blocks = lwn_blocks(n, lwn_block_rows(k));
    int64_t partial = 4 * (m > 0 ? m : 1) * (k > 0 ? k : 1);
    int64_t most = lwn_partial_bytes / partial;
    if (most < 1) most = 1;
    if (most > lwn_max_chunks) most = lwn_max_chunks;
    return blocks < most ? (blocks > 0 ? blocks : 1) : most;
}

/* The scales of rows [j0, j0 + jn) of v: rnorm_j = 1/‖v_j‖ and s_j = g_j·rnorm_j (no
 * epsilon, as weight_norm). */
static void lwn_scales(float *restrict s, float *restrict rnorm, const float *restrict v,
                       const float *restrict g, int64_t j0, int64_t jn, int64_t k) {
    for (int64_t j = 0; j < jn; j++) {
        const float *vj = v + (j0 + j) * k;
        float inv = 1.0f / dino_sqrtf(dino_dot(vj, vj, k));
        if (rnorm) rnorm[j] = inv;
        s[j] = g[j0 + j] * inv;
    }
}

/** The block kernels take x's rows as vector lanes (forward) or as broadcast tile rows
 *  (backward) up to this many rows; more take sgemm per block, and every count does
 *  without AVX-512F (the tiles' portable code is far slower than sgemm). */
#if defined(__AVX512F__)
enum { lwn_panel_max_m = 16 * DINO_SKINNY_PANEL_MAX_VECS };
#else
enum { lwn_panel_max_m = 0 };
#endif

/** Rows of v per staged panel of the forward for `vecs` vectors of lanes: a multiple of 16
 *  (whole transposed blocks) and of the panel's register tile. */
static int64_t lwn_panel_rows(int vecs) {
    static const int64_t rows[DINO_SKINNY_PANEL_MAX_VECS + 1] = {0, 32, 48, 32, 48, 80, 32};
    return rows[vecs];
}

/* Columns [j0, j0 + jn) of y = s_j·(x_i·v_j) for all rows of x, from Aᵀ = xᵀ (`at`, [k][16·
 * vecs]): skinny panels of a few register tiles each (gemm_skinny.c), each staged in `ct`
 * and written to y's columns with its scale, non-temporal stores (y is read again only
 * after the whole head; 1.19 → 1.24× main's kernel on one thread, measured). The block is
 * in cache: its norms just read it (prefetching the next block meanwhile measured no
 * faster). */
static void lwn_fwd_panels(float *restrict y, const float *restrict at, int vecs,
                           const float *restrict v, const float *restrict s, int64_t m,
                           int64_t n, int64_t k, int64_t j0, int64_t jn) {
    _Alignas(64) float ct[80 * 80];
    int64_t step = lwn_panel_rows(vecs);
    for (int64_t r0 = 0; r0 < jn; r0 += step) {
        int64_t rows = jn - r0 < step ? jn - r0 : step;
        dino_skinny_panel(ct, at, vecs, v + (j0 + r0) * k, (int)k, (int)rows, NULL);
        dino_skinny_store(y + j0 + r0, n, ct, vecs, (int)m, (int)rows, s + r0, 1);
    }
}

/** y = x·Wᵀ with W_j = g_j·v_j/‖v_j‖, as y_ij = s_j·(x_i·v_j). */
static void dino_linear_weight_norm_fwd(float *restrict y, const float *restrict x,
                                        const float *restrict v, const float *restrict g, int64_t m,
                                        int64_t n, int64_t k) {
    // x is (m, k), v is (n, k), g is (n, 1), y is (m, n). Block b covers rows [b·nb, …) of
    // v, that is columns of y: its norms, its products into y's columns, then the scale.
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        memset(y, 0, (size_t)(m * n) * sizeof(float));
        return;
    }
    int64_t nb = lwn_block_rows(k), blocks = lwn_blocks(n, nb);
    int parallel = 2.0 * (double)m * (double)n * (double)k >= lwn_serial_flops && blocks > 1;
    // Up to 96 rows of x (the student's and the teacher's heads): xᵀ once, shared, as the
    // lanes of the skinny panels, so that no block packs x again (k bounded: the panels
    // take an int).
    int vecs = (int)((m + 15) / 16);
    float *at = m <= lwn_panel_max_m && k <= (1 << 20)
                    ? aligned_alloc(64, (size_t)(k * 16 * vecs) * sizeof(float))
                    : NULL;
    if (at) dino_skinny_transpose_a(at, x, vecs, (int)k, 0, (int)m);
#pragma omp parallel if (parallel)
    {
#pragma omp for schedule(static) nowait
        for (int64_t b = 0; b < blocks; b++) {
            float s[4096];
            int64_t j0 = b * nb, jn = n - j0 < nb ? n - j0 : nb;
            lwn_scales(s, NULL, v, g, j0, jn, k);
            if (at) {
                lwn_fwd_panels(y, at, vecs, v, s, m, n, k, j0, jn);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)jn, (int)k, 1.0f,
                        x, (int)k, v + j0 * k, (int)k, 0.0f, y + j0, (int)n);
            for (int64_t i = 0; i < m; i++) {
                float *row = y + i * n + j0;
                for (int64_t j = 0; j < jn; j++) row[j] *= s[j];
            }
        }
        // The panels' non-temporal stores are weakly ordered: each thread drains its own.
        atomic_thread_fence(memory_order_seq_cst);
    }
    free(at);
}

/** Whether the backward runs on register tiles (lwn_tiles.c): up to 96 rows. */
static int lwn_bwd_on_tiles(int64_t m) { return m <= lwn_panel_max_m; }

/** Scratch floats per chunk of the backward before dx's partial: the block's scaled rows W
 *  (sgemm) or, on tiles, dy's block and dy⊙s (m × nb each; no more than W on the heads,
 *  2·m ≤ k). */
static int64_t lwn_work_floats(int64_t m, int64_t k) {
    int64_t nb = lwn_block_rows(k), w = nb * k;
    int64_t tiles = lwn_bwd_on_tiles(m) ? nb * 2 * m : 0;
    return w > tiles ? w : tiles;
}

/** Scratch floats per chunk of the backward: the work floats, then dx's partial (m × k). */
static int64_t lwn_chunk_floats(int64_t m, int64_t k) { return lwn_work_floats(m, k) + m * k; }

/** Scratch bytes dino_linear_weight_norm_bwd needs. */
static size_t dino_linear_weight_norm_bwd_scratch_bytes(int64_t m, int64_t n, int64_t k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    return (size_t)(lwn_chunks(m, n, k) * lwn_chunk_floats(m, k)) * sizeof(float);
}

/* Rows [j0, j0 + jn) of dv (and dg), given G's rows already there: dv_j = s_j·(G_j −
 * v_j·(v_j·G_j)/‖v_j‖²) by weight_norm_bwd_v's own row, dg_j = (v_j·G_j)/‖v_j‖. */
static void lwn_bwd_rows(float *restrict dv, float *restrict dg, const float *restrict v,
                         const float *restrict s, const float *restrict rnorm, int64_t j0,
                         int64_t jn, int64_t k) {
    for (int64_t j = 0; j < jn; j++) {
        float *dvj = dv + (j0 + j) * k;
        float dot = dino_weight_norm_bwd_v_row(dvj, dvj, v + (j0 + j) * k, s[j], rnorm[j], k);
        if (dg) dg[j0 + j] = dot * rnorm[j];
    }
}

/* Share t (`share` lines each) of a region of `lines` lines at `base` to prefetch. */
static struct lwn_prefetch lwn_share(const float *base, int64_t lines, int64_t share,
                                     int64_t t, int write) {
    int64_t count = lines - t * share < share ? lines - t * share : share;
    struct lwn_prefetch pf = {count > 0 ? base + t * share * 16 : NULL, count, write};
    return pf;
}

/* Block [j0, j0 + jn) of the backward on register tiles (m ≤ 96). dy's block and dy⊙s are
 * copied into `work` (m × jn each, contiguous: read in place at dy's row stride, G's tiles
 * ran 15 % slower, measured), then dx's partial (+)= (dy⊙s)[:, block]·v_block, 14 rows of
 * x at a time; then G's rows dy[:, block]ᵀ·x straight into dv, 14 rows of v at a time; x
 * and v read in place. Each element one chain of fused multiply-adds in order (dx's across
 * the chunk's blocks, continued from the partial). The weight-norm backward of each 14
 * rows of dv follows their tiles while they are in L1. */
static void lwn_bwd_tiles(float *restrict partial, float *restrict dv, float *restrict dg,
                          float *restrict work, const float *restrict dy,
                          const float *restrict x, const float *restrict v,
                          const float *restrict s, const float *restrict rnorm, int64_t m,
                          int64_t n, int64_t k, int64_t j0, int64_t jn, int accumulate) {
    float *dyb = work, *dys = work + m * jn;
    for (int64_t i = 0; i < m; i++) {
        const float *dyi = dy + i * n + j0;
        float *bi = dyb + i * jn, *si = dys + i * jn;
        memcpy(bi, dyi, (size_t)jn * sizeof(float));
        for (int64_t j = 0; j < jn; j++) si[j] = dyi[j] * s[j];
    }
    // The next block's rows of v (during dx's tiles) and of dv (during G's), a share per
    // call, one line per k step: the next block's norms and G's stores then find them in L2
    // (the backward 62 → 59 ms on one thread, measured; prefetching the forward's next block
    // the same way measured no faster).
    int64_t next = n - (j0 + jn) < jn ? n - (j0 + jn) : jn;
    int64_t lines = next > 0 ? next * k / 16 : 0;
    int64_t panels = (m + LWN_TILE_ROWS - 1) / LWN_TILE_ROWS;
    int64_t share = (lines + panels - 1) / panels;
    for (int64_t i0 = 0, t = 0; i0 < m; i0 += LWN_TILE_ROWS, t++) {
        int64_t rows = m - i0 < LWN_TILE_ROWS ? m - i0 : LWN_TILE_ROWS;
        struct lwn_prefetch pf = lwn_share(v + (j0 + jn) * k, lines, share, t, 0);
        dino_lwn_tiles(partial + i0 * k, k, dys + i0 * jn, jn, 1, v + j0 * k, k, (int)rows,
                       (int)k, (int)jn, accumulate, pf);
    }
    panels = (jn + LWN_TILE_ROWS - 1) / LWN_TILE_ROWS;
    share = (lines + panels - 1) / panels;
    for (int64_t r0 = 0, t = 0; r0 < jn; r0 += LWN_TILE_ROWS, t++) {
        int64_t rows = jn - r0 < LWN_TILE_ROWS ? jn - r0 : LWN_TILE_ROWS;
        struct lwn_prefetch pf = lwn_share(dv + (j0 + jn) * k, lines, share, t, 1);
        dino_lwn_tiles(dv + (j0 + r0) * k, k, dyb + r0, 1, jn, x, k, (int)rows, (int)k,
                       (int)m, 0, pf);
        lwn_bwd_rows(dv, dg, v, s + r0, rnorm + r0, j0 + r0, rows, k);
    }
}

/** dx = dy·W, dv (and dg when `dg` is not NULL) of y = x·Wᵀ, W = weight_norm(v, g). */
static void dino_linear_weight_norm_bwd(float *restrict dx, float *restrict dv, float *restrict dg,
                                        float *restrict scratch, const float *restrict dy,
                                        const float *restrict x, const float *restrict v,
                                        const float *restrict g, int64_t m, int64_t n, int64_t k) {
    // dy is (m, n), x and dx are (m, k), v and dv are (n, k), g and dg are (n, 1). Chunk c
    // takes blocks [blocks·c/chunks, blocks·(c+1)/chunks); per block: the scales, W's rows
    // (s_j·v_j) in the chunk's scratch, dx's partial += dy[:, block]·W_block, then G's rows
    // dy[:, block]ᵀ·x straight into dv and the weight-norm backward over them in place (up
    // to 96 rows, the same on register tiles: lwn_bwd_tiles).
    if (n <= 0 || k <= 0) {
        if (dg && n > 0) memset(dg, 0, (size_t)n * sizeof(float));
        if (m > 0 && k > 0) memset(dx, 0, (size_t)(m * k) * sizeof(float));
        return;
    }
    if (m <= 0) {
        memset(dv, 0, (size_t)(n * k) * sizeof(float));
        if (dg) memset(dg, 0, (size_t)n * sizeof(float));
        return;
    }
    int64_t nb = lwn_block_rows(k), blocks = lwn_blocks(n, nb);
    int64_t chunks = lwn_chunks(m, n, k), per = lwn_chunk_floats(m, k);
    int parallel = 4.0 * (double)m * (double)n * (double)k >= lwn_serial_flops && chunks > 1;
    // Up to 96 rows (the student's head): the products on register tiles over dy, x and v
    // read in place (lwn_tiles.c) instead of two sgemms packing x and the block each time.
    int tiles = lwn_bwd_on_tiles(m);
    int64_t work = lwn_work_floats(m, k);
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t c = 0; c < chunks; c++) {
        float s[4096], rnorm[4096];
        float *w = scratch + c * per, *partial = w + work;
        int64_t b0 = blocks * c / chunks, b1 = blocks * (c + 1) / chunks;
        for (int64_t b = b0; b < b1; b++) {
            int64_t j0 = b * nb, jn = n - j0 < nb ? n - j0 : nb;
            lwn_scales(s, rnorm, v, g, j0, jn, k);
            if (tiles) {
                lwn_bwd_tiles(partial, dv, dg, w, dy, x, v, s, rnorm, m, n, k, j0, jn, b > b0);
                continue;
            }
            for (int64_t j = 0; j < jn; j++) {
                const float *vj = v + (j0 + j) * k;
                float *wj = w + j * k;
                for (int64_t p = 0; p < k; p++) wj[p] = vj[p] * s[j];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)k, (int)jn, 1.0f,
                        dy + j0, (int)n, w, (int)k, b == b0 ? 0.0f : 1.0f, partial, (int)k);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)jn, (int)k, (int)m, 1.0f,
                        dy + j0, (int)n, x, (int)k, 0.0f, dv + j0 * k, (int)k);
            lwn_bwd_rows(dv, dg, v, s, rnorm, j0, jn, k);
        }
    }
    int64_t total = m * k;
#pragma omp parallel for schedule(static) if (parallel && total >= DINO_PAR_MIN)
    for (int64_t i = 0; i < total; i++) {
        float sum = scratch[work + i];
        for (int64_t c = 1; c < chunks; c++) sum += scratch[c * per + work + i];
        dx[i] = sum;
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_linear_weight_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *v = IN(1);
    dino_linear_weight_norm_fwd(F(OUT), F(x), F(v), F(IN(2)), x->shape[0], v->shape[0],
                                v->shape[1]);
}

void dino_run_linear_weight_norm_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *dy = IN(0), *v = IN(2);
    float *dg = ATTRS(linear_weight_norm_bwd).grad_g ? F(RESULT(2)) : NULL;
    dino_linear_weight_norm_bwd(F(OUT), F(RESULT(1)), dg, ctx->scratch, F(dy), F(IN(1)), F(v),
                                F(IN(3)), dy->shape[0], dy->shape[1], v->shape[1]);
}

size_t dino_scratch_linear_weight_norm_bwd(const struct dino_instr *ins,
                                           const struct dino_tensor *t) {
    const struct dino_tensor *dy = &t[ins->in[0]], *v = &t[ins->in[2]];
    return dino_linear_weight_norm_bwd_scratch_bytes(dy->shape[0], dy->shape[1], v->shape[1]);
}
