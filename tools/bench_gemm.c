/* bench_gemm.c — the GEMM shapes of the fmnist and tiny224 plans, each run through dino_exec
 * on OpenBLAS (DINO_GEMM_BLAS: sgemm per thread block, then the epilogue over the block) and
 * on the tiled GEMM (DINO_GEMM_TILED: epilogue per group of tiles), with cold caches (64 MiB
 * written before each run), best of alternating runs, after checking that both agree;
 * prints GFLOP/s for both and their ratio at the given thread count. Built and run by
 * tools/bench_gemm.sh [threads] [name filters, "a|b"] [runs] [cpu]; not part of the
 * package. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dino_kernels.h"

/** CLOCK_MONOTONIC, or CLOCK_PROCESS_CPUTIME_ID with argv[4] = "cpu": CPU seconds leave out
 *  the time other processes take on a busy machine (meaningful at 1 thread: at 2, OpenMP's
 *  waiting threads spin and count). */
static clockid_t clock_kind = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec ts;
    clock_gettime(clock_kind, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/** Written before every timed run, so the operands come from memory (as in a step). */
static float *evict_buffer;

/** Timed runs per kernel (argv[3], default 7). */
static int reps = 7;
enum { evict_floats = 16 << 20 };

static void evict(void) {
    for (int i = 0; i < evict_floats; i += 16) evict_buffer[i] += 1.0f;
}

static struct dino_tensor tensor(int rank, const int64_t *shape) {
    struct dino_tensor t = {.dtype = DINO_F32, .rank = rank};
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= (t.shape[d] = shape[d]);
    t.data = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < n; i++)
        ((float *)t.data)[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    return t;
}

/** One benchmark: an op over operands t[0..n_in) and results t[n_in..n_in + n_out). */
struct shape {
    const char *name; /**< config, layer, layout */
    int op; /**< DINO_OP_matmul, _linear, _linear_gelu, _matmul_gelu_bwd, … */
    int m, n, k; /**< the GEMM */
    int trans_a, trans_b; /**< matmul's flags (linear is NT) */
};

/** Seconds of one cold run of `ins` on `kernel`. */
static double cold_seconds(struct dino_instr *ins, struct dino_exec_ctx *ctx, int kernel) {
    dino_set_gemm_kernel(kernel);
    evict();
    double t0 = now();
    if (dino_exec(ins, 1, ctx)) {
        printf("error: %s\n", ctx->error);
        exit(1);
    }
    double t = now() - t0;
    dino_set_gemm_kernel(DINO_GEMM_AUTO);
    return t;
}

/** The largest |x − y| / max(1, |x|) over n floats: the two kernels must agree to rounding. */
static double worst_difference(const float *x, const float *y, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (x[i] - y[i]) / (x[i] < -1 || x[i] > 1 ? (double)x[i] : 1.0);
        if (d < 0) d = -d;
        if (d > worst) worst = d;
    }
    return worst;
}

static void run(const struct shape *s) {
    int m = s->m, n = s->n, k = s->k;
    struct dino_tensor t[8];
    int n_in = 0, n_out = 1;
    int64_t a_shape[2] = {s->trans_a ? k : m, s->trans_a ? m : k};
    int64_t b_shape[2] = {s->trans_b ? n : k, s->trans_b ? k : n};
    t[n_in++] = tensor(2, a_shape);
    t[n_in++] = tensor(2, b_shape);
    int linear = s->op != DINO_OP_matmul && s->op != DINO_OP_matmul_gelu_bwd;
    if (linear) t[n_in++] = tensor(1, (int64_t[]){n});
    if (s->op == DINO_OP_matmul_gelu_bwd || s->op == DINO_OP_linear_residual ||
        s->op == DINO_OP_linear_residual_scaled)
        t[n_in++] = tensor(2, (int64_t[]){m, n});
    if (s->op == DINO_OP_linear_residual_scaled) t[n_in++] = tensor(1, (int64_t[]){m});
    if (s->op == DINO_OP_linear_gelu) n_out = 2;
    for (int i = 0; i < n_out; i++) t[n_in + i] = tensor(2, (int64_t[]){m, n});
    struct dino_instr ins = {.op = s->op, .n_in = n_in, .out = n_in};
    for (int i = 0; i < n_in; i++) ins.in[i] = i;
    ins.iattr[0] = s->trans_a;
    ins.iattr[1] = s->trans_b;
    struct dino_exec_ctx ctx = {.tensors = t, .n_tensors = n_in + n_out};
    double flops = 2.0 * m * n * k;
    // Both kernels must compute the same values (to rounding) before they are timed.
    int64_t out_n = (int64_t)m * n;
    float *first = malloc(sizeof(float) * (size_t)out_n);
    cold_seconds(&ins, &ctx, DINO_GEMM_BLAS);
    memcpy(first, t[n_in].data, sizeof(float) * (size_t)out_n);
    cold_seconds(&ins, &ctx, DINO_GEMM_TILED);
    double diff = worst_difference(first, t[n_in].data, out_n);
    free(first);
    if (diff > 1e-3) printf("MISMATCH %s: %g\n", s->name, diff);
    // Alternating runs, the best of each: a busy machine slows some runs, never speeds one.
    double best_blas = 1e9, best_tiled = 1e9;
    for (int rep = 0; rep < reps; rep++) {
        double tb = cold_seconds(&ins, &ctx, DINO_GEMM_BLAS);
        double tt = cold_seconds(&ins, &ctx, DINO_GEMM_TILED);
        if (tb < best_blas) best_blas = tb;
        if (tt < best_tiled) best_tiled = tt;
    }
    double blas = flops / best_blas * 1e-9, tiled = flops / best_tiled * 1e-9;
    printf("| %-34s | %5d | %5d | %5d | %6.1f | %6.1f | %5.2f | %s |\n", s->name, m, n, k, blas,
           tiled, tiled / blas, dino_gemm_kernel_is_tiled(m, n, k, s->trans_a, s->trans_b)
                                    ? "tiled" : "blas");
    for (int i = 0; i < n_in + n_out; i++) free(t[i].data);
}

#define LIN(name, op, m, n, k) {name, DINO_OP_##op, m, n, k, 0, 1}
#define MM(name, op, m, n, k, ta, tb) {name, DINO_OP_##op, m, n, k, ta, tb}

static const struct shape shapes[] = {
    LIN("fmnist qkv (linear NT)", linear, 6400, 576, 192),
    LIN("fmnist proj (linear_residual_scaled)", linear_residual_scaled, 6400, 192, 192),
    LIN("fmnist fc1 (linear_gelu)", linear_gelu, 6400, 768, 192),
    LIN("fmnist fc1 shape, no epilogue (linear)", linear, 6400, 768, 192),
    LIN("fmnist fc1 (linear_gelu_only)", linear_gelu_only, 6400, 768, 192),
    LIN("fmnist proj shape, no epilogue (linear)", linear, 6400, 192, 192),
    LIN("fmnist fc2 (linear_residual_scaled)", linear_residual_scaled, 6400, 192, 768),
    LIN("fmnist fc2 shape, no epilogue (linear)", linear, 6400, 192, 768),
    LIN("fmnist fc2 (linear_residual)", linear_residual, 6400, 192, 768),
    LIN("fmnist local fc1 (linear_gelu)", linear_gelu, 3840, 768, 192),
    MM("fmnist dX fc2 (matmul_gelu_bwd NN)", matmul_gelu_bwd, 6400, 768, 192, 0, 0),
    MM("fmnist dX fc2 shape, no epilogue (matmul NN)", matmul, 6400, 768, 192, 0, 0),
    MM("fmnist dX fc1 (matmul NN)", matmul, 6400, 192, 768, 0, 0),
    MM("fmnist dX qkv (matmul NN)", matmul, 6400, 192, 576, 0, 0),
    MM("fmnist dX proj (matmul NN)", matmul, 6400, 192, 192, 0, 0),
    MM("fmnist dW fc1 (matmul TN)", matmul, 768, 192, 6400, 1, 0),
    MM("fmnist dW fc2 (matmul TN)", matmul, 192, 768, 6400, 1, 0),
    MM("fmnist dW qkv (matmul TN)", matmul, 576, 192, 6400, 1, 0),
    MM("fmnist dW proj (matmul TN)", matmul, 192, 192, 6400, 1, 0),
    MM("fmnist local dW fc1 (matmul TN)", matmul, 768, 192, 3840, 1, 0),
    MM("fmnist local dW fc2 (matmul TN)", matmul, 192, 768, 3840, 1, 0),
    MM("fmnist local dW qkv (matmul TN)", matmul, 576, 192, 3840, 1, 0),
    MM("fmnist local dW proj (matmul TN)", matmul, 192, 192, 3840, 1, 0),
    MM("fmnist patch dW (matmul TN)", matmul, 192, 16, 6272, 1, 0),
    LIN("fmnist head 192->1024 (linear_gelu)", linear_gelu, 512, 1024, 192),
    LIN("fmnist head 1024->1024 (linear_gelu)", linear_gelu, 512, 1024, 1024),
    LIN("fmnist head 1024->128 (linear)", linear, 512, 128, 1024),
    MM("fmnist last layer (matmul NT)", matmul, 512, 4096, 128, 0, 1),
    MM("fmnist last layer dX (matmul NN)", matmul, 512, 128, 4096, 0, 0),
    MM("fmnist last layer dW (matmul TN)", matmul, 4096, 128, 512, 1, 0),
    MM("fmnist head dW 1024 (matmul TN)", matmul, 1024, 1024, 512, 1, 0),
    MM("fmnist head dW 192->1024 (matmul TN)", matmul, 1024, 192, 512, 1, 0),
    MM("fmnist head dW 1024->128 (matmul TN)", matmul, 128, 1024, 512, 1, 0),
    LIN("tiny224 qkv (linear NT)", linear, 3152, 576, 192),
    LIN("tiny224 fc1 (linear_gelu)", linear_gelu, 3152, 768, 192),
    LIN("tiny224 fc1 (linear_gelu_only)", linear_gelu_only, 3152, 768, 192),
    LIN("tiny224 fc2 (linear_residual_scaled)", linear_residual_scaled, 3152, 192, 768),
    LIN("tiny224 local fc1 (linear_gelu)", linear_gelu, 2368, 768, 192),
    MM("tiny224 dX fc2 (matmul_gelu_bwd NN)", matmul_gelu_bwd, 3152, 768, 192, 0, 0),
    MM("tiny224 dX fc1 (matmul NN)", matmul, 3152, 192, 768, 0, 0),
    MM("tiny224 dX qkv (matmul NN)", matmul, 3152, 192, 576, 0, 0),
    MM("tiny224 dX proj (matmul NN)", matmul, 3152, 192, 192, 0, 0),
    MM("tiny224 local dX fc1 (matmul NN)", matmul, 2368, 192, 768, 0, 0),
    MM("tiny224 dW fc1 (matmul TN)", matmul, 768, 192, 3152, 1, 0),
    MM("tiny224 dW fc2 (matmul TN)", matmul, 192, 768, 3152, 1, 0),
    MM("tiny224 dW qkv (matmul TN)", matmul, 576, 192, 3152, 1, 0),
    MM("tiny224 dW proj (matmul TN)", matmul, 192, 192, 3152, 1, 0),
    MM("tiny224 local dW fc1 (matmul TN)", matmul, 768, 192, 2368, 1, 0),
    MM("tiny224 local dW fc2 (matmul TN)", matmul, 192, 768, 2368, 1, 0),
    MM("tiny224 local dW qkv (matmul TN)", matmul, 576, 192, 2368, 1, 0),
    MM("tiny224 local dW proj (matmul TN)", matmul, 192, 192, 2368, 1, 0),
    MM("tiny224 patch dW (matmul TN)", matmul, 192, 768, 3136, 1, 0),
    // One thread's block at 2 threads, run alone (1 thread, CPU time is the steady figure):
    // fc2's weight gradient split along N (192 × 384) or along M (96 × 768), proj's along N.
    MM("half fmnist dW fc2 along N (matmul TN)", matmul, 192, 384, 6400, 1, 0),
    MM("half fmnist dW fc2 along M (matmul TN)", matmul, 96, 768, 6400, 1, 0),
    MM("half tiny224 dW fc2 along N (matmul TN)", matmul, 192, 384, 3152, 1, 0),
    MM("half tiny224 dW fc2 along M (matmul TN)", matmul, 96, 768, 3152, 1, 0),
    MM("half tiny224 dW proj along N (matmul TN)", matmul, 192, 96, 3152, 1, 0),
    MM("half tiny224 dX proj along M (matmul NN)", matmul, 1576, 192, 192, 0, 0),
    LIN("tiny224 head 192->2048 (linear_gelu)", linear_gelu, 80, 2048, 192),
    LIN("tiny224 head 2048->2048 (linear_gelu)", linear_gelu, 80, 2048, 2048),
    MM("tiny224 last layer (matmul NT)", matmul, 80, 65536, 256, 0, 1),
    MM("tiny224 last layer dX (matmul NN)", matmul, 80, 256, 65536, 0, 0),
    MM("tiny224 last layer dW (matmul TN)", matmul, 65536, 256, 80, 1, 0),
    MM("tiny224 head dW 2048 (matmul TN)", matmul, 2048, 2048, 80, 1, 0),
    MM("tiny224 head dW 192->2048 (matmul TN)", matmul, 2048, 192, 80, 1, 0),
    MM("tiny224 head dW 2048->256 (matmul TN)", matmul, 256, 2048, 80, 1, 0),
};

/** Whether `name` contains one of the '|'-separated parts of `filter` ("" matches all). */
static int matches(const char *name, const char *filter) {
    char part[128];
    for (const char *p = filter;;) {
        const char *end = strchr(p, '|');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= sizeof part) len = sizeof part - 1;
        memcpy(part, p, len);
        part[len] = 0;
        if (strstr(name, part)) return 1;
        if (!end) return 0;
        p = end + 1;
    }
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *filter = argc > 2 ? argv[2] : "";
    if (argc > 3) reps = atoi(argv[3]);
    if (argc > 4 && strcmp(argv[4], "cpu") == 0) clock_kind = CLOCK_PROCESS_CPUTIME_ID;
    evict_buffer = calloc(evict_floats, sizeof(float));
    dino_set_num_threads(threads);
    printf("%d threads, cold caches, best of %d alternating runs (GFLOP/s of %s time)\n\n",
           threads, reps, clock_kind == CLOCK_MONOTONIC ? "wall" : "CPU");
    printf("| shape | M | N | K | OpenBLAS | tiled | tiled/OpenBLAS | auto picks |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (matches(shapes[i].name, filter)) run(&shapes[i]);
    return 0;
}
