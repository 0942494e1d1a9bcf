/* lwn_tiles.h — the register-blocked tiles of linear_weight_norm_bwd's block products on a
 * few rows (lwn_tiles.c; private). */
#ifndef DINO_LWN_TILES_H
#define DINO_LWN_TILES_H

#include <stdint.h>

/** The most rows of C one call of dino_lwn_tiles takes. */
enum { LWN_TILE_ROWS = 14 };

/** Lines to prefetch into L2 while the tiles run, one per k step (a later block's data). */
struct lwn_prefetch {
    const float *lines; /**< the first line of a contiguous region, or NULL */
    int64_t count; /**< lines in the region (≤ 0: none) */
    int write; /**< 1: lines about to be written */
};

/** Rows [0, rows) (rows ≤ LWN_TILE_ROWS) and columns [0, cols) of C (row stride ldc) =
 *  (accumulate ? C : 0) + Σ_p A(r, p)·B(p, q) for p < kc, where A(r, p) = a[r·a_rs + p·a_ks]
 *  and B(p, q) = b[p·ldb + q]: A and B read in place, no packing. Each element is acc =
 *  fma(A(r, p), B(p, q), acc) for p = 0, 1, … in order, from 0 or from C as stored, so the
 *  bits depend on neither the tiling nor the thread that runs it. `pf`'s lines are
 *  prefetched meanwhile, one per k step of each 32- or 16-column tile. */
void dino_lwn_tiles(float *c, int64_t ldc, const float *a, int64_t a_rs, int64_t a_ks,
                    const float *b, int64_t ldb, int rows, int cols, int kc, int accumulate,
                    struct lwn_prefetch pf);

#endif
