"""The many-body embedding term in the fit: analytic Jacobians, exact retrieval of EAM-like data."""
from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from sus2c.data import frame_from_atoms
from sus2c.distances import shortest_distances
from sus2c.evaluate import evaluate
from sus2c.fit import FitSettings, Layout, choose_r_min, design_batches, fit
from sus2c.fit.embedding import EmbeddingMap, embedding_jacobian_batches
from sus2c.testing import random_model, random_structure


def _unlabelled(elements):
    out = []
    for k, kind in enumerate(["bulk", "small", "slab", "cluster"]):
        a = random_structure(kind, elements, seed=3 + k, rattle=0.1)
        a.calc = SinglePointCalculator(a, energy=0.0, forces=np.zeros((len(a), 3)),
                                       stress=np.zeros(6) if a.pbc.all() else None)
        out.append(frame_from_atoms(a, source=kind))
    return out


@pytest.mark.parametrize("kind, mode, elements", [
    ("universal", "element", ["Mo", "Nb", "Ta"]),
    ("universal", "pair", ["Mo", "Nb", "Ta"]),
    ("specific", "pair", ["Mo", "Nb"]),
])
def test_embedding_jacobian_matches_finite_differences(kind, mode, elements):
    """d(energies, forces, stresses)/d(densities' coefficients, log s, eps, channel maps)
    from the compiled kernel against central differences of the design rows."""
    frames = _unlabelled(elements)
    st = FitSettings(cutoff2=4.6, cutoff3=0.0, intervals2=9, mode="specific")
    r_min = choose_r_min(shortest_distances(frames, elements, 4.6), 4.6, 9)
    emb = random_model(elements, None, None, seed=5, embedding=kind, scaling_mode=mode, r_min=1.2).terms[-1]
    em = EmbeddingMap(emb, elements)
    th = em.vector(emb)
    layout = Layout(elements, r_min, st, embedding=emb)
    c = np.random.default_rng(1).normal(scale=0.05, size=layout.n_columns)
    J = np.concatenate([Jb for _, Jb, _ in embedding_jacobian_batches(layout.model(c), em, th, frames,
                                                                       layout.cutoff)])

    def predictions(theta):
        lp = Layout(elements, r_min, st, embedding=em.term(theta, emb))
        return np.concatenate([X @ c for _, X, _ in design_batches(lp, frames)])

    assert J.shape[1] == len(em.free) and np.abs(J).max() > 0.1
    for k, i in enumerate(em.free):
        h = 1e-6 * max(1.0, abs(th[i]))
        tp, tn = th.copy(), th.copy()
        tp[i] += h
        tn[i] -= h
        fd = (predictions(tp) - predictions(tn)) / (2 * h)
        np.testing.assert_allclose(J[:, k], fd, rtol=0, atol=1e-7 * max(1.0, np.abs(fd).max()), err_msg=em.names[i])


def _emt_frames(n, seed, symbols=("Cu",)):
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.61 * rng.uniform(0.96, 1.03), cubic=True).repeat((2, 2, 2))
        a.set_chemical_symbols(rng.choice(list(symbols), size=len(a)))
        a.positions += rng.normal(scale=0.08, size=a.positions.shape)
        if k % 3 == 0:
            del a[int(rng.integers(len(a)))]  # vacancies: densities away from the bulk value
        a.calc = EMT()
        a.get_potential_energy(), a.get_forces(), a.get_stress()
        out.append(frame_from_atoms(a, source=f"emt:{k}"))
    return out


@pytest.mark.parametrize("embedding, symbols", [("specific", ("Cu",)), ("universal", ("Cu",)),
                                                 ("universal", ("Cu", "Ni"))])
def test_embedding_retrieves_eam_like_data(embedding, symbols):
    """EMT is an embedded-atom model: with the embedding a 2-body fit reproduces it to a
    force RMSE <= 0.01 eV/A on held-out structures; without it, it cannot."""
    train, test = _emt_frames(30, 1, symbols), _emt_frames(8, 2, symbols)
    common = dict(cutoff2=5.0, cutoff3=0.0, intervals2=14, threads=2, scaling_iterations=10,
                  embedding_channels=1)
    res = fit(train, FitSettings(**common, embedding=embedding))
    r = evaluate(res.model, test, threads=1)
    assert r["force_rmse_ev_per_a"] < 0.01
    assert res.model.metadata["fit"]["embedding"]["kind"] == embedding
    assert res.model.metadata["scaling"]["iterations"] >= 1
    plain = evaluate(fit(train, FitSettings(**common, auto=False)).model, test, threads=1)  # the fixed defaults
    assert plain["force_rmse_ev_per_a"] > 2 * r["force_rmse_ev_per_a"]


def test_outer_jacobian_with_universal_scaling_and_embedding():
    """Both outer blocks at once (universal pair + 3-body scalars and the embedding's),
    as the outer fit uses them, against central differences."""
    from sus2c.fit import initial_scaling
    from sus2c.fit.varpro import OuterParameters

    elements = ["Mo", "Nb", "Ta"]
    frames = _unlabelled(elements)
    st = FitSettings(cutoff2=4.6, cutoff3=3.6, intervals2=9, intervals3=(4, 4, 7), mode="universal",
                     scaling="element")
    dmin = shortest_distances(frames, elements, 4.6)
    r_min = choose_r_min(dmin, 4.6, 9)
    scaling = initial_scaling(frames, elements, "element")
    emb = random_model(elements, None, None, seed=5, embedding="universal", scaling_mode="element",
                       r_min=1.2).terms[-1]
    outer = OuterParameters(elements, scaling, emb)
    th = outer.vector(scaling, emb)
    th[:3] = [1.0, 0.85, 1.2]
    layout = Layout(elements, r_min, st, *outer.state(th)[:1], embedding=outer.state(th)[1])
    xr = dict(layout.x_ranges)
    xr["lo"] -= 1.0

    def layout_at(theta):
        sc, em = outer.state(theta)
        return Layout(elements, r_min, st, sc, x_ranges=xr, embedding=em)

    lay = layout_at(th)
    c = np.random.default_rng(1).normal(scale=0.05, size=lay.n_columns)
    J = np.concatenate([Jb for _, Jb, _ in outer.jacobian_batches(lay.model(c), th, frames, lay.cutoff, 2, True)])
    assert J.shape[1] == len(outer.free)
    for k, i in enumerate(outer.free):
        h = 1e-6 * max(1.0, abs(th[i]))
        tp, tn = th.copy(), th.copy()
        tp[i] += h
        tn[i] -= h
        fd = (np.concatenate([X @ c for _, X, _ in design_batches(layout_at(tp), frames)])
              - np.concatenate([X @ c for _, X, _ in design_batches(layout_at(tn), frames)])) / (2 * h)
        np.testing.assert_allclose(J[:, k], fd, rtol=0, atol=1e-7 * max(1.0, np.abs(fd).max()),
                                   err_msg=outer.names[i])


def test_outer_fit_survives_an_element_seen_only_in_its_validation_part():
    """An element whose structures all fall into the outer fit's held-out part has an
    all-zero one-body column: the projected Gauss-Newton step solves the singular
    normal matrix by least squares instead of raising LinAlgError (seen on 120
    alloy30 structures, where Ca was only in the validation part)."""
    import os
    from pathlib import Path

    from sus2c.data import read_frames, split_frames
    from sus2c.fit.solve import solve_normal

    # the solver itself: exact on a positive-definite matrix, least squares (zero on the
    # empty column) on a singular one
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    M, B = X.T @ X, rng.normal(size=(4, 2))
    np.testing.assert_allclose(solve_normal(M, B), np.linalg.solve(M, B), rtol=1e-10)
    M[0], M[:, 0] = 0.0, 0.0
    x = solve_normal(M, B)
    np.testing.assert_allclose(x[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(M[1:, 1:] @ x[1:], B[1:], rtol=1e-9)

    data = Path(os.environ.get("SUS2C_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (data / "alloy30.xyz").exists():
        pytest.skip(f"alloy30.xyz not found in {data} (set SUS2C_DATA)")
    train, _ = split_frames(read_frames(data / "alloy30.xyz"), 0.8, seed=0)
    res = fit(train[:120], FitSettings(mode="universal", scaling="element", cutoff2=5.5, cutoff3=0.0, intervals2=12,
                                       embedding="universal", embedding_channels=2, scaling_iterations=1, threads=2,
                                       cv_folds=3), log=lambda *a: None)
    loss = res.model.metadata["scaling"]["loss"]
    assert len(loss) == 2 and loss[1] < loss[0]
