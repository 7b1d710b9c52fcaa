"""Flatten a :class:`~sus2c.model.Model` into the tables the compiled kernels read.

The model describes itself as r-space clamped uniform splines
(:meth:`~sus2c.model.Model.describe`): per element pair a list of 1-D parts,
per triplet (centre, b, c) with b <= c a list of 3-D parts.  Each part
becomes a knot range, an interval count, an offset into one flat
coefficient array and an offset into one flat array of basis tables
(:func:`sus2c.bspline.basis_table`, stored as [interval][power][k] so that a
Horner step is one 4-lane operation).

A real model's coefficients are stored times their part's scale.  A fit
layout's template model holds column numbers instead: those are stored as
they are, and the scales are returned separately (:func:`compile_layout`).
"""
from __future__ import annotations

import numpy as np

from . import bspline


def _compile(model, bake_scales):
    from ._kernels import engine

    desc = model.describe()
    el = model.elements
    ne = len(el)
    pairs = model.pairs()
    pair_index = {}
    pair_of = np.full(ne * ne, -1, dtype=np.int32)
    for p, (a, b) in enumerate(pairs):
        ia, ib = el.index(a), el.index(b)
        pair_of[ia * ne + ib] = pair_of[ib * ne + ia] = p
        pair_index[(a, b)] = p

    coef, tables = [], []
    coef_len = table_len = 0
    table_off = {}

    def table_offset(n):
        nonlocal table_len
        if n not in table_off:
            t = bspline.basis_table(n).transpose(0, 2, 1).ravel()  # kernel layout [mu][p][k]
            table_off[n] = table_len
            tables.append(t)
            table_len += t.size
        return table_off[n]

    def add_coef(part):
        return add_array(part.scaled.coefficients if bake_scales else part.spline.coefficients)

    def add_array(c):
        nonlocal coef_len
        off = coef_len
        coef.append(np.ascontiguousarray(c, dtype=float).ravel())
        coef_len += c.size
        return off

    # 2-body parts, one list per pair
    parts2 = []
    p2_start = [0]
    p2 = {"lo": [], "hi": [], "n": [], "coef": [], "tab": [], "wall": []}
    rc2 = np.zeros(len(pairs))
    for p, key in enumerate(pairs):
        for part in desc.pairs[key]:
            s = part.spline
            p2["lo"].append(s.lo)
            p2["hi"].append(s.hi)
            p2["n"].append(s.intervals)
            p2["coef"].append(add_coef(part))
            p2["tab"].append(table_offset(s.intervals))
            p2["wall"].append(bspline.wall_coefficient(part.scaled.coefficients, s.intervals) if bake_scales else 0.0)
            rc2[p] = max(rc2[p], s.hi)
            parts2.append(part)
        p2_start.append(len(p2["lo"]))

    # 3-body parts, one list per (centre, b <= c); a centre's triplets are contiguous
    parts3 = []
    trip_of = np.full(ne * ne * ne, -1, dtype=np.int32)
    trip_swap = np.zeros(ne * ne * ne, dtype=np.int32)
    p3_start = [0]
    p3 = {"lo": [], "hi": [], "n": [], "coef": [], "tab": []}
    rc3 = np.zeros(len(pairs))
    t = 0
    for (a, b, c), parts in desc.triplets.items():
        if not parts:
            continue
        ia, ib, ic = el.index(a), el.index(b), el.index(c)
        trip_of[(ia * ne + ib) * ne + ic] = t
        trip_of[(ia * ne + ic) * ne + ib] = t
        if ib != ic:
            trip_swap[(ia * ne + ic) * ne + ib] = 1
        for part in parts:
            s = part.spline
            p3["lo"].extend(s.lo)
            p3["hi"].extend(s.hi)
            p3["n"].extend(s.intervals)
            p3["tab"].extend(table_offset(n) for n in s.intervals)
            p3["coef"].append(add_coef(part))
            pab, pac = pair_index[model.pair_key(a, b)], pair_index[model.pair_key(a, c)]
            rc3[pab] = max(rc3[pab], s.hi[0])
            rc3[pac] = max(rc3[pac], s.hi[1])
            parts3.append(part)
        p3_start.append(len(p3["coef"]))
        t += 1

    # many-body channels: densities (values always: they are never fitted
    # linearly) and embedding functions (column numbers in a fit layout, with
    # eps as a separate scale)
    K = len(desc.embedding)
    d_part = np.full(ne * ne * K, -1, dtype=np.int32)
    e_part = np.full(ne * K, -1, dtype=np.int32)
    dp = {"lo": [], "hi": [], "n": [], "coef": [], "tab": []}
    ep = {"hi": [], "n": [], "coef": [], "tab": [], "scale": [], "rho_lo": [], "rho_hi": []}
    rce = np.zeros(len(pairs))
    dparts, eparts = [], []
    for k, ch in enumerate(desc.embedding):
        for (a, b), part in ch.density.items():
            dparts.append((k, a, b, part))
            s = part.spline
            d_part[(el.index(a) * ne + el.index(b)) * K + k] = len(dp["lo"])
            dp["lo"].append(s.lo)
            dp["hi"].append(s.hi)
            dp["n"].append(s.intervals)
            dp["coef"].append(add_array(part.scale * s.coefficients))
            dp["tab"].append(table_offset(s.intervals))
            pk = pair_index[model.pair_key(a, b)]
            rce[pk] = max(rce[pk], s.hi)
        for a, part in ch.embed.items():
            eparts.append((k, a, part))
            s = part.spline
            e_part[el.index(a) * K + k] = len(ep["hi"])
            ep["hi"].append(s.hi)
            ep["n"].append(s.intervals)
            ep["coef"].append(add_array(part.scale * s.coefficients if bake_scales else s.coefficients))
            ep["tab"].append(table_offset(s.intervals))
            ep["scale"].append(1.0 if bake_scales else part.scale)
            lo, hi = part.rho_range if part.rho_range is not None else (-np.inf, np.inf)
            ep["rho_lo"].append(lo)
            ep["rho_hi"].append(hi)

    # tables of terms with a kernel pass of their own (e.g. the ZBL core)
    extra = {}
    for term in model.terms:
        extra.update(term.kernel_tables(model, pairs))
    if "zbl" in extra:
        rc2 = np.maximum(rc2, extra["zbl"][:, 3])

    # rc3 is used per (centre element, neighbour element); using the symmetric
    # pair maximum only admits neighbours whose legs evaluate to zero, so it is exact.
    def invh(lo, hi, n):
        lo, hi, n = (np.asarray(v, dtype=float) for v in (lo, hi, n))
        return n / np.maximum(hi - lo, 1e-300) if len(lo) else np.zeros(0)

    tables_ = {
        "pair_of": pair_of, "rc2": rc2, "rc3": rc3,
        "p2_start": p2_start, "p2_lo": p2["lo"], "p2_hi": p2["hi"], "p2_invh": invh(p2["lo"], p2["hi"], p2["n"]),
        "p2_n": p2["n"], "p2_coef": p2["coef"], "p2_tab": p2["tab"], "p2_wall": p2["wall"],
        "trip_of": trip_of, "trip_swap": trip_swap, "p3_start": p3_start,
        "p3_lo": p3["lo"], "p3_hi": p3["hi"], "p3_invh": invh(p3["lo"], p3["hi"], p3["n"]), "p3_n": p3["n"],
        "p3_coef": p3["coef"], "p3_tab": p3["tab"],
        "coef": np.concatenate(coef) if coef else np.zeros(1),
        "tab": np.concatenate(tables) if tables else np.zeros(1),
        "zbl": extra.get("zbl", np.zeros((0, 7))),
        "rce": rce if K else np.zeros(0), "d_part": d_part, "d_lo": dp["lo"], "d_hi": dp["hi"],
        "d_invh": invh(dp["lo"], dp["hi"], dp["n"]), "d_n": dp["n"], "d_coef": dp["coef"], "d_tab": dp["tab"],
        "e_part": e_part, "e_hi": ep["hi"], "e_invh": invh(np.zeros(len(ep["hi"])), ep["hi"], ep["n"]),
        "e_n": ep["n"], "e_coef": ep["coef"], "e_tab": ep["tab"], "e_scale": ep["scale"],
        "e_rho_lo": ep["rho_lo"], "e_rho_hi": ep["rho_hi"],
    }
    compiled = engine.CompiledModel(ne, tables_, parts2, parts3, desc.embedding)
    compiled.dparts, compiled.eparts = dparts, eparts
    return compiled


def compile_model(model):
    """The kernel tables of a model (coefficients times their part's scale)."""
    return _compile(model, bake_scales=True)


def compile_layout(template):
    """The kernel tables of a fit template (column numbers as they are), and the
    scale of every 2- and 3-body part in table order."""
    compiled = _compile(template, bake_scales=False)
    scale2 = np.ascontiguousarray([p.scale for p in compiled.parts2], dtype=float)
    scale3 = np.ascontiguousarray([p.scale for p in compiled.parts3], dtype=float)
    return compiled, scale2, scale3
