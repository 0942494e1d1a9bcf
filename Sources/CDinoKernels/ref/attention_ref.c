/* attention_ref.c — naive fused attention and its backward, in double, single-threaded:
 * the definitions of IR/OPS.md spelled out with q, k, v taken from the qkv layout. */
#include <math.h>
#include <stdlib.h>

#include "../kernels.h"

/* Element (b, i, part, h, d) of a [batch, n, 3c] qkv tensor: part 0 q, 1 k, 2 v. */
static inline int64_t qkv_at(int64_t b, int64_t i, int part, int64_t h, int64_t d, int n, int c,
                             int hd) {
    return (b * n + i) * 3 * (int64_t)c + (int64_t)part * c + h * hd + d;
}

void dino_attention_ref(float *restrict out, float *restrict probs, const float *restrict qkv,
                        int64_t batch, int n, int c, int heads, float scale) {
    int hd = c / heads;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++) {
            float *p = probs + (b * heads + h) * (int64_t)n * n;
            for (int64_t i = 0; i < n; i++) {
                double mx = -INFINITY, sum = 0.0;
                double s[n];
                for (int64_t j = 0; j < n; j++) {
                    double dot = 0.0;
                    for (int64_t d = 0; d < hd; d++)
                        dot += (double)qkv[qkv_at(b, i, 0, h, d, n, c, hd)] *
                               qkv[qkv_at(b, j, 1, h, d, n, c, hd)];
                    s[j] = dot * scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int64_t j = 0; j < n; j++) sum += exp(s[j] - mx);
                for (int64_t j = 0; j < n; j++) p[i * n + j] = (float)(exp(s[j] - mx) / sum);
                for (int64_t d = 0; d < hd; d++) {
                    double acc = 0.0;
                    for (int64_t j = 0; j < n; j++)
                        acc += exp(s[j] - mx) / sum * qkv[qkv_at(b, j, 2, h, d, n, c, hd)];
                    out[(b * n + i) * c + h * hd + d] = (float)acc;
                }
            }
        }
}

void dino_attention_bwd_ref(float *restrict dqkv, float *restrict scratch,
                            const float *restrict dy, const float *restrict qkv,
                            const float *restrict probs, int64_t batch, int n, int c, int heads,
                            float scale) {
    (void)scratch;
    int hd = c / heads;
    double *ds = malloc((size_t)n * (size_t)n * sizeof(double));
    if (!ds) return;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t h = 0; h < heads; h++) {
            const float *p = probs + (b * heads + h) * (int64_t)n * n;
            const float *g = dy + b * n * (int64_t)c + h * hd;
            for (int64_t i = 0; i < n; i++) {
                double dp[n], s = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    double dot = 0.0;
                    for (int64_t d = 0; d < hd; d++)
                        dot += (double)g[i * c + d] * qkv[qkv_at(b, j, 2, h, d, n, c, hd)];
                    dp[j] = dot;
                    s += dot * p[i * n + j];
                }
                for (int64_t j = 0; j < n; j++) ds[i * n + j] = p[i * n + j] * (dp[j] - s) * scale;
            }
            for (int64_t i = 0; i < n; i++)
                for (int64_t d = 0; d < hd; d++) {
                    double dq = 0.0, dk = 0.0, dv = 0.0;
                    for (int64_t j = 0; j < n; j++) {
                        dq += ds[i * n + j] * qkv[qkv_at(b, j, 1, h, d, n, c, hd)];
                        dk += ds[j * n + i] * qkv[qkv_at(b, j, 0, h, d, n, c, hd)];
                        dv += (double)p[j * n + i] * g[j * c + d];
                    }
                    dqkv[qkv_at(b, i, 0, h, d, n, c, hd)] = (float)dq;
                    dqkv[qkv_at(b, i, 1, h, d, n, c, hd)] = (float)dk;
                    dqkv[qkv_at(b, i, 2, h, d, n, c, hd)] = (float)dv;
                }
        }
    free(ds);
}
