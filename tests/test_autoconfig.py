"""Data-driven defaults (sus2c.fit.auto): cutoffs in shell gaps, CV selection, wiring into fit()."""
import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list

from sus2c.fit import FitSettings, fit
from sus2c.fit.auto import (
    CUTOFF2_RANGE,
    CUTOFF3_RANGE,
    accumulate_typed,
    candidate_layout,
    choose_cutoffs,
    cv_scores,
    select,
    shell_gaps,
)
from sus2c.fit.folds import blocked_folds, random_folds


def _l12(a):
    return Atoms("AlNi3", scaled_positions=[(0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
                 cell=[a, a, a], pbc=True)


LATTICES = {
    "fcc Cu": lambda: bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3),
    "bcc Mo": lambda: bulk("Mo", "bcc", a=3.16, cubic=True).repeat(3),
    "diamond Si": lambda: bulk("Si", "diamond", a=5.43, cubic=True).repeat(2),
    "hcp Ti": lambda: bulk("Ti", "hcp", a=2.95, c=4.68).repeat((4, 4, 3)),
    "B2 CuZn": lambda: bulk("CuZn", "cesiumchloride", a=2.95).repeat(4),
    "L1_2 Ni3Al": lambda: _l12(3.57).repeat(3),
}


def _shells(atoms, r_max):
    """Distinct neighbour distances (to 0.01 Å) of a perfect lattice."""
    d = neighbor_list("d", atoms, r_max)
    return np.unique(np.round(d, 2))


def _rattled(make, n=3, rattle=0.05):
    out = []
    for k in range(n):
        a = make()
        a.rattle(rattle, seed=k)
        out.append(a)
    return out


@pytest.mark.parametrize("name", list(LATTICES))
def test_cutoffs_in_shell_gaps(name):
    """Every candidate cutoff lies in a gap between the perfect lattice's shells,
    well away from both (not just past a shell), where the data is sparse."""
    perfect = LATTICES[name]()
    frames = _rattled(LATTICES[name])
    c = choose_cutoffs(frames)
    shells = _shells(perfect, 9.0)
    d_nn = shells[0]
    assert c["d_nn"] == pytest.approx(d_nn, abs=0.05)
    for what, rng in (("cutoff3", CUTOFF3_RANGE), ("cutoff2", CUTOFF2_RANGE)):
        assert c[what], what
        for cand in c[what]:
            r = cand["r"]
            assert cand["rule"] == "gap"
            assert rng[0] * d_nn - 0.05 <= r <= rng[1] * d_nn + 0.05
            below, above = shells[shells < r].max(), shells[shells > r].min()
            gap = above - below
            # inside the gap: at least a fifth of the gap (and 0.1 Å) from either shell
            assert r - below >= max(0.1, 0.2 * gap), (name, what, r, below, above)
            assert above - r >= max(0.1, 0.2 * gap), (name, what, r, below, above)
            assert cand["g"] <= 0.8
    # cheapest first
    assert [x["r"] for x in c["cutoff3"]] == sorted(x["r"] for x in c["cutoff3"])


def test_binary_reports_per_pair_density():
    frames = _rattled(LATTICES["L1_2 Ni3Al"])
    c = choose_cutoffs(frames)
    for cand in c["cutoff3"] + c["cutoff2"]:
        assert set(cand["per_pair_g"]) == {"Ni-Ni", "Al-Ni", "Al-Al"} or set(cand["per_pair_g"]) == {
            "Al-Al", "Al-Ni", "Ni-Ni"}
    sa = shell_gaps(frames)
    assert sum(sa.share.values()) == pytest.approx(1.0)
    # Al-Ni pairs: 3/4 of an Al's 12 neighbours... Ni-Ni dominates the distances
    assert sa.share["Ni-Ni"] > sa.share["Al-Ni"] > sa.share["Al-Al"]


def test_no_gaps_falls_back():
    """A structureless (random, liquid-like) set: candidates still come, marked as fallbacks
    or at the first minimum of g(r), inside the allowed ranges."""
    rng = np.random.default_rng(3)
    frames = []
    for k in range(4):
        pos = []
        L = 12.0
        while len(pos) < 80:
            p = rng.uniform(0, L, 3)
            if all(np.linalg.norm((p - q + L / 2) % L - L / 2) > 2.2 for q in pos):
                pos.append(p)
        frames.append(Atoms("Ar80", positions=pos, cell=[L, L, L], pbc=True))
    c = choose_cutoffs(frames)
    d = c["d_nn"]
    for what, rng_ in (("cutoff3", CUTOFF3_RANGE), ("cutoff2", CUTOFF2_RANGE)):
        for cand in c[what]:
            assert rng_[0] * d - 0.05 <= cand["r"] <= rng_[1] * d + 0.05
    assert all(cand["rule"] != "gap" or cand["g"] <= 0.8 for cand in c["cutoff3"] + c["cutoff2"])


# --------------------------------------------------------------------------- selection (EMT copper)


@pytest.fixture(scope="module")
def emt_frames():
    from ase.calculators.emt import EMT

    from sus2c.data import frame_from_atoms

    rng = np.random.default_rng(0)
    frames = []
    for k in range(10):
        a = bulk("Cu", "fcc", a=3.61 * rng.uniform(0.97, 1.03), cubic=True).repeat(2)
        a.set_cell(a.cell.array @ (np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))), scale_atoms=True)
        a.rattle(0.08, seed=k)
        a.calc = EMT()
        a.get_potential_energy(), a.get_forces(), a.get_stress()
        frames.append(frame_from_atoms(a, source=f"emt:{k}"))
    return frames


def _strip(record):
    """A record without wall-clock fields."""
    r = json.loads(json.dumps(record))
    for key in ("elapsed_s", "cpu_s"):
        r.pop(key, None)
    for c in r["candidates"]:
        c.pop("seconds", None)
    return r


def test_typed_grams_reproduce_fit_cv(emt_frames):
    """CV errors from the per-type Gram matrices equal fit()'s own (same folds, weights, grid)."""
    s = FitSettings(cutoff2=4.5, cutoff3=3.6, intervals2=10, intervals3=(3, 3, 6), energy_weight=0.7,
                    force_weight=0.3, stress_weight=0.05, threads=1)
    res = fit(emt_frames, s)
    assert "auto" not in res.model.metadata  # everything given: no selection
    lay = candidate_layout(emt_frames, s)
    tg = accumulate_typed(lay, emt_frames, random_folds(len(emt_frames), s.cv_folds, s.seed))
    cv, sol = cv_scores(tg, lay, emt_frames, s)
    assert (sol.ridge, sol.curvature) == (res.solution.ridge, res.solution.curvature)
    assert cv["energy_mae"] == pytest.approx(res.cv_errors["energy_mae_mev_per_atom"], rel=1e-6)
    assert cv["energy_rmse"] == pytest.approx(res.cv_errors["energy_rmse_mev_per_atom"], rel=1e-6)
    assert cv["force_rmse"] == pytest.approx(res.cv_errors["force_rmse_ev_per_a"], rel=1e-6)
    assert cv["stress_mae"] == pytest.approx(res.cv_errors["stress_mae_gpa"], rel=1e-6)


def test_selection_deterministic(emt_frames, monkeypatch):
    """The same data and settings give the same choice and record (the plan, not the clock, decides;
    the clock's emergency stop is switched off here, for a busy test machine)."""
    import sus2c.fit.auto as auto

    monkeypatch.setattr(auto, "CLOCK_STOP_FACTOR", 1e9)
    a = select(emt_frames, FitSettings(auto_budget=2, seed=4), threads=1)
    b = select(emt_frames, FitSettings(auto_budget=2, seed=4), threads=1)
    assert a.settings == b.settings
    assert _strip(a.record) == _strip(b.record)
    done = [c for c in a.record["candidates"] if c["status"] == "done"]
    assert len(done) >= 6  # at least the balance grid on the cheapest cutoffs
    chosen = a.record["chosen"]
    assert chosen["score"] == min(c["score"] for c in done if c["stage"] != "C stress" or c.get("admissible"))


def test_explicit_settings_win(emt_frames):
    given = FitSettings(cutoff2=4.6, cutoff3=3.3, intervals3=(3, 3, 6), energy_weight=0.8, force_weight=0.2,
                        stress_weight=0.0, ridge=1e-8, auto_budget=2)
    sel = select(emt_frames, given, threads=1)
    s = sel.settings
    assert (s.cutoff2, s.cutoff3, s.intervals3) == (4.6, 3.3, (3, 3, 6))
    assert (s.energy_weight, s.force_weight, s.stress_weight, s.ridge) == (0.8, 0.2, 0.0, 1e-8)
    for c in sel.record["candidates"]:
        if c["status"] == "done":
            assert (c["cutoff2"], c["cutoff3"], c["intervals3"]) == (4.6, 3.3, [3, 3, 6])
            assert (c["energy_weight"], c["stress_weight"]) == (0.8, 0.0)
    assert sel.record["given"]["intervals3"] == [3, 3, 6]
    assert sel.record["chosen_keys"] == ["intervals2"]


def test_choices_round_trip_through_model_file(emt_frames, tmp_path):
    import sus2c

    res = fit(emt_frames, FitSettings(auto_budget=1, threads=1))
    record = res.model.metadata["auto"]
    chosen = record["chosen"]
    assert res.model.metadata["fit"]["cutoff3"] == chosen["cutoff3"]
    assert res.model.metadata["fit"]["weights"] == [chosen["energy_weight"], chosen["force_weight"],
                                                    chosen["stress_weight"]]
    # fit()'s CV uses the selection's folds and regularisation: the same CV energy error
    assert res.cv_errors["energy_mae_mev_per_atom"] == pytest.approx(chosen["cv"]["energy_mae"], rel=1e-3)
    path = tmp_path / "model.json"
    res.model.save(path)
    back = sus2c.load(path)
    assert back.metadata["auto"] == json.loads(json.dumps(record))


def test_blocked_folds_keep_snapshot_runs_together():
    """Consecutive near-duplicate frames (an MD run) share a fold; unrelated frames are spread."""
    rng = np.random.default_rng(1)
    base = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    frames = []
    for run in range(3):  # three runs of 6 snapshots, 0.05 Å apart (a few wrap through the cell)
        a = base.copy()
        a.rattle(0.3, seed=run)
        for _ in range(6):
            a = a.copy()
            a.positions += rng.normal(scale=0.05, size=a.positions.shape)
            a.wrap()
            frames.append(a)
    for k in range(12):  # independent structures
        a = base.copy()
        a.rattle(0.3, seed=100 + k)
        frames.append(a)
    folds, runs = blocked_folds(frames, k=5, seed=0, tol=0.25 * 2.55)
    assert runs == 6  # runs are cut into pieces of at most 30 / (2 x 5) = 3 frames
    for r in range(3):
        pieces = folds[6 * r : 6 * r + 6]
        assert len(set(pieces[:3])) == 1 and len(set(pieces[3:])) == 1
    assert np.bincount(folds, minlength=5).max() - np.bincount(folds, minlength=5).min() <= 3
    again, _ = blocked_folds(frames, k=5, seed=0, tol=0.25 * 2.55)
    assert (again == folds).all()


def test_when_the_selection_runs(emt_frames):
    from dataclasses import replace

    from sus2c.fit import FitError
    from sus2c.fit.auto import wants_selection

    full = dict(cutoff2=4.5, cutoff3=3.6, intervals2=10, intervals3=(3, 3, 6), energy_weight=0.9, force_weight=0.1)
    assert wants_selection(FitSettings(**full), emt_frames)  # stress weight unset and the data has stress
    assert not wants_selection(FitSettings(**full, stress_weight=0.0), emt_frames)
    assert not wants_selection(FitSettings(**full), [replace(f, stress=None) for f in emt_frames])
    assert wants_selection(FitSettings(**full, stress_weight=0.0, auto=True), emt_frames)
    two_body = dict(full, cutoff3=0.0, intervals3=None, stress_weight=0.0)
    assert not wants_selection(FitSettings(**two_body), emt_frames)  # intervals3 means nothing without 3-body
    assert not wants_selection(FitSettings(auto=False), emt_frames)
    assert not wants_selection(FitSettings(mode="universal"), emt_frames)
    with pytest.raises(FitError, match="specific"):
        wants_selection(FitSettings(mode="universal", auto=True), emt_frames)
    assert not wants_selection(FitSettings(embedding="specific"), emt_frames)  # fixed defaults with an embedding


def test_sus2c_fit_prints_the_choices(emt_frames, tmp_path, capsys):
    """`sus2c fit` with only [data] train: the selection's candidates, CV scores and budget are
    printed, and the record is in the model file."""
    from ase.io import write

    import sus2c
    from sus2c.cli import main

    atoms = []
    for fr in emt_frames:
        a = fr.atoms.copy()
        a.info["energy"], a.info["stress"] = fr.energy, fr.stress
        a.arrays["forces"] = fr.forces
        atoms.append(a)
    write(tmp_path / "train.xyz", atoms)
    (tmp_path / "fit.toml").write_text('[data]\ntrain = "train.xyz"\n[model]\ncutoff2 = 4.84\n'
                                       '[fit]\nauto_budget = 1\nthreads = 1\n')
    assert main(["fit", str(tmp_path / "fit.toml")]) == 0
    out = capsys.readouterr().out
    assert "automatic settings for cutoff3, intervals2, intervals3, energy_weight, force_weight, stress_weight" in out
    assert "CV energy MAE" in out and "budget" in out and "chosen: cutoff2 4.84" in out
    assert "stress MAE" in out and "GPa" in out
    model = sus2c.load(tmp_path / "model.json")
    assert model.metadata["auto"]["given"]["cutoff2"] == 4.84
    assert model.metadata["fit"]["cutoff2"] == 4.84
