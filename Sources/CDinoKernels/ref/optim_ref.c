/* optim_ref.c — naive clip_grad_coef, AdamW, EMA and assign, in double. */
#include <math.h>

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
