/* Bare MPI_Allreduce timed the way `hpcready run --bench allreduce` times it, for
 * benches/mpi/vs_bare_mpi.sh: per size, one checked all-reduce, min(iters, 5) warm-up calls,
 * then SAMPLES samples of ITERS back-to-back calls after a barrier, each sample's time per call
 * the slowest rank's (MPI_MAX), and the median sample printed. ITERS = clamp(TRAFFIC / bytes, 1,
 * 1000). Usage: allreduce TRAFFIC SAMPLES BYTES...   Output: bytes placement median_us */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static float input(int rank, size_t i) { return (float)(3 * (long)(i % 17) + rank % 13 - 20); }

int main(int argc, char **argv) {
  /* BARE_THREAD_MULTIPLE=1: initialise as hpcready does (MPI_THREAD_MULTIPLE, for its
   * watchdog), to tell the library's threading cost from ours. */
  if (getenv("BARE_THREAD_MULTIPLE")) {
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  } else {
    MPI_Init(&argc, &argv);
  }
  int rank, n;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (argc < 4) {
    if (rank == 0) fprintf(stderr, "usage: allreduce TRAFFIC SAMPLES BYTES...\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  long traffic = atol(argv[1]);
  int samples = atoi(argv[2]);
  long rank_sum = 0;
  for (int r = 0; r < n; r++) rank_sum += r % 13;
  double *t = malloc(sizeof(double) * samples);
  for (int a = 3; a < argc; a++) {
    long bytes = atol(argv[a]);
    size_t count = (size_t)bytes / 4;
    float *send = malloc(bytes), *recv = malloc(bytes);
    long iters = traffic / bytes;
    if (iters < 1) iters = 1;
    if (iters > 1000) iters = 1000;
    for (int inplace = 0; inplace < 2; inplace++) {
      for (size_t i = 0; i < count; i++) send[i] = input(rank, i);
      float *res = inplace ? send : recv;
      MPI_Allreduce(inplace ? MPI_IN_PLACE : send, res, (int)count, MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
      long wrong = 0;
      for (size_t i = 0; i < count; i++)
        if (res[i] != (float)(n * (3 * (long)(i % 17) - 20) + rank_sum)) wrong++;
      MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
      if (wrong) {
        if (rank == 0) fprintf(stderr, "%ld B: %ld wrong elements\n", bytes, wrong);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      for (size_t i = 0; i < count; i++) send[i] = input(rank, i);
      for (long w = 0; w < (iters < 5 ? iters : 5); w++)
        MPI_Allreduce(inplace ? MPI_IN_PLACE : send, res, (int)count, MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
      for (int s = 0; s < samples; s++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (long k = 0; k < iters; k++)
          MPI_Allreduce(inplace ? MPI_IN_PLACE : send, res, (int)count, MPI_FLOAT, MPI_SUM,
                        MPI_COMM_WORLD);
        double mine = (MPI_Wtime() - t0) / iters;
        MPI_Allreduce(&mine, &t[s], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      }
      qsort(t, samples, sizeof(double), cmp);
      double med = samples % 2 ? t[samples / 2] : 0.5 * (t[samples / 2 - 1] + t[samples / 2]);
      if (rank == 0) printf("%ld %s %.6f\n", bytes, inplace ? "in" : "out", med * 1e6);
    }
    free(send);
    free(recv);
  }
  free(t);
  MPI_Finalize();
  return 0;
}
