/* threads.c — the one thread pool: OpenMP threads for every kernel, OpenBLAS pinned to
 * one thread so that a GEMM called inside an OpenMP loop never spawns its own
 * (docs/PLATFORM.md §3: two pools on the same cores lose 25–50 % on GEMMs and up to 4× on
 * element-wise ops). */
#include <cblas.h>
#include <omp.h>

#include "dino_kernels.h"
#include "internal.h"

/** The thread count kernels use; 0 until the first call (then OpenMP's default). */
static int dino_num_threads;

/* Runs when the library loads: OpenBLAS must not start its own threads. */
__attribute__((constructor)) static void dino_threads_init(void) { openblas_set_num_threads(1); }

void dino_set_num_threads(int n) {
    openblas_set_num_threads(1);
    if (n < 1) n = 1;
    __atomic_store_n(&dino_num_threads, n, __ATOMIC_RELAXED);
    omp_set_num_threads(n);
}

int dino_get_num_threads(void) {
    int n = __atomic_load_n(&dino_num_threads, __ATOMIC_RELAXED);
    return n > 0 ? n : omp_get_max_threads();
}

int dino_threads(void) { return omp_get_max_threads(); }

void dino_threads_sync(void) {
    int n = __atomic_load_n(&dino_num_threads, __ATOMIC_RELAXED);
    if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}
