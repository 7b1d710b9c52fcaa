"""Derivatives of every target with respect to the universal-scaling scalars θ.

For the variable-projection fit (sus2c/varpro.py): with the spline
coefficients held fixed, the rows J[row, θ_j] = ∂(prediction)/∂θ_j, written
in the same row layout as ``design``.  Only universal parts depend on θ.  A
universal part of a pair is φ = s U(x), x = (r - r0)/l, s a product of
amplitudes; with φ', φ'' its r-derivatives:

    ∂φ/∂w  = (m/w) φ          ∂φ'/∂w  = (m/w) φ'
    ∂φ/∂r0 = -φ'              ∂φ'/∂r0 = -φ''
    ∂φ/∂l  = -x φ'            ∂φ'/∂l  = -x φ'' - φ'/l

and for a triplet part V(x1, x2, x3) the same per leg n, with the Hessian
V_mn of V in the leg distances for the force rows:

    ∂V/∂r0_n = -V_n           ∂V_m/∂r0_n = -V_mn
    ∂V/∂l_n  = -x_n V_n       ∂V_m/∂l_n  = -x_n V_mn - δ_mn V_m / l_n

Each part lists the θ indices it depends on with a multiplier (chain rule
for element-mode combination rules), -1 where unused:
2-body: [amp a, amp b, r0 ×2, l ×2]; 3-body: [amp ×3, then per leg r0 ×2, l ×2].
"""


def theta_design(CompiledModel model, const double[::1] u2_r0, const double[::1] u2_l,
                 const Py_ssize_t[:, ::1] u2_idx, const double[:, ::1] u2_fac,
                 const double[:, ::1] u3_r0, const double[:, ::1] u3_l,
                 const Py_ssize_t[:, ::1] u3_idx, const double[:, ::1] u3_fac,
                 const double[:, ::1] pos, const int[::1] types, const Py_ssize_t[::1] atom_start,
                 const Py_ssize_t[::1] offsets, const Py_ssize_t[::1] nbr, const double[:, ::1] shift,
                 const double[::1] volume, const Py_ssize_t[::1] row_start, double[:, ::1] X,
                 int nthreads):
    """Fill X (rows x n_theta, zeroed by the caller) with ∂(targets)/∂θ.

    u2_*: per compiled 2-body part (every group -1: no free θ, skipped); each group
    of entries lists its free indices first;
    u3_*: per compiled 3-body part, legs (ij, ik, jk).
    """
    cdef Py_ssize_t S = atom_start.shape[0] - 1
    cdef Py_ssize_t ld = X.shape[1]
    cdef int nt = max(1, nthreads)
    cdef const Tables* T = &model.t
    cdef double* Xp = &X[0, 0] if X.shape[0] > 0 else NULL
    cdef const double* P = _rows_ptr(pos)
    cdef const double* SH = _rows_ptr(shift)
    cdef const int* ty = &types[0] if types.shape[0] > 0 else NULL
    cdef const Py_ssize_t* nb = &nbr[0] if nbr.shape[0] > 0 else NULL
    cdef Py_ssize_t maxnb = max_neighbours(&offsets[0], offsets.shape[0] - 1)

    cdef Py_ssize_t s, i, e, a0, erow, srow, fi, fj, fk, jj, kk, J, K, idx, base
    cdef int ti, p, q, t, ma, mb, mc, l, m, n, k, s1, s2, leg, leg2
    cdef double r, rjk, inv_v, f, phi, dphi, d2phi, x, c, val, g1, g2, g3
    cdef Walk* W
    cdef Triplet tr
    cdef Bond b
    cdef double* buf
    cdef double* djk
    cdef double* A
    cdef double* dA
    cdef double* d2A
    cdef double* B
    cdef double* dB
    cdef double* d2B
    cdef double* G
    cdef double* dG
    cdef double* d2G
    cdef double* H  # V, V1, V2, V3, V11, V22, V33, V12, V13, V23
    cdef double* xs

    with nogil, parallel(num_threads=nt):
        W = walk_new(maxnb)
        buf = <double*>malloc(sizeof(double) * 64)
        djk = buf
        A = buf + 4
        dA = buf + 8
        d2A = buf + 12
        B = buf + 16
        dB = buf + 20
        d2B = buf + 24
        G = buf + 28
        dG = buf + 32
        d2G = buf + 36
        H = buf + 40
        xs = buf + 52
        for s in prange(S, schedule="dynamic"):
            a0 = atom_start[s]
            erow = row_start[s]
            srow = -1
            inv_v = 0.0
            if volume[s] > 0:
                srow = erow + 1 + 3 * (atom_start[s + 1] - a0)
                inv_v = 1.0 / volume[s]
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
                        if r >= T.p2_hi[q] or (u2_idx[q, 0] < 0 and u2_idx[q, 2] < 0 and u2_idx[q, 4] < 0):
                            continue
                        ma = sus2c_basis4_d2(r, T.p2_lo[q], T.p2_invh[q], T.p2_n[q], &T.tab[T.p2_tab[q]], A, dA, d2A)
                        phi = 0.0
                        dphi = 0.0
                        d2phi = 0.0
                        for l in range(4):
                            c = T.coef[T.p2_coef[q] + ma + l]
                            phi = phi + c * A[l]
                            dphi = dphi + c * dA[l]
                            d2phi = d2phi + c * d2A[l]
                        x = (r - u2_r0[q]) / u2_l[q]
                        for k in range(6):
                            idx = u2_idx[q, k]
                            if idx < 0:
                                continue
                            f = u2_fac[q, k]
                            if k < 2:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, idx, f * phi, f * dphi, r, b.d)
                            elif k < 4:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, idx, -f * dphi, -f * d2phi, r, b.d)
                            else:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, idx, -f * x * dphi,
                                      -f * (x * d2phi + dphi / u2_l[q]), r, b.d)
                for jj in range(W.n3):
                    for kk in range(jj + 1, W.n3):
                        tr = triplet_of(T, ti, W, jj, kk)
                        if tr.t < 0:
                            continue
                        t = tr.t
                        J = tr.J
                        K = tr.K
                        rjk = jk_leg(W, J, K, djk)
                        if rjk < 1e-8:
                            continue
                        fj = erow + 1 + 3 * (W.j3[J] - a0)
                        fk = erow + 1 + 3 * (W.j3[K] - a0)
                        for q in range(T.p3_start[t], T.p3_start[t + 1]):
                            if (u3_idx[q, 0] < 0 and u3_idx[q, 3] < 0 and u3_idx[q, 5] < 0 and u3_idx[q, 7] < 0
                                    and u3_idx[q, 9] < 0 and u3_idx[q, 11] < 0 and u3_idx[q, 13] < 0):
                                continue
                            if W.r3[J] >= T.p3_hi[3 * q] or W.r3[K] >= T.p3_hi[3 * q + 1] or rjk >= T.p3_hi[3 * q + 2]:
                                continue
                            ma = sus2c_basis4_d2(W.r3[J], T.p3_lo[3 * q], T.p3_invh[3 * q], T.p3_n[3 * q], &T.tab[T.p3_tab[3 * q]], A, dA, d2A)
                            mb = sus2c_basis4_d2(W.r3[K], T.p3_lo[3 * q + 1], T.p3_invh[3 * q + 1], T.p3_n[3 * q + 1], &T.tab[T.p3_tab[3 * q + 1]], B, dB, d2B)
                            mc = sus2c_basis4_d2(rjk, T.p3_lo[3 * q + 2], T.p3_invh[3 * q + 2], T.p3_n[3 * q + 2], &T.tab[T.p3_tab[3 * q + 2]], G, dG, d2G)
                            s1 = T.p3_n[3 * q + 1] + 3
                            s2 = T.p3_n[3 * q + 2] + 3
                            for k in range(10):
                                H[k] = 0.0
                            for l in range(4):
                                for m in range(4):
                                    base = T.p3_coef[q] + ((ma + l) * s1 + (mb + m)) * s2 + mc
                                    for n in range(4):
                                        c = T.coef[base + n]
                                        H[0] += c * A[l] * B[m] * G[n]
                                        H[1] += c * dA[l] * B[m] * G[n]
                                        H[2] += c * A[l] * dB[m] * G[n]
                                        H[3] += c * A[l] * B[m] * dG[n]
                                        H[4] += c * d2A[l] * B[m] * G[n]
                                        H[5] += c * A[l] * d2B[m] * G[n]
                                        H[6] += c * A[l] * B[m] * d2G[n]
                                        H[7] += c * dA[l] * dB[m] * G[n]
                                        H[8] += c * dA[l] * B[m] * dG[n]
                                        H[9] += c * A[l] * dB[m] * dG[n]
                            xs[0] = (W.r3[J] - u3_r0[q, 0]) / u3_l[q, 0]
                            xs[1] = (W.r3[K] - u3_r0[q, 1]) / u3_l[q, 1]
                            xs[2] = (rjk - u3_r0[q, 2]) / u3_l[q, 2]
                            for k in range(15):
                                idx = u3_idx[q, k]
                                if idx < 0:
                                    continue
                                f = u3_fac[q, k]
                                if k < 3:  # amplitude
                                    val = f * H[0]
                                    g1 = f * H[1]
                                    g2 = f * H[2]
                                    g3 = f * H[3]
                                else:
                                    leg = (k - 3) // 4  # which leg's pair
                                    leg2 = ((k - 3) % 4) // 2  # 0: r0, 1: l
                                    # V_n and the row n of the Hessian: H index of V_mn
                                    if leg == 0:
                                        val = H[1]
                                        g1 = H[4]
                                        g2 = H[7]
                                        g3 = H[8]
                                    elif leg == 1:
                                        val = H[2]
                                        g1 = H[7]
                                        g2 = H[5]
                                        g3 = H[9]
                                    else:
                                        val = H[3]
                                        g1 = H[8]
                                        g2 = H[9]
                                        g3 = H[6]
                                    if leg2 == 0:
                                        val = -f * val
                                        g1 = -f * g1
                                        g2 = -f * g2
                                        g3 = -f * g3
                                    else:
                                        x = xs[leg]
                                        val = -f * x * val
                                        g1 = -f * x * g1
                                        g2 = -f * x * g2
                                        g3 = -f * x * g3
                                        if leg == 0:
                                            g1 = g1 - f * H[1] / u3_l[q, 0]
                                        elif leg == 1:
                                            g2 = g2 - f * H[2] / u3_l[q, 1]
                                        else:
                                            g3 = g3 - f * H[3] / u3_l[q, 2]
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, idx, val, g1, W.r3[J], &W.d3[3 * J])
                                _rows(Xp, ld, erow, fi, fk, srow, inv_v, idx, 0.0, g2, W.r3[K], &W.d3[3 * K])
                                _rows(Xp, ld, erow, fj, fk, srow, inv_v, idx, 0.0, g3, rjk, djk)
        free(buf)
        walk_free(W)


cdef inline void _touch(double* drho, Py_ssize_t* touched, char* mark, Py_ssize_t* nt, Py_ssize_t th,
                        double v) noexcept nogil:
    """drho[th] += v, remembering which entries are in use."""
    if th < 0:
        return
    if not mark[th]:
        mark[th] = 1
        touched[nt[0]] = th
        nt[0] = nt[0] + 1
        drho[th] = 0.0
    drho[th] += v


def embedding_theta_design(CompiledModel model, const double[::1] dth_coef, const double[::1] d_scale,
                           const Py_ssize_t[::1] d_s, const Py_ssize_t[:, ::1] d_map_idx,
                           const double[:, ::1] d_map_fac, const double[:, ::1] d_r0l, const Py_ssize_t[::1] e_eps,
                           const double[:, ::1] pos, const int[::1] types, const Py_ssize_t[::1] atom_start,
                           const Py_ssize_t[::1] offsets, const Py_ssize_t[::1] nbr, const double[:, ::1] shift,
                           const double[::1] volume, const Py_ssize_t[::1] row_start, double[:, ::1] X,
                           int nthreads):
    """Fill X (rows x n_theta, zeroed by the caller) with the derivatives of every
    target with respect to the embedding's outer parameters θ.

    ``model``: compiled with unscaled embedding functions (sus2c.compile.compile_layout:
    e_scale holds eps) and densities that include s.  Per density part q: θ
    indices (+1, 0: none) of its spline coefficients in ``dth_coef`` (aligned with
    the coefficient table), its s (``d_s``: θ of log s, so drho/dθ is the density
    itself; ``d_scale``: s), its channel map (``d_map_idx``/``d_map_fac``: r0
    entries then l entries, chain-rule factors; ``d_r0l``: r0, l); per embedding
    part the θ of eps (``e_eps``).  With E_i = eps F(rho_i):

        dE_i/dθ = eps F'(rho_i) drho_i/dθ (+ F(rho_i) for θ = eps)
        d(dE/dr_ij)/dθ = eps F''(rho_i) drho_i/dθ drho_ij/dr + eps F'(rho_i) d(drho_ij/dr)/dθ

    (+ F'(rho_i) drho_ij/dr for θ = eps); for the density's r0 and l the
    derivatives of a function of x = (r - r0)/l (see theta_design).
    """
    cdef Py_ssize_t S = atom_start.shape[0] - 1
    cdef Py_ssize_t ld = X.shape[1]
    cdef Py_ssize_t nth = X.shape[1]
    cdef int nt = max(1, nthreads)
    cdef const Tables* T = &model.t
    cdef int nch = T.K, ne = T.ne, ch
    cdef double* Xp = &X[0, 0] if X.shape[0] > 0 else NULL
    cdef const double* P = _rows_ptr(pos)
    cdef const double* SH = _rows_ptr(shift)
    cdef const int* ty = &types[0] if types.shape[0] > 0 else NULL
    cdef const Py_ssize_t* nb = &nbr[0] if nbr.shape[0] > 0 else NULL
    cdef Py_ssize_t maxnb = max_neighbours(&offsets[0], offsets.shape[0] - 1)

    cdef Py_ssize_t s, i, e, a0, erow, srow, fi, fj, jj, th, ntouch, z, off
    cdef int ti, q, qe, mu, l, k
    cdef double r, x, rho, val, d1, d2, F, F1, F2, eps, g, base, inv_v
    cdef Walk* W
    cdef Bond b
    cdef double* buf
    cdef double* B
    cdef double* dB
    cdef double* d2B
    cdef double* drho
    cdef double* nd1
    cdef double* nd2
    cdef double* nx
    cdef double* ndB
    cdef int* nq
    cdef int* nmu
    cdef Py_ssize_t* touched
    cdef char* mark

    with nogil, parallel(num_threads=nt):
        W = walk_new(maxnb)
        buf = <double*>malloc(sizeof(double) * (16 + nth + 7 * (maxnb + 1)))
        B = buf
        dB = buf + 4
        d2B = buf + 8
        drho = buf + 16
        nd1 = drho + nth
        nd2 = nd1 + (maxnb + 1)
        nx = nd2 + (maxnb + 1)
        ndB = nx + (maxnb + 1)
        nq = <int*>malloc(sizeof(int) * 2 * (maxnb + 1))
        nmu = nq + (maxnb + 1)
        touched = <Py_ssize_t*>malloc(sizeof(Py_ssize_t) * (nth + 1))
        mark = <char*>calloc(nth + 1, 1)
        for s in prange(S, schedule="dynamic"):
            a0 = atom_start[s]
            erow = row_start[s]
            srow = -1
            inv_v = 0.0
            if volume[s] > 0:
                srow = erow + 1 + 3 * (atom_start[s + 1] - a0)
                inv_v = 1.0 / volume[s]
            for i in range(a0, atom_start[s + 1]):
                ti = ty[i]
                fi = erow + 1 + 3 * (i - a0)
                walk_start(W)
                for e in range(offsets[i], offsets[i + 1]):
                    b = visit(T, W, i, ti, e, P, ty, nb, SH)
                for ch in range(nch):
                    qe = T.e_part[ti * nch + ch]
                    if qe < 0:
                        continue
                    ntouch = 0
                    rho = 0.0
                    for jj in range(W.ne):
                        q = T.d_part[(ti * ne + W.te[jj]) * nch + ch]
                        nq[jj] = -1
                        r = W.re[jj]
                        if q < 0 or r >= T.d_hi[q]:
                            continue
                        nq[jj] = q
                        off = T.d_coef[q]
                        mu = sus2c_basis4_d2(r, T.d_lo[q], T.d_invh[q], T.d_n[q], &T.tab[T.d_tab[q]], B, dB, d2B)
                        val = 0.0
                        d1 = 0.0
                        d2 = 0.0
                        for l in range(4):
                            val = val + T.coef[off + mu + l] * B[l]
                            d1 = d1 + T.coef[off + mu + l] * dB[l]
                            d2 = d2 + T.coef[off + mu + l] * d2B[l]
                            ndB[4 * jj + l] = d_scale[q] * dB[l]
                        rho = rho + val
                        nd1[jj] = d1
                        nd2[jj] = d2
                        nmu[jj] = mu
                        x = (r - d_r0l[q, 0]) / d_r0l[q, 1]
                        nx[jj] = x
                        for l in range(4):
                            _touch(drho, touched, mark, &ntouch, <Py_ssize_t>dth_coef[off + mu + l] - 1,
                                   d_scale[q] * B[l])
                        _touch(drho, touched, mark, &ntouch, d_s[q], val)
                        for k in range(2):
                            _touch(drho, touched, mark, &ntouch, d_map_idx[q, k], -d_map_fac[q, k] * d1)
                            _touch(drho, touched, mark, &ntouch, d_map_idx[q, 2 + k], -d_map_fac[q, 2 + k] * x * d1)
                    F1 = 0.0  # (assigned here so that the prange keeps them private)
                    F2 = 0.0
                    F = embed(T, qe, rho, &F1, &F2)
                    eps = T.e_scale[qe]
                    # energy row
                    for z in range(ntouch):
                        th = touched[z]
                        Xp[erow * ld + th] += eps * F1 * drho[th]
                    if e_eps[qe] >= 0:
                        Xp[erow * ld + e_eps[qe]] += F
                    # force (and stress) rows, bond by bond
                    for jj in range(W.ne):
                        q = nq[jj]
                        if q < 0:
                            continue
                        r = W.re[jj]
                        fj = erow + 1 + 3 * (W.je[jj] - a0)
                        d1 = nd1[jj]
                        d2 = nd2[jj]
                        base = eps * F2 * d1
                        if base != 0.0:
                            for z in range(ntouch):
                                th = touched[z]
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, th, 0.0, base * drho[th], r, &W.de[3 * jj])
                        off = T.d_coef[q]
                        mu = nmu[jj]
                        for l in range(4):
                            th = <Py_ssize_t>dth_coef[off + mu + l] - 1
                            if th >= 0:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, th, 0.0, eps * F1 * ndB[4 * jj + l], r,
                                      &W.de[3 * jj])
                        if d_s[q] >= 0:
                            _rows(Xp, ld, erow, fi, fj, srow, inv_v, d_s[q], 0.0, eps * F1 * d1, r, &W.de[3 * jj])
                        for k in range(2):
                            th = d_map_idx[q, k]
                            if th >= 0:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, th, 0.0, -eps * F1 * d_map_fac[q, k] * d2, r,
                                      &W.de[3 * jj])
                            th = d_map_idx[q, 2 + k]
                            if th >= 0:
                                _rows(Xp, ld, erow, fi, fj, srow, inv_v, th, 0.0,
                                      -eps * F1 * d_map_fac[q, 2 + k] * (nx[jj] * d2 + d1 / d_r0l[q, 1]), r,
                                      &W.de[3 * jj])
                        if e_eps[qe] >= 0:
                            _rows(Xp, ld, erow, fi, fj, srow, inv_v, e_eps[qe], 0.0, F1 * d1, r, &W.de[3 * jj])
                    for z in range(ntouch):
                        mark[touched[z]] = 0
        free(buf)
        free(nq)
        free(touched)
        free(mark)
        walk_free(W)
