/* eltwise.c — broadcasting add/sub/mul/div, scale, exact GELU and its backward, log, exp,
 * and eltwise_chain, a fused program of them run block by block.
 *
 * Binary ops view b's broadcast to a as [o, m, i] with b = [m] whenever b's non-1
 * dimensions form one contiguous run of a's (same shape, a trailing repeat such as a
 * bias, a per-row scalar, a scalar); anything else takes the strided path. Loops are
 * cut into one static chunk per thread, so every element is computed the same way
 * whatever the thread count. GELU and its derivative are gelu.h's dino_gelu1 and
 * dino_gelu_bwd1, which the GEMM epilogues share. */
#include "gelu.h"
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
    // x and y are (n); y = ln x. `parallel for` without `simd`: a libm call has no vector
    // form here, and asking for one only makes clang warn that it could not.
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]);
}

/** y = eˣ (expf: exactly 1 at 0); y may be x. */
static void dino_exp_fwd(float *y, const float *x, int64_t n) {
    // x and y are (n); y = eˣ (scalar libm, as dino_log_fwd).
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
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

/* ---- eltwise_chain: a program of element-wise steps over blocks of the output ------- */

/* The step codes of IR/ops.def's `eltwise_chain` (op·10000 + a·100 + b). */
enum {
    CHAIN_ADD = 1,
    CHAIN_SUB,
    CHAIN_MUL,
    CHAIN_DIV,
    CHAIN_GELU,
    CHAIN_GELU_BWD,
    CHAIN_LOG,
    CHAIN_EXP,
    CHAIN_SCALE
};
enum { CHAIN_STEP_BASE = 50, CHAIN_MAX_STEPS = 8, CHAIN_MAX_IN = 16, CHAIN_BLOCK = 512 };

/* One step over a block of n elements: c = a ∘ b, op(a) or factor·a (scale), each a loop
 * of its own that rounds as the unfused kernel's loop does. Contraction is off so that a
 * product of one step never fuses into the sum of another; c may be a or b (the result
 * over operand 0). */
static void chain_step(int op, float *c, const float *a, const float *b, float factor, int64_t n) {
#pragma clang fp contract(off)
    switch (op) {
    case CHAIN_ADD:
    case CHAIN_SUB:
    case CHAIN_MUL:
    case CHAIN_DIV:  // the unfused add, sub, mul and div's own loop
        binary_vv(DINO_BIN_ADD + (op - CHAIN_ADD), c, a, b, n);
        break;
    case CHAIN_GELU:
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = dino_gelu1(a[j]);
        break;
    case CHAIN_GELU_BWD:
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = dino_gelu_bwd1(a[j], b[j]);
        break;
    case CHAIN_SCALE:
        _Pragma("omp simd") for (int64_t j = 0; j < n; j++) c[j] = factor * a[j];
        break;
    case CHAIN_LOG:
        for (int64_t j = 0; j < n; j++) c[j] = logf(a[j]);
        break;
    default:
        for (int64_t j = 0; j < n; j++) c[j] = expf(a[j]);
        break;
    }
}

/* The elements [lo, lo + n) of operand x broadcast to the output (plan p) into buf: runs of
 * x copied (a trailing repeat such as a bias row) or one value repeated (per-row values, a
 * scalar) in the [o, m, i] view, an odometer over the strides otherwise. */
static void chain_gather(float *buf, const float *x, const struct dino_bcast *p, int64_t lo,
                         int64_t n) {
    if (p->simple) {
        int64_t m = p->m, in = p->i, i = lo % in, j = (lo / in) % m;
        for (int64_t done = 0; done < n;) {
            if (in == 1) {
                int64_t len = m - j < n - done ? m - j : n - done;
                memcpy(buf + done, x + j, (size_t)len * sizeof(float));
                done += len;
                j = 0;
            } else {
                int64_t len = in - i < n - done ? in - i : n - done;
                float v = x[j];
                for (int64_t k = 0; k < len; k++) buf[done + k] = v;
                done += len;
                i = 0;
                j = j + 1 == m ? 0 : j + 1;
            }
        }
        return;
    }
    int64_t idx[6], off = 0, rest = lo;
    for (int d = p->rank - 1; d >= 0; d--) {
        idx[d] = rest % p->shape[d];
        rest /= p->shape[d];
        off += idx[d] * p->stride[d];
    }
    for (int64_t j = 0; j < n; j++) {
        buf[j] = x[off];
        for (int d = p->rank - 1; d >= 0; d--) {  // the next element's index, odometer-wise
            off += p->stride[d];
            if (++idx[d] < p->shape[d]) break;
            off -= idx[d] * p->stride[d];
            idx[d] = 0;
        }
    }
}

/** Runs `program` (`steps` step codes, `factors` the scale steps' factors) over y = the
 *  chain of `ins` operands, each broadcast to y's shape (`plans`; `full[i]` when operand i
 *  has y's shape), n elements; block by block, each block's intermediates in L1. y may be
 *  in[0] (in place). */
static void dino_eltwise_chain(float *y, const float *const *in, const int *full,
                               const struct dino_bcast *plans, int ins, const int64_t *program,
                               int steps, const float *factors, int64_t n) {
    int64_t blocks = (n + CHAIN_BLOCK - 1) / CHAIN_BLOCK;
    int nch = dino_chunks(n);
    if (nch > blocks) nch = (int)(blocks > 0 ? blocks : 1);
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int t = 0; t < nch; t++) {
        float regs[CHAIN_MAX_STEPS][CHAIN_BLOCK];
        float gathered[CHAIN_MAX_IN][CHAIN_BLOCK];
        for (int i = 0; i < ins; i++) {  // a one-element operand: one block for every block
            if (!full[i] && plans[i].simple && plans[i].m == 1)
                for (int64_t j = 0; j < CHAIN_BLOCK; j++) gathered[i][j] = in[i][0];
        }
        for (int64_t blk = blocks * t / nch; blk < blocks * (t + 1) / nch; blk++) {
            int64_t lo = blk * CHAIN_BLOCK, len = n - lo < CHAIN_BLOCK ? n - lo : CHAIN_BLOCK;
            const float *src[CHAIN_MAX_IN];
            for (int i = 0; i < ins; i++) {
                const struct dino_bcast *p = &plans[i];
                int64_t j = full[i] || !p->simple ? 0 : lo % p->m;  // trailing repeat: x[j…]
                if (full[i]) {
                    src[i] = in[i] + lo;
                } else if (p->simple && p->m == 1) {
                    src[i] = gathered[i];
                } else if (p->simple && p->i == 1 && j + len <= p->m) {
                    src[i] = in[i] + j;  // the block lies within one repeat: read in place
                } else {
                    chain_gather(gathered[i], in[i], p, lo, len);
                    src[i] = gathered[i];
                }
            }
            for (int k = 0; k < steps; k++) {
                int64_t code = program[k];
                int op = (int)(code / 10000), a = (int)(code / 100 % 100), b = (int)(code % 100);
                const float *pa = a >= CHAIN_STEP_BASE ? regs[a - CHAIN_STEP_BASE] : src[a];
                const float *pb = op == CHAIN_SCALE      ? NULL
                                  : b >= CHAIN_STEP_BASE ? regs[b - CHAIN_STEP_BASE]
                                                         : src[b];
                float factor = op == CHAIN_SCALE ? factors[b] : 0.0f;
                chain_step(op, k == steps - 1 ? y + lo : regs[k], pa, pb, factor, len);
            }
        }
    }
}

void dino_run_eltwise_chain(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *out = OUT;
    const float *in[CHAIN_MAX_IN];
    int full[CHAIN_MAX_IN];
    struct dino_bcast plans[CHAIN_MAX_IN];
    int count = ins->n_in, steps = 0;
    for (int i = 0; i < count; i++) {
        const struct dino_tensor *x = IN(i);
        in[i] = F(x);
        full[i] = numel(x) == numel(out);
        if (!full[i]) dino_bcast_plan(&plans[i], out->shape, out->rank, x->shape, x->rank);
    }
    struct dino_attrs_eltwise_chain a = ATTRS(eltwise_chain);
    const float factors[4] = {a.factor0, a.factor1, a.factor2, a.factor3};
    while (steps < DINO_MAX_IATTRS && a.program[steps] >= 10000) steps++;
    dino_eltwise_chain(F(out), in, full, plans, count, a.program, steps, factors, numel(out));
}
