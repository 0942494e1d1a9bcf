/* optim.c — clip_grad_coef, adamw_update, ema_update, assign: the optimiser step and
 * the teacher's EMA as flat loops over parameter buffers; adamw_flat and ema_flat: the
 * same over whole mirrored regions, one pass each, driven by a segment table. The effect
 * ops update their operands in place and write nothing to their (memoryless f32[]) result. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "internal.h"
#include "shim.h"

/** A segment table entry's integer: hi·2^24 + lo (both whole floats below 2^24). */
static inline int64_t dino_flat_table_int(float hi, float lo) {
    return (int64_t)hi * (1 << 24) + (int64_t)lo;
}

/** coef = min(1, max_norm/(‖g‖₂ + 1e-6)). */
static void dino_clip_grad_coef_fwd(float *restrict coef, const float *restrict g, int64_t n,
                                    float max_norm) {
    // g is (n), coef is (): min(1, max_norm/(‖g‖₂ + 1e-6)), DINO's per-tensor rule.
    double norm = sqrt(dino_sum_blocked(g, n, 1));
    double c = (double)max_norm / (norm + 1e-6);
    coef[0] = (float)(c < 1.0 ? c : 1.0);
}

/** One AdamW step on p, m, v and the step count t (IR/CONTRACT.md); nothing when gate == 0. */
static void dino_adamw_update_fwd(float *restrict p, const float *restrict g, float *restrict m,
                                  float *restrict v, float *restrict t, int64_t n, float lr,
                                  float wd, float gate, float beta1, float beta2, float eps,
                                  int decay) {
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
        float mi = fmaf(beta1, m[i], c1 * gi);
        float vi = fmaf(beta2, v[i], c2 * gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] = fmaf(p[i], shrink, -(step_size * mi / fmaf(dino_sqrtf(vi), inv_sqrt_bc2, eps)));
    }
}

/** t = momentum·t + (1 − momentum)·s. */
static void dino_ema_update_fwd(float *restrict t, const float *restrict s, int64_t n,
                                float momentum) {
    // t and s are (n); t ← momentum·t + (1 − momentum)·s.
    float c = 1.0f - momentum;
#pragma omp parallel for schedule(static) if (n >= DINO_PAR_MIN)
    for (int64_t i = 0; i < n; i++) t[i] = fmaf(momentum, t[i], c * s[i]);
}

/** dst = src. */
static void dino_assign_fwd(float *dst, const float *src, int64_t n) {
    // dst and src are (n); dst ← src (nothing to do when they are one buffer).
    if (dst != src) dino_copy(dst, src, n);
}

/* ---- flat optimiser and EMA over segment tables ------------------------------------- */
/* Every addition in the AdamW and EMA loops is an explicit fmaf (a vfmadd, no libm) and
 * the square root dino_sqrtf (vsqrtps): with -ffp-contract=fast the compiler would otherwise
 * fuse differently in vectorised and scalar code, and the flat kernels must give the same
 * bits as the per-tensor ones (FlatOptimizerTests). */

/** One segment of a table row with its element offset, count, place in the flat index
 *  space and the per-segment coefficients of the step. */
struct flat_segment {
    int64_t offset, count, start, step;
    float coef, shrink, step_size, inv_sqrt_bc2;
    int active, decay;
};

/** Scratch bytes of adamw_flat and ema_flat over `segments` table rows. */
static size_t dino_flat_scratch_bytes(int64_t segments) {
    return (size_t)segments * sizeof(struct flat_segment);
}

/** Reads the S table rows into seg (offsets as hi·2^24 + lo) and numbers the flat index
 *  space; returns the total element count. */
static int64_t read_segments(struct flat_segment *seg, const float *table, int64_t segments) {
    int64_t start = 0;
    for (int64_t k = 0; k < segments; k++) {
        const float *row = table + 8 * k;
        seg[k].offset = dino_flat_table_int(row[0], row[1]);
        seg[k].count = dino_flat_table_int(row[2], row[3]);
        seg[k].step = dino_flat_table_int(row[4], row[5]);
        seg[k].decay = row[6] != 0.0f;
        seg[k].active = 1;
        seg[k].coef = 1.0f;
        seg[k].start = start;
        start += seg[k].count;
    }
    return start;
}

/** The first segment of seg[0..S) whose flat range ends after `at`. */
static int64_t segment_at(const struct flat_segment *seg, int64_t segments, int64_t at) {
    int64_t lo = 0, hi = segments;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (seg[mid].start + seg[mid].count <= at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/** Per segment of the table (IR/OPS.md `adamw_flat`): per-parameter clipping when
 *  max_norm > 0, then the gated AdamW step of adamw_update, over the mirrored regions
 *  p, g, m, v and the step counts `steps`; one parallel pass over all segments. */
static void dino_adamw_flat_fwd(float *restrict p, const float *restrict g, float *restrict m,
                                float *restrict v, float *restrict steps,
                                const float *restrict table, int64_t segments, float lr, float wd,
                                float gate, float max_norm, float beta1, float beta2, float eps,
                                void *scratch) {
    // p, g, m, v are one mirrored region each; segment k is [offset, offset + count) of all
    // four, its step count steps[step]. Per segment (as adamw_update with clip_grad_coef):
    // coef = min(1, max_norm/(‖g_k‖₂ + 1e-6)) when max_norm > 0, then the gated AdamW step
    // on g·coef. Coefficients first, then one parallel pass over the flat index space.
    struct flat_segment *seg = scratch;
    int64_t total = read_segments(seg, table, segments);
    float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
    for (int64_t k = 0; k < segments; k++) {
        const float *row = table + 8 * k;
        if (max_norm > 0.0f) {
            double norm = sqrt(dino_sum_blocked(g + seg[k].offset, seg[k].count, 1));
            double c = (double)max_norm / (norm + 1e-6);
            seg[k].coef = (float)(c < 1.0 ? c : 1.0);
        }
        seg[k].active = !(row[7] != 0.0f && gate == 0.0f);
        if (!seg[k].active) continue;
        float step = steps[seg[k].step] + 1.0f;
        steps[seg[k].step] = step;
        double bc1 = 1.0 - pow((double)beta1, (double)step);
        double bc2 = 1.0 - pow((double)beta2, (double)step);
        seg[k].shrink = 1.0f - lr * wd * (float)seg[k].decay;
        seg[k].step_size = (float)((double)lr / bc1);
        seg[k].inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    }
    int clip = max_norm > 0.0f;
#pragma omp parallel if (total >= DINO_PAR_MIN)
    {
        int threads = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t lo = total * id / threads, hi = total * (id + 1) / threads;
        for (int64_t k = segment_at(seg, segments, lo); k < segments && seg[k].start < hi; k++) {
            if (!seg[k].active) continue;
            int64_t a = (lo > seg[k].start ? lo : seg[k].start) - seg[k].start;
            int64_t b = (hi < seg[k].start + seg[k].count ? hi : seg[k].start + seg[k].count) -
                        seg[k].start;
            float *restrict pk = p + seg[k].offset, *restrict mk = m + seg[k].offset;
            float *restrict vk = v + seg[k].offset;
            const float *restrict gk = g + seg[k].offset;
            float coef = seg[k].coef, shrink = seg[k].shrink, step_size = seg[k].step_size;
            float inv_sqrt_bc2 = seg[k].inv_sqrt_bc2;
#pragma omp simd
            for (int64_t i = a; i < b; i++) {
                float gi = clip ? gk[i] * coef : gk[i];
                float mi = fmaf(beta1, mk[i], c1 * gi);
                float vi = fmaf(beta2, vk[i], c2 * gi * gi);
                mk[i] = mi;
                vk[i] = vi;
                pk[i] = fmaf(pk[i], shrink,
                             -(step_size * mi / fmaf(dino_sqrtf(vi), inv_sqrt_bc2, eps)));
            }
        }
    }
}

/** t = momentum·t + (1 − momentum)·s over every segment of the table, one pass. */
static void dino_ema_flat_fwd(float *restrict t, const float *restrict s,
                              const float *restrict table, int64_t segments, float momentum,
                              void *scratch) {
    // t (teacher) and s (student) are mirrored regions; for each segment k,
    // t ← momentum·t + (1 − momentum)·s over [offset, offset + count), in one pass.
    struct flat_segment *seg = scratch;
    int64_t total = read_segments(seg, table, segments);
    float c = 1.0f - momentum;
#pragma omp parallel if (total >= DINO_PAR_MIN)
    {
        int threads = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t lo = total * id / threads, hi = total * (id + 1) / threads;
        for (int64_t k = segment_at(seg, segments, lo); k < segments && seg[k].start < hi; k++) {
            int64_t a = (lo > seg[k].start ? lo : seg[k].start) - seg[k].start;
            int64_t b = (hi < seg[k].start + seg[k].count ? hi : seg[k].start + seg[k].count) -
                        seg[k].start;
            float *restrict tk = t + seg[k].offset;
            const float *restrict sk = s + seg[k].offset;
#pragma omp simd
            for (int64_t i = a; i < b; i++) tk[i] = fmaf(momentum, tk[i], c * sk[i]);
        }
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_clip_grad_coef(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_clip_grad_coef_fwd(F(OUT), F(IN(0)), numel(IN(0)), ATTRS(clip_grad_coef).max_norm);
}

void dino_run_adamw_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_attrs_adamw_update A = ATTRS(adamw_update);
    dino_adamw_update_fwd(F(IN(0)), F(IN(1)), F(IN(2)), F(IN(3)), F(IN(4)), numel(IN(0)),
                          F(IN(5))[0], F(IN(6))[0], F(IN(7))[0], A.beta1, A.beta2, A.eps,
                          (int)A.decay);
}

void dino_run_ema_update(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_ema_update_fwd(F(IN(0)), F(IN(1)), numel(IN(0)), F(IN(2))[0]);
}

void dino_run_assign(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_assign_fwd(F(IN(0)), F(IN(1)), numel(IN(0)));
}

void dino_run_adamw_flat(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_attrs_adamw_flat A = ATTRS(adamw_flat);
    dino_adamw_flat_fwd(F(IN(0)), F(IN(1)), F(IN(2)), F(IN(3)), F(IN(4)), F(IN(8)), IN(8)->shape[0],
                        F(IN(5))[0], F(IN(6))[0], F(IN(7))[0], A.max_norm, A.beta1, A.beta2, A.eps,
                        ctx->scratch);
}

size_t dino_scratch_adamw_flat(const struct dino_instr *ins, const struct dino_tensor *t) {
    return dino_flat_scratch_bytes(t[ins->in[8]].shape[0]);
}

void dino_run_ema_flat(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    dino_ema_flat_fwd(F(IN(0)), F(IN(1)), F(IN(3)), IN(3)->shape[0], F(IN(2))[0], ctx->scratch);
}

size_t dino_scratch_ema_flat(const struct dino_instr *ins, const struct dino_tensor *t) {
    return dino_flat_scratch_bytes(t[ins->in[3]].shape[0]);
}
