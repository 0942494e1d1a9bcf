/* bench_lwn.c — times the weight-normalised last layer's kernels (linear_weight_norm.c,
 * gemm_skinny.c) of a base commit ("old", symbols renamed old_*) against the worktree's
 * ("new"), alternating one run of each, at the tiny224 and fmnist shapes and 1 and 2
 * threads; checks first that both agree. Built and run by tools/bench_lwn.sh; not part of
 * the package. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dino_kernels.h"

/* The shims of both versions (old ones compiled from the base commit, renamed). */
void dino_run_linear_weight_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
void dino_run_linear_weight_norm_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
size_t dino_scratch_linear_weight_norm_bwd(const struct dino_instr *ins,
                                           const struct dino_tensor *t);
void old_run_linear_weight_norm(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
void old_run_linear_weight_norm_bwd(const struct dino_instr *ins, struct dino_exec_ctx *ctx);
size_t old_scratch_linear_weight_norm_bwd(const struct dino_instr *ins,
                                          const struct dino_tensor *t);

typedef void (*shim_fn)(const struct dino_instr *, struct dino_exec_ctx *);

/** 1: time in CPU seconds of the process (argv[3] "cpu"; for 1 thread on a busy machine). */
static int cpu_time;

static double now(void) {
    struct timespec ts;
    clock_gettime(cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A 2-D tensor filled from a fixed hash in [lo, hi). */
static struct dino_tensor tensor2(int64_t rows, int64_t cols, float lo, float hi, int salt) {
    struct dino_tensor t = {0};
    t.rank = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    int64_t n = rows * cols;
    t.data = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(salt * 40503);
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        ((float *)t.data)[i] = lo + (hi - lo) * (float)(h % 100000) / 100000.0f;
    }
    return t;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Largest |a − b| / (1 + |b|) over the `count` floats of the results. */
static double worst_diff(const float *a, const float *b, int64_t count) {
    double worst = 0;
    for (int64_t i = 0; i < count; i++) {
        double d = fabs((double)a[i] - b[i]) / (1 + fabs((double)b[i]));
        if (d > worst || d != d) worst = d;
    }
    return worst;
}

/* One case: `bwd` selects linear_weight_norm_bwd {grad_g=1}; runs old and new `runs` times
 * each, alternating, at `threads` threads, and prints min and median ms and GFLOP/s. */
static void bench(const char *name, int64_t m, int64_t n, int64_t k, int bwd, int threads,
                  int runs) {
    struct dino_tensor t[8];
    int n_in;
    if (bwd) {
        t[0] = tensor2(m, n, -1e-3f, 1e-3f, 1);
        t[1] = tensor2(m, k, -1, 1, 2);
        t[2] = tensor2(n, k, -1, 1, 3);
        t[3] = tensor2(n, 1, 0.5f, 1.5f, 4);
        t[4] = tensor2(m, k, 0, 0, 5);
        t[5] = tensor2(n, k, 0, 0, 6);
        t[6] = tensor2(n, 1, 0, 0, 7);
        n_in = 4;
    } else {
        t[0] = tensor2(m, k, -1, 1, 1);
        t[1] = tensor2(n, k, -1, 1, 2);
        t[2] = tensor2(n, 1, 0.5f, 1.5f, 3);
        t[3] = tensor2(m, n, 0, 0, 4);
        n_in = 3;
    }
    int results = bwd ? 3 : 1;
    struct dino_instr ins = {0};
    ins.op = bwd ? DINO_OP_linear_weight_norm_bwd : DINO_OP_linear_weight_norm;
    ins.n_in = n_in;
    for (int i = 0; i < n_in; i++) ins.in[i] = i;
    ins.out = n_in;
    ins.iattr[0] = 1; /* grad_g */
    size_t sb_old = bwd ? old_scratch_linear_weight_norm_bwd(&ins, t) : 0;
    size_t sb_new = bwd ? dino_scratch_linear_weight_norm_bwd(&ins, t) : 0;
    struct dino_exec_ctx ctx_old = {.tensors = t, .n_tensors = n_in + results,
                                    .scratch = malloc(sb_old + 64), .scratch_bytes = sb_old};
    struct dino_exec_ctx ctx_new = {.tensors = t, .n_tensors = n_in + results,
                                    .scratch = malloc(sb_new + 64), .scratch_bytes = sb_new};
    shim_fn old_fn = bwd ? old_run_linear_weight_norm_bwd : old_run_linear_weight_norm;
    shim_fn new_fn = bwd ? dino_run_linear_weight_norm_bwd : dino_run_linear_weight_norm;
    dino_set_num_threads(threads);
    // Agreement: the old results kept aside, then the new ones over them.
    double worst = 0;
    {
        float *kept[3];
        int64_t counts[3];
        old_fn(&ins, &ctx_old);
        for (int r = 0; r < results; r++) {
            const struct dino_tensor *o = &t[n_in + r];
            counts[r] = o->shape[0] * o->shape[1];
            kept[r] = malloc((size_t)counts[r] * 4);
            memcpy(kept[r], o->data, (size_t)counts[r] * 4);
        }
        new_fn(&ins, &ctx_new);
        for (int r = 0; r < results; r++) {
            double d = worst_diff(t[n_in + r].data, kept[r], counts[r]);
            if (d > worst || d != d) worst = d;
            free(kept[r]);
        }
    }
    double *old_ms = malloc(sizeof(double) * (size_t)runs);
    double *new_ms = malloc(sizeof(double) * (size_t)runs);
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        old_fn(&ins, &ctx_old);
        double t1 = now();
        new_fn(&ins, &ctx_new);
        double t2 = now();
        old_ms[r] = (t1 - t0) * 1e3;
        new_ms[r] = (t2 - t1) * 1e3;
    }
    qsort(old_ms, (size_t)runs, sizeof(double), cmp_double);
    qsort(new_ms, (size_t)runs, sizeof(double), cmp_double);
    double flops = (bwd ? 4.0 : 2.0) * (double)m * (double)n * (double)k;
    printf("| %-22s | %5lld×%5lld×%3lld | %d | %7.2f (%6.2f) | %5.0f | %7.2f (%6.2f) | %5.0f | "
           "%4.2f | %.1e |\n",
           name, (long long)m, (long long)n, (long long)k, threads, old_ms[0], old_ms[runs / 2],
           flops / old_ms[0] * 1e-6, new_ms[0], new_ms[runs / 2], flops / new_ms[0] * 1e-6,
           old_ms[0] / new_ms[0], worst);
    fflush(stdout);
    free(old_ms);
    free(new_ms);
    free(ctx_old.scratch);
    free(ctx_new.scratch);
    for (int i = 0; i < n_in + results; i++) free(t[i].data);
}

void dino_gemm_skinny_block(float *restrict c, const float *restrict a, const float *restrict b,
                            int m, int n, int k, int m0, int m1, int n0, int n1);
void old_gemm_skinny_block(float *restrict c, const float *restrict a, const float *restrict b,
                           int m, int n, int k, int m0, int m1, int n0, int n1);

/* The skinny GEMM alone (gemm.c's unfused teacher head: matmul {trans_b}), one thread, the
 * whole C per call; old and new alternating, checked bitwise equal first. */
static void bench_skinny(const char *name, int m, int n, int k, int runs) {
    struct dino_tensor a = tensor2(m, k, -1, 1, 1), b = tensor2(n, k, -1, 1, 2);
    struct dino_tensor c_old = tensor2(m, n, 0, 0, 3), c_new = tensor2(m, n, 0, 0, 4);
    old_gemm_skinny_block(c_old.data, a.data, b.data, m, n, k, 0, m, 0, n);
    dino_gemm_skinny_block(c_new.data, a.data, b.data, m, n, k, 0, m, 0, n);
    double worst = worst_diff(c_new.data, c_old.data, (int64_t)m * n);
    int same = memcmp(c_new.data, c_old.data, sizeof(float) * (size_t)m * (size_t)n) == 0;
    double best_old = 1e9, best_new = 1e9;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        old_gemm_skinny_block(c_old.data, a.data, b.data, m, n, k, 0, m, 0, n);
        double t1 = now();
        dino_gemm_skinny_block(c_new.data, a.data, b.data, m, n, k, 0, m, 0, n);
        double t2 = now();
        if ((t1 - t0) * 1e3 < best_old) best_old = (t1 - t0) * 1e3;
        if ((t2 - t1) * 1e3 < best_new) best_new = (t2 - t1) * 1e3;
    }
    double flops = 2.0 * m * (double)n * k;
    printf("| %-22s | %5d×%5d×%3d | 1 | %7.2f (min) | %5.0f | %7.2f (min) | %5.0f | %4.2f | "
           "%.1e%s |\n",
           name, m, n, k, best_old, flops / best_old * 1e-6, best_new, flops / best_new * 1e-6,
           best_old / best_new, worst, same ? " (bitwise)" : "");
    free(a.data), free(b.data), free(c_old.data), free(c_new.data);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : "";
    int runs = argc > 2 ? atoi(argv[2]) : 9;
    if (runs < 1) runs = 1;
    cpu_time = argc > 3 && strcmp(argv[3], "cpu") == 0;
    int max_threads = cpu_time ? 1 : 2;
    struct {
        const char *name;
        int64_t m, n, k;
        int bwd;
    } cases[] = {
        {"tiny224 student fwd", 80, 65536, 256, 0}, {"tiny224 teacher fwd", 16, 65536, 256, 0},
        {"tiny224 student bwd", 80, 65536, 256, 1}, {"fmnist student fwd", 512, 4096, 128, 0},
        {"fmnist teacher fwd", 128, 4096, 128, 0},  {"fmnist student bwd", 512, 4096, 128, 1},
    };
    printf("| case | M×N×K | threads | old ms min (median) | GFLOP/s | new ms min (median) | "
           "GFLOP/s | old/new | max rel diff |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (!strstr(cases[c].name, filter)) continue;
        for (int threads = 1; threads <= max_threads; threads++)
            bench(cases[c].name, cases[c].m, cases[c].n, cases[c].k, cases[c].bwd, threads, runs);
    }
    if (strstr("skinny matmul", filter)) {
        bench_skinny("skinny matmul (gemm.c)", 16, 65536, 256, runs);
        bench_skinny("skinny matmul (gemm.c)", 32, 65536, 256, runs);
    }
    return 0;
}
