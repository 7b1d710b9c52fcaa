"""Settings chosen from the training data: cutoffs from its coordination
shells, resolution and loss weights by cross-validation (issue 13).

:func:`sus2c.fit.fit` calls :func:`select` when cutoffs, interval counts or
loss weights are left at None in specific mode (see :func:`wants_selection`);
every setting given explicitly is used as given.

Cutoff rule (:func:`shell_gaps`, :func:`choose_cutoffs`)
--------------------------------------------------------
1. One scan of the training structures (:func:`sus2c.distances.pair_statistics`)
   gives each element pair's histogram of neighbour distances up to
   ``r_max``; each count is weighted by 1/r² and divided by the number of
   atoms, so that every atom counts the same and a uniform (ideal-gas)
   distribution is flat.  The histogram is smoothed with a Gaussian of width
   ``sigma`` (default 2.5 % of the nearest-neighbour distance) and divided by
   its own mean over [1.5 d_nn, r_max]: the result ``g`` is a radial
   distribution function up to normalisation (~1: distances as common as at
   long range; 0: none at all).
2. Shells are the maxima of ``g`` with prominence >= ``min_prominence``
   (default 0.25); a *gap* is the stretch between two consecutive shells.
   Its depth is min(left peak, right peak) - (lowest g in it); its cutoff
   position is the middle of the part of the gap where g lies within 10 % of
   the depth above its lowest value (in a clean crystal gap, the middle of
   the empty stretch; in a liquid, the first minimum of g(r)).  A gap counts
   when its depth is >= 0.3 and its lowest g <= 0.8.
3. ``d_nn`` is the first shell of the all-pairs ``g``.  With several
   elements the settings take one cutoff for all pairs, so gaps are taken
   from the all-pairs ``g``; the per-pair ``g`` at each candidate is
   reported (and warned about when a pair with >= 5 % of the distances has
   g > 1 there).
4. 3-body cutoff candidates: gap positions in [1.15, 2.0] d_nn (the 2nd to
   4th fcc/bcc/diamond shells; triplets per atom grow as rc^6, and MD time
   with them); 2-body candidates: gap positions in [1.5, 2.7] d_nn.  At most
   three of each, the gaps of lowest density.  Where the data has no gap in
   a range (liquids, amorphous data), fixed fallbacks 1.5 d_nn (3-body) and
   2.2 d_nn (2-body) are used and marked so.

Selection (:func:`select`): see its docstring.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from itertools import combinations_with_replacement

import numpy as np

from ..distances import pair_statistics
from ..units import EV_PER_A3_TO_GPA, MEV_PER_EV
from .folds import blocked_folds, near_duplicate_runs, random_folds
from .layout import Layout
from .rows import Grams, design_batches, targets, type_weights
from .settings import CHOSEN, FIXED_DEFAULTS, FitError, FitSettings
from .solve import DEFAULT_CURVATURE_GRID, DEFAULT_RIDGE_GRID, solve
from .start import infer_elements, model_elements, scan_data

# ranges, in units of the nearest-neighbour distance, in which candidates are taken
CUTOFF3_RANGE = (1.15, 2.0)
CUTOFF2_RANGE = (1.5, 2.7)
CUTOFF3_FALLBACK = 1.5
CUTOFF2_FALLBACK = 2.2
MAX_CANDIDATES = 3  # per cutoff: the gaps of lowest density
HISTOGRAM_BIN = 0.005  # Å
NEAR_DUPLICATE_TOL = 0.25  # x d_nn: RMS displacement between consecutive frames of one MD run


# --------------------------------------------------------------------------- pair distribution


@dataclass
class ShellAnalysis:
    """Pair distribution of a data set: ``g`` per element pair and all pairs ("*")."""

    r: np.ndarray  # grid (bin centres), Å
    g: dict  # pair key "A-B" or "*" -> relative density on r
    share: dict  # pair key -> share of the distances in [0, r_max]
    d_nn: float  # first shell of the all-pairs g, Å
    sigma: float
    r_max: float
    shells: dict = field(default_factory=dict)  # key -> list of {"r", "g"}
    gaps: dict = field(default_factory=dict)  # key -> list of {"lo", "hi", "r", "g", "g_min", "depth"}
    neighbours: np.ndarray = None  # mean neighbours per atom within r (cumulative, on r)
    n_atoms: int = 0

    def neighbours_within(self, r):
        return float(np.interp(r, self.r, self.neighbours))

    def triplets_within(self, r):
        """Mean pairs of neighbours (3-body terms) per atom within r (from the mean neighbour count)."""
        n = self.neighbours_within(r)
        return 0.5 * n * max(n - 1.0, 0.0)

    def at(self, key, r):
        """Relative density of pair ``key`` at distance r (linear interpolation)."""
        return float(np.interp(r, self.r, self.g[key]))

    def summary(self):
        """JSON-able shells and gaps (no arrays)."""
        return {"d_nn": self.d_nn, "sigma": self.sigma, "r_max": self.r_max, "share": self.share,
                "shells": self.shells, "gaps": self.gaps}


def smooth(h, dr, sigma):
    """Gaussian smoothing (zero outside the grid)."""
    half = int(np.ceil(4 * sigma / dr))
    x = np.arange(-half, half + 1) * dr
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return np.convolve(h, k / k.sum(), mode="same")


def find_peaks(g, min_prominence):
    """Indices of maxima of ``g`` whose prominence (as in scipy.signal.find_peaks) is >= min_prominence."""
    n = len(g)
    out = []
    i = 1
    while i < n - 1:
        if g[i] > g[i - 1]:
            j = i
            while j < n - 1 and g[j + 1] == g[i]:  # plateau
                j += 1
            if j < n - 1 and g[j + 1] < g[i]:
                peak = (i + j) // 2
                left = g[:peak][::-1]
                higher = np.nonzero(left > g[peak])[0]
                lmin = left[: higher[0]].min() if len(higher) else left.min()
                right = g[peak + 1 :]
                higher = np.nonzero(right > g[peak])[0]
                rmin = right[: higher[0]].min() if len(higher) else right.min()
                if g[peak] - max(lmin, rmin) >= min_prominence:
                    out.append(peak)
            i = j + 1
        else:
            i += 1
    return np.array(out, dtype=int)


def shells_and_gaps(r, g, min_prominence):
    """Shells (maxima) and the gaps between consecutive shells of a relative density."""
    peaks = find_peaks(g, min_prominence)
    shells = [{"r": float(r[p]), "g": float(g[p])} for p in peaks]
    gaps = []
    for p, q in zip(peaks[:-1], peaks[1:]):
        seg = g[p : q + 1]
        k = int(np.argmin(seg))
        gmin = float(seg[k])
        depth = float(min(g[p], g[q]) - gmin)
        low = seg <= gmin + 0.1 * depth
        a = k  # the contiguous low stretch around the minimum
        while a > 0 and low[a - 1]:
            a -= 1
        b = k
        while b < len(seg) - 1 and low[b + 1]:
            b += 1
        mid = 0.5 * (r[p + a] + r[p + b])
        gaps.append({"lo": float(r[p]), "hi": float(r[q]), "r": float(mid), "g": float(np.interp(mid, r, g)),
                     "g_min": gmin, "depth": depth})
    return shells, gaps


def shell_gaps(frames, elements=None, r_max=None, sigma=None, min_prominence=0.25, threads=1) -> ShellAnalysis:
    """The pair distribution of ``frames`` per element pair, its shells and the gaps between them.

    ``frames``: :class:`sus2c.data.Frame` objects or ase Atoms.  ``r_max``
    (default max(8 Å, 3 d_nn)), ``sigma`` the smoothing width (default
    0.025 d_nn).  One :func:`~sus2c.distances.pair_statistics` scan (two
    when the data's first shell lies beyond 8/3 Å).  See the module
    docstring for the rule.
    """
    elements = list(elements) if elements else infer_elements(frames)
    n_atoms = max(1, sum(len(getattr(f, "atoms", f)) for f in frames))

    def scan(cut):
        return pair_statistics(frames, elements, cut, histogram_cutoff=cut, threads=threads, strict=False,
                               bin_width=HISTOGRAM_BIN)

    cut = float(r_max) if r_max else 8.0
    st = scan(cut)
    total = sum(st.histogram.values()) if st.histogram else None
    if total is None or not np.any(total):
        raise ValueError(f"no two atoms closer than {cut} Å in the data: cannot analyse its shells")
    # length scale to start from: where atoms have one neighbour on average
    nb = np.cumsum(total) / n_atoms
    d_guess = float(st.edges[1:][np.searchsorted(nb, 1.0)]) if nb[-1] >= 1.0 else float(st.edges[-1])
    if r_max is None and 3.0 * d_guess > cut:
        cut = 3.0 * d_guess
        st = scan(cut)
        total = sum(st.histogram.values())
    edges = st.edges
    dr = st.bin_width
    r = 0.5 * (edges[1:] + edges[:-1])
    keys = {p: f"{p[0]}-{p[1]}" for p in combinations_with_replacement(elements, 2)}
    raw = {}
    counts = {}
    for p, key in keys.items():
        h = st.histogram.get(p, np.zeros(len(r)))
        counts[key] = float(h.sum())
        raw[key] = h / (r * r) / n_atoms / dr
    raw["*"] = sum(raw[k] for k in keys.values())
    n_total = sum(counts.values())
    share = {k: (c / n_total if n_total else 0.0) for k, c in counts.items()}

    def relative(h, sig, d_nn):
        s = smooth(h, dr, sig)
        sel = (r >= 1.5 * d_nn) & (r <= cut - 3 * sig)
        m = float(s[sel].mean()) if sel.any() and s[sel].mean() > 0 else float(s.max() or 1.0)
        return s / m

    sig = float(sigma) if sigma else 0.025 * d_guess
    shells, _ = shells_and_gaps(r, relative(raw["*"], sig, d_guess), min_prominence)
    d_nn = shells[0]["r"] if shells else d_guess
    if sigma is None and abs(d_nn - d_guess) > 0.05 * d_guess:
        sig = 0.025 * d_nn
    out = ShellAnalysis(r=r, g={}, share=share, d_nn=float(d_nn), sigma=float(sig), r_max=float(cut),
                        neighbours=np.cumsum(total) / n_atoms, n_atoms=int(n_atoms))
    for k in list(keys.values()) + ["*"]:
        g = relative(raw[k], sig, d_nn) if raw[k].any() else np.zeros_like(r)
        out.g[k] = g
        out.shells[k], out.gaps[k] = shells_and_gaps(r, g, min_prominence)
    return out


# --------------------------------------------------------------------------- cutoffs


def cutoff_candidates(sa: ShellAnalysis, rng_nn, fallback, min_depth, max_g):
    lo, hi = rng_nn[0] * sa.d_nn, rng_nn[1] * sa.d_nn
    out = []
    for gap in sa.gaps["*"]:
        if lo <= gap["r"] <= hi and gap["depth"] >= min_depth and gap["g_min"] <= max_g:
            out.append({"r": round(gap["r"], 2), "g": round(sa.at("*", gap["r"]), 3),
                        "gap": [round(gap["lo"], 3), round(gap["hi"], 3)], "depth": round(gap["depth"], 3),
                        "rule": "gap"})
    if len(out) > MAX_CANDIDATES:  # the cleanest gaps (lowest density there), in order of distance
        out = sorted(sorted(out, key=lambda c: (c["g"], c["r"]))[:MAX_CANDIDATES], key=lambda c: c["r"])
    if not out:
        r = round(fallback * sa.d_nn, 2)
        out.append({"r": r, "g": round(sa.at("*", r), 3), "gap": None, "depth": None,
                    "rule": f"fallback {fallback} d_nn (no gap in [{rng_nn[0]}, {rng_nn[1]}] d_nn)"})
    return out


def choose_cutoffs(frames, elements=None, r_max=None, min_depth=0.3, max_g=0.8, threads=1, analysis=None):
    """Candidate 2- and 3-body cutoffs in gaps between coordination shells.

    Returns a JSON-able dict: ``d_nn``, ``cutoff3`` and ``cutoff2`` candidate
    lists (each entry: r, relative density g there, the shells either side,
    gap depth, rule, and per-pair g for several elements), cheapest first;
    ``analysis`` (shells and gaps); ``warnings``.  See the module docstring.
    """
    sa = analysis or shell_gaps(frames, elements, r_max=r_max, threads=threads)
    c3 = cutoff_candidates(sa, CUTOFF3_RANGE, CUTOFF3_FALLBACK, min_depth, max_g)
    c2 = cutoff_candidates(sa, CUTOFF2_RANGE, CUTOFF2_FALLBACK, min_depth, max_g)
    pair_keys = [k for k in sa.g if k != "*"]
    warnings = []
    for cands, what in ((c3, "cutoff3"), (c2, "cutoff2")):
        for c in cands:
            if len(pair_keys) > 1:
                c["per_pair_g"] = {k: round(sa.at(k, c["r"]), 3) for k in pair_keys}
                for k in pair_keys:
                    if sa.share[k] >= 0.05 and sa.at(k, c["r"]) > 1.0:
                        warnings.append(f"{what} candidate {c['r']} Å lies on a {k} shell (g = {sa.at(k, c['r']):.2f})")
            if c["g"] > max_g:
                warnings.append(f"{what} candidate {c['r']} Å: the data has no clean gap there (g = {c['g']:.2f})")
    return {"d_nn": round(sa.d_nn, 4), "cutoff3": c3, "cutoff2": c2, "analysis": sa.summary(),
            "warnings": warnings}


# --------------------------------------------------------------------------- cross-validation from Gram matrices

TYPE_NAMES = ("energy", "force", "stress")
TYPE_SCALE = (MEV_PER_EV, 1.0, EV_PER_A3_TO_GPA)  # meV/atom, eV/Å, GPa


class TypedGrams:
    """Unweighted normal equations per fold *and* target type (energy per atom,
    force component, stress component): any energy/force/stress balance is a
    weighted sum of them (:meth:`weighted`), so one featurisation serves
    every weight variant.  Energy and stress rows are also kept (a few per
    structure) for exact held-out MAEs."""

    def __init__(self, n_columns, n_folds):
        P, F = n_columns, n_folds
        self.n_columns, self.n_folds = P, F
        self.G = np.zeros((F, 3, P, P))
        self.b = np.zeros((F, 3, P))
        self.yy = np.zeros((F, 3))
        self.rows = np.zeros((F, 3))  # frame-weighted row counts
        self.n_structures = np.zeros(F, dtype=int)
        self.n_atoms = np.zeros(F, dtype=int)
        self.e_rows, self.e_y, self.e_fold, self.e_w = [], [], [], []
        self.s_rows, self.s_y, self.s_fold, self.s_w = [], [], [], []
        self.last_energy_abs = None

    def weighted(self, weights) -> Grams:
        """The :class:`~sus2c.fit.rows.Grams` for row weights per type (see :func:`~sus2c.fit.rows.type_weights`)."""
        g = Grams(self.n_columns, self.n_folds)
        w = np.asarray(weights, dtype=float)
        g.G = np.einsum("t,ftij->fij", w, self.G, optimize=True)
        g.b = np.einsum("t,fti->fi", w, self.b)
        g.yy = self.yy @ w
        g.n_structures = self.n_structures.copy()
        g.n_atoms = self.n_atoms.copy()
        return g

    def finish(self):
        """Stack the kept rows into arrays (after featurisation)."""
        P = self.n_columns
        self.e_rows = np.array(self.e_rows).reshape(-1, P)
        self.e_y, self.e_fold, self.e_w = (np.asarray(x) for x in (self.e_y, self.e_fold, self.e_w))
        self.s_rows = np.array(self.s_rows).reshape(-1, P)
        self.s_y, self.s_fold, self.s_w = (np.asarray(x) for x in (self.s_y, self.s_fold, self.s_w))
        return self

    @property
    def nbytes(self):
        return self.G.nbytes + self.b.nbytes + self.e_rows.nbytes + self.s_rows.nbytes

    def cv_errors(self, fold_coef, folds_used):
        """Held-out errors of fold models: RMSE per type (exact, from the Grams) and
        energy and stress MAE (from the kept rows); meV/atom, eV/Å, GPa.  The
        per-structure energy errors are left in ``last_energy_abs``."""
        out = {f"{k}_rmse": v for k, v in self.cv_rmse(fold_coef, folds_used).items()}
        for name, X, y, fo, w, sc in (("energy", self.e_rows, self.e_y, self.e_fold, self.e_w, TYPE_SCALE[0]),
                                      ("stress", self.s_rows, self.s_y, self.s_fold, self.s_w, TYPE_SCALE[2])):
            err = np.full(len(y), np.nan)
            for f, c in zip(folds_used, fold_coef):
                sel = fo == f
                if sel.any():
                    err[sel] = np.abs(X[sel] @ c - y[sel]) * sc
            ok = np.isfinite(err) & (w > 0)
            out[f"{name}_mae"] = float(np.sum(w[ok] * err[ok]) / np.sum(w[ok])) if ok.any() else None
            if name == "energy":
                self.last_energy_abs = np.where(ok, err, 0.0)
        return out

    def cv_rmse(self, fold_coef, folds_used):
        """Pooled held-out RMSE per type (meV/atom, eV/Å, GPa) of fold models."""
        sse = np.zeros(3)
        n = np.zeros(3)
        for f, c in zip(folds_used, fold_coef):
            for t in range(3):
                if self.rows[f, t] <= 0:
                    continue
                sse[t] += c @ self.G[f, t] @ c - 2.0 * c @ self.b[f, t] + self.yy[f, t]
                n[t] += self.rows[f, t]
        return {name: (float(np.sqrt(max(sse[t], 0.0) / n[t]) * sc) if n[t] > 0 else None)
                for t, (name, sc) in enumerate(zip(TYPE_NAMES, TYPE_SCALE))}


def accumulate_typed(layout, frames, folds, threads=1, stress=True, batch_rows=4096) -> TypedGrams:
    """Design rows of ``frames`` (:func:`~sus2c.fit.rows.design_batches`) into
    :class:`TypedGrams` (frame weights applied, type weights not)."""
    tg = TypedGrams(layout.n_columns, int(max(folds) + 1))
    fold_of = {id(fr): int(f) for fr, f in zip(frames, folds)}
    for batch, X, row_start in design_batches(layout, frames, threads, batch_rows, stress):
        y = np.zeros(len(X))
        w = np.zeros(len(X))
        typ = np.full(len(X), 1, dtype=np.intp)
        fold_of_row = np.zeros(len(X), dtype=np.intp)
        for k, fr in enumerate(batch):
            r0, r1 = row_start[k], row_start[k + 1]
            y[r0:r1], w[r0:r1] = targets(fr, r1 - r0, (1.0, 1.0, 1.0))
            typ[r0] = 0
            if r1 - r0 == 1 + 3 * len(fr.atoms) + 6:
                typ[r1 - 6 : r1] = 2
            f = fold_of[id(fr)]
            fold_of_row[r0:r1] = f
            tg.n_structures[f] += 1
            tg.n_atoms[f] += len(fr.atoms)
        for f in np.unique(fold_of_row):
            for t in range(3):
                sel = (fold_of_row == f) & (typ == t) & (w > 0)
                if not sel.any():
                    continue
                sw = np.sqrt(w[sel])
                Xw = X[sel] * sw[:, None]
                yw = y[sel] * sw
                tg.G[f, t] += Xw.T @ Xw
                tg.b[f, t] += Xw.T @ yw
                tg.yy[f, t] += yw @ yw
                tg.rows[f, t] += float(w[sel].sum())
                if t == 0:
                    tg.e_rows.extend(X[sel]), tg.e_y.extend(y[sel]), tg.e_w.extend(w[sel])
                    tg.e_fold.extend([f] * int(sel.sum()))
                elif t == 2:
                    tg.s_rows.extend(X[sel]), tg.s_y.extend(y[sel]), tg.s_w.extend(w[sel])
                    tg.s_fold.extend([f] * int(sel.sum()))
    return tg.finish()


def candidate_layout(frames, settings, threads=1) -> Layout:
    """The :class:`~sus2c.fit.layout.Layout` that :func:`sus2c.fit.fit` builds for complete ``settings``."""
    scan = scan_data(frames, settings, threads)
    return Layout(scan.elements, scan.r_min, settings, present=scan.present)


def cv_scores(tg: TypedGrams, layout, frames, settings, threads=1, start=None):
    """Solve as :func:`sus2c.fit.solve.solve` does for ``settings``' weights; held-out errors per type.

    ``start`` = (ridge, curvature): instead of the full ridge x curvature
    grid, a coordinate search from there (curvature grid at that ridge, then
    ridge grid at the best curvature): 9 grid points instead of 20, for
    large models.  Returns (errors, Solution)."""
    g = tg.weighted(type_weights(frames, settings.weights))
    if start is not None and settings.ridge == "cv" and settings.curvature == "cv":
        s1 = solve(g, layout, replace(settings, ridge=float(start[0])), threads)
        sol = solve(g, layout, replace(settings, curvature=float(s1.curvature)), threads)
        sol.cv_table = s1.cv_table + sol.cv_table
    else:
        sol = solve(g, layout, settings, threads)
    used = [f for f in range(g.n_folds) if g.n_structures[f] > 0]
    return tg.cv_errors(sol.fold_coef, used), sol


# --------------------------------------------------------------------------- selection

# knot spacing in units of d_nn: the first value is the base, the rest are the
# variants tried in the resolution stage (coarse first: cheapest first)
H3_SPACINGS = (0.14, 0.18, 0.11, 0.09)  # 3-body legs ij, ik (jk has twice the intervals)
H2_SPACINGS = (0.055, 0.075, 0.04)  # 2-body
# energy share of the energy+force loss (force share = 1 - e); steps of about 3x in e / (1 - e)
ENERGY_FRACTIONS = (0.5, 0.75, 0.9, 0.97, 0.99, 0.997)
STRESS_FRACTIONS = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
FORCE_TOLERANCE = 0.02  # a stress weight may raise the CV force RMSE by at most 2 %
# ... and the CV energy MAE by at most this many standard errors of the paired per-structure
# difference: 0 = not at all.  One standard error let through weights that made held-out
# energies worse in nested CV on mo-train (analysis/auto_stress_rule.py), 0 kept the gains on
# data whose stresses are consistent with its energies (EMT).
STRESS_ENERGY_TOLERANCE_SE = 0.0
# folds of the selection: "blocked" keeps runs of near-duplicate MD snapshots in one fold
# (nested CV on mo-train: analysis/auto_nested_cv.py)
FOLD_SCHEME = "blocked"
# above this many coefficients, ridge and curvature are found by a coordinate
# search from the best model so far (9 grid points) instead of the full grid (20)
COORDINATE_SEARCH_COLUMNS = 700

# cost model: seconds on one core of the development machine, used to plan
# within the budget so that the plan does not depend on the clock.  Kernel,
# Gram and Cholesky rates were measured on mo-train (process time, one
# thread); COST_SCALE covers what they leave out (Python overhead, imperfect
# 2-thread scaling).
COST_SCALE = 1.5
CLOCK_STOP_FACTOR = 2.0  # the only use of the clock: no further candidates once it passes this x the budget
COST = {k: COST_SCALE * v for k, v in {
    "pair": 2.0e-7,  # per neighbour entry within cutoff2 (design kernel)
    "triplet": 4.5e-7,  # per triplet within cutoff3 (design kernel)
    "cell": 1.4e-8,  # per row x coefficient (design matrix written, scaled, split by type)
    "gram": 4.5e-11,  # per row x P^2 (Gram accumulation, BLAS syrk)
    "frame": 2.0e-4,  # per structure (neighbour list, bookkeeping)
    "cholesky": 2.0e-11,  # per P^3 (one factorisation and solve)
}.items()}


@dataclass
class Selection:
    """Chosen settings, the folds they were chosen with, and the JSON-able record of every candidate."""

    settings: FitSettings
    record: dict
    folds: np.ndarray


def wants_selection(settings: FitSettings, frames) -> bool:
    """Does :func:`sus2c.fit.fit` run :func:`select` for these settings and data?

    ``settings.auto`` True: yes (specific mode without an embedding only);
    False: no; None: in specific mode without an embedding when a cutoff,
    interval count or loss weight is unset (an unset stress weight counts
    only when the data has stress)."""
    if settings.auto is False:
        return False
    if settings.mode != "specific" or settings.embedding != "none":
        # the candidates are plain 2+3-body models: not what the universal modes or an embedding fit
        if settings.auto:
            raise FitError("automatic settings (auto = true) are for mode = 'specific' without an embedding, "
                           f"not mode {settings.mode!r}, embedding {settings.embedding!r}")
        return False
    if settings.auto:
        return True
    unset = set(settings.unset())
    if unset == {"stress_weight"} and not any(has_stress(fr) for fr in frames):
        return False
    if settings.cutoff3 == 0:
        unset.discard("intervals3")
    return bool(unset)


def has_stress(frame) -> bool:
    return frame.stress is not None and bool(frame.atoms.pbc.all())


def intervals_for(c, r_lo, h, d_nn, minimum):
    return max(minimum, int(round((c - r_lo) / (h * d_nn))))


def score_of(cv):
    """Lower is better: CV energy MAE x CV force RMSE (equal weight to equal relative changes)."""
    e = cv.get("energy_mae")
    f = cv.get("force_rmse")
    return float(e * (f if f is not None else 1.0))


class Search:
    """Featurisations (structural candidates) and solves (weight variants) within a planned budget."""

    def __init__(self, frames, elements, folds, given, threads, budget_s, log, n_grid, sa, progress=None):
        self.frames = frames
        self.elements = elements
        self.folds = folds
        self.given = given
        self.threads = threads
        self.budget = float(budget_s)
        self.log = log
        self.n_grid = n_grid
        self.sa = sa
        self.progress = progress
        self.planned = 0.0  # predicted seconds of what was run
        self.t0 = time.perf_counter()
        self.rows = sum(1 + 3 * len(fr.atoms) + 6 for fr in frames)
        self.n_folds = int(max(folds) + 1)
        self.candidates = []  # record entries
        self.cache = {}  # structure key -> (layout, typed grams), for the current best only
        self.has_stress = any(has_stress(fr) for fr in frames)
        self.has_forces = any(fr.forces is not None for fr in frames)
        self.clock_stop = False
        self.start = None  # (ridge, curvature) of the best model so far: start of coordinate searches

    # ---- cost model
    def n_columns(self, key):
        """Number of coefficients of a specific-mode model (every pair and triplet present)."""
        c2, c3, n2, n3 = key
        ne = len(self.elements)
        p = ne + ne * (ne + 1) // 2 * n2
        if c3 > 0:
            sym = n3 * (n3 + 1) // 2 * 2 * n3  # like legs tied
            asym = n3 * n3 * 2 * n3
            p += ne * (ne * sym + ne * (ne - 1) // 2 * asym)
        return p

    def cost_featurise(self, key):
        c2, c3, n2, n3 = key
        P = self.n_columns(key)
        n = self.sa.n_atoms
        t = COST["pair"] * n * self.sa.neighbours_within(c2) / self.threads
        if c3 > 0:
            t += COST["triplet"] * n * self.sa.triplets_within(c3) / self.threads
        t += (COST["cell"] * self.rows * P + COST["gram"] * self.rows * P * P) / self.threads
        t += COST["frame"] * len(self.frames)
        return t

    def coordinate(self, key):
        """Coordinate search of ridge and curvature (instead of the full grid) for this model?"""
        return self.start is not None and self.n_grid > 9 and self.n_columns(key) > COORDINATE_SEARCH_COLUMNS

    def cost_solve(self, key):
        P = self.n_columns(key)
        if self.coordinate(key):
            return COST["cholesky"] * (5 * self.n_folds + 1) * P**3 / max(1, min(self.threads, 5)) + \
                COST["cholesky"] * (4 * self.n_folds + 1) * P**3 / max(1, min(self.threads, 4))
        points = self.n_grid
        return COST["cholesky"] * (points * self.n_folds + 1) * P**3 / max(1, min(self.threads, points))

    def fits(self, predicted):
        return self.planned + predicted <= self.budget

    # ---- evaluation
    def settings_for(self, key, e, f, s):
        c2, c3, n2, n3 = key
        kw = dict(cutoff2=c2, cutoff3=c3, intervals2=n2, intervals3=(n3, n3, 2 * n3) if c3 > 0 else (1, 1, 1),
                  energy_weight=e, force_weight=f, stress_weight=s if self.has_stress else 0.0,
                  mode="specific", threads=self.threads, auto=False)
        for k in ("elements", "r_min", "ridge", "curvature", "cv_folds", "seed"):
            if k in self.given:
                kw[k] = self.given[k]
        if "intervals3" in self.given and c3 > 0:
            kw["intervals3"] = tuple(self.given["intervals3"])
        return FitSettings(**kw)

    def evaluate(self, stage, key, weights, force=False, reserve=0):
        """Featurise ``key`` (unless cached) and solve for every (e, f, s) in ``weights``.

        ``reserve``: number of further solves of this model that must still
        fit in the budget afterwards (the weight stage).  Returns the list of
        record entries (empty when skipped for the budget)."""
        from threadpoolctl import threadpool_limits

        pred = (0.0 if key in self.cache else self.cost_featurise(key)) + len(weights) * self.cost_solve(key)
        c2, c3, n2, n3 = key
        label = f"cutoff2 {c2:.2f} cutoff3 {c3:.2f} intervals2 {n2} intervals3 {n3},{n3},{2 * n3}"
        if self.clock_stop or not (force or self.fits(pred + reserve * self.cost_solve(key))):
            why = "stopped by the clock" if self.clock_stop else "over budget"
            self.log(f"  [{stage}] {label}: skipped ({why}; predicted {pred:.1f} s, "
                     f"{self.budget - self.planned:.1f} s of the plan left)")
            self.candidates.append({"stage": stage, "cutoff2": c2, "cutoff3": c3, "intervals2": n2,
                                    "intervals3": [n3, n3, 2 * n3], "status": f"skipped ({why})",
                                    "predicted_s": round(pred, 2)})
            return []
        self.planned += pred
        t = time.perf_counter()
        if key not in self.cache:
            st = self.settings_for(key, *weights[0])
            layout = candidate_layout(self.frames, st, threads=self.threads)
            with threadpool_limits(limits=self.threads, user_api="blas"):
                tg = accumulate_typed(layout, self.frames, self.folds, threads=self.threads, stress=self.has_stress)
            self.cache[key] = (layout, tg)
        layout, tg = self.cache[key]
        t_feat = time.perf_counter() - t
        out = []
        for e, f, s in weights:
            t1 = time.perf_counter()
            st = self.settings_for(key, e, f, s)
            start = self.start if self.coordinate(key) else None
            cv, sol = cv_scores(tg, layout, self.frames, st, self.threads, start=start)
            entry = {
                "stage": stage, "cutoff2": c2, "cutoff3": c3, "intervals2": n2,
                "intervals3": list(st.intervals3), "energy_weight": e, "force_weight": f,
                "stress_weight": st.stress_weight, "coefficients": int(layout.n_columns),
                "ridge": sol.ridge, "curvature": sol.curvature,
                "regularisation_search": "coordinate" if start else "grid",
                "cv": {k: (round(v, 5) if v is not None else None) for k, v in cv.items()},
                "score": round(score_of(cv), 6), "status": "done",
                "predicted_s": round(pred / len(weights), 2),
                "seconds": round((t_feat if not out else 0.0) + time.perf_counter() - t1, 2),
            }
            entry["_energy_abs"] = tg.last_energy_abs.copy()
            entry["_key"] = key
            out.append(entry)
            self.candidates.append(entry)
            stress = f", stress MAE {cv['stress_mae']:.3f} GPa" if cv.get("stress_mae") is not None else ""
            force_s = f", force RMSE {cv['force_rmse']:.4f} eV/Å" if cv.get("force_rmse") is not None else ""
            self.log(f"  [{stage}] {label} weights {e:g}/{f:g}/{st.stress_weight:g} "
                     f"({layout.n_columns} coef): CV energy MAE {cv['energy_mae']:.3f} meV/atom{force_s}{stress}"
                     f"  score {entry['score']:.4g}  ({entry['seconds']:.1f} s)")
        if time.perf_counter() - self.t0 > CLOCK_STOP_FACTOR * self.budget:
            self.clock_stop = True
            self.log(f"  the clock passed {CLOCK_STOP_FACTOR:g} x the budget ({self.budget:.0f} s): no further "
                     "candidates (the machine is slower or busier than the cost model assumes)")
        return out

    def keep_only(self, key):
        for k in list(self.cache):
            if k != key:
                del self.cache[k]


def best_of(entries):
    done = [c for c in entries if c.get("status") == "done"]
    return min(done, key=lambda c: (c["score"], c["coefficients"])) if done else None


def paired_se(a, b):
    """Standard error of the mean of the paired per-structure differences a - b."""
    d = np.asarray(a) - np.asarray(b)
    return float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0


FOLD_SCHEMES = ("random", "blocked")
RULES = ("best", "one_se")


def one_se_choice(entries, cost):
    """The cheapest of ``entries`` whose score is within one standard error of the best score.

    The standard error is that of the paired per-structure CV energy
    errors against the best, relative to the best's energy MAE (the score
    is energy MAE x force RMSE; the force RMSE, pooled over thousands of
    components, is far less noisy)."""
    done = [c for c in entries if c.get("status") == "done"]
    if not done:
        return None
    best = best_of(done)
    ok = []
    for c in done:
        se = paired_se(c["_energy_abs"], best["_energy_abs"]) / max(best["cv"]["energy_mae"], 1e-12)
        c["score_vs_best_se"] = round(se, 5)
        if c["score"] <= best["score"] * (1.0 + se):
            ok.append(c)
    return min(ok, key=lambda c: (cost(c), c["score"]))


def select(frames, settings: FitSettings = None, threads=1, log=None, progress=None, fold_scheme=FOLD_SCHEME,
           rule="best", analysis=None) -> Selection:
    """Choose the unset cutoffs, resolution and loss weights of ``settings`` by k-fold CV on ``frames``.

    Settings given (not None) are used as given and not searched.  Returns a
    :class:`Selection`: complete ``settings`` for :func:`sus2c.fit.fit`
    (with the ridge and curvature CV chose, unless given), the folds, and
    ``record`` (JSON-able, for the model file's metadata).

    Procedure (specific mode):

    * folds: ``fold_scheme="blocked"`` (default) keeps runs of
      near-duplicate consecutive frames (MD snapshots) in one fold
      (:func:`~sus2c.fit.folds.blocked_folds`), so that a held-out snapshot
      is not scored by a model trained on its neighbours; ``"random"``
      draws them as fit() does for the seed; the final fit uses the same folds;
    * cutoff candidates from :func:`choose_cutoffs`; resolution from knot
      spacings in units of d_nn (``H3_SPACINGS``, ``H2_SPACINGS``; the first
      of each is the base resolution);
    * score of a candidate: CV energy MAE x CV force RMSE, lower is better
      (a 10 % gain in either counts the same, whatever the units);
    * each structural candidate is featurised once into per-fold, per-type
      Gram matrices; any energy/force/stress balance is a weighted sum of
      them, solved with fit()'s ridge x curvature CV grid (a coordinate
      search from the best model so far above COORDINATE_SEARCH_COLUMNS);
    * stages, candidates within a stage cheapest first:
      (A) energy/force balance on the cheapest cutoffs, grid
      ``ENERGY_FRACTIONS`` (energy share e, force 1 - e), no stress;
      (B) every (cutoff2 >= cutoff3) pair of candidates at the base
      resolution with (A)'s balance;
      (C) on the chosen cutoffs: the balance again (grid neighbours,
      walking while the best is at an edge), then the stress weight: of
      ``STRESS_FRACTIONS``, the one of lowest CV stress MAE among those that
      do not make energies worse (CV energy MAE not above that of no stress
      weight; ``STRESS_ENERGY_TOLERANCE_SE``) nor forces (CV force RMSE up
      by at most ``FORCE_TOLERANCE``); none: 0;
      (D) resolution with the final weights: 3-body and 2-body spacing
      variants (cheapest first), then both changes together;
    * ``rule``: in (B) and (D), "best" takes the lowest score, "one_se" the
      cheapest candidate within one standard error of it (:func:`one_se_choice`);
    * budget: every candidate has a predicted cost (``COST``: counts of
      neighbours, triplets, rows and coefficients, divided by the threads);
      a candidate whose cost (plus, in (B), the solves (C) will need) does
      not fit in what is left of ``settings.auto_budget`` is skipped and
      logged.  The plan, and so the choice, does not depend on the clock;
      the clock only stops the search once it has passed twice the budget.
    """
    settings = settings or FitSettings()
    if settings.mode != "specific" or settings.embedding != "none":
        raise FitError("automatic settings are for mode = 'specific' without an embedding")
    if fold_scheme not in FOLD_SCHEMES:
        raise ValueError(f"fold_scheme must be one of {FOLD_SCHEMES}, got {fold_scheme!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    given = {k: v for k, v in settings.given().items() if k not in ("auto", "auto_budget")}
    log = log or (lambda *a, **k: None)
    budget_s = float(settings.auto_budget)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    threads = int(settings.threads or threads or 1)
    seed, k = int(settings.seed), int(settings.cv_folds)
    elements = model_elements(frames, settings)
    n_grid = (len(DEFAULT_RIDGE_GRID) if settings.ridge == "cv" else 1) * (
        len(DEFAULT_CURVATURE_GRID) if settings.curvature == "cv" else 1)
    open_keys = [key for key in settings.unset() if not (key == "intervals3" and settings.cutoff3 == 0)]
    log(f"automatic settings for {', '.join(open_keys) or 'nothing (auto = true)'}: {len(frames)} structures, "
        f"{k}-fold CV ({fold_scheme} folds, seed {seed}), {threads} thread(s), budget {budget_s:.0f} s")
    sa = analysis or shell_gaps(frames, elements, threads=threads)
    cut = choose_cutoffs(frames, elements, analysis=sa)
    d_nn = sa.d_nn
    log(f"  pair distribution: first shell {d_nn:.3f} Å; shells "
        + ", ".join(f"{x['r']:.2f}" for x in sa.shells["*"][:8]) + " Å")
    log("  cutoff3 candidates: " + ", ".join(f"{c['r']:.2f} Å (g {c['g']:.2f}, {c['rule']})" for c in cut["cutoff3"]))
    log("  cutoff2 candidates: " + ", ".join(f"{c['r']:.2f} Å (g {c['g']:.2f}, {c['rule']})" for c in cut["cutoff2"]))
    for w in cut["warnings"]:
        log(f"  warning: {w}")

    c3s = [float(given["cutoff3"])] if "cutoff3" in given else [c["r"] for c in cut["cutoff3"]]
    c2s = [float(given["cutoff2"])] if "cutoff2" in given else [c["r"] for c in cut["cutoff2"]]
    pairs = [(c2, c3) for c3 in c3s for c2 in c2s if c2 >= c3]
    if not pairs:  # a given cutoff outside the other's candidates
        if "cutoff2" in given:
            pairs = [(c2s[0], min(c3s[0], c2s[0]))]
        else:
            pairs = [(max(c2s[-1], c3s[0]), c3s[0])]
    dmin = pair_statistics(frames, elements, max(max(p) for p in pairs), threads=threads, strict=False).shortest
    seen = [v for v in dmin.values() if v is not None]
    r_lo = float(given["r_min"]) if "r_min" in given else (min(seen) if seen else 0.5 * d_nn)

    def key_of(c2, c3, h2=H2_SPACINGS[0], h3=H3_SPACINGS[0]):
        n2 = int(given["intervals2"]) if "intervals2" in given else intervals_for(c2, r_lo, h2, d_nn, 6)
        if c3 <= 0:
            n3 = 1
        elif "intervals3" in given:
            n3 = int(tuple(given["intervals3"])[0])
        else:
            n3 = intervals_for(c3, r_lo, h3, d_nn, 3)
        return (float(c2), float(c3), n2, n3)

    fixed_balance = "energy_weight" in given or "force_weight" in given
    e_fixed = float(given.get("energy_weight", FIXED_DEFAULTS["energy_weight"]))
    f_fixed = float(given.get("force_weight", FIXED_DEFAULTS["force_weight"]))
    runs = near_duplicate_runs(frames, NEAR_DUPLICATE_TOL * d_nn)
    n_runs = sum(1 for r in runs if len(r) > 1)
    if fold_scheme == "blocked":
        folds, n_pieces = blocked_folds(frames, k, seed, NEAR_DUPLICATE_TOL * d_nn)
        log(f"  folds: {k}, keeping runs of near-duplicate consecutive frames together "
            f"({n_runs} runs of 2 or more frames, in {n_pieces} pieces)")
    else:
        folds = random_folds(len(frames), k, seed)
        if n_runs:
            log(f"  note: {n_runs} runs of near-duplicate consecutive frames (MD snapshots); random folds put "
                "their neighbours in the training folds, so CV errors are optimistic for unseen configurations")
    S = Search(frames, elements, folds, given, threads, budget_s, log, n_grid, sa, progress)
    if not S.has_forces:
        fixed_balance, e_fixed, f_fixed = True, 1.0, 0.0
    s_fixed = None
    if "stress_weight" in given or not S.has_stress:
        s_fixed = float(given.get("stress_weight", 0.0))
    s0 = s_fixed if s_fixed is not None else 0.0

    def w(e):
        return (e, round(1.0 - e, 9), s0) if not fixed_balance else (e_fixed, f_fixed, s0)

    def weights_of(c):
        return (c["energy_weight"], c["force_weight"], c["stress_weight"])

    # (A) energy/force balance on the cheapest cutoffs
    keys = sorted({key_of(c2, c3) for c2, c3 in pairs}, key=lambda kk: (S.cost_featurise(kk), kk))
    if fixed_balance:
        e0 = e_fixed
        S.evaluate("A balance", keys[0], [w(e0)], force=True)
    else:
        log("stage A: energy/force balance on the cheapest cutoffs")
        res = S.evaluate("A balance", keys[0], [w(e) for e in ENERGY_FRACTIONS], force=True)
        e0 = best_of(res)["energy_weight"]
    base_w = w(e0)
    # solves of the weight stage (C), kept free in the budget while choosing cutoffs
    n_weight_solves = (0 if fixed_balance else 2) + (0 if s_fixed is not None else len(STRESS_FRACTIONS))
    # (B) cutoffs, at the base resolution
    if len(keys) > 1:
        log("stage B: cutoffs")
    for kk in keys[1:]:
        S.evaluate("B cutoffs", kk, [base_w], reserve=n_weight_solves)
    stage_b = [c for c in S.candidates if c.get("status") == "done" and weights_of(c) == base_w]
    if rule == "one_se":
        best = one_se_choice(stage_b, lambda c: S.cost_featurise(c["_key"]))
    else:
        best = best_of(stage_b)
    S.keep_only(best["_key"])
    S.start = (best["ridge"], best["curvature"])
    win = best["_key"]
    # (C) balance refined on the chosen cutoffs, then the stress weight
    if not fixed_balance:
        log("stage C: energy/force balance on the chosen cutoffs")
        cand = [c for c in S.candidates if c.get("_key") == win and c.get("status") == "done"
                and c["stress_weight"] == s0]
        for _ in range(len(ENERGY_FRACTIONS)):
            top = best_of(cand)
            j = ENERGY_FRACTIONS.index(top["energy_weight"])
            tried = {c["energy_weight"] for c in cand}
            todo = [ENERGY_FRACTIONS[jj] for jj in (j - 1, j + 1)
                    if 0 <= jj < len(ENERGY_FRACTIONS) and ENERGY_FRACTIONS[jj] not in tried]
            if not todo:
                break
            res = S.evaluate("C balance", win, [w(e) for e in todo])
            if not res:
                break
            cand += res
        best = best_of(cand)
    chosen = best
    S.start = (best["ridge"], best["curvature"])
    if s_fixed is None:
        log("stage C: stress weight (energies and forces must not get worse)")
        ref = best
        res = S.evaluate("C stress", win, [(best["energy_weight"], best["force_weight"], s)
                                          for s in STRESS_FRACTIONS])
        admissible = []
        for c in res:
            se = paired_se(c["_energy_abs"], ref["_energy_abs"])
            de = c["cv"]["energy_mae"] - ref["cv"]["energy_mae"]
            f_ok = (ref["cv"].get("force_rmse") is None
                    or c["cv"]["force_rmse"] <= ref["cv"]["force_rmse"] * (1 + FORCE_TOLERANCE))
            c["energy_change"] = round(de, 5)
            c["energy_change_se"] = round(se, 5)
            c["admissible"] = bool(de <= STRESS_ENERGY_TOLERANCE_SE * se and f_ok)
            df = (c["cv"]["force_rmse"] / ref["cv"]["force_rmse"] - 1) if ref["cv"].get("force_rmse") else 0.0
            log(f"    stress weight {c['stress_weight']:g}: energy MAE {de:+.3f} meV/atom (paired SE {se:.3f}), "
                f"force RMSE {df:+.1%}, stress MAE {c['cv']['stress_mae']:.3f} GPa: "
                f"{'admissible' if c['admissible'] else 'rejected'}")
            if c["admissible"]:
                admissible.append(c)
        if admissible:
            chosen = min(admissible, key=lambda c: (c["cv"]["stress_mae"], -c["stress_weight"]))
    S.start = (chosen["ridge"], chosen["curvature"])
    final_w = weights_of(chosen)
    # (D) resolution with the final weights: 3-body spacing, then 2-body spacing
    c2b, c3b = chosen["cutoff2"], chosen["cutoff3"]
    base_key = chosen["_key"]
    variants = set()
    if c3b > 0 and "intervals3" not in given:
        variants |= {key_of(c2b, c3b, h3=h) for h in H3_SPACINGS[1:]}
    if "intervals2" not in given:
        variants |= {key_of(c2b, c3b, h2=h)[:3] + (base_key[3],) for h in H2_SPACINGS[1:]}
    variants.discard(base_key)
    if variants:
        log("stage D: resolution (3-body and 2-body knot spacing, cheapest first)")
    lead = chosen
    for kk in sorted(variants, key=lambda kk: (S.cost_featurise(kk), kk)):
        r = S.evaluate("D resolution", kk, [final_w])
        if r and (r[0]["score"], r[0]["coefficients"]) < (lead["score"], lead["coefficients"]):
            lead = r[0]
            S.keep_only(kk)
            S.start = (lead["ridge"], lead["curvature"])
    # both spacings changed: try the combination
    done = {c["_key"] for c in S.candidates if c.get("status") == "done"}
    at_base = [c for c in S.candidates if c.get("_key") == base_key and c.get("status") == "done"
               and weights_of(c) == final_w]
    resol = [c for c in S.candidates if c.get("stage") == "D resolution" and c.get("status") == "done"]
    best2 = best_of([c for c in resol if c["_key"][3] == base_key[3]] + at_base)
    best3 = best_of([c for c in resol if c["_key"][2] == base_key[2]] + at_base)
    if best2 and best3:
        combo = (base_key[0], base_key[1], best2["_key"][2], best3["_key"][3])
        if combo not in done and combo != base_key:
            S.evaluate("D resolution", combo, [final_w])
    resol = [c for c in S.candidates if c.get("stage") == "D resolution" and c.get("status") == "done"]
    if rule == "one_se":
        chosen = one_se_choice([chosen] + resol, lambda c: (c["coefficients"], S.cost_featurise(c["_key"])))
    else:
        chosen = best_of([chosen] + resol)
    key = chosen["_key"]
    st = S.settings_for(key, *weights_of(chosen))
    kw = {f: getattr(st, f) for f in ("cutoff2", "cutoff3", "intervals2", "intervals3", "energy_weight",
                                     "force_weight", "stress_weight")}
    if settings.ridge == "cv" and settings.curvature == "cv":
        # chosen by CV during the selection, on the same folds: fit() need not search again
        kw["ridge"], kw["curvature"] = chosen["ridge"], chosen["curvature"]
    kw.update({f: given[f] for f in CHOSEN if f in given})  # the user's own settings win
    kw["threads"] = threads
    out = replace(settings, **kw)
    elapsed = time.perf_counter() - t0
    cv = chosen["cv"]
    log(f"chosen: cutoff2 {out.cutoff2} Å, cutoff3 {out.cutoff3} Å, intervals2 {out.intervals2}, "
        f"intervals3 {list(out.intervals3)}, weights energy {out.energy_weight:g} force "
        f"{out.force_weight:g} stress {out.stress_weight:g} ({chosen['coefficients']} coefficients); CV energy MAE "
        f"{cv['energy_mae']:.3f} meV/atom, force RMSE {cv['force_rmse'] or float('nan'):.4f} eV/Å"
        + (f", stress MAE {cv['stress_mae']:.3f} GPa" if cv.get("stress_mae") is not None else "")
        + f"; selection {elapsed:.1f} s of a {budget_s:.0f} s budget (planned {S.planned:.1f} s)")
    cands = [{k2: v for k2, v in c.items() if not k2.startswith("_")} for c in S.candidates]
    record = {
        "version": 1,
        "procedure": "sus2c.fit.auto.select",
        "rule": rule,
        "score": "CV energy MAE (meV/atom) x CV force RMSE (eV/Å), lower is better",
        "budget_s": budget_s,
        "planned_s": round(S.planned, 2),
        "elapsed_s": round(elapsed, 2),
        "cpu_s": round(time.process_time() - cpu0, 2),
        "stopped_by_clock": S.clock_stop,
        "seed": seed,
        "cv_folds": k,
        "fold_scheme": fold_scheme,
        "near_duplicate_runs": n_runs,
        "threads": threads,
        "chosen_keys": open_keys,
        "given": {f: (list(v) if isinstance(v, tuple) else v) for f, v in given.items()
                  if f in ("cutoff2", "cutoff3", "intervals2", "intervals3", "energy_weight", "force_weight",
                           "stress_weight", "r_min", "ridge", "curvature", "elements")},
        "shells": {"d_nn": cut["d_nn"], "cutoff3": cut["cutoff3"], "cutoff2": cut["cutoff2"],
                   "warnings": cut["warnings"], "shells": sa.shells["*"][:10]},
        "candidates": cands,
        "chosen": {"cutoff2": out.cutoff2, "cutoff3": out.cutoff3, "intervals2": int(out.intervals2),
                   "intervals3": list(out.intervals3), "energy_weight": out.energy_weight,
                   "force_weight": out.force_weight, "stress_weight": out.stress_weight,
                   "ridge": out.ridge, "curvature": out.curvature, "coefficients": chosen["coefficients"],
                   "cv": cv, "score": chosen["score"]},
    }
    record = json.loads(json.dumps(record, default=float))
    return Selection(out, record, np.asarray(folds))
