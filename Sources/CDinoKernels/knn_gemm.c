/* knn_gemm.c — the similarity GEMM of the k-NN evaluation: C = A·Bᵀ over OpenBLAS.
 *
 * OpenBLAS runs single-threaded (threads.c); the OpenMP threads take column blocks of C
 * (rows of B: the training features), one cblas_sgemm per block. */
#include <cblas.h>

#include "internal.h"

void dino_sgemm_nt(int m, int n, int k, const float *a, const float *b, float *c) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
        return;
    }
    dino_threads_sync();
    int blocks = (int64_t)m * n * k < (1 << 20) ? 1 : dino_threads() * 4;
    if (blocks > n) blocks = n;
#pragma omp parallel for num_threads(blocks < dino_threads() ? blocks : dino_threads())
    for (int p = 0; p < blocks; p++) {
        int n0 = (int)((int64_t)n * p / blocks), n1 = (int)((int64_t)n * (p + 1) / blocks);
        if (n1 > n0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n1 - n0, k, 1.0f, a, k,
                        b + (int64_t)n0 * k, k, 0.0f, c + n0, n);
    }
}
