/* eltwise_ref.c — naive broadcasting binary ops (index arithmetic per element), scale,
 * and GELU with libm's double erf. */
#include <math.h>

#include "../kernels.h"

/* The element of b (shape_b, broadcast right-aligned) that meets a's flat index i. */
static int64_t broadcast_index(int64_t i, const int64_t *shape_a, int rank_a,
                               const int64_t *shape_b, int rank_b) {
    int64_t ib = 0, stride = 1;
    for (int d = rank_a - 1; d >= 0; d--) {
        int64_t idx = i % shape_a[d];
        i /= shape_a[d];
        int db = d - (rank_a - rank_b);
        if (db >= 0) {
            if (shape_b[db] != 1) ib += idx * stride;
            stride *= shape_b[db];
        }
    }
    return ib;
}

static void binary_ref(char op, float *c, const float *a, const float *b, const int64_t *shape_a,
                       int rank_a, const int64_t *shape_b, int rank_b) {
    int64_t n = 1;
    for (int d = 0; d < rank_a; d++) n *= shape_a[d];
    for (int64_t i = 0; i < n; i++) {
        float x = a[i], y = b[broadcast_index(i, shape_a, rank_a, shape_b, rank_b)];
        c[i] = op == '+' ? x + y : op == '-' ? x - y : op == '*' ? x * y : x / y;
    }
}

void dino_add_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b) {
    binary_ref('+', c, a, b, shape_a, rank_a, shape_b, rank_b);
}

void dino_sub_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b) {
    binary_ref('-', c, a, b, shape_a, rank_a, shape_b, rank_b);
}

void dino_mul_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b) {
    binary_ref('*', c, a, b, shape_a, rank_a, shape_b, rank_b);
}

void dino_div_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b) {
    binary_ref('/', c, a, b, shape_a, rank_a, shape_b, rank_b);
}

void dino_scale_ref(float *y, const float *x, int64_t n, float factor) {
    for (int64_t i = 0; i < n; i++) y[i] = factor * x[i];
}

void dino_gelu_ref(float *restrict y, const float *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    }
}

void dino_gelu_bwd_ref(float *dx, const float *dy, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double cdf = 0.5 * (1.0 + erf(v / sqrt(2.0)));
        double pdf = exp(-0.5 * v * v) / sqrt(2.0 * 3.14159265358979323846);
        dx[i] = (float)(dy[i] * (cdf + v * pdf));
    }
}
