/* dino_attrs.h — one attribute struct per op of IR/ops.def, read by name.
 *
 * For op X, `struct dino_attrs_X` has one field per kernel attribute of its `attrs`
 * column (AI: int64_t, AF: float, AIL: const int64_t * to the list's first slot), and
 * `dino_decode_attrs_X(iattr, fattr)` fills it from an instruction's slots in schema order.
 * C code says `A.trans_a`: renaming or removing an attribute in ops.def fails the C
 * build wherever a kernel shim still reads the old name, and the slot order is
 * generated, never written by hand. Strings and float lists stay in the compiler. */
#ifndef DINO_ATTRS_H
#define DINO_ATTRS_H

#include "dino_ops.h"

/* The spellings of the attrs column. Each expansion of ops.def defines
 * DINO_ATTR(kind, name), kind being i, f, I (int list), s or F (float list). */
#define AI(n) DINO_ATTR(i, n)
#define AF(n) DINO_ATTR(f, n)
#define AIL(n) DINO_ATTR(I, n)
#define AS(n) DINO_ATTR(s, n)
#define AFL(n) DINO_ATTR(F, n)

/* The struct: one field per kernel attribute. */
#define DINO_FIELD_i(n) int64_t n;
#define DINO_FIELD_f(n) float n;
#define DINO_FIELD_I(n) const int64_t *n;
#define DINO_FIELD_s(n)
#define DINO_FIELD_F(n)
#define DINO_ATTR(kind, n) DINO_FIELD_##kind(n)
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    struct dino_attrs_##name {                                                                     \
        enum dino_op op;                                                                           \
        attrs                                                                                      \
    };
#include "../../../IR/ops.def"
#undef DINO_OP
#undef DINO_ATTR

/* The decoder: ints and int lists from iattr in order, floats from fattr. */
#define DINO_FILL_i(n) a.n = iattr[ni++];
#define DINO_FILL_f(n) a.n = fattr[nf++];
#define DINO_FILL_I(n) a.n = iattr + ni;
#define DINO_FILL_s(n)
#define DINO_FILL_F(n)
#define DINO_ATTR(kind, n) DINO_FILL_##kind(n)
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    static inline struct dino_attrs_##name dino_decode_attrs_##name(const int64_t *iattr,          \
                                                                    const float *fattr) {          \
        struct dino_attrs_##name a;                                                                \
        int ni = 0, nf = 0;                                                                        \
        a.op = DINO_OP_##name;                                                                     \
        attrs(void) ni;                                                                            \
        (void)nf;                                                                                  \
        (void)iattr;                                                                               \
        (void)fattr;                                                                               \
        return a;                                                                                  \
    }
#include "../../../IR/ops.def"
#undef DINO_OP
#undef DINO_ATTR

/* Each op's int and float slots fit the instruction (an int list takes up to
 * DINO_MAX_RANK slots). That an int list comes last is checked by OpTableTests. */
#define DINO_INTS_i(n) +1
#define DINO_INTS_I(n) +DINO_MAX_RANK
#define DINO_FLOATS_f(n) +1
#define DINO_INTS_f(n)
#define DINO_INTS_s(n)
#define DINO_INTS_F(n)
#define DINO_FLOATS_i(n)
#define DINO_FLOATS_I(n)
#define DINO_FLOATS_s(n)
#define DINO_FLOATS_F(n)
#define DINO_ATTR(kind, n) DINO_INTS_##kind(n)
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    _Static_assert(0 attrs <= DINO_MAX_IATTRS, #name ": too many int attribute slots");
#include "../../../IR/ops.def"
#undef DINO_OP
#undef DINO_ATTR
#define DINO_ATTR(kind, n) DINO_FLOATS_##kind(n)
#define DINO_OP(name, swift, family, arity, grad, inplace, mutates, bw, i32_in, scratch,           \
                shape_rule, origin, flops, attrs, doc)                                             \
    _Static_assert(0 attrs <= DINO_MAX_FATTRS, #name ": too many float attribute slots");
#include "../../../IR/ops.def"
#undef DINO_OP
#undef DINO_ATTR

#endif
