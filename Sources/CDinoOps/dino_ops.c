/* dino_ops.c — the trait table of IR/ops.def, one entry per op, in enum order, and the
 * functions generated from its columns (FLOP formulas, attribute lookup by name). */
#include "dino_ops.h"
#include "dino_attrs.h"
#include <stddef.h>
#include <string.h>

/* The schema string of the attrs column: "trans_a:i,trans_b:i,". */
#define DINO_ATTR(kind, n) #n ":" #kind ","
static const struct dino_op_traits dino_op_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    {#name,  #family, arity,       grad,    inplace,  mutates, bw,                                 \
     i32_in, scratch, #shape_rule, #origin, "" attrs, doc},
#include "../../IR/ops.def"
#undef DINO_OP
};
#undef DINO_ATTR

_Static_assert(sizeof(dino_op_table) / sizeof(dino_op_table[0]) == DINO_OP_COUNT,
               "trait table out of sync with IR/ops.def");

const struct dino_op_traits *dino_op_traits_of(int32_t op) {
    if (op < 0 || op >= DINO_OP_COUNT) return NULL;
    return &dino_op_table[op];
}

/** Extent `d` of operand `i` (d < 0 counts from the end); 0 when there is none. */
static double dim(const struct dino_shape *operands, int32_t n, int32_t i, int32_t d) {
    if (i < 0 || i >= n) return 0;
    int32_t axis = d < 0 ? operands[i].rank + d : d;
    if (axis < 0 || axis >= operands[i].rank) return 0;
    return (double)operands[i].dims[axis];
}

/** The element count of a shape. */
static double count(const struct dino_shape *shape) {
    double c = 1;
    for (int32_t d = 0; d < shape->rank; d++) c *= (double)shape->dims[d];
    return c;
}

double dino_op_gemm_flops(int32_t op, const struct dino_shape *operands, int32_t n,
                          const struct dino_shape *result, const int64_t *iattr,
                          const float *fattr) {
    const double OUT = count(result);
#define DIM(i, d) dim(operands, n, i, d)
    switch ((enum dino_op)op) {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    case DINO_OP_##name: {                                                                         \
        const struct dino_attrs_##name A = dino_decode_attrs_##name(iattr, fattr);                 \
        (void)A;                                                                                   \
        return (double)(flops);                                                                    \
    }
#include "../../IR/ops.def"
#undef DINO_OP
    }
#undef DIM
    (void)OUT;
    return 0;  // an op outside the table
}

int dino_op_attr_value(int32_t op, const char *attr, const int64_t *iattr, const float *fattr,
                       double *value) {
/* Ints, floats and the first element of an int list; strings and float lists have no
 * field. */
#define DINO_LOOKUP(n, value_expr)                                                                 \
    if (strcmp(attr, #n) == 0) {                                                                   \
        *value = (double)(value_expr);                                                             \
        return 1;                                                                                  \
    }
#define DINO_LOOKUP_i(n) DINO_LOOKUP(n, a.n)
#define DINO_LOOKUP_f(n) DINO_LOOKUP(n, a.n)
#define DINO_LOOKUP_I(n) DINO_LOOKUP(n, a.n[0])
#define DINO_LOOKUP_s(n)
#define DINO_LOOKUP_F(n)
#define DINO_ATTR(kind, n) DINO_LOOKUP_##kind(n)
    switch ((enum dino_op)op) {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    case DINO_OP_##name: {                                                                         \
        const struct dino_attrs_##name a = dino_decode_attrs_##name(iattr, fattr);                 \
        (void)a;                                                                                   \
        attrs return 0;                                                                            \
    }
#include "../../IR/ops.def"
#undef DINO_OP
    }
#undef DINO_ATTR
    return 0;  // an op outside the table
}
