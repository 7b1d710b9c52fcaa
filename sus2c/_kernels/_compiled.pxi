"""CompiledModel: a model's tables (see sus2c/compile.py) as one C struct for the kernels."""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport parallel, prange, threadid
from libc.math cimport exp, sqrt
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memset

from sus2c._kernels._common cimport (Bond, Tables, Triplet, Walk, walk_new, walk_start, walk_free, visit, triplet_of, jk_leg,
                                     Legs, Block, legs_new, legs_free, group3, triplet_block, block_legs,
                                     density, embed, embed_basis,
                                     max_neighbours, ENTRY_BOND, ENTRY_COINCIDENT)
from sus2c._kernels._bspline cimport sus2c_unlikely, sus2c_part2, sus2c_pairs2, sus2c_basis4, sus2c_basis4_d2, sus2c_energy3, sus2c_design3

cdef extern from "_omp.h" nogil:
    void sus2c_barrier() noexcept
    int sus2c_team_size() noexcept

cnp.import_array()

# table name -> dtype; every array a CompiledModel holds
_TABLES = {
    "pair_of": np.int32, "rc2": np.float64, "rc3": np.float64,
    "p2_start": np.int32, "p2_lo": np.float64, "p2_hi": np.float64, "p2_invh": np.float64, "p2_n": np.int32,
    "p2_coef": np.intp, "p2_tab": np.intp, "p2_wall": np.float64,
    "trip_of": np.int32, "trip_swap": np.int32, "p3_start": np.int32,
    "p3_lo": np.float64, "p3_hi": np.float64, "p3_invh": np.float64, "p3_n": np.int32,
    "p3_coef": np.intp, "p3_tab": np.intp, "coef": np.float64, "tab": np.float64,
    "zbl": np.float64,
    "rce": np.float64, "d_part": np.int32, "d_lo": np.float64, "d_hi": np.float64, "d_invh": np.float64,
    "d_n": np.int32, "d_coef": np.intp, "d_tab": np.intp,
    "e_part": np.int32, "e_hi": np.float64, "e_invh": np.float64, "e_n": np.int32, "e_coef": np.intp,
    "e_tab": np.intp, "e_scale": np.float64, "e_rho_lo": np.float64, "e_rho_hi": np.float64,
}


def _polys(T, prefix):
    """The parts of a kind as one cubic polynomial per interval (``[interval][power]``) and offsets."""
    polys, offs, off = [], [], 0
    for q in range(len(T[prefix + "_n"])):
        n = int(T[prefix + "_n"][q])
        tab = T["tab"][T[prefix + "_tab"][q]:T[prefix + "_tab"][q] + 16 * n].reshape(n, 4, 4)  # [interval][power][k]
        c = T["coef"][T[prefix + "_coef"][q]:T[prefix + "_coef"][q] + n + 3]
        P = np.einsum("mpk,mk->mp", tab, np.stack([c[m:m + 4] for m in range(n)]))
        polys.append(P.ravel())
        offs.append(off)
        off += 4 * n
    return (np.ascontiguousarray(np.concatenate(polys)) if polys else np.zeros(1),
            np.ascontiguousarray(offs, dtype=np.intp) if offs else np.zeros(1, dtype=np.intp))


cdef inline const void* _data(object a):
    return <const void*>cnp.PyArray_DATA(a)


cdef class CompiledModel:
    """A model's flat tables (built by sus2c/compile.py), held as numpy arrays
    (``tables``) and as the C struct the kernels read.

    ``parts2``, ``parts3``: the model's 2- and 3-body parts
    (sus2c.terms.PairPart / TripletPart) in table order, for whoever needs
    to know what each table entry is (the fit's part scales, the
    variable-projection Jacobian's parameter tables).
    """
    cdef Tables t
    cdef public object tables, parts2, parts3, channels, rc, p3_base, p2_poly, p2_poly_off
    cdef object p2_rec  # uint8 array holding the sus2c_part2 records
    cdef public object d_poly, d_poly_off, e_poly, e_poly_off, dparts, eparts
    cdef public int n_elements, n_channels

    def __init__(self, int n_elements, dict tables, parts2=(), parts3=(), channels=()):
        self.n_elements = n_elements
        self.tables = {}
        for name, dtype in _TABLES.items():
            a = np.ascontiguousarray(tables[name], dtype=dtype)
            if a.size == 0:
                a = np.zeros(1, dtype=dtype)[:0]
            self.tables[name] = a
        T = self.tables
        self.parts2, self.parts3, self.channels = list(parts2), list(parts3), list(channels)
        self.n_channels = len(self.channels)
        self.rc = np.maximum(np.maximum(T["rc2"], T["rc3"]), T["rce"]) if len(T["rce"]) else np.maximum(T["rc2"], T["rc3"])
        ne = n_elements
        # parts of the triplets of one centre element are contiguous: remember
        # where they start and how many there are at most (basis cache slots)
        self.p3_base = np.zeros(ne, dtype=np.int32)
        slots = 0
        for a in range(ne):
            ts = set(int(t) for t in T["trip_of"][a * ne ** 2:(a + 1) * ne ** 2]) - {-1}
            if ts:
                lo = min(int(T["p3_start"][t]) for t in ts)
                hi = max(int(T["p3_start"][t + 1]) for t in ts)
                if hi - lo != sum(int(T["p3_start"][t + 1] - T["p3_start"][t]) for t in ts):
                    raise ValueError("3-body parts of one centre element must be contiguous")
                self.p3_base[a] = lo
                slots = max(slots, hi - lo)
        # 2-body, density and embedding parts as one cubic polynomial per interval:
        # phi = sum_p P[mu][p] u^p
        self.p2_poly, self.p2_poly_off = _polys(T, "p2")
        self.d_poly, self.d_poly_off = _polys(T, "d")
        self.e_poly, self.e_poly_off = _polys(T, "e")

        self.t.ne = ne
        self.t.has3 = len(T["p3_start"]) > 1
        self.t.pair_of = <const int*>_data(T["pair_of"])
        self.t.rc2 = <const double*>_data(T["rc2"])
        self.t.rc3 = <const double*>_data(T["rc3"])
        self.t.p2_start = <const int*>_data(T["p2_start"])
        self.t.p2_lo = <const double*>_data(T["p2_lo"])
        self.t.p2_hi = <const double*>_data(T["p2_hi"])
        self.t.p2_invh = <const double*>_data(T["p2_invh"])
        self.t.p2_n = <const int*>_data(T["p2_n"])
        self.t.p2_coef = <const Py_ssize_t*>_data(T["p2_coef"])
        self.t.p2_tab = <const Py_ssize_t*>_data(T["p2_tab"])
        self.t.p2_wall = <const double*>_data(T["p2_wall"])
        self.t.p2_poly = <const double*>_data(self.p2_poly)
        self.t.p2_poly_off = <const Py_ssize_t*>_data(self.p2_poly_off)
        cdef Py_ssize_t q, nq2 = len(T["p2_n"])
        self.p2_rec = np.zeros(max(1, nq2) * sizeof(sus2c_part2), dtype=np.uint8)
        cdef sus2c_part2* rec = <sus2c_part2*>cnp.PyArray_DATA(self.p2_rec)
        for q in range(nq2):
            rec[q].lo = self.t.p2_lo[q]
            rec[q].inv_h = self.t.p2_invh[q]
            rec[q].hi = self.t.p2_hi[q]
            rec[q].wall = self.t.p2_wall[q]
            rec[q].poly = &self.t.p2_poly[self.t.p2_poly_off[q]]
            rec[q].n = self.t.p2_n[q]
        self.t.p2 = rec
        self.t.p2_one = bool(len(T["p2_start"]) > 1 and np.all(np.diff(T["p2_start"]) == 1))
        self.t.trip_of = <const int*>_data(T["trip_of"])
        self.t.trip_swap = <const int*>_data(T["trip_swap"])
        self.t.p3_start = <const int*>_data(T["p3_start"])
        self.t.p3_base = <const int*>_data(self.p3_base)
        self.t.p3_slots = slots
        self.t.p3_lo = <const double*>_data(T["p3_lo"])
        self.t.p3_hi = <const double*>_data(T["p3_hi"])
        self.t.p3_invh = <const double*>_data(T["p3_invh"])
        self.t.p3_n = <const int*>_data(T["p3_n"])
        self.t.p3_coef = <const Py_ssize_t*>_data(T["p3_coef"])
        self.t.p3_tab = <const Py_ssize_t*>_data(T["p3_tab"])
        self.t.coef = <const double*>_data(T["coef"])
        self.t.tab = <const double*>_data(T["tab"])
        self.t.has_zbl = T["zbl"].size > 0
        self.t.zbl = <const double*>_data(T["zbl"])
        self.t.K = self.n_channels
        self.t.rce = <const double*>_data(T["rce"])
        self.t.d_part = <const int*>_data(T["d_part"])
        self.t.d_lo = <const double*>_data(T["d_lo"])
        self.t.d_hi = <const double*>_data(T["d_hi"])
        self.t.d_invh = <const double*>_data(T["d_invh"])
        self.t.d_n = <const int*>_data(T["d_n"])
        self.t.d_coef = <const Py_ssize_t*>_data(T["d_coef"])
        self.t.d_tab = <const Py_ssize_t*>_data(T["d_tab"])
        self.t.d_poly = <const double*>_data(self.d_poly)
        self.t.d_poly_off = <const Py_ssize_t*>_data(self.d_poly_off)
        self.t.e_part = <const int*>_data(T["e_part"])
        self.t.e_hi = <const double*>_data(T["e_hi"])
        self.t.e_invh = <const double*>_data(T["e_invh"])
        self.t.e_n = <const int*>_data(T["e_n"])
        self.t.e_coef = <const Py_ssize_t*>_data(T["e_coef"])
        self.t.e_tab = <const Py_ssize_t*>_data(T["e_tab"])
        self.t.e_poly = <const double*>_data(self.e_poly)
        self.t.e_poly_off = <const Py_ssize_t*>_data(self.e_poly_off)
        self.t.e_scale = <const double*>_data(T["e_scale"])
        self.t.e_rho_lo = <const double*>_data(T["e_rho_lo"])
        self.t.e_rho_hi = <const double*>_data(T["e_rho_hi"])

    @property
    def max_cutoff(self):
        return float(np.max(self.rc)) if len(self.rc) else 0.0

    @property
    def has_three_body(self):
        return bool(self.t.has3)


cdef inline const double* _rows_ptr(const double[:, ::1] a):
    """Pointer to a (n, k) array's data (NULL when empty)."""
    return &a[0, 0] if a.shape[0] > 0 else NULL
