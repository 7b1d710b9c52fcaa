# cython: language_level=3
"""The B-spline core shared by every kernel.

A part is a clamped uniform cubic spline on [lo, hi] with n intervals; ``tab``
points at its basis table T[mu][k][p] (see sus2c/bspline.py): on interval mu
the non-zero basis functions are B_{mu+k} = sum_p T[mu][k][p] u^p with u the
position inside the interval.  Below lo the basis is continued by its
second-order Taylor polynomial (drop p = 3, u < 0).  Callers check r < hi.
"""


cdef inline int basis(double r, double lo, double inv_h, int n, const double* tab,
                      double* B, double* dB) noexcept nogil:
    """Values B[0..3] and r-derivatives dB[0..3] of B_mu..B_mu+3; returns mu."""
    cdef double u = (r - lo) * inv_h
    cdef int mu, k
    cdef const double* T
    if u < 0.0:
        for k in range(4):
            T = tab + 4 * k
            B[k] = T[0] + u * (T[1] + u * T[2])
            dB[k] = (T[1] + 2.0 * u * T[2]) * inv_h
        return 0
    mu = <int>u
    if mu >= n:
        mu = n - 1
    u = u - mu
    for k in range(4):
        T = tab + 16 * mu + 4 * k
        B[k] = T[0] + u * (T[1] + u * (T[2] + u * T[3]))
        dB[k] = (T[1] + u * (2.0 * T[2] + 3.0 * u * T[3])) * inv_h
    return mu
