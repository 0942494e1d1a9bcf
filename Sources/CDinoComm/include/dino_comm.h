/* dino_comm.h — the few MPI calls of data-parallel training, behind an MPI-free header.
 *
 * MPI is initialised only when the process was started by an MPI launcher (mpirun, srun
 * with PMIx/PMI): OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK in the environment. Without
 * one every call is a no-op on a world of one process, so single-process runs never touch
 * MPI. Only the thread that called dino_comm_init may call the others (MPI_THREAD_FUNNELED).
 */
#ifndef DINO_COMM_H
#define DINO_COMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** 1 when the environment says an MPI launcher started this process, else 0. */
int dino_comm_launched(void);

/** Initialises MPI when launched (idempotent) and sets *rank and *size; without a
 *  launcher sets 0 and 1. Returns 0, or an MPI error code with a message in `error`
 *  (`error_bytes` long). */
int dino_comm_init(int *rank, int *size, char *error, int error_bytes);

/** Whether MPI was initialised by dino_comm_init. */
int dino_comm_active(void);

/** In-place sum over all ranks of x[0..n) (blocking). */
int dino_comm_allreduce_sum(float *x, int64_t n);

/** In-place sum over all ranks of doubles x[0..n) (blocking). */
int dino_comm_allreduce_sum_f64(double *x, int64_t n);

/** Starts an in-place sum over all ranks of x[0..n); returns a request id ≥ 0, or −1 when
 *  no request slot is free (then the caller reduces with dino_comm_allreduce_sum). At most
 *  DINO_COMM_MAX_REQUESTS are outstanding. */
int dino_comm_iallreduce_sum(float *x, int64_t n);

/** Lets outstanding requests progress (MPI_Testall); returns how many are still open. */
int dino_comm_progress(void);

/** Waits for every outstanding request, polling (after half a millisecond with 50 µs sleeps
 *  in between, so a waiting rank leaves its core to the others). Returns 0 or an MPI error
 *  code. The blocking sums wait the same way. */
int dino_comm_wait_all(void);

/** The most requests dino_comm_iallreduce_sum keeps open at once. */
#define DINO_COMM_MAX_REQUESTS 256

/** Finalises MPI when it was initialised (idempotent). */
void dino_comm_finalize(void);

#ifdef __cplusplus
}
#endif

#endif
