/* dispatch.c — the executor: two tables indexed by op, built from IR/ops.def, hold each
 * op's optimised and reference entry (NULL for leaves, which the executor skips), a third
 * its scratch size (NULL: none). The entries are the shims `dino_run_<op>` and
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

#define NO_ENTRIES(name)
#define ENTRIES(name)                                                                         \
    static void fast_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {        \
        dino_run_##name(ins, ctx, 0);                                                         \
    }                                                                                         \
    static void ref_##name(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {         \
        dino_run_##name(ins, ctx, 1);                                                         \
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

/* The `scratch` column: 1 names dino_scratch_<op>, 0 leaves the slot NULL. */
#define SCRATCH_0(name) NULL,
#define SCRATCH_1(name) dino_scratch_##name,

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
