/* tools/bench_allreduce.c — the time of one in-place MPI_Allreduce (sum) of N floats,
 * the gradient all-reduce of a data-parallel step without the training around it.
 * Built and run by tools/bench_mpi.sh: mpicc -O2 tools/bench_allreduce.c -o bench_allreduce;
 * mpirun -np 2 ./bench_allreduce N REPEATS. Rank 0 prints "allreduce N floats: M ms". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    long n = argc > 1 ? atol(argv[1]) : 1 << 20;
    int repeats = argc > 2 ? atoi(argv[2]) : 20;
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    float *x = calloc((size_t)n, sizeof(float));
    if (x == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* warm-up */
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    for (int i = 0; i < repeats; i++)
        MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double ms = (MPI_Wtime() - start) * 1e3 / repeats;
    if (rank == 0) printf("allreduce %ld floats: %.3f ms\n", n, ms);
    free(x);
    MPI_Finalize();
    return 0;
}
