/* kernels.h — the typed kernels, one optimised (<family>.c) and one reference
 * (ref/<family>_ref.c) per op of IR/ops.def. The shims dino_run_<op> (shim.h) are the
 * only callers.
 *
 * Naming: the optimised kernel of op X is dino_X_fwd, except ops that are themselves
 * backward ops (X contains "_bwd"), whose kernel is dino_X; the reference kernel of
 * every op is dino_X_ref with the same parameters. Parameters: outputs first, then
 * inputs, then sizes, then attributes. Ops with inplace=1 in ops.def drop `restrict`
 * (their result may share operand 0's buffer). Shapes are row-major; "rows" is the
 * product of all dimensions but the last. */
#ifndef DINO_KERNELS_INTERNAL_H
#define DINO_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- gemm.c ---------------------------------------------------------------------------- */

/** C = op(A)·op(B) for `batch` matrices; with `b_shared` one B serves every batch item. */
void dino_matmul_fwd(float *restrict c, const float *restrict a, const float *restrict b,
                     int64_t batch, int m, int n, int k, int trans_a, int trans_b, int b_shared);
/** y = x·wᵀ + bias. */
void dino_linear_fwd(float *restrict y, const float *restrict x, const float *restrict w,
                     const float *restrict bias, int64_t rows, int in, int out);
/** y = (x·wᵀ + bias) + residual, the residual added per GEMM block. */
void dino_linear_residual_fwd(float *restrict y, const float *restrict x,
                              const float *restrict w, const float *restrict bias,
                              const float *restrict residual, int64_t rows, int in, int out);
/** h = x·wᵀ + bias (as dino_linear_fwd) and y = gelu(h), applied per GEMM block. */
void dino_linear_gelu_fwd(float *restrict y, float *restrict h, const float *restrict x,
                          const float *restrict w, const float *restrict bias, int64_t rows,
                          int in, int out);
/** Convolution with stride = kernel = patch, as im2col into `scratch` plus one GEMM. */
void dino_patch_embed_fwd(float *restrict y, float *restrict scratch, const float *restrict x,
                          const float *restrict w, const float *restrict bias, int batch,
                          int channels, int height, int width, int patch, int dim);
/** Scratch bytes dino_patch_embed_fwd needs (the im2col matrix). */
size_t dino_patch_embed_scratch_bytes(int batch, int channels, int height, int width, int patch);

void dino_matmul_ref(float *restrict c, const float *restrict a, const float *restrict b,
                     int64_t batch, int m, int n, int k, int trans_a, int trans_b, int b_shared);
void dino_linear_residual_ref(float *restrict y, const float *restrict x,
                              const float *restrict w, const float *restrict bias,
                              const float *restrict residual, int64_t rows, int in, int out);
void dino_linear_gelu_ref(float *restrict y, float *restrict h, const float *restrict x,
                          const float *restrict w, const float *restrict bias, int64_t rows,
                          int in, int out);
void dino_linear_ref(float *restrict y, const float *restrict x, const float *restrict w,
                     const float *restrict bias, int64_t rows, int in, int out);
void dino_patch_embed_ref(float *restrict y, float *restrict scratch, const float *restrict x,
                          const float *restrict w, const float *restrict bias, int batch,
                          int channels, int height, int width, int patch, int dim);

/* ---- eltwise.c --------------------------------------------------------------------------- */

/** The binary ops: c = a ∘ b with b broadcast to a's shape (right-aligned); c may be a. */
typedef void (*dino_binary_fn)(float *c, const float *a, const float *b, const int64_t *shape_a,
                               int rank_a, const int64_t *shape_b, int rank_b);
void dino_add_fwd(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_sub_fwd(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_mul_fwd(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_div_fwd(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
/** y = factor·x; y may be x. */
void dino_scale_fwd(float *y, const float *x, int64_t n, float factor);
/** y = x·Φ(x) = ½x(1 + erf(x/√2)), exact (erf) GELU. */
void dino_gelu_fwd(float *restrict y, const float *restrict x, int64_t n);
/** dx = dy·(Φ(x) + x·φ(x)); dx may be dy. */
void dino_gelu_bwd(float *dx, const float *dy, const float *x, int64_t n);

void dino_add_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_sub_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_mul_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_div_ref(float *c, const float *a, const float *b, const int64_t *shape_a, int rank_a,
                  const int64_t *shape_b, int rank_b);
void dino_scale_ref(float *y, const float *x, int64_t n, float factor);
void dino_gelu_ref(float *restrict y, const float *restrict x, int64_t n);
void dino_gelu_bwd_ref(float *dx, const float *dy, const float *x, int64_t n);

/* ---- norm.c ------------------------------------------------------------------------------ */

/** y = (x − mean)·rstd·gamma + beta per row of the last axis. */
void dino_layer_norm_fwd(float *restrict y, const float *restrict x, const float *restrict gamma,
                         const float *restrict beta, int64_t rows, int64_t cols, float eps);
/** dx of layer_norm (mean and rstd recomputed from x). */
void dino_layer_norm_bwd(float *restrict dx, const float *restrict dy, const float *restrict x,
                         const float *restrict gamma, int64_t rows, int64_t cols, float eps);
/** dgamma = Σ_rows dy·x̂, over a fixed partition of rows (partials in `scratch`). */
void dino_layer_norm_bwd_gamma(float *restrict dgamma, float *restrict scratch,
                               const float *restrict dy, const float *restrict x, int64_t rows,
                               int64_t cols, float eps);
/** Scratch bytes dino_layer_norm_bwd_gamma needs. */
size_t dino_layer_norm_bwd_gamma_scratch_bytes(int64_t rows, int64_t cols);
/** layer_norm's y, and stats (rows, 2): each row's mean and rstd (the fused forward). */
void dino_layer_norm_train_fwd(float *restrict y, float *restrict stats, const float *restrict x,
                               const float *restrict gamma, const float *restrict beta,
                               int64_t rows, int64_t cols, float eps);
/** dx, dgamma = Σ_rows dy·x̂ and dbeta = Σ_rows dy in one pass, from the saved stats. */
void dino_layer_norm_grad(float *restrict dx, float *restrict dgamma, float *restrict dbeta,
                          float *restrict scratch, const float *restrict dy,
                          const float *restrict x, const float *restrict stats,
                          const float *restrict gamma, int64_t rows, int64_t cols);
/** Scratch bytes dino_layer_norm_grad needs (row-block partials of dgamma and dbeta). */
size_t dino_layer_norm_grad_scratch_bytes(int64_t rows, int64_t cols);
/** y = x / max(‖x‖₂, eps) per row. */
void dino_l2_normalize_fwd(float *restrict y, const float *restrict x, int64_t rows, int64_t cols,
                           float eps);
/** dx of l2_normalize. */
void dino_l2_normalize_bwd(float *restrict dx, const float *restrict dy, const float *restrict x,
                           int64_t rows, int64_t cols, float eps);
/** w_k = g_k·v_k/‖v_k‖ per row k (no epsilon, as torch weight_norm). */
void dino_weight_norm_fwd(float *restrict w, const float *restrict v, const float *restrict g,
                          int64_t rows, int64_t cols);
/** dv_k = (g_k/‖v_k‖)(dw_k − v̂_k (v̂_k·dw_k)). */
void dino_weight_norm_bwd_v(float *restrict dv, const float *restrict dw, const float *restrict v,
                            const float *restrict g, int64_t rows, int64_t cols);
/** dg_k = v̂_k·dw_k. */
void dino_weight_norm_bwd_g(float *restrict dg, const float *restrict dw, const float *restrict v,
                            int64_t rows, int64_t cols);

void dino_layer_norm_ref(float *restrict y, const float *restrict x, const float *restrict gamma,
                         const float *restrict beta, int64_t rows, int64_t cols, float eps);
void dino_layer_norm_bwd_ref(float *restrict dx, const float *restrict dy, const float *restrict x,
                             const float *restrict gamma, int64_t rows, int64_t cols, float eps);
void dino_layer_norm_bwd_gamma_ref(float *restrict dgamma, float *restrict scratch,
                                   const float *restrict dy, const float *restrict x,
                                   int64_t rows, int64_t cols, float eps);
void dino_layer_norm_train_ref(float *restrict y, float *restrict stats, const float *restrict x,
                               const float *restrict gamma, const float *restrict beta,
                               int64_t rows, int64_t cols, float eps);
void dino_layer_norm_grad_ref(float *restrict dx, float *restrict dgamma, float *restrict dbeta,
                              float *restrict scratch, const float *restrict dy,
                              const float *restrict x, const float *restrict stats,
                              const float *restrict gamma, int64_t rows, int64_t cols);
void dino_l2_normalize_ref(float *restrict y, const float *restrict x, int64_t rows, int64_t cols,
                           float eps);
void dino_l2_normalize_bwd_ref(float *restrict dx, const float *restrict dy,
                               const float *restrict x, int64_t rows, int64_t cols, float eps);
void dino_weight_norm_ref(float *restrict w, const float *restrict v, const float *restrict g,
                          int64_t rows, int64_t cols);
void dino_weight_norm_bwd_v_ref(float *restrict dv, const float *restrict dw,
                                const float *restrict v, const float *restrict g, int64_t rows,
                                int64_t cols);
void dino_weight_norm_bwd_g_ref(float *restrict dg, const float *restrict dw,
                                const float *restrict v, int64_t rows, int64_t cols);

/* ---- softmax.c (all four are in-place capable: no restrict) ---------------------------- */

/** y = softmax(x) per row. */
void dino_softmax_fwd(float *y, const float *x, int64_t rows, int64_t cols);
/** dx = y·(dy − Σ dy·y) per row. */
void dino_softmax_bwd(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);
/** y = x − max − log Σ exp(x − max) per row. */
void dino_log_softmax_fwd(float *y, const float *x, int64_t rows, int64_t cols);
/** dx = dy − exp(y)·Σ dy per row. */
void dino_log_softmax_bwd(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);

void dino_softmax_ref(float *y, const float *x, int64_t rows, int64_t cols);
void dino_softmax_bwd_ref(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);
void dino_log_softmax_ref(float *y, const float *x, int64_t rows, int64_t cols);
void dino_log_softmax_bwd_ref(float *dx, const float *dy, const float *y, int64_t rows,
                              int64_t cols);

/* ---- shape.c ----------------------------------------------------------------------------- */

/** y = x (same elements); copies only when the buffers differ. */
void dino_reshape_fwd(float *y, const float *x, int64_t n);
/** y = x transposed by perm (y's dim d is x's dim perm[d]); rank ≤ 6. */
void dino_permute_fwd(float *restrict y, const float *restrict x, const int64_t *shape,
                      const int64_t *perm, int rank);
/** y = the n_in tensors xs joined along an axis; each is (outer, axis_sizes[i], inner). */
void dino_concat_fwd(float *restrict y, const float *const *xs, const int64_t *axis_sizes,
                     int n_in, int64_t outer, int64_t inner);
/** y = x[:, start:end, :] with x (outer, len, inner). */
void dino_slice_fwd(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                    int64_t inner, int64_t start, int64_t end);
/** y = x zero-padded on one axis: x (outer, len, inner) → (outer, before+len+after, inner). */
void dino_pad_fwd(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                  int64_t inner, int64_t before, int64_t after);
/** y (shape_y) = x (shape_x) broadcast right-aligned. */
void dino_broadcast_to_fwd(float *restrict y, const float *restrict x, const int64_t *shape_y,
                           int rank_y, const int64_t *shape_x, int rank_x);
/** y[b, gi·gw+gj, (c·p+i)·p+j] = x[b, c, gi·p+i, gj·p+j]. */
void dino_patchify_fwd(float *restrict y, const float *restrict x, int batch, int channels,
                       int height, int width, int patch);

void dino_reshape_ref(float *y, const float *x, int64_t n);
void dino_permute_ref(float *restrict y, const float *restrict x, const int64_t *shape,
                      const int64_t *perm, int rank);
void dino_concat_ref(float *restrict y, const float *const *xs, const int64_t *axis_sizes,
                     int n_in, int64_t outer, int64_t inner);
void dino_slice_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                    int64_t inner, int64_t start, int64_t end);
void dino_pad_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                  int64_t inner, int64_t before, int64_t after);
void dino_broadcast_to_ref(float *restrict y, const float *restrict x, const int64_t *shape_y,
                           int rank_y, const int64_t *shape_x, int rank_x);
void dino_patchify_ref(float *restrict y, const float *restrict x, int batch, int channels,
                       int height, int width, int patch);

/* ---- reduce.c ---------------------------------------------------------------------------- */

/** y[o, i] = Σ_l x[o, l, i]. */
void dino_reduce_sum_fwd(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                         int64_t inner);
/** y[o, i] = Σ_l x[o, l, i] / len. */
void dino_reduce_mean_fwd(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                          int64_t inner);
/** y (shape_y) = x (shape_x) summed over the dimensions where y broadcasts to x. */
void dino_sum_to_fwd(float *restrict y, float *restrict scratch, const float *restrict x,
                     const int64_t *shape_x, int rank_x, const int64_t *shape_y, int rank_y);
/** Scratch bytes dino_sum_to_fwd needs. */
size_t dino_sum_to_scratch_bytes(const int64_t *shape_x, int rank_x, const int64_t *shape_y,
                                 int rank_y);

void dino_reduce_sum_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                         int64_t inner);
void dino_reduce_mean_ref(float *restrict y, const float *restrict x, int64_t outer, int64_t len,
                          int64_t inner);
void dino_sum_to_ref(float *restrict y, float *restrict scratch, const float *restrict x,
                     const int64_t *shape_x, int rank_x, const int64_t *shape_y, int rank_y);

/* ---- random.c ---------------------------------------------------------------------------- */

/** mask[b] = 1/(1−rate) with probability 1−rate, else 0; keyed (seed, stream, row), row =
 *  dino_global_row(b, rows) (b itself in one process). */
void dino_drop_path_mask_fwd(float *restrict mask, int32_t seed, int64_t stream, int64_t batch,
                             float rate, const struct dino_row_map *rows);
void dino_drop_path_mask_ref(float *restrict mask, int32_t seed, int64_t stream, int64_t batch,
                             float rate, const struct dino_row_map *rows);

/* ---- optim.c ----------------------------------------------------------------------------- */

/** coef = min(1, max_norm/(‖g‖₂ + 1e-6)). */
void dino_clip_grad_coef_fwd(float *restrict coef, const float *restrict g, int64_t n,
                             float max_norm);
/** One AdamW step on p, m, v and the step count t (IR/CONTRACT.md); nothing when gate == 0. */
void dino_adamw_update_fwd(float *restrict p, const float *restrict g, float *restrict m,
                           float *restrict v, float *restrict t, int64_t n, float lr, float wd,
                           float gate, float beta1, float beta2, float eps, int decay);
/** t = momentum·t + (1 − momentum)·s. */
void dino_ema_update_fwd(float *restrict t, const float *restrict s, int64_t n, float momentum);
/** dst = src. */
void dino_assign_fwd(float *dst, const float *src, int64_t n);

void dino_clip_grad_coef_ref(float *restrict coef, const float *restrict g, int64_t n,
                             float max_norm);
void dino_adamw_update_ref(float *restrict p, const float *restrict g, float *restrict m,
                           float *restrict v, float *restrict t, int64_t n, float lr, float wd,
                           float gate, float beta1, float beta2, float eps, int decay);
void dino_ema_update_ref(float *restrict t, const float *restrict s, int64_t n, float momentum);
void dino_assign_ref(float *dst, const float *src, int64_t n);

/** A segment table entry's integer: hi·2^24 + lo (both whole floats below 2^24). */
static inline int64_t dino_flat_table_int(float hi, float lo) {
    return (int64_t)hi * (1 << 24) + (int64_t)lo;
}
/** Scratch bytes of adamw_flat and ema_flat over `segments` table rows. */
size_t dino_flat_scratch_bytes(int64_t segments);
/** Per segment of the table (IR/OPS.md `adamw_flat`): per-parameter clipping when
 *  max_norm > 0, then the gated AdamW step of adamw_update, over the mirrored regions
 *  p, g, m, v and the step counts `steps`; one parallel pass over all segments. */
void dino_adamw_flat_fwd(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, float *restrict steps, const float *restrict table,
                         int64_t segments, float lr, float wd, float gate, float max_norm,
                         float beta1, float beta2, float eps, void *scratch);
/** t = momentum·t + (1 − momentum)·s over every segment of the table, one pass. */
void dino_ema_flat_fwd(float *restrict t, const float *restrict s, const float *restrict table,
                       int64_t segments, float momentum, void *scratch);
void dino_adamw_flat_ref(float *restrict p, const float *restrict g, float *restrict m,
                         float *restrict v, float *restrict steps, const float *restrict table,
                         int64_t segments, float lr, float wd, float gate, float max_norm,
                         float beta1, float beta2, float eps, void *scratch);
void dino_ema_flat_ref(float *restrict t, const float *restrict s, const float *restrict table,
                       int64_t segments, float momentum, void *scratch);

#endif
