"""Design rows for fitting: the derivative of every target with respect to
every free coefficient, written into a dense block X.

The model's layout arrives as a CompiledModel whose "coefficients" are
column numbers + 1 (0 = not a free coefficient: trimmed), built from the
same r-space parts as the energy kernel (sus2c/_tables.py), so the fitted
model and the calculator cannot disagree.  Symmetric like-triplets map
(l, m, n) and (m, l, n) to the same column, so their features add.  Each
part has a scale (1 for specific parts, w_a w_b or w_a w_b w_c for universal
ones).

Rows of structure s start at row_start[s]: the total energy, then 3 N force
components (atom-major), then, when volume[s] > 0, six stress components
(Voigt xx yy zz yz xz xy, ASE sign, virial / volume).  Structures are
processed in parallel; each writes only its own rows.
"""
cdef inline void _rows(double* X, Py_ssize_t ld, Py_ssize_t erow, Py_ssize_t frow_i,
                       Py_ssize_t frow_j, Py_ssize_t srow, double inv_v, Py_ssize_t col,
                       double val, double g, double r, const double* d) noexcept nogil:
    """Feature of one bond d = x_j - x_i (value val, dval/dr g) for column col."""
    cdef double s = g / r
    cdef double* x = X + col
    x[erow * ld] += val
    x[(frow_i) * ld] += s * d[0]
    x[(frow_i + 1) * ld] += s * d[1]
    x[(frow_i + 2) * ld] += s * d[2]
    x[(frow_j) * ld] -= s * d[0]
    x[(frow_j + 1) * ld] -= s * d[1]
    x[(frow_j + 2) * ld] -= s * d[2]
    if srow >= 0:
        s = s * inv_v
        x[srow * ld] += s * d[0] * d[0]
        x[(srow + 1) * ld] += s * d[1] * d[1]
        x[(srow + 2) * ld] += s * d[2] * d[2]
        x[(srow + 3) * ld] += s * d[1] * d[2]
        x[(srow + 4) * ld] += s * d[0] * d[2]
        x[(srow + 5) * ld] += s * d[0] * d[1]


cdef inline void _rows3(double* X, Py_ssize_t ld, Py_ssize_t erow, Py_ssize_t fi, Py_ssize_t fj,
                        Py_ssize_t fk, Py_ssize_t srow, double inv_v, Py_ssize_t col, double val,
                        double gA, double gB, double gC, const double* uA, const double* uB,
                        const double* uC, double rA, double rB, double rC) noexcept nogil:
    """Feature of one triplet for column col: value val and its derivatives gA,
    gB, gC along the legs i->j (unit vector uA, length rA), i->k and j->k.

    The same numbers as three _rows calls (one per leg), but each atom's force
    components and each stress component are written once: a third of the
    scattered writes (the rows are far apart in memory)."""
    cdef double* x = X + col
    cdef double ax = gA * uA[0], ay = gA * uA[1], az = gA * uA[2]
    cdef double bx = gB * uB[0], by = gB * uB[1], bz = gB * uB[2]
    cdef double cx = gC * uC[0], cy = gC * uC[1], cz = gC * uC[2]
    cdef double sa, sb, sc
    x[erow * ld] += val
    x[fi * ld] += ax + bx
    x[(fi + 1) * ld] += ay + by
    x[(fi + 2) * ld] += az + bz
    x[fj * ld] += cx - ax
    x[(fj + 1) * ld] += cy - ay
    x[(fj + 2) * ld] += cz - az
    x[fk * ld] -= bx + cx
    x[(fk + 1) * ld] -= by + cy
    x[(fk + 2) * ld] -= bz + cz
    if srow >= 0:
        sa = rA * inv_v
        sb = rB * inv_v
        sc = rC * inv_v
        x[srow * ld] += sa * ax * uA[0] + sb * bx * uB[0] + sc * cx * uC[0]
        x[(srow + 1) * ld] += sa * ay * uA[1] + sb * by * uB[1] + sc * cy * uC[1]
        x[(srow + 2) * ld] += sa * az * uA[2] + sb * bz * uB[2] + sc * cz * uC[2]
        x[(srow + 3) * ld] += sa * ay * uA[2] + sb * by * uB[2] + sc * cy * uC[2]
        x[(srow + 4) * ld] += sa * ax * uA[2] + sb * bx * uB[2] + sc * cx * uC[2]
        x[(srow + 5) * ld] += sa * ax * uA[1] + sb * bx * uB[1] + sc * cx * uC[1]


def design(CompiledModel layout, const double[::1] scale2, const double[::1] scale3,
           const double[:, ::1] pos, const int[::1] types, const Py_ssize_t[::1] atom_start,
           const Py_ssize_t[::1] offsets, const Py_ssize_t[::1] nbr, const double[:, ::1] shift,
           const double[::1] volume, const Py_ssize_t[::1] row_start, double[:, ::1] X,
           int nthreads):
    """Fill X (zeroed by the caller) with the design rows of a batch of structures.

    Returns, per structure, the number of bonds or triplet legs shorter than a
    term's first knot (such data lies outside the fitted range).
    """
    cdef Py_ssize_t S = atom_start.shape[0] - 1
    cdef Py_ssize_t ld = X.shape[1]
    cdef int nt = max(1, nthreads)
    cdef int ne = layout.n_elements
    cdef const int[::1] pair_of = layout.pair_of
    cdef const double[::1] rc2 = layout.rc2
    cdef const double[::1] rc3 = layout.rc3
    cdef const int[::1] p2_start = layout.p2_start
    cdef const double[::1] p2_lo = layout.p2_lo
    cdef const double[::1] p2_hi = layout.p2_hi
    cdef const double[::1] p2_invh = layout.p2_invh
    cdef const int[::1] p2_n = layout.p2_n
    cdef const Py_ssize_t[::1] p2_coef = layout.p2_coef
    cdef const Py_ssize_t[::1] p2_tab = layout.p2_tab
    cdef const int[::1] trip_of = layout.trip_of
    cdef const int[::1] trip_swap = layout.trip_swap
    cdef const int[::1] p3_start = layout.p3_start
    cdef const double[::1] p3_lo = layout.p3_lo
    cdef const double[::1] p3_hi = layout.p3_hi
    cdef const double[::1] p3_invh = layout.p3_invh
    cdef const int[::1] p3_n = layout.p3_n
    cdef const Py_ssize_t[::1] p3_coef = layout.p3_coef
    cdef const Py_ssize_t[::1] p3_tab = layout.p3_tab
    cdef const double[::1] cols = layout.coef
    cdef const double[::1] tab = layout.tab
    cdef bint has3 = len(layout.p3_start) > 1
    below_a = np.zeros(S, dtype=np.intp)
    cdef Py_ssize_t[::1] below = below_a
    cdef double* Xp = &X[0, 0] if X.shape[0] > 0 else NULL

    cdef Py_ssize_t maxnb = 1, a
    for a in range(offsets.shape[0] - 1):
        if offsets[a + 1] - offsets[a] > maxnb:
            maxnb = offsets[a + 1] - offsets[a]

    cdef Py_ssize_t s, i, e, j, a0, erow, srow, fi, fj, fk, col, jj, kk, J, K, base, nbelow
    cdef int ti, tj, p, q, t, swap, ma, mb, mc, l, m, n, n3, s1, s2
    cdef double r, rjk, inv_v, sc, val, gA, gB, gC, ab, dab, adb
    cdef double* buf
    cdef double* d
    cdef double* djk
    cdef double* A
    cdef double* dA
    cdef double* B
    cdef double* dB
    cdef double* G
    cdef double* dG
    cdef double* uA
    cdef double* uB
    cdef double* uC
    cdef double* r3
    cdef double* d3
    cdef Py_ssize_t* j3
    cdef int* t3

    with nogil, parallel(num_threads=nt):
        buf = <double*>malloc(sizeof(double) * (48 + 4 * maxnb))
        j3 = <Py_ssize_t*>malloc(sizeof(Py_ssize_t) * maxnb)
        t3 = <int*>malloc(sizeof(int) * maxnb)
        d = buf
        djk = buf + 3
        A = buf + 6
        dA = buf + 10
        B = buf + 14
        dB = buf + 18
        G = buf + 22
        dG = buf + 26
        uA = buf + 32
        uB = buf + 35
        uC = buf + 38
        r3 = buf + 48
        d3 = buf + 48 + maxnb
        for s in prange(S, schedule="dynamic"):
            a0 = atom_start[s]
            erow = row_start[s]
            srow = -1
            inv_v = 0.0
            if volume[s] > 0:
                srow = erow + 1 + 3 * (atom_start[s + 1] - a0)
                inv_v = 1.0 / volume[s]
            nbelow = 0
            for i in range(a0, atom_start[s + 1]):
                ti = types[i]
                fi = erow + 1 + 3 * (i - a0)
                n3 = 0
                for e in range(offsets[i], offsets[i + 1]):
                    j = nbr[e]
                    d[0] = pos[j, 0] + shift[e, 0] - pos[i, 0]
                    d[1] = pos[j, 1] + shift[e, 1] - pos[i, 1]
                    d[2] = pos[j, 2] + shift[e, 2] - pos[i, 2]
                    r = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
                    if r < 1e-8:
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
                    if j < i:
                        continue
                    if j == i:
                        if shift[e, 0] < 0 or (shift[e, 0] == 0 and (shift[e, 1] < 0 or (shift[e, 1] == 0 and shift[e, 2] < 0))):
                            continue
                    fj = erow + 1 + 3 * (j - a0)
                    for q in range(p2_start[p], p2_start[p + 1]):
                        if r >= p2_hi[q]:
                            continue
                        if r < p2_lo[q]:
                            nbelow = nbelow + 1
                        ma = sus2c_basis4(r, p2_lo[q], p2_invh[q], p2_n[q], &tab[p2_tab[q]], A, dA)
                        sc = scale2[q]
                        for l in range(4):
                            col = <Py_ssize_t>cols[p2_coef[q] + ma + l] - 1
                            if col >= 0:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, col, sc * A[l], sc * dA[l], r, d)
                # 3-body: unordered neighbour pairs {j, k} of centre i
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
                        if rjk < 1e-8:
                            continue
                        fj = erow + 1 + 3 * (j3[J] - a0)
                        fk = erow + 1 + 3 * (j3[K] - a0)
                        for l in range(3):
                            uA[l] = d3[3 * J + l] / r3[J]
                            uB[l] = d3[3 * K + l] / r3[K]
                            uC[l] = djk[l] / rjk
                        for q in range(p3_start[t], p3_start[t + 1]):
                            if r3[J] >= p3_hi[3 * q] or r3[K] >= p3_hi[3 * q + 1] or rjk >= p3_hi[3 * q + 2]:
                                continue
                            if r3[J] < p3_lo[3 * q] or r3[K] < p3_lo[3 * q + 1] or rjk < p3_lo[3 * q + 2]:
                                nbelow = nbelow + 1
                            ma = sus2c_basis4(r3[J], p3_lo[3 * q], p3_invh[3 * q], p3_n[3 * q], &tab[p3_tab[3 * q]], A, dA)
                            mb = sus2c_basis4(r3[K], p3_lo[3 * q + 1], p3_invh[3 * q + 1], p3_n[3 * q + 1], &tab[p3_tab[3 * q + 1]], B, dB)
                            mc = sus2c_basis4(rjk, p3_lo[3 * q + 2], p3_invh[3 * q + 2], p3_n[3 * q + 2], &tab[p3_tab[3 * q + 2]], G, dG)
                            s1 = p3_n[3 * q + 1] + 3
                            s2 = p3_n[3 * q + 2] + 3
                            sc = scale3[q]
                            for l in range(4):
                                for m in range(4):
                                    base = p3_coef[q] + ((ma + l) * s1 + (mb + m)) * s2 + mc
                                    ab = sc * A[l] * B[m]
                                    dab = sc * dA[l] * B[m]
                                    adb = sc * A[l] * dB[m]
                                    for n in range(4):
                                        col = <Py_ssize_t>cols[base + n] - 1
                                        if col < 0:
                                            continue
                                        val = ab * G[n]
                                        gA = dab * G[n]
                                        gB = adb * G[n]
                                        gC = ab * dG[n]
                                        _rows3(Xp, ld, erow, fi, fj, fk, srow, inv_v, col, val, gA, gB, gC,
                                               uA, uB, uC, r3[J], r3[K], rjk)
            below[s] = nbelow
        free(buf)
        free(j3)
        free(t3)
    return below_a
