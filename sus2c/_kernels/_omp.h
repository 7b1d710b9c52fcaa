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

static inline void sus2c_barrier(void) {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

#endif /* SUS2C_OMP_H */
