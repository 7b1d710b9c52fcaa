"""Fitting a sus2c model by regularised linear least squares (DESIGN.md section 2).

The energy is linear in every spline coefficient and one-body energy once the
knots (and, for universal parts, the scalings) are fixed.  The pipeline is

1. :class:`Layout` -- which coefficients are free: trailing trim 3, like
   triplets tied symmetric, universal parts shared by all pairs/triplets.
   Its template model holds column numbers in place of coefficients and goes
   through the same compile step as a real model, so the design rows come
   from the very splines the calculator evaluates.
2. :func:`accumulate` -- featurise structures in batches with the compiled
   kernel (parallel over structures) and add their rows straight into Gram
   matrices XᵀX, Xᵀy per cross-validation fold and per target type (energy
   per atom, force components, stress components).  Memory is O(P²), not
   O(data).
3. :func:`solve` -- weights per target type (fractions normalised by counts
   and data spread), ridge and curvature penalties, Cholesky solve; the
   regularisation strengths are picked by k-fold cross-validation over
   structures from the per-fold Grams (no re-featurisation).
4. :meth:`Layout.model` -- coefficients back into a :class:`~sus2c.model.Model`.
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numpy as np
import scipy.linalg

from .model import Model, Scaling, Spline1D, Spline3D
from .neighbors import bond_distances, neighbor_list

TYPES = ("energy", "force", "stress")
HYBRID_SPECIFIC_RIDGE = 100.0  # hybrid mode: ridge on specific corrections relative to the universal parts
EV_A3_TO_GPA = 160.21766208


class FitError(ValueError):
    """The data or settings do not allow a fit; the message says why."""


# --------------------------------------------------------------------------- settings


@dataclass
class FitSettings:
    """Everything that defines a fit (the [model] and [fit] tables of a config)."""

    elements: list = None  # default: the elements found in the data
    cutoff2: float = 5.5
    cutoff3: float = 4.25  # 0: two-body only
    intervals2: int = 20
    intervals3: tuple = (6, 6, 12)
    r_min: float = None  # default: per pair, just below the shortest distance in the data
    mode: str = "specific"  # "specific" | "universal" | "hybrid"
    scaling: str = "pair"  # universal scaling: "pair" | "element"
    energy_weight: float = 0.9  # fractions of the loss; see type_weights()
    force_weight: float = 0.1
    stress_weight: float = 0.0
    ridge: object = "cv"  # a number, or "cv": chosen by cross-validation
    curvature: object = "cv"
    cv_folds: int = 5
    threads: int = None
    seed: int = 0
    scaling_iterations: int = 20  # universal/hybrid: Levenberg-Marquardt steps on the scalars (0: keep initial)

    def __post_init__(self):
        if self.mode not in ("specific", "universal", "hybrid"):
            raise FitError(f"mode must be 'specific', 'universal' or 'hybrid', got {self.mode!r}")
        if self.scaling not in ("pair", "element"):
            raise FitError(f"scaling must be 'pair' or 'element', got {self.scaling!r}")
        if not self.cutoff2 > 0:
            raise FitError(f"cutoff2 must be > 0, got {self.cutoff2}")
        if self.cutoff3 < 0:
            raise FitError(f"cutoff3 must be >= 0 (0 = two-body only), got {self.cutoff3}")
        if self.cutoff3 > self.cutoff2:
            raise FitError(
                f"cutoff3 ({self.cutoff3}) must not exceed cutoff2 ({self.cutoff2}): "
                "LAMMPS builds triplets from the 2-body neighbour list"
            )
        self.intervals3 = tuple(int(n) for n in np.broadcast_to(self.intervals3, (3,)))
        if self.intervals3[0] != self.intervals3[1]:
            raise FitError(f"intervals3 must have equal ij and ik entries, got {self.intervals3}")
        if int(self.intervals2) < 1 or min(self.intervals3) < 1:
            raise FitError("interval counts must be >= 1")
        w = np.array([self.energy_weight, self.force_weight, self.stress_weight], dtype=float)
        if np.any(w < 0) or w.sum() <= 0:
            raise FitError(f"energy/force/stress weights must be >= 0 and not all zero, got {w.tolist()}")
        for name in ("ridge", "curvature"):
            v = getattr(self, name)
            if not (v == "cv" or (isinstance(v, (int, float)) and v >= 0)):
                raise FitError(f"{name} must be a number >= 0 or 'cv', got {v!r}")
        if int(self.cv_folds) < 2 and "cv" in (self.ridge, self.curvature):
            raise FitError("cross-validation needs cv_folds >= 2")

    @property
    def three_body(self) -> bool:
        return self.cutoff3 > 0


# --------------------------------------------------------------------------- layout


class Layout:
    """The free coefficients of a model with given knots (and scalings).

    Columns: one-body energies first (one per element), then every spline
    coefficient that is free.  ``template`` is a Model whose coefficients are
    column numbers + 1 (0 = fixed at zero).
    """

    def __init__(self, elements, r_min, settings: FitSettings, scaling: Scaling = None, x_ranges=None,
                 present=None):
        s = settings
        self.elements = list(elements)
        self.settings = s
        self.r_min = dict(r_min)  # {(a, b): r_min}
        self.blocks = {}  # name -> (first column, number of columns)
        self._next = len(self.elements)
        self.blocks["one_body"] = (0, len(self.elements))
        self.scaling = scaling
        self.curv = []  # (block name, full column-number array, axes) for curvature penalties
        specific = s.mode in ("specific", "hybrid")
        universal = s.mode in ("universal", "hybrid")
        pairs = list(combinations_with_replacement(self.elements, 2))
        pair_specific, triplet_specific = {}, {}
        pair_universal = triplet_universal = None
        n2 = int(s.intervals2)
        n3 = s.intervals3
        # specific parts only for pairs / triplets that occur in the data
        # (``present``: sets of pair and triplet keys; None = all)
        has_pair = (lambda p: True) if present is None else (lambda p: p in present[0])
        has_trip = (lambda t: True) if present is None else (lambda t: t in present[1])
        if specific:
            for a, b in pairs:
                if not has_pair((a, b)):
                    continue
                pair_specific[(a, b)] = Spline1D(self._rmin(a, b), s.cutoff2, n2, self._columns1(f"2b {a}-{b}", n2))
            if s.three_body:
                for a in self.elements:
                    for b, c in combinations_with_replacement(self.elements, 2):
                        if not has_trip((a, b, c)):
                            continue
                        lo = (self._rmin(a, b), self._rmin(a, c), self._rmin(b, c))
                        hi = (s.cutoff3, s.cutoff3, 2 * s.cutoff3)
                        if b == c:
                            cols = self._columns3(f"3b {a}-{b}-{c}", n3, symmetric=True)
                        else:
                            cols = self._columns3(f"3b {a}-{b}-{c}", n3, symmetric=False)
                        triplet_specific[(a, b, c)] = Spline3D(lo, hi, n3, cols)
        if universal:
            if scaling is None:
                raise FitError("universal parts need a scaling (amplitudes, r0, l)")
            if x_ranges is None:
                x_ranges = universal_x_ranges(pairs, scaling, self._rmin, s)
            self.x_ranges = dict(x_ranges)
            xr = self.x_ranges
            pair_universal = Spline1D(xr["lo"], xr["hi2"], n2, self._columns1("2b universal u", n2))
            if s.three_body:
                triplet_universal = Spline3D(
                    (xr["lo"], xr["lo"], xr["lo"]),
                    (xr["hi3"], xr["hi3"], xr["jk"]),
                    n3,
                    self._columns3("3b universal g", n3, symmetric=True),
                )
        template_scaling = None
        if universal:
            # amplitudes 1 in the template: the real amplitudes enter as part scales
            template_scaling = Scaling(
                scaling.mode,
                {e: 1.0 for e in self.elements},
                pairs=dict(scaling.pairs),
                radii=dict(scaling.radii),
                lengths=dict(scaling.lengths),
            )
        self.template = Model(
            self.elements,
            pair_specific=pair_specific,
            triplet_specific=triplet_specific,
            pair_universal=pair_universal,
            triplet_universal=triplet_universal,
            scaling=template_scaling,
        )
        self.n_columns = self._next
        self.tables = self.template.compiled()
        self.scale2, self.scale3 = self._part_scales()

    # ---- columns
    def _rmin(self, a, b):
        key = (a, b) if (a, b) in self.r_min else (b, a)
        if self.settings.r_min is not None:
            return float(self.settings.r_min)
        return self.r_min[key]

    def _take(self, name, n):
        first = self._next
        self._next += n
        self.blocks[name] = (first, n)
        return first

    def _columns1(self, name, n):
        first = self._take(name, n)
        cols = np.zeros(n + 3)
        cols[:n] = first + np.arange(n) + 1
        self.curv.append((name, cols, 1))
        return cols

    def _columns3(self, name, n, symmetric):
        n1, n2, n3 = n
        cols = np.zeros((n1 + 3, n2 + 3, n3 + 3))
        if symmetric:
            count = n1 * (n1 + 1) // 2 * n3
            first = self._take(name, count)
            k = first + 1
            for l in range(n1):
                for m in range(l, n1):
                    cols[l, m, :n3] = k + np.arange(n3)
                    cols[m, l, :n3] = k + np.arange(n3)
                    k += n3
        else:
            count = n1 * n2 * n3
            first = self._take(name, count)
            cols[:n1, :n2, :n3] = (first + 1 + np.arange(count)).reshape(n1, n2, n3)
        self.curv.append((name, cols, 3))
        return cols

    def _part_scales(self):
        """Scale of every compiled part, in compile order (see sus2c/_tables.py)."""
        t = self.template
        sc = self.scaling
        s2, s3 = [], []
        for a, b in t.pairs():
            if (a, b) in t.pair_specific:
                s2.append(1.0)
            if t.pair_universal is not None:
                s2.append(sc.amplitudes[a] * sc.amplitudes[b])
        for a, b, c in t.triplets():
            if not t.triplet_parts(a, b, c):
                continue
            if (a, b, c) in t.triplet_specific:
                s3.append(1.0)
            if t.triplet_universal is not None:
                s3.append(sc.amplitudes[a] * sc.amplitudes[b] * sc.amplitudes[c])
        return np.ascontiguousarray(s2, dtype=float), np.ascontiguousarray(s3, dtype=float)

    @property
    def cutoff(self):
        return self.tables.max_cutoff

    # ---- regularisation
    def penalties(self):
        """(ridge, curvature) matrices over the columns; one-body energies are not penalised."""
        P = self.n_columns
        ridge = np.ones(P)
        ridge[: len(self.elements)] = 0.0
        if self.settings.mode == "hybrid":
            # specific parts are corrections to the universal function: pull them to zero
            for name, (first, n) in self.blocks.items():
                if name != "one_body" and "universal" not in name:
                    ridge[first : first + n] = HYBRID_SPECIFIC_RIDGE
        curv = np.zeros((P, P))
        for _, cols, ndim in self.curv:
            idx = cols.astype(np.int64) - 1  # -1: fixed zero
            for axis in range(ndim):
                a = np.moveaxis(idx, axis, -1)
                first, mid, last = a[..., :-2], a[..., 1:-1], a[..., 2:]
                for i0, i1, i2 in zip(first.ravel(), mid.ravel(), last.ravel()):
                    terms = [(i0, 1.0), (i1, -2.0), (i2, 1.0)]
                    terms = [(i, w) for i, w in terms if i >= 0]
                    for i, wi in terms:
                        for j, wj in terms:
                            curv[i, j] += wi * wj
        return np.diag(ridge), curv

    # ---- back to a model
    def model(self, coef, metadata=None) -> Model:
        coef = np.asarray(coef, dtype=float)
        full = np.concatenate([[0.0], coef])  # column number + 1 -> value, 0 -> 0

        def take(cols):
            return full[cols.astype(np.int64)]

        t = self.template
        e1 = {e: float(coef[i]) for i, e in enumerate(self.elements)}
        ps = {k: Spline1D(s.lo, s.hi, s.intervals, take(s.coefficients)) for k, s in t.pair_specific.items()}
        ts = {k: Spline3D(s.lo, s.hi, s.intervals, take(s.coefficients)) for k, s in t.triplet_specific.items()}
        pu = tu = None
        if t.pair_universal is not None:
            s = t.pair_universal
            pu = Spline1D(s.lo, s.hi, s.intervals, take(s.coefficients))
        if t.triplet_universal is not None:
            s = t.triplet_universal
            tu = Spline3D(s.lo, s.hi, s.intervals, take(s.coefficients))
        return Model(
            self.elements,
            one_body=e1,
            pair_specific=ps,
            triplet_specific=ts,
            pair_universal=pu,
            triplet_universal=tu,
            scaling=self.scaling if (pu is not None or tu is not None) else None,
            metadata=metadata,
        )


def universal_x_ranges(pairs, scaling, r_min, s, margin=0.0):
    """Knot ranges in x of u and g that cover every pair's [r_min, cutoff] (plus margin below)."""
    xs_lo, xs_hi2, xs_hi3, xs_jk = [], [], [], []
    for a, b in pairs:
        r0, l = scaling.pair(a, b)
        xs_lo.append((r_min(a, b) - r0) / l)
        xs_hi2.append((s.cutoff2 - r0) / l)
        xs_hi3.append((s.cutoff3 - r0) / l)
        xs_jk.append((2 * s.cutoff3 - r0) / l)
    return {"lo": min(xs_lo) - margin, "hi2": max(xs_hi2), "hi3": max(xs_hi3), "jk": max(xs_jk)}


# --------------------------------------------------------------------------- data pass


def _types(atoms, elements):
    index = {e: i for i, e in enumerate(elements)}
    syms = atoms.get_chemical_symbols()
    unknown = sorted(set(syms) - set(index))
    if unknown:
        raise FitError(f"element(s) {unknown} in the data are not among the model elements {elements}")
    return np.array([index[s] for s in syms], dtype=np.int32)


def present_terms(frames, elements, cutoff2, cutoff3, threads=1):
    """(pairs, triplets) that occur in the data within the 2- and 3-body cutoffs.

    Triplet keys are (centre, b, c) with b <= c in element order.
    """
    ne = len(elements)
    pairs, trips = set(), set()
    for fr in frames:
        a = fr.atoms
        centre, idx, d = bond_distances(a, max(cutoff2, cutoff3), threads)
        if not len(idx):
            continue
        t = _types(a, elements)
        ti, tj = t[centre], t[idx]
        near = d < cutoff2
        for i, j in set(zip(np.minimum(ti, tj)[near].tolist(), np.maximum(ti, tj)[near].tolist())):
            pairs.add((elements[i], elements[j]))
        if cutoff3 > 0:
            sel = d < cutoff3
            counts = np.zeros((len(a), ne), dtype=int)
            np.add.at(counts, (centre[sel], tj[sel]), 1)
            for i_atom in range(len(a)):
                row = counts[i_atom]
                have = np.nonzero(row)[0]
                for x in range(len(have)):
                    for y in range(x, len(have)):
                        b, c = have[x], have[y]
                        if b == c and row[b] < 2:
                            continue
                        trips.add((elements[t[i_atom]], elements[b], elements[c]))
    return pairs, trips


def shortest_distances(frames, elements, cutoff, threads=1):
    """Shortest distance per element pair over all frames (None where a pair never occurs)."""
    ne = len(elements)
    best = np.full((ne, ne), np.inf)
    for fr in frames:
        a = fr.atoms
        centre, idx, d = bond_distances(a, cutoff, threads)
        if len(idx) == 0:
            continue
        t = _types(a, elements)
        ti, tj = t[centre], t[idx]
        np.minimum.at(best, (ti, tj), d)
    best = np.minimum(best, best.T)
    out = {}
    for i, j in combinations_with_replacement(range(ne), 2):
        out[(elements[i], elements[j])] = None if not np.isfinite(best[i, j]) else float(best[i, j])
    return out


def type_weights(frames, fractions):
    """Row weight per target type: fraction / (weighted row count x spread of the data).

    Spreads: the variance of per-atom energies left after a least-squares fit
    of one energy per element (so that, in multi-element data, composition
    alone does not make energy errors look cheap), the mean square force
    component and the mean square stress component; computed from the raw
    data, so the weights are known before featurisation.
    """
    fractions = np.asarray(fractions, dtype=float)
    n = np.zeros(3)
    s2 = np.zeros(3)
    symbols = sorted({s for fr in frames for s in fr.atoms.get_chemical_symbols()})
    index = {e: i for i, e in enumerate(symbols)}
    comp = np.zeros((len(frames), len(symbols)))
    e_atom = np.zeros(len(frames))
    w_e = np.zeros(len(frames))
    for k, fr in enumerate(frames):
        w = fr.weight
        natoms = len(fr.atoms)
        for sym in fr.atoms.get_chemical_symbols():
            comp[k, index[sym]] += 1.0 / natoms
        e_atom[k] = fr.energy / natoms
        w_e[k] = w
        if fr.forces is not None:
            f = np.asarray(fr.forces, dtype=float)
            n[1] += w * f.size
            s2[1] += w * float(np.sum(f * f))
        if fr.stress is not None and bool(fr.atoms.pbc.all()):
            st = np.asarray(fr.stress, dtype=float)
            n[2] += w * 6
            s2[2] += w * float(np.sum(st * st))
    if len(frames):
        sw = np.sqrt(w_e)
        e1, *_ = np.linalg.lstsq(comp * sw[:, None], e_atom * sw, rcond=None)
        resid = e_atom - comp @ e1
        n[0] = w_e.sum()
        s2[0] = float(np.sum(w_e * resid * resid))
    weights = np.zeros(3)
    for k in range(3):
        if n[k] <= 0 or fractions[k] <= 0:
            continue
        spread = max(s2[k] / n[k], 1e-12)
        weights[k] = fractions[k] / (n[k] * spread)
    return weights


@dataclass
class Grams:
    """Weighted normal equations per cross-validation fold: XᵀWX, XᵀWy, yᵀWy."""

    n_columns: int
    n_folds: int

    def __post_init__(self):
        P, F = self.n_columns, self.n_folds
        self.G = np.zeros((F, P, P))
        self.b = np.zeros((F, P))
        self.yy = np.zeros(F)
        self.n_structures = np.zeros(F, dtype=int)
        self.n_atoms = np.zeros(F, dtype=int)

    def add(self, fold, X, y, w):
        """Add rows X with targets y and row weights w to a fold."""
        if len(y) == 0:
            return
        sw = np.sqrt(w)
        Xw = X * sw[:, None]
        yw = y * sw
        # symmetric rank-k update: one BLAS call per batch and fold
        self.G[fold] += Xw.T @ Xw
        self.b[fold] += Xw.T @ yw
        self.yy[fold] += yw @ yw

    @property
    def nbytes(self):
        return self.G.nbytes + self.b.nbytes


class _Progress:
    """A one-line progress bar on stderr, silent when stderr is not a terminal."""

    def __init__(self, total, label, enabled=None):
        self.total = max(1, total)
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()
        self.done = 0

    def update(self, k):
        self.done += k
        if not self.enabled:
            return
        frac = self.done / self.total
        bar = "#" * int(30 * frac)
        el = time.perf_counter() - self.t0
        sys.stderr.write(f"\r{self.label} [{bar:<30s}] {self.done}/{self.total} {el:5.1f} s")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def batch_arrays(batch, elements, cutoff, stress=True):
    """Concatenated kernel inputs for a batch of frames (see ``engine.design``).

    ``stress=False``: no stress rows, even for frames with a stress."""
    pos, types, nbrs, shifts, vols = [], [], [], [], []
    atom_start, row_start, offsets = [0], [0], [np.zeros(1, dtype=np.intp)]
    n_entries = 0
    for fr in batch:
        a = fr.atoms
        off, idx, sh = neighbor_list(a.positions, a.cell.array, a.pbc, cutoff, 1)
        pos.append(a.positions)
        types.append(_types(a, elements))
        offsets.append(off[1:] + n_entries)
        n_entries += len(idx)
        nbrs.append(idx + atom_start[-1])
        shifts.append(sh)
        atom_start.append(atom_start[-1] + len(a))
        has_stress = stress and fr.stress is not None and bool(a.pbc.all())
        vols.append(a.get_volume() if has_stress else 0.0)
        row_start.append(row_start[-1] + 1 + 3 * len(a) + (6 if has_stress else 0))
    kernel_args = (
        np.ascontiguousarray(np.concatenate(pos), dtype=float),
        np.ascontiguousarray(np.concatenate(types), dtype=np.int32),
        np.asarray(atom_start, dtype=np.intp),
        np.ascontiguousarray(np.concatenate(offsets), dtype=np.intp),
        np.ascontiguousarray(np.concatenate(nbrs), dtype=np.intp),
        np.ascontiguousarray(np.concatenate(shifts), dtype=float),
        np.asarray(vols, dtype=float),
        np.asarray(row_start, dtype=np.intp),
    )
    return {"kernel_args": kernel_args, "row_start": np.asarray(row_start), "types_list": types}


def design_batches(layout: Layout, frames, threads=1, batch_rows=4096, stress=True):
    """Design rows of frames, a batch at a time.

    Yields ``(batch, X, row_start)``: the frames of the batch, their rows
    (per frame: energy per atom with the one-body columns filled in, 3 N
    force components, and six stress components when the frame has stress
    and is periodic in 3-D, unless ``stress`` is False) and where each
    frame's rows start.  Memory is bounded by ``batch_rows`` rows, whatever
    the number of frames.
    """
    from ._kernels import engine

    P = layout.n_columns
    ne = len(layout.elements)
    cutoff = layout.cutoff

    def rows_of(batch):
        arr = batch_arrays(batch, layout.elements, cutoff, stress)
        row_start, types = arr["row_start"], arr["types_list"]
        X = np.zeros((row_start[-1], P))
        below = engine.design(
            layout.tables,
            layout.scale2,
            layout.scale3,
            *arr["kernel_args"],
            X,
            threads,
        )
        for k, (fr, nb) in enumerate(zip(batch, below)):
            if nb:
                raise FitError(
                    f"{fr.source}: {nb} distances lie below the first knot of a term; "
                    "lower r_min (or leave it unset to place it below the data)"
                )
            # energy per atom; one-body columns count the atoms of each element
            r0 = row_start[k]
            X[r0, :ne] = np.bincount(types[k], minlength=ne)
            X[r0] /= len(fr.atoms)
        return X, row_start

    for batch in batches(frames, batch_rows):
        X, row_start = rows_of(batch)
        yield batch, X, row_start


def batches(frames, batch_rows):
    """Consecutive groups of frames with about ``batch_rows`` design rows each."""
    batch, rows = [], 0
    for fr in frames:
        batch.append(fr)
        rows += 1 + 3 * len(fr.atoms) + 6
        if rows >= batch_rows:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def targets(frame, n_rows, weights):
    """Targets and row weights of one frame's design rows (see :func:`design_batches`)."""
    n = len(frame.atoms)
    y = np.zeros(n_rows)
    w = np.zeros(n_rows)
    y[0] = frame.energy / n
    w[0] = weights[0] * frame.weight
    if frame.forces is not None:
        y[1 : 1 + 3 * n] = np.asarray(frame.forces, dtype=float).ravel()
        w[1 : 1 + 3 * n] = weights[1] * frame.weight
    if n_rows == 1 + 3 * n + 6:
        y[-6:] = np.asarray(frame.stress, dtype=float)
        w[-6:] = weights[2] * frame.weight
    return y, w


def accumulate(layout: Layout, frames, folds, weights, threads=1, batch_rows=4096, progress=None) -> Grams:
    """Featurise frames (in batches, in parallel) into per-fold weighted Gram matrices.

    ``weights``: row weight per target type (energy per atom, force, stress),
    see :func:`type_weights`; each frame's own weight multiplies them.
    """
    n_folds = int(max(folds) + 1) if len(folds) else 1
    need = 8.0 * n_folds * layout.n_columns**2
    budget = float(os.environ.get("SUS2C_MAX_GRAM_GIB", "8")) * 2**30
    if need > budget:
        raise FitError(
            f"the model has {layout.n_columns} coefficients: its normal equations for {n_folds} folds would take "
            f"{need / 2**30:.1f} GiB (limit {budget / 2**30:.0f} GiB, set SUS2C_MAX_GRAM_GIB); use fewer "
            "intervals, fewer elements, cutoff3 = 0, or mode = 'universal' (shared functions)"
        )
    grams = Grams(layout.n_columns, n_folds)
    bar = _Progress(len(frames), "featurising", progress)
    fold_of = {id(fr): int(f) for fr, f in zip(frames, folds)}
    # stress rows only when stress counts in the loss (they are a third of
    # the kernel's writes for 3-body terms)
    stress = bool(weights[2] > 0)
    for batch, X, row_start in design_batches(layout, frames, threads, batch_rows, stress):
        y = np.zeros(len(X))
        w = np.zeros(len(X))
        fold_of_row = np.zeros(len(X), dtype=np.intp)
        for k, fr in enumerate(batch):
            r0, r1 = row_start[k], row_start[k + 1]
            y[r0:r1], w[r0:r1] = targets(fr, r1 - r0, weights)
            fold = fold_of[id(fr)]
            fold_of_row[r0:r1] = fold
            grams.n_structures[fold] += 1
            grams.n_atoms[fold] += len(fr.atoms)
        for fold in np.unique(fold_of_row):
            sel = (fold_of_row == fold) & (w > 0)
            grams.add(fold, X[sel], y[sel], w[sel])
        bar.update(len(batch))
    bar.close()
    return grams


# --------------------------------------------------------------------------- solve


@dataclass
class Solution:
    coef: np.ndarray
    ridge: float
    curvature: float
    fold_coef: list = field(default_factory=list)  # per fold, at the chosen point (for CV errors)
    cv_table: list = field(default_factory=list)  # weighted validation loss at every grid point


class _Penalty:
    """The penalty matrices kept as their non-zero entries: the ridge matrix
    is diagonal and the curvature matrix has a few entries per row, so adding
    them to a normal matrix touches O(P) entries instead of the P x P dense
    sums (several full-size temporaries per solve, as costly as the Cholesky
    factorisation itself for ~2000 coefficients)."""

    def __init__(self, R_ridge, R_curv):
        self.d = np.diag(R_ridge).copy()
        if np.count_nonzero(R_ridge - np.diag(self.d)):
            raise ValueError("the ridge penalty must be diagonal")
        self.i, self.j = np.nonzero(R_curv)
        self.v = R_curv[self.i, self.j]

    def add_to(self, M, ridge, curvature, scale):
        """M += scale (ridge R_ridge + curvature R_curv), in place."""
        M[self.i, self.j] += (scale * curvature) * self.v
        M.flat[:: M.shape[0] + 1] += (scale * ridge) * self.d
        return M


def _solve_penalised(M, b, pen, ridge, curvature, scale):
    """Coefficients of (M + penalties) c = b; the penalties are added to M in place.

    numpy's Cholesky releases the GIL (scipy's holds it), so solves of
    different grid points run side by side in threads.  It leaves M as it
    was, so the least-squares fallback solves the same matrix."""
    pen.add_to(M, ridge, curvature, scale)
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return scipy.linalg.lstsq(M, b, check_finite=False)[0]
    y = scipy.linalg.solve_triangular(L, b, lower=True, check_finite=False)
    return scipy.linalg.solve_triangular(L, y, lower=True, trans="T", check_finite=False)


def _solve_one(A, b, R_ridge, R_curv, ridge, curvature, scale):
    """Coefficients of (A + scale (ridge R_ridge + curvature R_curv)) c = b (A is not changed)."""
    return _solve_penalised(np.array(A, dtype=float), b, _Penalty(R_ridge, R_curv), ridge, curvature, scale)


FULL_GRID_MAX_COLUMNS = 2000
DEFAULT_RIDGE_GRID = (1e-10, 1e-8, 1e-6, 1e-4)
DEFAULT_CURVATURE_GRID = (1e-11, 1e-9, 1e-7, 1e-5, 1e-3)


def solve(grams: Grams, layout: Layout, settings: FitSettings, threads=None) -> Solution:
    """Regularised solve; ridge/curvature by k-fold CV over the per-fold Grams.

    Penalties are relative: they are multiplied by trace(XᵀWX)/P, so their
    values mean the same for any data size and weighting.  Up to a few
    thousand coefficients the many small Cholesky solves run on one BLAS
    thread each, with ``threads`` grid points solved side by side:
    threaded BLAS gained little there, and on a machine whose cores are busy
    its spinning threads made the solve up to 100x slower.
    """
    from threadpoolctl import threadpool_limits

    from .calculator import default_threads

    threads = threads or settings.threads or default_threads()
    blas_threads = 1 if grams.n_columns < 3000 else threads
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _solve(grams, layout, settings, threads if blas_threads == 1 else 1)


def _solve(grams: Grams, layout: Layout, settings: FitSettings, workers: int) -> Solution:
    R_ridge, R_curv = layout.penalties()
    pen = _Penalty(R_ridge, R_curv)
    F = grams.n_folds
    A = grams.G.sum(axis=0)
    b = grams.b.sum(axis=0)
    P = A.shape[0]
    scale = np.trace(A) / P if np.trace(A) > 0 else 1.0
    ridges = DEFAULT_RIDGE_GRID if settings.ridge == "cv" else (float(settings.ridge),)
    curvs = DEFAULT_CURVATURE_GRID if settings.curvature == "cv" else (float(settings.curvature),)
    folds = [f for f in range(F) if grams.n_structures[f] > 0]
    table = []
    cache = {}

    def fold_solutions(point):
        ridge, curv = point
        loss = 0.0
        coefs = []
        for f in folds:
            c = _solve_penalised(A - grams.G[f], b - grams.b[f], pen, ridge, curv, scale)
            loss += c @ grams.G[f] @ c - 2 * c @ grams.b[f] + grams.yy[f]
            coefs.append(c)
        return float(loss), coefs

    # grid points are independent: with several threads they are solved side
    # by side (LAPACK releases the GIL; each solve uses one BLAS thread)
    # each worker holds a P x P matrix and its factor: at most ~2 GiB in all
    workers = max(1, min(workers, len(ridges) * len(curvs), int(2**31 // (16 * P * P + 1))))
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    def best(points):
        """The grid point of lowest CV loss (the first of equals), solving those not seen yet."""
        todo = [p for p in points if p not in cache]
        for p, res in zip(todo, (pool.map if pool else map)(fold_solutions, todo)):
            cache[p] = res
            table.append({"ridge": p[0], "curvature": p[1], "loss": res[0]})
        return min(points, key=lambda p: cache[p][0])

    try:
        if F > 1 and len(folds) > 1 and len(ridges) * len(curvs) > 1:
            if P <= FULL_GRID_MAX_COLUMNS:
                # the whole grid: 1-D scans can stop far from the optimum
                ridge, curv = best([(r, c) for r in ridges for c in curvs])
            else:
                # large models: coordinate search (curvature, ridge, curvature)
                ridge = ridges[len(ridges) // 2]
                ridge, curv = best([(ridge, c) for c in curvs])
                ridge, curv = best([(r, curv) for r in ridges])
                ridge, curv = best([(ridge, c) for c in curvs])
            coefs = cache[(ridge, curv)][1]
        elif F > 1 and len(folds) > 1:
            ridge, curv = best([(ridges[0], curvs[0])])
            coefs = cache[(ridge, curv)][1]
        else:
            ridge, curv, coefs = ridges[0], curvs[0], []
    finally:
        if pool is not None:
            pool.shutdown()
    coef = _solve_penalised(A.copy(), b, pen, ridge, curv, scale)
    return Solution(coef, ridge, curv, coefs, table)


# --------------------------------------------------------------------------- driver


@dataclass
class FitResult:
    model: Model
    solution: Solution
    layout: Layout
    cv_errors: dict
    timings: dict
    memory_bytes: int


def infer_elements(frames):
    from ase.data import atomic_numbers

    found = set()
    for fr in frames:
        found.update(fr.atoms.get_chemical_symbols())
    return sorted(found, key=lambda e: atomic_numbers[e])


def choose_r_min(dmin, cutoff=5.5, intervals=20):
    """Per pair: a tenth of a knot interval below the shortest distance in the data.

    Further below, the first coefficients would be fixed by the penalties
    alone and distances just under the data's shortest would get a poorly
    determined energy; further up, data would fall below the first knot.
    """
    seen = [v for v in dmin.values() if v is not None]
    r_min = {}
    for pair, d in dmin.items():
        if d is None:  # a pair never seen together: start at the shortest distance of any pair
            d = min(seen) if seen else 2.0
        h = max(cutoff - d, 0.5) / max(int(intervals), 1)
        r_min[pair] = max(0.5, d - 0.1 * h)
    return r_min


def fit(frames, settings: FitSettings = None, scaling: Scaling = None, progress=None, log=None) -> FitResult:
    """Fit a model to frames (:class:`sus2c.data.Frame`) with the given settings."""
    from .calculator import default_threads
    from .evaluate import evaluate

    settings = settings or FitSettings()
    log = log or (lambda *a, **k: None)
    if not frames:
        raise FitError("no training structures")
    for fr in frames:
        if fr.energy is None:
            raise FitError(f"{fr.source}: missing energy (every training structure needs one)")
    threads = settings.threads or default_threads()
    t0 = time.perf_counter()
    elements = list(settings.elements) if settings.elements else infer_elements(frames)
    dmin = shortest_distances(frames, elements, max(settings.cutoff2, settings.cutoff3), threads)
    if settings.r_min is not None:
        for (a, b), d in dmin.items():
            if d is not None and d < settings.r_min:
                raise FitError(f"r_min = {settings.r_min} Å but the data has a {a}-{b} distance of {d:.3f} Å")
    r_min = choose_r_min(dmin, settings.cutoff2, settings.intervals2)
    rng = np.random.default_rng(settings.seed)
    k = max(1, int(settings.cv_folds))
    folds = rng.permutation(np.arange(len(frames)) % k)
    fractions = [settings.energy_weight, settings.force_weight, settings.stress_weight]
    weights = type_weights(frames, fractions)
    present = None
    if settings.mode != "universal" and len(elements) > 1:
        present = present_terms(frames, elements, settings.cutoff2, settings.cutoff3, threads)
    x_ranges = None
    scaling_info = None
    t_scaling = 0.0
    if settings.mode != "specific":
        from .scaling import initial_scaling

        if scaling is None:
            scaling = initial_scaling(frames, elements, settings.scaling, dmin)
        pairs = list(combinations_with_replacement(elements, 2))
        # knots in x fixed once, with room below for the scalars to move
        x_ranges = universal_x_ranges(pairs, scaling, lambda a, b: r_min.get((a, b), r_min.get((b, a))), settings,
                                      margin=1.0)
        if settings.scaling_iterations > 0 and len(elements) > 1:
            from .varpro import optimize_scaling

            t_s = time.perf_counter()
            layout0 = Layout(elements, r_min, settings, scaling, x_ranges=x_ranges, present=present)
            log(f"{len(frames)} structures, elements {' '.join(elements)}, {layout0.n_columns} coefficients; "
                "fitting the universal scaling (variable projection)")
            g0 = accumulate(layout0, frames, folds, weights, threads=threads, progress=progress)
            s0 = solve(g0, layout0, settings, threads)
            vp = optimize_scaling(frames, elements, r_min, settings, scaling, s0.ridge, s0.curvature, x_ranges,
                                  weights, max_iter=settings.scaling_iterations, threads=threads, log=log,
                                  present=present)
            scaling = vp.scaling
            t_scaling = time.perf_counter() - t_s
            scaling_info = {"iterations": vp.iterations, "loss": vp.loss_history, "seconds": t_scaling}
        scaling, inferred = infer_unseen_pairs(scaling, dmin)
        scaling_info = dict(scaling_info or {})
        scaling_info["fitted_pairs"] = [f"{a}-{b}" for (a, b), d in dmin.items() if d is not None]
        scaling_info["inferred_pairs"] = [f"{a}-{b}" for a, b in inferred]
    layout = Layout(elements, r_min, settings, scaling, x_ranges=x_ranges, present=present)
    log(f"{len(frames)} structures, elements {' '.join(elements)}, {layout.n_columns} coefficients")
    t_layout = time.perf_counter()
    grams = accumulate(layout, frames, folds, weights, threads=threads, progress=progress)
    t_feat = time.perf_counter()
    sol = solve(grams, layout, settings, threads)
    t_solve = time.perf_counter()
    # cross-validation errors at the chosen point: each fold's model on its held-out structures
    cv = None
    if sol.fold_coef:
        held, preds = [], []
        used = [f for f in range(grams.n_folds) if grams.n_structures[f] > 0]
        for f, c in zip(used, sol.fold_coef):
            sub = [fr for fr, g in zip(frames, folds) if g == f]
            r = evaluate(layout.model(c), sub, threads=threads, return_predictions=True)
            held.extend(sub)
            preds.extend(r["predictions"])
        cv = pooled_errors(held, preds)
    t_cv = time.perf_counter()
    meta = {
        "fit": {
            "mode": settings.mode,
            "cutoff2": settings.cutoff2,
            "cutoff3": settings.cutoff3,
            "intervals2": int(settings.intervals2),
            "intervals3": list(settings.intervals3),
            "r_min": {f"{a}-{b}": v for (a, b), v in r_min.items()},
            "ridge": sol.ridge,
            "curvature": sol.curvature,
            "weights": fractions,
            "cv_folds": k,
            "n_structures": int(grams.n_structures.sum()),
            "n_atoms": int(grams.n_atoms.sum()),
            "cv_errors": cv,
        }
    }
    if scaling_info is not None:
        meta["scaling"] = scaling_info
    model = layout.model(sol.coef, metadata=meta)
    return FitResult(
        model,
        sol,
        layout,
        cv,
        {
            "scaling_s": t_scaling,
            "layout_s": t_layout - t0 - t_scaling,
            "featurise_s": t_feat - t_layout,
            "solve_s": t_solve - t_feat,
            "cv_errors_s": t_cv - t_solve,
            "total_s": t_cv - t0,
        },
        grams.nbytes,
    )


def infer_unseen_pairs(scaling: Scaling, dmin):
    """Pairs never seen together in the data get scalings from the fitted ones.

    Element mode needs nothing (combination rules from element scalars).
    Pair mode: r0_ab = rho_a + rho_b and l_ab = (lambda_a + lambda_b)/2 with
    rho_a, lambda_a taken from the element's fitted like pair (r0_aa/2, l_aa),
    else the mean over its fitted unlike pairs, else left as initialised.
    Returns (scaling, inferred pairs).
    """
    unseen = [p for p, d in dmin.items() if d is None]
    if scaling.mode != "pair" or not unseen:
        return scaling, unseen
    seen = [p for p, d in dmin.items() if d is not None]
    rho, lam = {}, {}
    for a, b in seen:
        r0, l = scaling.pair(a, b)
        if a == b:
            rho[a], lam[a] = 0.5 * r0, l
    for a, b in seen:
        r0, l = scaling.pair(a, b)
        for x, y in ((a, b), (b, a)):
            if x not in rho and y in rho:
                rho.setdefault(x, r0 - rho[y])
                lam.setdefault(x, l)
    pairs = dict(scaling.pairs)
    for a, b in unseen:
        if a in rho and b in rho:
            key = (a, b) if (a, b) in pairs else (b, a)
            pairs[key] = (rho[a] + rho[b], 0.5 * (lam[a] + lam[b]))
    return Scaling("pair", dict(scaling.amplitudes), pairs=pairs), unseen


def pooled_errors(frames, predictions):
    """Energy (meV/atom), force (eV/Å) and stress (GPa) MAE/RMSE over frames and their predictions."""
    de, df, ds = [], [], []
    for fr, p in zip(frames, predictions):
        de.append((p["energy"] - fr.energy) / len(fr.atoms))
        if fr.forces is not None:
            df.append((p["forces"] - fr.forces).ravel())
        if fr.stress is not None and p["stress"] is not None:
            ds.append(p["stress"] - fr.stress)

    def stats(x, scale):
        if not len(x):
            return None, None
        x = np.concatenate([np.atleast_1d(v) for v in x]) * scale
        return float(np.mean(np.abs(x))), float(np.sqrt(np.mean(x * x)))

    e = stats(de, 1000.0)
    f = stats(df, 1.0)
    s = stats(ds, EV_A3_TO_GPA)
    return {
        "energy_mae_mev_per_atom": e[0],
        "energy_rmse_mev_per_atom": e[1],
        "force_mae_ev_per_a": f[0],
        "force_rmse_ev_per_a": f[1],
        "stress_mae_gpa": s[0],
        "stress_rmse_gpa": s[1],
    }
