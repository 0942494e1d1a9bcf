/* dino_ops.h — the op catalogue (IR/ops.def) expanded for C and Swift.
 *
 * Swift imports `enum dino_op` as the frozen enum `dino_op` with camelCase cases
 * (see DinoOps.OpKind); C uses DINO_OP_<name>. The trait tables are indexed by op.
 * The include path is relative to this header so that Swift clients need no flags. */
#ifndef DINO_OPS_H
#define DINO_OPS_H

#include <stdint.h>

/** One enumerator per row of IR/ops.def. */
enum __attribute__((enum_extensibility(closed))) dino_op {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, attrs) \
    DINO_OP_##name __attribute__((swift_name(#swift))),
#include "../../../IR/ops.def"
#undef DINO_OP
};

/** Number of ops; kept out of `enum dino_op` so that Swift sees no extra case. */
enum { DINO_OP_COUNT = 0
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, attrs) + 1
#include "../../../IR/ops.def"
#undef DINO_OP
};

/** The per-op facts of one ops.def row. */
struct dino_op_traits {
    const char *name;     /**< snake_case IR spelling */
    const char *family;   /**< kernel family */
    int32_t arity;        /**< operand count, -1 variadic */
    uint32_t grad_mask;   /**< operands that receive gradients */
    int32_t inplace;      /**< result may share operand 0's buffer */
    uint32_t mutates;     /**< operands updated in place (effect ops) */
    const char *bw_needs; /**< forward tensors the VJP reads */
    const char *attrs;    /**< attribute schema */
};

/** Traits of `op`; `op` must be < DINO_OP_COUNT. */
const struct dino_op_traits *dino_op_traits_of(int32_t op);

/** Maximum rank of a tensor, and the kernel attribute slot counts. */
enum { DINO_MAX_RANK = 6, DINO_MAX_IATTRS = 8, DINO_MAX_FATTRS = 4 };

#endif
