"""Design rows for fitting: the derivative of every target with respect to
every free coefficient, written into a dense block X.

The model's layout arrives as a CompiledModel whose "coefficients" are
column numbers + 1 (0 = not a free coefficient: trimmed), built from the
same r-space parts as the energy kernel (sus2c/compile.py) and walked by the
same rules (_common.pxd), so the fitted model and the calculator cannot
disagree.  Symmetric like-triplets map
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
    cdef const Tables* T = &layout.t
    cdef const double* cols = T.coef
    below_a = np.zeros(S, dtype=np.intp)
    cdef Py_ssize_t[::1] below = below_a
    cdef double* Xp = &X[0, 0] if X.shape[0] > 0 else NULL
    cdef const double* P = _rows_ptr(pos)
    cdef const double* SH = _rows_ptr(shift)
    cdef const int* ty = &types[0] if types.shape[0] > 0 else NULL
    cdef const Py_ssize_t* nb = &nbr[0] if nbr.shape[0] > 0 else NULL
    cdef Py_ssize_t maxnb = max_neighbours(&offsets[0], offsets.shape[0] - 1)

    cdef Py_ssize_t s, i, e, j, a0, erow, srow, fi, fj, fk, col, jj, kk, J, K, base, nbelow
    cdef int ti, p, q, t, ma, mb, mc, l, m, n, s1, s2
    cdef double r, rjk, inv_v, sc, val, gA, gB, gC, ab, dab, adb
    cdef int nch = T.K, ne = T.ne, ch, b3, c3
    cdef double esc
    cdef double* rho
    cdef double* dder
    cdef double* eB
    cdef double* edB
    cdef double* ed2B
    cdef Walk* W
    cdef Legs* L
    cdef Block blk
    cdef Bond b
    cdef double* buf
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

    with nogil, parallel(num_threads=nt):
        W = walk_new(maxnb)
        L = legs_new(maxnb, ne)
        buf = <double*>malloc(sizeof(double) * (64 + nch * (maxnb + 1)))
        djk = buf
        A = buf + 4
        dA = buf + 8
        B = buf + 12
        dB = buf + 16
        G = buf + 20
        dG = buf + 24
        uA = buf + 28
        uB = buf + 32
        uC = buf + 36
        eB = buf + 40
        edB = buf + 44
        ed2B = buf + 48
        rho = buf + 64
        dder = rho + nch
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
                ti = ty[i]
                fi = erow + 1 + 3 * (i - a0)
                walk_start(W)
                for e in range(offsets[i], offsets[i + 1]):
                    b = visit(T, W, i, ti, e, P, ty, nb, SH)
                    if b.what != ENTRY_BOND:
                        continue
                    r = b.r
                    p = b.p
                    fj = erow + 1 + 3 * (b.j - a0)
                    for q in range(T.p2_start[p], T.p2_start[p + 1]):
                        if r >= T.p2_hi[q]:
                            continue
                        if r < T.p2_lo[q]:
                            nbelow = nbelow + 1
                        ma = sus2c_basis4(r, T.p2_lo[q], T.p2_invh[q], T.p2_n[q], &T.tab[T.p2_tab[q]], A, dA)
                        sc = scale2[q]
                        for l in range(4):
                            col = <Py_ssize_t>cols[T.p2_coef[q] + ma + l] - 1
                            if col >= 0:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, col, sc * A[l], sc * dA[l], r, b.d)
                # embedding: the rows of F's coefficients, eps B_m(rho_i) for the
                # energy and eps B_m'(rho_i) drho_i/dr_ij on every bond for the forces
                for ch in range(nch):
                    rho[ch] = 0.0
                for jj in range(W.ne):
                    for ch in range(nch):
                        q = T.d_part[(ti * ne + W.te[jj]) * nch + ch]
                        gA = 0.0
                        if q >= 0 and W.re[jj] < T.d_hi[q]:
                            rho[ch] = rho[ch] + density(T, q, W.re[jj], &gA)
                            if W.re[jj] < T.d_lo[q]:
                                nbelow = nbelow + 1
                        dder[jj * nch + ch] = gA
                for ch in range(nch):
                    q = T.e_part[ti * nch + ch]
                    if q < 0:
                        continue
                    ma = embed_basis(T, q, rho[ch], eB, edB, ed2B)
                    esc = T.e_scale[q]
                    for l in range(4):
                        col = <Py_ssize_t>cols[T.e_coef[q] + ma + l] - 1
                        if col < 0:
                            continue
                        Xp[erow * ld + col] += esc * eB[l]
                        for jj in range(W.ne):
                            gA = esc * edB[l] * dder[jj * nch + ch]
                            if gA != 0.0:
                                _rows(Xp, ld, erow, fi, erow + 1 + 3 * (W.je[jj] - a0), srow, inv_v, col, 0.0, gA,
                                      W.re[jj], &W.de[3 * jj])
                # 3-body: unordered neighbour pairs {j, k} of centre i, block by block
                # (_common.pxd); the rows of a block's triplets are written in _simd.h
                if W.n3 < 2:
                    continue
                group3(T, W, L)
                for jj in range(W.n3):
                    L.fr[jj] = erow + 1 + 3 * (W.j3[jj] - a0)
                for b3 in range(ne):
                    for c3 in range(b3, ne):
                        blk = triplet_block(T, ti, L, b3, c3)
                        if blk.t < 0:
                            continue
                        for q in range(T.p3_start[blk.t], T.p3_start[blk.t + 1]):
                            block_legs(T, W, L, q, &blk)
                            nbelow = nbelow + sus2c_design3(
                                &cols[T.p3_coef[q]], T.p3_n[3 * q + 1] + 3, T.p3_n[3 * q + 2] + 3, scale3[q],
                                T.p3_lo[3 * q + 2], T.p3_hi[3 * q + 2], T.p3_invh[3 * q + 2], T.p3_n[3 * q + 2],
                                &T.tab[T.p3_tab[3 * q + 2]], W.d3, W.r3, L.ir, L.fr,
                                &L.order[blk.j0], blk.nj, L.mA, L.bA, L.fA,
                                &L.order[blk.k0], blk.nk, L.mB, L.bB, L.fB, blk.tri,
                                Xp, ld, erow, fi, srow, inv_v)
            below[s] = nbelow
        free(buf)
        legs_free(L)
        walk_free(W)
    return below_a
