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

/* Row i of the scores: scaled in place, turned into softmax weights (max, exp, fixed-order
 * sum, multiply, as softmax.c's row), the columns past n zeroed; returns the row's
 * log-sum-exp, max + log Σ exp(x − max). */
static float dino_att_softmax_row(float *row, int n, int nw, float scale) {
#pragma omp simd
    for (int j = 0; j < n; j++) row[j] = scale * row[j];
    float mx = dino_max(row, n);
#pragma omp simd
    for (int j = 0; j < n; j++) row[j] = dino_expf(row[j] - mx);
    float sum = dino_sum(row, n);
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < n; j++) row[j] *= inv;
    for (int j = n; j < nw; j++) row[j] = 0.0f;
    return mx + logf(sum);
}

/* The forward of pair (b, h): P = softmax(scale · q kᵀ) (the first d.q queries against the
 * n keys), out_bh = P v, lse_bh. */
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
    dino_att_gemm(d.qp, d.nw, hd, t.a, d.hw, t.kt, d.nw, t.s, d.nw);
    float *row_lse = lse + (b * (c / hd) + h) * (int64_t)nq;
    for (int i = 0; i < nq; i++)
        row_lse[i] = dino_att_softmax_row(t.s + (int64_t)i * d.nw, n, d.nw, scale);
    dino_att_product(0, d, nq, d.qp, n, t.s, d.nw, vb, ldv,
                     out + b * nq * (int64_t)c + (int64_t)h * hd, c, t.tile);
}

/* The forward of pair (b, h) on the direct path (hd a whole number of vectors): q and v
 * read in place, only kᵀ copied (columns padded to nw), no padded rows, out written in
 * place. The same products, element by element, as attention_pair. */
static void attention_pair_direct(float *restrict out, float *restrict lse,
                                  const float *restrict qkv, struct dino_att_tiles t,
                                  struct dino_att_dims d, int64_t b, int h, int c, float scale) {
    int n = d.n, hd = d.hd, nq = d.q, ld = 3 * c;
    const float *q = qkv + b * n * (int64_t)ld + (int64_t)h * hd, *k = q + c, *v = q + 2 * c;
    dino_att_pack_t(t.kt, d.nw, hd, d.nw, k, ld, n, hd);
    dino_att_gemm(nq, dino_att_round(n, 8), hd, q, ld, t.kt, d.nw, t.s, d.nw);
    float *row_lse = lse + (b * (c / hd) + h) * (int64_t)nq;
    for (int i = 0; i < nq; i++)
        row_lse[i] = dino_att_softmax_row(t.s + (int64_t)i * d.nw, n, d.nw, scale);
    dino_att_gemm(nq, hd, n, t.s, d.nw, v, ld, out + b * nq * (int64_t)c + (int64_t)h * hd, c);
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
 * dy and out at stride ldo, hd wide). The dot products D go first, into `dots` (`rows`
 * floats: the thread's product tile, free until the products), in a loop of their own
 * (independent, so they overlap: one per row inside the row loop stalled it). */
static void dino_att_scores_grad(float *restrict s, float *restrict ds, int ld,
                                 const float *restrict g, const float *restrict o, int ldo,
                                 const float *restrict row_lse, int rows, int n, int hd,
                                 float scale, float *restrict dots) {
    for (int i = 0; i < rows; i++)
        dots[i] = dino_dot(g + (int64_t)i * ldo, o + (int64_t)i * ldo, hd);
    for (int i = 0; i < rows; i++) {
        float *p = s + (int64_t)i * ld, *dr = ds + (int64_t)i * ld;
        float m = row_lse[i], di = dots[i];
#pragma omp simd
        for (int j = 0; j < n; j++) p[j] = dino_expf(scale * p[j] - m);
#pragma omp simd
        for (int j = 0; j < n; j++) dr[j] = scale * (p[j] * (dr[j] - di));
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
