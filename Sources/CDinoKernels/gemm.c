/* gemm.c — matmul, linear, patch_embed and the fused GEMMs whose epilogue absorbs what
 * follows them (linear_gelu, linear_gelu_only, linear_residual, linear_residual_scaled,
 * matmul_gelu_bwd) over OpenBLAS sgemm.
 *
 * One thread pool (docs/PLATFORM.md §3): OpenBLAS runs single-threaded (threads.c sets it once)
 * and the OpenMP threads split the work: a batch of GEMMs (attention heads × images)
 * goes one GEMM per iteration, a single big GEMM is cut into row blocks along M (or
 * column blocks along N when N > M, or N = M for a square Aᵀ·B on the tiled GEMM), with
 * cblas_sgemm called inside the parallel loop.
 * The split depends only on the thread count, so a run is reproducible for it. A GEMM of a
 * few rows against very many (the teacher's head) runs on gemm_skinny.c's kernel instead of
 * sgemm, chosen by shape alone; the epilogues are the same. Shapes where it measured faster
 * than sgemm plus the epilogue's passes run on gemm_tiled.c's GEMM instead, which applies
 * the epilogue to each group of 4 microtiles (dino_gemm_tiled_wins: shape alone decides, so
 * fused and unfused plans and every thread count take the same kernel).
 * sgemm in row chunks with the epilogue after each chunk (so that the chunk of C stays in
 * L2) was measured and not kept: at fc1's shape (6400 × 768 × 192, 1 thread, CPU time)
 * chunks of 128, 384 and 1024 rows were 6 %, 2 % and 1–3 % slower than one sgemm per
 * thread block, since OpenBLAS packs all of B (768 × 192, 590 KB) again for every call. */
#include <cblas.h>
#include <string.h>

#include "gelu.h"
#include "gemm_internal.h"
#include "internal.h"
#include "shim.h"

/** GEMMs below this many flops run on the calling thread. */
static const double dino_gemm_serial_flops = 1 << 20;

/** Where part p of `parts` starts in [0, len): an even split rounded to 16 rows/columns. */
static int split_point(int len, int p, int parts) {
    if (p >= parts) return len;
    int64_t x = (int64_t)len * p / parts;
    x = (x + 8) / 16 * 16;
    return x > len ? len : (int)x;
}

/* The epilogue's row loops: whole 16-float vectors without interleaving, so that the tiled
 * GEMM's 32-column tiles run as two vectors instead of falling to the scalar remainder loop
 * (clang's default 4-way interleave needs 64 columns). Each element's operations are the
 * same either way: the vector and scalar forms of dino_gelu1 (gelu.h) give the same bits. */
#define EPILOGUE_VECTORS \
    _Pragma("clang loop vectorize(enable) vectorize_width(16) interleave_count(1)")

/* out[l] = gelu(in[l]) for 16 floats (out may be in): a constant-trip `omp simd` loop, which
 * clang turns into straight vector code with no runtime overlap check (each element is read
 * before it is written). */
static inline void gelu_16(float *out, const float *in) {
#pragma omp simd
    for (int l = 0; l < 16; l++) out[l] = dino_gelu1(in[l]);
}

/* dy[l] = gelu_bwd(dy[l], x[l]) for 16 floats, as gelu_16. */
static inline void gelu_bwd_16(float *dy, const float *x) {
#pragma omp simd
    for (int l = 0; l < 16; l++) dy[l] = dino_gelu_bwd1(dy[l], x[l]);
}

/* GELU over one row of nn floats (out may be in), 16 at a time, the last nn mod 16 through a
 * 16-float buffer: no scalar remainder loop, so the row loop is vector code alone and its
 * constants stay in registers. A 14 × 32 tile's rows are two vectors: as ordinary vectorised
 * row loops (per-row set-up, constants reloaded for the scalar remainder) the tiled GEMM's
 * GELU cost ~1.5× a long loop's per element. Vector and scalar forms give the same bits
 * (gelu.h), so this rounds as the unfused gelu. */
static inline void gelu_row(float *out, const float *in, int nn) {
    int j = 0;
    for (; j + 16 <= nn; j += 16) gelu_16(out + j, in + j);
    if (j < nn) {
        float buf[16] = {0};
        memcpy(buf, in + j, sizeof(float) * (size_t)(nn - j));
        gelu_16(buf, buf);
        memcpy(out + j, buf, sizeof(float) * (size_t)(nn - j));
    }
}

/* dy = gelu_bwd(dy, x) over one row of nn floats, blocked as gelu_row. */
static inline void gelu_bwd_row(float *dy, const float *x, int nn) {
    int j = 0;
    for (; j + 16 <= nn; j += 16) gelu_bwd_16(dy + j, x + j);
    if (j < nn) {
        float dbuf[16] = {0}, xbuf[16] = {0};
        memcpy(dbuf, dy + j, sizeof(float) * (size_t)(nn - j));
        memcpy(xbuf, x + j, sizeof(float) * (size_t)(nn - j));
        gelu_bwd_16(dbuf, xbuf);
        memcpy(dy + j, dbuf, sizeof(float) * (size_t)(nn - j));
    }
}

/* Bias, row scale and residual over one row, each where the epilogue has it, in the unfused
 * ops' order (linear's + bias, mul's ·s, add's + r): the bias and the scale in one loop,
 * (c + bias)·s (an add then a multiply cannot become one fma), then + r in a loop of its own,
 * so each element still rounds once per step: under -ffp-contract=fast clang merges a
 * multiply and a later add of the same loop into one fma whatever `fp contract` says. */
static void bias_scale_residual_row(float *restrict row, const struct gemm_epilogue *e, int64_t r,
                                    int n, int n0, int nn) {
    const float *bias = e->bias ? e->bias + n0 : NULL;
    if (e->row_scale) {
        float s = e->row_scale[r / e->rows_per_scale];
        if (bias) {
            EPILOGUE_VECTORS
            for (int j = 0; j < nn; j++) row[j] = (row[j] + bias[j]) * s;
        } else {
            EPILOGUE_VECTORS
            for (int j = 0; j < nn; j++) row[j] *= s;
        }
    } else if (bias) {
        EPILOGUE_VECTORS
        for (int j = 0; j < nn; j++) row[j] += bias[j];
    }
    if (e->residual) {
        const float *res = e->residual + r * n + n0;
        EPILOGUE_VECTORS
        for (int j = 0; j < nn; j++) row[j] += res[j];
    }
}

void dino_gemm_epilogue_apply(float *c, const struct gemm_epilogue *e, int n, int m0, int mm,
                              int n0, int nn) {
    // Row by row, every step on the row while it sits in L1 (after sgemm the block is larger
    // than L2, and a pass per step went to memory and back each time). Each element still
    // takes the steps in the unfused ops' order, so the bits do not depend on the loop order.
    float *cb = c + (int64_t)m0 * n + n0;
    for (int i = 0; i < mm; i++) {
        float *row = cb + (int64_t)i * n;
        if (e->bias || e->row_scale || e->residual)
            bias_scale_residual_row(row, e, m0 + i, n, n0, nn);
        if (e->gelu_in_place || e->gelu)
            gelu_row(e->gelu_in_place ? row : e->gelu + (int64_t)(m0 + i) * n + n0, row, nn);
        if (e->gelu_grad_x) gelu_bwd_row(row, e->gelu_grad_x + (int64_t)(m0 + i) * n + n0, nn);
    }
}

/** Which GEMM kernel runs (dino_set_gemm_kernel): DINO_GEMM_AUTO unless a test or a
 *  benchmark forces one. */
static int gemm_kernel_choice = DINO_GEMM_AUTO;

void dino_set_gemm_kernel(int kernel) {
    gemm_kernel_choice =
        kernel == DINO_GEMM_TILED || kernel == DINO_GEMM_BLAS ? kernel : DINO_GEMM_AUTO;
}

int dino_gemm_kernel_is_tiled(int m, int n, int k, int trans_a, int trans_b) {
    if (!dino_gemm_tiled_available() || k <= 0 || gemm_kernel_choice == DINO_GEMM_BLAS) return 0;
    if (gemm_kernel_choice == DINO_GEMM_TILED) return 1;
    return !dino_gemm_is_skinny(m, n, k, trans_a, trans_b) &&
           dino_gemm_tiled_wins(m, n, k, trans_a, trans_b);
}

/* One block of C = op(A)·op(B) then the epilogue `e`: rows [m0, m1), columns [n0, n1).
 * A is (m, k) or, transposed, (k, m); B is (k, n) or, transposed, (n, k); C is (m, n).
 * The kernel is chosen by the whole GEMM's shape: the tiled GEMM (gemm_tiled.c, epilogue in
 * the tile), the skinny kernel, or sgemm followed by the epilogue over the block. */
static void gemm_block(float *restrict c, const float *restrict a, const float *restrict b,
                       const struct gemm_epilogue *e, int m, int n, int k, int trans_a, int trans_b,
                       int m0, int m1, int n0, int n1) {
    int mm = m1 - m0, nn = n1 - n0;
    if (mm <= 0 || nn <= 0) return;
    float *cb = c + (int64_t)m0 * n + n0;
    if (dino_gemm_kernel_is_tiled(m, n, k, trans_a, trans_b) &&
        dino_gemm_tiled_block(c, a, b, e, m, n, k, trans_a, trans_b, m0, m1, n0, n1))
        return;
    if (k == 0) {
        for (int i = 0; i < mm; i++) memset(cb + (int64_t)i * n, 0, (size_t)nn * sizeof(float));
    } else if (gemm_kernel_choice != DINO_GEMM_TILED &&
               dino_gemm_is_skinny(m, n, k, trans_a, trans_b)) {
        dino_gemm_skinny_block(c, a, b, m, n, k, m0, m1, n0, n1);
    } else {
        const float *ab = trans_a ? a + m0 : a + (int64_t)m0 * k;
        const float *bb = trans_b ? b + (int64_t)n0 * k : b + n0;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, mm, nn, k, 1.0f, ab, trans_a ? m : k, bb,
                    trans_b ? k : n, 0.0f, cb, n);
    }
    dino_gemm_epilogue_apply(c, e, n, m0, mm, n0, nn);
}

/* The epilogue of batch item bi: its per-item operands moved by bi·stride_c. */
static struct gemm_epilogue epilogue_at(const struct gemm_epilogue *e, int64_t bi,
                                        int64_t stride_c) {
    struct gemm_epilogue at = *e;
    if (at.gelu) at.gelu += bi * stride_c;
    if (at.residual) at.residual += bi * stride_c;
    if (at.gelu_grad_x) at.gelu_grad_x += bi * stride_c;
    return at;
}

/* c[bi] = op(a[bi])·op(b[bi]) then the epilogue, for bi < batch; the strides are in
 * elements (stride_b = 0 shares one B). Threads take whole GEMMs when the batch divides
 * evenly among them (or is large), else each GEMM is split into one block per thread. */
static void dino_gemm(float *restrict c, const float *restrict a, const float *restrict b,
                      const struct gemm_epilogue *e, int64_t batch, int m, int n, int k,
                      int trans_a, int trans_b, int64_t stride_a, int64_t stride_b,
                      int64_t stride_c) {
    if (batch <= 0 || m <= 0 || n <= 0) return;
    int nt = dino_threads();
    double flops = 2.0 * (double)batch * m * n * k;
    if (nt == 1 || flops < dino_gemm_serial_flops) {
        for (int64_t bi = 0; bi < batch; bi++) {
            struct gemm_epilogue at = epilogue_at(e, bi, stride_c);
            gemm_block(c + bi * stride_c, a + bi * stride_a, b + bi * stride_b, &at, m, n, k,
                       trans_a, trans_b, 0, m, 0, n);
        }
        return;
    }
    int parts = (batch % nt == 0 || batch >= 8 * (int64_t)nt) ? 1 : nt;
    // Along the longer side; a square Aᵀ·B on the tiled GEMM along N, so that each thread
    // packs half of B rather than all of it per K block (proj's weight gradient: 1.14–1.18
    // of OpenBLAS per thread against 1.08–1.11 along M, tools/bench_gemm.sh). The tiled
    // GEMM's bits do not depend on the split; sgemm's split stays as it was.
    int split_n = n > m || (n == m && trans_a && !trans_b &&
                            dino_gemm_kernel_is_tiled(m, n, k, trans_a, trans_b));
    int64_t units = batch * parts;
#pragma omp parallel for schedule(static)
    for (int64_t u = 0; u < units; u++) {
        int64_t bi = u / parts;
        int p = (int)(u % parts);
        int lo = split_point(split_n ? n : m, p, parts);
        int hi = split_point(split_n ? n : m, p + 1, parts);
        struct gemm_epilogue at = epilogue_at(e, bi, stride_c);
        float *cb = c + bi * stride_c;
        const float *ab = a + bi * stride_a, *bb = b + bi * stride_b;
        if (split_n)
            gemm_block(cb, ab, bb, &at, m, n, k, trans_a, trans_b, 0, m, lo, hi);
        else
            gemm_block(cb, ab, bb, &at, m, n, k, trans_a, trans_b, lo, hi, 0, n);
    }
}

/** C = op(A)·op(B) then the epilogue `e` for `batch` matrices; with `b_shared` one B serves
 *  every batch item. */
static void dino_matmul_fwd(float *restrict c, const float *restrict a, const float *restrict b,
                            const struct gemm_epilogue *e, int64_t batch, int m, int n, int k,
                            int trans_a, int trans_b, int b_shared) {
    // a is (batch, m, k) or (batch, k, m) when trans_a; b is (batch, k, n) or (batch, n, k)
    // when trans_b, or 2-D and shared when b_shared; c is (batch, m, n).
    if (b_shared && !trans_a && batch * (int64_t)m <= 0x7fffffff) {
        // One tall GEMM: the batch folds into M.
        dino_gemm(c, a, b, e, 1, (int)(batch * m), n, k, 0, trans_b, 0, 0, 0);
        return;
    }
    dino_gemm(c, a, b, e, batch, m, n, k, trans_a, trans_b, (int64_t)m * k,
              b_shared ? 0 : (int64_t)k * n, (int64_t)m * n);
}

/** y = x·wᵀ + bias then the rest of the epilogue `e` (e->bias is the bias). */
static void dino_linear_fwd(float *restrict y, const float *restrict x, const float *restrict w,
                            const struct gemm_epilogue *e, int64_t rows, int in, int out) {
    // x is (rows, in), w is (out, in), bias is (out), y is (rows, out); the epilogue runs on
    // each block right after its sgemm: the same blocks and the same rounding as linear
    // followed by the unfused ops it replaces (gelu, mul by the row scale, add).
    dino_gemm(y, x, w, e, 1, (int)rows, out, in, 0, 1, 0, 0, 0);
}

/** Scratch bytes dino_patch_embed_fwd needs (the im2col matrix). */
static size_t dino_patch_embed_scratch_bytes(int batch, int channels, int height, int width,
                                             int patch) {
    if (patch <= 0) return 0;
    size_t tokens = (size_t)(height / patch) * (size_t)(width / patch);
    return (size_t)batch * tokens * (size_t)channels * (size_t)patch * (size_t)patch *
           sizeof(float);
}

/** Convolution with stride = kernel = patch, as im2col into `scratch` plus one GEMM. */
static void dino_patch_embed_fwd(float *restrict y, float *restrict scratch,
                                 const float *restrict x, const float *restrict w,
                                 const float *restrict bias, int batch, int channels, int height,
                                 int width, int patch, int dim) {
    // x is (batch, channels, height, width), w is (dim, channels, patch, patch), bias is
    // (dim), y is (batch, tokens, dim); scratch holds the im2col matrix
    // (batch·tokens, channels·patch·patch), whose columns follow w's (c, i, j) layout.
    int tokens = (height / patch) * (width / patch);
    int cols = channels * patch * patch;
    dino_patchify_fwd(scratch, x, batch, channels, height, width, patch);
    struct gemm_epilogue e = {.bias = bias};
    dino_gemm(y, scratch, w, &e, 1, batch * tokens, dim, cols, 0, 1, 0, 0, 0);
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

/* Fills m, n, k, the batch and whether b is shared, for matmul's operands a, b and flags. */
static void matmul_dims(const struct dino_tensor *a, const struct dino_tensor *b, int ta, int tb,
                        int64_t *m, int64_t *n, int64_t *k, int64_t *batch) {
    int ra = a->rank, rb = b->rank;
    *m = ta ? a->shape[ra - 1] : a->shape[ra - 2];
    *k = ta ? a->shape[ra - 2] : a->shape[ra - 1];
    *n = tb ? b->shape[rb - 2] : b->shape[rb - 1];
    *batch = 1;
    for (int d = 0; d < ra - 2; d++) *batch *= a->shape[d];
}

/* matmul's GEMM over operands a = IN(0), b = IN(1) with flags ta, tb, then epilogue `e`. */
static void run_matmul(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int64_t ta,
                       int64_t tb, const struct gemm_epilogue *e) {
    const struct dino_tensor *a = IN(0), *b = IN(1);
    int64_t m, n, k, batch;
    matmul_dims(a, b, ta != 0, tb != 0, &m, &n, &k, &batch);
    dino_matmul_fwd(F(OUT), F(a), F(b), e, batch, (int)m, (int)n, (int)k, ta != 0, tb != 0,
                    b->rank == 2);
}

void dino_run_matmul(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    struct gemm_epilogue e = {0};
    run_matmul(ins, ctx, ATTRS(matmul).trans_a, ATTRS(matmul).trans_b, &e);
}

void dino_run_matmul_gelu_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    struct gemm_epilogue e = {.gelu_grad_x = F(IN(2))};
    run_matmul(ins, ctx, ATTRS(matmul_gelu_bwd).trans_a, ATTRS(matmul_gelu_bwd).trans_b, &e);
}

void dino_run_linear(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    struct gemm_epilogue e = {.bias = F(IN(2))};
    dino_linear_fwd(F(OUT), F(x), F(w), &e, rows, (int)in, (int)w->shape[0]);
}

void dino_run_linear_gelu(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    // The pre-activation goes to result 1 (C), its GELU to the output.
    struct gemm_epilogue e = {.bias = F(IN(2)), .gelu = F(OUT)};
    dino_linear_fwd(F(RESULT(1)), F(x), F(w), &e, rows, (int)in, (int)w->shape[0]);
}

void dino_run_linear_gelu_only(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    struct gemm_epilogue e = {.bias = F(IN(2)), .gelu_in_place = 1};
    dino_linear_fwd(F(OUT), F(x), F(w), &e, rows, (int)in, (int)w->shape[0]);
}

void dino_run_linear_residual(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    struct gemm_epilogue e = {.bias = F(IN(2)), .residual = F(IN(3))};
    dino_linear_fwd(F(OUT), F(x), F(w), &e, rows, (int)in, (int)w->shape[0]);
}

void dino_run_linear_residual_scaled(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1), *scale = IN(4);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    // One scale per leading index: rows / scale count consecutive rows share it.
    struct gemm_epilogue e = {.bias = F(IN(2)),
                              .residual = F(IN(3)),
                              .row_scale = F(scale),
                              .rows_per_scale = numel(scale) > 0 ? rows / numel(scale) : 1};
    dino_linear_fwd(F(OUT), F(x), F(w), &e, rows, (int)in, (int)w->shape[0]);
}

void dino_run_patch_embed(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int p = (int)ATTRS(patch_embed).patch;
    dino_patch_embed_fwd(F(OUT), ctx->scratch, F(x), F(w), F(IN(2)), (int)x->shape[0],
                         (int)x->shape[1], (int)x->shape[2], (int)x->shape[3], p, (int)w->shape[0]);
}

size_t dino_scratch_patch_embed(const struct dino_instr *ins, const struct dino_tensor *t) {
    const struct dino_tensor *x = &t[ins->in[0]];
    return dino_patch_embed_scratch_bytes((int)x->shape[0], (int)x->shape[1], (int)x->shape[2],
                                          (int)x->shape[3], (int)ATTRS(patch_embed).patch);
}
