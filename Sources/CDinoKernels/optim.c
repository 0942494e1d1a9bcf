/* optim.c — clip_grad_coef, adamw_update, ema_update, assign: the optimiser step and
 * the teacher's EMA as flat loops over parameter buffers. The effect ops update their
 * operands in place and write nothing to their (memoryless f32[]) result. */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "kernels.h"
#include "shim.h"

void dino_clip_grad_coef_fwd(float *restrict coef, const float *restrict g, int64_t n,
                             float max_norm) {
    // g is (n), coef is (): min(1, max_norm/(‖g‖₂ + 1e-6)), DINO's per-tensor rule.
    double norm = sqrt(dino_sum_blocked(g, n, 1));
    double c = (double)max_norm / (norm + 1e-6);
    coef[0] = (float)(c < 1.0 ? c : 1.0);
}

void dino_adamw_update_fwd(float *restrict p, const float *restrict g, float *restrict m,
                           float *restrict v, float *restrict t, int64_t n, float lr, float wd,
                           float gate, float beta1, float beta2, float eps, int decay) {
    // p, g, m and v are (n), t is (). When gate ≠ 0: t += 1, then decoupled weight decay
    // and the bias-corrected Adam step of torch.optim.AdamW:
    //   p ← p·(1 − lr·wd·decay); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
    //   p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
    if (gate == 0.0f) return;
    float step = t[0] + 1.0f;
    t[0] = step;
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    float shrink = 1.0f - lr * wd * (float)decay;
    float step_size = (float)((double)lr / bc1);
    float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + c1 * gi;
        float vi = beta2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * shrink - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

void dino_ema_update_fwd(float *restrict t, const float *restrict s, int64_t n, float momentum) {
    // t and s are (n); t ← momentum·t + (1 − momentum)·s.
    float c = 1.0f - momentum;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) t[i] = momentum * t[i] + c * s[i];
}

void dino_assign_fwd(float *dst, const float *src, int64_t n) {
    // dst and src are (n); dst ← src (nothing to do when they are one buffer).
    if (dst != src) dino_copy(dst, src, n);
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_clip_grad_coef(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(clip_grad_coef)(F(OUT), F(IN(0)), numel(IN(0)), ATTRS(clip_grad_coef).max_norm);
}

void dino_run_adamw_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    const struct dino_attrs_adamw_update A = ATTRS(adamw_update);
    KERNEL(adamw_update)(F(IN(0)), F(IN(1)), F(IN(2)), F(IN(3)), F(IN(4)), numel(IN(0)),
                         F(IN(5))[0], F(IN(6))[0], F(IN(7))[0], A.beta1, A.beta2, A.eps,
                         (int)A.decay);
}

void dino_run_ema_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(ema_update)(F(IN(0)), F(IN(1)), numel(IN(0)), F(IN(2))[0]);
}

void dino_run_assign(const struct dino_instr *ins, struct dino_exec_ctx *ctx, int ref) {
    KERNEL(assign)(F(IN(0)), F(IN(1)), numel(IN(0)));
}
