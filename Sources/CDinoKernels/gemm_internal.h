/* gemm_internal.h — what gemm.c (the GEMM ops, their thread split and the kernel choice) and
 * gemm_tiled.c (the AVX-512 GEMM with the epilogue per group of tiles) share (private). */
#ifndef DINO_GEMM_INTERNAL_H
#define DINO_GEMM_INTERNAL_H

#include <stdint.h>

/** What a GEMM does to C after its products, in this order (row by row, each step a loop of
 *  its own over the row, as the unfused kernels round): add `bias` (per column), multiply
 *  row r by `row_scale[r / rows_per_scale]` (linear_residual_scaled: the drop-path mask), add
 *  `residual` (linear_residual), write gelu(C) to `gelu` (linear_gelu) or over C itself when
 *  `gelu_in_place` (linear_gelu_only), multiply by gelu'(`gelu_grad_x`) as gelu_bwd does
 *  (matmul_gelu_bwd). `gelu`, `residual` and `gelu_grad_x` are laid out as C (per batch item
 *  at the same stride); row_scale is for a single GEMM (batch 1) only. */
struct gemm_epilogue {
    const float *bias; /**< per column, or NULL */
    const float *row_scale; /**< per group of rows_per_scale rows, or NULL */
    int64_t rows_per_scale; /**< consecutive rows sharing one row_scale entry */
    const float *residual; /**< added after the scale, laid out as C, or NULL */
    float *gelu; /**< receives gelu(C), laid out as C, or NULL */
    int gelu_in_place; /**< 1: C = gelu(C) */
    const float *gelu_grad_x; /**< C = gelu_bwd(C, x) with x laid out as C, or NULL */
};

/** Whether `e` does anything. */
static inline int dino_gemm_epilogue_is_empty(const struct gemm_epilogue *e) {
    return !e->bias && !e->row_scale && !e->residual && !e->gelu && !e->gelu_in_place &&
           !e->gelu_grad_x;
}

/** Applies `e` to rows [m0, m0 + mm) and columns [n0, n0 + nn) of C (c is C's first element,
 *  n its row length): the same float operations in the same order for any rectangle, so a
 *  tile-by-tile epilogue gives the bits of a block-by-block one (gemm.c). */
void dino_gemm_epilogue_apply(float *c, const struct gemm_epilogue *e, int n, int m0, int mm,
                              int n0, int nn);

/** Whether this build has the tiled GEMM (compiled with AVX-512F); without it the shape
 *  choice always answers cblas. */
int dino_gemm_tiled_available(void);

/** Whether the tiled GEMM beats single-threaded OpenBLAS plus a separate epilogue on the
 *  whole GEMM's shape (measured by tools/bench_gemm.sh, BENCHMARKS.md); shape alone decides,
 *  so the fused and the unfused pipeline and every thread count take the same kernel. */
int dino_gemm_tiled_wins(int m, int n, int k, int trans_a, int trans_b);

/** Rows [m0, m1), columns [n0, n1) of C[m, n] = op(A)·op(B) followed by the epilogue `e`
 *  (A is (m, k) or, transposed, (k, m); B is (k, n) or, transposed, (n, k)), k ≥ 1. Each
 *  element is summed over k = 0, 1, … in order by fused multiply-adds from 0, whatever the
 *  block, so the result does not depend on the thread split; the epilogue runs on each
 *  group of 4 microtiles (14 × 128) right after the group's last K block. Returns 0 when it
 *  could not run (no AVX-512, or its packing buffers could not be allocated): the caller
 *  then takes cblas. */
int dino_gemm_tiled_block(float *c, const float *a, const float *b,
                          const struct gemm_epilogue *e, int m, int n, int k, int trans_a,
                          int trans_b, int m0, int m1, int n0, int n1);

#endif
