"""Energy, forces, virial and per-atom quantities of a sus2c model.

Input is a full neighbour list (every pair in both directions, images
included; see _common.pxd for the walk).  2-body: each bond once, its force
applied to both ends.  3-body: every unordered neighbour pair {j, k} of
centre i within the 3-body cutoffs.  Forces, virials and per-atom
quantities go to per-thread buffers, so threads never write to the same
memory; the threads then sum the buffers atom by atom in the same parallel
region.
"""


cdef inline double _zbl(double r, const double* z, double* dphi) noexcept nogil:
    """The ZBL core of one pair (z: k Za Zb, 1/a, r_in, r_out, A, B, C; caller checks
    r < r_out) and its r-derivative, with LAMMPS's switching polynomial."""
    cdef double e = 0.0, de = 0.0, x, t
    x = exp(-3.19980 * z[1] * r)
    e += 0.18175 * x
    de -= 0.18175 * 3.19980 * z[1] * x
    x = exp(-0.94229 * z[1] * r)
    e += 0.50986 * x
    de -= 0.50986 * 0.94229 * z[1] * x
    x = exp(-0.40290 * z[1] * r)
    e += 0.28022 * x
    de -= 0.28022 * 0.40290 * z[1] * x
    x = exp(-0.20162 * z[1] * r)
    e += 0.02817 * x
    de -= 0.02817 * 0.20162 * z[1] * x
    # k zz phi(r/a) / r
    dphi[0] = z[0] * (de - e / r) / r
    e = z[0] * e / r + z[6]
    if r > z[2]:
        t = r - z[2]
        e += t * t * t * (z[4] / 3.0 + z[5] / 4.0 * t)
        dphi[0] += t * t * (z[4] + z[5] * t)
    return e


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


cdef void _centre_pairs(const Tables* T, Walk* W, Py_ssize_t i, int ti, Py_ssize_t e0, Py_ssize_t e1,
                               const double* P, const int* ty, const Py_ssize_t* nb, const double* S, double* f,
                               cnp.int8_t* below, double* eat, double* vat, double* acc,
                               Py_ssize_t* bad) noexcept nogil:
    """Centre i's list entries e0 .. e1-1: the walk (gathering its 3-body and
    embedding neighbours and its 2-body bonds into W), then the bonds
    (sus2c_pairs2 in _simd.h) into one thread's forces f (N x 3), flags,
    per-atom energies eat and virials vat (NULL: not wanted) and acc
    (energy, virial[6]).  A bond inside a ZBL core gets the core's energy
    and force at once (rare; its spline part comes with the other bonds)."""
    cdef Py_ssize_t e, j, k
    cdef Bond b
    cdef double phi, g
    cdef int p
    for e in range(e0, e1):
        b = visit(T, W, i, ti, e, P, ty, nb, S)
        if b.what != ENTRY_BOND:
            if sus2c_unlikely(b.what == ENTRY_COINCIDENT):
                bad[0] = i
                bad[1] = b.j
            continue
        j = b.j
        p = b.p
        if sus2c_unlikely(T.has_zbl and b.r < T.zbl[7 * p + 3]):
            phi = _zbl(b.r, &T.zbl[7 * p], &g)
            acc[0] += phi
            if eat != NULL:
                eat[i] += 0.5 * phi
                eat[j] += 0.5 * phi
                _bond(g, b.r, b.d, &f[3 * i], &f[3 * j], &acc[1], &vat[6 * i], &vat[6 * j])
            else:
                _bond(g, b.r, b.d, &f[3 * i], &f[3 * j], &acc[1], NULL, NULL)
        k = W.nb2
        W.bd2[4 * k] = b.d[0]
        W.bd2[4 * k + 1] = b.d[1]
        W.bd2[4 * k + 2] = b.d[2]
        W.bd2[4 * k + 3] = b.r
        W.jb2[k] = j
        W.pb2[k] = p
        W.nb2 = k + 1
    sus2c_pairs2(T.p2, T.p2_start, W.nb2, W.bd2, W.jb2, W.pb2, i, f, <signed char*>below, eat, vat, acc,
                 T.p2_one)


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
    cdef const Tables* T = &model.t
    cdef Py_ssize_t nslots = max(1, T.p3_slots)
    cdef int nch = T.K, ne = T.ne, ch
    cdef const double* P = _rows_ptr(pos)
    cdef const double* S = _rows_ptr(shift)
    cdef const int* ty = &types[0] if N > 0 else NULL
    cdef const Py_ssize_t* nb = &nbr[0] if nbr.shape[0] > 0 else NULL
    cdef Py_ssize_t maxnb = max_neighbours(&offsets[0], N)

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

    cdef Py_ssize_t z, zz, i, e, j, jj
    cdef int tid, ti, p, q, flag, b3, c3
    cdef double r, g, phi, v, ga, gb
    cdef Walk* W
    cdef Bond b
    cdef double* scratch
    cdef double* acc
    cdef Legs* L
    cdef Block blk
    cdef Py_ssize_t* pb
    cdef double* cen
    cdef double* vi
    cdef double* rho
    cdef double* fp
    cdef double* dder

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
        W = walk_new(maxnb)
        L = legs_new(maxnb, ne)
        pb = <Py_ssize_t*>malloc(2 * sizeof(Py_ssize_t))
        scratch = <double*>malloc(sizeof(double) * (4 * maxnb + 24 + nch * (maxnb + 2)))
        acc = scratch + 4 * maxnb  # energy, virial[6]
        cen = acc + 7  # the centre's 3-body energy, virial[6]
        rho = acc + 24
        fp = rho + nch
        dder = fp + nch
        for z in range(7):
            acc[z] = 0.0
        for i in prange(N, schedule="dynamic", chunksize=16):
            ti = ty[i]
            walk_start(W)
            vi = NULL
            if per_atom:
                vi = &vbuf[tid, i, 0]
            _centre_pairs(T, W, i, ti, offsets[i], offsets[i + 1], P, ty, nb, S, &fbuf[tid, 0, 0],
                          &belowbuf[tid, 0], &ebuf[tid, 0] if per_atom else NULL,
                          &vbuf[tid, 0, 0] if per_atom else NULL, acc, &bad[2 * tid])

            # ---- embedding: centre i's densities, its energy F(rho) per channel,
            # and the forces: dF(rho_i)/dr_ij = F'(rho_i) drho_i/dr_ij on each bond
            if nch > 0:
                for ch in range(nch):
                    rho[ch] = 0.0
                for jj in range(W.ne):
                    for ch in range(nch):
                        q = T.d_part[(ti * ne + W.te[jj]) * nch + ch]
                        ga = 0.0
                        if q >= 0 and W.re[jj] < T.d_hi[q]:
                            rho[ch] = rho[ch] + density(T, q, W.re[jj], &ga)
                            if W.re[jj] < T.d_lo[q]:
                                belowbuf[tid, i] = 1
                                belowbuf[tid, W.je[jj]] = 1
                        dder[jj * nch + ch] = ga
                v = 0.0
                for ch in range(nch):
                    q = T.e_part[ti * nch + ch]
                    fp[ch] = 0.0
                    if q >= 0:
                        v = v + embed(T, q, rho[ch], &fp[ch], &gb)
                        if rho[ch] < T.e_rho_lo[q] or rho[ch] > T.e_rho_hi[q]:
                            belowbuf[tid, i] = 1
                acc[0] += v
                if per_atom:
                    ebuf[tid, i] += v
                for jj in range(W.ne):
                    g = 0.0
                    for ch in range(nch):
                        g = g + fp[ch] * dder[jj * nch + ch]
                    if g != 0.0:
                        j = W.je[jj]
                        if per_atom:
                            _bond(g, W.re[jj], &W.de[3 * jj], &fbuf[tid, i, 0], &fbuf[tid, j, 0], &acc[1],
                                  vi, &vbuf[tid, j, 0])
                        else:
                            _bond(g, W.re[jj], &W.de[3 * jj], &fbuf[tid, i, 0], &fbuf[tid, j, 0], &acc[1],
                                  NULL, NULL)

            # ---- 3-body: unordered neighbour pairs {j, k} of centre i, block by
            # block (_common.pxd): per pair of element groups and 3-body part, the
            # ij/ik legs' bases once per neighbour, the triplets contracted in
            # _simd.h.  Forces of the centre legs are collected as one scalar per
            # neighbour (sum of dV/dr / r), applied once after the blocks.
            if W.n3 < 2:
                continue
            group3(T, W, L)
            for jj in range(W.n3):
                L.gs[jj] = 0.0
                L.fl[jj] = 0
                L.f3[4 * jj] = 0.0
                L.f3[4 * jj + 1] = 0.0
                L.f3[4 * jj + 2] = 0.0
                L.f3[4 * jj + 3] = 0.0
            if per_atom:
                for zz in range(6 * W.n3):
                    L.vn[zz] = 0.0
            for zz in range(7):
                cen[zz] = 0.0
            flag = 0
            for b3 in range(ne):
                for c3 in range(b3, ne):
                    blk = triplet_block(T, ti, L, b3, c3)
                    if blk.t < 0:
                        continue
                    for q in range(T.p3_start[blk.t], T.p3_start[blk.t + 1]):
                        block_legs(T, W, L, q, &blk)
                        pb[0] = -1
                        flag = flag | sus2c_energy3(
                            &T.coef[T.p3_coef[q]], T.p3_n[3 * q + 1] + 3, T.p3_n[3 * q + 2] + 3,
                            T.p3_lo[3 * q + 2], T.p3_hi[3 * q + 2], T.p3_invh[3 * q + 2], T.p3_n[3 * q + 2],
                            &T.tab[T.p3_tab[3 * q + 2]], L.d4, L.ir,
                            &L.order[blk.j0], blk.nj, L.mA, L.bA, L.fA,
                            &L.order[blk.k0], blk.nk, L.mB, L.bB, L.fB, blk.tri,
                            cen, L.f3, L.gs, L.vn if per_atom else NULL, L.fl, pb, L.wk, L.iw)
                        if pb[0] >= 0:
                            bad[2 * tid] = W.j3[pb[0]]
                            bad[2 * tid + 1] = W.j3[pb[1]]
            acc[0] += cen[0]
            for zz in range(1, 7):
                acc[zz] += cen[zz]
            if flag:
                belowbuf[tid, i] = 1
            if per_atom:
                ebuf[tid, i] += cen[0]
            for jj in range(W.n3):
                j = W.j3[jj]
                fbuf[tid, j, 0] += L.f3[4 * jj]
                fbuf[tid, j, 1] += L.f3[4 * jj + 1]
                fbuf[tid, j, 2] += L.f3[4 * jj + 2]
                if L.fl[jj]:
                    belowbuf[tid, j] = 1
                if per_atom:
                    for zz in range(6):
                        vbuf[tid, j, zz] += L.vn[6 * jj + zz]
                if L.gs[jj] != 0.0:
                    if per_atom:
                        _bond(L.gs[jj] * W.r3[jj], W.r3[jj], &W.d3[3 * jj], &fbuf[tid, i, 0], &fbuf[tid, j, 0],
                              &acc[1], vi, &vbuf[tid, j, 0])
                    else:
                        _bond(L.gs[jj] * W.r3[jj], W.r3[jj], &W.d3[3 * jj], &fbuf[tid, i, 0], &fbuf[tid, j, 0],
                              &acc[1], NULL, NULL)
        for z in range(7):
            tot[8 * tid + z] = acc[z]
        free(scratch)
        free(pb)
        legs_free(L)
        walk_free(W)
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
