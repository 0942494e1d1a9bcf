/* norm_ref.c — naive layer_norm, l2_normalize and weight_norm with their backward ops,
 * statistics and sums in double. */
#include <math.h>

#include "../kernels.h"

/* Mean and 1/√(var + eps) of one row, in double. */
static void stats(const float *x, int64_t cols, float eps, double *mean, double *rstd) {
    double s = 0.0, q = 0.0;
    for (int64_t j = 0; j < cols; j++) s += x[j];
    double mu = s / cols;
    for (int64_t j = 0; j < cols; j++) q += (x[j] - mu) * (x[j] - mu);
    *mean = mu;
    *rstd = 1.0 / sqrt(q / cols + eps);
}

void dino_layer_norm_ref(float *restrict y, const float *restrict x, const float *restrict gamma,
                         const float *restrict beta, int64_t rows, int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        double mean, rstd;
        stats(x + r * cols, cols, eps, &mean, &rstd);
        for (int64_t j = 0; j < cols; j++)
            y[r * cols + j] = (float)((x[r * cols + j] - mean) * rstd * gamma[j] + beta[j]);
    }
}

void dino_layer_norm_bwd_ref(float *restrict dx, const float *restrict dy, const float *restrict x,
                             const float *restrict gamma, int64_t rows, int64_t cols, float eps) {
    // dx_j = rstd·(g_j − mean(g) − x̂_j·mean(g·x̂)) with g = dy·gamma.
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        double mean, rstd, g_sum = 0.0, gx_sum = 0.0;
        stats(xr, cols, eps, &mean, &rstd);
        for (int64_t j = 0; j < cols; j++) {
            double g = (double)dyr[j] * gamma[j];
            g_sum += g;
            gx_sum += g * (xr[j] - mean) * rstd;
        }
        for (int64_t j = 0; j < cols; j++) {
            double xhat = (xr[j] - mean) * rstd;
            double g = (double)dyr[j] * gamma[j];
            dx[r * cols + j] = (float)(rstd * (g - g_sum / cols - xhat * gx_sum / cols));
        }
    }
}

void dino_layer_norm_bwd_gamma_ref(float *restrict dgamma, float *restrict scratch,
                                   const float *restrict dy, const float *restrict x,
                                   int64_t rows, int64_t cols, float eps) {
    // dgamma_j = Σ_r dy[r,j]·x̂[r,j]; columns in groups of 64 double accumulators.
    (void)scratch;
    for (int64_t j0 = 0; j0 < cols; j0 += 64) {
        int64_t j1 = j0 + 64 < cols ? j0 + 64 : cols;
        double acc[64] = {0};
        for (int64_t r = 0; r < rows; r++) {
            double mean, rstd;
            stats(x + r * cols, cols, eps, &mean, &rstd);
            for (int64_t j = j0; j < j1; j++)
                acc[j - j0] += (double)dy[r * cols + j] * (x[r * cols + j] - mean) * rstd;
        }
        for (int64_t j = j0; j < j1; j++) dgamma[j] = (float)acc[j - j0];
    }
}

void dino_layer_norm_train_ref(float *restrict y, float *restrict st, const float *restrict x,
                               const float *restrict gamma, const float *restrict beta,
                               int64_t rows, int64_t cols, float eps) {
    // layer_norm's y, and each row's mean and rstd in st (rows, 2).
    dino_layer_norm_ref(y, x, gamma, beta, rows, cols, eps);
    for (int64_t r = 0; r < rows; r++) {
        double mean, rstd;
        stats(x + r * cols, cols, eps, &mean, &rstd);
        st[2 * r] = (float)mean;
        st[2 * r + 1] = (float)rstd;
    }
}

void dino_layer_norm_grad_ref(float *restrict dx, float *restrict dgamma, float *restrict dbeta,
                              float *restrict scratch, const float *restrict dy,
                              const float *restrict x, const float *restrict st,
                              const float *restrict gamma, int64_t rows, int64_t cols) {
    // dx as layer_norm_bwd, dgamma_j = Σ_r dy·x̂, dbeta_j = Σ_r dy, with the saved
    // mean and rstd of st (rows, 2); sums in double.
    (void)scratch;
    for (int64_t j = 0; j < cols; j++) {
        double g = 0.0, b = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            double d = dy[r * cols + j];
            g += d * (x[r * cols + j] - (double)st[2 * r]) * st[2 * r + 1];
            b += d;
        }
        dgamma[j] = (float)g;
        dbeta[j] = (float)b;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        double mean = st[2 * r], rstd = st[2 * r + 1], g_sum = 0.0, gx_sum = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            double g = (double)dyr[j] * gamma[j];
            g_sum += g;
            gx_sum += g * (xr[j] - mean) * rstd;
        }
        for (int64_t j = 0; j < cols; j++) {
            double xhat = (xr[j] - mean) * rstd;
            double g = (double)dyr[j] * gamma[j];
            dx[r * cols + j] = (float)(rstd * (g - g_sum / cols - xhat * gx_sum / cols));
        }
    }
}

/* ‖row‖₂ in double. */
static double norm2(const float *x, int64_t cols) {
    double s = 0.0;
    for (int64_t j = 0; j < cols; j++) s += (double)x[j] * x[j];
    return sqrt(s);
}

void dino_l2_normalize_ref(float *restrict y, const float *restrict x, int64_t rows, int64_t cols,
                           float eps) {
    for (int64_t r = 0; r < rows; r++) {
        double n = norm2(x + r * cols, cols);
        double d = n < eps ? eps : n;
        for (int64_t j = 0; j < cols; j++) y[r * cols + j] = (float)(x[r * cols + j] / d);
    }
}

void dino_l2_normalize_bwd_ref(float *restrict dx, const float *restrict dy,
                               const float *restrict x, int64_t rows, int64_t cols, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *dyr = dy + r * cols;
        double n = norm2(xr, cols);
        if (n < eps) {
            for (int64_t j = 0; j < cols; j++) dx[r * cols + j] = (float)(dyr[j] / (double)eps);
            continue;
        }
        double zdy = 0.0;
        for (int64_t j = 0; j < cols; j++) zdy += xr[j] / n * dyr[j];
        for (int64_t j = 0; j < cols; j++) dx[r * cols + j] = (float)((dyr[j] - xr[j] / n * zdy) / n);
    }
}

void dino_weight_norm_ref(float *restrict w, const float *restrict v, const float *restrict g,
                          int64_t rows, int64_t cols) {
    for (int64_t k = 0; k < rows; k++) {
        double n = norm2(v + k * cols, cols);
        for (int64_t j = 0; j < cols; j++) w[k * cols + j] = (float)(g[k] * v[k * cols + j] / n);
    }
}

void dino_weight_norm_bwd_v_ref(float *restrict dv, const float *restrict dw,
                                const float *restrict v, const float *restrict g, int64_t rows,
                                int64_t cols) {
    for (int64_t k = 0; k < rows; k++) {
        const float *vk = v + k * cols, *dwk = dw + k * cols;
        double n = norm2(vk, cols), d = 0.0;
        for (int64_t j = 0; j < cols; j++) d += vk[j] / n * dwk[j];
        for (int64_t j = 0; j < cols; j++)
            dv[k * cols + j] = (float)(g[k] / n * (dwk[j] - vk[j] / n * d));
    }
}

void dino_weight_norm_bwd_g_ref(float *restrict dg, const float *restrict dw,
                                const float *restrict v, int64_t rows, int64_t cols) {
    for (int64_t k = 0; k < rows; k++) {
        double n = norm2(v + k * cols, cols), d = 0.0;
        for (int64_t j = 0; j < cols; j++) d += v[k * cols + j] / n * dw[k * cols + j];
        dg[k] = (float)d;
    }
}
