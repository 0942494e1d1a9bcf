/* optim_ref.c — naive clip_grad_coef, AdamW, EMA and assign, in double; the flat forms
 * segment by segment through them. */
#include <math.h>
#include <stdlib.h>

#include "../kernels.h"

void dino_clip_grad_coef_ref(float *restrict coef, const float *restrict g, int64_t n,
                             float max_norm) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    double c = max_norm / (sqrt(s) + 1e-6);
    coef[0] = (float)(c < 1.0 ? c : 1.0);
}

void dino_adamw_update_ref(float *restrict p, const float *restrict g, float *restrict m,
                           float *restrict v, float *restrict t, int64_t n, float lr, float wd,
                           float gate, float beta1, float beta2, float eps, int decay) {
    if (gate == 0.0f) return;
    t[0] += 1.0f;
    double step = t[0];
    for (int64_t i = 0; i < n; i++) {
        double pi = p[i] * (1.0 - (double)lr * wd * decay);
        double mi = beta1 * (double)m[i] + (1.0 - beta1) * g[i];
        double vi = beta2 * (double)v[i] + (1.0 - beta2) * (double)g[i] * g[i];
        double mhat_scale = lr / (1.0 - pow(beta1, step));
        double denom = sqrt(vi) / sqrt(1.0 - pow(beta2, step)) + eps;
        m[i] = (float)mi;
        v[i] = (float)vi;
        p[i] = (float)(pi - mhat_scale * mi / denom);
    }
}

void dino_ema_update_ref(float *restrict t, const float *restrict s, int64_t n, float momentum) {
    for (int64_t i = 0; i < n; i++) t[i] = (float)(momentum * (double)t[i] + (1.0 - momentum) * s[i]);
}

void dino_assign_ref(float *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = src[i];
}

void dino_adamw_flat_ref(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, float *restrict steps, const float *restrict table,
                         int64_t segments, float lr, float wd, float gate, float max_norm,
                         float beta1, float beta2, float eps, void *scratch) {
    (void)scratch;
    for (int64_t k = 0; k < segments; k++) {
        const float *row = table + 8 * k;
        int64_t offset = dino_flat_table_int(row[0], row[1]);
        int64_t n = dino_flat_table_int(row[2], row[3]);
        int64_t step = dino_flat_table_int(row[4], row[5]);
        float coef = 1.0f;
        if (max_norm > 0.0f) dino_clip_grad_coef_ref(&coef, g + offset, n, max_norm);
        float *clipped = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        if (clipped == NULL) abort();
        for (int64_t i = 0; i < n; i++) clipped[i] = g[offset + i] * coef;
        dino_adamw_update_ref(p + offset, clipped, m + offset, v + offset, steps + step, n, lr,
                              wd, row[7] != 0.0f ? gate : 1.0f, beta1, beta2, eps,
                              row[6] != 0.0f);
        free(clipped);
    }
}

void dino_ema_flat_ref(float *restrict t, const float *restrict s, const float *restrict table,
                       int64_t segments, float momentum, void *scratch) {
    (void)scratch;
    for (int64_t k = 0; k < segments; k++) {
        const float *row = table + 8 * k;
        int64_t offset = dino_flat_table_int(row[0], row[1]);
        dino_ema_update_ref(t + offset, s + offset, dino_flat_table_int(row[2], row[3]),
                            momentum);
    }
}
