"""Reading labelled structures: extxyz through ASE, MLIP .cfg by hand, errors, splits."""
from __future__ import annotations

import collections
import os
import warnings
from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.calculators.singlepoint import SinglePointCalculator

from sus2c.data import (
    DataError,
    Frame,
    MissingForcesWarning,
    frame_from_atoms,
    parse_type_map,
    read_frames,
    split_frames,
)


def data_dir() -> Path | None:
    env = os.environ.get("SUS2C_DATA")
    d = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return d if d.is_dir() else None


def _labelled(atoms, energy, forces=None, stress=None, **info):
    atoms = atoms.copy()
    kw = {"energy": energy}
    if forces is not None:
        kw["forces"] = forces
    if stress is not None:
        kw["stress"] = stress
    atoms.calc = SinglePointCalculator(atoms, **kw)
    atoms.info.update(info)
    return atoms


def _structures(seed=0):
    rng = np.random.default_rng(seed)
    a = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((2, 1, 1))
    a.rattle(0.05, seed=seed)
    slab = bulk("Nb", "bcc", a=3.3, cubic=True).repeat((1, 1, 2))
    slab.pbc = (True, True, False)
    slab.center(vacuum=3.0, axis=2)
    cluster = Atoms("MoNb", positions=[[0, 0, 0], [0.3, 0.2, 2.7]], pbc=False)
    out = [
        _labelled(a, -43.25, rng.normal(size=(4, 3)), rng.normal(scale=0.01, size=6), group="bulk", weight=2.5),
        _labelled(slab, -31.5, rng.normal(size=(4, 3)), config_type="surface", config_weight=0.5),
        _labelled(cluster, -3.125, None),  # no forces, no group: file stem
    ]
    return out


# --------------------------------------------------------------------------- extxyz


def test_extxyz_round_trip(tmp_path):
    structs = _structures()
    path = tmp_path / "train-set.xyz"
    ase.io.write(path, structs, format="extxyz")
    with pytest.warns(MissingForcesWarning, match="1 of 3 frames"):
        frames = read_frames(path)
    assert len(frames) == 3
    for k, (f, a) in enumerate(zip(frames, structs)):
        assert isinstance(f, Frame)
        assert f.source == f"{path}:{k}"
        assert f.atoms.calc is None
        assert f.atoms.get_chemical_symbols() == a.get_chemical_symbols()
        np.testing.assert_allclose(f.atoms.positions, a.positions, atol=1e-7)
        np.testing.assert_allclose(f.atoms.cell.array, a.cell.array, atol=1e-7)
        assert f.atoms.pbc.tolist() == a.pbc.tolist()
        assert f.energy == pytest.approx(a.calc.results["energy"], abs=1e-9)
        assert f.n_atoms == len(a)
    np.testing.assert_allclose(frames[0].forces, structs[0].calc.results["forces"], atol=1e-7)
    np.testing.assert_allclose(frames[0].stress, structs[0].calc.results["stress"], atol=1e-9)
    assert frames[0].stress.shape == (6,)
    assert frames[1].stress is None and frames[2].forces is None
    assert [f.group for f in frames] == ["bulk", "surface", "train-set"]
    assert [f.weight for f in frames] == [2.5, 0.5, 1.0]
    assert [f.periodic for f in frames] == [True, False, False]


def test_one_warning_for_all_frames_without_forces(tmp_path):
    s = _structures()
    ase.io.write(tmp_path / "a.xyz", [s[2], s[2]], format="extxyz")
    ase.io.write(tmp_path / "b.xyz", [s[0], s[2]], format="extxyz")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        frames = read_frames([tmp_path / "a.xyz", tmp_path / "b.xyz"])
    msgs = [str(w.message) for w in rec if issubclass(w.category, MissingForcesWarning)]
    assert len(frames) == 4
    assert len(msgs) == 1 and "3 of 4 frames" in msgs[0]


def test_glob_sorted_and_index(tmp_path):
    s = _structures()
    ase.io.write(tmp_path / "d2.xyz", s[:2], format="extxyz")
    ase.io.write(tmp_path / "d1.xyz", s[1:2], format="extxyz")
    ase.io.write(tmp_path / "other.xyz", s[:1], format="extxyz")
    frames = read_frames(str(tmp_path / "d*.xyz"))
    assert [f.source for f in frames] == [
        f"{tmp_path / 'd1.xyz'}:0",
        f"{tmp_path / 'd2.xyz'}:0",
        f"{tmp_path / 'd2.xyz'}:1",
    ]
    # a list mixing a glob and a plain path
    assert len(read_frames([str(tmp_path / "d*.xyz"), tmp_path / "other.xyz"])) == 4
    # index keeps the frame's position in its file in the source
    last = read_frames(tmp_path / "d2.xyz", index="-1")
    assert [f.source for f in last] == [f"{tmp_path / 'd2.xyz'}:1"]
    assert read_frames(tmp_path / "d2.xyz", index=0)[0].source.endswith("d2.xyz:0")
    pattern = str(tmp_path / "nothing*.xyz")
    with pytest.raises(FileNotFoundError, match="nothing\\*\\.xyz"):
        read_frames(pattern)
    with pytest.raises(FileNotFoundError, match="missing.xyz"):
        read_frames(tmp_path / "missing.xyz")


@pytest.mark.parametrize("what", ["positions", "energy", "forces"])
def test_nan_names_file_and_frame(tmp_path, what):
    s = _structures()
    bad = s[0].copy()
    res = dict(s[0].calc.results)
    if what == "positions":
        bad.positions[2, 1] = np.nan
    elif what == "energy":
        res["energy"] = np.nan
    else:
        res["forces"] = res["forces"].copy()
        res["forces"][1, 0] = np.inf
    bad.calc = SinglePointCalculator(bad, **res)
    path = tmp_path / "nan.xyz"
    ase.io.write(path, [s[0], s[1], bad], format="extxyz")
    with pytest.raises(DataError) as exc:
        read_frames(path)
    msg = str(exc.value)
    assert f"{path}:2" in msg and what in msg
    assert ("nan" in msg.lower()) or ("inf" in msg.lower())


def test_missing_energy_names_file_and_frame(tmp_path):
    s = _structures()
    no_e = s[0].copy()
    no_e.calc = SinglePointCalculator(no_e, forces=s[0].calc.results["forces"])
    path = tmp_path / "noe.xyz"
    ase.io.write(path, [s[0], no_e], format="extxyz")
    with pytest.raises(DataError, match=f"{path}:1: missing energy"):
        read_frames(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "junk.xyz"
    path.write_text("3\nthis is no extxyz\nMo 0 0\n")
    with pytest.raises(DataError, match="junk.xyz"):
        read_frames(path)
    with pytest.raises(DataError, match="directory"):
        read_frames(tmp_path)


def test_frame_from_atoms_checks_force_shape():
    a = bulk("Mo", "bcc", a=3.16, cubic=True)
    a.calc = SinglePointCalculator(a, energy=-20.0, forces=np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"here:7: forces have shape \(3, 3\), expected \(2, 3\)"):
        frame_from_atoms(a, source="here:7")
    # virial in atoms.info (GAP/extxyz convention: virial = -stress * volume)
    b = bulk("Mo", "bcc", a=3.16, cubic=True)
    b.info.update(energy=-20.0, virial=np.diag([2.0, 4.0, 6.0]))
    f = frame_from_atoms(b)
    np.testing.assert_allclose(f.stress, -np.array([2.0, 4.0, 6.0, 0, 0, 0]) / b.get_volume())


# --------------------------------------------------------------------------- MLIP .cfg

CFG = """\
BEGIN_CFG
 Size
    3
 Supercell
         3.000000      0.000000      0.000000
         0.000000      3.000000      0.000000
         0.000000      0.000000      3.000000
 AtomData:  id type       cartes_x      cartes_y      cartes_z           fx          fy          fz
             1    0       0.100000      0.000000      0.000000     0.100000   -0.200000    0.300000
             2    1       1.500000      1.500000      1.500000    -0.100000    0.200000   -0.300000
             3    1       0.000000      1.500000      2.000000     0.000000    0.000000    0.000000
 Energy
      -21.500000000000
 PlusStress:  xx          yy          zz          yz          xz          xy
     -2.70000    -5.40000     8.10000     0.27000     0.54000    -1.08000
 Feature   EFS_by	VASP
 Feature   config_type	bulk-mix
 Feature   weight	2.0
END_CFG

BEGIN_CFG
 Size
    2
 Supercell
         4.000000      0.000000      0.000000
         0.000000      5.000000      0.000000
 AtomData:  id type       cartes_x      cartes_y      cartes_z           fx          fy          fz
             1    1       0.000000      0.000000      0.000000     1.000000    0.000000    0.000000
             2    1       2.000000      0.000000      1.800000    -1.000000    0.000000    0.000000
 Energy
       -7.250000000000
END_CFG
"""


def test_mlip_cfg(tmp_path):
    path = tmp_path / "set.cfg"
    path.write_text(CFG)
    frames = read_frames(path, type_map={0: "Nb", 1: "Mo"})
    assert len(frames) == 2
    f0, f1 = frames
    assert f0.source == f"{path}:0" and f1.source == f"{path}:1"
    assert f0.atoms.get_chemical_symbols() == ["Nb", "Mo", "Mo"]
    np.testing.assert_allclose(f0.atoms.positions[2], [0.0, 1.5, 2.0])
    np.testing.assert_allclose(f0.atoms.cell.array, 3.0 * np.eye(3))
    assert f0.atoms.pbc.all()
    assert f0.energy == -21.5
    np.testing.assert_allclose(f0.forces[0], [0.1, -0.2, 0.3])
    # PlusStress is the virial -V*sigma (eV): V = 27 A^3, so sigma = -PlusStress / 27,
    # reordered nowhere (both are xx yy zz yz xz xy).  Negative xx = tension = positive ASE stress.
    np.testing.assert_allclose(f0.stress, [0.1, 0.2, -0.3, -0.01, -0.02, 0.04], atol=1e-12)
    assert f0.group == "bulk-mix" and f0.weight == 2.0
    # second configuration: two lattice rows -> periodic in x and y only, no stress
    assert f1.atoms.pbc.tolist() == [True, True, False]
    np.testing.assert_allclose(f1.atoms.cell.array[:2], [[4, 0, 0], [0, 5, 0]])
    assert f1.stress is None and f1.energy == -7.25 and f1.group == "set"
    np.testing.assert_allclose(f1.forces, [[1, 0, 0], [-1, 0, 0]])
    # the same map as a list and as the CLI string
    for tm in (["Nb", "Mo"], "0=Nb,1=Mo", {"0": "Nb", "1": "Mo"}):
        again = read_frames(path, type_map=tm)
        assert again[0].atoms.get_chemical_symbols() == ["Nb", "Mo", "Mo"]


def test_mlip_cfg_stress_sign_from_strain_derivative(tmp_path):
    """MLIP's stresses are -dE/d(strain) (eV): check against ASE's stress of a stretched LJ crystal."""
    atoms = bulk("Ar", "fcc", a=5.6, cubic=True)  # well beyond the LJ minimum: under tension
    calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0, smooth=True)
    atoms.calc = calc
    sigma_ase = atoms.get_stress()
    assert sigma_ase[0] > 0  # tension

    def energy(eps):
        a = atoms.copy()
        a.calc = calc
        a.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        return a.get_potential_energy()

    h = 1e-5
    dE = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = np.zeros((3, 3))
            e[i, j] = e[j, i] = h
            dE[i, j] = (energy(e) - energy(-e)) / (2 * h) / (1 if i == j else 2)
    plus = -dE  # MLIP: stresses = -L^T dE/dL = -dE/d(strain)
    lines = ["BEGIN_CFG", " Size", f"    {len(atoms)}", " Supercell"]
    lines += ["   " + " ".join(f"{v:.10f}" for v in row) for row in atoms.cell.array]
    lines.append(" AtomData:  id type cartes_x cartes_y cartes_z")
    lines += [f"  {k + 1} 0 " + " ".join(f"{v:.10f}" for v in p) for k, p in enumerate(atoms.positions)]
    lines += [" Energy", f"  {atoms.get_potential_energy():.12f}"]
    lines += [" PlusStress:  xx yy zz yz xz xy"]
    lines.append("  " + " ".join(f"{v:.12e}" for v in [plus[0, 0], plus[1, 1], plus[2, 2], plus[1, 2], plus[0, 2], plus[0, 1]]))
    lines.append("END_CFG")
    path = tmp_path / "lj.cfg"
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(MissingForcesWarning):
        (frame,) = read_frames(path, type_map=["Ar"])
    assert plus[0, 0] < 0  # tension is negative PlusStress
    np.testing.assert_allclose(frame.stress, sigma_ase, rtol=1e-5, atol=1e-9)


def test_mlip_cfg_needs_type_map(tmp_path):
    path = tmp_path / "set.cfg"
    path.write_text(CFG)
    with pytest.raises(DataError, match=r"set\.cfg.*type map.*--type-map"):
        read_frames(path)
    with pytest.raises(DataError, match=r"set\.cfg: frame 0 .*type\(s\) \[1\] not in the type map"):
        read_frames(path, type_map={0: "Mo"})


def test_mlip_cfg_errors_name_file_and_frame(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text(CFG.replace("       -7.250000000000", "      nan"))
    with pytest.raises(DataError, match=r"bad\.cfg:1: energy is nan"):
        read_frames(path, type_map=["Nb", "Mo"])
    path.write_text(CFG.replace(" Size\n    2", " Size\n    3"))
    with pytest.raises(DataError, match=r"bad\.cfg: frame 1 .*AtomData"):
        read_frames(path, type_map=["Nb", "Mo"])
    path.write_text(CFG.rsplit("END_CFG", 1)[0])
    with pytest.raises(DataError, match=r"bad\.cfg: frame 1 .*without END_CFG"):
        read_frames(path, type_map=["Nb", "Mo"])
    path.write_text(CFG.replace("PlusStress:", "Stress:"))
    with pytest.raises(DataError, match="PlusStress"):
        read_frames(path, type_map=["Nb", "Mo"])
    no_e = CFG.split("END_CFG")[0].replace(" Energy\n      -21.500000000000\n", "") + "END_CFG\n"
    path.write_text(no_e)
    with pytest.raises(DataError, match=r"bad\.cfg:0: missing energy"):
        read_frames(path, type_map=["Nb", "Mo"])


def test_parse_type_map():
    assert parse_type_map("0=Mo, 1=Nb") == {0: "Mo", 1: "Nb"}
    assert parse_type_map("Mo,Nb") == {0: "Mo", 1: "Nb"}
    assert parse_type_map(["W"]) == {0: "W"}
    assert parse_type_map(None) is None
    for bad in ("0=Mo,Nb", "0=Xx", "a=Mo", {0: "Mo", "0": "W"}):
        with pytest.raises(ValueError):
            parse_type_map(bad)


# --------------------------------------------------------------------------- split


def test_split_frames():
    frames = [Frame(Atoms("H"), float(k), source=str(k)) for k in range(10)]
    train, test = split_frames(frames, 0.8, seed=3)
    assert len(train) == 8 and len(test) == 2
    assert sorted(f.source for f in train + test) == sorted(f.source for f in frames)
    assert [f.energy for f in train] == sorted(f.energy for f in train)  # original order kept
    again = split_frames(frames, 0.8, seed=3)
    assert [f.source for f in again[0]] == [f.source for f in train]
    assert len(split_frames(frames, 0.01, seed=0)[0]) == 1  # never an empty set for 0 < fraction < 1
    assert len(split_frames(frames, 1.0, seed=0)[1]) == 0
    with pytest.raises(ValueError):
        split_frames(frames, 1.5, seed=0)


# --------------------------------------------------------------------------- real data


def test_mo_test_set():
    d = data_dir()
    if d is None or not (d / "mo-test.xyz").exists():
        pytest.skip("development data not found: set SUS2C_DATA or provide ../shared/data/mo-test.xyz")
    frames = read_frames(d / "mo-test.xyz")
    assert len(frames) == 23
    assert collections.Counter(f.group for f in frames) == {
        "AIMD-NVT": 12,
        "Elastic": 6,
        "Vacancy": 3,
        "Surface": 2,
    }
    assert all(f.forces is not None and f.stress is not None and f.periodic for f in frames)
    assert all(set(f.atoms.get_chemical_symbols()) == {"Mo"} for f in frames)
