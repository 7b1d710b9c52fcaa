# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cell-list neighbour search over explicit periodic images.

The caller (sus2c/neighbors.py) lays out ``points``: the N home atoms first
(wrapped into the cell), then every periodic image that lies within the
cutoff of the cell, each with the atom it images and its Cartesian shift
from that atom's input position.  Here the points are sorted into Cartesian
bins of edge >= cutoff (coordinates copied in bin order, so the search
streams through memory) and, for every home atom, the 27 surrounding bins
are searched.  Because images are explicit, any triclinic cell, any subset
of periodic directions and cells smaller than the cutoff (several images of
the same neighbour) need no special case.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange
from libc.math cimport ceil, floor
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp, memcpy

cnp.import_array()


# Bins are cutoff/NB wide and the search covers NB bins each way: with NB = 2
# the searched volume is (2.5 rc)^3 instead of (3 rc)^3 for NB = 1.
cdef enum:
    NB = 2


cdef inline Py_ssize_t _clamp(Py_ssize_t b, Py_ssize_t n) noexcept nogil:
    if b < 0:
        return 0
    if b >= n:
        return n - 1
    return b


cdef inline bint _positive_image(Py_ssize_t i, Py_ssize_t p, const double* pshift) noexcept nogil:
    """For point p, an image of home atom i itself: True when its shift
    relative to i is lexicographically positive (a half list keeps the bond
    from that end)."""
    cdef double s0, s1, s2
    s0 = pshift[3 * p] - pshift[3 * i]
    s1 = pshift[3 * p + 1] - pshift[3 * i + 1]
    s2 = pshift[3 * p + 2] - pshift[3 * i + 2]
    return s0 > 0 or (s0 == 0 and (s1 > 0 or (s1 == 0 and s2 > 0)))


def _buffer(work, key, Py_ssize_t n, tail=(), dtype=np.float64):
    """An array of n rows: a fresh one, or (with a ``work`` dict) the first n
    rows of one kept there from an earlier build, grown by a quarter when too
    small.  Fresh multi-megabyte arrays are costly here: every page is
    faulted in on first touch (~2.5 µs a page on a VM), which made up a
    third of a 2000-atom list build."""
    if work is None:
        return np.empty((n,) + tail, dtype=dtype)
    a = work.get(key)
    if a is None or a.shape[0] < n:
        a = np.empty((n + n // 4 + 16,) + tail, dtype=dtype)
        work[key] = a
    return a[:n]


cdef Py_ssize_t _search(Py_ssize_t i, const double* xyz, const Py_ssize_t* start,
                        const Py_ssize_t* order, const double* home, double ox, double oy,
                        double oz, double ix, double iy, double iz, Py_ssize_t nx,
                        Py_ssize_t ny, Py_ssize_t nz, double cut2, Py_ssize_t* out, Py_ssize_t cap,
                        bint half, const double* pshift, const Py_ssize_t* satom) noexcept nogil:
    """Sorted point slots within the cutoff of home atom i, written to out while
    fewer than ``cap``; returns how many there are (the caller retries with a
    larger buffer when that exceeds cap)."""
    cdef double xi = home[3 * i], yi = home[3 * i + 1], zi = home[3 * i + 2]
    cdef Py_ssize_t bx = _clamp(<Py_ssize_t>((xi - ox) * ix), nx)
    cdef Py_ssize_t by = _clamp(<Py_ssize_t>((yi - oy) * iy), ny)
    cdef Py_ssize_t bz = _clamp(<Py_ssize_t>((zi - oz) * iz), nz)
    cdef Py_ssize_t cx, cy, cz0, cz1, q, q1, count = 0
    cdef double dx, dy, dz
    cz0 = bz - NB if bz >= NB else 0
    cz1 = bz + NB if bz + NB < nz else nz - 1
    for cx in range(bx - NB, bx + NB + 1):
        if cx < 0 or cx >= nx:
            continue
        for cy in range(by - NB, by + NB + 1):
            if cy < 0 or cy >= ny:
                continue
            # bins adjacent in z are adjacent in memory: one contiguous run
            q = start[(cx * ny + cy) * nz + cz0]
            q1 = start[(cx * ny + cy) * nz + cz1 + 1]
            while q < q1:
                # a half list keeps each bond once, from the atom with the
                # smaller index (tested before the distance: half the work)
                if half and satom[q] < i:
                    q += 1
                    continue
                dx = xyz[3 * q] - xi
                dy = xyz[3 * q + 1] - yi
                dz = xyz[3 * q + 2] - zi
                if dx * dx + dy * dy + dz * dz < cut2 and order[q] != i:
                    if half and satom[q] == i and not _positive_image(i, order[q], pshift):
                        q += 1
                        continue
                    if count < cap:
                        out[count] = q
                    count += 1
                q += 1
    return count


def neighbor_list(const double[:, ::1] points, const Py_ssize_t[::1] point_atom,
                  const double[:, ::1] point_shift, Py_ssize_t n_home, double cutoff, int nthreads,
                  bint half=False, dict work=None):
    """Full (or, with half=True, half) neighbour list of the first n_home points.

    Returns CSR ``(offsets, atom, shift)``: for home atom i the entries
    offsets[i]..offsets[i+1]-1 hold the neighbour atom and the Cartesian
    shift such that the bond vector is x[atom] + shift - x[i] (positions as
    given to sus2c.neighbors.neighbor_list).  With a ``work`` dict, atom
    and shift are views of buffers kept there and reused by the next call
    (offsets is always a new array).

    One search pass: the home atoms are cut into contiguous chunks; each
    thread lists a chunk's neighbours into the chunk's slice of one shared
    slot array (moving to a buffer of its own only if the slice overflows),
    then the slots are copied into place once the per-atom counts give the
    offsets.  The result does not depend on the thread count.
    """
    cdef Py_ssize_t P = points.shape[0], p, q, i, e, k, b, c, a0, a1, used, cnt, cap, est
    cdef int nt = max(1, nthreads)
    cdef int failed = 0  # a reduction (+=): a plain assignment in prange would be lastprivate
    # bounding box (a loop here: numpy's min(axis=0) of (P, 3) took ~0.2 ms)
    lo = np.zeros(3)
    hi = np.zeros(3)
    cdef double[::1] lo_v = lo, hi_v = hi
    if P:
        for k in range(3):
            lo_v[k] = points[0, k]
            hi_v[k] = points[0, k]
        for p in range(1, P):
            for k in range(3):
                if points[p, k] < lo_v[k]:
                    lo_v[k] = points[p, k]
                elif points[p, k] > hi_v[k]:
                    hi_v[k] = points[p, k]
    extent = np.maximum(hi - lo, 0.0)
    if not np.isfinite(extent).all():
        raise ValueError("neighbour list: the positions contain NaN or infinity")
    size = float(cutoff) / NB
    nbf = np.maximum(1.0, np.floor(extent / size))
    max_bins = 8 * P + 64
    while np.prod(nbf) > max_bins:  # sparse clusters: fewer, larger bins (counted in floats: no overflow)
        size *= 1.25
        nbf = np.maximum(1.0, np.floor(extent / size))
    nb = nbf.astype(np.intp)
    bsize = np.maximum(extent / nb, size)  # never smaller than cutoff / NB
    cdef double ox = lo[0], oy = lo[1], oz = lo[2]
    cdef double ix = 1.0 / bsize[0], iy = 1.0 / bsize[1], iz = 1.0 / bsize[2]
    cdef Py_ssize_t nx = nb[0], ny = nb[1], nz = nb[2], nbins = nx * ny * nz

    # counting sort of the points into bins (stable: by point index within a bin)
    which_a = _buffer(work, "which", P, (), np.intp)
    start_a = np.zeros(nbins + 1, dtype=np.intp)
    fill_a = np.empty(nbins, dtype=np.intp)
    order_a = _buffer(work, "order", P, (), np.intp)
    satom_a = _buffer(work, "satom", P, (), np.intp)  # the atom of each sorted point
    xyz_a = _buffer(work, "xyz", P, (3,))
    cdef Py_ssize_t[::1] which = which_a, start_v = start_a, fill = fill_a, order_v = order_a, satom_v = satom_a
    cdef double[:, ::1] xyz_v = xyz_a
    with nogil:
        for p in range(P):
            b = (_clamp(<Py_ssize_t>((points[p, 0] - ox) * ix), nx) * ny
                 + _clamp(<Py_ssize_t>((points[p, 1] - oy) * iy), ny)) * nz \
                + _clamp(<Py_ssize_t>((points[p, 2] - oz) * iz), nz)
            which[p] = b
            start_v[b + 1] += 1
        for b in range(nbins):
            start_v[b + 1] += start_v[b]
            fill[b] = start_v[b]
        for p in range(P):
            q = fill[which[p]]
            fill[which[p]] = q + 1
            order_v[q] = p
            satom_v[q] = point_atom[p]
            xyz_v[q, 0] = points[p, 0]
            xyz_v[q, 1] = points[p, 1]
            xyz_v[q, 2] = points[p, 2]
    cdef const double* xyz = &xyz_v[0, 0] if P else NULL
    cdef const double* home = &points[0, 0] if P else NULL
    cdef const Py_ssize_t* start = &start_v[0]
    cdef const Py_ssize_t* order = &order_v[0] if P else NULL
    cdef const Py_ssize_t* satom = &satom_v[0] if P else NULL
    cdef double cut2 = cutoff * cutoff
    cdef const double* pshift = &point_shift[0, 0] if P else NULL

    # expected neighbours per atom (mean density x search sphere, with margin):
    # each chunk gets that much room in one shared slot buffer and moves to a
    # buffer of its own (malloc, grown as needed) only when it runs out
    volume = float(np.prod(np.maximum(extent, size)))
    est = <Py_ssize_t>(1.3 * P / volume * 4.18879 * cutoff ** 3) + 8
    if half:
        est = est // 2 + 8
    est = min(est, P)  # no atom has more neighbours than there are points
    cdef Py_ssize_t nch = max(1, min(n_home, 8 * nt))
    counts_a = _buffer(work, "counts", n_home + 1, (), np.intp)
    counts_a[0] = 0
    cdef Py_ssize_t[::1] counts = counts_a
    slots_a = _buffer(work, "slots", n_home * est + 64 * nch, (), np.intp)
    cdef Py_ssize_t* slots = <Py_ssize_t*>cnp.PyArray_DATA(slots_a)
    cdef Py_ssize_t** bufs = <Py_ssize_t**>calloc(nch, sizeof(Py_ssize_t*))
    cdef char* owned = <char*>calloc(nch, 1)
    cdef Py_ssize_t* buf
    cdef Py_ssize_t* grown
    if bufs == NULL or owned == NULL:
        free(bufs)
        free(owned)
        raise MemoryError("neighbour list: out of memory")
    try:
        for c in prange(nch, nogil=True, schedule="dynamic", num_threads=nt):
            a0 = c * n_home // nch
            a1 = (c + 1) * n_home // nch
            cap = (a1 - a0) * est + 64
            buf = slots + a0 * est + 64 * c
            used = 0
            for i in range(a0, a1):
                cnt = _search(i, xyz, start, order, home, ox, oy, oz, ix, iy, iz, nx, ny, nz, cut2,
                              buf + used, cap - used, half, pshift, satom)
                if cnt > cap - used:
                    cap = 2 * cap + cnt
                    if owned[c]:
                        grown = <Py_ssize_t*>realloc(buf, sizeof(Py_ssize_t) * cap)
                    else:
                        grown = <Py_ssize_t*>malloc(sizeof(Py_ssize_t) * cap)
                        if grown != NULL:
                            memcpy(grown, buf, sizeof(Py_ssize_t) * used)
                            owned[c] = 1
                    if grown == NULL:
                        failed += 1
                        break
                    buf = grown
                    _search(i, xyz, start, order, home, ox, oy, oz, ix, iy, iz, nx, ny, nz, cut2,
                            buf + used, cap - used, half, pshift, satom)
                counts[i + 1] = cnt
                used = used + cnt
            bufs[c] = buf
        if failed:
            raise MemoryError("neighbour list: out of memory")
        offsets_a = np.cumsum(counts_a)
        M = int(offsets_a[n_home])
        atom_a = _buffer(work, "atom", M, (), np.intp)
        shift_a = _buffer(work, "shift", M, (3,))
        if M:
            _scatter(bufs, nch, n_home, offsets_a, order, point_atom, point_shift, atom_a, shift_a, nt)
    finally:
        for c in range(nch):
            if owned[c]:
                free(bufs[c])
        free(bufs)
        free(owned)
    return offsets_a, atom_a, shift_a


cdef void _scatter(Py_ssize_t** bufs, Py_ssize_t nch, Py_ssize_t n_home, const Py_ssize_t[::1] offsets,
                   const Py_ssize_t* order, const Py_ssize_t[::1] point_atom,
                   const double[:, ::1] point_shift, Py_ssize_t[::1] atom, double[:, ::1] shift,
                   int nt):
    """Copy every chunk buffer (sorted point slots) into the CSR arrays as atoms and shifts."""
    cdef Py_ssize_t c, i, e, e0, p, a0, a1
    for c in prange(nch, nogil=True, schedule="static", num_threads=nt):
        a0 = c * n_home // nch
        a1 = (c + 1) * n_home // nch
        e0 = offsets[a0]
        for i in range(a0, a1):
            for e in range(offsets[i], offsets[i + 1]):
                p = order[bufs[c][e - e0]]
                atom[e] = point_atom[p]
                shift[e, 0] = point_shift[p, 0] - point_shift[i, 0]
                shift[e, 1] = point_shift[p, 1] - point_shift[i, 1]
                shift[e, 2] = point_shift[p, 2] - point_shift[i, 2]


def periodic_images(const double[:, ::1] pos, const double[:, ::1] inv, const double[:, ::1] cell,
                    const Py_ssize_t[::1] nimg, const double[::1] reach, const int[::1] pbc,
                    dict work=None):
    """Every image of every atom that lies within ``reach`` (fractional) of the cell.

    ``pos``: Cartesian positions (N, 3); ``cell``, ``inv``: the (effective)
    cell and its inverse; ``nimg``: the largest lattice translation to try
    along each direction (0 when not periodic).  Each atom is first wrapped
    into the cell along its periodic directions (fractional coordinates
    frac, by the lattice translation wrap).  Returns (points, atom, shift)
    with points = (frac + image) @ cell and shift = (wrap + image) @ cell,
    the Cartesian shift from the input position: the N home atoms first
    (image 0), then each atom's other images.  Only translations that can
    reach the slab [-reach, 1 + reach) are tried.  ``work``: as for
    :func:`neighbor_list`.  (Compiled rather than numpy: a numpy matmul
    wakes the BLAS thread pool, which then spins on the cores the OpenMP
    threads need.)
    """
    cdef Py_ssize_t n = pos.shape[0], i, k, c, count = 0, m0, m1, m2
    cdef Py_ssize_t lo[3]
    cdef Py_ssize_t hi[3]
    cdef Py_ssize_t m[3]
    cdef double s[3]
    cdef bint ok
    cdef Py_ssize_t ni = (2 * nimg[0] + 1) * (2 * nimg[1] + 1) * (2 * nimg[2] + 1)
    pts_a = _buffer(work, "points", n * ni, (3,))
    atom_a = _buffer(work, "point_atom", n * ni, (), np.intp)
    shift_a = _buffer(work, "point_shift", n * ni, (3,))
    frac_a = _buffer(work, "frac", n, (3,))
    wrap_a = _buffer(work, "wrap", n, (3,))
    cdef double[:, ::1] pts = pts_a
    cdef Py_ssize_t[::1] atom = atom_a
    cdef double[:, ::1] shift = shift_a
    cdef double[:, ::1] frac = frac_a
    cdef double[:, ::1] wrap = wrap_a
    with nogil:
        for i in range(n):
            for k in range(3):
                s[k] = pos[i, 0] * inv[0, k] + pos[i, 1] * inv[1, k] + pos[i, 2] * inv[2, k]
                wrap[i, k] = -floor(s[k]) if pbc[k] else 0.0
                frac[i, k] = s[k] + wrap[i, k]
    with nogil:
        for i in range(n):
            m[0] = 0
            m[1] = 0
            m[2] = 0
            _image(i, m, frac, wrap, cell, pts, shift, count)
            atom[count] = i
            count += 1
        for i in range(n):
            for k in range(3):
                lo[k] = 0
                hi[k] = 0
                if pbc[k]:
                    # a range that holds every image passing the exact test below
                    lo[k] = max(-nimg[k], <Py_ssize_t>ceil(-reach[k] - frac[i, k] - 1e-9))
                    hi[k] = min(nimg[k], <Py_ssize_t>floor(1.0 + reach[k] - frac[i, k] + 1e-9))
            for m0 in range(lo[0], hi[0] + 1):
                for m1 in range(lo[1], hi[1] + 1):
                    for m2 in range(lo[2], hi[2] + 1):
                        if m0 == 0 and m1 == 0 and m2 == 0:
                            continue
                        m[0] = m0
                        m[1] = m1
                        m[2] = m2
                        ok = True
                        for k in range(3):
                            s[k] = frac[i, k] + m[k]
                            if pbc[k] and (s[k] < -reach[k] - 1e-12 or s[k] >= 1.0 + reach[k] + 1e-12):
                                ok = False
                        if not ok:
                            continue
                        _image(i, m, frac, wrap, cell, pts, shift, count)
                        atom[count] = i
                        count += 1
    return pts_a[:count], atom_a[:count], shift_a[:count]


cdef inline void _image(Py_ssize_t i, const Py_ssize_t* m, const double[:, ::1] frac,
                        const double[:, ::1] wrap, const double[:, ::1] cell, double[:, ::1] pts,
                        double[:, ::1] shift, Py_ssize_t row) noexcept nogil:
    cdef double s0 = frac[i, 0] + m[0], s1 = frac[i, 1] + m[1], s2 = frac[i, 2] + m[2]
    cdef double t0 = wrap[i, 0] + m[0], t1 = wrap[i, 1] + m[1], t2 = wrap[i, 2] + m[2]
    cdef Py_ssize_t c
    for c in range(3):
        pts[row, c] = s0 * cell[0, c] + s1 * cell[1, c] + s2 * cell[2, c]
        shift[row, c] = t0 * cell[0, c] + t1 * cell[1, c] + t2 * cell[2, c]


def moved_beyond(const double[:, ::1] pos, const double[:, ::1] ref, double limit):
    """True when some atom is at least ``limit`` away from its reference
    position, or its position is NaN or infinite (so that a list never
    outlives a non-finite position: the rebuild rejects it).

    The staleness test of a neighbour list with a skin, run every MD step: a
    compiled loop that stops at the first such atom (numpy needed ~45 µs for
    2000 atoms, most of a small system's per-step overhead).
    """
    cdef Py_ssize_t i, n = pos.shape[0]
    cdef double lim2 = limit * limit, dx, dy, dz
    cdef bint moved = False
    if ref.shape[0] != n:
        raise ValueError(f"{n} positions against {ref.shape[0]} reference positions")
    with nogil:
        for i in range(n):
            dx = pos[i, 0] - ref[i, 0]
            dy = pos[i, 1] - ref[i, 1]
            dz = pos[i, 2] - ref[i, 2]
            if not (dx * dx + dy * dy + dz * dz < lim2):  # NaN compares false
                moved = True
                break
    return moved


def same_data(cnp.ndarray a not None, cnp.ndarray b not None):
    """True when two arrays have the same dtype, shape and bytes (memcmp).

    The calculator's per-call "did the atoms change?" test: comparing the
    positions of 2000 atoms through ``tobytes()`` copies cost ~8 µs per call,
    three calls per MD step.  Non-contiguous arrays are compared as copies.
    """
    cdef int k, nd = cnp.PyArray_NDIM(a)
    # shape and contiguity through the C API (a generator over the shapes and
    # two ascontiguousarray calls cost more than the memcmp of 2000 positions)
    if nd != cnp.PyArray_NDIM(b) or not cnp.PyArray_EquivTypes(a.dtype, b.dtype):
        return False
    for k in range(nd):
        if cnp.PyArray_DIMS(a)[k] != cnp.PyArray_DIMS(b)[k]:
            return False
    if not cnp.PyArray_IS_C_CONTIGUOUS(a):
        a = np.ascontiguousarray(a)
    if not cnp.PyArray_IS_C_CONTIGUOUS(b):
        b = np.ascontiguousarray(b)
    return memcmp(cnp.PyArray_DATA(a), cnp.PyArray_DATA(b), <size_t>cnp.PyArray_NBYTES(a)) == 0


def all_finite(const double[:, ::1] a):
    """True when no entry of a (n, 3) array is NaN or infinite (the per-step
    input check of the calculator; numpy's isfinite().all() took ~3 µs)."""
    cdef Py_ssize_t i, n = a.shape[0]
    cdef double s = 0.0
    with nogil:
        for i in range(n):
            # x - x is 0 for finite x and NaN for NaN or infinity
            s += (a[i, 0] - a[i, 0]) + (a[i, 1] - a[i, 1]) + (a[i, 2] - a[i, 2])
    return s == 0.0
