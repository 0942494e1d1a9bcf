/* bench_kernels.c — times a few ViT-Tiny-shaped instructions through dino_exec and prints
 * GFLOP/s (GEMMs) or GB/s (memory-bound ops) per thread count. Built and run by
 * tools/bench_kernels.sh [name filter]; not part of the package. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dino_kernels.h"

/** Only benchmarks whose name contains this (argv[1]) run. */
static const char *filter = "";

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct dino_tensor tensor(int rank, const int64_t *shape) {
    struct dino_tensor t = {0};
    int64_t n = 1;
    t.rank = rank;
    for (int d = 0; d < rank; d++) {
        t.shape[d] = shape[d];
        n *= shape[d];
    }
    t.data = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < n; i++)
        ((float *)t.data)[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    return t;
}

/* Runs one instruction over `n` operands + result; work is flops (gemm) or bytes moved. */
static void bench(const char *name, int op, int n, struct dino_tensor *t, const int64_t *iattr,
                  const float *fattr, double work, int is_flops) {
    if (!strstr(name, filter)) return;
    struct dino_instr ins = {0};
    ins.op = op;
    ins.n_in = n;
    for (int i = 0; i < n; i++) ins.in[i] = i;
    ins.out = n;
    if (iattr) memcpy(ins.iattr, iattr, sizeof ins.iattr);
    if (fattr) memcpy(ins.fattr, fattr, sizeof ins.fattr);
    size_t sb = dino_instr_scratch_bytes(&ins, t);
    struct dino_exec_ctx ctx = {
        .tensors = t, .n_tensors = n + 1, .scratch = malloc(sb + 64), .scratch_bytes = sb};
    printf("%-38s", name);
    for (int threads = 1; threads <= 2; threads++) {
        dino_set_num_threads(threads);
        if (dino_exec(&ins, 1, &ctx)) {
            printf("error: %s\n", ctx.error);
            exit(1);
        }
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            int iters = 0;
            double t0 = now(), t1;
            do {
                dino_exec(&ins, 1, &ctx);
                iters++;
            } while ((t1 = now()) - t0 < 0.05);
            if ((t1 - t0) / iters < best) best = (t1 - t0) / iters;
        }
        printf("  %dT %8.1f us %7.1f %s", threads, best * 1e6, work / best * 1e-9,
               is_flops ? "GFLOP/s" : "GB/s");
    }
    printf("\n");
    free(ctx.scratch);
}

int main(int argc, char **argv) {
    if (argc > 1) filter = argv[1];
    { /* linear 3200x192 -> 576 (qkv) */
        struct dino_tensor t[4] = {tensor(2, (int64_t[]){3200, 192}),
                                   tensor(2, (int64_t[]){576, 192}), tensor(1, (int64_t[]){576}),
                                   tensor(2, (int64_t[]){3200, 576})};
        bench("linear 3200x192 -> 576", DINO_OP_linear, 3, t, NULL, NULL, 2.0 * 3200 * 192 * 576,
              1);
    }
    { /* linear 3200x192 -> 768 (fc1) */
        struct dino_tensor t[4] = {tensor(2, (int64_t[]){3200, 192}),
                                   tensor(2, (int64_t[]){768, 192}), tensor(1, (int64_t[]){768}),
                                   tensor(2, (int64_t[]){3200, 768})};
        bench("linear 3200x192 -> 768", DINO_OP_linear, 3, t, NULL, NULL, 2.0 * 3200 * 192 * 768,
              1);
    }
    { /* linear 3200x768 -> 192 (fc2) */
        struct dino_tensor t[4] = {tensor(2, (int64_t[]){3200, 768}),
                                   tensor(2, (int64_t[]){192, 768}), tensor(1, (int64_t[]){192}),
                                   tensor(2, (int64_t[]){3200, 192})};
        bench("linear 3200x768 -> 192", DINO_OP_linear, 3, t, NULL, NULL, 2.0 * 3200 * 192 * 768,
              1);
    }
    { /* weight gradient dW = dyT x: [3200,576]T x [3200,192] */
        struct dino_tensor t[3] = {tensor(2, (int64_t[]){3200, 576}),
                                   tensor(2, (int64_t[]){3200, 192}),
                                   tensor(2, (int64_t[]){576, 192})};
        bench("matmul^T 576x3200 . 3200x192", DINO_OP_matmul, 2, t, (int64_t[8]){1, 0}, NULL,
              2.0 * 3200 * 192 * 576, 1);
    }
    { /* attention scores: 24 x [197,64] x [197,64]T */
        struct dino_tensor t[3] = {tensor(3, (int64_t[]){24, 197, 64}),
                                   tensor(3, (int64_t[]){24, 197, 64}),
                                   tensor(3, (int64_t[]){24, 197, 197})};
        bench("matmul 24x(197x64 . 64x197)", DINO_OP_matmul, 2, t, (int64_t[8]){0, 1}, NULL,
              2.0 * 24 * 197 * 197 * 64, 1);
    }
    { /* local-crop attention: 192 x [50,64] x [50,64]T */
        struct dino_tensor t[3] = {tensor(3, (int64_t[]){192, 50, 64}),
                                   tensor(3, (int64_t[]){192, 50, 64}),
                                   tensor(3, (int64_t[]){192, 50, 50})};
        bench("matmul 192x(50x64 . 64x50)", DINO_OP_matmul, 2, t, (int64_t[8]){0, 1}, NULL,
              2.0 * 192 * 50 * 50 * 64, 1);
    }
    { /* patch_embed 8x3x224x224, p16, D192 */
        struct dino_tensor t[4] = {
            tensor(4, (int64_t[]){8, 3, 224, 224}), tensor(4, (int64_t[]){192, 3, 16, 16}),
            tensor(1, (int64_t[]){192}), tensor(3, (int64_t[]){8, 196, 192})};
        bench("patch_embed 8x3x224x224 p16", DINO_OP_patch_embed, 3, t, (int64_t[8]){16}, NULL,
              2.0 * 8 * 196 * 192 * 768, 1);
    }
    { /* gelu over 3200x768 */
        struct dino_tensor t[2] = {tensor(2, (int64_t[]){3200, 768}),
                                   tensor(2, (int64_t[]){3200, 768})};
        bench("gelu 3200x768", DINO_OP_gelu, 1, t, NULL, NULL, 2.0 * 4 * 3200 * 768, 0);
    }
    { /* layer_norm 3200x192 */
        struct dino_tensor t[4] = {tensor(2, (int64_t[]){3200, 192}), tensor(1, (int64_t[]){192}),
                                   tensor(1, (int64_t[]){192}), tensor(2, (int64_t[]){3200, 192})};
        bench("layer_norm 3200x192", DINO_OP_layer_norm, 3, t, NULL, (float[4]){1e-6f},
              2.0 * 4 * 3200 * 192, 0);
    }
    { /* softmax 24x197x197 */
        struct dino_tensor t[2] = {tensor(3, (int64_t[]){24, 197, 197}),
                                   tensor(3, (int64_t[]){24, 197, 197})};
        bench("softmax 24x197x197", DINO_OP_softmax, 1, t, NULL, NULL, 2.0 * 4 * 24 * 197 * 197, 0);
    }
    { /* add with bias-like broadcast 3200x768 + 768 */
        struct dino_tensor t[3] = {tensor(2, (int64_t[]){3200, 768}), tensor(1, (int64_t[]){768}),
                                   tensor(2, (int64_t[]){3200, 768})};
        bench("add 3200x768 + [768]", DINO_OP_add, 2, t, NULL, NULL, 2.0 * 4 * 3200 * 768, 0);
    }
    { /* permute [8,197,3,3,64] -> [3,8,3,197,64] (qkv split) */
        struct dino_tensor t[2] = {tensor(5, (int64_t[]){8, 197, 3, 3, 64}),
                                   tensor(5, (int64_t[]){3, 8, 3, 197, 64})};
        bench("permute qkv 8x197x3x3x64", DINO_OP_permute, 1, t, (int64_t[8]){2, 0, 3, 1, 4}, NULL,
              2.0 * 4 * 8 * 197 * 576, 0);
    }
    { /* sum_to (bias gradient) 3200x768 -> 768 */
        struct dino_tensor t[2] = {tensor(2, (int64_t[]){3200, 768}), tensor(1, (int64_t[]){768})};
        bench("sum_to 3200x768 -> [768]", DINO_OP_sum_to, 1, t, (int64_t[8]){768}, NULL,
              4.0 * 3200 * 768, 0);
    }
    { /* adamw over 5.5M parameters */
        int64_t n[1] = {5500000};
        struct dino_tensor t[9] = {tensor(1, n),    tensor(1, n),    tensor(1, n),
                                   tensor(1, n),    tensor(0, NULL), tensor(0, NULL),
                                   tensor(0, NULL), tensor(0, NULL), tensor(0, NULL)};
        ((float *)t[4].data)[0] = 0;
        ((float *)t[7].data)[0] = 1;
        for (int64_t i = 0; i < n[0]; i++) ((float *)t[3].data)[i] = 0.01f;
        bench("adamw_update 5.5M", DINO_OP_adamw_update, 8, t, (int64_t[8]){1},
              (float[4]){0.9f, 0.999f, 1e-8f}, 7.0 * 4 * 5500000, 0);
    }
    return 0;
}
