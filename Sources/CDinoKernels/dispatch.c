/* dispatch.c — the only place that unpacks `dino_instr`s: tensor indices become
 * pointers, attribute slots become the op's named struct (dino_attrs.h, generated from
 * IR/ops.def), shapes become the sizes a kernel takes. Nothing here checks a shape rule:
 * the plan was validated once when it was loaded (the verifier's shape rules, slots and
 * memory plan, Runtime.checkPlanned's kernel limits), so every instruction is trusted.
 *
 * Each op has one `run_<op>(ins, ctx, ref)`; two tables indexed by op, built from
 * IR/ops.def, hold its optimised and its reference entry (NULL for leaves, which the
 * executor skips). Ops whose `scratch` column is 1 also have a `scratch_<op>`. */
#include <stdio.h>
#include <string.h>

#include "dino_attrs.h"
#include "dino_kernels.h"
#include "internal.h"
#include "kernels.h"

typedef void (*dino_run_fn)(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
typedef size_t (*dino_scratch_fn)(const struct dino_instr *ins, const struct dino_tensor *t);

#define IN(i) (&ctx->tensors[ins->in[(i)]])
#define OUT (&ctx->tensors[ins->out])
#define F(t) ((float *)(t)->data)
/** The op's attributes by name: `ATTRS(matmul).trans_a`. */
#define ATTRS(name) dino_decode_attrs_##name(ins->iattr, ins->fattr)
/** The optimised or reference kernel of a forward-named op. */
#define KERNEL(name) (ref ? dino_##name##_ref : dino_##name##_fwd)
/** The same for backward ops (whose optimised kernel has no _fwd suffix). */
#define KERNEL_BWD(name) (ref ? dino_##name##_ref : dino_##name)

/* ---- geometry ------------------------------------------------------------------------ */

static int64_t numel(const struct dino_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

/** Rows and columns of an op over the last axis (a scalar is one 1-element row). */
static void rows_cols(const struct dino_tensor *t, int64_t *rows, int64_t *cols) {
    *cols = t->rank ? t->shape[t->rank - 1] : 1;
    int64_t r = 1;
    for (int d = 0; d + 1 < t->rank; d++) r *= t->shape[d];
    *rows = r;
}

/** (outer, len, inner) around `axis` of t. */
static void around_axis(const struct dino_tensor *t, int64_t axis, int64_t *outer, int64_t *len,
                        int64_t *inner) {
    int64_t o = 1, i = 1;
    for (int d = 0; d < axis; d++) o *= t->shape[d];
    for (int d = (int)axis + 1; d < t->rank; d++) i *= t->shape[d];
    *outer = o;
    *len = t->shape[axis];
    *inner = i;
}

/* ---- gemm ---------------------------------------------------------------------------- */

static void run_matmul(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_attrs_matmul A = ATTRS(matmul);
    const struct dino_tensor *a = IN(0), *b = IN(1);
    int ra = a->rank, rb = b->rank, ta = A.trans_a != 0, tb = A.trans_b != 0;
    int64_t m = ta ? a->shape[ra - 1] : a->shape[ra - 2];
    int64_t k = ta ? a->shape[ra - 2] : a->shape[ra - 1];
    int64_t n = tb ? b->shape[rb - 2] : b->shape[rb - 1], batch = 1;
    for (int d = 0; d < ra - 2; d++) batch *= a->shape[d];
    KERNEL(matmul)(F(OUT), F(a), F(b), batch, (int)m, (int)n, (int)k, ta, tb, rb == 2);
}

static void run_linear(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    KERNEL(linear)(F(OUT), F(x), F(w), F(IN(2)), rows, (int)in, (int)w->shape[0]);
}

static void run_patch_embed(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int p = (int)ATTRS(patch_embed).patch;
    KERNEL(patch_embed)(F(OUT), ctx->scratch, F(x), F(w), F(IN(2)), (int)x->shape[0],
                        (int)x->shape[1], (int)x->shape[2], (int)x->shape[3], p,
                        (int)w->shape[0]);
}

static size_t scratch_patch_embed(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *x = &t[ins->in[0]];
    return dino_patch_embed_scratch_bytes((int)x->shape[0], (int)x->shape[1], (int)x->shape[2],
                                          (int)x->shape[3], (int)ATTRS(patch_embed).patch);
}

/* ---- eltwise ------------------------------------------------------------------------- */

static void run_binary(const struct dino_instr *ins, struct dino_exec_ctx *ctx, dino_binary_fn fn) {
    const struct dino_tensor *a = IN(0), *b = IN(1);
    fn(F(OUT), F(a), F(b), a->shape, a->rank, b->shape, b->rank);
}

static void run_add(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    run_binary(ins, ctx, KERNEL(add));
}

static void run_sub(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    run_binary(ins, ctx, KERNEL(sub));
}

static void run_mul(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    run_binary(ins, ctx, KERNEL(mul));
}

static void run_div(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    run_binary(ins, ctx, KERNEL(div));
}

static void run_scale(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(scale)(F(OUT), F(IN(0)), numel(IN(0)), ATTRS(scale).factor);
}

static void run_gelu(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(gelu)(F(OUT), F(IN(0)), numel(IN(0)));
}

static void run_gelu_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL_BWD(gelu_bwd)(F(OUT), F(IN(0)), F(IN(1)), numel(IN(0)));
}

/* ---- norm ---------------------------------------------------------------------------- */

static void run_layer_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    KERNEL(layer_norm)(F(OUT), F(IN(0)), F(IN(1)), F(IN(2)), rows, cols, ATTRS(layer_norm).eps);
}

static void run_layer_norm_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    KERNEL_BWD(layer_norm_bwd)(F(OUT), F(IN(0)), F(IN(1)), F(IN(2)), rows, cols,
                               ATTRS(layer_norm_bwd).eps);
}

static void run_layer_norm_bwd_gamma(const struct dino_instr *ins, struct dino_exec_ctx *ctx,
                                     int ref) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    KERNEL_BWD(layer_norm_bwd_gamma)(F(OUT), ctx->scratch, F(IN(0)), F(IN(1)), rows, cols,
                                     ATTRS(layer_norm_bwd_gamma).eps);
}

static size_t scratch_layer_norm_bwd_gamma(const struct dino_instr *ins,
                                           const struct dino_tensor *t) {
    int64_t rows, cols;
    rows_cols(&t[ins->in[1]], &rows, &cols);
    return dino_layer_norm_bwd_gamma_scratch_bytes(rows, cols);
}

static void run_l2_normalize(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    KERNEL(l2_normalize)(F(OUT), F(IN(0)), rows, cols, ATTRS(l2_normalize).eps);
}

static void run_l2_normalize_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    KERNEL_BWD(l2_normalize_bwd)(F(OUT), F(IN(0)), F(IN(1)), rows, cols,
                                 ATTRS(l2_normalize_bwd).eps);
}

static void run_weight_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *v = IN(0);
    KERNEL(weight_norm)(F(OUT), F(v), F(IN(1)), v->shape[0], v->shape[1]);
}

static void run_weight_norm_bwd_v(const struct dino_instr *ins, struct dino_exec_ctx *ctx,
                                  int ref) {
    const struct dino_tensor *v = IN(1);
    KERNEL_BWD(weight_norm_bwd_v)(F(OUT), F(IN(0)), F(v), F(IN(2)), v->shape[0], v->shape[1]);
}

static void run_weight_norm_bwd_g(const struct dino_instr *ins, struct dino_exec_ctx *ctx,
                                  int ref) {
    const struct dino_tensor *v = IN(1);
    KERNEL_BWD(weight_norm_bwd_g)(F(OUT), F(IN(0)), F(v), v->shape[0], v->shape[1]);
}

/* ---- softmax ------------------------------------------------------------------------- */

static void run_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    KERNEL(softmax)(F(OUT), F(IN(0)), rows, cols);
}

static void run_log_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    KERNEL(log_softmax)(F(OUT), F(IN(0)), rows, cols);
}

static void run_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    KERNEL_BWD(softmax_bwd)(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
}

static void run_log_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    KERNEL_BWD(log_softmax_bwd)(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
}

/* ---- shape --------------------------------------------------------------------------- */

static void run_reshape(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(reshape)(F(OUT), F(IN(0)), numel(IN(0)));
}

static void run_permute(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    KERNEL(permute)(F(OUT), F(x), x->shape, ATTRS(permute).perm, x->rank);
}

static void run_concat(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t axis = ATTRS(concat).axis, sizes[DINO_MAX_OPERANDS], outer, len, inner;
    const float *xs[DINO_MAX_OPERANDS];
    for (int i = 0; i < ins->n_in; i++) {
        sizes[i] = IN(i)->shape[axis];
        xs[i] = F(IN(i));
    }
    around_axis(IN(0), axis, &outer, &len, &inner);
    KERNEL(concat)(F(OUT), xs, sizes, ins->n_in, outer, inner);
}

static void run_slice(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_attrs_slice A = ATTRS(slice);
    int64_t outer, len, inner;
    around_axis(IN(0), A.axis, &outer, &len, &inner);
    KERNEL(slice)(F(OUT), F(IN(0)), outer, len, inner, A.start, A.end);
}

static void run_pad(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_attrs_pad A = ATTRS(pad);
    int64_t outer, len, inner;
    around_axis(IN(0), A.axis, &outer, &len, &inner);
    KERNEL(pad)(F(OUT), F(IN(0)), outer, len, inner, A.before, A.after);
}

static void run_broadcast_to(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *y = OUT;
    KERNEL(broadcast_to)(F(y), F(x), y->shape, y->rank, x->shape, x->rank);
}

static void run_patchify(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0);
    KERNEL(patchify)(F(OUT), F(x), (int)x->shape[0], (int)x->shape[1], (int)x->shape[2],
                     (int)x->shape[3], (int)ATTRS(patchify).patch);
}

/* ---- reduce -------------------------------------------------------------------------- */

static void run_reduce_sum(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t outer, len, inner;
    around_axis(IN(0), ATTRS(reduce_sum).axis, &outer, &len, &inner);
    KERNEL(reduce_sum)(F(OUT), F(IN(0)), outer, len, inner);
}

static void run_reduce_mean(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    int64_t outer, len, inner;
    around_axis(IN(0), ATTRS(reduce_mean).axis, &outer, &len, &inner);
    KERNEL(reduce_mean)(F(OUT), F(IN(0)), outer, len, inner);
}

static void run_sum_to(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_tensor *x = IN(0), *y = OUT;
    KERNEL(sum_to)(F(y), ctx->scratch, F(x), x->shape, x->rank, y->shape, y->rank);
}

static size_t scratch_sum_to(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *x = &t[ins->in[0]], *y = &t[ins->out];
    return dino_sum_to_scratch_bytes(x->shape, x->rank, y->shape, y->rank);
}

/* ---- random -------------------------------------------------------------------------- */

static void run_drop_path_mask(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_attrs_drop_path_mask A = ATTRS(drop_path_mask);
    KERNEL(drop_path_mask)(F(OUT), *(const int32_t *)IN(0)->data, A.stream, A.batch, A.rate);
}

/* ---- optim --------------------------------------------------------------------------- */

static void run_clip_grad_coef(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(clip_grad_coef)(F(OUT), F(IN(0)), numel(IN(0)), ATTRS(clip_grad_coef).max_norm);
}

static void run_adamw_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_attrs_adamw_update A = ATTRS(adamw_update);
    KERNEL(adamw_update)(F(IN(0)), F(IN(1)), F(IN(2)), F(IN(3)), F(IN(4)), numel(IN(0)),
                         F(IN(5))[0], F(IN(6))[0], F(IN(7))[0], A.beta1, A.beta2, A.eps,
                         (int)A.decay);
}

static void run_ema_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(ema_update)(F(IN(0)), F(IN(1)), numel(IN(0)), F(IN(2))[0]);
}

static void run_assign(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(assign)(F(IN(0)), F(IN(1)), numel(IN(0)));
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
    static void fast_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {        \
        run_##name(ins, ctx, 0);                                                              \
    }                                                                                         \
    static void ref_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {         \
        run_##name(ins, ctx, 1);                                                              \
    }
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch, \
                flops, attrs)                                                              \
    KIND_##family(NO_ENTRIES, ENTRIES)(name)
#include "../../IR/ops.def"
#undef DINO_OP

#define LEAF_SLOT(impl, name) NULL,
#define KERNEL_SLOT(impl, name) impl##_##name,

/** Optimised entry per op (NULL: a leaf, skipped). */
static const dino_run_fn dino_fast_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch, \
                flops, attrs)                                                              \
    KIND_##family(LEAF_SLOT, KERNEL_SLOT)(fast, name)
#include "../../IR/ops.def"
#undef DINO_OP
};

/** Reference entry per op (NULL: a leaf, skipped). */
static const dino_run_fn dino_ref_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch, \
                flops, attrs)                                                              \
    KIND_##family(LEAF_SLOT, KERNEL_SLOT)(ref, name)
#include "../../IR/ops.def"
#undef DINO_OP
};

/* The `scratch` column: 1 names scratch_<op>, 0 leaves the slot NULL. */
#define SCRATCH_0(name) NULL,
#define SCRATCH_1(name) scratch_##name,

/** Scratch size per op (NULL: the kernel needs none). */
static const dino_scratch_fn dino_scratch_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch, \
                flops, attrs)                                                              \
    SCRATCH_##scratch(name)
#include "../../IR/ops.def"
#undef DINO_OP
};

_Static_assert(sizeof dino_fast_table / sizeof dino_fast_table[0] == DINO_OP_COUNT,
               "optimised kernel table out of sync with IR/ops.def");
_Static_assert(sizeof dino_ref_table / sizeof dino_ref_table[0] == DINO_OP_COUNT,
               "reference kernel table out of sync with IR/ops.def");
_Static_assert(sizeof dino_scratch_table / sizeof dino_scratch_table[0] == DINO_OP_COUNT,
               "scratch table out of sync with IR/ops.def");

int dino_op_has_kernel(int32_t op, int32_t ref) {
    if (op < 0 || op >= DINO_OP_COUNT) return 0;
    return (ref ? dino_ref_table : dino_fast_table)[op] != NULL;
}

/* ---- the executor -------------------------------------------------------------------- */

static int exec(const struct dino_instr *prog, int32_t n, struct dino_exec_ctx *ctx,
                const dino_run_fn *table) {
    dino_threads_sync();
    ctx->error[0] = 0;
    for (int32_t k = 0; k < n; k++) {
        const struct dino_instr *ins = &prog[k];
        if (ins->op < 0 || ins->op >= DINO_OP_COUNT) {  // the one guard: the table index
            snprintf(ctx->error, sizeof ctx->error, "instruction %d: unknown op %d", k, ins->op);
            return k + 1;
        }
        if (table[ins->op] != NULL) table[ins->op](ins, ctx);  // NULL: a leaf, already in place
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
    if (ins->op < 0 || ins->op >= DINO_OP_COUNT || dino_scratch_table[ins->op] == NULL) return 0;
    return dino_scratch_table[ins->op](ins, tensors);
}
