"""Evaluation metrics against hand-computed values, and the ``sus2c evaluate`` command."""
from __future__ import annotations

import json
import math

import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from sus2c.calculator import Calculator
from sus2c.cli import main
from sus2c.data import Frame
from sus2c.evaluate import EV_PER_A3_TO_GPA, KEYS, evaluate, format_table
from sus2c.testing import random_model, random_structure

ELEMENTS = ("Mo", "W")


@pytest.fixture(scope="module")
def model():
    return random_model(elements=ELEMENTS, two_body="both", three_body="both", seed=5)


def _labels(model, atoms):
    a = atoms.copy()
    a.calc = Calculator(model, threads=1)
    e = a.get_potential_energy()
    f = a.get_forces().copy()
    s = a.get_stress().copy() if a.pbc.all() else None
    return e, f, s


def _frames(model):
    """bulk (group a), slab (b), cluster (b, no forces), bulk (a), labelled by the model itself."""
    spec = [("bulk", 1, "a"), ("slab", 2, "b"), ("cluster", 3, "b"), ("bulk", 4, "a")]
    frames = []
    for kind, seed, group in spec:
        atoms = random_structure(kind, elements=ELEMENTS, seed=seed, rattle=0.05)
        e, f, s = _labels(model, atoms)
        frames.append(Frame(atoms, e, f, s, 1.0, group, f"{kind}:{seed}"))
    frames[2].forces = None
    frames[1].stress = np.full(6, 0.5)  # a slab's "stress" label must be ignored
    return frames


def test_self_consistent_labels_give_zero_errors(model):
    frames = _frames(model)
    r = evaluate(model, frames, threads=1)
    assert set(r) == set(KEYS) | {"groups", "outside", "inside"}
    for key in KEYS[:6]:
        assert r[key] == pytest.approx(0.0, abs=1e-9), key
    assert r["n_structures"] == 4
    assert r["n_atoms"] == sum(len(f.atoms) for f in frames)
    assert list(r["groups"]) == ["a", "b"]
    assert r["groups"]["b"]["stress_mae_gpa"] is None and r["groups"]["b"]["stress_rmse_gpa"] is None
    for g in r["groups"].values():
        assert set(g) == set(KEYS)


def test_perturbed_labels_give_hand_computed_errors(model):
    frames = _frames(model)
    f0, f1, f2, f3 = frames
    n0, n1, n2, n3 = (len(f.atoms) for f in frames)
    f0.energy -= 0.002 * n0  # prediction - label = +2 meV/atom
    f1.energy += 0.001 * n1  # -1 meV/atom
    f0.forces[0, 0] -= 0.3  # force error +0.3 eV/A in one component
    f1.forces[3, 2] += 0.4  # -0.4 eV/A
    f0.stress[0] -= 1.0 / EV_PER_A3_TO_GPA  # +1 GPa
    f0.stress[3] += 2.0 / EV_PER_A3_TO_GPA  # -2 GPa (yz)

    r = evaluate(model, frames, threads=1)
    tol = dict(rel=1e-7, abs=1e-9)
    # energy (meV/atom): errors 2, -1, 0, 0
    assert r["energy_mae_mev_per_atom"] == pytest.approx(3 / 4, **tol)
    assert r["energy_rmse_mev_per_atom"] == pytest.approx(math.sqrt(5 / 4), **tol)
    # forces: all components of frames 0, 1, 3 (frame 2 has none)
    nf = 3 * (n0 + n1 + n3)
    assert r["force_mae_ev_per_a"] == pytest.approx(0.7 / nf, **tol)
    assert r["force_rmse_ev_per_a"] == pytest.approx(math.sqrt((0.09 + 0.16) / nf), **tol)
    # stress: 6 components of the two bulk frames only
    assert r["stress_mae_gpa"] == pytest.approx(3 / 12, **tol)
    assert r["stress_rmse_gpa"] == pytest.approx(math.sqrt(5 / 12), **tol)
    assert (r["n_structures"], r["n_atoms"]) == (4, n0 + n1 + n2 + n3)

    a, b = r["groups"]["a"], r["groups"]["b"]
    assert a["energy_mae_mev_per_atom"] == pytest.approx(1.0, **tol)
    assert a["energy_rmse_mev_per_atom"] == pytest.approx(math.sqrt(2), **tol)
    assert a["force_mae_ev_per_a"] == pytest.approx(0.3 / (3 * (n0 + n3)), **tol)
    assert a["force_rmse_ev_per_a"] == pytest.approx(math.sqrt(0.09 / (3 * (n0 + n3))), **tol)
    assert a["stress_mae_gpa"] == pytest.approx(0.25, **tol)
    assert a["stress_rmse_gpa"] == pytest.approx(math.sqrt(5 / 12), **tol)
    assert (a["n_structures"], a["n_atoms"]) == (2, n0 + n3)
    assert b["energy_mae_mev_per_atom"] == pytest.approx(0.5, **tol)
    assert b["energy_rmse_mev_per_atom"] == pytest.approx(math.sqrt(0.5), **tol)
    assert b["force_mae_ev_per_a"] == pytest.approx(0.4 / (3 * n1), **tol)
    assert b["force_rmse_ev_per_a"] == pytest.approx(math.sqrt(0.16 / (3 * n1)), **tol)
    assert b["stress_mae_gpa"] is None
    assert (b["n_structures"], b["n_atoms"]) == (2, n1 + n2)

    table = format_table(r)
    lines = table.splitlines()
    assert any(line.startswith("a ") for line in lines)
    assert lines[-1].startswith("overall") and "0.750" in lines[-1]
    b_line = next(line for line in lines if line.startswith("b "))
    assert b_line.split()[-2:] == ["-", "-"]
    assert len({len(line) for line in lines}) == 1  # fixed width


def test_predictions_and_calculator_input(model):
    frames = _frames(model)
    calc = Calculator(model, threads=1)
    r = evaluate(calc, frames, threads=2, return_predictions=True)
    assert calc.threads == 1  # restored
    preds = r["predictions"]
    assert [p["source"] for p in preds] == [f.source for f in frames]
    for p, f in zip(preds, frames):
        assert p["energy"] == pytest.approx(f.energy, abs=1e-9)
        assert p["forces"].shape == (len(f.atoms), 3)
        assert (p["stress"] is None) == (not f.atoms.pbc.all())


def test_errors(model):
    with pytest.raises(ValueError, match="no structures"):
        evaluate(model, [])
    atoms = random_structure("bulk", elements=("Nb",), seed=1)
    with pytest.raises(ValueError, match="nb-frame:0: element"):
        evaluate(model, [Frame(atoms, 0.0, source="nb-frame:0")], threads=1)


# --------------------------------------------------------------------------- CLI


def _write_data(model, path, perturb=0.0):
    out = []
    for kind, seed in (("bulk", 1), ("slab", 2), ("bulk", 3)):
        atoms = random_structure(kind, elements=ELEMENTS, seed=seed, rattle=0.05)
        e, f, s = _labels(model, atoms)
        kw = dict(energy=e + perturb * len(atoms), forces=f)
        if s is not None:
            kw["stress"] = s
        atoms.calc = SinglePointCalculator(atoms, **kw)
        atoms.info["group"] = kind
        out.append(atoms)
    ase.io.write(path, out, format="extxyz")
    return out


def test_cli_evaluate_json(model, tmp_path, capsys):
    mpath = tmp_path / "model.json"
    model.save(mpath)
    _write_data(model, tmp_path / "data.xyz", perturb=0.003)
    rc = main(["evaluate", str(mpath), str(tmp_path / "data.xyz"), "--json", "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    r = json.loads(out)
    assert set(r) == set(KEYS) | {"groups", "outside", "inside"}
    assert set(r["groups"]) == {"bulk", "slab"}
    assert r["energy_mae_mev_per_atom"] == pytest.approx(3.0, rel=1e-6)
    assert r["force_mae_ev_per_a"] == pytest.approx(0.0, abs=1e-6)
    assert r["groups"]["slab"]["stress_mae_gpa"] is None

    rc = main(["evaluate", str(mpath), str(tmp_path / "*.xyz"), "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "overall" in out and "meV/atom" in out


def test_cli_evaluate_mlip_cfg(model, tmp_path, capsys):
    """Labels written as MLIP .cfg (PlusStress = -V sigma) read back and evaluate to zero error."""
    mpath = tmp_path / "model.json"
    model.save(mpath)
    atoms = random_structure("bulk", elements=ELEMENTS, seed=7, rattle=0.05)
    e, f, s = _labels(model, atoms)
    types = {"Mo": 0, "W": 1}
    plus = -s * atoms.get_volume()
    lines = ["BEGIN_CFG", " Size", f"  {len(atoms)}", " Supercell"]
    lines += ["  " + " ".join(f"{v:.15e}" for v in row) for row in atoms.cell.array]
    lines.append(" AtomData:  id type cartes_x cartes_y cartes_z fx fy fz")
    for k, (sym, p, fk) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions, f)):
        lines.append(f"  {k + 1} {types[sym]} " + " ".join(f"{v:.15e}" for v in (*p, *fk)))
    lines += [" Energy", f"  {e:.15e}", " PlusStress:  xx yy zz yz xz xy"]
    lines.append("  " + " ".join(f"{v:.15e}" for v in plus))
    lines.append("END_CFG")
    cfg = tmp_path / "set.cfg"
    cfg.write_text("\n".join(lines) + "\n")

    rc = main(["evaluate", str(mpath), str(cfg), "--json", "--threads", "1", "--type-map", "0=Mo,1=W"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert r["stress_mae_gpa"] == pytest.approx(0.0, abs=1e-9)
    assert r["energy_mae_mev_per_atom"] == pytest.approx(0.0, abs=1e-9)

    rc = main(["evaluate", str(mpath), str(cfg), "--json"])
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert "type map" in captured.err and "set.cfg" in captured.err


def test_structures_outside_the_fitted_range_are_named(model, capsys, tmp_path):
    """A structure with atoms closer than a first knot is named, with how many atoms,
    and the errors are given with and without it (DESIGN section 7)."""
    frames = _frames(model)
    squeezed = frames[0].atoms.copy()
    squeezed.positions[1] = squeezed.positions[0] + [0.9, 0.0, 0.0]  # far below every first knot
    bad = Frame(squeezed, energy=frames[0].energy, forces=frames[0].forces, stress=frames[0].stress,
                source="squeezed:0", group="squeezed")
    r = evaluate(model, frames + [bad], threads=1)
    assert [o["source"] for o in r["outside"]] == ["squeezed:0"]
    assert r["outside"][0]["n_atoms_outside"] >= 2
    assert r["inside"]["n_structures"] == len(frames)
    assert r["inside"]["energy_mae_mev_per_atom"] == pytest.approx(0.0, abs=1e-9)
    assert r["energy_mae_mev_per_atom"] > 1.0  # the squeezed structure's error is in the overall numbers
    table = format_table(r)
    assert "inside fitted range" in table and "squeezed:0: " in table
    assert evaluate(model, frames, threads=1)["outside"] == []
