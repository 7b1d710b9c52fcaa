# cython: language_level=3
"""The B-spline core shared by every kernel (implemented in _simd.h).

A part is a clamped uniform cubic spline on [lo, hi] with n intervals; its
basis table (see sus2c/bspline.py, stored here as [interval][power][k])
gives the four non-zero functions on each interval as cubic polynomials in
the position u inside the interval.  Callers check r < hi.
"""

cdef extern from "_simd.h" nogil:
    int sus2c_basis4(double r, double lo, double inv_h, int n, const double* tab,
                     double* B, double* dB) noexcept
    int sus2c_basis4_d2(double r, double lo, double inv_h, int n, const double* tab,
                        double* B, double* dB, double* d2B) noexcept
    double sus2c_triplet4(const double* C, long s1, long s2, int ma, int mb, int mc,
                          const double* A, const double* dA, const double* B,
                          const double* dB, const double* G, const double* dG,
                          double* ga, double* gb, double* gc) noexcept
