/* comm.c — dino_comm.h over Open MPI (or any MPI-3 library). */
#include "dino_comm.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int initialised = 0;
static int finalised = 0;
static MPI_Request requests[DINO_COMM_MAX_REQUESTS];
static int open_requests = 0;

int dino_comm_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL ||
           getenv("PMI_RANK") != NULL;
}

int dino_comm_active(void) { return initialised && !finalised; }

int dino_comm_init(int *rank, int *size, char *error, int error_bytes) {
    *rank = 0;
    *size = 1;
    if (!dino_comm_launched()) return 0;
    if (!initialised) {
        int provided = 0;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            int length = 0;
            char text[MPI_MAX_ERROR_STRING];
            MPI_Error_string(rc, text, &length);
            snprintf(error, (size_t)error_bytes, "MPI_Init_thread failed: %s", text);
            return rc;
        }
        initialised = 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

/* MPI counts are int: large buffers go in chunks of at most 2^30 elements. */
static const int64_t chunk = (int64_t)1 << 30;

/* Waits for `count` requests, polling: busily for the first half millisecond, then with
 * 50 µs sleeps between polls. MPI's own waits spin at full speed, which on a machine with
 * fewer free cores than busy threads takes the core from the very rank being waited for
 * (and from the data loaders); a rank that waits longer has nothing better to do. */
static int wait_politely(int count, MPI_Request *reqs) {
    double start = MPI_Wtime();
    for (;;) {
        int done = 0;
        int rc = MPI_Testall(count, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return rc;
        if (done) return 0;
        if (MPI_Wtime() - start > 5e-4) {
            struct timespec pause = {0, 50000};
            nanosleep(&pause, NULL);
        }
    }
}

static int allreduce(void *x, int64_t n, MPI_Datatype type, MPI_Op op, size_t bytes) {
    if (!dino_comm_active()) return 0;
    for (int64_t at = 0; at < n; at += chunk) {
        int count = (int)(n - at < chunk ? n - at : chunk);
        MPI_Request request;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, (char *)x + at * (int64_t)bytes, count, type, op,
                                MPI_COMM_WORLD, &request);
        if (rc == MPI_SUCCESS) rc = wait_politely(1, &request);
        if (rc != MPI_SUCCESS) return rc;
    }
    return 0;
}

int dino_comm_allreduce_sum(float *x, int64_t n) {
    return allreduce(x, n, MPI_FLOAT, MPI_SUM, sizeof(float));
}

int dino_comm_allreduce_sum_f64(double *x, int64_t n) {
    return allreduce(x, n, MPI_DOUBLE, MPI_SUM, sizeof(double));
}

int dino_comm_iallreduce_sum(float *x, int64_t n) {
    if (!dino_comm_active()) return 0;
    if (n > chunk || open_requests >= DINO_COMM_MAX_REQUESTS) return -1;
    int slot = open_requests;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &requests[slot]);
    if (rc != MPI_SUCCESS) return -1;
    open_requests++;
    return slot;
}

int dino_comm_progress(void) {
    if (!dino_comm_active() || open_requests == 0) return 0;
    int done = 0;
    MPI_Testall(open_requests, requests, &done, MPI_STATUSES_IGNORE);
    if (done) open_requests = 0;
    return done ? 0 : open_requests;
}

int dino_comm_wait_all(void) {
    if (!dino_comm_active() || open_requests == 0) return 0;
    int rc = wait_politely(open_requests, requests);
    open_requests = 0;
    return rc;
}

void dino_comm_finalize(void) {
    if (!dino_comm_active()) return;
    dino_comm_wait_all();
    MPI_Finalize();
    finalised = 1;
}
