"""LAMMPS ``pair_style uf3`` export: exact to round-off against sus2c and a brute-force sum.

The brute-force reference below is deliberately independent of the compiled
kernels and of the export: plain numpy over ASE's neighbour list, evaluating
``Model.pair_energy`` / ``Model.triplet_energy`` bond by bond and triplet by
triplet with the energy model of README.md (bonds once, triplets once per
centre and unordered neighbour pair).

Below a part's first knot ``lo`` a 2-body part is continued by its
second-order Taylor polynomial plus a cubic wall (C2 at lo) and every 3-body
leg by its eased continuation (slope easing to zero over one knot interval,
then constant: C1 at lo and at lo - h).  The export reproduces both with a
simple knot (2-body) and double knots (3-body legs, at lo and lo - h); the
tests below check that LAMMPS evaluates such knot vectors exactly, with
structures whose bonds and triplet legs reach below the first knots.
"""
from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
from ase import Atoms

from sus2c import lammps as slmp
from sus2c.model import Model
from sus2c.testing import random_model, random_structure

try:
    slmp.import_lammps()
    _LAMMPS_ERR = None
except ImportError as exc:  # pragma: no cover - depends on the environment
    _LAMMPS_ERR = str(exc)

needs_lammps = pytest.mark.skipif(
    _LAMMPS_ERR is not None, reason=f"LAMMPS Python module not importable: {_LAMMPS_ERR}"
)


def _calculator_class():
    try:
        import sus2c

        return sus2c.Calculator
    except Exception as exc:  # compiled kernels missing or broken
        pytest.skip(f"sus2c.Calculator not available: {exc}")


E_TOL = 1e-8  # eV/atom
F_TOL = 1e-7  # eV/A
S_TOL = 1e-8  # eV/A^3


# --------------------------------------------------------------------------- brute-force reference


def _neighbours(model, atoms):
    from ase.neighborlist import neighbor_list

    return neighbor_list("ijdD", atoms, model.cutoff + 1e-9)


def _triplets(n_atoms, i):
    """All (entry_j, entry_k), entry_j < entry_k, of neighbour-list entries sharing a centre."""
    first = np.searchsorted(i, np.arange(n_atoms + 1))
    J, K = [], []
    for c in range(n_atoms):
        idx = np.arange(first[c], first[c + 1])
        p, q = np.triu_indices(len(idx), 1)
        J.append(idx[p])
        K.append(idx[q])
    return np.concatenate(J).astype(int), np.concatenate(K).astype(int)


def brute_force(model, atoms, transpose_unlike=True):
    """Total energy, per-atom energies in LAMMPS's split (bond: 1/2 each,
    triplet: 1/3 each), and the 2-body and 3-body sums, by brute force.

    ``transpose_unlike=False`` evaluates a triplet i;{j,k} with unlike
    neighbours through the block of the canonical (model) order WITHOUT
    swapping legs ij and ik -- a wrong convention used to show that the
    tests can tell the difference.
    """
    sym = np.array(atoms.get_chemical_symbols())
    n = len(atoms)
    e_at = np.array([model.one_body[s] for s in sym], dtype=float)
    i, j, d, D = _neighbours(model, atoms)
    e2 = 0.0
    for a, b in model.pairs():
        for x, y in {(a, b), (b, a)}:
            m = (sym[i] == x) & (sym[j] == y)
            if m.any():
                v = 0.5 * model.pair_energy(a, b, d[m])  # each bond is listed twice
                e2 += v.sum()
                np.add.at(e_at, i[m], 0.5 * v)
                np.add.at(e_at, j[m], 0.5 * v)
    e3 = 0.0
    if model.has_three_body:
        J, K = _triplets(n, i)
        I = i[J]
        rij, rik = d[J], d[K]
        rjk = np.linalg.norm(D[K] - D[J], axis=1)
        order = {e: k for k, e in enumerate(model.elements)}
        for a in model.elements:
            for b in model.elements:
                for c in model.elements:
                    m = (sym[I] == a) & (sym[j[J]] == b) & (sym[j[K]] == c)
                    if not m.any():
                        continue
                    if transpose_unlike or order[b] <= order[c]:
                        v = model.triplet_energy(a, b, c, rij[m], rik[m], rjk[m])
                    else:  # wrong: the canonical block (a, c, b) read as if it were (a, b, c)
                        v = model.triplet_energy(a, c, b, rij[m], rik[m], rjk[m])
                    e3 += v.sum()
                    for who in (I[m], j[J][m], j[K][m]):
                        np.add.at(e_at, who, v / 3.0)
    return {"energy": float(e_at.sum()), "energies": e_at, "e2": e2, "e3": e3}


def brute_forces_stress(model, atoms, h=1e-5):
    """Forces and stress (ASE convention) by central differences of the brute-force energy."""
    f = np.zeros((len(atoms), 3))
    for a in range(len(atoms)):
        for x in range(3):
            e = []
            for s in (h, -h):
                at = atoms.copy()
                at.positions[a, x] += s
                e.append(brute_force(model, at)["energy"])
            f[a, x] = -(e[0] - e[1]) / (2 * h)
    vol = atoms.get_volume()
    sigma = np.zeros((3, 3))
    for p in range(3):
        for q in range(p, 3):
            e = []
            for s in (h, -h):
                eps = np.eye(3)
                eps[p, q] += 0.5 * s
                eps[q, p] += 0.5 * s
                at = atoms.copy()
                at.set_cell(atoms.cell.array @ eps, scale_atoms=True)
                e.append(brute_force(model, at)["energy"])
            sigma[p, q] = sigma[q, p] = (e[0] - e[1]) / (2 * h) / vol
    return f, sigma[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


# --------------------------------------------------------------------------- models under test

ELEMENTS = {1: ("Mo",), 2: ("Mo", "Nb"), 3: ("Mo", "Nb", "Ta")}
CASES = [
    # (n_elements, two_body, three_body, scaling_mode)
    (1, "specific", None, "pair"),
    (1, "both", "both", "pair"),
    (2, "universal", None, "element"),
    (2, "both", "specific", "pair"),
    (2, "specific", "universal", "element"),
    (3, "specific", "specific", "pair"),
    (3, "both", "both", "element"),
    (3, "universal", "universal", "pair"),
]


def _model(n, two, three, mode, seed=11):
    return random_model(ELEMENTS[n], two_body=two, three_body=three, seed=seed, scaling_mode=mode)


def _compare(model, atoms, path, calc_cls=None, check_brute=True):
    res = slmp.lammps_compute(path, atoms)
    n = len(atoms)
    assert np.isfinite(res["energy"]) and np.all(np.isfinite(res["forces"]))
    if check_brute:
        bf = brute_force(model, atoms)
        assert abs(res["energy"] - bf["energy"]) / n < E_TOL
        # LAMMPS's own number leaves out exactly the one-body energies
        e1 = sum(model.one_body[s] for s in atoms.get_chemical_symbols())
        assert abs(res["energy_lammps"] - (bf["e2"] + bf["e3"])) / n < E_TOL
        assert np.max(np.abs(res["energies"] - bf["energies"])) < E_TOL
        assert abs(res["energy"] - res["energy_lammps"] - e1) < 1e-9
    if calc_cls is not None:
        at = atoms.copy()
        at.calc = calc_cls(model)
        assert abs(res["energy"] - at.get_potential_energy()) / n < E_TOL
        assert np.max(np.abs(res["forces"] - at.get_forces())) < F_TOL
        if res["stress"] is not None:
            assert np.max(np.abs(res["stress"] - at.get_stress(voigt=True))) < S_TOL
    return res


def _triplet_legs_below(model, atoms):
    """How many triplet legs (over all triplets and all their parts) are shorter
    than that part's first knot on that leg, and the shortest 3-body leg."""
    from ase.neighborlist import neighbor_list

    sym = np.array(atoms.get_chemical_symbols())
    i, j, d, D = neighbor_list("ijdD", atoms, max(model.cutoff3(a, b) for a in model.elements for b in model.elements))
    J, K = _triplets(len(atoms), i)
    legs = np.stack([d[J], d[K], np.linalg.norm(D[K] - D[J], axis=1)], axis=1)
    below = 0
    for t in range(len(J)):
        for p in model.triplet_parts(sym[i[J[t]]], sym[j[J[t]]], sym[j[K[t]]]):
            below += int(np.sum(legs[t] < np.array(p.lo)))
    return below, float(legs.min()) if len(legs) else np.inf


def _min_lo3(model):
    return min(min(p.lo) for t in model.triplets() for p in model.triplet_parts(*t))


def _flat3(parts):
    """Below this leg length every leg of every part is constant (one interval below its lo)."""
    return min(p.lo[leg] - (p.hi[leg] - p.lo[leg]) / p.intervals[leg] for p in parts for leg in range(3))


def _close_structures(elements):
    """Two triclinic periodic structures whose bonds and 3-body legs reach below
    the first knots (lo ~ 1.4-2.1 A in random_model) but stay above 0.8 A: a
    uniformly compressed cell (nearest neighbours ~1.5 A) and a bulk cell with
    two atoms pushed to ~1.0 and ~1.15 A of a third."""
    comp = random_structure("small", elements, seed=4, rattle=0.08)
    comp.set_cell(comp.cell.array * 0.55, scale_atoms=True)
    pair = random_structure("bulk", elements, seed=13, rattle=0.05)
    pair.positions[1] = pair.positions[0] + [0.85, 0.45, 0.2]
    pair.positions[2] = pair.positions[0] + [-0.6, 0.9, 0.4]
    return comp, pair


# --------------------------------------------------------------------------- tests


@needs_lammps
@pytest.mark.filterwarnings("ignore::sus2c.lammps.LammpsPrecisionWarning")  # accuracy is checked here
@pytest.mark.parametrize("n,two,three,mode", CASES)
def test_export_matches_sus2c(tmp_path, n, two, three, mode):
    """LAMMPS == sus2c.Calculator and == brute force on triclinic periodic cells."""
    calc_cls = _calculator_class()
    model = _model(n, two, three, mode)
    info = slmp.export_lammps(model, tmp_path / "pot.uf3")
    assert info["pair_style"] == f"pair_style uf3 {3 if three else 2}"
    assert info["pair_coeff"] == f"pair_coeff * * {tmp_path / 'pot.uf3'} {' '.join(ELEMENTS[n])}"
    assert info["one_body"] == model.one_body
    assert info["max_fit_residual"] < 1e-12
    structures = [
        random_structure("bulk", ELEMENTS[n], seed=3, rattle=0.12),
        random_structure("small", ELEMENTS[n], seed=4, rattle=0.08),
    ] + list(_close_structures(ELEMENTS[n]))
    for k, atoms in enumerate(structures):
        assert not np.allclose(atoms.cell.array, np.diag(np.diag(atoms.cell.array)))  # triclinic
        if k >= 2:  # bonds and 3-body legs below the first knots, all longer than 0.8 A
            d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
            assert d.min() > 0.8
            if three:
                n_below, shortest = _triplet_legs_below(model, atoms)
                assert n_below >= 10
                if k == 3:  # below the first knot of every 3-body part
                    assert shortest < _min_lo3(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the calculator warns about close contacts
            _compare(model, atoms, info["path"], calc_cls)


def _spline3(C, knots, r):
    """Tensor-product cubic B-spline with coefficients C[ij][ik][jk] (scipy's basis)."""
    from scipy.interpolate import BSpline

    B = [BSpline.design_matrix(x, t, 3).toarray() for x, t in zip(r, knots)]
    tmp = (B[0] @ C.reshape(C.shape[0], -1)).reshape(-1, C.shape[1], C.shape[2])
    return np.einsum("sbc,sb,sc->s", tmp, B[1], B[2])


@needs_lammps
@pytest.mark.parametrize("n,two,three", [(1, "both", "both"), (3, "both", "both"), (2, "universal", "specific")])
def test_file_splines_equal_model(tmp_path, n, two, three):
    """Read the file back and evaluate its B-splines with scipy: equal to the model
    for 0 <= r < cutoff, below the first knot included; check LAMMPS's format rules."""
    from scipy.interpolate import BSpline

    model = _model(n, two, three, "pair", seed=5)
    path = tmp_path / "pot.uf3"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", slmp.LammpsPrecisionWarning)  # narrow intervals are fine here
        slmp.export_lammps(model, path)
    data = slmp.read_lammps_uf3(path)
    assert data["elements"] == model.elements
    assert data["one_body"] == model.one_body
    assert set(data["two_body"]) == set(model.pairs())
    assert set(data["three_body"]) == set(model.triplets())
    rng = np.random.default_rng(0)
    for (a, b), (t, c) in data["two_body"].items():
        assert np.all(t[:4] == 0.0) and np.all(t[-4:] == t[-1])
        assert np.all(np.diff(t[3:-3]) > 0)  # 2-body parts are C2: simple interior knots
        for p in model.pair_parts(a, b):
            assert np.sum(t == p.lo) == 1
        r = np.concatenate([np.linspace(0.0, t[-1], 4001)[:-1], rng.uniform(0, t[-1], 2000)])
        ref = 0.5 * model.pair_energy(a, b, r)  # LAMMPS sums ordered pairs
        assert np.max(np.abs(BSpline(t, c, 3, extrapolate=False)(r) - ref)) < 1e-12 * max(1, np.abs(ref).max())
    for (a, b, c), (cuts, (tij, tik, tjk), C) in data["three_body"].items():
        rjk_cut, rik_cut, rij_cut = cuts
        assert rij_cut == rik_cut and rjk_cut == 2 * rij_cut  # exactly, as LAMMPS demands
        for t, end in ((tij, rij_cut), (tik, rik_cut), (tjk, rjk_cut)):
            assert np.all(t[:4] == 0.0) and np.all(t[-4:] == end)
            _, counts = np.unique(t[4:-4], return_counts=True)
            assert counts.max() <= 3  # LAMMPS needs t[l+4] > t[l+1]
        # every leg of every part is only C1 at its lo and one interval below: double knots
        for p in model.triplet_parts(a, b, c):
            for leg, t in enumerate((tij, tik, tjk)):
                h = (p.hi[leg] - p.lo[leg]) / p.intervals[leg]
                assert np.sum(np.isclose(t, p.lo[leg], rtol=0, atol=1e-12)) >= 2, (a, b, c, leg)
                if p.lo[leg] - h > 1e-9:
                    assert np.sum(np.isclose(t, p.lo[leg] - h, rtol=0, atol=1e-12)) >= 2, (a, b, c, leg)
        for x, y in ((a, b), (a, c)):  # 3-body legs inside the pair's 2-body cutoff
            key = (x, y) if (x, y) in data["two_body"] else (y, x)
            assert data["two_body"][key][0][-1] >= rij_cut
        if b == c:
            assert np.array_equal(C, C.transpose(1, 0, 2))
        s = 3000
        rij, rik = rng.uniform(0, rij_cut, s), rng.uniform(0, rik_cut, s)
        rjk = rng.uniform(0, rjk_cut, s)
        val = _spline3(C, (tij, tik, tjk), (rij, rik, rjk))
        ref = model.triplet_energy(a, b, c, rij, rik, rjk)
        assert np.max(np.abs(val - ref)) < 1e-12 * max(1, np.abs(ref).max())
        # one knot interval below the first knot of every part each leg is
        # constant: the file's spline there equals its value at that point
        # (no blow-up however short the leg)
        flat = _flat3(model.triplet_parts(a, b, c))
        if flat > 0:
            short = rng.uniform(0.0, flat, (3, s))
            for leg in range(3):
                x = [rij, rik, rjk]
                x[leg] = short[leg]
                v = _spline3(C, (tij, tik, tjk), x)
                x[leg] = np.full(s, flat)
                v_lo = _spline3(C, (tij, tik, tjk), x)
                assert np.max(np.abs(v - v_lo)) < 1e-12 * max(1, np.abs(v_lo).max())


@needs_lammps
def test_triplet_convention(tmp_path):
    """How LAMMPS sums triplets: once per centre and unordered neighbour pair (not
    twice), and block (i, j, k) serves (i, k, j) with legs ij/ik transposed.

    A model with ONLY a 3-body term for one unlike triplet Mo;Mo,Nb (random,
    unsymmetric coefficients, unequal ij/ik knots): LAMMPS's energy equals the
    brute-force triplet sum exactly, differs from twice that sum, and differs
    from the un-transposed reading.  Per-atom energies: a third of each
    triplet to each of its atoms.
    """
    full = random_model(("Mo", "Nb"), two_body=None, three_body="specific", seed=2)
    model = Model(
        ["Mo", "Nb"],
        one_body=full.one_body,
        triplet_specific={("Mo", "Mo", "Nb"): full.triplet_specific[("Mo", "Mo", "Nb")]},
    )
    path = tmp_path / "pot.uf3"
    info = slmp.export_lammps(model, path)
    assert info["pair_style"] == "pair_style uf3 3"
    atoms = random_structure("bulk", ("Mo", "Nb"), seed=6, rattle=0.15)
    res = slmp.lammps_compute(path, atoms)
    bf = brute_force(model, atoms)
    wrong = brute_force(model, atoms, transpose_unlike=False)
    n = len(atoms)
    assert abs(bf["e3"]) > 1e-3  # the structure has such triplets
    assert abs(res["energy_lammps"] - bf["e3"]) / n < E_TOL
    assert abs(res["energy_lammps"] - 2 * bf["e3"]) / n > 1e3 * E_TOL
    assert abs(wrong["e3"] - bf["e3"]) / n > 1e3 * E_TOL
    assert np.max(np.abs(res["energies"] - bf["energies"])) < E_TOL


@needs_lammps
def test_forces_and_stress_against_finite_differences(tmp_path):
    """LAMMPS forces / stress equal central differences of the brute-force energy
    (independent of the compiled calculator)."""
    model = _model(2, "both", "both", "pair", seed=8)
    atoms = random_structure("small", ("Mo", "Nb"), seed=9, rattle=0.1)
    res = slmp.lammps_compute(model, atoms)
    f, s = brute_forces_stress(model, atoms)
    assert np.max(np.abs(res["forces"] - f)) < 1e-6
    assert np.max(np.abs(res["stress"] - s)) < 1e-7


@needs_lammps
def test_deep_close_contact(tmp_path):
    """Two atoms far inside every first knot (0.55 and 0.67 A from a third): LAMMPS
    stays finite and equals the model's continuation (2-body: Taylor + wall;
    3-body: legs held constant)."""
    model = _model(2, "both", "both", "pair", seed=12)
    lo = min(p.lo for a, b in model.pairs() for p in model.pair_parts(a, b))
    atoms = random_structure("bulk", ("Mo", "Nb"), seed=13, rattle=0.05)
    atoms.positions[1] = atoms.positions[0] + [0.55, 0.3, 0.1]
    atoms.positions[2] = atoms.positions[0] + [-0.4, 0.5, 0.2]
    assert np.sort(atoms.get_all_distances(mic=True)[0])[1] < 0.5 * lo
    path = tmp_path / "pot.uf3"
    slmp.export_lammps(model, path)
    try:
        import sus2c

        calc_cls = sus2c.Calculator
    except Exception:
        calc_cls = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the calculator warns about the close contact
        res = _compare(model, atoms, path, calc_cls)
    assert np.all(np.isfinite(res["stress"]))


@needs_lammps
def test_three_body_constant_below_first_knot(tmp_path):
    """3-body energy stays bounded below the first knots, in LAMMPS as in sus2c.

    A 3-body-only model (specific + universal parts) on a Mo-Nb-Mo trimer:
    r_ik and r_jk are held fixed while r_ij is scanned from 0.5 A up to one
    knot interval below the smallest first knot of any part, then beyond the
    first knot.  r_ij enters each of the trimer's three triplets through one
    leg only, so there the energy must be exactly constant (every leg eased to
    a constant, no blow-up) and equal in LAMMPS, the calculator and the
    brute-force sum; above lo it must change (the scan is sensitive to r_ij).
    """
    calc_cls = _calculator_class()
    model = random_model(("Mo", "Nb"), two_body=None, three_body="both", seed=21)
    path = tmp_path / "pot.uf3"
    slmp.export_lammps(model, path)
    lo = _min_lo3(model)
    flat = min(_flat3(model.triplet_parts(*t)) for t in model.triplets())
    assert flat > 0.5
    rik, rjk = 2.6, 2.5

    def trimer(rij):
        x = (rij**2 - rjk**2 + rik**2) / (2 * rik)
        pos = np.array([[0.0, 0.0, 0.0], [x, np.sqrt(rij**2 - x**2), 0.0], [rik, 0.0, 0.0]])
        return Atoms("MoNbMo", positions=pos + 4.0, pbc=False)

    # |V| <= 4^3 max |coefficient| of each part (eased basis values lie in [-1.5, 2.5])
    bound = 0.0
    for t in (("Mo", "Nb", "Mo"), ("Nb", "Mo", "Mo"), ("Mo", "Mo", "Nb")):
        bound += sum(64 * np.abs(p.coefficients).max() for p in model.triplet_parts(*t))
    below = np.linspace(0.5, flat, 5)
    energies = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # close-contact warning of the calculator
        for rij in np.concatenate([below, [lo + 0.3]]):
            atoms = trimer(rij)
            assert abs(atoms.get_distance(0, 1) - rij) < 1e-12
            res = _compare(model, atoms, path, calc_cls)
            assert abs(res["energy_lammps"]) <= bound
            energies.append(res["energy_lammps"])
    energies = np.array(energies)
    assert np.max(np.abs(energies[: len(below)] - energies[len(below) - 1])) < 1e-10
    assert abs(energies[-1] - energies[len(below) - 1]) > 1e-6


@needs_lammps
def test_lammps_repeated_knots(tmp_path):
    """LAMMPS ML-UF3 (nk) evaluates knot vectors with 2- and 3-fold interior knots
    exactly (its basis formulas only divide by knot spans of the interval being
    evaluated); checked on a hand-written file against scipy, independent of
    the export, with a leg scanned across the repeated knot."""
    from scipy.interpolate import BSpline

    R, kink = 4.0, 1.7
    rng = np.random.default_rng(3)
    for mult in (2, 3):
        t1 = np.concatenate([[0.0] * 4, np.sort(np.r_[np.linspace(0, R, 7)[1:-1], [kink] * mult]), [R] * 4])
        t3 = np.concatenate([[0.0] * 4, np.sort(np.r_[np.linspace(0, 2 * R, 9)[1:-1], [kink] * mult]), [2 * R] * 4])
        n1, n3 = len(t1) - 4, len(t3) - 4
        C = rng.uniform(-1, 1, (n1, n1, n3))
        C = 0.5 * (C + C.transpose(1, 0, 2))
        C[-3:], C[:, -3:], C[:, :, -3:] = 0, 0, 0
        f = lambda v: repr(float(v))  # noqa: E731
        t2 = [0.0] * 4 + [R] + [2 * R] * 4
        head = "#UF3 POT UNITS: metal DATE: - AUTHOR: test CITATION: -"
        lines = [head, "2B W W 0 3 nk", f"{f(2 * R)} {len(t2)}", " ".join(map(f, t2)), "5", "0 0 0 0 0", "#"]
        lines += [head, "3B W W W 0 3 nk", f"{f(2 * R)} {f(R)} {f(R)} {n3 + 4} {n1 + 4} {n1 + 4}"]
        lines += [" ".join(map(f, t)) for t in (t3, t1, t1)] + [f"{n1} {n1} {n3}"]
        lines += [" ".join(map(f, C[l, m])) for l in range(n1) for m in range(n1)] + ["#"]
        path = tmp_path / f"knots{mult}.uf3"
        with open(path, "w") as fh:
            fh.write("\n".join(lines) + "\n")

        def energy(pos):
            e = 0.0
            for i, j, k in ((0, 1, 2), (1, 0, 2), (2, 0, 1)):
                r = [np.linalg.norm(pos[a] - pos[b]) for a, b in ((j, i), (k, i), (k, j))]
                B = [BSpline.design_matrix([x], t, 3).toarray()[0] for x, t in zip(r, (t1, t1, t3))]
                e += np.einsum("a,b,c,abc->", *B, C)
            return e

        for rij in (1.2, 1.5, kink - 1e-3, kink, kink + 1e-3, 1.9):
            x = (rij**2 - 1.9**2 + 2.3**2) / (2 * 2.3)
            pos = np.array([[0.0, 0.0, 0.0], [x, np.sqrt(rij**2 - x**2), 0.0], [2.3, 0.0, 0.0]]) + 4.0
            res = slmp.lammps_compute(path, Atoms("W3", positions=pos, pbc=False), elements=["W"])
            assert abs(res["energy"] - energy(pos)) < 1e-11
            if rij != kink:  # forces jump at the C0 kink itself
                h, fd = 1e-6, np.zeros((3, 3))
                for a in range(3):
                    for c in range(3):
                        p1, p2 = pos.copy(), pos.copy()
                        p1[a, c] += h
                        p2[a, c] -= h
                        fd[a, c] = -(energy(p1) - energy(p2)) / (2 * h)
                assert np.max(np.abs(res["forces"] - fd)) < 1e-6


@pytest.mark.parametrize("mult", [1])
def test_three_body_continuation_needs_double_knots(monkeypatch, tmp_path, mult):
    """With simple knots at a 3-body part's lo and lo - h the eased
    continuation (C1 there) cannot be represented: the export refuses with a
    clear error instead of writing an inexact file."""
    model = _model(1, "specific", "specific", "pair")
    orig = slmp._part_breaks
    monkeypatch.setattr(slmp, "_part_breaks",
                        lambda lo, hi, n, eased_multiplicity=0: orig(lo, hi, n, min(eased_multiplicity, mult)))
    with pytest.raises(slmp.ExportError, match="does not represent the model exactly"):
        slmp.export_lammps(model, tmp_path / "p.uf3")
    assert not (tmp_path / "p.uf3").exists()


@needs_lammps
def test_non_periodic_and_paths(tmp_path):
    """Slab and cluster (fixed boundaries); a model file path; a foreign file needs elements."""
    calc_cls = _calculator_class()
    model = _model(2, "both", "specific", "pair", seed=14)
    mpath = tmp_path / "model.json"
    model.save(mpath)
    for kind in ("slab", "cluster"):
        atoms = random_structure(kind, ("Mo", "Nb"), seed=15)
        res = slmp.lammps_compute(mpath, atoms)  # model file, exported on the fly
        assert res["stress"] is None
        at = atoms.copy()
        at.calc = calc_cls(model)
        assert abs(res["energy"] - at.get_potential_energy()) / len(at) < E_TOL
        assert np.max(np.abs(res["forces"] - at.get_forces())) < F_TOL
    # a uf3 file without the sus2c header: elements must be given, one-body is 0
    path = tmp_path / "pot.uf3"
    slmp.export_lammps(model, path)
    bare = tmp_path / "bare.uf3"
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(slmp.HEADER_TAG)]
    bare.write_text("\n".join(lines) + "\n")
    atoms = random_structure("bulk", ("Mo", "Nb"), seed=16)
    with pytest.raises(ValueError, match="elements"):
        slmp.lammps_compute(bare, atoms)
    res = slmp.lammps_compute(bare, atoms, elements=["Mo", "Nb"])
    ref = slmp.lammps_compute(path, atoms)
    assert res["energy"] == pytest.approx(ref["energy_lammps"], abs=1e-10)
    assert np.allclose(res["forces"], ref["forces"], atol=1e-12)


@needs_lammps
def test_check_export():
    _calculator_class()
    model = _model(3, "both", "both", "pair", seed=17)
    out = slmp.check_export(model)
    assert out["n_structures"] >= 3
    assert out["energy_per_atom"] < E_TOL
    assert out["forces"] < F_TOL
    assert out["stress"] < S_TOL


def test_import_error_message(monkeypatch):
    """Without the LAMMPS module the user is told what to install."""
    import sys

    monkeypatch.setitem(sys.modules, "lammps", None)
    with pytest.raises(ImportError, match=r'pip install "lammps\[mpi\]"'):
        slmp.import_lammps()


def test_narrow_knot_interval_warning(tmp_path):
    """Nearly coinciding break points of the specific and universal parts make a
    very narrow knot interval: the file stays exact (residual at round-off),
    but LAMMPS's powers-of-r evaluation loses digits there, so the export warns
    and reports the narrowest interval; an ordinary model exports silently."""
    model = random_model(("Mo",), two_body="both", three_body="both", seed=15)
    with pytest.warns(slmp.LammpsPrecisionWarning, match="knot interval"):
        info = slmp.export_lammps(model, tmp_path / "narrow.uf3")
    assert info["narrowest_interval"] < slmp.NARROW_INTERVAL
    assert info["max_fit_residual"] < 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error", slmp.LammpsPrecisionWarning)
        info = slmp.export_lammps(_model(2, "both", "specific", "pair"), tmp_path / "ok.uf3")
    assert info["narrowest_interval"] >= slmp.NARROW_INTERVAL


def test_export_without_lammps(tmp_path):
    """Writing the file needs no LAMMPS; a 2-body-only model gives pair_style uf3 2."""
    model = _model(2, "specific", None, "pair")
    info = slmp.export_lammps(model, tmp_path / "p.uf3")
    text = (tmp_path / "p.uf3").read_text()
    assert info["pair_style"] == "pair_style uf3 2"
    assert "3B" not in text and text.count("#UF3 POT") == 3
    first = text.splitlines()[0]
    assert "UNITS: metal" in first  # LAMMPS checks the units on the first line
    assert os.path.exists(info["path"])


def _with_zbl(model, switch):
    from sus2c.terms import ZBLCore

    return Model(model.elements, terms=list(model.terms) + [ZBLCore(switch)], scaling=model.scaling)


@needs_lammps
def test_zbl_core_exports_as_hybrid_overlay(tmp_path):
    """A model with a ZBL core (its own switching range per pair) runs in LAMMPS as
    pair_style hybrid/overlay uf3 + one zbl instance per range, with the same
    energies, forces and stresses as the calculator, deep in the ZBL range."""
    base = random_model(("Mo", "Nb"), two_body="both", three_body="specific", seed=8)
    model = _with_zbl(base, {("Mo", "Mo"): (1.0, 1.8), ("Mo", "Nb"): (1.1, 1.7), ("Nb", "Nb"): (1.0, 1.8)})
    info = slmp.export_lammps(model, tmp_path / "pot.uf3")
    assert info["pair_style"] == "pair_style hybrid/overlay uf3 3 zbl 1.0 1.8 zbl 1.1 1.7"
    assert "pair_coeff 1 2 zbl 2 42.0 41.0" in info["commands"]
    structures = [random_structure("bulk", model.elements, seed=s, rattle=0.3, a=2.6) for s in (1, 2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = slmp.check_export(model, structures=structures)
        shortest = min(float(a.get_all_distances(mic=True)[np.triu_indices(len(a), 1)].min()) for a in structures)
    assert shortest < 1.2  # the structures reach deep into the ZBL core
    assert d["energy_per_atom"] < 1e-10 and d["forces"] < 1e-9 and d["stress"] < 1e-11


@needs_lammps
@pytest.mark.parametrize("elements, kind, mode", [
    (("Mo",), "specific", "pair"),
    (("Mo", "Nb"), "universal", "pair"),
    (("Mo", "Nb", "Ta"), "universal", "element"),
    (("Mo", "Nb"), "both", "element"),
])
def test_embedding_exports_as_eam_fs(tmp_path, elements, kind, mode):
    """Embedding channels run in LAMMPS as eam/fs files in hybrid/overlay with uf3, within
    1e-6 eV/A and 1e-7 eV/atom of the calculator (the Finnis-Sinclair model's densities
    are different for every ordered pair: an asymmetric test of which eam/fs table
    LAMMPS reads for which host and neighbour)."""
    model = random_model(elements, "specific", "specific", seed=3, embedding=kind, scaling_mode=mode)
    structures = [random_structure("bulk", elements, seed=s, rattle=0.12) for s in (1, 2)]
    structures.append(random_structure("cluster", elements, seed=5))
    d = slmp.check_export(model, tmp_path / "m.uf3", structures=structures)
    n_channels = len(model.describe().embedding)
    assert len(d["export"]["eam_files"]) == n_channels
    assert d["export"]["pair_style"] == "pair_style hybrid/overlay uf3 3" + " eam/fs" * n_channels
    assert d["passed"] and d["forces"] < 1e-8 and d["energy_per_atom"] < 1e-10 and d["stress"] < 1e-10


@needs_lammps
def test_export_command_checks_and_exports_only_the_elements_asked_for(tmp_path, capsys):
    from sus2c.cli import main

    model = random_model(("Mo", "Nb", "Ta"), "universal", None, seed=3, embedding="universal")
    path = tmp_path / "m.json"
    model.save(path)
    assert main(["export", "lammps", str(path), str(tmp_path / "m.uf3"), "--elements", "Ta,Mo", "--check"]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "pair_coeff * * eam/fs" in out and "Ta Mo" in out
    # the one-body energies listed are those of the exported elements only
    listed = re.findall(r"^  ([A-Z][a-z]?) +(-?[0-9.e+-]+)$", out.split("one-body energies")[1], re.M)
    assert [el for el, _ in listed] == ["Ta", "Mo"]
    assert float(listed[0][1]) == pytest.approx(model.one_body["Ta"], rel=1e-9)
    head = (tmp_path / "m.emb0.eam.fs").read_text().splitlines()[3]
    assert head.split() == ["2", "Ta", "Mo"]
    # a grid too coarse for the tolerance: the command says so and exits non-zero
    orig = slmp.EAM_GRID
    try:
        slmp.EAM_GRID = (401, 401)
        assert main(["export", "lammps", str(path), str(tmp_path / "c.uf3"), "--check"]) == 1
    finally:
        slmp.EAM_GRID = orig
    assert "differ by more than" in capsys.readouterr().err
