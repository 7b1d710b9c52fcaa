# cython: language_level=3
"""What the energy, design-row and Jacobian kernels share: the model's
tables as one C struct, and the walk over a centre atom's neighbours.

The walk's rules live here once:

* a 2-body bond is evaluated once, from the end with the smaller index (for
  an atom and its own periodic image: from the entry whose shift is
  lexicographically positive);
* a centre's 3-body neighbours are gathered while its neighbours are
  visited (every neighbour within the pair's 3-body cutoff);
* a triplet {j, k} of centre i is looked up by element types, with j and k
  exchanged when the model stores the triplet as (centre, c, b).

The energy and design kernels walk a centre's triplets in blocks
(``group3``, ``triplet_block``, ``block_legs``): the gathered neighbours
grouped by element, one block per pair of element groups and 3-body part,
the bases of the ij and ik legs computed once per neighbour and block, and
the block's triplets contracted by the vectorised helpers of _simd.h.

The neighbour list is the calculator's full list in CSR form: entries
offsets[i] .. offsets[i+1]-1 of centre i hold the neighbour nbr[e] and a
Cartesian shift, the bond vector being pos[nbr[e]] + shift[e] - pos[i].
"""
from libc.math cimport sqrt
from libc.stdlib cimport free, malloc

from sus2c._kernels._bspline cimport sus2c_leg4, sus2c_part2


cdef struct Tables:
    int ne                      # number of elements
    int has3                    # 1 when the model has 3-body parts
    const int* pair_of          # [ne * ne]: element pair -> pair index p
    const double* rc2           # [pairs]: 2-body cutoff
    const double* rc3           # [pairs]: a neighbour enters triplets below this
    # 2-body parts of pair p: q = p2_start[p] .. p2_start[p + 1] - 1
    const int* p2_start
    const double* p2_lo
    const double* p2_hi
    const double* p2_invh       # intervals per Å
    const int* p2_n             # intervals
    const Py_ssize_t* p2_coef   # offset of the part's coefficients in coef
    const Py_ssize_t* p2_tab    # offset of its basis table in tab
    const double* p2_wall       # cubic wall strength below the first knot
    const double* p2_poly       # the part as one cubic per interval
    const Py_ssize_t* p2_poly_off
    const sus2c_part2* p2       # [parts]: the same as records (energy kernel, _simd.h)
    int p2_one                  # 1 when every pair has exactly one 2-body part
    # 3-body parts of triplet t: q = p3_start[t] .. p3_start[t + 1] - 1, legs
    # 3 q, 3 q + 1, 3 q + 2 = (ij, ik, jk)
    const int* trip_of          # [ne^3]: (centre, b, c) -> triplet index or -1
    const int* trip_swap        # [ne^3]: 1 when the triplet is stored as (centre, c, b)
    const int* p3_start
    const int* p3_base          # [ne]: first part of the centre element's triplets
    Py_ssize_t p3_slots         # most parts of one centre element
    const double* p3_lo
    const double* p3_hi
    const double* p3_invh
    const int* p3_n
    const Py_ssize_t* p3_coef   # offset of the part's coefficients (shape n_ij+3, n_ik+3, n_jk+3)
    const Py_ssize_t* p3_tab    # per leg
    const double* coef          # every coefficient (or column number + 1 in a fit layout)
    const double* tab           # every basis table, [interval][power][k]
    # ZBL core (sus2c/terms/zbl.py): per pair k Za Zb, 1/a, r_in, r_out, A, B, C
    int has_zbl
    const double* zbl
    # embedding (sus2c/terms/embedding.py): K channels; the density host a gets
    # from neighbour b in channel k is part d_part[(a ne + b) K + k] (-1: none),
    # a 1-D r-space spline; the embedding of element a in channel k is part
    # e_part[a K + k] (-1: none), a spline in rho on [0, e_hi] continued linearly
    int K
    const double* rce           # [pairs]: density cutoff
    const int* d_part
    const double* d_lo
    const double* d_hi
    const double* d_invh
    const int* d_n
    const Py_ssize_t* d_coef
    const Py_ssize_t* d_tab
    const double* d_poly
    const Py_ssize_t* d_poly_off
    const int* e_part
    const double* e_hi
    const double* e_invh
    const int* e_n
    const Py_ssize_t* e_coef
    const Py_ssize_t* e_tab
    const double* e_poly
    const Py_ssize_t* e_poly_off
    const double* e_scale       # eps_{a,k} (1 in a real model, whose coefficients hold it)
    const double* e_rho_lo      # [part]: training range of rho (atoms outside are flagged)
    const double* e_rho_hi


# One neighbour-list entry of the centre being visited, returned by value
# (so that a kernel's copy is private in a prange and lives in registers).
cdef struct Bond:
    int what                    # ENTRY_*
    double d[3]                 # bond vector centre -> neighbour
    double r
    Py_ssize_t j                # neighbour atom
    int p                       # element pair index


# One thread's 3-body and embedding neighbours of the centre being visited.
cdef struct Walk:
    Py_ssize_t n3
    double* r3                  # [maxnb]
    double* d3                  # [3 maxnb]
    Py_ssize_t* j3              # [maxnb]
    int* t3                     # [maxnb]
    Py_ssize_t ne               # neighbours within the density cutoff (embedding)
    double* re                  # [maxnb]
    double* de                  # [3 maxnb]
    Py_ssize_t* je              # [maxnb]
    int* te                     # [maxnb]
    Py_ssize_t nb2              # energy kernel: the centre's 2-body bonds, for sus2c_pairs2
    double* bd2                 # [4 maxnb] bond vector and length (x, y, z, r)
    Py_ssize_t* jb2             # [maxnb] neighbour
    int* pb2                    # [maxnb] element pair


cdef enum:
    ENTRY_SKIP = 0              # nothing for the 2-body term from this end
    ENTRY_BOND = 1              # a 2-body bond, counted from this end
    ENTRY_COINCIDENT = 2        # the neighbour sits on the centre (r < 1e-8)


cdef inline Walk* walk_new(Py_ssize_t maxnb) noexcept nogil:
    """Per-thread walk buffers for centres with up to maxnb neighbours (NULL if out of memory)."""
    cdef Walk* W = <Walk*>malloc(sizeof(Walk))
    if W == NULL:
        return NULL
    if maxnb < 1:
        maxnb = 1
    W.r3 = <double*>malloc(sizeof(double) * 12 * maxnb)
    W.d3 = W.r3 + maxnb
    W.re = W.r3 + 4 * maxnb
    W.de = W.r3 + 5 * maxnb
    W.bd2 = W.r3 + 8 * maxnb
    W.j3 = <Py_ssize_t*>malloc(sizeof(Py_ssize_t) * 3 * maxnb)
    W.je = W.j3 + maxnb
    W.jb2 = W.j3 + 2 * maxnb
    W.t3 = <int*>malloc(sizeof(int) * 3 * maxnb)
    W.te = W.t3 + maxnb
    W.pb2 = W.t3 + 2 * maxnb
    W.n3 = 0
    W.ne = 0
    W.nb2 = 0
    return W


cdef inline void walk_start(Walk* W) noexcept nogil:
    """Before visiting a new centre: no neighbours gathered yet."""
    W.n3 = 0
    W.ne = 0
    W.nb2 = 0


cdef inline void walk_free(Walk* W) noexcept nogil:
    if W != NULL:
        free(W.r3)
        free(W.j3)
        free(W.t3)
        free(W)


cdef inline Bond visit(const Tables* T, Walk* W, Py_ssize_t i, int ti, Py_ssize_t e, const double* pos,
                       const int* types, const Py_ssize_t* nbr, const double* shift) noexcept nogil:
    """Entry e of centre i: the bond, whether it is a 2-body bond counted from
    this end (``what``, ENTRY_*), and the neighbour gathered into W for 3-body
    terms and for the embedding densities."""
    cdef Bond b
    cdef Py_ssize_t j = nbr[e]
    cdef const double* s = shift + 3 * e
    cdef double r
    cdef int tj, p
    b.d[0] = pos[3 * j] + s[0] - pos[3 * i]
    b.d[1] = pos[3 * j + 1] + s[1] - pos[3 * i + 1]
    b.d[2] = pos[3 * j + 2] + s[2] - pos[3 * i + 2]
    r = sqrt(b.d[0] * b.d[0] + b.d[1] * b.d[1] + b.d[2] * b.d[2])
    b.r = r
    b.j = j
    b.p = -1
    if r < 1e-8:
        b.what = ENTRY_COINCIDENT
        return b
    tj = types[j]
    p = T.pair_of[ti * T.ne + tj]
    b.p = p
    if T.has3 and r < T.rc3[p]:
        W.r3[W.n3] = r
        W.d3[3 * W.n3] = b.d[0]
        W.d3[3 * W.n3 + 1] = b.d[1]
        W.d3[3 * W.n3 + 2] = b.d[2]
        W.j3[W.n3] = j
        W.t3[W.n3] = tj
        W.n3 = W.n3 + 1
    if T.K > 0 and r < T.rce[p]:
        W.re[W.ne] = r
        W.de[3 * W.ne] = b.d[0]
        W.de[3 * W.ne + 1] = b.d[1]
        W.de[3 * W.ne + 2] = b.d[2]
        W.je[W.ne] = j
        W.te[W.ne] = tj
        W.ne = W.ne + 1
    b.what = ENTRY_SKIP
    if r >= T.rc2[p] or j < i:
        return b
    if j == i and (s[0] < 0 or (s[0] == 0 and (s[1] < 0 or (s[1] == 0 and s[2] < 0)))):
        return b
    b.what = ENTRY_BOND
    return b


# A triplet of a centre: its index (-1: the model has none) and the two
# gathered neighbours in the order the triplet is stored (leg ij = centre to J).
# Returned by value: a kernel assigns it, so inside a prange it is private
# (a variable that is only passed by address would stay shared).
cdef struct Triplet:
    int t
    Py_ssize_t J
    Py_ssize_t K


cdef inline Triplet triplet_of(const Tables* T, int ti, const Walk* W, Py_ssize_t jj,
                               Py_ssize_t kk) noexcept nogil:
    """The triplet of centre type ti with gathered neighbours jj < kk."""
    cdef Triplet out
    cdef int t = (ti * T.ne + W.t3[jj]) * T.ne + W.t3[kk]
    out.t = T.trip_of[t]
    if T.trip_swap[t]:
        out.J = kk
        out.K = jj
    else:
        out.J = jj
        out.K = kk
    return out


cdef inline double jk_leg(const Walk* W, Py_ssize_t J, Py_ssize_t K, double* djk) noexcept nogil:
    """The j -> k vector of a triplet (into djk) and its length."""
    djk[0] = W.d3[3 * K] - W.d3[3 * J]
    djk[1] = W.d3[3 * K + 1] - W.d3[3 * J + 1]
    djk[2] = W.d3[3 * K + 2] - W.d3[3 * J + 2]
    return sqrt(djk[0] * djk[0] + djk[1] * djk[1] + djk[2] * djk[2])


# One thread's per-centre 3-body work arrays for the block walk (legs_new).
cdef struct Legs:
    Py_ssize_t* order           # [maxnb] gathered neighbours grouped by element (stable)
    Py_ssize_t* gstart          # [ne + 1] group starts in order
    double* ir                  # [maxnb] 1 / r of each gathered neighbour
    double* d4                  # [4 maxnb] its bond vector and length (x, y, z, r)
    int* mA                     # [maxnb] first basis index of the ij leg (J role) ...
    int* fA                     # ... SUS2C_LEG_* flags
    double* bA                  # [8 maxnb] values, r-derivatives
    int* mB                     # the same for the ik leg (K role)
    int* fB
    double* bB
    double* f3                  # [4 maxnb] energy kernel: forces of the jk legs (x, y, z, -)
    double* gs                  # [maxnb] sum of dV/dr / r on each centre leg
    double* vn                  # [6 maxnb] per-atom virial halves of the jk legs
    int* fl                     # [maxnb] in a triplet with a leg below its first knot
    double* wk                  # [16 maxnb] energy kernel scratch (sus2c_energy3)
    int* iw                     # [2 maxnb]
    Py_ssize_t* fr              # [maxnb] design kernel: first force row of the neighbour's atom
    void* dbase                 # the allocation holding the doubles


cdef inline Legs* legs_new(Py_ssize_t maxnb, int ne) noexcept nogil:
    """Per-thread block-walk arrays for centres with up to maxnb neighbours (NULL if out of memory)."""
    cdef Legs* L = <Legs*>malloc(sizeof(Legs))
    if L == NULL:
        return NULL
    if maxnb < 1:
        maxnb = 1
    L.order = <Py_ssize_t*>malloc(sizeof(Py_ssize_t) * (2 * maxnb + ne + 1))
    L.fr = L.order + maxnb
    L.gstart = L.order + 2 * maxnb
    # doubles: d4 and f3 first (32-byte rows from a 32-byte aligned block), then ir, bA, bB, gs, vn, wk
    L.dbase = malloc(sizeof(double) * (48 * maxnb + 4))
    L.d4 = <double*>((<size_t>L.dbase + 31) & ~(<size_t>31))
    L.f3 = L.d4 + 4 * maxnb
    L.ir = L.d4 + 8 * maxnb
    L.bA = L.d4 + 9 * maxnb
    L.bB = L.d4 + 17 * maxnb
    L.gs = L.d4 + 25 * maxnb
    L.vn = L.d4 + 26 * maxnb
    L.wk = L.d4 + 32 * maxnb
    L.mA = <int*>malloc(sizeof(int) * 7 * maxnb)
    L.fA = L.mA + maxnb
    L.mB = L.mA + 2 * maxnb
    L.fB = L.mA + 3 * maxnb
    L.fl = L.mA + 4 * maxnb
    L.iw = L.mA + 5 * maxnb
    return L


cdef inline void legs_free(Legs* L) noexcept nogil:
    if L != NULL:
        free(L.order)
        free(L.dbase)
        free(L.mA)
        free(L)


cdef inline void group3(const Tables* T, const Walk* W, Legs* L) noexcept nogil:
    """Group the centre's gathered 3-body neighbours by element (keeping their
    order within a group) and take 1/r of each."""
    cdef Py_ssize_t k
    cdef int a
    for a in range(T.ne + 1):
        L.gstart[a] = 0
    for k in range(W.n3):
        L.gstart[W.t3[k] + 1] += 1
        L.ir[k] = 1.0 / W.r3[k]
        L.d4[4 * k] = W.d3[3 * k]
        L.d4[4 * k + 1] = W.d3[3 * k + 1]
        L.d4[4 * k + 2] = W.d3[3 * k + 2]
        L.d4[4 * k + 3] = W.r3[k]
    for a in range(T.ne):
        L.gstart[a + 1] += L.gstart[a]
    if T.ne == 1:
        for k in range(W.n3):
            L.order[k] = k
        return
    for k in range(W.n3):
        L.order[L.gstart[W.t3[k]]] = k
        L.gstart[W.t3[k]] += 1
    for a in range(T.ne - 1, 0, -1):
        L.gstart[a] = L.gstart[a - 1]
    L.gstart[0] = 0


# The triplets of a centre between two element groups, by value like Triplet:
# the triplet index t (-1: none), the J neighbours (order[j0 .. j0 + nj - 1],
# leg ij) and the K neighbours, and tri = 1 when both are the same group (then
# the pairs J = order[j0 + a], K = order[j0 + b] with a < b, i.e. j before k in
# the gathered order, as triplet_of has them).
cdef struct Block:
    int t
    int tri
    Py_ssize_t j0
    Py_ssize_t nj
    Py_ssize_t k0
    Py_ssize_t nk


cdef inline Block triplet_block(const Tables* T, int ti, const Legs* L, int b, int c) noexcept nogil:
    """The triplets of centre type ti with one neighbour of element b and one of element c (b <= c),
    by triplet_of's rule: j and k exchanged when the model stores (ti, c, b)."""
    cdef Block out
    cdef int x = (ti * T.ne + b) * T.ne + c
    out.t = T.trip_of[x]
    out.tri = b == c
    if T.trip_swap[x]:
        b, c = c, b
    out.j0 = L.gstart[b]
    out.nj = L.gstart[b + 1] - L.gstart[b]
    out.k0 = L.gstart[c]
    out.nk = L.gstart[c + 1] - L.gstart[c]
    if out.nj == 0 or out.nk == 0 or (out.tri and out.nj < 2):
        out.t = -1
    return out


cdef inline void block_legs(const Tables* T, const Walk* W, Legs* L, int q, const Block* bl) noexcept nogil:
    """Part q's bases of the ij leg for the block's J neighbours and of the ik leg for its K neighbours."""
    cdef Py_ssize_t a, k
    for a in range(bl.nj):
        k = L.order[bl.j0 + a]
        L.fA[k] = sus2c_leg4(W.r3[k], T.p3_lo[3 * q], T.p3_hi[3 * q], T.p3_invh[3 * q], T.p3_n[3 * q],
                             &T.tab[T.p3_tab[3 * q]], &L.mA[k], &L.bA[8 * k])
    for a in range(bl.nk):
        k = L.order[bl.k0 + a]
        L.fB[k] = sus2c_leg4(W.r3[k], T.p3_lo[3 * q + 1], T.p3_hi[3 * q + 1], T.p3_invh[3 * q + 1],
                             T.p3_n[3 * q + 1], &T.tab[T.p3_tab[3 * q + 1]], &L.mB[k], &L.bB[8 * k])


cdef inline Py_ssize_t max_neighbours(const Py_ssize_t* offsets, Py_ssize_t n) noexcept nogil:
    """The largest number of list entries of one centre."""
    cdef Py_ssize_t m = 0, i
    for i in range(n):
        if offsets[i + 1] - offsets[i] > m:
            m = offsets[i + 1] - offsets[i]
    return m


cdef inline double density(const Tables* T, int q, double r, double* dval) noexcept nogil:
    """Density part q at r (caller checks r < d_hi[q]) and its r-derivative; below
    the first knot the eased continuation of sus2c/bspline.py (C1, constant one
    interval down)."""
    cdef double u = (r - T.d_lo[q]) * T.d_invh[q], t
    cdef int mu
    cdef const double* c = &T.d_poly[T.d_poly_off[q]]
    if u < 0.0:
        t = -1.0 if u < -1.0 else u
        dval[0] = 0.0 if u < -1.0 else c[1] * (1.0 + t) * T.d_invh[q]
        return c[0] + c[1] * (t + 0.5 * t * t)
    mu = <int>u
    if mu >= T.d_n[q]:
        mu = T.d_n[q] - 1
    u = u - mu
    c = c + 4 * mu
    dval[0] = (c[1] + u * (2.0 * c[2] + 3.0 * u * c[3])) * T.d_invh[q]
    return c[0] + u * (c[1] + u * (c[2] + u * c[3]))


cdef inline double embed(const Tables* T, int q, double rho, double* d1, double* d2) noexcept nogil:
    """Embedding part q at rho: value, first and second derivatives; linear below 0
    and above its last knot."""
    cdef double u = rho * T.e_invh[q]
    cdef int n = T.e_n[q]
    cdef const double* c = &T.e_poly[T.e_poly_off[q]]
    cdef double v1
    if u < 0.0:
        d1[0] = c[1] * T.e_invh[q]
        d2[0] = 0.0
        return c[0] + c[1] * u
    if u >= n:
        c = c + 4 * (n - 1)
        v1 = c[1] + 2.0 * c[2] + 3.0 * c[3]
        d1[0] = v1 * T.e_invh[q]
        d2[0] = 0.0
        return c[0] + c[1] + c[2] + c[3] + v1 * (u - n)
    cdef int mu = <int>u
    u = u - mu
    c = c + 4 * mu
    d1[0] = (c[1] + u * (2.0 * c[2] + 3.0 * u * c[3])) * T.e_invh[q]
    d2[0] = (2.0 * c[2] + 6.0 * u * c[3]) * T.e_invh[q] * T.e_invh[q]
    return c[0] + u * (c[1] + u * (c[2] + u * c[3]))


cdef inline int embed_basis(const Tables* T, int q, double rho, double* B, double* dB, double* d2B) noexcept nogil:
    """The four non-zero basis functions of embedding part q at rho (values, first and
    second derivatives), continued linearly below 0 and above the last knot; returns
    the index of the first one."""
    cdef const double* tab = &T.tab[T.e_tab[q]]
    cdef double inv_h = T.e_invh[q]
    cdef double u = rho * inv_h, v
    cdef int n = T.e_n[q], mu, k
    cdef const double* t
    if u < 0.0:
        for k in range(4):
            B[k] = tab[k] + u * tab[4 + k]
            dB[k] = tab[4 + k] * inv_h
            d2B[k] = 0.0
        return 0
    if u >= n:
        t = tab + 16 * (n - 1)
        for k in range(4):
            v = t[4 + k] + 2.0 * t[8 + k] + 3.0 * t[12 + k]
            B[k] = t[k] + t[4 + k] + t[8 + k] + t[12 + k] + v * (u - n)
            dB[k] = v * inv_h
            d2B[k] = 0.0
        return n - 1
    mu = <int>u
    u = u - mu
    t = tab + 16 * mu
    for k in range(4):
        B[k] = t[k] + u * (t[4 + k] + u * (t[8 + k] + u * t[12 + k]))
        dB[k] = (t[4 + k] + u * (2.0 * t[8 + k] + 3.0 * u * t[12 + k])) * inv_h
        d2B[k] = (2.0 * t[8 + k] + 6.0 * u * t[12 + k]) * inv_h * inv_h
    return mu
