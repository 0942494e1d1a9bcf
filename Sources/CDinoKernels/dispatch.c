/* dispatch.c — the executor: a table indexed by op, built from IR/ops.def, holds each
 * op's kernel entry (NULL for leaves, which the executor skips), a second its scratch
 * size (NULL: none). The entries are the shims `dino_run_<op>` and
 * `dino_scratch_<op>` next to their kernels in <family>.c (declared in shim.h). Nothing
 * here checks a shape rule: the plan was validated once when it was loaded (the
 * verifier's shape rules, slots and memory plan, Runtime.checkPlanned's kernel limits), so
 * every instruction is trusted. */
#include <stdio.h>

#include "dino_kernels.h"
#include "internal.h"
#include "shim.h"

typedef void (*dino_run_fn)(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
typedef size_t (*dino_scratch_fn)(const struct dino_instr *ins, const struct dino_tensor *t);

/* ---- the tables ---------------------------------------------------------------------- */

#define LEAF_SLOT(name) NULL,
#define KERNEL_SLOT(name) dino_run_##name,

/** Kernel entry per op (NULL: a leaf, skipped). */
static const dino_run_fn dino_run_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    KIND_##family(LEAF_SLOT, KERNEL_SLOT)(name)
#include "../../IR/ops.def"
#undef DINO_OP
};

/* The `scratch` column: 1 names dino_scratch_<op>, 0 leaves the slot NULL. */
#define SCRATCH_0(name) NULL,
#define SCRATCH_1(name) dino_scratch_##name,

/** Scratch size per op (NULL: the kernel needs none). */
static const dino_scratch_fn dino_scratch_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    SCRATCH_##scratch(name)
#include "../../IR/ops.def"
#undef DINO_OP
};

_Static_assert(sizeof dino_run_table / sizeof dino_run_table[0] == DINO_OP_COUNT,
               "kernel table out of sync with IR/ops.def");
_Static_assert(sizeof dino_scratch_table / sizeof dino_scratch_table[0] == DINO_OP_COUNT,
               "scratch table out of sync with IR/ops.def");

int dino_op_has_kernel(int32_t op) {
    if (op < 0 || op >= DINO_OP_COUNT) return 0;
    return dino_run_table[op] != NULL;
}

/* ---- the executor -------------------------------------------------------------------- */

int dino_exec(const struct dino_instr *prog, int32_t n, struct dino_exec_ctx *ctx) {
    dino_threads_sync();
    ctx->error[0] = 0;
    for (int32_t k = 0; k < n; k++) {
        const struct dino_instr *ins = &prog[k];
        if (ins->op < 0 || ins->op >= DINO_OP_COUNT) {  // the one guard: the table index
            snprintf(ctx->error, sizeof ctx->error, "instruction %d: unknown op %d", k, ins->op);
            return k + 1;
        }
        if (dino_run_table[ins->op] != NULL) dino_run_table[ins->op](ins, ctx);  // NULL: a leaf
    }
    return 0;
}

size_t dino_instr_scratch_bytes(const struct dino_instr *ins, const struct dino_tensor *tensors) {
    if (ins->op < 0 || ins->op >= DINO_OP_COUNT || dino_scratch_table[ins->op] == NULL) return 0;
    return dino_scratch_table[ins->op](ins, tensors);
}
