/* shape_ref.c — naive data movement: one element at a time, indices decomposed in full. */
#include "../kernels.h"

void dino_reshape_ref(float *y, const float *x, int64_t n) {
    if (y == x) return;
    for (int64_t i = 0; i < n; i++) y[i] = x[i];
}

void dino_permute_ref(float *restrict y, const float *restrict x, const int64_t *shape,
                      const int64_t *perm, int rank) {
    // y's dim d is x's dim perm[d]: y[i_0, …] = x[j] with j_{perm[d]} = i_d.
    int64_t n = 1, stride[6];
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = n;
        n *= shape[d];
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t rest = i, off = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t e = shape[perm[d]];
            off += (rest % e) * stride[perm[d]];
            rest /= e;
        }
        y[i] = x[off];
    }
}

void dino_concat_ref(float *restrict y, const float *const *xs, const int64_t *axis_sizes,
                     int n_in, int64_t outer, int64_t inner) {
    int64_t total = 0;
    for (int i = 0; i < n_in; i++) total += axis_sizes[i];
    for (int64_t o = 0; o < outer; o++) {
        int64_t at = 0;
        for (int i = 0; i < n_in; i++)
            for (int64_t l = 0; l < axis_sizes[i]; l++, at++)
                for (int64_t k = 0; k < inner; k++)
                    y[(o * total + at) * inner + k] = xs[i][(o * axis_sizes[i] + l) * inner + k];
    }
}

void dino_slice_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                    int64_t inner, int64_t start, int64_t end) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t l = start; l < end; l++)
            for (int64_t k = 0; k < inner; k++)
                y[(o * (end - start) + l - start) * inner + k] = x[(o * len + l) * inner + k];
}

void dino_pad_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                  int64_t inner, int64_t before, int64_t after) {
    int64_t out_len = before + len + after;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t l = 0; l < out_len; l++)
            for (int64_t k = 0; k < inner; k++) {
                int64_t src = l - before;
                y[(o * out_len + l) * inner + k] =
                    src >= 0 && src < len ? x[(o * len + src) * inner + k] : 0.0f;
            }
}

void dino_broadcast_to_ref(float *restrict y, const float *restrict x, const int64_t *shape_y,
                           int rank_y, const int64_t *shape_x, int rank_x) {
    int64_t n = 1;
    for (int d = 0; d < rank_y; d++) n *= shape_y[d];
    for (int64_t i = 0; i < n; i++) {
        int64_t rest = i, off = 0, stride = 1;
        for (int d = rank_y - 1; d >= 0; d--) {
            int64_t idx = rest % shape_y[d];
            rest /= shape_y[d];
            int dx = d - (rank_y - rank_x);
            if (dx >= 0) {
                if (shape_x[dx] != 1) off += idx * stride;
                stride *= shape_x[dx];
            }
        }
        y[i] = x[off];
    }
}

void dino_patchify_ref(float *restrict y, const float *restrict x, int batch, int channels,
                       int height, int width, int patch) {
    int gh = height / patch, gw = width / patch;
    int64_t feat = (int64_t)channels * patch * patch;
    for (int b = 0; b < batch; b++)
        for (int gi = 0; gi < gh; gi++)
            for (int gj = 0; gj < gw; gj++)
                for (int c = 0; c < channels; c++)
                    for (int i = 0; i < patch; i++)
                        for (int j = 0; j < patch; j++)
                            y[(((int64_t)b * gh + gi) * gw + gj) * feat + (c * patch + i) * patch + j] =
                                x[(((int64_t)b * channels + c) * height + gi * patch + i) * width +
                                  gj * patch + j];
}
