/* gemm_ref.c — naive matmul, linear and patch_embed (a direct convolution), with double
 * accumulators: the reference the optimised kernels of gemm.c are tested against. */
#include <math.h>

#include "../kernels.h"

void dino_matmul_ref(float *restrict c, const float *restrict a, const float *restrict b,
                     int64_t batch, int m, int n, int k, int trans_a, int trans_b, int b_shared) {
    // a is (batch, m, k) or (batch, k, m); b is (batch, k, n) or (batch, n, k), or one
    // such matrix shared by the batch; c is (batch, m, n).
    for (int64_t bi = 0; bi < batch; bi++) {
        const float *A = a + bi * m * k;
        const float *B = b + (b_shared ? 0 : bi * k * n);
        float *C = c + bi * m * n;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0.0;
                for (int p = 0; p < k; p++) {
                    double av = trans_a ? A[(int64_t)p * m + i] : A[(int64_t)i * k + p];
                    double bv = trans_b ? B[(int64_t)j * k + p] : B[(int64_t)p * n + j];
                    s += av * bv;
                }
                C[(int64_t)i * n + j] = (float)s;
            }
    }
}

void dino_linear_ref(float *restrict y, const float *restrict x, const float *restrict w,
                     const float *restrict bias, int64_t rows, int in, int out) {
    // x is (rows, in), w is (out, in), bias is (out), y is (rows, out).
    for (int64_t r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = bias[o];
            for (int i = 0; i < in; i++) s += (double)x[r * in + i] * w[(int64_t)o * in + i];
            y[r * out + o] = (float)s;
        }
}

void dino_linear_residual_ref(float *restrict y, const float *restrict x,
                              const float *restrict w, const float *restrict bias,
                              const float *restrict residual, int64_t rows, int in, int out) {
    // y = residual + x·wᵀ + bias, summed in double.
    for (int64_t r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = (double)bias[o] + residual[r * out + o];
            for (int i = 0; i < in; i++) s += (double)x[r * in + i] * w[(int64_t)o * in + i];
            y[r * out + o] = (float)s;
        }
}

void dino_linear_gelu_ref(float *restrict y, float *restrict h, const float *restrict x,
                          const float *restrict w, const float *restrict bias, int64_t rows,
                          int in, int out) {
    // h = x·wᵀ + bias in double, y = gelu(h).
    dino_linear_ref(h, x, w, bias, rows, in, out);
    for (int64_t i = 0; i < rows * out; i++) {
        double v = h[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    }
}

void dino_patch_embed_ref(float *restrict y, float *restrict scratch, const float *restrict x,
                          const float *restrict w, const float *restrict bias, int batch,
                          int channels, int height, int width, int patch, int dim) {
    // x is (batch, channels, height, width), w is (dim, channels, patch, patch), bias is
    // (dim), y is (batch, gh·gw, dim): a convolution with stride = kernel = patch.
    (void)scratch;
    int gh = height / patch, gw = width / patch;
    for (int b = 0; b < batch; b++)
        for (int gi = 0; gi < gh; gi++)
            for (int gj = 0; gj < gw; gj++)
                for (int d = 0; d < dim; d++) {
                    double s = bias[d];
                    for (int c = 0; c < channels; c++)
                        for (int i = 0; i < patch; i++)
                            for (int j = 0; j < patch; j++) {
                                int64_t xi = (((int64_t)b * channels + c) * height + gi * patch + i) * width +
                                             gj * patch + j;
                                int64_t wi = (((int64_t)d * channels + c) * patch + i) * patch + j;
                                s += (double)x[xi] * w[wi];
                            }
                    y[(((int64_t)b * gh + gi) * gw + gj) * dim + d] = (float)s;
                }
}
