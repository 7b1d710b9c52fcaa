# cython: language_level=3
"""What the kernels were built with: OpenMP or serial, and how many threads."""

cdef extern from *:
    """
    #if defined(_OPENMP)
    #include <omp.h>
    static int sus2c_openmp_enabled(void) { return 1; }
    static int sus2c_max_threads(void) { return omp_get_max_threads(); }
    static int sus2c_num_procs(void) { return omp_get_num_procs(); }
    #else
    static int sus2c_openmp_enabled(void) { return 0; }
    static int sus2c_max_threads(void) { return 1; }
    static int sus2c_num_procs(void) { return 1; }
    #endif
    """
    int sus2c_openmp_enabled() nogil
    int sus2c_max_threads() nogil
    int sus2c_num_procs() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(sus2c_openmp_enabled())


def max_threads():
    """OpenMP's default thread count (honours OMP_NUM_THREADS); 1 for a serial build."""
    return sus2c_max_threads()
