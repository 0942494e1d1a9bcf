/* tools/bench_attention.c — the attention kernels of a base revision (m_*) and of this tree
 * (f_*), both saving lse, in one process, alternating, on the ViT configs' shapes
 * (3 heads, hd 64): tiny224's N = 197 (16 images) and 37 (64), fmnist's N = 50 (128) and
 * 10 (384), 1 and 2 threads. Time = the busiest OpenMP thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID, read on every thread before and after a batch of calls), so
 * time the thread spent preempted by other processes does not count; best of `rounds`.
 * Built and run by tools/bench_attention.sh. Usage: bench_attention [rounds] */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void dino_set_num_threads(int n);
size_t m_scratch(int64_t b, int n, int c, int heads);
size_t f_scratch(int64_t b, int n, int c, int heads);
typedef void fwd_fn(float *out, float *aux, float *scratch, const float *qkv, int64_t b, int n,
                    int c, int heads, float scale);
typedef void bwd_fn(float *dqkv, float *scratch, const float *dy, const float *qkv,
                    const float *out, const float *aux, int64_t b, int n, int c, int heads,
                    float scale);
fwd_fn m_fwd, f_fwd;
bwd_fn m_bwd, f_bwd;

/** Each OpenMP thread's CPU seconds at the last snapshot. */
static double thread_cpu[64];

/* Reads every pool thread's CPU time into thread_cpu. */
static void snapshot(int threads) {
#pragma omp parallel num_threads(threads)
    {
        struct timespec t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        thread_cpu[omp_get_thread_num()] = t.tv_sec + t.tv_nsec * 1e-9;
    }
}

/* CPU seconds per call of the busiest thread over `reps` calls of fwd (bwd when fwd is NULL). */
static double timed(int threads, int reps, fwd_fn *fwd, bwd_fn *bwd, float *out, float *aux,
                    float *scratch, const float *qkv, float *dqkv, const float *dy, int64_t b,
                    int n, int c, int heads) {
    double before[64], busiest = 0;
    snapshot(threads);
    for (int i = 0; i < threads; i++) before[i] = thread_cpu[i];
    for (int r = 0; r < reps; r++) {
        if (fwd) fwd(out, aux, scratch, qkv, b, n, c, heads, 0.125f);
        else bwd(dqkv, scratch, dy, qkv, out, aux, b, n, c, heads, 0.125f);
    }
    snapshot(threads);
    for (int i = 0; i < threads; i++)
        if (thread_cpu[i] - before[i] > busiest) busiest = thread_cpu[i] - before[i];
    return busiest / reps;
}

/* max |x − y| over n floats, and max |y| into *scale. */
static double max_diff(const float *x, const float *y, int64_t n, double *scale) {
    double worst = 0;
    *scale = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(x[i] - y[i]) > worst) worst = fabs(x[i] - y[i]);
        if (fabs(y[i]) > *scale) *scale = fabs(y[i]);
    }
    return worst;
}

int main(int argc, char **argv) {
    const int shapes[4][2] = {{16, 197}, {64, 37}, {128, 50}, {384, 10}};
    const int heads = 3, c = 192;
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1) rounds = 1;
    printf("| threads | images, N | forward base / this ms | backward base / this ms |\n");
    printf("| --- | --- | --- | --- |\n");
    for (int threads = 1; threads <= 2; threads++)
        for (int s = 0; s < 4; s++) {
            dino_set_num_threads(threads);
            int64_t b = shapes[s][0];
            int n = shapes[s][1];
            int64_t rows = b * n, lses = b * heads * (int64_t)n;
            float *qkv = malloc(rows * 3 * c * 4), *dy = malloc(rows * c * 4);
            float *out[2] = {malloc(rows * c * 4), malloc(rows * c * 4)};
            float *dqkv[2] = {malloc(rows * 3 * c * 4), malloc(rows * 3 * c * 4)};
            float *aux[2] = {malloc(lses * 4), malloc(lses * 4)};
            for (int64_t i = 0; i < rows * 3 * c; i++) qkv[i] = ((i * 37) % 101) / 101.0f - 0.5f;
            for (int64_t i = 0; i < rows * c; i++) dy[i] = ((i * 13) % 29) / 29.0f - 0.5f;
            size_t bytes = m_scratch(b, n, c, heads), mine = f_scratch(b, n, c, heads);
            if (mine > bytes) bytes = mine;
            float *scratch = aligned_alloc(64, (bytes + 64) / 64 * 64);
            int reps = (int)(2000000 / (b * n * n)) + 5;
            double best[2][2] = {{1e9, 1e9}, {1e9, 1e9}};
            for (int r = 0; r < rounds; r++)
                for (int k = 0; k < 2; k++) {
                    fwd_fn *fwd = k ? f_fwd : m_fwd;
                    bwd_fn *bwd = k ? f_bwd : m_bwd;
                    fwd(out[k], aux[k], scratch, qkv, b, n, c, heads, 0.125f);
                    double t = timed(threads, reps, fwd, NULL, out[k], aux[k], scratch, qkv,
                                     dqkv[k], dy, b, n, c, heads);
                    if (t < best[k][0]) best[k][0] = t;
                    bwd(dqkv[k], scratch, dy, qkv, out[k], aux[k], b, n, c, heads, 0.125f);
                    t = timed(threads, reps, NULL, bwd, out[k], aux[k], scratch, qkv, dqkv[k], dy,
                              b, n, c, heads);
                    if (t < best[k][1]) best[k][1] = t;
                }
            double so, sd, sl, eo = max_diff(out[1], out[0], rows * c, &so);
            double ed = max_diff(dqkv[1], dqkv[0], rows * 3 * c, &sd);
            double el = max_diff(aux[1], aux[0], lses, &sl);
            printf("| %d | %ld, %d | %.2f / %.2f | %.2f / %.2f |\n", threads, (long)b, n,
                   best[0][0] * 1e3, best[1][0] * 1e3, best[0][1] * 1e3, best[1][1] * 1e3);
            fprintf(stderr, "  %ld, %d: this − base: out %.1e (max |out| %.1e), lse %.1e "
                    "(max %.1e), dqkv %.1e (max %.1e)\n", (long)b, n, eo, so, el, sl, ed, sd);
            fflush(stdout);
            free(qkv), free(dy), free(scratch);
            for (int k = 0; k < 2; k++) free(out[k]), free(dqkv[k]), free(aux[k]);
        }
    return 0;
}
