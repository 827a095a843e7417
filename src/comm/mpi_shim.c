/* MPI constants that rsmpi does not export and whose value differs between MPI libraries
 * (MPI_IN_PLACE is (void*)1 in Open MPI, (void*)-1 in MPICH). Built with mpicc by build.rs
 * when the `mpi` feature is on. */
#include <mpi.h>

void *hpcready_mpi_in_place(void) { return MPI_IN_PLACE; }
