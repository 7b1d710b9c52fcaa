# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cell-list neighbour search over explicit periodic images.

The caller (sus2c/neighbors.py) lays out ``points``: the N home atoms first
(wrapped into the cell), then every periodic image that lies within the
cutoff of the cell.  Here the points are binned in Cartesian boxes of edge
>= cutoff and, for every home atom, the 27 surrounding boxes are searched.
Because images are explicit, any triclinic cell, any subset of periodic
directions and cells smaller than the cutoff (several images of the same
neighbour) need no special case.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange

cnp.import_array()


def bin_points(const double[:, ::1] points, double cutoff, Py_ssize_t max_bins):
    """Sort points into Cartesian bins; returns (origin, bin_size, nbins, bin_start, order)."""
    cdef Py_ssize_t P = points.shape[0], p
    cdef int d
    lo = np.min(points, axis=0) if P else np.zeros(3)
    hi = np.max(points, axis=0) if P else np.zeros(3)
    extent = np.maximum(hi - lo, 0.0)
    size = float(cutoff)
    nb = np.maximum(1, np.floor(extent / size)).astype(np.intp)
    while int(np.prod(nb)) > max_bins:
        size *= 1.25
        nb = np.maximum(1, np.floor(extent / size)).astype(np.intp)
    # bins may be larger than the cutoff (never smaller): widen to cover the extent exactly
    bsize = np.where(nb > 0, np.maximum(extent / nb, size), size)
    cdef double ox = lo[0], oy = lo[1], oz = lo[2]
    cdef double ix = 1.0 / bsize[0], iy = 1.0 / bsize[1], iz = 1.0 / bsize[2]
    cdef Py_ssize_t nx = nb[0], ny = nb[1], nz = nb[2]
    cdef Py_ssize_t[::1] which = np.empty(P, dtype=np.intp)
    cdef Py_ssize_t bx, by, bz
    for p in range(P):
        bx = <Py_ssize_t>((points[p, 0] - ox) * ix)
        by = <Py_ssize_t>((points[p, 1] - oy) * iy)
        bz = <Py_ssize_t>((points[p, 2] - oz) * iz)
        if bx >= nx: bx = nx - 1
        if by >= ny: by = ny - 1
        if bz >= nz: bz = nz - 1
        if bx < 0: bx = 0
        if by < 0: by = 0
        if bz < 0: bz = 0
        which[p] = (bx * ny + by) * nz + bz
    nbins = nx * ny * nz
    counts = np.bincount(np.asarray(which), minlength=nbins)
    bin_start = np.zeros(nbins + 1, dtype=np.intp)
    np.cumsum(counts, out=bin_start[1:])
    order = np.argsort(np.asarray(which), kind="stable").astype(np.intp)
    return lo, bsize, nb, bin_start, order


cdef inline Py_ssize_t _search(Py_ssize_t i, const double[:, ::1] points, const Py_ssize_t[::1] bin_start,
                         const Py_ssize_t[::1] order, double ox, double oy, double oz,
                         double ix, double iy, double iz, Py_ssize_t nx, Py_ssize_t ny, Py_ssize_t nz,
                         double cut2, Py_ssize_t* out) noexcept nogil:
    """Count (out is empty) or list (into out) the points within the cutoff of home point i."""
    cdef double xi = points[i, 0], yi = points[i, 1], zi = points[i, 2]
    cdef Py_ssize_t bx = <Py_ssize_t>((xi - ox) * ix), by = <Py_ssize_t>((yi - oy) * iy), bz = <Py_ssize_t>((zi - oz) * iz)
    cdef Py_ssize_t cx, cy, cz, b, q, p, count = 0
    cdef double dx, dy, dz
    if bx >= nx: bx = nx - 1
    if by >= ny: by = ny - 1
    if bz >= nz: bz = nz - 1
    if bx < 0: bx = 0
    if by < 0: by = 0
    if bz < 0: bz = 0
    for cx in range(bx - 1, bx + 2):
        if cx < 0 or cx >= nx:
            continue
        for cy in range(by - 1, by + 2):
            if cy < 0 or cy >= ny:
                continue
            for cz in range(bz - 1, bz + 2):
                if cz < 0 or cz >= nz:
                    continue
                b = (cx * ny + cy) * nz + cz
                for q in range(bin_start[b], bin_start[b + 1]):
                    p = order[q]
                    if p == i:
                        continue
                    dx = points[p, 0] - xi
                    dy = points[p, 1] - yi
                    dz = points[p, 2] - zi
                    if dx * dx + dy * dy + dz * dz < cut2:
                        if out != NULL:
                            out[count] = p
                        count += 1
    return count


def neighbor_list(const double[:, ::1] points, Py_ssize_t n_home, double cutoff, int nthreads):
    """Full neighbour list of the first n_home points: CSR (offsets, point indices)."""
    cdef Py_ssize_t P = points.shape[0]
    cdef Py_ssize_t max_bins = 8 * P + 64
    lo, bsize, nb, bin_start_a, order_a = bin_points(points, cutoff, max_bins)
    cdef const Py_ssize_t[::1] bin_start = bin_start_a
    cdef const Py_ssize_t[::1] order = order_a
    cdef double ox = lo[0], oy = lo[1], oz = lo[2]
    cdef double ix = 1.0 / bsize[0], iy = 1.0 / bsize[1], iz = 1.0 / bsize[2]
    cdef Py_ssize_t nx = nb[0], ny = nb[1], nz = nb[2]
    cdef double cut2 = cutoff * cutoff
    counts_a = np.zeros(n_home + 1, dtype=np.intp)
    cdef Py_ssize_t[::1] counts = counts_a
    cdef Py_ssize_t i
    for i in prange(n_home, nogil=True, schedule="static", num_threads=max(1, nthreads)):
        counts[i + 1] = _search(i, points, bin_start, order, ox, oy, oz, ix, iy, iz,
                                nx, ny, nz, cut2, NULL)
    offsets_a = np.cumsum(counts_a)
    cdef Py_ssize_t[::1] offsets = offsets_a
    index_a = np.empty(offsets_a[-1], dtype=np.intp)
    cdef Py_ssize_t[::1] index = index_a
    cdef Py_ssize_t* index_ptr = &index[0] if index_a.size else NULL
    for i in prange(n_home, nogil=True, schedule="static", num_threads=max(1, nthreads)):
        _search(i, points, bin_start, order, ox, oy, oz, ix, iy, iz, nx, ny, nz, cut2,
                index_ptr + offsets[i])
    return offsets_a, index_a
