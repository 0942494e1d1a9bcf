/* shim.h — what the dispatch shims share (private). A shim `dino_run_<op>` sits next to
 * its kernels in <family>.c: it turns an instruction into a kernel call (tensor indices
 * to pointers, attributes by name through dino_attrs.h, shapes to sizes) and checks
 * nothing, since the plan was validated when it was loaded. Ops whose `scratch` column is
 * 1 also have `dino_scratch_<op>`. Both are declared here from IR/ops.def; dispatch.c
 * puts them in its tables. */
#ifndef DINO_SHIM_H
#define DINO_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "dino_attrs.h"
#include "dino_kernels.h"

#define IN(i) (&ctx->tensors[ins->in[(i)]])
#define OUT (&ctx->tensors[ins->out])
/** Result k ≥ 1 of an op with several results: the tensor of the `result {index=k}` node,
 *  which the verifier keeps k places after the op's own node. */
#define RESULT(k) (&ctx->tensors[ins->out + (k)])
#define F(t) ((float *)(t)->data)
/** The op's attributes by name: `ATTRS(matmul).trans_a`. */
#define ATTRS(name) dino_decode_attrs_##name(ins->iattr, ins->fattr)

/** The element count of t. */
static inline int64_t numel(const struct dino_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++) n *= t->shape[d];
    return n;
}

/** Rows and columns of an op over the last axis (a scalar is one 1-element row). */
static inline void rows_cols(const struct dino_tensor *t, int64_t *rows, int64_t *cols) {
    *cols = t->rank ? t->shape[t->rank - 1] : 1;
    int64_t r = 1;
    for (int d = 0; d + 1 < t->rank; d++) r *= t->shape[d];
    *rows = r;
}

/** (outer, len, inner) around `axis` of t. */
static inline void around_axis(const struct dino_tensor *t, int64_t axis, int64_t *outer,
                               int64_t *len, int64_t *inner) {
    int64_t o = 1, i = 1;
    for (int d = 0; d < axis; d++) o *= t->shape[d];
    for (int d = (int)axis + 1; d < t->rank; d++) i *= t->shape[d];
    *outer = o;
    *len = t->shape[axis];
    *inner = i;
}

/* Picks the first argument for the leaf family, the second for every kernel family. */
#define KIND_leaf(leaf, kernel) leaf
#define KIND_gemm(leaf, kernel) kernel
#define KIND_eltwise(leaf, kernel) kernel
#define KIND_norm(leaf, kernel) kernel
#define KIND_softmax(leaf, kernel) kernel
#define KIND_attention(leaf, kernel) kernel
#define KIND_shape(leaf, kernel) kernel
#define KIND_reduce(leaf, kernel) kernel
#define KIND_random(leaf, kernel) kernel
#define KIND_optim(leaf, kernel) kernel

#define DINO_RUN_NONE(name)
#define DINO_RUN_DECL(name)                                                                        \
    void dino_run_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
#define DINO_SCRATCH_DECL_0(name)
#define DINO_SCRATCH_DECL_1(name)                                                                  \
    size_t dino_scratch_##name(const struct dino_instr *ins, const struct dino_tensor *t);
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    KIND_##family(DINO_RUN_NONE, DINO_RUN_DECL)(name) DINO_SCRATCH_DECL_##scratch(name)
#include "../../IR/ops.def"
#undef DINO_OP

#endif
