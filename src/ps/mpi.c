/* The MPI transport (MPICH): ranks 0 .. S-1 are servers, ranks S .. S+M-1
 * workers (worker w is rank S + w). Built only when CMake finds MPICH
 * (TRIAD_HAVE_MPI); otherwise these functions say so. */
#include "ps_internal.h"

#ifndef TRIAD_HAVE_MPI

int tr_ps_have_mpi(void)
{
    return 0;
}

tr_status tr_ps_mpi_init(int *argc, char ***argv, int *rank, int *ranks, tr_err *err)
{
    (void)argc;
    (void)argv;
    *rank = 0;
    *ranks = 1;
    return tr_err_set(err, TR_ERR_ARG, "--transport mpi: this triad was built without MPI (install MPICH, "
                                       "libmpich-dev, and rebuild)");
}

void tr_ps_mpi_finalize(void)
{
}

void tr_ps_mpi_abort(int code)
{
    (void)code;
}

tr_status ps_train_mpi(ps_run *run, tr_err *err)
{
    (void)run;
    return tr_err_set(err, TR_ERR_ARG, "--transport mpi: this triad was built without MPI");
}

#endif
