/* softmax.c — softmax and log_softmax over the last axis, and their backward ops; DINO's
 * cross-entropy (`dino_cross_entropy`) and its closed-form gradient.
 * Each row is one thread's work; exponentials use the vectorisable dino_expf. All four
 * may run in place (result in operand 0's buffer): each row reads what it needs before
 * it writes. The element-wise loops carry `omp simd`: in place, clang's runtime overlap
 * check would otherwise send them down the scalar path (scalar dino_expf). */
#include "internal.h"
#include "shim.h"

/** y = softmax(x) per row. */
static void dino_softmax_fwd(float *y, const float *x, int64_t rows, int64_t cols) {
    // x and y are (rows, cols); y may be x.
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) dino_softmax_row(y + r * cols, x + r * cols, cols);
}

/** dx = y·(dy − Σ dy·y) per row. */
static void dino_softmax_bwd(float *dx, const float *dy, const float *y, int64_t rows,
                             int64_t cols) {
    // dy, y and dx are (rows, cols); dx = y·(dy − Σ dy·y); dx may be dy.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        float s = dino_dot(dyr, yr, cols);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - s);
    }
}

/** y = x − max − log Σ exp(x − max) per row. */
static void dino_log_softmax_fwd(float *y, const float *x, int64_t rows, int64_t cols) {
    // x and y are (rows, cols); y = x − max − log Σ exp(x − max); y may be x.
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = dino_max(xr, cols);
        float acc[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16)
            for (int j = 0; j < 16; j++) acc[j] += dino_expf(xr[i + j] - mx);
        for (int j = 0; i + j < cols; j++) acc[j] += dino_expf(xr[i + j] - mx);
        for (int w = 8; w >= 1; w /= 2)
            for (int j = 0; j < w; j++) acc[j] += acc[j + w];
        float shift = mx + logf(acc[0]);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] - shift;
    }
}

/** dx = dy − exp(y)·Σ dy per row. */
static void dino_log_softmax_bwd(float *dx, const float *dy, const float *y, int64_t rows,
                                 int64_t cols) {
    // dy, y and dx are (rows, cols), y = log_softmax(x); dx = dy − exp(y)·Σ dy; dx may be dy.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        float s = dino_sum(dyr, cols);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dxr[j] = dyr[j] - dino_expf(yr[j]) * s;
    }
}

/* ---- dino_cross_entropy: DINO's loss over all (teacher, student) view pairs ---------- */

/** Elements of a student row scanned per chunk: the chunk's max is taken first, then its
 *  sums, while it is still in L1, so each row is read from memory once. */
enum { DINO_XENT_CHUNK = 2048 };

/** What one pass over a student row x = scale·s gives: its max, log Σ exp(x − max) and,
 *  per teacher row q (a, b), Σ q·(x − max) and Σ q. */
struct dino_xent_row {
    float max;
    double lse, dot[2], mass[2];
};

/** The 16 float lanes of a chunk's sums: Σ exp(x − max), Σ q·(x − max), Σ q per teacher row. */
struct dino_xent_lanes {
    float e[16], d0[16], d1[16], m0[16], m1[16];
};

/** Adds `width` ≤ 16 elements to the lanes (x = scale·s − max); inlined with width 16 it
 *  is the vectorised body, with the remainder the tail. */
static inline void dino_xent_add(struct dino_xent_lanes *l, const float *s, const float *qa,
                                 const float *qb, int width, float scale, float mx, int with_q) {
    for (int j = 0; j < width; j++) {
        float x = s[j] * scale - mx;
        l->e[j] += dino_expf(x);
        if (with_q) {
            l->d0[j] += qa[j] * x;
            l->d1[j] += qb[j] * x;
            l->m0[j] += qa[j];
            l->m1[j] += qb[j];
        }
    }
}

/** One pass over the row s (n ≥ 1) with a running max: each chunk's max, then the running
 *  sums moved to the new max (Σ exp scales by exp(old − new), Σ q·(x − max) drops
 *  (new − old)·Σ q), then the chunk's sums in 16 float lanes added to doubles in a fixed
 *  order. With `with_q` 0 only the max and the log-sum-exp are computed (qa, qb unread). */
static inline void dino_xent_scan(struct dino_xent_row *o, const float *s, const float *qa,
                                  const float *qb, int64_t n, float scale, int with_q) {
    float mx = -INFINITY;
    double sum = 0.0, dot0 = 0.0, dot1 = 0.0, mass0 = 0.0, mass1 = 0.0;
    for (int64_t c0 = 0; c0 < n; c0 += DINO_XENT_CHUNK) {
        int64_t len = n - c0 < DINO_XENT_CHUNK ? n - c0 : DINO_XENT_CHUNK;
        const float *sc = s + c0;
        const float *qac = with_q ? qa + c0 : NULL, *qbc = with_q ? qb + c0 : NULL;
        float cm = dino_max(sc, len) * scale; /* scale > 0: max(scale·s) = scale·max(s) */
        if (cm > mx) {
            if (c0 > 0) {
                double shift = (double)cm - (double)mx;
                sum *= exp(-shift);
                dot0 -= shift * mass0;
                dot1 -= shift * mass1;
            }
            mx = cm;
        }
        struct dino_xent_lanes l = {{0}};
        int64_t i = 0;
        for (; i + 16 <= len; i += 16)
            dino_xent_add(&l, sc + i, with_q ? qac + i : NULL, with_q ? qbc + i : NULL, 16, scale,
                          mx, with_q);
        dino_xent_add(&l, sc + i, with_q ? qac + i : NULL, with_q ? qbc + i : NULL, (int)(len - i),
                      scale, mx, with_q);
        for (int j = 0; j < 16; j++) {
            sum += l.e[j];
            if (with_q) {
                dot0 += l.d0[j];
                dot1 += l.d1[j];
                mass0 += l.m0[j];
                mass1 += l.m1[j];
            }
        }
    }
    o->max = mx;
    o->lse = log(sum);
    o->dot[0] = dot0;
    o->dot[1] = dot1;
    o->mass[0] = mass0;
    o->mass[1] = mass1;
}

/** The loss: mean over the 2V − 2 pairs of mean_b −Σ_k q[a·B+b]·log_softmax(scale·s[v·B+b]).
 *  Row r = v·B + b of s (rows = V·B) meets teacher row 1 − v (v < 2) or both (v ≥ 2);
 *  −Σ q·log_softmax = −(Σ q·(x − max) − lse·Σ q). Rows are split into a fixed partition of
 *  row blocks (dino_row_blocks), each summed in row order on one thread, the partials added
 *  in block order: the value is the same for every thread count. */
static void dino_dino_cross_entropy_fwd(float *loss, const float *s, const float *q, int64_t rows,
                                        int64_t batch, int64_t cols, float scale) {
    // s is (rows, cols) with rows = views·batch, q is (2·batch, cols), loss is one float.
    int64_t views = rows / batch, pairs = 2 * views - 2;
    int64_t blocks = dino_row_blocks(rows);
    double partial[64];
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t blk = 0; blk < blocks; blk++) {
        double acc = 0.0;
        for (int64_t r = rows * blk / blocks; r < rows * (blk + 1) / blocks; r++) {
            int64_t v = r / batch, b = r % batch;
            const float *q0 = q + b * cols, *q1 = q + (batch + b) * cols;
            const float *qa = v == 1 ? q0 : q1, *qb = v >= 2 ? q0 : qa;
            struct dino_xent_row o;
            dino_xent_scan(&o, s + r * cols, qa, qb, cols, scale, 1);
            acc -= o.dot[0] - o.lse * o.mass[0];
            if (v >= 2) acc -= o.dot[1] - o.lse * o.mass[1];
        }
        partial[blk] = acc;
    }
    double total = 0.0;
    for (int64_t blk = 0; blk < blocks; blk++) total += partial[blk];
    *loss = (float)(total / ((double)pairs * (double)batch));
}

/** ds[v·B+b] = dy·scale·(n_v·softmax(scale·s[v·B+b]) − Σ_{a≠v} q[a·B+b]) / ((2V − 2)·B),
 *  n_v = 1 for the global views (v < 2), 2 for the others; per row one pass for the max
 *  and log-sum-exp, one that writes. */
static void dino_dino_cross_entropy_bwd(float *restrict ds, float dy, const float *restrict s,
                                        const float *restrict q, int64_t rows, int64_t batch,
                                        int64_t cols, float scale) {
    // s and ds are (rows, cols) with rows = views·batch, q is (2·batch, cols).
    int64_t views = rows / batch, pairs = 2 * views - 2;
    float c = (float)((double)dy * (double)scale / ((double)pairs * (double)batch));
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t v = r / batch, b = r % batch;
        const float *sr = s + r * cols;
        const float *q0 = q + b * cols, *q1 = q + (batch + b) * cols;
        float *dr = ds + r * cols;
        struct dino_xent_row o;
        dino_xent_scan(&o, sr, NULL, NULL, cols, scale, 0);
        float shift = (float)((double)o.max + o.lse);
        if (v < 2) {
            const float *qa = v == 1 ? q0 : q1;
#pragma omp simd
            for (int64_t j = 0; j < cols; j++)
                dr[j] = c * (dino_expf(sr[j] * scale - shift) - qa[j]);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++)
                dr[j] = c * (2.0f * dino_expf(sr[j] * scale - shift) - (q0[j] + q1[j]));
        }
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_softmax_fwd(F(OUT), F(IN(0)), rows, cols);
}

void dino_run_log_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_log_softmax_fwd(F(OUT), F(IN(0)), rows, cols);
}

void dino_run_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_softmax_bwd(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
}

void dino_run_log_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_log_softmax_bwd(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
}

void dino_run_dino_cross_entropy(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *s = IN(0), *q = IN(1);
    dino_dino_cross_entropy_fwd(F(OUT), F(s), F(q), s->shape[0], q->shape[0] / 2, s->shape[1],
                                ATTRS(dino_cross_entropy).scale);
}

void dino_run_dino_cross_entropy_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *s = IN(1), *q = IN(2);
    dino_dino_cross_entropy_bwd(F(OUT), F(IN(0))[0], F(s), F(q), s->shape[0], q->shape[0] / 2,
                                s->shape[1], ATTRS(dino_cross_entropy_bwd).scale);
}
