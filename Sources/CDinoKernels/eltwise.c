/* eltwise.c — broadcasting add/sub/mul/div, scale, exact GELU and its backward, log, exp.
 *
 * Binary ops view b's broadcast to a as [o, m, i] with b = [m] whenever b's non-1
 * dimensions form one contiguous run of a's (same shape, a trailing repeat such as a
 * bias, a per-row scalar, a scalar); anything else takes the strided path. Loops are
 * cut into one static chunk per thread, so every element is computed the same way
 * whatever the thread count. GELU uses the vectorisable dino_erff (internal.h). */
#include "internal.h"
#include "shim.h"

/** The binary ops: c = a ∘ b with b broadcast to a's shape (right-aligned); c may be a. */
typedef void (*dino_binary_fn)(float *c, const float *a, const float *b, const int64_t *shape_a,
                               int rank_a, const int64_t *shape_b, int rank_b);

enum dino_binary_op { DINO_BIN_ADD, DINO_BIN_SUB, DINO_BIN_MUL, DINO_BIN_DIV };

void dino_bcast_plan(struct dino_bcast *p, const int64_t *big, int rb, const int64_t *small,
                     int rs) {
    int off = rb - rs;
    int64_t stride = 1;
    p->rank = rb;
    for (int d = rb - 1; d >= 0; d--) {
        int64_t s = d >= off ? small[d - off] : 1;
        p->shape[d] = big[d];
        p->stride[d] = s == 1 ? 0 : stride;
        stride *= s;
    }
    // Dimensions of extent 1 in big don't matter; the rest must read
    // (broadcast)* (kept)* (broadcast)* for the [o, m, i] view.
    int phase = 0, simple = 1;
    int64_t o = 1, m = 1, i = 1;
    for (int d = 0; d < rb; d++) {
        if (big[d] == 1) continue;
        if (p->stride[d] != 0) {
            if (phase == 2) simple = 0;
            phase = 1;
            m *= big[d];
        } else if (phase == 0) {
            o *= big[d];
        } else {
            phase = 2;
            i *= big[d];
        }
    }
    if (m == 1) {
        i *= o;
        o = 1;
    }  // a scalar small: one run of length n
    p->simple = simple;
    p->o = o;
    p->m = m;
    p->i = i;
}

/* c[j] = a[j] ∘ b[j] for j < n (c may be a: `omp simd` keeps the in-place case
 * vectorised, which clang's runtime overlap check would send down the scalar loop). */
static inline void binary_vv(int op, float *c, const float *a, const float *b, int64_t n) {
    switch (op) {
    case DINO_BIN_ADD:
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] + b[j];
        break;
    case DINO_BIN_SUB:
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] - b[j];
        break;
    case DINO_BIN_MUL:
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] * b[j];
        break;
    default: _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] / b[j]; break;
    }
}

/* c[j] = a[j] ∘ s for j < n (c may be a). */
static inline void binary_vs(int op, float *c, const float *a, float s, int64_t n) {
    switch (op) {
    case DINO_BIN_ADD: _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] + s; break;
    case DINO_BIN_SUB: _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] - s; break;
    case DINO_BIN_MUL: _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] * s; break;
    default: _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = a[j] / s; break;
    }
}

static void binary(int op, float *c, const float *a, const float *b, const int64_t *shape_a,
                   int rank_a, const int64_t *shape_b, int rank_b) {
    // a and c are (shape_a); b is (shape_b), broadcast to shape_a right-aligned.
    struct dino_bcast p;
    dino_bcast_plan(&p, shape_a, rank_a, shape_b, rank_b);
    int64_t n = 1;
    for (int d = 0; d < rank_a; d++) n *= shape_a[d];
    int nch = dino_chunks(n);
    if (!p.simple) {
        // Strided: rows of a's last dimension, b's offset per row from its strides.
        int64_t len = shape_a[rank_a - 1], rows = len ? n / len : 0;
        int64_t sl = p.stride[rank_a - 1];
#pragma omp parallel for schedule(static) if (nch > 1)
        for (int64_t r = 0; r < rows; r++) {
            int64_t off = dino_bcast_row_offset(&p, r);
            if (sl)
                binary_vv(op, c + r * len, a + r * len, b + off, len);
            else
                binary_vs(op, c + r * len, a + r * len, b[off], len);
        }
        return;
    }
    int64_t m = p.m, in = p.i;
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int t = 0; t < nch; t++) {
        int64_t lo = n * t / nch, hi = n * (t + 1) / nch;
        if (m == 1) {
            binary_vs(op, c + lo, a + lo, b[0], hi - lo);
        } else if (in == 1) {
            // b repeats along a: c[o, j] = a[o, j] ∘ b[j]
            for (int64_t idx = lo, j = lo % m; idx < hi; j = 0) {
                int64_t len = m - j < hi - idx ? m - j : hi - idx;
                binary_vv(op, c + idx, a + idx, b + j, len);
                idx += len;
            }
        } else {
            // one b value per row of length in: c[o, j, i] = a[o, j, i] ∘ b[j]
            for (int64_t idx = lo, i = lo % in; idx < hi; i = 0) {
                int64_t len = in - i < hi - idx ? in - i : hi - idx;
                binary_vs(op, c + idx, a + idx, b[(idx / in) % m], len);
                idx += len;
            }
        }
    }
}

static void dino_add_fwd(float *c, const float *a, const float *b, const int64_t *shape_a,
                         int rank_a, const int64_t *shape_b, int rank_b) {
    binary(DINO_BIN_ADD, c, a, b, shape_a, rank_a, shape_b, rank_b);
}

static void dino_sub_fwd(float *c, const float *a, const float *b, const int64_t *shape_a,
                         int rank_a, const int64_t *shape_b, int rank_b) {
    binary(DINO_BIN_SUB, c, a, b, shape_a, rank_a, shape_b, rank_b);
}

static void dino_mul_fwd(float *c, const float *a, const float *b, const int64_t *shape_a,
                         int rank_a, const int64_t *shape_b, int rank_b) {
    binary(DINO_BIN_MUL, c, a, b, shape_a, rank_a, shape_b, rank_b);
}

static void dino_div_fwd(float *c, const float *a, const float *b, const int64_t *shape_a,
                         int rank_a, const int64_t *shape_b, int rank_b) {
    binary(DINO_BIN_DIV, c, a, b, shape_a, rank_a, shape_b, rank_b);
}

/** y = factor·x; y may be x. */
static void dino_scale_fwd(float *y, const float *x, int64_t n, float factor) {
    // x and y are (n); y may be x.
#pragma omp parallel for simd schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = factor * x[i];
}

/** y = x·Φ(x) = ½x(1 + erf(x/√2)), exact (erf) GELU. */
static void dino_gelu_fwd(float *restrict y, const float *restrict x, int64_t n) {
    // x and y are (n); y = ½x(1 + erf(x/√2)), the exact GELU (torch's default).
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = dino_gelu1(x[i]);
}

/** y = ln x (logf: correctly rounded in practice, exactly 0 at 1); y may be x. */
static void dino_log_fwd(float *y, const float *x, int64_t n) {
    // x and y are (n); y = ln x.
#pragma omp parallel for simd schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]);
}

/** y = eˣ (expf: exactly 1 at 0); y may be x. */
static void dino_exp_fwd(float *y, const float *x, int64_t n) {
    // x and y are (n); y = eˣ.
#pragma omp parallel for simd schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]);
}

/** dx = dy·(Φ(x) + x·φ(x)); dx may be dy. */
static void dino_gelu_bwd(float *dx, const float *dy, const float *x, int64_t n) {
    // dy, x and dx are (n); dx = dy·(Φ(x) + x·φ(x)); dx may be dy. Element i is read
    // before it is written, so dx == dy is safe to vectorise; `omp simd` says so (clang's
    // runtime overlap check otherwise sends the in-place case down the scalar loop, 25×
    // slower).
#pragma omp parallel for simd schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] = dino_gelu_bwd1(dy[i], x[i]);
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

static void run_binary(const struct dino_instr *ins, struct dino_exec_ctx *ctx, dino_binary_fn fn) {
    const struct dino_tensor *a = IN(0), *b = IN(1);
    fn(F(OUT), F(a), F(b), a->shape, a->rank, b->shape, b->rank);
}

void dino_run_add(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    run_binary(ins, ctx, dino_add_fwd);
}

void dino_run_sub(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    run_binary(ins, ctx, dino_sub_fwd);
}

void dino_run_mul(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    run_binary(ins, ctx, dino_mul_fwd);
}

void dino_run_div(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    run_binary(ins, ctx, dino_div_fwd);
}

void dino_run_scale(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_scale_fwd(F(OUT), F(IN(0)), numel(IN(0)), ATTRS(scale).factor);
}

void dino_run_gelu(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_gelu_fwd(F(OUT), F(IN(0)), numel(IN(0)));
}

void dino_run_log(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_log_fwd(F(OUT), F(IN(0)), numel(IN(0)));
}

void dino_run_exp(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_exp_fwd(F(OUT), F(IN(0)), numel(IN(0)));
}

void dino_run_gelu_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_gelu_bwd(F(OUT), F(IN(0)), F(IN(1)), numel(IN(0)));
}
