"""Flatten a :class:`~sus2c.model.Model` into the arrays the compiled kernels read.

Every term is handed to the kernels as r-space clamped uniform splines
("parts"): per element pair a list of 1-D parts, per ordered triplet
(centre, b, c) with b <= c a list of 3-D parts.  A part carries its knot
range, interval count, an offset into one flat coefficient array and an
offset into one flat array of basis tables (:func:`sus2c.bspline.basis_table`,
stored as [interval][power][k] so that a Horner step is one 4-lane operation).
"""
from __future__ import annotations

import numpy as np

from . import bspline


def compile_model(model):
    from ._kernels import engine

    CompiledModel = engine.CompiledModel

    el = model.elements
    ne = len(el)
    pairs = model.pairs()
    pair_index = {}
    pair_of = np.full(ne * ne, -1, dtype=np.int32)
    for p, (a, b) in enumerate(pairs):
        ia, ib = el.index(a), el.index(b)
        pair_of[ia * ne + ib] = pair_of[ib * ne + ia] = p
        pair_index[(a, b)] = p

    coef = []
    coef_len = 0
    tables = []
    table_off = {}
    table_len = 0

    def table_offset(n):
        nonlocal table_len
        if n not in table_off:
            t = bspline.basis_table(n).transpose(0, 2, 1).ravel()  # kernel layout [mu][p][k]
            table_off[n] = table_len
            tables.append(t)
            table_len += t.size
        return table_off[n]

    def add_coef(c):
        nonlocal coef_len
        off = coef_len
        coef.append(np.ascontiguousarray(c, dtype=float).ravel())
        coef_len += c.size
        return off

    # 2-body parts
    p2_start = [0]
    p2 = {"lo": [], "hi": [], "n": [], "coef": [], "tab": [], "wall": []}
    rc2 = np.zeros(len(pairs))
    for p, (a, b) in enumerate(pairs):
        for s in model.pair_parts(a, b):
            p2["lo"].append(s.lo)
            p2["hi"].append(s.hi)
            p2["n"].append(s.intervals)
            p2["coef"].append(add_coef(s.coefficients))
            p2["tab"].append(table_offset(s.intervals))
            p2["wall"].append(bspline.wall_coefficient(s.coefficients, s.intervals))
            rc2[p] = max(rc2[p], s.hi)
        p2_start.append(len(p2["lo"]))

    # 3-body parts, one list per (centre, b <= c)
    trip_of = np.full(ne * ne * ne, -1, dtype=np.int32)
    trip_swap = np.zeros(ne * ne * ne, dtype=np.int32)
    p3_start = [0]
    p3 = {"lo": [], "hi": [], "n": [], "coef": [], "tab": []}
    rc3 = np.zeros(len(pairs))
    t = 0
    for a, b, c in model.triplets():
        parts = model.triplet_parts(a, b, c)
        if not parts:
            continue
        ia, ib, ic = el.index(a), el.index(b), el.index(c)
        trip_of[(ia * ne + ib) * ne + ic] = t
        trip_of[(ia * ne + ic) * ne + ib] = t
        if ib != ic:
            trip_swap[(ia * ne + ic) * ne + ib] = 1
        for s in parts:
            p3["lo"].extend(s.lo)
            p3["hi"].extend(s.hi)
            p3["n"].extend(s.intervals)
            p3["tab"].extend(table_offset(n) for n in s.intervals)
            p3["coef"].append(add_coef(s.coefficients))
            rc3[pair_index[model._pair_key(a, b)]] = max(rc3[pair_index[model._pair_key(a, b)]], s.hi[0])
            rc3[pair_index[model._pair_key(a, c)]] = max(rc3[pair_index[model._pair_key(a, c)]], s.hi[1])
        p3_start.append(len(p3["coef"]))
        t += 1

    # rc3 is used per (centre element, neighbour element); using the symmetric
    # pair maximum only admits neighbours whose legs evaluate to zero, so it is exact.
    f = lambda v: np.ascontiguousarray(v, dtype=float)  # noqa: E731
    i32 = lambda v: np.ascontiguousarray(v, dtype=np.int32)  # noqa: E731
    i64 = lambda v: np.ascontiguousarray(v, dtype=np.int64)  # noqa: E731
    coef_arr = np.concatenate(coef) if coef else np.zeros(1)
    tab_arr = np.concatenate(tables) if tables else np.zeros(1)
    p2_lo, p2_hi, p2_n = f(p2["lo"]), f(p2["hi"]), i32(p2["n"])
    p3_lo, p3_hi, p3_n = f(p3["lo"]), f(p3["hi"]), i32(p3["n"])
    return CompiledModel(
        ne,
        pair_of,
        f(rc2),
        f(rc3),
        i32(p2_start),
        p2_lo,
        p2_hi,
        f(p2_n / np.maximum(p2_hi - p2_lo, 1e-300)) if len(p2_lo) else np.zeros(0),
        p2_n,
        i64(p2["coef"]),
        i64(p2["tab"]),
        f(p2["wall"]),
        trip_of,
        trip_swap,
        i32(p3_start),
        p3_lo,
        p3_hi,
        f(p3_n / np.maximum(p3_hi - p3_lo, 1e-300)) if len(p3_lo) else np.zeros(0),
        p3_n,
        i64(p3["coef"]),
        i64(p3["tab"]),
        coef_arr,
        tab_arr,
    )
