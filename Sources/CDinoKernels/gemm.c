/* gemm.c — matmul, linear, patch_embed, linear_gelu and linear_residual (linear with a GELU
 * or a residual-add epilogue) over OpenBLAS sgemm.
 *
 * One thread pool (docs/MACHINE.md §3): OpenBLAS runs single-threaded (threads.c sets it once)
 * and the OpenMP threads split the work: a batch of GEMMs (attention heads × images)
 * goes one GEMM per iteration, a single big GEMM is cut into row blocks along M (or
 * column blocks along N when N > M), with cblas_sgemm called inside the parallel loop.
 * The split depends only on the thread count, so a run is reproducible for it. */
#include <cblas.h>
#include <string.h>

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

/* One block of C = op(A)·op(B) (+ bias): rows [m0, m1), columns [n0, n1).
 * A is (m, k) or, transposed, (k, m); B is (k, n) or, transposed, (n, k); C is (m, n).
 * With `gelu` (m, n) non-NULL, the epilogue also writes gelu(C) there for the block while
 * it is in cache (linear_gelu); with `residual` (m, n) non-NULL, it adds the residual to
 * C after the bias (linear_residual). */
static void gemm_block(float *restrict c, const float *restrict a, const float *restrict b,
                       const float *restrict bias, float *restrict gelu,
                       const float *restrict residual, int m, int n, int k, int trans_a,
                       int trans_b, int m0, int m1, int n0, int n1) {
    int mm = m1 - m0, nn = n1 - n0;
    if (mm <= 0 || nn <= 0) return;
    float *cb = c + (int64_t)m0 * n + n0;
    if (k == 0) {
        for (int i = 0; i < mm; i++) memset(cb + (int64_t)i * n, 0, (size_t)nn * sizeof(float));
    } else {
        const float *ab = trans_a ? a + m0 : a + (int64_t)m0 * k;
        const float *bb = trans_b ? b + (int64_t)n0 * k : b + n0;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, mm, nn, k, 1.0f, ab, trans_a ? m : k, bb,
                    trans_b ? k : n, 0.0f, cb, n);
    }
    if (bias) {
        for (int i = 0; i < mm; i++) {
            float *row = cb + (int64_t)i * n;
            for (int j = 0; j < nn; j++) row[j] += bias[n0 + j];
        }
    }
    if (residual) {
        for (int i = 0; i < mm; i++) {
            float *row = cb + (int64_t)i * n;
            const float *res = residual + (int64_t)(m0 + i) * n + n0;
            for (int j = 0; j < nn; j++) row[j] += res[j];
        }
    }
    if (gelu) {
        for (int i = 0; i < mm; i++) {
            const float *row = cb + (int64_t)i * n;
            float *out = gelu + (int64_t)(m0 + i) * n + n0;
            for (int j = 0; j < nn; j++) out[j] = dino_gelu1(row[j]);
        }
    }
}

/* c[bi] = op(a[bi])·op(b[bi]) (+ bias) for bi < batch; the strides are in elements
 * (stride_b = 0 shares one B). Threads take whole GEMMs when the batch divides evenly
 * among them (or is large), else each GEMM is split into one block per thread. */
static void dino_gemm(float *restrict c, const float *restrict a, const float *restrict b,
                      const float *restrict bias, float *restrict gelu,
                      const float *restrict residual, int64_t batch, int m, int n, int k,
                      int trans_a, int trans_b, int64_t stride_a, int64_t stride_b,
                      int64_t stride_c) {
    if (batch <= 0 || m <= 0 || n <= 0) return;
    int nt = dino_threads();
    double flops = 2.0 * (double)batch * m * n * k;
    if (nt == 1 || flops < dino_gemm_serial_flops) {
        for (int64_t bi = 0; bi < batch; bi++)
            gemm_block(c + bi * stride_c, a + bi * stride_a, b + bi * stride_b, bias,
                       gelu ? gelu + bi * stride_c : NULL,
                       residual ? residual + bi * stride_c : NULL, m, n, k, trans_a, trans_b, 0, m,
                       0, n);
        return;
    }
    int parts = (batch % nt == 0 || batch >= 8 * (int64_t)nt) ? 1 : nt;
    int split_n = n > m;
    int64_t units = batch * parts;
#pragma omp parallel for schedule(static)
    for (int64_t u = 0; u < units; u++) {
        int64_t bi = u / parts;
        int p = (int)(u % parts);
        int lo = split_point(split_n ? n : m, p, parts);
        int hi = split_point(split_n ? n : m, p + 1, parts);
        float *cb = c + bi * stride_c, *gb = gelu ? gelu + bi * stride_c : NULL;
        const float *rb = residual ? residual + bi * stride_c : NULL;
        const float *ab = a + bi * stride_a, *bb = b + bi * stride_b;
        if (split_n)
            gemm_block(cb, ab, bb, bias, gb, rb, m, n, k, trans_a, trans_b, 0, m, lo, hi);
        else
            gemm_block(cb, ab, bb, bias, gb, rb, m, n, k, trans_a, trans_b, lo, hi, 0, n);
    }
}

/** C = op(A)·op(B) for `batch` matrices; with `b_shared` one B serves every batch item. */
static void dino_matmul_fwd(float *restrict c, const float *restrict a, const float *restrict b,
                            int64_t batch, int m, int n, int k, int trans_a, int trans_b,
                            int b_shared) {
    // a is (batch, m, k) or (batch, k, m) when trans_a; b is (batch, k, n) or (batch, n, k)
    // when trans_b, or 2-D and shared when b_shared; c is (batch, m, n).
    if (b_shared && !trans_a && batch * (int64_t)m <= 0x7fffffff) {
        // One tall GEMM: the batch folds into M.
        dino_gemm(c, a, b, NULL, NULL, NULL, 1, (int)(batch * m), n, k, 0, trans_b, 0, 0, 0);
        return;
    }
    dino_gemm(c, a, b, NULL, NULL, NULL, batch, m, n, k, trans_a, trans_b, (int64_t)m * k,
              b_shared ? 0 : (int64_t)k * n, (int64_t)m * n);
}

/** y = x·wᵀ + bias. */
static void dino_linear_fwd(float *restrict y, const float *restrict x, const float *restrict w,
                            const float *restrict bias, int64_t rows, int in, int out) {
    // x is (rows, in), w is (out, in), bias is (out), y is (rows, out).
    dino_gemm(y, x, w, bias, NULL, NULL, 1, (int)rows, out, in, 0, 1, 0, 0, 0);
}

/** h = x·wᵀ + bias (as dino_linear_fwd) and y = gelu(h), applied per GEMM block. */
static void dino_linear_gelu_fwd(float *restrict y, float *restrict h, const float *restrict x,
                                 const float *restrict w, const float *restrict bias, int64_t rows,
                                 int in, int out) {
    // As dino_linear_fwd into h (the pre-activation, rows × out), and y = gelu(h) written by
    // each block's epilogue while the block is in cache: the same blocks and the same
    // rounding as linear then gelu.
    dino_gemm(h, x, w, bias, y, NULL, 1, (int)rows, out, in, 0, 1, 0, 0, 0);
}

/** y = (x·wᵀ + bias) + residual, the residual added per GEMM block. */
static void dino_linear_residual_fwd(float *restrict y, const float *restrict x,
                                     const float *restrict w, const float *restrict bias,
                                     const float *restrict residual, int64_t rows, int in,
                                     int out) {
    // y = (x·wᵀ + bias) + residual, the residual added by each block's epilogue while the
    // block is in cache: the same blocks and the same rounding as linear then add, without
    // the linear's own (rows, out) result.
    dino_gemm(y, x, w, bias, NULL, residual, 1, (int)rows, out, in, 0, 1, 0, 0, 0);
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
    dino_gemm(y, scratch, w, bias, NULL, NULL, 1, batch * tokens, dim, cols, 0, 1, 0, 0, 0);
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_matmul(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_attrs_matmul A = ATTRS(matmul);
    const struct dino_tensor *a = IN(0), *b = IN(1);
    int ra = a->rank, rb = b->rank, ta = A.trans_a != 0, tb = A.trans_b != 0;
    int64_t m = ta ? a->shape[ra - 1] : a->shape[ra - 2];
    int64_t k = ta ? a->shape[ra - 2] : a->shape[ra - 1];
    int64_t n = tb ? b->shape[rb - 2] : b->shape[rb - 1], batch = 1;
    for (int d = 0; d < ra - 2; d++) batch *= a->shape[d];
    dino_matmul_fwd(F(OUT), F(a), F(b), batch, (int)m, (int)n, (int)k, ta, tb, rb == 2);
}

void dino_run_linear(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    dino_linear_fwd(F(OUT), F(x), F(w), F(IN(2)), rows, (int)in, (int)w->shape[0]);
}

void dino_run_linear_gelu(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    dino_linear_gelu_fwd(F(OUT), F(RESULT(1)), F(x), F(w), F(IN(2)), rows, (int)in,
                         (int)w->shape[0]);
}

void dino_run_linear_residual(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *x = IN(0), *w = IN(1);
    int64_t rows, in;
    rows_cols(x, &rows, &in);
    dino_linear_residual_fwd(F(OUT), F(x), F(w), F(IN(2)), F(IN(3)), rows, (int)in,
                             (int)w->shape[0]);
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
