/* reduce.c — reduce_sum, reduce_mean (one axis), sum_to (the adjoint of broadcasting) and
 * all_reduce_sum (the sum over the processes of a data-parallel run). Every output element
 * is summed in a fixed order by one thread, or, for long reductions, over a fixed
 * partition into row blocks whose partials are added in block order: results never depend
 * on the thread count. */
#include <string.h>

#include "internal.h"
#include "shim.h"

/** Columns per work unit when a reduction runs across columns. */
enum { DINO_COL_CHUNK = 256 };

/** sum_to uses row blocks (scratch partials) from this many reduced rows on. */
enum { DINO_SUM_TO_BLOCKED_ROWS = 128 };

double dino_sum_blocked(const float *x, int64_t n, int square) {
    // x is (n); blocks of n/dino_row_blocks(n) elements, partial sums added in order.
    int64_t blocks = dino_row_blocks(n);
    double partial[64];
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        const float *xb = x + n * b / blocks;
        int64_t len = n * (b + 1) / blocks - n * b / blocks;
        partial[b] = square ? dino_dot(xb, xb, len) : dino_sum(xb, len);
    }
    double total = 0.0;
    for (int64_t b = 0; b < blocks; b++) total += partial[b];
    return total;
}

/* y[o, i] = scale · Σ_l x[o, l, i]. */
static void reduce_axis(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                        int64_t inner, float scale) {
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * len >= DINO_PAR_MIN)
        for (int64_t o = 0; o < outer; o++) y[o] = dino_sum(x + o * len, len) * scale;
        return;
    }
    int64_t chunks = (inner + DINO_COL_CHUNK - 1) / DINO_COL_CHUNK;
    int64_t units = outer * chunks;
#pragma omp parallel for schedule(static) if (outer * len * inner >= DINO_PAR_MIN)
    for (int64_t u = 0; u < units; u++) {
        int64_t o = u / chunks, i0 = (u % chunks) * DINO_COL_CHUNK;
        int64_t i1 = i0 + DINO_COL_CHUNK < inner ? i0 + DINO_COL_CHUNK : inner;
        float *yo = y + o * inner;
        const float *xo = x + o * len * inner;
        for (int64_t i = i0; i < i1; i++) yo[i] = 0.0f;
        for (int64_t l = 0; l < len; l++)
            for (int64_t i = i0; i < i1; i++) yo[i] += xo[l * inner + i];
        for (int64_t i = i0; i < i1; i++) yo[i] *= scale;
    }
}

/** y[o, i] = Σ_l x[o, l, i]. */
static void dino_reduce_sum_fwd(float *restrict y, const float *restrict x, int64_t outer,
                                int64_t len, int64_t inner) {
    // x is (outer, len, inner), y is (outer, inner).
    reduce_axis(y, x, outer, len, inner, 1.0f);
}

/** y[o, i] = Σ_l x[o, l, i] / len. */
static void dino_reduce_mean_fwd(float *restrict y, const float *restrict x, int64_t outer,
                                 int64_t len, int64_t inner) {
    // x is (outer, len, inner), y is (outer, inner).
    reduce_axis(y, x, outer, len, inner, len > 0 ? 1.0f / (float)len : NAN);
}

/* Whether sum_to of the [o, m, 1] view takes the blocked path (and needs scratch). */
static int sum_to_blocked(const struct dino_bcast *p) {
    return p->simple && p->m > 1 && p->i == 1 && p->o >= DINO_SUM_TO_BLOCKED_ROWS;
}

/** Scratch bytes dino_sum_to_fwd needs. */
static size_t dino_sum_to_scratch_bytes(const int64_t *shape_x, int rank_x, const int64_t *shape_y,
                                        int rank_y) {
    struct dino_bcast p;
    dino_bcast_plan(&p, shape_x, rank_x, shape_y, rank_y);
    if (!sum_to_blocked(&p)) return 0;
    return (size_t)dino_row_blocks(p.o) * (size_t)p.m * sizeof(float);
}

/** y (shape_y) = x (shape_x) summed over the dimensions where y broadcasts to x. */
static void dino_sum_to_fwd(float *restrict y, float *restrict scratch, const float *restrict x,
                            const int64_t *shape_x, int rank_x, const int64_t *shape_y,
                            int rank_y) {
    // x is (shape_x), y is (shape_y); y broadcasts to x, and y sums x over the broadcast
    // dimensions. Viewed as x (o, m, i) → y (m) whenever possible.
    struct dino_bcast p;
    dino_bcast_plan(&p, shape_x, rank_x, shape_y, rank_y);
    int64_t n = 1, ny = 1;
    for (int d = 0; d < rank_x; d++) n *= shape_x[d];
    for (int d = 0; d < rank_y; d++) ny *= shape_y[d];
    if (n == 0) {
        memset(y, 0, (size_t)ny * sizeof(float));
        return;
    }
    if (p.simple && p.m == 1) {
        y[0] = (float)dino_sum_blocked(x, n, 0);
    } else if (sum_to_blocked(&p)) {
        // Column sums of a tall (o, m) matrix (a bias gradient): fixed row blocks.
        int64_t blocks = dino_row_blocks(p.o), m = p.m;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
        for (int64_t b = 0; b < blocks; b++) {
            float *acc = scratch + b * m;
            int64_t r0 = p.o * b / blocks, r1 = p.o * (b + 1) / blocks;
            memcpy(acc, x + r0 * m, (size_t)m * sizeof(float));
            for (int64_t r = r0 + 1; r < r1; r++)
                for (int64_t j = 0; j < m; j++) acc[j] += x[r * m + j];
        }
        memcpy(y, scratch, (size_t)m * sizeof(float));
        for (int64_t b = 1; b < blocks; b++)
            for (int64_t j = 0; j < m; j++) y[j] += scratch[b * m + j];
    } else if (p.simple && p.i == 1) {
        // Column sums of a short (o, m) matrix, columns split over threads.
        int64_t m = p.m, chunks = (m + DINO_COL_CHUNK - 1) / DINO_COL_CHUNK;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
        for (int64_t c = 0; c < chunks; c++) {
            int64_t j0 = c * DINO_COL_CHUNK, j1 = j0 + DINO_COL_CHUNK < m ? j0 + DINO_COL_CHUNK : m;
            for (int64_t j = j0; j < j1; j++) y[j] = x[j];
            for (int64_t r = 1; r < p.o; r++)
                for (int64_t j = j0; j < j1; j++) y[j] += x[r * m + j];
        }
    } else if (p.simple) {
        // y[j] = Σ_o Σ_i x[o, j, i]: row sums, one output per iteration.
        int64_t m = p.m, in = p.i;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
        for (int64_t j = 0; j < m; j++) {
            float s = 0.0f;
            for (int64_t o = 0; o < p.o; o++) s += dino_sum(x + (o * m + j) * in, in);
            y[j] = s;
        }
    } else {
        // Interleaved kept and summed dimensions: one sequential scatter-add pass.
        int64_t len = shape_x[rank_x - 1], rows = n / len, sl = p.stride[rank_x - 1];
        memset(y, 0, (size_t)ny * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            int64_t off = dino_bcast_row_offset(&p, r);
            const float *xr = x + r * len;
            if (sl) {
                for (int64_t j = 0; j < len; j++) y[off + j] += xr[j];
            } else {
                y[off] += dino_sum(xr, len);
            }
        }
    }
}

/** y = the element-wise sum of x[0..n) over the processes of a data-parallel run: y = x,
 *  then `sum` (the communicator the runtime registered; NULL when the process runs alone)
 *  adds the other processes' values in place. y may be x. */
static void dino_all_reduce_sum_fwd(float *y, const float *x, int64_t n,
                                    dino_rank_sum_fn sum, void *user) {
    if (y != x) memcpy(y, x, (size_t)n * sizeof(float));
    if (sum) sum(y, n, user);
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_reduce_sum(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t outer, len, inner;
    around_axis(IN(0), ATTRS(reduce_sum).axis, &outer, &len, &inner);
    dino_reduce_sum_fwd(F(OUT), F(IN(0)), outer, len, inner);
}

void dino_run_reduce_mean(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t outer, len, inner;
    around_axis(IN(0), ATTRS(reduce_mean).axis, &outer, &len, &inner);
    dino_reduce_mean_fwd(F(OUT), F(IN(0)), outer, len, inner);
}

void dino_run_sum_to(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *y = OUT;
    dino_sum_to_fwd(F(y), ctx->scratch, F(x), x->shape, x->rank, y->shape, y->rank);
}

size_t dino_scratch_sum_to(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *x = &t[ins->in[0]], *y = &t[ins->out];
    return dino_sum_to_scratch_bytes(x->shape, x->rank, y->shape, y->rank);
}

void dino_run_all_reduce_sum(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_all_reduce_sum_fwd(F(OUT), F(IN(0)), numel(IN(0)), ctx->rank_sum, ctx->rank_sum_user);
}
