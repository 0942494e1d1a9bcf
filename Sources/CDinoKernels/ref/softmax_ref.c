/* softmax_ref.c — naive softmax / log_softmax over the last axis and their backward
 * ops, in double. In place (result = operand 0) is allowed: each row reads before it
 * writes. */
#include <math.h>

#include "../kernels.h"

void dino_softmax_ref(float *y, const float *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < cols; j++) mx = xr[j] > mx ? xr[j] : mx;
        for (int64_t j = 0; j < cols; j++) s += exp(xr[j] - mx);
        for (int64_t j = 0; j < cols; j++) y[r * cols + j] = (float)(exp(xr[j] - mx) / s);
    }
}

void dino_softmax_bwd_ref(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (int64_t j = 0; j < cols; j++) s += (double)dy[r * cols + j] * y[r * cols + j];
        for (int64_t j = 0; j < cols; j++)
            dx[r * cols + j] = (float)(y[r * cols + j] * (dy[r * cols + j] - s));
    }
}

void dino_log_softmax_ref(float *y, const float *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mx = -INFINITY, s = 0.0;
        for (int64_t j = 0; j < cols; j++) mx = xr[j] > mx ? xr[j] : mx;
        for (int64_t j = 0; j < cols; j++) s += exp(xr[j] - mx);
        double lse = mx + log(s);
        for (int64_t j = 0; j < cols; j++) y[r * cols + j] = (float)(xr[j] - lse);
    }
}

void dino_log_softmax_bwd_ref(float *dx, const float *dy, const float *y, int64_t rows,
                              int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (int64_t j = 0; j < cols; j++) s += dy[r * cols + j];
        for (int64_t j = 0; j < cols; j++)
            dx[r * cols + j] = (float)(dy[r * cols + j] - exp((double)y[r * cols + j]) * s);
    }
}
