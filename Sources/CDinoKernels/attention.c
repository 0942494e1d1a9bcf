/* attention.c — fused multi-head self-attention, forward and backward, on small blocks.
 *
 * Both read q, k and v straight from the qkv projection's output [B, N, 3·C] (row n of image
 * b holds q, k, v one after the other, each [heads][hd]), the queries of only the first Q
 * rows (Q = N: the whole attention; Q < N: the rows a later slice keeps, each bitwise the
 * same row as the whole attention's). The forward saves, besides the output [B, Q, C], only
 * each softmax row's log-sum-exp (lse, [B, heads, Q]); the backward recomputes
 * the softmax rows from q, k and lse (FlashAttention-2's backward), so no [B, heads, Q, N]
 * tensor outlives a kernel. Work is one (image, head) pair per iteration of one static
 * OpenMP loop, the pair after next prefetched into L2; products are a register-blocked
 * vector kernel (attention_tiles.h). A pair takes one of two paths, by shape alone:
 *  - direct, when hd is a multiple of 16 (every ViT here): A operands (q, dy, the scores)
 *    are read in place, B operands (k, v, q, dy rows) too, results written in place, no
 *    padded rows, the scores' columns computed to a multiple of 8 (a last panel of half
 *    vectors); only kᵀ and vᵀ are copied, by 16 × 16 register transposes, into a
 *    thread's scratch (their columns padded to 16), with the N × N scores;
 *  - tiles, otherwise: q, k, v, dy copied into zero-padded tiles, results through a tile.
 * The forward takes a pair's queries in blocks of 16: the block's scores (16 × N, in L1),
 * its softmax in vector passes (max; exp and sum; lse by a vector log), the weighted sum
 * of the unnormalised exponentials, then each output row times 1 / Σ. The backward's P and
 * dS are vector passes too (attention_tiles.h: exp, log, lane masks for the last vector).
 * Both compute every element with the same chain of operations: they agree bit for bit
 * (AttentionKernelTests forces the tiles with dino_attention_use_tiles). Every pair is
 * computed by one thread whatever the thread count: the results are bitwise independent
 * of it. */
#include <math.h>
#include <omp.h>

#include "attention_tiles.h"
#include "dino_kernels.h"
#include "internal.h"
#include "shim.h"

/** Per-thread tile sets the scratch holds at most (more threads than this share them out:
 *  the attention then runs on this many threads). */
enum { DINO_ATTENTION_SLOTS = 8 };

/** How many pairs ahead the loops prefetch (into L2, dino_prefetch_rect): 2 beat 1 at
 *  N = 10 … 197 (measured). */
enum { DINO_ATT_AHEAD = 2 };

/** Pairs with fewer flops than this in all run on the calling thread. */
static const double dino_attention_serial_flops = 1 << 20;

/** The padded sizes of one pair: n tokens (np rows, nw columns), hd head width (hw), q
 *  queries (qp rows). */
struct dino_att_dims {
    int n, hd, np, nw, hw, q, qp;
};

/** The padded sizes of a pair of n tokens, head width hd and the first q ≤ n queries. */
static struct dino_att_dims dino_att_dims(int n, int hd, int q) {
    struct dino_att_dims d = {n,
                              hd,
                              dino_att_round(n, DINO_ATT_ROWS),
                              dino_att_round(n, DINO_ATT_COLS),
                              dino_att_round(hd, DINO_ATT_COLS),
                              q,
                              dino_att_round(q, DINO_ATT_ROWS)};
    return d;
}

/** One thread's tiles: a, b, c (np × hw: q, k, v or dy), kt and vt (hd × nw: kᵀ, vᵀ),
 *  s and ds (np × nw: scores or P, dP or dS; qp rows used), tile (np × hw: a product).
 *  Sized for n queries, so q ≤ n always fits. */
struct dino_att_tiles {
    float *a, *b, *c, *kt, *vt, *s, *ds, *tile;
};

/** Floats of one thread's tiles, a multiple of 16 (so every set stays 64-byte aligned). */
static int64_t dino_att_slot_floats(struct dino_att_dims d) {
    return 4 * (int64_t)d.np * d.hw + 2 * (int64_t)d.hd * d.nw + 2 * (int64_t)d.np * d.nw;
}

/** The tiles of one thread's share of the scratch, starting at `base` (64-byte aligned). */
static struct dino_att_tiles dino_att_tiles(float *base, struct dino_att_dims d) {
    struct dino_att_tiles t;
    int64_t rows = (int64_t)d.np * d.hw, square = (int64_t)d.np * d.nw;
    t.a = base;
    t.b = t.a + rows;
    t.c = t.b + rows;
    t.tile = t.c + rows;
    t.kt = t.tile + rows;
    t.vt = t.kt + (int64_t)d.hd * d.nw;
    t.s = t.vt + (int64_t)d.hd * d.nw;
    t.ds = t.s + square;
    return t;
}

/** Set by dino_attention_use_tiles: every pair takes the padded tiles. */
static int dino_att_tiles_only;

void dino_attention_use_tiles(int on) {
    __atomic_store_n(&dino_att_tiles_only, on != 0, __ATOMIC_RELAXED);
}

/** The path of every pair of these sizes, by shape alone: direct (operands read in place,
 *  no padded rows) when hd is a whole number of vectors, else the padded tiles. */
static int dino_att_direct(struct dino_att_dims d) {
    return d.hw == d.hd && !__atomic_load_n(&dino_att_tiles_only, __ATOMIC_RELAXED);
}

/** Threads for `pairs` pairs of `flops` in all: 1 below the serial bound, else at most one
 *  per tile set. */
static int dino_att_threads(int64_t pairs, double flops) {
    if (flops < dino_attention_serial_flops) return 1;
    int64_t nt = dino_threads();
    if (nt > DINO_ATTENTION_SLOTS) nt = DINO_ATTENTION_SLOTS;
    if (nt > pairs) nt = pairs;
    return nt > 0 ? (int)nt : 1;
}

/** Scratch bytes of either kernel: one tile set per thread it may use. */
static size_t dino_attention_scratch_bytes(int64_t batch, int n, int c, int heads) {
    if (batch <= 0 || n <= 0 || c <= 0 || heads <= 0) return 0;
    int64_t pairs = batch * heads;
    int64_t slots = pairs < DINO_ATTENTION_SLOTS ? pairs : DINO_ATTENTION_SLOTS;
    return (size_t)slots * (size_t)dino_att_slot_floats(dino_att_dims(n, c / heads, n)) *
           sizeof(float);
}

/* Prefetches pair u's rows: q (the first q rows), k, v of qkv; dy and out when given (the
 * backward); the rows it writes, of `dst` ([B, Q, C] when dy is NULL, else d(qkv) in qkv's
 * layout). */
static void dino_att_prefetch_pair(const float *qkv, const float *dy, const float *out,
                                   const float *dst, struct dino_att_dims d, int64_t u,
                                   int heads, int c) {
    int64_t b = u / heads, h = u % heads, ld = 3 * (int64_t)c;
    const float *q = qkv + b * d.n * ld + h * d.hd;
    for (int part = 0; part < 3; part++)
        dino_prefetch_rect(q + part * (int64_t)c, ld, part == 0 ? d.q : d.n, d.hd, 0, 0);
    int64_t orow = b * d.q * (int64_t)c + h * d.hd;
    if (dy == NULL) {
        dino_prefetch_rect(dst + orow, c, d.q, d.hd, 1, 0);
        return;
    }
    dino_prefetch_rect(dy + orow, c, d.q, d.hd, 0, 0);
    dino_prefetch_rect(out + orow, c, d.q, d.hd, 0, 0);
    const float *dq = dst + b * d.n * ld + h * d.hd;
    for (int part = 0; part < 3; part++)
        dino_prefetch_rect(dq + part * (int64_t)c, ld, d.n, d.hd, 1, 0);
}

/* out[0 … m) × [0 … hd) (stride ldo) = rows of A·B (ta: Aᵀ·B) over k, A with mp rows (m
 * rounded up to whole row blocks): when hd is a whole number of vectors, the full 8-row
 * blocks straight into out and the last partial block through `tile`; else every row
 * through `tile`. */
static void dino_att_product(int ta, struct dino_att_dims d, int m, int mp, int k,
                             const float *a, int lda, const float *b, int ldb, float *out,
                             int64_t ldo, float *tile) {
    int direct = d.hw == d.hd ? m / DINO_ATT_ROWS * DINO_ATT_ROWS : 0;
    const float *rest = ta ? a + direct : a + (int64_t)direct * lda;
    if (ta) {
        if (direct) dino_att_gemm_tn(direct, d.hw, k, a, lda, b, ldb, out, (int)ldo);
        if (direct < mp) dino_att_gemm_tn(mp - direct, d.hw, k, rest, lda, b, ldb, tile, d.hw);
    } else {
        if (direct) dino_att_gemm(direct, d.hw, k, a, lda, b, ldb, out, (int)ldo);
        if (direct < mp) dino_att_gemm(mp - direct, d.hw, k, rest, lda, b, ldb, tile, d.hw);
    }
    dino_att_unpack(out + direct * ldo, ldo, tile, d.hw, m - direct, d.hd);
}

/* Zeroes rows q … n−1 of dq (hd floats each, stride ld): the gradients of the queries the
 * attention did not compute. */
static void dino_att_zero_rows(float *dq, int64_t ld, int q, int n, int hd) {
    for (int r = q; r < n; r++) {
        float *row = dq + r * ld;
        for (int j = 0; j < hd; j++) row[j] = 0.0f;
    }
}

/** Query rows per block of the forward: a block's scores ([rows × nw], 13 KiB at N = 197)
 *  stay in L1 from their product through the softmax to the weighted sum. */
enum { DINO_ATT_FWD_ROWS = 16 };

/* lse[i] += log totals[i] for i < rows ≤ 16: one vector log (dino_att_log16) of them all,
 * logf for a total that is no positive normal float (NaN, infinities: a softmax row's sum is
 * otherwise ≥ 1), row by row, so that a row's result does not depend on its block's. */
static void dino_att_add_logs(float *restrict lse, const float *restrict totals, int rows) {
    dino_v16 t = dino_att_splat(1.0f);
    for (int i = 0; i < rows; i++) t[i] = totals[i];
    dino_v16 l = dino_att_log16(t);
    for (int i = 0; i < rows; i++) {
        int normal = totals[i] >= 0x1p-126f && totals[i] <= 0x1.fffffep127f;
        lse[i] += normal ? l[i] : logf(totals[i]);
    }
}

/* Rows 0 … rows−1 of s (stride ld; scores q kᵀ over n columns) become e = exp(scale · s −
 * m), m the row's max of scale · s, in vector passes (max; exp and sum; the columns n …
 * round16(n) − 1 zeroed); inv[i] = 1 / Σ e (a fixed order: two vector sums, then
 * their sum's lanes as dino_sum's), lse[i] = m + log Σ e. The weighted sum of e,
 * times inv, is the softmax's. */
static void dino_att_softmax_rows(float *restrict s, int ld, int rows, int n, float scale,
                                  float *restrict inv, float *restrict lse) {
    int whole = n / 16 * 16;
    dino_i16 tail = dino_att_first_lanes(n - whole);
    dino_v16 sc = dino_att_splat(scale), lowest = dino_att_splat(-INFINITY);
    float totals[DINO_ATT_FWD_ROWS];
    for (int i = 0; i < rows; i++) {
        float *row = s + (int64_t)i * ld;
        dino_v16 m0 = lowest, m1 = lowest;
        int j = 0;
        for (; j + 32 <= whole; j += 32) {
            m0 = dino_att_max16(sc * *(const dino_v16 *)(row + j), m0);
            m1 = dino_att_max16(sc * *(const dino_v16 *)(row + j + 16), m1);
        }
        if (j < whole) m0 = dino_att_max16(sc * *(const dino_v16 *)(row + j), m0);
        if (whole < n)
            m1 = dino_att_max16(
                dino_att_select(tail, sc * *(const dino_v16 *)(row + whole), lowest), m1);
        float mx = dino_att_lane_max(dino_att_max16(m0, m1));
        dino_v16 m = dino_att_splat(mx), s0 = dino_att_splat(0.0f), s1 = s0;
        for (j = 0; j + 32 <= whole; j += 32) {
            dino_v16 e0 = dino_att_exp16(sc * *(const dino_v16 *)(row + j) - m);
            dino_v16 e1 = dino_att_exp16(sc * *(const dino_v16 *)(row + j + 16) - m);
            *(dino_v16 *)(row + j) = e0;
            *(dino_v16 *)(row + j + 16) = e1;
            s0 += e0;
            s1 += e1;
        }
        if (j < whole) {
            dino_v16 e = dino_att_exp16(sc * *(const dino_v16 *)(row + j) - m);
            *(dino_v16 *)(row + j) = e;
            s0 += e;
        }
        if (whole < n) {
            dino_v16 e = dino_att_exp16(sc * *(const dino_v16 *)(row + whole) - m);
            e = dino_att_select(tail, e, dino_att_splat(0.0f));
            *(dino_v16 *)(row + whole) = e;
            s1 += e;
        }
        totals[i] = dino_att_lane_sum(s0 + s1);
        inv[i] = 1.0f / totals[i];
        lse[i] = mx;
    }
    dino_att_add_logs(lse, totals, rows);
}

/* Rows 0 … rows−1 of out (stride ldo, hd wide, hd a multiple of 16 or not) times inv[i]. */
static void dino_att_scale_rows(float *restrict out, int64_t ldo, int rows, int hd,
                                const float *restrict inv) {
    for (int i = 0; i < rows; i++) {
        float *o = out + i * ldo;
        dino_v16 f = dino_att_splat(inv[i]);
        int j = 0;
        for (; j + 16 <= hd; j += 16) *(dino_v16 *)(o + j) = f * *(const dino_v16 *)(o + j);
        for (; j < hd; j++) o[j] *= inv[i];
    }
}

/* The forward of pair (b, h): P = softmax(scale · q kᵀ) (the first d.q queries against the
 * n keys), out_bh = P v, lse_bh; the queries in blocks of DINO_ATT_FWD_ROWS (scores,
 * softmax, weighted sum per block, on a block of the thread's score tile). */
static void attention_pair(float *restrict out, float *restrict lse, const float *restrict qkv,
                           struct dino_att_tiles t, struct dino_att_dims d, int64_t b, int h,
                           int c, float scale) {
    int n = d.n, hd = d.hd, nq = d.q;
    int64_t ld = 3 * (int64_t)c;
    const float *q = qkv + b * n * ld + (int64_t)h * hd, *k = q + c, *v = q + 2 * (int64_t)c;
    dino_att_pack(t.a, d.hw, d.qp, d.hw, q, ld, nq, hd);
    dino_att_pack_t(t.kt, d.nw, hd, d.nw, k, ld, n, hd);
    // B operands (k rows read, whole vectors of columns) come straight from qkv when hd is
    // a whole number of vectors.
    const float *vb = v;
    int ldv = (int)ld;
    if (d.hw != hd) {
        dino_att_pack(t.c, d.hw, d.np, d.hw, v, ld, n, hd);
        vb = t.c;
        ldv = d.hw;
    }
    float *row_lse = lse + (b * (c / hd) + h) * (int64_t)nq, inv[DINO_ATT_FWD_ROWS];
    float *o = out + b * nq * (int64_t)c + (int64_t)h * hd;
    for (int i0 = 0; i0 < nq; i0 += DINO_ATT_FWD_ROWS) {
        int rows = nq - i0 < DINO_ATT_FWD_ROWS ? nq - i0 : DINO_ATT_FWD_ROWS;
        int rp = dino_att_round(rows, DINO_ATT_ROWS);
        dino_att_gemm(rp, d.nw, hd, t.a + (int64_t)i0 * d.hw, d.hw, t.kt, d.nw, t.s, d.nw);
        dino_att_softmax_rows(t.s, d.nw, rows, n, scale, inv, row_lse + i0);
        float *oi = o + (int64_t)i0 * c;
        dino_att_product(0, d, rows, rp, n, t.s, d.nw, vb, ldv, oi, c, t.tile);
        dino_att_scale_rows(oi, c, rows, hd, inv);
    }
}

/* The forward of pair (b, h) on the direct path (hd a whole number of vectors): q and v
 * read in place, only kᵀ copied (columns padded to nw), no padded rows, out written in
 * place. The same products, element by element, as attention_pair. */
static void attention_pair_direct(float *restrict out, float *restrict lse,
                                  const float *restrict qkv, struct dino_att_tiles t,
                                  struct dino_att_dims d, int64_t b, int h, int c, float scale) {
    int n = d.n, hd = d.hd, nq = d.q, ld = 3 * c, cols = dino_att_round(n, 8);
    const float *q = qkv + b * n * (int64_t)ld + (int64_t)h * hd, *k = q + c, *v = q + 2 * c;
    dino_att_pack_t(t.kt, d.nw, hd, d.nw, k, ld, n, hd);
    float *row_lse = lse + (b * (c / hd) + h) * (int64_t)nq, inv[DINO_ATT_FWD_ROWS];
    float *o = out + b * nq * (int64_t)c + (int64_t)h * hd;
    for (int i0 = 0; i0 < nq; i0 += DINO_ATT_FWD_ROWS) {
        int rows = nq - i0 < DINO_ATT_FWD_ROWS ? nq - i0 : DINO_ATT_FWD_ROWS;
        dino_att_gemm(rows, cols, hd, q + (int64_t)i0 * ld, ld, t.kt, d.nw, t.s, d.nw);
        dino_att_softmax_rows(t.s, d.nw, rows, n, scale, inv, row_lse + i0);
        float *oi = o + (int64_t)i0 * c;
        dino_att_gemm(rows, hd, n, t.s, d.nw, v, ld, oi, c);
        dino_att_scale_rows(oi, c, rows, hd, inv);
    }
}

/** out = per (image, head) softmax(scale·q·kᵀ)·v with q, k, v read from qkv (batch, n, 3c),
 *  the queries of rows 0 … nq−1 only (1 ≤ nq ≤ n); out is (batch, nq, c), lse (batch,
 *  heads, nq) each softmax row's log-sum-exp. */
static void dino_attention_fwd(float *restrict out, float *restrict lse, float *restrict scratch,
                               const float *restrict qkv, int64_t batch, int n, int nq, int c,
                               int heads, float scale) {
    if (batch <= 0 || n <= 0 || nq <= 0 || nq > n || c <= 0) return;
    struct dino_att_dims d = dino_att_dims(n, c / heads, nq);
    int64_t pairs = batch * heads, slot = dino_att_slot_floats(d);
    int nt = dino_att_threads(pairs, 4.0 * (double)pairs * nq * n * d.hd);
    int direct = dino_att_direct(d);
#pragma omp parallel num_threads(nt)
    {
        struct dino_att_tiles t = dino_att_tiles(scratch + omp_get_thread_num() * slot, d);
#pragma omp for schedule(static)
        for (int64_t u = 0; u < pairs; u++) {
            if (u + DINO_ATT_AHEAD < pairs)
                dino_att_prefetch_pair(qkv, NULL, NULL, out, d, u + DINO_ATT_AHEAD, heads, c);
            if (direct)
                attention_pair_direct(out, lse, qkv, t, d, u / heads, (int)(u % heads), c, scale);
            else
                attention_pair(out, lse, qkv, t, d, u / heads, (int)(u % heads), c, scale);
        }
    }
}

/* Rows 0 … rows−1 of s (scores q kᵀ, stride ld, n columns) become P = exp(scale · s − lse)
 * and those of ds (dP = dy vᵀ) dS = scale · P ⊙ (dP − D), D_i = Σ_d dy_id · out_id (rows of
 * dy and out at stride ldo, hd wide), in vectors (both zero in columns n … round16(n) − 1).
 * The dot products D go first, into `dots` (`rows` floats: the thread's product tile, free
 * until the products), in a loop of their own (independent, so they overlap: one per row
 * inside the row loop stalled it). */
static void dino_att_scores_grad(float *restrict s, float *restrict ds, int ld,
                                 const float *restrict g, const float *restrict o, int ldo,
                                 const float *restrict row_lse, int rows, int n, int hd,
                                 float scale, float *restrict dots) {
    for (int i = 0; i < rows; i++)
        dots[i] = dino_dot(g + (int64_t)i * ldo, o + (int64_t)i * ldo, hd);
    int whole = n / 16 * 16;
    dino_i16 tail = dino_att_first_lanes(n - whole);
    dino_v16 sc = dino_att_splat(scale), zero = dino_att_splat(0.0f);
    for (int i = 0; i < rows; i++) {
        float *p = s + (int64_t)i * ld, *dr = ds + (int64_t)i * ld;
        dino_v16 m = dino_att_splat(row_lse[i]), di = dino_att_splat(dots[i]);
        for (int j = 0; j < whole; j += 16) {
            dino_v16 e = dino_att_exp16(sc * *(const dino_v16 *)(p + j) - m);
            *(dino_v16 *)(p + j) = e;
            *(dino_v16 *)(dr + j) = sc * (e * (*(const dino_v16 *)(dr + j) - di));
        }
        if (whole < n) {
            dino_v16 e = dino_att_exp16(sc * *(const dino_v16 *)(p + whole) - m);
            dino_v16 grad = sc * (e * (*(const dino_v16 *)(dr + whole) - di));
            *(dino_v16 *)(p + whole) = dino_att_select(tail, e, zero);
            *(dino_v16 *)(dr + whole) = dino_att_select(tail, grad, zero);
        }
    }
}

/* The backward of pair (b, h): P = exp(scale · q kᵀ − lse) again, dv = Pᵀ dy, dP = dy vᵀ,
 * D_i = Σ_d dy_id · out_id, dS = scale · P ⊙ (dP − D), dq = dS k, dk = dSᵀ q (the two
 * transposed products read P and dS by columns: no transposed copy); the rows of P, dS
 * and dq are the first d.q queries', dq's rows past them zero. */
static void attention_bwd_pair(float *restrict dqkv, const float *restrict dy,
                               const float *restrict qkv, const float *restrict out,
                               const float *restrict lse, struct dino_att_tiles t,
                               struct dino_att_dims d, int64_t b, int h, int c, float scale) {
    int n = d.n, hd = d.hd, nq = d.q;
    int64_t ld = 3 * (int64_t)c;
    int64_t row0 = b * n * ld + (int64_t)h * hd, orow0 = b * nq * (int64_t)c + (int64_t)h * hd;
    const float *q = qkv + row0, *k = q + c, *v = q + 2 * (int64_t)c;
    float *dq = dqkv + row0, *dk = dq + c, *dv = dq + 2 * (int64_t)c;
    const float *g = dy + orow0, *o = out + orow0;
    const float *row_lse = lse + (b * (c / hd) + h) * (int64_t)nq;
    dino_att_pack(t.a, d.hw, d.qp, d.hw, q, ld, nq, hd);
    const float *kb = k;
    int ldk = (int)ld;
    if (d.hw != hd) {
        dino_att_pack(t.b, d.hw, d.np, d.hw, k, ld, n, hd);
        kb = t.b;
        ldk = d.hw;
    }
    dino_att_pack(t.c, d.hw, d.qp, d.hw, g, c, nq, hd);
    dino_att_pack_t(t.kt, d.nw, hd, d.nw, k, ld, n, hd);
    dino_att_pack_t(t.vt, d.nw, hd, d.nw, v, ld, n, hd);
    dino_att_gemm(d.qp, d.nw, hd, t.a, d.hw, t.kt, d.nw, t.s, d.nw);
    dino_att_gemm(d.qp, d.nw, hd, t.c, d.hw, t.vt, d.nw, t.ds, d.nw);
    dino_att_scores_grad(t.s, t.ds, d.nw, g, o, c, row_lse, nq, n, hd, scale, t.tile);
    dino_att_product(1, d, n, d.np, nq, t.s, d.nw, t.c, d.hw, dv, ld, t.tile);
    dino_att_product(0, d, nq, d.qp, n, t.ds, d.nw, kb, ldk, dq, ld, t.tile);
    dino_att_product(1, d, n, d.np, nq, t.ds, d.nw, t.a, d.hw, dk, ld, t.tile);
    dino_att_zero_rows(dq, ld, nq, n, hd);
}

/* The backward of pair (b, h) on the direct path: q, k, dy read in place, only kᵀ and vᵀ
 * copied, no padded rows, d(qkv) written in place; the same products, element by element,
 * as attention_bwd_pair. */
static void attention_bwd_pair_direct(float *restrict dqkv, const float *restrict dy,
                                      const float *restrict qkv, const float *restrict out,
                                      const float *restrict lse, struct dino_att_tiles t,
                                      struct dino_att_dims d, int64_t b, int h, int c,
                                      float scale) {
    int n = d.n, hd = d.hd, nq = d.q, ld = 3 * c;
    int64_t row0 = b * n * (int64_t)ld + (int64_t)h * hd, orow0 = b * nq * (int64_t)c + h * hd;
    const float *q = qkv + row0, *k = q + c, *v = q + 2 * c;
    float *dq = dqkv + row0, *dk = dq + c, *dv = dq + 2 * c;
    const float *g = dy + orow0, *o = out + orow0;
    const float *row_lse = lse + (b * (c / hd) + h) * (int64_t)nq;
    dino_att_pack_t(t.kt, d.nw, hd, d.nw, k, ld, n, hd);
    dino_att_pack_t(t.vt, d.nw, hd, d.nw, v, ld, n, hd);
    int cols = dino_att_round(n, 8);
    dino_att_gemm(nq, cols, hd, q, ld, t.kt, d.nw, t.s, d.nw);
    dino_att_gemm(nq, cols, hd, g, c, t.vt, d.nw, t.ds, d.nw);
    dino_att_scores_grad(t.s, t.ds, d.nw, g, o, c, row_lse, nq, n, hd, scale, t.tile);
    dino_att_gemm_tn(n, hd, nq, t.s, d.nw, g, c, dv, ld);
    dino_att_gemm(nq, hd, n, t.ds, d.nw, k, ld, dq, ld);
    dino_att_gemm_tn(n, hd, nq, t.ds, d.nw, q, ld, dk, ld);
    dino_att_zero_rows(dq, ld, nq, n, hd);
}

/** d(qkv) of dino_attention_fwd from dy (batch, nq, c), qkv, the forward's out and lse. */
static void dino_attention_bwd(float *restrict dqkv, float *restrict scratch,
                               const float *restrict dy, const float *restrict qkv,
                               const float *restrict out, const float *restrict lse,
                               int64_t batch, int n, int nq, int c, int heads, float scale) {
    // dqkv (batch, n, 3c) gets every element written once.
    if (batch <= 0 || n <= 0 || nq <= 0 || nq > n || c <= 0) return;
    struct dino_att_dims d = dino_att_dims(n, c / heads, nq);
    int64_t pairs = batch * heads, slot = dino_att_slot_floats(d);
    int nt = dino_att_threads(pairs, 10.0 * (double)pairs * nq * n * d.hd);
    int direct = dino_att_direct(d);
#pragma omp parallel num_threads(nt)
    {
        struct dino_att_tiles t = dino_att_tiles(scratch + omp_get_thread_num() * slot, d);
#pragma omp for schedule(static)
        for (int64_t u = 0; u < pairs; u++) {
            if (u + DINO_ATT_AHEAD < pairs)
                dino_att_prefetch_pair(qkv, dy, out, dqkv, d, u + DINO_ATT_AHEAD, heads, c);
            if (direct)
                attention_bwd_pair_direct(dqkv, dy, qkv, out, lse, t, d, u / heads,
                                          (int)(u % heads), c, scale);
            else
                attention_bwd_pair(dqkv, dy, qkv, out, lse, t, d, u / heads, (int)(u % heads), c,
                                   scale);
        }
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_attention(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *qkv = IN(0);
    const struct dino_attrs_attention A = ATTRS(attention);
    dino_attention_fwd(F(OUT), F(RESULT(1)), ctx->scratch, F(qkv), qkv->shape[0],
                       (int)qkv->shape[1], (int)A.queries, (int)(qkv->shape[2] / 3),
                       (int)A.heads, A.scale);
}

size_t dino_scratch_attention(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *qkv = &t[ins->in[0]];
    return dino_attention_scratch_bytes(qkv->shape[0], (int)qkv->shape[1],
                                        (int)(qkv->shape[2] / 3), (int)ATTRS(attention).heads);
}

void dino_run_attention_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *qkv = IN(1);
    const struct dino_attrs_attention_bwd A = ATTRS(attention_bwd);
    dino_attention_bwd(F(OUT), ctx->scratch, F(IN(0)), F(qkv), F(IN(2)), F(IN(3)), qkv->shape[0],
                       (int)qkv->shape[1], (int)A.queries, (int)(qkv->shape[2] / 3),
                       (int)A.heads, A.scale);
}

size_t dino_scratch_attention_bwd(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *qkv = &t[ins->in[1]];
    return dino_attention_scratch_bytes(qkv->shape[0], (int)qkv->shape[1],
                                        (int)(qkv->shape[2] / 3),
                                        (int)ATTRS(attention_bwd).heads);
}
