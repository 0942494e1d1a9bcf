/* norm.c — layer_norm (+ backward for x and gamma; the fused layer_norm_train saving the
 * row statistics and layer_norm_grad for x, gamma and beta), l2_normalize (+ backward),
 * weight_norm (+ backward for v and g). All act on rows of the last axis; each row is
 * one thread's work, summed in a fixed order (internal.h), and the one reduction across
 * rows (layer_norm_bwd_gamma) uses a fixed partition into row blocks, so results do not
 * depend on the thread count. */
#include "internal.h"
#include "shim.h"

/* Σ (x[j] − mean)² in a fixed order. */
static inline float sum_sq_dev(const float *x, float mean, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float d = x[i + j] - mean;
            acc[j] += d * d;
        }
    for (int j = 0; i + j < n; j++) {
        float d = x[i + j] - mean;
        acc[j] += d * d;
    }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* Σ a[j]·b[j]·(x[j] − mean) in a fixed order. */
static inline float dot3_dev(const float *a, const float *b, const float *x, float mean,
                             int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j] * (x[i + j] - mean);
    for (int j = 0; i + j < n; j++) acc[j] += a[i + j] * b[i + j] * (x[i + j] - mean);
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* The mean and 1/√(var + eps) of one row (two passes: the row is in cache). */
static inline void row_stats(const float *x, int64_t cols, float eps, float *mean, float *rstd) {
    float mu = dino_sum(x, cols) / (float)cols;
    float var = sum_sq_dev(x, mu, cols) / (float)cols;
    *mean = mu;
    *rstd = 1.0f / sqrtf(var + eps);
}

/** y = (x − mean)·rstd·gamma + beta per row of the last axis. */
static void dino_layer_norm_fwd(float *restrict y, const float *restrict x,
                                const float *restrict gamma, const float *restrict beta,
                                int64_t rows, int64_t cols, float eps) {
    // x and y are (rows, cols); gamma and beta are (cols).
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mean, rstd;
        row_stats(xr, cols, eps, &mean, &rstd);
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
    }
}

/** dx of layer_norm (mean and rstd recomputed from x). */
static void dino_layer_norm_bwd(float *restrict dx, const float *restrict dy,
                                const float *restrict x, const float *restrict gamma, int64_t rows,
                                int64_t cols, float eps) {
    // dy, x and dx are (rows, cols); gamma is (cols). With g = dy·gamma and x̂ the
    // normalised row: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float mean, rstd;
        row_stats(xr, cols, eps, &mean, &rstd);
        float g_mean = dino_dot(dyr, gamma, cols) / (float)cols;
        float gx_mean = dot3_dev(dyr, gamma, xr, mean, cols) * rstd / (float)cols;
        for (int64_t j = 0; j < cols; j++) {
            float xhat = (xr[j] - mean) * rstd;
            dxr[j] = rstd * (dyr[j] * gamma[j] - g_mean - xhat * gx_mean);
        }
    }
}

/** Scratch bytes dino_layer_norm_bwd_gamma needs. */
static size_t dino_layer_norm_bwd_gamma_scratch_bytes(int64_t rows, int64_t cols) {
    return (size_t)dino_row_blocks(rows) * (size_t)cols * sizeof(float);
}

/** dgamma = Σ_rows dy·x̂, over a fixed partition of rows (partials in `scratch`). */
static void dino_layer_norm_bwd_gamma(float *restrict dgamma, float *restrict scratch,
                                      const float *restrict dy, const float *restrict x,
                                      int64_t rows, int64_t cols, float eps) {
    // dy and x are (rows, cols); dgamma is (cols) = Σ_rows dy·x̂. The rows are cut into
    // dino_row_blocks(rows) fixed blocks whose partial sums (blocks, cols) go to
    // scratch; the partials are then added in block order.
    int64_t blocks = dino_row_blocks(rows);
    if (blocks == 0) {
        for (int64_t j = 0; j < cols; j++) dgamma[j] = 0.0f;
        return;
    }
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        float *acc = scratch + b * cols;
        for (int64_t j = 0; j < cols; j++) acc[j] = 0.0f;
        for (int64_t r = rows * b / blocks; r < rows * (b + 1) / blocks; r++) {
            const float *xr = x + r * cols, *dyr = dy + r * cols;
            float mean, rstd;
            row_stats(xr, cols, eps, &mean, &rstd);
            for (int64_t j = 0; j < cols; j++) acc[j] += dyr[j] * ((xr[j] - mean) * rstd);
        }
    }
    for (int64_t j = 0; j < cols; j++) dgamma[j] = scratch[j];
    for (int64_t b = 1; b < blocks; b++)
        for (int64_t j = 0; j < cols; j++) dgamma[j] += scratch[b * cols + j];
}

/** layer_norm's y, and stats (rows, 2): each row's mean and rstd (the fused forward). */
static void dino_layer_norm_train_fwd(float *restrict y, float *restrict stats,
                                      const float *restrict x, const float *restrict gamma,
                                      const float *restrict beta, int64_t rows, int64_t cols,
                                      float eps) {
    // As dino_layer_norm_fwd, and stats (rows, 2) keeps each row's mean and rstd.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mean, rstd;
        row_stats(xr, cols, eps, &mean, &rstd);
        stats[2 * r] = mean;
        stats[2 * r + 1] = rstd;
        for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mean) * rstd * gamma[j] + beta[j];
    }
}

/* Whether layer_norm_grad sums dbeta over row blocks: exactly when sum_to would (a tall
 * matrix, reduce.c), so the fused dbeta equals the unfused one bit for bit. */
static int grad_beta_blocked(int64_t rows, int64_t cols) { return cols > 1 && rows >= 128; }

/** Scratch bytes dino_layer_norm_grad needs (row-block partials of dgamma and dbeta). */
static size_t dino_layer_norm_grad_scratch_bytes(int64_t rows, int64_t cols) {
    return 2 * (size_t)dino_row_blocks(rows) * (size_t)cols * sizeof(float);
}

/** dx, dgamma = Σ_rows dy·x̂ and dbeta = Σ_rows dy in one pass, from the saved stats. */
static void dino_layer_norm_grad(float *restrict dx, float *restrict dgamma, float *restrict dbeta,
                                 float *restrict scratch, const float *restrict dy,
                                 const float *restrict x, const float *restrict stats,
                                 const float *restrict gamma, int64_t rows, int64_t cols) {
    // One pass over dy and x per row block: dx as dino_layer_norm_bwd with the saved mean
    // and rstd, and the block's partial sums of dy·x̂ (dgamma) and dy (dbeta) in scratch,
    // added in block order afterwards. The partitions and orders are those of
    // layer_norm_bwd_gamma and sum_to, so the results equal the unfused ones bit for bit.
    int64_t blocks = dino_row_blocks(rows);
    if (blocks == 0) {
        for (int64_t j = 0; j < cols; j++) dgamma[j] = dbeta[j] = 0.0f;
        return;
    }
    int beta_blocked = grad_beta_blocked(rows, cols);
    float *gpart = scratch, *bpart = scratch + blocks * cols;
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        float *gacc = gpart + b * cols, *bacc = bpart + b * cols;
        int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
        for (int64_t j = 0; j < cols; j++) gacc[j] = 0.0f;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * cols, *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            float mean = stats[2 * r], rstd = stats[2 * r + 1];
            float g_mean = dino_dot(dyr, gamma, cols) / (float)cols;
            float gx_mean = dot3_dev(dyr, gamma, xr, mean, cols) * rstd / (float)cols;
            for (int64_t j = 0; j < cols; j++) {
                float xhat = (xr[j] - mean) * rstd;
                dxr[j] = rstd * (dyr[j] * gamma[j] - g_mean - xhat * gx_mean);
                gacc[j] += dyr[j] * ((xr[j] - mean) * rstd);
            }
            if (!beta_blocked) continue;
            if (r == r0) {
                for (int64_t j = 0; j < cols; j++) bacc[j] = dyr[j];
            } else {
                for (int64_t j = 0; j < cols; j++) bacc[j] += dyr[j];
            }
        }
    }
    for (int64_t j = 0; j < cols; j++) dgamma[j] = gpart[j];
    for (int64_t b = 1; b < blocks; b++)
        for (int64_t j = 0; j < cols; j++) dgamma[j] += gpart[b * cols + j];
    if (beta_blocked) {
        for (int64_t j = 0; j < cols; j++) dbeta[j] = bpart[j];
        for (int64_t b = 1; b < blocks; b++)
            for (int64_t j = 0; j < cols; j++) dbeta[j] += bpart[b * cols + j];
    } else if (cols == 1) {
        dbeta[0] = (float)dino_sum_blocked(dy, rows, 0);
    } else {
        for (int64_t j = 0; j < cols; j++) dbeta[j] = dy[j];
        for (int64_t r = 1; r < rows; r++)
            for (int64_t j = 0; j < cols; j++) dbeta[j] += dy[r * cols + j];
    }
}

/** y = x / max(‖x‖₂, eps) per row. */
static void dino_l2_normalize_fwd(float *restrict y, const float *restrict x, int64_t rows,
                                  int64_t cols, float eps) {
    // x and y are (rows, cols); y = x / max(‖x‖₂, eps) per row (torch F.normalize).
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float norm = sqrtf(dino_dot(xr, xr, cols));
        float inv = 1.0f / (norm < eps ? eps : norm);
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] * inv;
    }
}

/** dx of l2_normalize. */
static void dino_l2_normalize_bwd(float *restrict dx, const float *restrict dy,
                                  const float *restrict x, int64_t rows, int64_t cols, float eps) {
    // dy, x and dx are (rows, cols). With n = ‖x‖: dx = (dy − x·(x·dy)/n²)/n when
    // n ≥ eps, else the clamped norm is a constant and dx = dy/eps.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        float norm = sqrtf(dino_dot(xr, xr, cols));
        if (norm < eps) {
            for (int64_t j = 0; j < cols; j++) dxr[j] = dyr[j] / eps;
            continue;
        }
        float inv = 1.0f / norm;
        float proj = dino_dot(xr, dyr, cols) * inv * inv;
        for (int64_t j = 0; j < cols; j++) dxr[j] = (dyr[j] - xr[j] * proj) * inv;
    }
}

/** w_k = g_k·v_k/‖v_k‖ per row k (no epsilon, as torch weight_norm). */
static void dino_weight_norm_fwd(float *restrict w, const float *restrict v,
                                 const float *restrict g, int64_t rows, int64_t cols) {
    // v and w are (rows, cols), g is (rows, 1); w_k = g_k·v_k/‖v_k‖ (no epsilon).
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t k = 0; k < rows; k++) {
        const float *vk = v + k * cols;
        float *wk = w + k * cols;
        float s = g[k] / sqrtf(dino_dot(vk, vk, cols));
        for (int64_t j = 0; j < cols; j++) wk[j] = vk[j] * s;
    }
}

/** dv_k = (g_k/‖v_k‖)(dw_k − v̂_k (v̂_k·dw_k)). */
static void dino_weight_norm_bwd_v(float *restrict dv, const float *restrict dw,
                                   const float *restrict v, const float *restrict g, int64_t rows,
                                   int64_t cols) {
    // dw, v and dv are (rows, cols), g is (rows, 1);
    // dv_k = (g_k/n)(dw_k − v_k (v_k·dw_k)/n²) with n = ‖v_k‖.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t k = 0; k < rows; k++) {
        const float *vk = v + k * cols;
        float inv = 1.0f / sqrtf(dino_dot(vk, vk, cols));
        dino_weight_norm_bwd_v_row(dv + k * cols, dw + k * cols, vk, g[k] * inv, inv, cols);
    }
}

/** dg_k = v̂_k·dw_k. */
static void dino_weight_norm_bwd_g(float *restrict dg, const float *restrict dw,
                                   const float *restrict v, int64_t rows, int64_t cols) {
    // dw and v are (rows, cols), dg is (rows, 1); dg_k = (v_k·dw_k)/‖v_k‖.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t k = 0; k < rows; k++) {
        const float *vk = v + k * cols, *dwk = dw + k * cols;
        dg[k] = dino_dot(vk, dwk, cols) / sqrtf(dino_dot(vk, vk, cols));
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_layer_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_layer_norm_fwd(F(OUT), F(IN(0)), F(IN(1)), F(IN(2)), rows, cols, ATTRS(layer_norm).eps);
}

void dino_run_layer_norm_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    dino_layer_norm_bwd(F(OUT), F(IN(0)), F(IN(1)), F(IN(2)), rows, cols,
                        ATTRS(layer_norm_bwd).eps);
}

void dino_run_layer_norm_bwd_gamma(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    dino_layer_norm_bwd_gamma(F(OUT), ctx->scratch, F(IN(0)), F(IN(1)), rows, cols,
                              ATTRS(layer_norm_bwd_gamma).eps);
}

size_t dino_scratch_layer_norm_bwd_gamma(const struct dino_instr *ins,
                                         const struct dino_tensor *t) {
    int64_t rows, cols;
    rows_cols(&t[ins->in[1]], &rows, &cols);
    return dino_layer_norm_bwd_gamma_scratch_bytes(rows, cols);
}

void dino_run_layer_norm_train(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_layer_norm_train_fwd(F(OUT), F(RESULT(1)), F(IN(0)), F(IN(1)), F(IN(2)), rows, cols,
                              ATTRS(layer_norm_train).eps);
}

void dino_run_layer_norm_grad(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    dino_layer_norm_grad(F(OUT), F(RESULT(1)), F(RESULT(2)), ctx->scratch, F(IN(0)), F(IN(1)),
                         F(IN(2)), F(IN(3)), rows, cols);
}

size_t dino_scratch_layer_norm_grad(const struct dino_instr *ins, const struct dino_tensor *t) {
    int64_t rows, cols;
    rows_cols(&t[ins->in[1]], &rows, &cols);
    return dino_layer_norm_grad_scratch_bytes(rows, cols);
}

void dino_run_l2_normalize(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_l2_normalize_fwd(F(OUT), F(IN(0)), rows, cols, ATTRS(l2_normalize).eps);
}

void dino_run_l2_normalize_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(1), &rows, &cols);
    dino_l2_normalize_bwd(F(OUT), F(IN(0)), F(IN(1)), rows, cols, ATTRS(l2_normalize_bwd).eps);
}

void dino_run_weight_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *v = IN(0);
    dino_weight_norm_fwd(F(OUT), F(v), F(IN(1)), v->shape[0], v->shape[1]);
}

void dino_run_weight_norm_bwd_v(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *v = IN(1);
    dino_weight_norm_bwd_v(F(OUT), F(IN(0)), F(v), F(IN(2)), v->shape[0], v->shape[1]);
}

void dino_run_weight_norm_bwd_g(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_tensor *v = IN(1);
    dino_weight_norm_bwd_g(F(OUT), F(IN(0)), F(v), v->shape[0], v->shape[1]);
}
