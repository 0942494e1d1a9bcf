/* attention.c — fused multi-head self-attention, forward and backward, over OpenBLAS sgemm.
 *
 * Both read q, k and v straight from the qkv projection's output [B, N, 3·C] (row n of image
 * b holds q, k, v one after the other, each [heads][hd]): head h's q is the N × hd
 * submatrix at column h·hd with leading dimension 3·C, so no permuted copy is made. Work is
 * one (image, head) pair per iteration of one static OpenMP loop, each pair's GEMMs
 * single-threaded (OpenBLAS runs on one thread: threads.c), so every pair is computed by
 * one thread with the same code whatever the thread count: the results are bitwise
 * independent of it. Each pair computes exactly what the unfused graph's nodes compute, in
 * the same order (the scores GEMM, the scale, the softmax rows of softmax.c; in the
 * backward softmax_bwd's rows, then the scale), so only OpenBLAS's blocking of a GEMM
 * with other leading dimensions could change a bit. */
#include <cblas.h>
#include <omp.h>

#include "internal.h"
#include "shim.h"

/** Per-thread N × N buffers the backward reserves at most (one per thread). */
enum { DINO_ATTENTION_SLOTS = 64 };

/** Pairs with fewer GEMM flops than this in all run on the calling thread. */
static const double dino_attention_serial_flops = 1 << 20;

/* Scales a row of scores and turns it into softmax weights in place: `factor · s` rounded
 * as the scale op does, then softmax.c's row. */
static void scaled_softmax_row(float *row, int64_t n, float factor) {
#pragma omp simd
    for (int64_t j = 0; j < n; j++) row[j] = factor * row[j];
    dino_softmax_row(row, row, n);
}

/* The forward of pair (b, h): probs_bh = softmax(scale · q kᵀ), out_bh = probs_bh v. */
static void attention_pair(float *restrict out, float *restrict probs, const float *restrict qkv,
                           int64_t b, int h, int n, int c, int hd, float scale) {
    int64_t ld = 3 * (int64_t)c;
    const float *q = qkv + b * n * ld + (int64_t)h * hd, *k = q + c, *v = q + 2 * (int64_t)c;
    float *p = probs + ((b * (c / hd) + h) * (int64_t)n) * n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, 1.0f, q, (int)ld, k, (int)ld,
                0.0f, p, n);
    for (int i = 0; i < n; i++) scaled_softmax_row(p + (int64_t)i * n, n, scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, p, n, v, (int)ld, 0.0f,
                out + b * n * (int64_t)c + (int64_t)h * hd, c);
}

/** out = per (image, head) softmax(scale·q·kᵀ)·v with q, k, v read from qkv (batch, n, 3c);
 *  out is (batch, n, c), probs (batch, heads, n, n) the softmax rows. */
static void dino_attention_fwd(float *restrict out, float *restrict probs,
                               const float *restrict qkv, int64_t batch, int n, int c, int heads,
                               float scale) {
    // qkv is (batch, n, 3c); out is (batch, n, c), head h in columns [h·hd, (h+1)·hd);
    // probs is (batch, heads, n, n).
    if (batch <= 0 || n <= 0 || c <= 0) return;
    int hd = c / heads;
    int64_t pairs = batch * heads;
    double flops = 4.0 * (double)pairs * n * n * hd;
#pragma omp parallel for schedule(static) if (flops >= dino_attention_serial_flops)
    for (int64_t u = 0; u < pairs; u++)
        attention_pair(out, probs, qkv, u / heads, (int)(u % heads), n, c, hd, scale);
}

/* The backward of pair (b, h) with an n × n buffer `ds`: dv = pᵀ dy, dp = dy vᵀ,
 * ds = scale · softmax_bwd(dp, p), dq = ds k, dk = dsᵀ q. */
static void attention_bwd_pair(float *restrict dqkv, float *restrict ds, const float *restrict dy,
                               const float *restrict qkv, const float *restrict probs, int64_t b,
                               int h, int n, int c, int hd, float scale) {
    int64_t ld = 3 * (int64_t)c;
    int64_t row0 = b * n * ld + (int64_t)h * hd;
    const float *q = qkv + row0, *k = q + c, *v = q + 2 * (int64_t)c;
    float *dq = dqkv + row0, *dk = dq + c, *dv = dq + 2 * (int64_t)c;
    const float *g = dy + b * n * (int64_t)c + (int64_t)h * hd;
    const float *p = probs + ((b * (c / hd) + h) * (int64_t)n) * n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, 1.0f, g, c, v, (int)ld, 0.0f, ds,
                n);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, 1.0f, p, n, g, c, 0.0f, dv,
                (int)ld);
    for (int i = 0; i < n; i++) {
        const float *pr = p + (int64_t)i * n;
        float *dr = ds + (int64_t)i * n;
        float s = dino_dot(dr, pr, n);
#pragma omp simd
        for (int j = 0; j < n; j++) dr[j] = pr[j] * (dr[j] - s);
#pragma omp simd
        for (int j = 0; j < n; j++) dr[j] = scale * dr[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, ds, n, k, (int)ld, 0.0f,
                dq, (int)ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, hd, n, 1.0f, ds, n, q, (int)ld, 0.0f,
                dk, (int)ld);
}

/** Scratch bytes dino_attention_bwd needs (one n × n buffer per thread, at most 64). */
static size_t dino_attention_bwd_scratch_bytes(int64_t batch, int n, int heads) {
    int64_t pairs = batch * heads;
    int64_t slots = pairs < DINO_ATTENTION_SLOTS ? pairs : DINO_ATTENTION_SLOTS;
    return (size_t)(slots > 0 ? slots : 0) * (size_t)n * (size_t)n * sizeof(float);
}

/** d(qkv) of dino_attention_fwd from dy (batch, n, c) and the saved probs. */
static void dino_attention_bwd(float *restrict dqkv, float *restrict scratch,
                               const float *restrict dy, const float *restrict qkv,
                               const float *restrict probs, int64_t batch, int n, int c, int heads,
                               float scale) {
    // dy is (batch, n, c) in attention's output layout, qkv (batch, n, 3c), probs (batch,
    // heads, n, n); dqkv (batch, n, 3c) gets every element written once. scratch holds one
    // n × n buffer per thread (dino_attention_bwd_scratch_bytes).
    if (batch <= 0 || n <= 0 || c <= 0) return;
    int hd = c / heads;
    int64_t pairs = batch * heads;
    int64_t slots = pairs < DINO_ATTENTION_SLOTS ? pairs : DINO_ATTENTION_SLOTS;
    int nt = dino_threads();
    if (nt > slots) nt = (int)slots;
    if (8.0 * (double)pairs * n * n * hd < dino_attention_serial_flops) nt = 1;
#pragma omp parallel num_threads(nt)
    {
        float *ds = scratch + (int64_t)omp_get_thread_num() * n * n;
#pragma omp for schedule(static)
        for (int64_t u = 0; u < pairs; u++)
            attention_bwd_pair(dqkv, ds, dy, qkv, probs, u / heads, (int)(u % heads), n, c, hd,
                               scale);
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_attention(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *qkv = IN(0);
    const struct dino_attrs_attention A = ATTRS(attention);
    dino_attention_fwd(F(OUT), F(RESULT(1)), F(qkv), qkv->shape[0], (int)qkv->shape[1],
                       (int)(qkv->shape[2] / 3), (int)A.heads, A.scale);
}

void dino_run_attention_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *qkv = IN(1);
    const struct dino_attrs_attention_bwd A = ATTRS(attention_bwd);
    dino_attention_bwd(F(OUT), ctx->scratch, F(IN(0)), F(qkv), F(IN(2)), qkv->shape[0],
                       (int)qkv->shape[1], (int)(qkv->shape[2] / 3), (int)A.heads, A.scale);
}

size_t dino_scratch_attention_bwd(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *qkv = &t[ins->in[1]];
    return dino_attention_bwd_scratch_bytes(qkv->shape[0], (int)qkv->shape[1],
                                            (int)ATTRS(attention_bwd).heads);
}
