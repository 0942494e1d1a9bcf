/* dispatch.c — the only place that unpacks `dino_instr`s: tensor indices become
 * pointers, iattr/fattr slots (IR/ops.def schema order) become typed arguments, and
 * every shape is checked against the op's shape rule (Sources/DinoOps/ShapeRules.swift)
 * before a kernel runs. A bad instruction sets ctx->error and makes dino_exec return
 * nonzero; nothing here aborts.
 *
 * Each op has one `run_<op>(ins, ctx, ref)`; two tables indexed by op, built from
 * IR/ops.def, hold its optimised and its reference entry (NULL for leaves, which the
 * executor skips). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dino_kernels.h"
#include "internal.h"
#include "kernels.h"

typedef int (*dino_run_fn)(const struct dino_instr *ins, struct dino_exec_ctx *ctx);

#define IN(i) (&ctx->tensors[ins->in[(i)]])
#define OUT (&ctx->tensors[ins->out])
#define F(t) ((float *)(t)->data)
/** The optimised or reference kernel of a forward-named op. */
#define KERNEL(name) (ref ? dino_##name##_ref : dino_##name##_fwd)
/** The same for backward ops (whose optimised kernel has no _fwd suffix). */
#define KERNEL_BWD(name) (ref ? dino_##name##_ref : dino_##name)

/* ---- checking helpers ---------------------------------------------------------------- */

static int fail(struct dino_exec_ctx *ctx, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(ctx->error, sizeof ctx->error, fmt, args);
    va_end(args);
    return 1;
}

/** `[2,3,4]` for a shape. */
static const char *shape_text(const int64_t *shape, int rank, char buf[96]) {
    int at = snprintf(buf, 96, "[");
    for (int d = 0; d < rank && at < 90; d++)
        at += snprintf(buf + at, (size_t)(96 - at), d ? ",%lld" : "%lld", (long long)shape[d]);
    snprintf(buf + at, (size_t)(96 - at), "]");
    return buf;
}

static const char *text(const struct dino_tensor *t, char buf[96]) {
    return shape_text(t->shape, t->rank, buf);
}

static int64_t numel(const struct dino_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

static int same_shape(const struct dino_tensor *a, const struct dino_tensor *b) {
    if (a->rank != b->rank) return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/** Whether `small` broadcasts to `big` (right-aligned, each dim equal or 1). */
static int broadcasts(const int64_t *small, int rs, const int64_t *big, int rb) {
    if (rs > rb) return 0;
    for (int d = 0; d < rs; d++)
        if (small[d] != 1 && small[d] != big[d + rb - rs]) return 0;
    return 1;
}

/** Checks that the result tensor has the shape the op's rule gives. */
static int expect_out(struct dino_exec_ctx *ctx, const struct dino_tensor *out,
                      const int64_t *shape, int rank) {
    char a[96], b[96];
    if (out->rank != rank || memcmp(out->shape, shape, (size_t)rank * sizeof(int64_t)) != 0)
        return fail(ctx, "result is %s, expected %s", text(out, a), shape_text(shape, rank, b));
    return 0;
}

/** Checks that operand i has the same shape as operand j. */
static int expect_same(struct dino_exec_ctx *ctx, const struct dino_instr *ins, int i, int j) {
    char a[96], b[96];
    if (!same_shape(IN(i), IN(j)))
        return fail(ctx, "operand %d %s differs from operand %d %s", i, text(IN(i), a), j,
                    text(IN(j), b));
    return 0;
}

/** Checks that operand i holds one element. */
static int expect_scalar(struct dino_exec_ctx *ctx, const struct dino_instr *ins, int i) {
    char a[96];
    if (numel(IN(i)) != 1) return fail(ctx, "operand %d must be a scalar, got %s", i, text(IN(i), a));
    return 0;
}

/** Checks that operand i has rank ≥ 1 (ops over the last axis). */
static int expect_rank1(struct dino_exec_ctx *ctx, const struct dino_instr *ins, int i) {
    if (IN(i)->rank < 1) return fail(ctx, "operand %d needs rank >= 1", i);
    return 0;
}

/** Checks that ctx->scratch holds `bytes`. */
static int expect_scratch(struct dino_exec_ctx *ctx, size_t bytes) {
    if (bytes > 0 && (ctx->scratch == NULL || ctx->scratch_bytes < bytes))
        return fail(ctx, "needs %zu scratch bytes, the context has %zu", bytes,
                    ctx->scratch ? ctx->scratch_bytes : (size_t)0);
    return 0;
}

/** Checks that an extent fits the int that cblas and the image kernels take. */
static int expect_int(struct dino_exec_ctx *ctx, int64_t v, const char *what) {
    if (v > 0x7fffffff) return fail(ctx, "%s %lld exceeds the int range", what, (long long)v);
    return 0;
}

/** Rows and columns of an op over the last axis (a scalar is one 1-element row). */
static void rows_cols(const struct dino_tensor *t, int64_t *rows, int64_t *cols) {
    *cols = t->rank ? t->shape[t->rank - 1] : 1;
    int64_t r = 1;
    for (int d = 0; d + 1 < t->rank; d++) r *= t->shape[d];
    *rows = r;
}

/** (outer, len, inner) around `axis` of t. */
static void around_axis(const struct dino_tensor *t, int axis, int64_t *outer, int64_t *len,
                        int64_t *inner) {
    int64_t o = 1, i = 1;
    for (int d = 0; d < axis; d++) o *= t->shape[d];
    for (int d = axis + 1; d < t->rank; d++) i *= t->shape[d];
    *outer = o;
    *len = t->shape[axis];
    *inner = i;
}

/** Checks that an int-list attribute (iattr[0..rank)) equals `shape`. */
static int expect_list(struct dino_exec_ctx *ctx, const struct dino_instr *ins, const char *what,
                       const int64_t *shape, int rank) {
    char a[96], b[96];
    if (rank > DINO_MAX_IATTRS || memcmp(ins->iattr, shape, (size_t)rank * sizeof(int64_t)) != 0)
        return fail(ctx, "attribute %s %s does not match the result %s", what,
                    shape_text(ins->iattr, rank < DINO_MAX_IATTRS ? rank : DINO_MAX_IATTRS, a),
                    shape_text(shape, rank, b));
    return 0;
}

#define CHECK(expr) do { if (expr) return 1; } while (0)

/* ---- gemm ---------------------------------------------------------------------------- */

static int run_matmul(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *a = IN(0), *b = IN(1);
    char sa[96], sb[96];
    int ta = ins->iattr[0] != 0, tb = ins->iattr[1] != 0;
    if (a->rank < 2 || b->rank < 2)
        return fail(ctx, "operands must have rank >= 2, got %s x %s", text(a, sa), text(b, sb));
    int ra = a->rank, rb = b->rank;
    int64_t m = ta ? a->shape[ra - 1] : a->shape[ra - 2], ka = ta ? a->shape[ra - 2] : a->shape[ra - 1];
    int64_t kb = tb ? b->shape[rb - 1] : b->shape[rb - 2], n = tb ? b->shape[rb - 2] : b->shape[rb - 1];
    if (ka != kb) return fail(ctx, "%s x %s — inner dimensions differ", text(a, sa), text(b, sb));
    int shared = rb == 2;
    if (!shared && (rb != ra || memcmp(a->shape, b->shape, (size_t)(ra - 2) * sizeof(int64_t)) != 0))
        return fail(ctx, "%s x %s — batch dimensions differ", text(a, sa), text(b, sb));
    int64_t want[DINO_MAX_RANK], batch = 1;
    for (int d = 0; d < ra - 2; d++) {
        want[d] = a->shape[d];
        batch *= a->shape[d];
    }
    want[ra - 2] = m;
    want[ra - 1] = n;
    CHECK(expect_out(ctx, OUT, want, ra));
    CHECK(expect_int(ctx, m, "M") || expect_int(ctx, n, "N") || expect_int(ctx, ka, "K"));
    KERNEL(matmul)(F(OUT), F(a), F(b), batch, (int)m, (int)n, (int)ka, ta, tb, shared);
    return 0;
}

static int run_linear(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *w = IN(1), *bias = IN(2);
    char s0[96], s1[96], s2[96];
    if (x->rank < 1 || w->rank != 2 || bias->rank != 1 || w->shape[1] != x->shape[x->rank - 1] ||
        bias->shape[0] != w->shape[0])
        return fail(ctx, "expects x [...,in], weight [out,in], bias [out], got %s, %s, %s",
                    text(x, s0), text(w, s1), text(bias, s2));
    int64_t want[DINO_MAX_RANK], rows, in;
    memcpy(want, x->shape, sizeof want);
    want[x->rank - 1] = w->shape[0];
    CHECK(expect_out(ctx, OUT, want, x->rank));
    rows_cols(x, &rows, &in);
    CHECK(expect_int(ctx, rows, "rows") || expect_int(ctx, in, "in") ||
          expect_int(ctx, w->shape[0], "out"));
    KERNEL(linear)(F(OUT), F(x), F(w), F(bias), rows, (int)in, (int)w->shape[0]);
    return 0;
}

/** Checks patch_embed / patchify geometry: x [B,C,H,W] with H, W multiples of p. */
static int expect_image(struct dino_exec_ctx *ctx, const struct dino_tensor *x, int64_t p) {
    char s[96];
    if (x->rank != 4 || p <= 0 || x->shape[2] % p != 0 || x->shape[3] % p != 0)
        return fail(ctx, "input %s is not [B,C,H,W] with H, W multiples of %lld", text(x, s),
                    (long long)p);
    for (int d = 0; d < 4; d++) CHECK(expect_int(ctx, x->shape[d], "extent"));
    CHECK(expect_int(ctx, x->shape[0] * (x->shape[2] / p) * (x->shape[3] / p), "token count"));
    return 0;
}

static int run_patch_embed(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *w = IN(1), *bias = IN(2);
    int64_t p = ins->iattr[0];
    char s0[96], s1[96], s2[96];
    CHECK(expect_image(ctx, x, p));
    if (w->rank != 4 || bias->rank != 1 || w->shape[1] != x->shape[1] || w->shape[2] != p ||
        w->shape[3] != p || bias->shape[0] != w->shape[0])
        return fail(ctx, "weight %s and bias %s do not fit input %s with patch %lld", text(w, s1),
                    text(bias, s2), text(x, s0), (long long)p);
    int64_t want[3] = {x->shape[0], (x->shape[2] / p) * (x->shape[3] / p), w->shape[0]};
    CHECK(expect_out(ctx, OUT, want, 3));
    int B = (int)x->shape[0], C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    if (!ref) CHECK(expect_scratch(ctx, dino_patch_embed_scratch_bytes(B, C, H, W, (int)p)));
    KERNEL(patch_embed)(F(OUT), ctx->scratch, F(x), F(w), F(bias), B, C, H, W, (int)p,
                        (int)w->shape[0]);
    return 0;
}

/* ---- eltwise ------------------------------------------------------------------------- */

static int run_binary(const struct dino_instr *ins, struct dino_exec_ctx *ctx, dino_binary_fn fn) {
    const struct dino_tensor *a = IN(0), *b = IN(1);
    char sa[96], sb[96];
    if (!broadcasts(b->shape, b->rank, a->shape, a->rank))
        return fail(ctx, "%s does not broadcast to %s", text(b, sb), text(a, sa));
    CHECK(expect_out(ctx, OUT, a->shape, a->rank));
    fn(F(OUT), F(a), F(b), a->shape, a->rank, b->shape, b->rank);
    return 0;
}

static int run_add(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    return run_binary(ins, ctx, KERNEL(add));
}

static int run_sub(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    return run_binary(ins, ctx, KERNEL(sub));
}

static int run_mul(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    return run_binary(ins, ctx, KERNEL(mul));
}

static int run_div(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    return run_binary(ins, ctx, KERNEL(div));
}

static int run_scale(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL(scale)(F(OUT), F(IN(0)), numel(IN(0)), ins->fattr[0]);
    return 0;
}

static int run_gelu(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL(gelu)(F(OUT), F(IN(0)), numel(IN(0)));
    return 0;
}

static int run_gelu_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    CHECK(expect_same(ctx, ins, 1, 0));
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL_BWD(gelu_bwd)(F(OUT), F(IN(0)), F(IN(1)), numel(IN(0)));
    return 0;
}

/* ---- norm ---------------------------------------------------------------------------- */

/** Checks that operand i is [cols]. */
static int expect_vector(struct dino_exec_ctx *ctx, const struct dino_instr *ins, int i,
                         int64_t cols, const char *what) {
    char s[96];
    if (IN(i)->rank != 1 || IN(i)->shape[0] != cols)
        return fail(ctx, "%s must be [%lld], got %s", what, (long long)cols, text(IN(i), s));
    return 0;
}

static int run_layer_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    int64_t rows, cols;
    CHECK(expect_rank1(ctx, ins, 0));
    rows_cols(x, &rows, &cols);
    CHECK(expect_vector(ctx, ins, 1, cols, "gamma") || expect_vector(ctx, ins, 2, cols, "beta"));
    CHECK(expect_out(ctx, OUT, x->shape, x->rank));
    KERNEL(layer_norm)(F(OUT), F(x), F(IN(1)), F(IN(2)), rows, cols, ins->fattr[0]);
    return 0;
}

static int run_layer_norm_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(1);
    int64_t rows, cols;
    CHECK(expect_rank1(ctx, ins, 1) || expect_same(ctx, ins, 0, 1));
    rows_cols(x, &rows, &cols);
    CHECK(expect_vector(ctx, ins, 2, cols, "gamma"));
    CHECK(expect_out(ctx, OUT, x->shape, x->rank));
    KERNEL_BWD(layer_norm_bwd)(F(OUT), F(IN(0)), F(x), F(IN(2)), rows, cols, ins->fattr[0]);
    return 0;
}

static int run_layer_norm_bwd_gamma(const struct dino_instr *ins, struct dino_exec_ctx *ctx,
                                    int ref) {
    const struct dino_tensor *x = IN(1);
    int64_t rows, cols;
    CHECK(expect_rank1(ctx, ins, 1) || expect_same(ctx, ins, 0, 1));
    rows_cols(x, &rows, &cols);
    CHECK(expect_out(ctx, OUT, &cols, 1));
    if (!ref) CHECK(expect_scratch(ctx, dino_layer_norm_bwd_gamma_scratch_bytes(rows, cols)));
    KERNEL_BWD(layer_norm_bwd_gamma)(F(OUT), ctx->scratch, F(IN(0)), F(x), rows, cols,
                                     ins->fattr[0]);
    return 0;
}

static int run_l2_normalize(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    CHECK(expect_rank1(ctx, ins, 0));
    rows_cols(IN(0), &rows, &cols);
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL(l2_normalize)(F(OUT), F(IN(0)), rows, cols, ins->fattr[0]);
    return 0;
}

static int run_l2_normalize_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    CHECK(expect_rank1(ctx, ins, 1) || expect_same(ctx, ins, 0, 1));
    rows_cols(IN(1), &rows, &cols);
    CHECK(expect_out(ctx, OUT, IN(1)->shape, IN(1)->rank));
    KERNEL_BWD(l2_normalize_bwd)(F(OUT), F(IN(0)), F(IN(1)), rows, cols, ins->fattr[0]);
    return 0;
}

/** Checks weight-norm operands: v (operand iv) is [K,C] and, when ig ≥ 0, g is [K,1]. */
static int expect_weight_norm(struct dino_exec_ctx *ctx, const struct dino_instr *ins, int iv,
                              int ig) {
    char s[96];
    const struct dino_tensor *v = IN(iv);
    if (v->rank != 2) return fail(ctx, "v must be [K,C], got %s", text(v, s));
    if (ig >= 0 && (IN(ig)->rank != 2 || IN(ig)->shape[0] != v->shape[0] || IN(ig)->shape[1] != 1))
        return fail(ctx, "g must be [%lld,1], got %s", (long long)v->shape[0], text(IN(ig), s));
    return 0;
}

static int run_weight_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *v = IN(0);
    CHECK(expect_weight_norm(ctx, ins, 0, 1));
    CHECK(expect_out(ctx, OUT, v->shape, 2));
    KERNEL(weight_norm)(F(OUT), F(v), F(IN(1)), v->shape[0], v->shape[1]);
    return 0;
}

static int run_weight_norm_bwd_v(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *v = IN(1);
    CHECK(expect_weight_norm(ctx, ins, 1, 2) || expect_same(ctx, ins, 0, 1));
    CHECK(expect_out(ctx, OUT, v->shape, 2));
    KERNEL_BWD(weight_norm_bwd_v)(F(OUT), F(IN(0)), F(v), F(IN(2)), v->shape[0], v->shape[1]);
    return 0;
}

static int run_weight_norm_bwd_g(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *v = IN(1);
    CHECK(expect_weight_norm(ctx, ins, 1, -1) || expect_same(ctx, ins, 0, 1));
    int64_t want[2] = {v->shape[0], 1};
    CHECK(expect_out(ctx, OUT, want, 2));
    KERNEL_BWD(weight_norm_bwd_g)(F(OUT), F(IN(0)), F(v), v->shape[0], v->shape[1]);
    return 0;
}

/* ---- softmax ------------------------------------------------------------------------- */

static int run_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL(softmax)(F(OUT), F(IN(0)), rows, cols);
    return 0;
}

static int run_log_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL(log_softmax)(F(OUT), F(IN(0)), rows, cols);
    return 0;
}

static int run_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    CHECK(expect_same(ctx, ins, 1, 0));
    rows_cols(IN(0), &rows, &cols);
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL_BWD(softmax_bwd)(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
    return 0;
}

static int run_log_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    CHECK(expect_same(ctx, ins, 1, 0));
    rows_cols(IN(0), &rows, &cols);
    CHECK(expect_out(ctx, OUT, IN(0)->shape, IN(0)->rank));
    KERNEL_BWD(log_softmax_bwd)(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
    return 0;
}

/* ---- shape --------------------------------------------------------------------------- */

static int run_reshape(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    char s0[96], s1[96];
    const struct dino_tensor *x = IN(0), *y = OUT;
    CHECK(expect_list(ctx, ins, "shape", y->shape, y->rank));
    if (numel(x) != numel(y)) return fail(ctx, "cannot reshape %s to %s", text(x, s0), text(y, s1));
    KERNEL(reshape)(F(y), F(x), numel(x));
    return 0;
}

/** The axis attribute in iattr[0], checked against rank. */
static int expect_axis(struct dino_exec_ctx *ctx, const struct dino_instr *ins, int rank) {
    if (ins->iattr[0] < 0 || ins->iattr[0] >= rank)
        return fail(ctx, "axis %lld out of range for rank %d", (long long)ins->iattr[0], rank);
    return 0;
}

static int run_permute(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    int seen[DINO_MAX_RANK] = {0};
    int64_t want[DINO_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        int64_t p = ins->iattr[d];
        if (p < 0 || p >= x->rank || seen[p]++)
            return fail(ctx, "perm is not a permutation of rank %d", x->rank);
        want[d] = x->shape[p];
    }
    CHECK(expect_out(ctx, OUT, want, x->rank));
    KERNEL(permute)(F(OUT), F(x), x->shape, ins->iattr, x->rank);
    return 0;
}

static int run_concat(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x0 = IN(0);
    char s0[96], s1[96];
    CHECK(expect_axis(ctx, ins, x0->rank));
    int axis = (int)ins->iattr[0];
    int64_t want[DINO_MAX_RANK], sizes[DINO_MAX_OPERANDS];
    const float *xs[DINO_MAX_OPERANDS];
    memcpy(want, x0->shape, sizeof want);
    want[axis] = 0;
    for (int i = 0; i < ins->n_in; i++) {
        const struct dino_tensor *xi = IN(i);
        int ok = xi->rank == x0->rank;
        for (int d = 0; ok && d < x0->rank; d++) ok = d == axis || xi->shape[d] == x0->shape[d];
        if (!ok)
            return fail(ctx, "operand %d %s does not match %s outside axis %d", i, text(xi, s1),
                        text(x0, s0), axis);
        sizes[i] = xi->shape[axis];
        xs[i] = F(xi);
        want[axis] += sizes[i];
    }
    CHECK(expect_out(ctx, OUT, want, x0->rank));
    int64_t outer, len, inner;
    around_axis(x0, axis, &outer, &len, &inner);
    KERNEL(concat)(F(OUT), xs, sizes, ins->n_in, outer, inner);
    return 0;
}

static int run_slice(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    char s[96];
    CHECK(expect_axis(ctx, ins, x->rank));
    int axis = (int)ins->iattr[0];
    int64_t start = ins->iattr[1], end = ins->iattr[2];
    if (start < 0 || end > x->shape[axis] || start >= end)
        return fail(ctx, "[%lld, %lld) out of range for axis %d of %s", (long long)start,
                    (long long)end, axis, text(x, s));
    int64_t want[DINO_MAX_RANK], outer, len, inner;
    memcpy(want, x->shape, sizeof want);
    want[axis] = end - start;
    CHECK(expect_out(ctx, OUT, want, x->rank));
    around_axis(x, axis, &outer, &len, &inner);
    KERNEL(slice)(F(OUT), F(x), outer, len, inner, start, end);
    return 0;
}

static int run_pad(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    CHECK(expect_axis(ctx, ins, x->rank));
    int axis = (int)ins->iattr[0];
    int64_t before = ins->iattr[1], after = ins->iattr[2];
    if (before < 0 || after < 0) return fail(ctx, "negative padding");
    int64_t want[DINO_MAX_RANK], outer, len, inner;
    memcpy(want, x->shape, sizeof want);
    want[axis] += before + after;
    CHECK(expect_out(ctx, OUT, want, x->rank));
    around_axis(x, axis, &outer, &len, &inner);
    KERNEL(pad)(F(OUT), F(x), outer, len, inner, before, after);
    return 0;
}

static int run_broadcast_to(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *y = OUT;
    char s0[96], s1[96];
    CHECK(expect_list(ctx, ins, "shape", y->shape, y->rank));
    if (!broadcasts(x->shape, x->rank, y->shape, y->rank))
        return fail(ctx, "%s does not broadcast to %s", text(x, s0), text(y, s1));
    KERNEL(broadcast_to)(F(y), F(x), y->shape, y->rank, x->shape, x->rank);
    return 0;
}

static int run_patchify(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    int64_t p = ins->iattr[0];
    CHECK(expect_image(ctx, x, p));
    int64_t want[3] = {x->shape[0], (x->shape[2] / p) * (x->shape[3] / p), x->shape[1] * p * p};
    CHECK(expect_out(ctx, OUT, want, 3));
    KERNEL(patchify)(F(OUT), F(x), (int)x->shape[0], (int)x->shape[1], (int)x->shape[2],
                     (int)x->shape[3], (int)p);
    return 0;
}

/* ---- reduce -------------------------------------------------------------------------- */

/** Shared by reduce_sum and reduce_mean: checks, then (outer, len, inner). */
static int reduce_shape(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int64_t *outer,
                        int64_t *len, int64_t *inner) {
    const struct dino_tensor *x = IN(0);
    CHECK(expect_axis(ctx, ins, x->rank));
    int axis = (int)ins->iattr[0], r = 0;
    int64_t want[DINO_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        if (d != axis) want[r++] = x->shape[d];
        else if (ins->iattr[1] != 0) want[r++] = 1;
    }
    CHECK(expect_out(ctx, OUT, want, r));
    around_axis(x, axis, outer, len, inner);
    return 0;
}

static int run_reduce_sum(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t outer, len, inner;
    CHECK(reduce_shape(ins, ctx, &outer, &len, &inner));
    KERNEL(reduce_sum)(F(OUT), F(IN(0)), outer, len, inner);
    return 0;
}

static int run_reduce_mean(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t outer, len, inner;
    CHECK(reduce_shape(ins, ctx, &outer, &len, &inner));
    KERNEL(reduce_mean)(F(OUT), F(IN(0)), outer, len, inner);
    return 0;
}

static int run_sum_to(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *y = OUT;
    char s0[96], s1[96];
    CHECK(expect_list(ctx, ins, "shape", y->shape, y->rank));
    if (!broadcasts(y->shape, y->rank, x->shape, x->rank))
        return fail(ctx, "%s does not broadcast to %s", text(y, s1), text(x, s0));
    if (!ref)
        CHECK(expect_scratch(ctx, dino_sum_to_scratch_bytes(x->shape, x->rank, y->shape, y->rank)));
    KERNEL(sum_to)(F(y), ctx->scratch, F(x), x->shape, x->rank, y->shape, y->rank);
    return 0;
}

/* ---- random -------------------------------------------------------------------------- */

static int run_drop_path_mask(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *seed = IN(0);
    float rate = ins->fattr[0];
    int64_t stream = ins->iattr[0], batch = ins->iattr[1];
    if (seed->dtype != DINO_I32 || seed->rank != 0) return fail(ctx, "seed must be i32[]");
    if (!(rate >= 0.0f && rate < 1.0f)) return fail(ctx, "rate %g not in [0, 1)", (double)rate);
    if (batch < 1) return fail(ctx, "batch must be positive");
    CHECK(expect_out(ctx, OUT, &batch, 1));
    KERNEL(drop_path_mask)(F(OUT), *(const int32_t *)seed->data, stream, batch, rate);
    return 0;
}

/* ---- optim --------------------------------------------------------------------------- */

static int run_clip_grad_coef(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const int64_t scalar[1] = {1};
    CHECK(expect_out(ctx, OUT, scalar, 0));
    KERNEL(clip_grad_coef)(F(OUT), F(IN(0)), numel(IN(0)), ins->fattr[0]);
    return 0;
}

static int run_adamw_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    for (int i = 1; i <= 3; i++) CHECK(expect_same(ctx, ins, i, 0));
    for (int i = 4; i <= 7; i++) CHECK(expect_scalar(ctx, ins, i));
    KERNEL(adamw_update)(F(IN(0)), F(IN(1)), F(IN(2)), F(IN(3)), F(IN(4)), numel(IN(0)),
                         F(IN(5))[0], F(IN(6))[0], F(IN(7))[0], ins->fattr[0], ins->fattr[1],
                         ins->fattr[2], (int)ins->iattr[0]);
    return 0;
}

static int run_ema_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    CHECK(expect_same(ctx, ins, 1, 0) || expect_scalar(ctx, ins, 2));
    KERNEL(ema_update)(F(IN(0)), F(IN(1)), numel(IN(0)), F(IN(2))[0]);
    return 0;
}

static int run_assign(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    CHECK(expect_same(ctx, ins, 1, 0));
    KERNEL(assign)(F(IN(0)), F(IN(1)), numel(IN(0)));
    return 0;
}

/* ---- the tables ---------------------------------------------------------------------- */

/* Picks the first argument for the leaf family, the second for every kernel family. */
#define KIND_leaf(leaf, kernel) leaf
#define KIND_gemm(leaf, kernel) kernel
#define KIND_eltwise(leaf, kernel) kernel
#define KIND_norm(leaf, kernel) kernel
#define KIND_softmax(leaf, kernel) kernel
#define KIND_shape(leaf, kernel) kernel
#define KIND_reduce(leaf, kernel) kernel
#define KIND_random(leaf, kernel) kernel
#define KIND_optim(leaf, kernel) kernel

#define NO_ENTRIES(name)
#define ENTRIES(name)                                                                         \
    static int fast_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {         \
        return run_##name(ins, ctx, 0);                                                       \
    }                                                                                         \
    static int ref_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {          \
        return run_##name(ins, ctx, 1);                                                       \
    }
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, attrs) \
    KIND_##family(NO_ENTRIES, ENTRIES)(name)
#include "../../IR/ops.def"
#undef DINO_OP

#define LEAF_SLOT(impl, name) NULL,
#define KERNEL_SLOT(impl, name) impl##_##name,

/** Optimised entry per op (NULL: a leaf, skipped). */
static const dino_run_fn dino_fast_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, attrs) \
    KIND_##family(LEAF_SLOT, KERNEL_SLOT)(fast, name)
#include "../../IR/ops.def"
#undef DINO_OP
};

/** Reference entry per op (NULL: a leaf, skipped). */
static const dino_run_fn dino_ref_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, attrs) \
    KIND_##family(LEAF_SLOT, KERNEL_SLOT)(ref, name)
#include "../../IR/ops.def"
#undef DINO_OP
};

_Static_assert(sizeof dino_fast_table / sizeof dino_fast_table[0] == DINO_OP_COUNT,
               "optimised kernel table out of sync with IR/ops.def");
_Static_assert(sizeof dino_ref_table / sizeof dino_ref_table[0] == DINO_OP_COUNT,
               "reference kernel table out of sync with IR/ops.def");

int dino_op_has_kernel(int32_t op, int32_t ref) {
    if (op < 0 || op >= DINO_OP_COUNT) return 0;
    return (ref ? dino_ref_table : dino_fast_table)[op] != NULL;
}

/* ---- the executor -------------------------------------------------------------------- */

/** Checks what every instruction must satisfy: operand count, tensor indices, element
 *  types, data pointers, and that the result shares a buffer only where ops.def allows. */
static int check_instr(const struct dino_instr *ins, const struct dino_op_traits *tr,
                       struct dino_exec_ctx *ctx) {
    int n_in = ins->n_in;
    if (tr->arity >= 0 ? n_in != tr->arity : (n_in < 1 || n_in > DINO_MAX_OPERANDS))
        return fail(ctx, "expects %d operands, got %d", tr->arity, n_in);
    if (ins->out < 0 || ins->out >= ctx->n_tensors)
        return fail(ctx, "result tensor %d out of range", ins->out);
    for (int i = 0; i < n_in; i++)
        if (ins->in[i] < 0 || ins->in[i] >= ctx->n_tensors)
            return fail(ctx, "operand %d: tensor %d out of range", i, ins->in[i]);
    int effect = tr->mutates != 0;
    for (int i = -1; i < n_in; i++) {
        const struct dino_tensor *t = i < 0 ? OUT : IN(i);
        char what[32];
        if (i < 0) snprintf(what, sizeof what, "result");
        else snprintf(what, sizeof what, "operand %d", i);
        if (t->rank < 0 || t->rank > DINO_MAX_RANK) return fail(ctx, "%s has rank %d", what, t->rank);
        for (int d = 0; d < t->rank; d++)
            if (t->shape[d] < 0) return fail(ctx, "%s has a negative extent", what);
        int want = i == 0 && ins->op == DINO_OP_drop_path_mask ? DINO_I32 : DINO_F32;
        if (t->dtype != want) return fail(ctx, "%s must be %s", what, want == DINO_I32 ? "i32" : "f32");
        if (t->data == NULL && numel(t) > 0 && !(i < 0 && effect))
            return fail(ctx, "%s has no data", what);
    }
    if (!effect) {
        for (int i = 0; i < n_in; i++)
            if (IN(i)->data == OUT->data && numel(OUT) > 0 && !(i == 0 && tr->inplace))
                return fail(ctx, "result shares operand %d's buffer, which ops.def does not allow", i);
    }
    return 0;
}

static int exec(const struct dino_instr *prog, int32_t n, struct dino_exec_ctx *ctx,
                const dino_run_fn *table) {
    dino_threads_sync();
    ctx->error[0] = 0;
    for (int32_t k = 0; k < n; k++) {
        const struct dino_instr *ins = &prog[k];
        if (ins->op < 0 || ins->op >= DINO_OP_COUNT) {
            fail(ctx, "instruction %d: unknown op %d", k, ins->op);
            return k + 1;
        }
        if (table[ins->op] == NULL) continue;  // a leaf: its tensor is already in place
        const struct dino_op_traits *tr = dino_op_traits_of(ins->op);
        if (check_instr(ins, tr, ctx) || table[ins->op](ins, ctx)) {
            char detail[sizeof ctx->error];
            memcpy(detail, ctx->error, sizeof detail);
            snprintf(ctx->error, sizeof ctx->error, "instruction %d (%s): %s", k, tr->name, detail);
            return k + 1;
        }
    }
    return 0;
}

int dino_exec(const struct dino_instr *prog, int32_t n, struct dino_exec_ctx *ctx) {
    return exec(prog, n, ctx, dino_fast_table);
}

int dino_exec_ref(const struct dino_instr *prog, int32_t n, struct dino_exec_ctx *ctx) {
    return exec(prog, n, ctx, dino_ref_table);
}

size_t dino_instr_scratch_bytes(const struct dino_instr *ins, const struct dino_tensor *tensors) {
    switch (ins->op) {
    case DINO_OP_patch_embed: {
        const struct dino_tensor *x = &tensors[ins->in[0]];
        if (x->rank != 4 || ins->iattr[0] <= 0) return 0;
        return dino_patch_embed_scratch_bytes((int)x->shape[0], (int)x->shape[1], (int)x->shape[2],
                                              (int)x->shape[3], (int)ins->iattr[0]);
    }
    case DINO_OP_layer_norm_bwd_gamma: {
        const struct dino_tensor *x = &tensors[ins->in[1]];
        int64_t rows, cols;
        if (x->rank < 1) return 0;
        rows_cols(x, &rows, &cols);
        return dino_layer_norm_bwd_gamma_scratch_bytes(rows, cols);
    }
    case DINO_OP_sum_to: {
        const struct dino_tensor *x = &tensors[ins->in[0]], *y = &tensors[ins->out];
        if (!broadcasts(y->shape, y->rank, x->shape, x->rank)) return 0;
        return dino_sum_to_scratch_bytes(x->shape, x->rank, y->shape, y->rank);
    }
    default:
        return 0;
    }
}
