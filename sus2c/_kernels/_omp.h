/* OpenMP pieces Cython has no statement for.
 *
 * sus2c_barrier: all threads of the enclosing parallel region wait here
 * (an orphaned barrier binds to the innermost enclosing region).  Cython
 * ends a prange inside a parallel block with "omp for nowait", so a second
 * loop that reads what the first one wrote needs this in between.  Without
 * OpenMP it does nothing: the region has one thread.
 */
#ifndef SUS2C_OMP_H
#define SUS2C_OMP_H

#ifdef _OPENMP
#include <omp.h>
#endif

/* Threads in the current team (1 outside a parallel region or without OpenMP). */
static inline int sus2c_team_size(void) {
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

static inline void sus2c_barrier(void) {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

#endif /* SUS2C_OMP_H */
