/* reduce_ref.c — naive reductions with double accumulators. */
#include "../kernels.h"

void dino_reduce_sum_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                         int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            double s = 0.0;
            for (int64_t l = 0; l < len; l++) s += x[(o * len + l) * inner + k];
            y[o * inner + k] = (float)s;
        }
}

void dino_reduce_mean_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                          int64_t inner) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < inner; k++) {
            double s = 0.0;
            for (int64_t l = 0; l < len; l++) s += x[(o * len + l) * inner + k];
            y[o * inner + k] = (float)(s / len);
        }
}

void dino_sum_to_ref(float *restrict y, float *restrict scratch, const float *restrict x,
                     const int64_t *shape_x, int rank_x, const int64_t *shape_y, int rank_y) {
    // For each element of y, sum x over the dimensions where y has extent 1 (y padded
    // with leading 1s to x's rank).
    (void)scratch;
    int64_t ys[6], xstride[6], ny = 1, nsum = 1, s = 1;
    for (int d = rank_x - 1; d >= 0; d--) {
        int dy = d - (rank_x - rank_y);
        ys[d] = dy >= 0 ? shape_y[dy] : 1;
        xstride[d] = s;
        s *= shape_x[d];
        ny *= ys[d];
        if (ys[d] == 1) nsum *= shape_x[d];
    }
    for (int64_t j = 0; j < ny; j++) {
        double acc = 0.0;
        for (int64_t r = 0; r < nsum; r++) {
            int64_t jr = j, rr = r, off = 0;
            for (int d = rank_x - 1; d >= 0; d--) {
                int64_t idx;
                if (ys[d] == 1) {
                    idx = rr % shape_x[d];
                    rr /= shape_x[d];
                } else {
                    idx = jr % ys[d];
                }
                jr /= ys[d];
                off += idx * xstride[d];
            }
            acc += x[off];
        }
        y[j] = (float)acc;
    }
}
