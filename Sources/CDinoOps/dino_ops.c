/* dino_ops.c — the trait table of IR/ops.def, one entry per op, in enum order. */
#include "dino_ops.h"
#include <stddef.h>

static const struct dino_op_traits dino_op_table[] = {
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, attrs) \
    {#name, #family, arity, grad, inplace, mutates, bw, attrs},
#include "../../IR/ops.def"
#undef DINO_OP
};

_Static_assert(sizeof(dino_op_table) / sizeof(dino_op_table[0]) == DINO_OP_COUNT,
               "trait table out of sync with IR/ops.def");

const struct dino_op_traits *dino_op_traits_of(int32_t op) {
    if (op < 0 || op >= DINO_OP_COUNT) return NULL;
    return &dino_op_table[op];
}
