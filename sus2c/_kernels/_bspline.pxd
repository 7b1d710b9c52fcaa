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
    int SUS2C_LEG_BELOW
    int SUS2C_LEG_BEYOND
    bint sus2c_unlikely(bint x) noexcept
    ctypedef struct sus2c_part2:
        double lo
        double inv_h
        double hi
        double wall
        const double* poly
        int n
    void sus2c_pairs2(const sus2c_part2* parts, const int* start, Py_ssize_t nb, const double* bd,
                      const Py_ssize_t* jb, const int* pb, Py_ssize_t i, double* f, signed char* below,
                      double* eat, double* vat, double* acc, int one) noexcept
    int sus2c_leg4(double r, double lo, double hi, double inv_h, int n, const double* tab,
                   int* m, double* AB) noexcept
    int sus2c_energy3(const double* C, Py_ssize_t s1, Py_ssize_t s2, double lo, double hi, double inv_h,
                      int n, const double* tab, const double* d3, const double* ir, const Py_ssize_t* jl,
                      Py_ssize_t nj, const int* mJ, const double* bJ, const int* fJ, const Py_ssize_t* kl,
                      Py_ssize_t nk, const int* mK, const double* bK, const int* fK, int tri,
                      double* acc, double* f3, double* gs, double* vn, int* fl, Py_ssize_t* bad,
                      double* wk, int* iw) noexcept
    Py_ssize_t sus2c_design3(const double* cols, Py_ssize_t s1, Py_ssize_t s2, double sc, double lo,
                             double hi, double inv_h, int n, const double* tab, const double* d3,
                             const double* r3, const double* ir, const Py_ssize_t* fr, const Py_ssize_t* jl,
                             Py_ssize_t nj, const int* mJ, const double* bJ, const int* fJ,
                             const Py_ssize_t* kl, Py_ssize_t nk, const int* mK, const double* bK,
                             const int* fK, int tri, double* X, Py_ssize_t ld, Py_ssize_t erow,
                             Py_ssize_t fi, Py_ssize_t srow, double inv_v) noexcept
