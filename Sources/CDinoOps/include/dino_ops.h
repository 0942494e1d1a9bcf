/* dino_ops.h — the op catalogue (IR/ops.def) expanded for C and Swift.
 *
 * Swift imports `enum dino_op` as the frozen enum `dino_op` with camelCase cases
 * (see DinoOps.OpKind); C uses DINO_OP_<name>. The trait tables are indexed by op;
 * dino_attrs.h holds one attribute struct per op. The include path is relative to this
 * header so that Swift clients need no flags. */
#ifndef DINO_OPS_H
#define DINO_OPS_H

#include <stdint.h>

/** One enumerator per row of IR/ops.def. */
enum __attribute__((enum_extensibility(closed))) dino_op {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    DINO_OP_##name __attribute__((swift_name(#swift))),
#include "../../../IR/ops.def"
#undef DINO_OP
};

/** Number of ops; kept out of `enum dino_op` so that Swift sees no extra case. */
enum {
    DINO_OP_COUNT = 0
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    +1
#include "../../../IR/ops.def"
#undef DINO_OP
};

/** Element types, matching DinoOps.DType. */
enum { DINO_F32 = 0, DINO_I32 = 1 };

/** The per-op facts of one ops.def row. */
struct dino_op_traits {
    const char *name; /**< snake_case IR spelling */
    const char *family; /**< kernel family */
    int32_t arity; /**< operand count, -1 variadic */
    uint32_t grad_mask; /**< operands that receive gradients */
    int32_t inplace; /**< result may share operand 0's buffer */
    uint32_t mutates; /**< operands updated in place (effect ops) */
    const char *bw_needs; /**< forward values the VJP reads: "dy", "y", "x<K>" */
    uint32_t i32_in; /**< operands of element type i32 (all others f32) */
    int32_t scratch; /**< the kernel needs scratch memory */
    const char *shape; /**< the shape rule: "same", "broadcast", …, "custom" */
    const char *origin; /**< what makes the op: "dsl", "autodiff", "pass", "fuse" */
    const char *attrs; /**< attribute schema "name:T,…" (T: i f I s F), slot order */
    const char *doc; /**< what the op computes: its IR/OPS.md entry (markdown) */
};

/** Traits of `op`; NULL unless 0 <= op < DINO_OP_COUNT. */
const struct dino_op_traits *dino_op_traits_of(int32_t op);

/** Maximum rank of a tensor, and the kernel attribute slot counts. */
enum { DINO_MAX_RANK = 6, DINO_MAX_IATTRS = 8, DINO_MAX_FATTRS = 4 };

/** A shape: what the FLOP formulas of ops.def read. */
struct dino_shape {
    int32_t rank; /**< number of dimensions */
    int64_t dims[DINO_MAX_RANK]; /**< extents, outermost first */
};

/** The GEMM FLOPs of one run of `op` (the `gemm_flops` column of ops.def) over `n`
 *  operand shapes, the result shape and the kernel attribute slots; 0 for ops without a
 *  GEMM and for an op outside the table. */
double dino_op_gemm_flops(int32_t op, const struct dino_shape *operands, int32_t n,
                          const struct dino_shape *result, const int64_t *iattr,
                          const float *fattr);

/** Reads attribute `attr` of `op` from the slots through the op's generated struct
 *  (dino_attrs.h): the value of an int or float, the first element of an int list.
 *  Returns 1 and sets *value, or 0 when the struct has no such field. For tests that
 *  hold the Swift slot packing against the C structs. */
int dino_op_attr_value(int32_t op, const char *attr, const int64_t *iattr, const float *fattr,
                       double *value);

#endif
