/* softmax.c — softmax and log_softmax over the last axis, and their backward ops.
 * Each row is one thread's work; exponentials use the vectorisable dino_expf. All four
 * may run in place (result in operand 0's buffer): each row reads what it needs before
 * it writes. The element-wise loops carry `omp simd`: in place, clang's runtime overlap
 * check would otherwise send them down the scalar path (scalar dino_expf). */
#include "internal.h"
#include "shim.h"

/** y = softmax(x) per row. */
static void dino_softmax_fwd(float *y, const float *x, int64_t rows, int64_t cols) {
    // x and y are (rows, cols); y may be x.
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) dino_softmax_row(y + r * cols, x + r * cols, cols);
}

/** dx = y·(dy − Σ dy·y) per row. */
static void dino_softmax_bwd(float *dx, const float *dy, const float *y, int64_t rows,
                             int64_t cols) {
    // dy, y and dx are (rows, cols); dx = y·(dy − Σ dy·y); dx may be dy.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        float s = dino_dot(dyr, yr, cols);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - s);
    }
}

/** y = x − max − log Σ exp(x − max) per row. */
static void dino_log_softmax_fwd(float *y, const float *x, int64_t rows, int64_t cols) {
    // x and y are (rows, cols); y = x − max − log Σ exp(x − max); y may be x.
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = dino_max(xr, cols);
        float acc[16] = {0};
        int64_t i = 0;
        for (; i + 16 <= cols; i += 16)
            for (int j = 0; j < 16; j++) acc[j] += dino_expf(xr[i + j] - mx);
        for (int j = 0; i + j < cols; j++) acc[j] += dino_expf(xr[i + j] - mx);
        for (int w = 8; w >= 1; w /= 2)
            for (int j = 0; j < w; j++) acc[j] += acc[j + w];
        float shift = mx + logf(acc[0]);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) yr[j] = xr[j] - shift;
    }
}

/** dx = dy − exp(y)·Σ dy per row. */
static void dino_log_softmax_bwd(float *dx, const float *dy, const float *y, int64_t rows,
                                 int64_t cols) {
    // dy, y and dx are (rows, cols), y = log_softmax(x); dx = dy − exp(y)·Σ dy; dx may be dy.
#pragma omp parallel for schedule(static) if (rows * cols >= DINO_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *dyr = dy + r * cols, *yr = y + r * cols;
        float *dxr = dx + r * cols;
        float s = dino_sum(dyr, cols);
#pragma omp simd
        for (int64_t j = 0; j < cols; j++) dxr[j] = dyr[j] - dino_expf(yr[j]) * s;
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_softmax_fwd(F(OUT), F(IN(0)), rows, cols);
}

void dino_run_log_softmax(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_log_softmax_fwd(F(OUT), F(IN(0)), rows, cols);
}

void dino_run_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_softmax_bwd(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
}

void dino_run_log_softmax_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    int64_t rows, cols;
    rows_cols(IN(0), &rows, &cols);
    dino_log_softmax_bwd(F(OUT), F(IN(0)), F(IN(1)), rows, cols);
}
