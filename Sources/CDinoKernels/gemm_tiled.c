/* gemm_tiled.c — an f32 GEMM of our own, C = op(A)·op(B) for the layouts the plans use
 * (NN, NT, TN), GotoBLAS-style, with the GEMM epilogue (bias, row scale, residual, GELU,
 * GELU backward) applied to each group of 4 microtiles of a row panel (14 × 128 floats of
 * C) right after the group's last tile of the last K block, while the group is still in
 * L1/L2, instead of as separate passes over a block of C that has gone back to DRAM.
 *
 * Blocking (Zen 4: 32 KiB L1d, 1 MiB L2 per core, one 512-bit FMA per cycle):
 *   - the microkernel keeps a MR × NR = 14 × 32 tile of C in 28 zmm accumulators; per k it
 *     loads two vectors of B (32 columns) and broadcasts 14 values of A: 28 FMAs against
 *     16 loads, so the FMA pipe, not the load ports, is the limit;
 *   - K is cut into blocks of at most KC_MAX = 384 (split evenly): the forward GEMMs of the
 *     plans (K = 192) and most others are one block, so each tile of C is written once and
 *     the epilogue follows at once;
 *   - B is packed kc × nc at a time (at most 576 KiB of the 1 MiB L2: fc1's 768 × 192
 *     weight in one block) into NR-column micro-panels, which the microkernel streams from
 *     L2;
 *   - A not transposed over several K blocks whose B (all K × the block's columns) fits
 *     those 576 KiB (K = 576, 768 into 192 columns: qkv's and fc1's input gradients, fc2's
 *     forward) packs every K block of B at once, and each row panel runs its K blocks back
 *     to back: the panel's 14 rows of C stay in L1 from the first block to the epilogue,
 *     where block after block over all rows sent C (4.9 MB at 6400 rows) to memory and
 *     back once per extra block. tools/bench_gemm.sh, 1 thread, CPU time, GFLOP/s:
 *     fmnist dX fc1 97.6–98.5 → 104.7–106.6, dX qkv 95.0–98.1 → 102.2–104.4, fc2's plain
 *     linear 98.4–99.2 → 104.3–104.9 (A's panel read in place over all 768 k instead, a
 *     43 KiB panel, was not tried: the K blocks keep 14 × kc in L1 at no cost);
 *   - A's 14-row panel (14 × kc floats) is read in place: 14 rows of contiguous floats, or,
 *     transposed (Aᵀ·B, the weight gradients), 14 adjacent floats of each of A's kc rows,
 *     broadcast where they lie; it meets every B micro-panel of the block, and the next
 *     panel is prefetched meanwhile, a share per tile; only a panel at an edge that A's
 *     layout cannot read in place is packed as [k][14] right before use;
 *   - Aᵀ·B over a long K (thousands of rows): B's block spans the block's whole N (or even
 *     chunks of it) with kc sized to 384 KiB, and the next K block's rows of A and B are
 *     prefetched into L2 during this one, a share per tile, so that neither the packing nor
 *     the in-place reads of A wait on memory;
 *   - edges (M, N not multiples of 14, 32) are zero-padded in the packed panels and the tile
 *     goes through a small buffer;
 *   - the epilogue runs per group of EPILOGUE_TILES = 4 tiles (14 rows × 128 columns), not
 *     per 14 × 32 tile: the microkernel runs four tiles back to back, the epilogue is one
 *     loop of 8 vectors per row (its constants stay in registers), and the group's operands
 *     (residual, GELU output, GELU input), a share of its rows per tile, are prefetched into
 *     L2 as 14 runs of 512 contiguous bytes instead of 28 scattered lines per tile. The
 *     element-wise steps are the same, so the bits are those of a per-tile epilogue.
 *     tools/bench_gemm.sh, 1 thread, CPU time, GFLOP/s per tile → per group of 4:
 *     proj's linear_residual_scaled (6400 × 192 × 192) 80–82 → 86–88, its plain linear
 *     (bias only) 90–91 → 92–96, linear_gelu (6400 × 768 × 192) 80–84 → 85–86,
 *     matmul_gelu_bwd 83.5 → 86–87 (groups of 8: 84 / 86–87; the whole 672-column panel:
 *     82.5 / 85.5–86).
 * Order of the sums: each element is acc = fma(a[i,p], b[p,j], acc) for p = 0, 1, …, k − 1
 * from acc = 0; K blocks after the first reload the partial sum from C, exactly as stored, so
 * the bits depend on neither the blocking nor the thread split (the K loop is never split
 * across threads). Packing buffers are per thread, allocated once on the thread's first call.
 * Without AVX-512F this file only answers that it is absent, and gemm.c keeps cblas. */
#include <stdlib.h>
#include <string.h>

#include "gemm_internal.h"
#include "internal.h"

#if defined(__AVX512F__)
#include <immintrin.h>

/** The microtile: rows of A (broadcast) × columns of B (two zmm). */
enum { MR = 14, NR = 32 };
/** The largest K block: an A micro-panel of MR × KC_MAX floats (21 KiB) stays in L1; K up
 *  to 384 (every forward GEMM of the plans but fc2's) is one block, so C is written once. */
enum { KC_MAX = 384 };
/** Floats of B packed at once (576 KiB of L2, the rest for A, C and the epilogue's
 *  operands): kc × nc with nc a multiple of NR. 768 × 192 floats, so that the GEMMs into
 *  768 columns with K = 192 (fc1 forward, fc2's input gradient) pack B once per thread and
 *  read each panel of A once: with 512 KiB they ran as 672 + 96 columns, 4–5 % slower
 *  (tools/bench_gemm.sh, 1 thread, CPU time: linear_gelu 84.5–85 → 89, linear_gelu_only
 *  89 → 92, matmul_gelu_bwd 86–87 → 90.5–91 GFLOP/s); the other shapes did not move. */
enum { B_FLOATS = 144 * 1024 };
/** Aᵀ·B (a weight gradient, K in the thousands): B's block is at most B_FLOATS_TN floats
 *  (384 KiB), since the next K block of A and B is fetched into L2 while this one computes;
 *  it spans the block's whole N (in even chunks where that would leave K blocks under
 *  KC_MIN_TN), so A, read in place, is read from memory once per chunk. */
enum { B_FLOATS_TN = 96 * 1024, KC_MIN_TN = 256 };

/** Tiles of a row panel whose epilogue runs at once, after the last of them: 4 (a 14 × 128
 *  block of C, 7 KiB, in L1) measured best of 1 (per tile), 4, 8 and 24 (the panel). */
#ifndef EPILOGUE_TILES
#define EPILOGUE_TILES 4
#endif

int dino_gemm_tiled_available(void) { return 1; }

/* This thread's packing buffers (21 KiB + 576 KiB), allocated on its first GEMM and kept:
 * OpenMP's threads live as long as the process; another thread that calls dino_exec and
 * then ends leaves its two buffers behind (never freed). */
static _Thread_local float *packed_a;
static _Thread_local float *packed_b;

static int ensure_buffers(void) {
    if (!packed_a) packed_a = aligned_alloc(64, sizeof(float) * MR * KC_MAX);
    if (!packed_b) packed_b = aligned_alloc(64, sizeof(float) * B_FLOATS);
    return packed_a && packed_b;
}

/* Packs rows [i0, i0 + rows) (rows ≤ MR) and k range [p0, p0 + kc) of op(A) as [p][MR],
 * zero rows past `rows`. A is (m, k), or (k, m) when trans_a. */
static void pack_a(float *restrict dst, const float *restrict a, int m, int k, int trans_a,
                   int i0, int rows, int p0, int kc) {
    if (rows < MR) memset(dst, 0, sizeof(float) * MR * (size_t)kc);
    if (trans_a) {
        for (int p = 0; p < kc; p++) {
            const float *src = a + (int64_t)(p0 + p) * m + i0;
            for (int r = 0; r < rows; r++) dst[p * MR + r] = src[r];
        }
    } else {
        for (int r = 0; r < rows; r++) {
            const float *src = a + (int64_t)(i0 + r) * k + p0;
            for (int p = 0; p < kc; p++) dst[p * MR + r] = src[p];
        }
    }
}

/* Packs columns [j0, j0 + nc) and k range [p0, p0 + kc) of op(B) into NR-column panels, each
 * [p][NR], zero columns past nc. B is (k, n), or (n, k) when trans_b. */
static void pack_b(float *restrict dst, const float *restrict b, int n, int k, int trans_b,
                   int j0, int nc, int p0, int kc) {
    for (int jr = 0; jr < nc; jr += NR) {
        int cols = nc - jr < NR ? nc - jr : NR;
        float *panel = dst + (int64_t)jr * kc;
        if (cols < NR) memset(panel, 0, sizeof(float) * NR * (size_t)kc);
        if (trans_b) {
            for (int j = 0; j < cols; j++) {
                const float *src = b + (int64_t)(j0 + jr + j) * k + p0;
                for (int p = 0; p < kc; p++) panel[p * NR + j] = src[p];
            }
        } else {
            for (int p = 0; p < kc; p++) {
                const float *src = b + (int64_t)(p0 + p) * n + j0 + jr;
                for (int j = 0; j < cols; j++) panel[p * NR + j] = src[j];
            }
        }
    }
}

/* The 14 × 32 tile at c (row stride ldc) = (accumulate ? c : 0) + Σ_p A_p·bp[p], each
 * element one fma per p in order, where A(r, p) = ap[r·a_rs + p·a_ks] (packed: 1, MR; rows
 * of A read in place: lda, 1) and bp is [kc][NR] (64-byte aligned). */
static inline __attribute__((always_inline)) void
microkernel(int kc, const float *restrict ap, int64_t a_rs, int64_t a_ks,
            const float *restrict bp, float *restrict c, int64_t ldc, int accumulate) {
    __m512 acc[MR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        acc[r][0] = accumulate ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
        acc[r][1] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(ap[r * a_rs]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
        ap += a_ks;
        bp += NR;
    }
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(c + r * ldc, acc[r][0]);
        _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
    }
}

/* The microkernel on a packed A micro-panel ([kc][MR]). */
static void kernel_packed(int kc, const float *ap, const float *bp, float *c, int64_t ldc,
                          int accumulate) {
    microkernel(kc, ap, 1, MR, bp, c, ldc, accumulate);
}

/* The microkernel on 14 whole rows of a non-transposed A read in place (row stride lda): no
 * packing, the 14 rows (14 × kc floats) stay in L1 across the tiles of the row panel. */
static void kernel_rows(int kc, const float *ap, int64_t lda, const float *bp, float *c,
                        int64_t ldc, int accumulate) {
    microkernel(kc, ap, lda, 1, bp, c, ldc, accumulate);
}

/* The microkernel on 14 adjacent columns of a transposed A read in place: at each k the 14
 * values are adjacent floats of one of A's rows (row stride lda). */
static void kernel_cols(int kc, const float *ap, int64_t lda, const float *bp, float *c,
                        int64_t ldc, int accumulate) {
    microkernel(kc, ap, 1, lda, bp, c, ldc, accumulate);
}

/* Prefetches share `part` of `parts` of the epilogue's operands (laid out as C) over rows
 * [i0, i0 + rows), columns [j0, j0 + cols) into L2: a range of whole rows, so each share is
 * a few contiguous runs that the epilogue then reads front to back. */
static void prefetch_epilogue_share(const struct gemm_epilogue *e, int n, int i0, int rows,
                                    int j0, int cols, int part, int parts) {
    int step = (rows + parts - 1) / parts, lo = part * step;
    int hi = lo + step < rows ? lo + step : rows;
    if (hi <= lo) return;
    int64_t at = (int64_t)(i0 + lo) * n + j0;
    if (e->residual) dino_prefetch_rect(e->residual + at, n, hi - lo, cols, 0, 0);
    if (e->gelu) dino_prefetch_rect(e->gelu + at, n, hi - lo, cols, 1, 0);
    if (e->gelu_grad_x) dino_prefetch_rect(e->gelu_grad_x + at, n, hi - lo, cols, 0, 0);
}

/* One tile of rows × cols (≤ MR × NR) at c: directly when whole, else through a buffer so
 * that nothing outside the tile is read or written. A is the packed micro-panel, or, when
 * a_rows is not NULL, read in place with row stride lda: MR rows of A (a whole panel), or,
 * with a_cols, MR adjacent columns of a transposed A (MR columns exist past a_rows, even
 * when fewer of them are the tile's rows). */
static void tile(int kc, const float *ap, const float *a_rows, int64_t lda, const float *bp,
                 float *c, int64_t ldc, int accumulate, int rows, int cols, int a_cols) {
    if (rows == MR && cols == NR) {
        if (a_rows && a_cols)
            kernel_cols(kc, a_rows, lda, bp, c, ldc, accumulate);
        else if (a_rows)
            kernel_rows(kc, a_rows, lda, bp, c, ldc, accumulate);
        else
            kernel_packed(kc, ap, bp, c, ldc, accumulate);
        return;
    }
    _Alignas(64) float buf[MR * NR];
    if (accumulate)
        for (int r = 0; r < rows; r++) memcpy(buf + r * NR, c + r * ldc, sizeof(float) * cols);
    if (a_rows && a_cols)
        kernel_cols(kc, a_rows, lda, bp, buf, NR, accumulate);
    else if (a_rows)
        kernel_rows(kc, a_rows, lda, bp, buf, NR, accumulate);
    else
        kernel_packed(kc, ap, bp, buf, NR, accumulate);
    for (int r = 0; r < rows; r++) memcpy(c + r * ldc, buf + r * NR, sizeof(float) * cols);
}

/* Prefetches share `part` of `parts` of op(A)'s next micro-panel: rows [i0, i0 + rows) over k
 * range [p0, p0 + kc). Transposed, the panel is kc rows of A with 14 adjacent floats each (one
 * or two lines): the share is a range of k; otherwise a range of A's rows. */
static void prefetch_a_share(const float *a, int m, int k, int trans_a, int i0, int rows, int p0,
                             int kc, int part, int parts) {
    if (rows <= 0) return;
    if (trans_a) {
        int step = (kc + parts - 1) / parts, lo = part * step;
        int hi = lo + step < kc ? lo + step : kc;
        for (int p = lo; p < hi; p++) {
            const float *row = a + (int64_t)(p0 + p) * m + i0;
            __builtin_prefetch(row, 0, 3);
            __builtin_prefetch(row + rows - 1, 0, 3);
        }
    } else {
        int step = (rows + parts - 1) / parts, lo = part * step;
        int hi = lo + step < rows ? lo + step : rows;
        if (hi > lo) dino_prefetch_rect(a + (int64_t)(i0 + lo) * k + p0, k, hi - lo, kc, 0, 1);
    }
}

/* Prefetches share `part` of `parts` of rows [p0, p0 + kc), columns [j0, j0 + cols) of a
 * row-major matrix x with row length ld into L2 (the next K block of B, or of a transposed A:
 * in both, the rows are k). */
static void prefetch_l2_share(const float *x, int ld, int j0, int cols, int p0, int kc, int part,
                              int parts) {
    int step = (kc + parts - 1) / parts, lo = part * step;
    int hi = lo + step < kc ? lo + step : kc;
    if (hi > lo) dino_prefetch_rect(x + (int64_t)(p0 + lo) * ld + j0, ld, hi - lo, cols, 0, 0);
}

/* The K block size and the N chunk of B packed at once for the block's nn columns and k:
 * K blocks of equal size (the last may be shorter by the rounding). */
static void blocking(int nn, int k, int trans_a, int *kc_step, int *nc_max) {
    int kc_cap = KC_MAX;
    if (trans_a) {
        // Whole N, or the fewest even chunks that leave K blocks of KC_MIN_TN or more.
        int n_chunks = 1, rounded = (nn + NR - 1) / NR * NR;
        while ((rounded / n_chunks + NR - 1) / NR * NR * KC_MIN_TN > B_FLOATS_TN) n_chunks++;
        *nc_max = (rounded / n_chunks + NR - 1) / NR * NR;
        kc_cap = B_FLOATS_TN / *nc_max < KC_MAX ? B_FLOATS_TN / *nc_max : KC_MAX;
    }
    int k_blocks = (k + kc_cap - 1) / kc_cap;
    *kc_step = (k + k_blocks - 1) / k_blocks;
    if (!trans_a) *nc_max = B_FLOATS / *kc_step / NR * NR;
    if (*nc_max < NR) *nc_max = NR;
}

/* The epilogue group of tile column jr in a block of nc columns: its first column *g0 and
 * its width *gcols (EPILOGUE_TILES tiles, fewer at the block's end). */
static void epilogue_group(int jr, int nc, int *g0, int *gcols) {
    *g0 = jr / (EPILOGUE_TILES * NR) * (EPILOGUE_TILES * NR);
    *gcols = nc - *g0 < EPILOGUE_TILES * NR ? nc - *g0 : EPILOGUE_TILES * NR;
}

/* Before tile jr of a panel's last K block (rows [ir, ir + rows), the block's columns from
 * c0): this tile's share of its group's epilogue operands, into L2. */
static void epilogue_group_prefetch(const struct gemm_epilogue *e, int n, int ir, int rows,
                                    int c0, int jr, int nc) {
    int g0, gcols;
    epilogue_group(jr, nc, &g0, &gcols);
    prefetch_epilogue_share(e, n, ir, rows, c0 + g0, gcols, (jr - g0) / NR,
                            (gcols + NR - 1) / NR);
}

/* After tile jr of a panel's last K block was stored: when it closes its group, the group's
 * epilogue, read back from L1/L2 (14 rows of up to EPILOGUE_TILES · 32 floats). */
static void epilogue_group_finish(float *c, const struct gemm_epilogue *e, int n, int ir,
                                  int rows, int c0, int jr, int nc) {
    int g0, gcols;
    epilogue_group(jr, nc, &g0, &gcols);
    if (jr + NR >= g0 + gcols) dino_gemm_epilogue_apply(c, e, n, ir, rows, c0 + g0, gcols);
}

/* Rows [m0, m1), columns [n0, n1) of C with A not transposed, over several K blocks, when
 * every K block of B for those columns fits the packing buffer at once (K = 576, 768 into
 * 192 columns: the blocks' input gradients, fc2's forward): B is packed once, block after
 * block, and each row panel runs all its K blocks back to back, so its 14 rows of C (14 ×
 * 192 floats) stay in L1 from the first block to the epilogue instead of going to memory
 * and back once per K block (C is 4.9 MB at 6400 rows). A's panel is still read in place
 * one K block at a time (14 × kc floats in L1). The same sums in the same order as the
 * block-by-block walk: each element's K blocks follow one another from p = 0. */
static void resident_b_block(float *c, const float *a, const float *b,
                             const struct gemm_epilogue *e, int m, int n, int k, int trans_b,
                             int m0, int m1, int n0, int nc, int kc_step) {
    int has_epilogue = !dino_gemm_epilogue_is_empty(e);
    int64_t rounded = (nc + NR - 1) / NR * NR;
    for (int pc = 0; pc < k; pc += kc_step)
        pack_b(packed_b + rounded * pc, b, n, k, trans_b, n0, nc, pc,
               k - pc < kc_step ? k - pc : kc_step);
    int tiles = (nc + NR - 1) / NR;
    for (int ir = m0; ir < m1; ir += MR) {
        int rows = m1 - ir < MR ? m1 - ir : MR;
        int next_rows = m1 - ir - MR < MR ? m1 - ir - MR : MR;
        for (int pc = 0; pc < k; pc += kc_step) {
            int kc = k - pc < kc_step ? k - pc : kc_step;
            int first = pc == 0, last = pc + kc == k;
            const float *a_rows = rows == MR ? a + (int64_t)ir * k + pc : NULL;
            if (!a_rows) pack_a(packed_a, a, m, k, 0, ir, rows, pc, kc);
            const float *bp = packed_b + rounded * pc;
            for (int jr = 0, t = 0; jr < nc; jr += NR, t++) {
                int cols = nc - jr < NR ? nc - jr : NR;
                float *ct = c + (int64_t)ir * n + n0 + jr;
                // The next panel's rows of A for this K block, a share per tile.
                prefetch_a_share(a, m, k, 0, ir + MR, next_rows, pc, kc, t, tiles);
                if (last && has_epilogue) epilogue_group_prefetch(e, n, ir, rows, n0, jr, nc);
                if (first) dino_prefetch_rect(ct, n, rows, cols, 1, 1);
                tile(kc, packed_a, a_rows, k, bp + (int64_t)jr * kc, ct, n, !first, rows, cols,
                     0);
                if (last && has_epilogue) epilogue_group_finish(c, e, n, ir, rows, n0, jr, nc);
            }
        }
    }
}

int dino_gemm_tiled_block(float *c, const float *a, const float *b,
                          const struct gemm_epilogue *e, int m, int n, int k, int trans_a,
                          int trans_b, int m0, int m1, int n0, int n1) {
    if (m1 <= m0 || n1 <= n0) return 1;
    if (!ensure_buffers()) return 0;
    int has_epilogue = !dino_gemm_epilogue_is_empty(e);
    int kc_step, nc_max;
    blocking(n1 - n0, k, trans_a, &kc_step, &nc_max);
    if (!trans_a && kc_step < k && (int64_t)(n1 - n0 + NR - 1) / NR * NR * k <= B_FLOATS) {
        resident_b_block(c, a, b, e, m, n, k, trans_b, m0, m1, n0, n1 - n0, kc_step);
        return 1;
    }
    for (int jc = n0; jc < n1; jc += nc_max) {
        int nc = n1 - jc < nc_max ? n1 - jc : nc_max;
        for (int pc = 0; pc < k; pc += kc_step) {
            int kc = k - pc < kc_step ? k - pc : kc_step;
            int first = pc == 0, last = pc + kc == k;
            // Aᵀ·B over a long K: the next K block's rows of A and B go to L2 meanwhile.
            int next_kc = !trans_a || trans_b ? 0 : k - pc - kc < kc_step ? k - pc - kc : kc_step;
            pack_b(packed_b, b, n, k, trans_b, jc, nc, pc, kc);
            int tiles = (nc + NR - 1) / NR, panels = (m1 - m0 + MR - 1) / MR;
            for (int ir = m0, panel = 0; ir < m1; ir += MR, panel++) {
                int rows = m1 - ir < MR ? m1 - ir : MR;
                // A is read in place: a whole panel's 14 rows of contiguous floats, or,
                // transposed, 14 adjacent floats of each of A's kc rows wherever A has them
                // (every panel but an edge at A's last column); the rest is packed.
                const float *a_rows = trans_a ? (ir + MR <= m ? a + (int64_t)pc * m + ir : NULL)
                                              : (rows == MR ? a + (int64_t)ir * k + pc : NULL);
                if (!a_rows) pack_a(packed_a, a, m, k, trans_a, ir, rows, pc, kc);
                int next_rows = m1 - ir - MR < MR ? m1 - ir - MR : MR;
                for (int jr = 0, t = 0; jr < nc; jr += NR, t++) {
                    int cols = nc - jr < NR ? nc - jr : NR;
                    float *ct = c + (int64_t)ir * n + jc + jr;
                    // The next panel of A, a share per tile, while this panel computes.
                    prefetch_a_share(a, m, k, trans_a, ir + MR, next_rows, pc, kc, t, tiles);
                    if (next_kc > 0) {
                        int part = panel * tiles + t, parts = panels * tiles;
                        prefetch_l2_share(b, n, jc, nc, pc + kc, next_kc, part, parts);
                        prefetch_l2_share(a, m, m0, m1 - m0, pc + kc, next_kc, part, parts);
                    }
                    // The group's epilogue operands, a share per tile, while its tiles compute.
                    if (last && has_epilogue) epilogue_group_prefetch(e, n, ir, rows, jc, jr, nc);
                    // The tile the first K block stores without reading: owned before then.
                    if (first) dino_prefetch_rect(ct, n, rows, cols, 1, 1);
                    // The C tile a later K block reloads: the next one, while this computes.
                    if (!first && jr + NR < nc)
                        dino_prefetch_rect(ct + NR, n, rows, nc - jr - NR < NR ? nc - jr - NR : NR,
                                           1, 1);
                    tile(kc, packed_a, a_rows, trans_a ? m : k, packed_b + (int64_t)jr * kc, ct,
                         n, !first, rows, cols, trans_a);
                    if (last && has_epilogue) epilogue_group_finish(c, e, n, ir, rows, jc, jr, nc);
                }
            }
        }
    }
    return 1;
}

/* Measured against OpenBLAS plus the epilogue's passes on the plans' shapes (tools/
 * bench_gemm.sh, cold caches; BENCHMARKS.md "Our own GEMM"), by shape alone so that fused and
 * unfused plans take the same kernel. The tiled GEMM is taken where it was ahead:
 *   - tall GEMMs with A not transposed (the forward linears A·Bᵀ and the input gradients
 *     A·B, m ≥ 512 rows) into at most 576 columns with k ≤ 768: qkv, proj and fc2 forward,
 *     the blocks' input gradients into 192 columns (3–10 % ahead; those over K = 576 and
 *     768, with all of B packed at once, now 10–17 % at 1 thread and 8–17 % at 2);
 *   - the same into 577–768 columns with one K block (k ≤ 384): fc1 forward (linear_gelu,
 *     linear_gelu_only) and fc2's input gradient (matmul_gelu_bwd), since the epilogue runs
 *     per group of tiles and B fits one block: against OpenBLAS plus the epilogue after
 *     each thread's block (which walks 9.8 MB of C that sgemm wrote out of cache) 6 % ahead
 *     at 1 thread for linear_gelu and matmul_gelu_bwd, 9 % for linear_gelu_only, 11–14 %
 *     for the plain GEMMs, 3–10 % at 2 threads; in fmnist's step matmul_gelu_bwd took
 *     117 → 96 ms and linear_gelu_only 60 → 52 ms (BENCHMARKS.md, "Epilogue GEMMs (issue 9,
 *     sixth pass)"). With k ≤ 320 (OpenBLAS's K block here) both kernels sum each element
 *     over k in order by FMAs from 0, so the move changed no bit of either plan;
 *   - the fmnist head's last layer, A·Bᵀ with k ≤ 128 into ≥ 4096 columns (11 %);
 *   - weight gradients Aᵀ·B (A read in place) over k ≥ 2048 rows into 192 ≤ n ≤ 768
 *     columns with m ≥ 192: every block's qkv, proj and fc1 (1–17 % at 2 threads, 5–11 %
 *     at 1), and fc2's and tiny224's patch embedding's (192 × 768, split along N: each
 *     thread 192 × 384, all of A). Those were left on OpenBLAS by earlier runs at 2 threads
 *     (6–15 % behind in the benchmark on tiny224, 10 % behind in fmnist's step, on a busy
 *     machine); one thread's 192 × 384 block run alone is 5–7 % ahead of sgemm's same
 *     block (1 thread, CPU time; along M, 96 × 768 with all of B packed per thread, only
 *     1–5 % and 8–12 % slower than the N half), and in eight quiet step rounds (load ~1,
 *     the same build either way) the tiled GEMM took fmnist's 192 × 768 weight gradients
 *     from 85.9 to 80.3 ms per step (6400 rows 10.67 → 9.93 ms per call, 3840 rows
 *     6.33 → 6.01) and tiny224's from 106.2 to 102.4 ms (3152 rows 5.03 → 4.86, 2368 rows
 *     3.82 → 3.65; the patch embedding's among them). OpenBLAS sums K in blocks of its
 *     own, so the move changed the plans' bits (BENCHMARKS.md, "Plain GEMMs");
 *   - weight gradients over 512 ≤ k < 2048 rows into a tall, narrow C (m ≥ 1024, n ≤ 256:
 *     the fmnist head's first and last layers, 3–18 %);
 *   - weight gradients over k ≤ 128 rows into a wide or tall C (n ≥ 1024 or m ≥ 2048:
 *     tiny224's head, 4–14 %).
 * OpenBLAS stays elsewhere: K = 1024–65536 not transposed (the head's input gradients), a
 * C of 16 columns (fmnist's patch embedding gradient: half of each 32-column tile idle), the
 * heads' GELU layers (80 or 512 rows into 1024–2048 columns: 3–6 % ahead at K = 192, but
 * ~1 ms of a step, 18–22 % behind at K = 1024–2048) and the fmnist head's 1024 × 1024 and
 * 128 × 1024 weight gradients over 512 rows (2–5 % behind). */
int dino_gemm_tiled_wins(int m, int n, int k, int trans_a, int trans_b) {
    if ((double)m * n * k < (double)(1 << 22)) return 0;
    if (!trans_a && m >= 512 && (n <= 576 ? k <= 768 : n <= 768 && k <= KC_MAX)) return 1;
    if (!trans_a && trans_b && k <= 128 && n >= 4096) return 1;
    if (!trans_a || trans_b) return 0;
    if (k >= 2048) return m >= 192 && n >= 192 && n <= 768;
    if (k >= 512) return m >= 1024 && n <= 256;
    return k <= 128 && (n >= 1024 || m >= 2048);
}

#else /* no AVX-512F: gemm.c keeps cblas for every shape */

int dino_gemm_tiled_available(void) { return 0; }

int dino_gemm_tiled_block(float *c, const float *a, const float *b,
                          const struct gemm_epilogue *e, int m, int n, int k, int trans_a,
                          int trans_b, int m0, int m1, int n0, int n1) {
    (void)c, (void)a, (void)b, (void)e, (void)m, (void)n, (void)k, (void)trans_a;
    (void)trans_b, (void)m0, (void)m1, (void)n0, (void)n1;
    return 0;
}

int dino_gemm_tiled_wins(int m, int n, int k, int trans_a, int trans_b) {
    (void)m, (void)n, (void)k, (void)trans_a, (void)trans_b;
    return 0;
}

#endif
