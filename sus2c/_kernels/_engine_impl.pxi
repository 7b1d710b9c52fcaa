"""Energy, forces, virial and per-atom quantities of a sus2c model.

Input is a full neighbour list (every pair in both directions, images
included) in CSR form: for centre i the entries offsets[i]..offsets[i+1]-1
give the neighbour atom nbr[e] and a Cartesian shift so that the bond vector
is d = pos[nbr[e]] + shift[e] - pos[i].

2-body: a bond is evaluated once, from the end with the smaller index (for an
atom and its own image: from the entry whose shift is lexicographically
positive), and its force is applied to both ends.  3-body: every unordered
neighbour pair {j, k} of centre i within the 3-body cutoffs.  Forces, virials
and per-atom quantities go to per-thread buffers, so threads never write to
the same memory; the threads then sum the buffers atom by atom in the same
parallel region.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport sqrt
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memset

from sus2c._kernels._bspline cimport sus2c_basis4, sus2c_basis4_d2, sus2c_triplet4

cdef extern from "_omp.h" nogil:
    void sus2c_barrier() noexcept
    int sus2c_team_size() noexcept

cnp.import_array()


cdef class CompiledModel:
    """Flat tables of a model (built by sus2c/_tables.py)."""
    cdef public int n_elements
    cdef public object pair_of, rc2, rc3, rc
    cdef public object p2_start, p2_lo, p2_hi, p2_invh, p2_n, p2_coef, p2_tab, p2_wall, p2_poly
    cdef public object trip_of, trip_swap, p3_start, p3_lo, p3_hi, p3_invh, p3_n, p3_coef, p3_tab
    cdef public object coef, tab
    cdef public object p3_base
    cdef public int p3_slots
    # the same arrays as typed views, acquired once (not on every kernel call)
    cdef const int[::1] v_pair_of, v_p2_start, v_p2_n, v_trip_of, v_trip_swap, v_p3_start, v_p3_n, v_p3_base
    cdef const double[::1] v_rc2, v_rc3, v_p2_lo, v_p2_hi, v_p2_invh, v_p2_wall, v_p2_poly
    cdef const double[::1] v_p3_lo, v_p3_hi, v_p3_invh, v_coef, v_tab
    cdef const Py_ssize_t[::1] v_p2_poly_off, v_p2_coef, v_p2_tab, v_p3_coef, v_p3_tab

    def __init__(self, n_elements, pair_of, rc2, rc3, p2_start, p2_lo, p2_hi, p2_invh, p2_n,
                 p2_coef, p2_tab, p2_wall, trip_of, trip_swap, p3_start, p3_lo, p3_hi, p3_invh,
                 p3_n, p3_coef, p3_tab, coef, tab):
        self.n_elements = n_elements
        self.pair_of, self.rc2, self.rc3 = pair_of, rc2, rc3
        self.rc = np.maximum(rc2, rc3)
        self.p2_start, self.p2_lo, self.p2_hi, self.p2_invh = p2_start, p2_lo, p2_hi, p2_invh
        self.p2_n, self.p2_coef, self.p2_tab, self.p2_wall = p2_n, p2_coef, p2_tab, p2_wall
        self.trip_of, self.trip_swap, self.p3_start = trip_of, trip_swap, p3_start
        self.p3_lo, self.p3_hi, self.p3_invh, self.p3_n = p3_lo, p3_hi, p3_invh, p3_n
        self.p3_coef, self.p3_tab = p3_coef, p3_tab
        self.coef, self.tab = coef, tab
        # parts of the triplets of one centre element are contiguous: remember
        # where they start and how many there are at most (basis cache slots)
        self.p3_base = np.zeros(n_elements, dtype=np.int32)
        self.p3_slots = 0
        for a in range(n_elements):
            ts = set(int(t) for t in trip_of[a * n_elements ** 2:(a + 1) * n_elements ** 2]) - {-1}
            if ts:
                lo = min(int(p3_start[t]) for t in ts)
                hi = max(int(p3_start[t + 1]) for t in ts)
                if hi - lo != sum(int(p3_start[t + 1] - p3_start[t]) for t in ts):
                    raise ValueError("3-body parts of one centre element must be contiguous")
                self.p3_base[a] = lo
                self.p3_slots = max(self.p3_slots, hi - lo)
        # 2-body parts as one cubic polynomial per interval: phi = sum_p P[mu][p] u^p
        polys = []
        offs = []
        off = 0
        for q in range(len(p2_lo)):
            n = int(p2_n[q])
            T = tab[p2_tab[q]:p2_tab[q] + 16 * n].reshape(n, 4, 4)  # [interval][power][k]
            c = coef[p2_coef[q]:p2_coef[q] + n + 3]
            P = np.einsum("mpk,mk->mp", T, np.stack([c[m:m + 4] for m in range(n)]))
            polys.append(P.ravel())
            offs.append(off)
            off += 4 * n
        self.p2_poly = (np.ascontiguousarray(np.concatenate(polys)) if polys else np.zeros(1),
                        np.ascontiguousarray(offs, dtype=np.intp))
        self.v_pair_of, self.v_p2_start, self.v_p2_n = pair_of, p2_start, p2_n
        self.v_trip_of, self.v_trip_swap, self.v_p3_start, self.v_p3_n = trip_of, trip_swap, p3_start, p3_n
        self.v_p3_base = self.p3_base
        self.v_rc2, self.v_rc3, self.v_p2_lo, self.v_p2_hi, self.v_p2_invh = rc2, rc3, p2_lo, p2_hi, p2_invh
        self.v_p2_wall, self.v_p2_poly, self.v_p2_poly_off = p2_wall, self.p2_poly[0], self.p2_poly[1]
        self.v_p3_lo, self.v_p3_hi, self.v_p3_invh, self.v_coef, self.v_tab = p3_lo, p3_hi, p3_invh, coef, tab
        self.v_p2_coef, self.v_p2_tab, self.v_p3_coef, self.v_p3_tab = p2_coef, p2_tab, p3_coef, p3_tab

    @property
    def max_cutoff(self):
        return float(np.max(self.rc)) if len(self.rc) else 0.0


cdef inline double _pair(double r, double lo, double inv_h, int n, const double* P,
                         double wall, double* dphi, int* below) noexcept nogil:
    """phi(r) and dphi/dr of one 2-body part (caller checks r < hi)."""
    cdef double u = (r - lo) * inv_h
    cdef int mu
    cdef const double* c
    if u < 0.0:
        below[0] = 1
        c = P
        dphi[0] = (c[1] + 2.0 * u * c[2] - 3.0 * wall * u * u) * inv_h
        return c[0] + u * (c[1] + u * c[2]) - wall * u * u * u
    mu = <int>u
    if mu >= n:
        mu = n - 1
    u = u - mu
    c = P + 4 * mu
    dphi[0] = (c[1] + u * (2.0 * c[2] + 3.0 * u * c[3])) * inv_h
    return c[0] + u * (c[1] + u * (c[2] + u * c[3]))


cdef inline void _bond(double g, double r, const double* d, double* fi, double* fj,
                       double* vir, double* vi, double* vj) noexcept nogil:
    """Apply dE/dr = g of the bond d = x_j - x_i: forces, virial, per-atom virial halves."""
    cdef double s = g / r
    cdef double fx = s * d[0], fy = s * d[1], fz = s * d[2]
    fi[0] += fx
    fi[1] += fy
    fi[2] += fz
    fj[0] -= fx
    fj[1] -= fy
    fj[2] -= fz
    cdef double w0 = fx * d[0], w1 = fy * d[1], w2 = fz * d[2]
    cdef double w3 = fy * d[2], w4 = fx * d[2], w5 = fx * d[1]
    vir[0] += w0
    vir[1] += w1
    vir[2] += w2
    vir[3] += w3
    vir[4] += w4
    vir[5] += w5
    if vi != NULL:
        vi[0] += 0.5 * w0
        vi[1] += 0.5 * w1
        vi[2] += 0.5 * w2
        vi[3] += 0.5 * w3
        vi[4] += 0.5 * w4
        vi[5] += 0.5 * w5
        vj[0] += 0.5 * w0
        vj[1] += 0.5 * w1
        vj[2] += 0.5 * w2
        vj[3] += 0.5 * w3
        vj[4] += 0.5 * w4
        vj[5] += 0.5 * w5


def compute(CompiledModel model, const double[:, ::1] pos, const int[::1] types,
            const Py_ssize_t[::1] offsets, const Py_ssize_t[::1] nbr, const double[:, ::1] shift,
            bint per_atom, int nthreads):
    """Energy (without one-body terms), forces, virial and optional per-atom values.

    Returns a dict: energy, forces (N,3), virial (6, Voigt xx yy zz yz xz xy,
    sum over bonds of dE/dr d(x)d/r: stress = virial / volume), and when
    per_atom: energies (N,), virials (N,6); always: below (N,) flags of atoms
    in a bond shorter than a term's first knot, and coincident (i, j) or None.
    """
    cdef Py_ssize_t N = pos.shape[0]
    cdef int nt = max(1, nthreads)
    cdef int ne = model.n_elements
    cdef const int[::1] pair_of = model.v_pair_of
    cdef const double[::1] rc2 = model.v_rc2
    cdef const double[::1] rc3 = model.v_rc3
    cdef const int[::1] p2_start = model.v_p2_start
    cdef const double[::1] p2_lo = model.v_p2_lo
    cdef const double[::1] p2_hi = model.v_p2_hi
    cdef const double[::1] p2_invh = model.v_p2_invh
    cdef const int[::1] p2_n = model.v_p2_n
    cdef const double[::1] p2_wall = model.v_p2_wall
    cdef const double[::1] p2_poly = model.v_p2_poly
    cdef const Py_ssize_t[::1] p2_poly_off = model.v_p2_poly_off
    cdef const int[::1] trip_of = model.v_trip_of
    cdef const int[::1] trip_swap = model.v_trip_swap
    cdef const int[::1] p3_start = model.v_p3_start
    cdef const double[::1] p3_lo = model.v_p3_lo
    cdef const double[::1] p3_hi = model.v_p3_hi
    cdef const double[::1] p3_invh = model.v_p3_invh
    cdef const int[::1] p3_n = model.v_p3_n
    cdef const Py_ssize_t[::1] p3_coef = model.v_p3_coef
    cdef const Py_ssize_t[::1] p3_tab = model.v_p3_tab
    cdef const double[::1] coef = model.v_coef
    cdef const double[::1] tab = model.v_tab
    cdef bint has3 = len(model.p3_start) > 1
    cdef const int[::1] p3_base = model.v_p3_base
    cdef Py_ssize_t nslots = max(1, model.p3_slots)

    cdef Py_ssize_t maxnb = 0, i
    for i in range(N):
        if offsets[i + 1] - offsets[i] > maxnb:
            maxnb = offsets[i + 1] - offsets[i]

    if N == 0:
        return dict(energy=0.0, forces=np.zeros((0, 3)), virial=np.zeros(6),
                    energies=np.zeros(0) if per_atom else None,
                    virials=np.zeros((0, 6)) if per_atom else None,
                    below=np.zeros(0, dtype=bool), coincident=None)

    # per-thread buffers: each thread zeroes its own rows inside the parallel
    # region (a serial np.zeros of (threads, N, 3) was part of the serial
    # time of every call); the per-atom ones exist only when asked for
    f_a = np.empty((nt, N, 3))
    below_a = np.empty((nt, N), dtype=np.int8)
    cdef double[:, :, ::1] fbuf = f_a
    cdef cnp.int8_t[:, ::1] belowbuf = below_a
    cdef double[:, ::1] ebuf = None
    cdef double[:, :, ::1] vbuf = None
    if per_atom:
        e_a = np.empty((nt, N))
        v_a = np.empty((nt, N, 6))
        ebuf = e_a
        vbuf = v_a
    # sums over threads (with one thread the buffers are the results)
    forces_a = np.empty((N, 3)) if nt > 1 else f_a[0]
    energies_a = (np.empty(N) if nt > 1 else e_a[0]) if per_atom else None
    virials_a = (np.empty((N, 6)) if nt > 1 else v_a[0]) if per_atom else None
    flags_a = np.empty(N, dtype=np.int8) if nt > 1 else below_a[0]
    cdef double[:, ::1] fsum = forces_a
    cdef double[::1] esum = energies_a
    cdef double[:, ::1] vsum = virials_a
    cdef cnp.int8_t[::1] flags = flags_a
    cdef double sx, sy, sz
    cdef cnp.int8_t sb
    cdef int tt, vz, team, zr

    cdef Py_ssize_t z
    cdef int tid, ti, tj, tk, p, q, t, swap, n0, n1, n2, ma, mb, mc, flag
    cdef Py_ssize_t e, e2, j, k, jj, kk, n3, J, K
    cdef double r, g, phi, v, ga, gb, gc, rjk
    cdef double* scratch
    cdef double* acc
    cdef double* cache
    cdef double* gsum
    cdef double* f3
    cdef double* out3
    cdef Py_ssize_t c, c2, qb
    cdef double* d
    cdef double* d3
    cdef double* r3
    cdef Py_ssize_t* j3
    cdef int* t3
    cdef double* A
    cdef double* dA
    cdef double* B
    cdef double* dB
    cdef double* G
    cdef double* dG
    cdef double* djk
    cdef double* vi
    cdef double* vj
    cdef double* vk

    virial_a = np.zeros(6)
    # per thread: energy, virial[6], spare; the (i, j) of a coincident pair
    # (nothing between these allocations and their release can raise)
    cdef double* tot = <double*>calloc(8 * nt, sizeof(double))
    cdef Py_ssize_t* bad = <Py_ssize_t*>malloc(2 * nt * sizeof(Py_ssize_t))
    if tot == NULL or bad == NULL:
        free(tot)
        free(bad)
        raise MemoryError()
    for tt in range(2 * nt):
        bad[tt] = -1

    with nogil, parallel(num_threads=nt):
        tid = threadid()
        # thread tid zeroes rows tid, tid + team, ...: its own row, and the
        # rows of threads the runtime did not start (if it gave fewer)
        team = sus2c_team_size()
        zr = tid
        while zr < nt:
            memset(&fbuf[zr, 0, 0], 0, N * 3 * sizeof(double))
            memset(&belowbuf[zr, 0], 0, N)
            if per_atom:
                memset(&ebuf[zr, 0], 0, N * sizeof(double))
                memset(&vbuf[zr, 0, 0], 0, N * 6 * sizeof(double))
            zr = zr + team
        scratch = <double*>malloc(sizeof(double) * (8 * maxnb + 48))
        cache = <double*>malloc(sizeof(double) * (20 * (maxnb + 1) * nslots + 1))
        for z in range(20 * (maxnb + 1) * nslots):
            cache[z] = -1.0
        j3 = <Py_ssize_t*>malloc(sizeof(Py_ssize_t) * (maxnb + 1))
        t3 = <int*>malloc(sizeof(int) * (maxnb + 1))
        d = scratch
        djk = scratch + 3
        A = scratch + 6
        dA = scratch + 10
        B = scratch + 14
        dB = scratch + 18
        G = scratch + 22
        dG = scratch + 26
        acc = scratch + 33
        for z in range(7):
            acc[z] = 0.0
        r3 = scratch + 48
        d3 = scratch + 48 + maxnb
        gsum = scratch + 48 + 4 * maxnb
        f3 = scratch + 48 + 5 * maxnb
        out3 = scratch + 40
        for i in prange(N, schedule="dynamic", chunksize=16):
            ti = types[i]
            n3 = 0
            vi = NULL
            if per_atom:
                vi = &vbuf[tid, i, 0]
            for e in range(offsets[i], offsets[i + 1]):
                j = nbr[e]
                d[0] = pos[j, 0] + shift[e, 0] - pos[i, 0]
                d[1] = pos[j, 1] + shift[e, 1] - pos[i, 1]
                d[2] = pos[j, 2] + shift[e, 2] - pos[i, 2]
                r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
                if r < 1e-8:
                    bad[2 * tid] = i
                    bad[2 * tid + 1] = j
                    continue
                tj = types[j]
                p = pair_of[ti * ne + tj]
                if has3 and r < rc3[p]:
                    r3[n3] = r
                    d3[3 * n3] = d[0]
                    d3[3 * n3 + 1] = d[1]
                    d3[3 * n3 + 2] = d[2]
                    j3[n3] = j
                    t3[n3] = tj
                    n3 = n3 + 1
                if r >= rc2[p]:
                    continue
                # each bond once: from the smaller index, or the positive image
                if j < i:
                    continue
                if j == i:
                    if shift[e, 0] < 0 or (shift[e, 0] == 0 and (shift[e, 1] < 0 or (shift[e, 1] == 0 and shift[e, 2] < 0))):
                        continue
                phi = 0.0
                g = 0.0
                flag = 0
                for q in range(p2_start[p], p2_start[p + 1]):
                    if r < p2_hi[q]:
                        phi = phi + _pair(r, p2_lo[q], p2_invh[q], p2_n[q],
                                          &p2_poly[p2_poly_off[q]], p2_wall[q], &ga, &flag)
                        g = g + ga
                if flag:
                    belowbuf[tid, i] = 1
                    belowbuf[tid, j] = 1
                acc[0] += phi
                if per_atom:
                    ebuf[tid, i] += 0.5 * phi
                    ebuf[tid, j] += 0.5 * phi
                    _bond(g, r, d, &fbuf[tid, i, 0], &fbuf[tid, j, 0], &acc[1], vi, &vbuf[tid, j, 0])
                else:
                    _bond(g, r, d, &fbuf[tid, i, 0], &fbuf[tid, j, 0], &acc[1], NULL, NULL)

            # ---- 3-body: unordered neighbour pairs {j, k} of centre i.
            # The ij/ik legs' bases are cached per (neighbour, part, role), and
            # their forces are collected as one scalar per neighbour (sum of
            # dV/dr / r), applied once after the pair loop.
            if n3 < 2:
                continue
            for jj in range(n3):
                gsum[jj] = 0.0
                f3[3 * jj] = 0.0
                f3[3 * jj + 1] = 0.0
                f3[3 * jj + 2] = 0.0
            qb = p3_base[ti]
            for jj in range(n3):
                for kk in range(jj + 1, n3):
                    t = ti * ne * ne + t3[jj] * ne + t3[kk]
                    swap = trip_swap[t]
                    t = trip_of[t]
                    if t < 0:
                        continue
                    if swap:
                        J = kk
                        K = jj
                    else:
                        J = jj
                        K = kk
                    djk[0] = d3[3 * K] - d3[3 * J]
                    djk[1] = d3[3 * K + 1] - d3[3 * J + 1]
                    djk[2] = d3[3 * K + 2] - d3[3 * J + 2]
                    rjk = sqrt(djk[0] * djk[0] + djk[1] * djk[1] + djk[2] * djk[2])
                    v = 0.0
                    ga = 0.0
                    gb = 0.0
                    gc = 0.0
                    flag = 0
                    for q in range(p3_start[t], p3_start[t + 1]):
                        if r3[J] >= p3_hi[3 * q] or r3[K] >= p3_hi[3 * q + 1] or rjk >= p3_hi[3 * q + 2]:
                            continue
                        if rjk < 1e-8:
                            bad[2 * tid] = j3[J]
                            bad[2 * tid + 1] = j3[K]
                            continue
                        if r3[J] < p3_lo[3 * q] or r3[K] < p3_lo[3 * q + 1] or rjk < p3_lo[3 * q + 2]:
                            flag = 1
                        c = ((J * nslots + q - qb) * 2) * 10
                        if cache[c + 9] != <double>i:
                            cache[c + 9] = <double>i
                            cache[c] = sus2c_basis4(r3[J], p3_lo[3 * q], p3_invh[3 * q], p3_n[3 * q],
                                             &tab[p3_tab[3 * q]], &cache[c + 1], &cache[c + 5])
                        ma = <int>cache[c]
                        c2 = ((K * nslots + q - qb) * 2 + 1) * 10
                        if cache[c2 + 9] != <double>i:
                            cache[c2 + 9] = <double>i
                            cache[c2] = sus2c_basis4(r3[K], p3_lo[3 * q + 1], p3_invh[3 * q + 1], p3_n[3 * q + 1],
                                              &tab[p3_tab[3 * q + 1]], &cache[c2 + 1], &cache[c2 + 5])
                        mb = <int>cache[c2]
                        mc = sus2c_basis4(rjk, p3_lo[3 * q + 2], p3_invh[3 * q + 2], p3_n[3 * q + 2],
                                   &tab[p3_tab[3 * q + 2]], G, dG)
                        v = v + sus2c_triplet4(&coef[p3_coef[q]], p3_n[3 * q + 1] + 3, p3_n[3 * q + 2] + 3,
                                         ma, mb, mc, &cache[c + 1], &cache[c + 5],
                                         &cache[c2 + 1], &cache[c2 + 5], G, dG, &out3[0], &out3[1], &out3[2])
                        ga = ga + out3[0]
                        gb = gb + out3[1]
                        gc = gc + out3[2]
                    if v == 0.0 and ga == 0.0 and gb == 0.0 and gc == 0.0:
                        continue
                    if flag:
                        belowbuf[tid, i] = 1
                        belowbuf[tid, j3[J]] = 1
                        belowbuf[tid, j3[K]] = 1
                    acc[0] += v
                    gsum[J] += ga / r3[J]
                    gsum[K] += gb / r3[K]
                    if per_atom:
                        ebuf[tid, i] += v
                        _bond(gc, rjk, djk, &f3[3 * J], &f3[3 * K], &acc[1],
                              &vbuf[tid, j3[J], 0], &vbuf[tid, j3[K], 0])
                    else:
                        _bond(gc, rjk, djk, &f3[3 * J], &f3[3 * K], &acc[1], NULL, NULL)
            for jj in range(n3):
                j = j3[jj]
                fbuf[tid, j, 0] += f3[3 * jj]
                fbuf[tid, j, 1] += f3[3 * jj + 1]
                fbuf[tid, j, 2] += f3[3 * jj + 2]
                if gsum[jj] != 0.0:
                    if per_atom:
                        _bond(gsum[jj] * r3[jj], r3[jj], &d3[3 * jj], &fbuf[tid, i, 0], &fbuf[tid, j, 0],
                              &acc[1], vi, &vbuf[tid, j, 0])
                    else:
                        _bond(gsum[jj] * r3[jj], r3[jj], &d3[3 * jj], &fbuf[tid, i, 0], &fbuf[tid, j, 0],
                              &acc[1], NULL, NULL)
        for z in range(7):
            tot[8 * tid + z] = acc[z]
        free(scratch)
        free(cache)
        free(j3)
        free(t3)
        if nt > 1:
            # every thread's buffers are complete once all threads get here
            sus2c_barrier()
            for i in prange(N, schedule="static"):
                sx = 0.0
                sy = 0.0
                sz = 0.0
                sb = 0
                for tt in range(nt):
                    sx = sx + fbuf[tt, i, 0]
                    sy = sy + fbuf[tt, i, 1]
                    sz = sz + fbuf[tt, i, 2]
                    sb = sb | belowbuf[tt, i]
                fsum[i, 0] = sx
                fsum[i, 1] = sy
                fsum[i, 2] = sz
                flags[i] = sb
                if per_atom:
                    sx = 0.0
                    for tt in range(nt):
                        sx = sx + ebuf[tt, i]
                    esum[i] = sx
                    for vz in range(6):
                        sx = 0.0
                        for tt in range(nt):
                            sx = sx + vbuf[tt, i, vz]
                        vsum[i, vz] = sx

    cdef double energy = 0.0
    cdef double[::1] virial = virial_a
    cdef Py_ssize_t ci = -1, cj = -1
    for tt in range(nt):
        energy += tot[8 * tt]
        for vz in range(6):
            virial[vz] += tot[8 * tt + 1 + vz]
        if bad[2 * tt] >= 0:
            ci = min(bad[2 * tt], bad[2 * tt + 1])
            cj = max(bad[2 * tt], bad[2 * tt + 1])
    free(tot)
    free(bad)
    coincident = (int(ci), int(cj)) if ci >= 0 else None
    return dict(
        energy=energy,
        forces=forces_a,
        virial=virial_a,
        energies=energies_a,
        virials=virials_a,
        below=flags_a.view(bool),
        coincident=coincident,
    )


include "_features_impl.pxi"

include "_jacobian_impl.pxi"
