"""The free coefficients of a fit: which terms a mode fits, and their columns.

The energy is linear in every spline coefficient and one-body energy once
the knots (and, for universal parts, the scalings) are fixed.  A
:class:`Layout` asks each term class for its *template*: the term with
column numbers + 1 in place of coefficients (0 = held at zero: the trailing
trim; like-triplets tied symmetric; universal parts shared by every pair).
The template model goes through the same compile step as a real model, so
the design rows come from the very splines the calculator evaluates, and
:meth:`Layout.model` turns solved coefficients back into a model.
"""
from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from ..compile import compile_layout
from ..model import Model
from ..terms import OneBody, PairSpecific, PairUniversal, TripletSpecific, TripletUniversal
from .settings import FitError, FitSettings

HYBRID_SPECIFIC_RIDGE = 100.0  # hybrid mode: ridge on specific corrections relative to the universal parts

#: the term classes each mode fits (besides the one-body energies)
TERMS_OF_MODE = {
    "specific": (PairSpecific, TripletSpecific),
    "universal": (PairUniversal, TripletUniversal),
    "hybrid": (PairSpecific, TripletSpecific, PairUniversal, TripletUniversal),
}


class Columns:
    """Hands out column numbers block by block and remembers each block's penalties."""

    def __init__(self):
        self.n = 0
        self.blocks = {}  # name -> (first column, number of columns)
        self.ridge = {}  # name -> ridge factor (0: not penalised)
        self.curv = []  # (name, column-number array, ndim) for curvature penalties

    def _take(self, name, n, ridge):
        first = self.n
        self.n += n
        self.blocks[name] = (first, n)
        self.ridge[name] = ridge
        return first

    def plain(self, name, n):
        """n unpenalised columns (one-body energies)."""
        return self._take(name, n, 0.0) + np.arange(n, dtype=float) + 1

    def one_d(self, name, n, ridge=1.0):
        """Columns of a 1-D spline with n intervals (the last TRIM coefficients held at zero)."""
        first = self._take(name, n, ridge)
        cols = np.zeros(n + 3)
        cols[:n] = first + np.arange(n) + 1
        self.curv.append((name, cols, 1))
        return cols

    def embedding(self, name, n, ridge=1.0):
        """Columns of an embedding function F(rho) with n intervals: every coefficient but
        the first (F(0) = 0) is free; no trailing trim (F continues linearly past its end)."""
        first = self._take(name, n + 2, ridge)
        cols = np.zeros(n + 3)
        cols[1:] = first + np.arange(n + 2) + 1
        self.curv.append((name, cols, 1))
        return cols

    def three_d(self, name, n, symmetric, ridge=1.0):
        """Columns of a 3-D spline; ``symmetric`` ties (l, m, n) and (m, l, n)."""
        n1, n2, n3 = n
        cols = np.zeros((n1 + 3, n2 + 3, n3 + 3))
        if symmetric:
            first = self._take(name, n1 * (n1 + 1) // 2 * n3, ridge)
            k = first + 1
            for l in range(n1):
                for m in range(l, n1):
                    cols[l, m, :n3] = k + np.arange(n3)
                    cols[m, l, :n3] = k + np.arange(n3)
                    k += n3
        else:
            first = self._take(name, n1 * n2 * n3, ridge)
            cols[:n1, :n2, :n3] = (first + 1 + np.arange(n1 * n2 * n3)).reshape(n1, n2, n3)
        self.curv.append((name, cols, 3))
        return cols


class KnotPlan:
    """Where the knots of each term go, as the term classes' templates read it."""

    def __init__(self, elements, r_min, settings: FitSettings, x_ranges=None, present=None, embedding=None):
        s = settings
        self.embedding = embedding  # the current embedding term (densities, scalars; F is fitted)
        self.elements = list(elements)
        self.pairs = list(combinations_with_replacement(self.elements, 2))
        self.triplets = [(a, b, c) for a in self.elements for b, c in self.pairs]
        self.cutoff2, self.cutoff3 = s.cutoff2, s.cutoff3
        self.intervals2, self.intervals3 = int(s.intervals2), s.intervals3
        self.x_ranges = x_ranges
        self.specific_ridge = HYBRID_SPECIFIC_RIDGE if s.mode == "hybrid" else 1.0
        self._r_min = dict(r_min)
        self._fixed_r_min = s.r_min
        self._present = present

    def r_min(self, a, b):
        if self._fixed_r_min is not None:
            return float(self._fixed_r_min)
        return self._r_min[(a, b) if (a, b) in self._r_min else (b, a)]

    def has_pair(self, a, b):
        """Specific parts only for pairs that occur in the data (``present``: None = all)."""
        return self._present is None or (a, b) in self._present[0]

    def has_triplet(self, a, b, c):
        return self._present is None or (a, b, c) in self._present[1]


class Layout:
    """The free coefficients of a model with given knots (and scalings).

    Columns: one-body energies first (one per element), then every spline
    coefficient that is free, term by term.  ``template`` is a Model whose
    coefficients are column numbers + 1 (0 = fixed at zero).
    """

    def __init__(self, elements, r_min, settings: FitSettings, scaling=None, x_ranges=None, present=None,
                 embedding=None):
        self.elements = list(elements)
        self.settings = settings
        self.r_min = dict(r_min)
        self.scaling = scaling
        classes = TERMS_OF_MODE[settings.mode]
        universal = any(cls.uses_scaling for cls in classes)
        if universal:
            if scaling is None:
                raise FitError("universal parts need a scaling (amplitudes, r0, l)")
            if x_ranges is None:
                pairs = list(combinations_with_replacement(self.elements, 2))
                plan0 = KnotPlan(self.elements, r_min, settings)
                x_ranges = universal_x_ranges(pairs, scaling, plan0.r_min, settings)
            self.x_ranges = dict(x_ranges)
        plan = KnotPlan(self.elements, r_min, settings, x_ranges if universal else None, present, embedding)
        if embedding is not None:
            classes = tuple(classes) + (type(embedding),)
        columns = Columns()
        terms = [OneBody.template(plan, columns)]
        for cls in sorted(classes, key=lambda c: c.order):
            t = cls.template(plan, columns)
            if t is not None:
                terms.append(t)
        assert columns.blocks["one_body"] == (0, len(self.elements))
        self.columns = columns
        self.blocks = columns.blocks
        self.template = Model(self.elements, terms=terms, scaling=scaling if universal else None)
        self.n_columns = columns.n
        self.tables, self.scale2, self.scale3 = compile_layout(self.template)

    @property
    def cutoff(self):
        return self.tables.max_cutoff

    # ---- regularisation
    def penalties(self):
        """(ridge, curvature) matrices over the columns; one-body energies are not penalised."""
        P = self.n_columns
        ridge = np.zeros(P)
        for name, (first, n) in self.columns.blocks.items():
            ridge[first : first + n] = self.columns.ridge[name]
        curv = np.zeros((P, P))
        for _, cols, ndim in self.columns.curv:
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
            return full[np.asarray(cols).astype(np.int64)]

        terms = [t.map_coefficients(take) for t in self.template.terms]
        return Model(self.elements, terms=terms, scaling=self.template.scaling, metadata=metadata)


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
