"""Materials properties (EOS, elastic constants, phonons, vacancy), `sus2c validate` and `sus2c md`.

The property code is checked on ASE's EMT against independent routes (ASE's
EquationOfState, a cell relaxation to zero stress, energy curvatures, ASE's
own finite-displacement phonons); then a sus2c model fitted to EMT copper in
this module must reproduce EMT's properties.
"""
import json
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from sus2c import properties as P
from sus2c.calculator import Calculator
from sus2c.cli import main
from sus2c.data import frame_from_atoms
from sus2c.fit import FitSettings, fit
from sus2c.md import auto_repeat, parse_repeat, run_md

A_CU = 3.59  # Å, near EMT's copper lattice constant (3.5898 Å)


def _emt_cu_frames(n, seed):
    """fcc Cu, 32 atoms, labelled by EMT: rattled, sheared/strained and expanded/compressed cells."""
    rng = np.random.default_rng(seed)
    calc = EMT()
    out = []
    for k in range(n):
        kind = ("rattled", "strained", "volume")[k % 3]
        a = bulk("Cu", "fcc", a=A_CU * rng.uniform(0.97, 1.03), cubic=True).repeat((2, 2, 2))
        if kind == "strained":
            eps = rng.uniform(-0.03, 0.03, (3, 3))
            a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
            scale = 0.03
        else:
            scale = rng.uniform(0.02, 0.1)
        a.positions += rng.normal(scale=scale, size=a.positions.shape)
        a.calc = calc
        a.get_potential_energy(), a.get_forces(), a.get_stress()
        fr = frame_from_atoms(a, source=f"emt:{kind}:{k}")
        fr.group = kind
        out.append(fr)
    return out


@pytest.fixture(scope="module")
def cu_model(tmp_path_factory):
    """A 2+3-body model fitted to 40 EMT copper structures, and its file."""
    settings = FitSettings(cutoff2=5.0, cutoff3=4.0, intervals2=14, intervals3=(4, 4, 8), threads=2, auto=False)
    res = fit(_emt_cu_frames(40, 1), settings)
    path = tmp_path_factory.mktemp("model") / "cu.json"
    res.model.save(path)
    return res.model, path


@pytest.fixture(scope="module")
def emt_props():
    return P.compute_properties(EMT(), P.parse_structure("fcc:Cu:3.61"), name="EMT")


# ---------------------------------------------------------------- structures


def test_parse_structure(tmp_path):
    a = P.parse_structure("fcc:Cu:3.61")
    assert len(a) == 4 and P.is_cubic(a) and a.cell.lengths()[0] == pytest.approx(3.61)
    assert len(P.parse_structure("bcc:Mo:3.16")) == 2
    assert len(P.parse_structure("sc:Po:3.35")) == 1
    assert len(P.parse_structure("diamond:Si:5.43")) == 8
    h = P.parse_structure("hcp:Ti:2.95")
    assert len(h) == 2 and h.cell.lengths()[2] == pytest.approx(2.95 * np.sqrt(8 / 3))
    assert P.parse_structure("hcp:Ti:2.95:4.68").cell.lengths()[2] == pytest.approx(4.68)
    path = tmp_path / "x.xyz"
    bulk("Ni", "fcc", a=3.52, cubic=True).write(path)
    assert P.parse_structure(str(path)).get_chemical_symbols() == ["Ni"] * 4
    for bad, msg in (
        ("fcc:Xx:3.6", "unknown element"),
        ("fcc:Cu", "expected lattice"),
        ("fcc:Cu:big", "numbers"),
        ("bcc:Mo:3.1:4.0", "expected lattice"),
        ("nope.xyz", "neither"),
    ):
        with pytest.raises(P.PropertyError, match=msg):
            P.parse_structure(bad)


def test_supercell_rule_and_cutoffs():
    a = P.parse_structure("fcc:Cu:3.6")
    assert P.repeat_for_width(a, 10.0) == (3, 3, 3)
    # triclinic: perpendicular widths, not edge lengths
    prim = bulk("Cu", "fcc", a=3.6)
    reps = P.repeat_for_width(prim, 10.0)
    big = prim.repeat(reps)
    vol = big.get_volume()
    c = big.cell.array
    widths = [vol / np.linalg.norm(np.cross(c[(i + 1) % 3], c[(i + 2) % 3])) for i in range(3)]
    assert min(widths) >= 10.0 and reps[0] > int(np.ceil(10.0 / np.linalg.norm(prim.cell[0])))
    emt = EMT()
    rc = P.interaction_cutoff(emt, a)
    assert rc == pytest.approx(emt.rc) and 5.0 < rc < 6.0


# ---------------------------------------------------------------- EMT against independent routes


def test_eos_agrees_with_ase_equation_of_state():
    from ase.eos import EquationOfState
    from ase.units import GPa

    atoms = P.parse_structure("fcc:Cu:3.70")  # deliberately off: the window must re-centre
    res, eq = P.equilibrium(EMT(), atoms)
    n = res.n_atoms
    v = np.asarray(res.volumes_angstrom3_per_atom) * n
    e = np.asarray(res.energies_ev_per_atom) * n
    for form, mine in (("vinet", res), ("birchmurnaghan", res.other_form)):
        eos = EquationOfState(v, e, eos=form)
        v0, e0, b = eos.fit()
        get = (lambda k: getattr(mine, k)) if form == "vinet" else mine.get
        assert get("v0_angstrom3_per_atom") * n == pytest.approx(v0, rel=1e-6)
        assert get("e0_ev_per_atom") * n == pytest.approx(e0, abs=1e-7)
        assert get("b_gpa") == pytest.approx(b / GPa, rel=1e-4)
        assert get("bp") == pytest.approx(eos.eos_parameters[2], rel=1e-3)
    assert res.fit_rms_mev_per_atom < 1e-2
    # V0 in the middle of the final window
    assert v.min() < res.v0_angstrom3_per_atom * n < v.max()
    # independent route: relax the cell to zero stress
    relaxed = atoms.copy()
    relaxed.calc = EMT()
    P.relax_cell(relaxed, fmax=1e-6)
    assert res.a0_angstrom == pytest.approx(relaxed.cell.lengths()[0], abs=2e-4)
    assert res.a0_angstrom == pytest.approx(3.5898, abs=1e-3)  # EMT's copper
    # B = -V dP/dV by central differences of the stress
    eq.calc = EMT()
    vol = eq.get_volume()
    p = []
    for s in (1.0025, 0.9975):
        x = eq.copy()
        x.set_cell(eq.cell * s, scale_atoms=True)
        x.calc = EMT()
        p.append(-x.get_stress()[:3].mean())
    b_fd = -vol * (p[0] - p[1]) / (vol * (1.0025**3 - 0.9975**3)) * P.EV_PER_A3_TO_GPA
    assert res.b_gpa == pytest.approx(b_fd, rel=5e-3)


def test_elastic_constants_agree_with_energy_curvature(emt_props):
    """C_ij from central differences of stress vs second derivatives of the energy."""
    el = emt_props.elastic
    C = el.c_gpa
    eq = bulk("Cu", "fcc", a=emt_props.eos.a0_angstrom, cubic=True)
    v0 = eq.get_volume()
    d = np.linspace(-0.01, 0.01, 9)

    def curvature(eps_of):
        e = []
        for x in d:
            a = P.strained(eq, eps_of(x))
            a.calc = EMT()
            e.append(a.get_potential_energy())
        return 2 * np.polyfit(d, np.asarray(e) / v0, 4)[2] * P.EV_PER_A3_TO_GPA  # d²(E/V)/dδ²

    c11 = curvature(lambda x: P.strain_matrix(0, x))
    c11_plus_c12 = curvature(lambda x: P.strain_matrix(0, x) + P.strain_matrix(1, x)) / 2
    c44 = curvature(lambda x: P.strain_matrix(3, x))
    named = el.named_gpa
    assert named["C11"] == pytest.approx(c11, rel=5e-3)
    assert named["C12"] == pytest.approx(c11_plus_c12 - c11, rel=1e-2)
    assert named["C44"] == pytest.approx(c44, rel=5e-3)
    # cubic symmetry, convergence over strain sizes, bulk modulus from C_ij = from the EOS
    assert el.crystal == "cubic" and el.converged and el.spread_gpa < 0.5
    assert np.allclose(C[:3, 3:], 0, atol=0.05) and el.asymmetry_gpa < 0.1
    assert el.moduli["bulk_voigt_gpa"] == pytest.approx((named["C11"] + 2 * named["C12"]) / 3)
    assert el.moduli["bulk_hill_gpa"] == pytest.approx(emt_props.eos.b_gpa, rel=5e-3)
    assert el.moduli["shear_reuss_gpa"] < el.moduli["shear_hill_gpa"] < el.moduli["shear_voigt_gpa"]
    assert el.moduli["mechanically_stable"]
    assert abs(el.residual_pressure_gpa) < 0.05


def test_phonons_agree_with_ase_phonons(emt_props, tmp_path):
    """phonopy on EMT vs ASE's own finite-displacement phonons on the same q-points."""
    from ase.phonons import Phonons

    ph = emt_props.phonons
    assert ph.supercell == (3, 3, 3) and ph.n_supercell_atoms == 108 and ph.n_primitive_atoms == 1
    assert ph.band_path == "GXWKGLUWLK,UX"
    gamma = np.nonzero(np.all(np.abs(ph.band_qpoints) < 1e-12, axis=1))[0]
    assert len(gamma) and np.abs(ph.band_frequencies_thz[gamma]).max() < 1e-3
    assert ph.min_frequency_thz > -1e-3
    assert ph.heat_capacity_kb_per_atom[-1] == pytest.approx(3.0, rel=1e-2)  # 1000 K: Dulong-Petit
    assert np.all(np.diff(ph.entropy_kb_per_atom) > 0) and np.all(np.diff(ph.free_energy_ev_per_atom) < 0)
    dos_integral = np.trapezoid(ph.dos_states_per_thz, ph.dos_frequencies_thz)
    assert dos_integral == pytest.approx(3 * ph.n_primitive_atoms, rel=1e-2)
    assert P.frequency_rmse(ph, ph) == {k: 0.0 for k in ("band_rmse_thz", "band_max_abs_thz", "mesh_rmse_thz", "mesh_max_abs_thz")}

    prim = bulk("Cu", "fcc", a=emt_props.eos.a0_angstrom)  # a 125-atom supercell, 10.4 Å wide
    aph = Phonons(prim, EMT(), supercell=(5, 5, 5), delta=0.01, name=str(tmp_path / "ph"))
    aph.run()
    aph.read(acoustic=True)
    # the same Cartesian q-points, in the basis of ASE's primitive cell
    cart = ph.band_qpoints @ np.linalg.inv(ph.primitive_cell_angstrom).T
    q_ase = cart @ prim.cell.array.T
    from ase.units import _e, _hbar

    ev_to_thz = _e / (2 * np.pi * _hbar) / 1e12
    f_ase = np.sort(aph.band_structure(q_ase, verbose=False).real, axis=1) * ev_to_thz
    d = np.sort(ph.band_frequencies_thz, axis=1) - f_ase
    assert np.sqrt(np.mean(d * d)) < 0.03
    assert np.abs(d).max() < 0.1


def test_vacancy_emt(emt_props):
    v = emt_props.vacancy
    assert v.n_atoms == 108 and v.relax_converged
    assert 0.9 < v.formation_energy_ev < v.formation_energy_unrelaxed_ev < 1.5
    assert v.relaxation_energy_ev == pytest.approx(v.formation_energy_ev - v.formation_energy_unrelaxed_ev)


def _cu3ni():
    """L1_2 Cu3Ni: Ni on the cube corner (atom 0), Cu on the face centres."""
    atoms = bulk("Cu", "fcc", a=3.57, cubic=True)
    atoms[0].symbol = "Ni"
    return atoms


def test_vacancy_names_the_removed_atom_and_its_reference(emt_props):
    v = emt_props.vacancy
    assert v.removed_index == 0 and v.removed_element == "Cu" and v.removed_position_fractional == (0, 0, 0)
    assert v.site() == "atom 0 (Cu at 0, 0, 0)"
    # elemental crystal: mu = E(N)/N, i.e. E_f = E(N-1) - (N-1)/N E(N)
    assert v.chemical_potential_ev == pytest.approx(v.e_bulk_ev / v.n_atoms, rel=1e-14)
    assert v.chemical_potential_source == "E(N)/N of the perfect crystal"


def test_vacancy_in_a_compound_needs_a_chemical_potential():
    """Issue 14.7: Cu3Ni got '1.202 eV' from the elemental formula, without saying which atom went."""
    atoms = _cu3ni()
    with pytest.raises(P.PropertyError, match=r"compound Cu3Ni: removing atom 0 \(Ni\) needs the chemical potential of Ni"):
        P.vacancy_formation_energy(EMT(), atoms, supercell=(2, 2, 2))
    with pytest.raises(P.PropertyError, match="atom index 4 is outside the unit cell"):
        P.vacancy_formation_energy(EMT(), atoms, supercell=(2, 2, 2), index=4, chemical_potential=0.0)
    # refused before the long calculations
    with pytest.raises(P.PropertyError, match="chemical potential of Ni"):
        P.compute_properties(EMT(), atoms, which=("eos", "vacancy"))

    mu = -0.25
    v = P.vacancy_formation_energy(EMT(), atoms, supercell=(2, 2, 2), index=2, chemical_potential=mu,
                                   chemical_potential_source="a test value")
    perfect = atoms.repeat((2, 2, 2))
    perfect.calc = EMT()
    defect = atoms.repeat((2, 2, 2))
    assert defect[2].symbol == "Cu"
    del defect[2]
    defect.calc = EMT()
    expected = defect.get_potential_energy() - perfect.get_potential_energy() + mu
    assert v.formation_energy_unrelaxed_ev == pytest.approx(expected, abs=1e-10)
    assert v.formation_energy_ev < v.formation_energy_unrelaxed_ev
    assert (v.removed_element, v.removed_index, v.removed_position_fractional) == ("Cu", 2, (0.5, 0, 0.5))
    assert (v.chemical_potential_ev, v.chemical_potential_source) == (mu, "a test value")


def test_validate_refuses_or_leaves_out_a_compound_vacancy(tmp_path, capsys, monkeypatch):
    import ase.io

    import sus2c.validate as V

    path = tmp_path / "cu3ni.xyz"
    ase.io.write(path, _cu3ni())
    out = tmp_path / "val"
    # asked for explicitly: refused before anything is computed or written
    assert main(["validate", "emt", "--structure", str(path), "--properties", "eos,vacancy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "compound Cu3Ni" in err and "--chemical-potential Ni=" in err and "--properties eos,elastic,phonons" in err
    assert not out.exists()
    assert main(["validate", "emt", "--structure", str(path), "--chemical-potential", "Cu", "--out", str(out)]) == 2
    assert "expected ELEMENT=EV" in capsys.readouterr().err

    # by default (all that apply; here "all" is cut to eos and vacancy to keep the test fast): left
    # out, with the reason as a report warning
    monkeypatch.setattr(V, "ALL_PROPERTIES", ("eos", "vacancy"))
    assert main(["validate", "emt", "--structure", str(path), "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["settings"]["properties"] == ["eos"] and rep["results"]["EMT"]["vacancy"] is None
    assert rep["warnings"][0].startswith("vacancy not computed: vacancy formation energy of the compound Cu3Ni")
    assert "warning: vacancy not computed" in capsys.readouterr().out


def test_vacancy_report_says_which_atom_and_which_reference(tmp_path):
    from sus2c.validate import _rows, write_markdown

    v = P.VacancyResult(supercell=(2, 2, 2), n_atoms=32, removed_index=2, e_bulk_ev=-1.0,
                        formation_energy_unrelaxed_ev=1.3, formation_energy_ev=1.2, relaxation_energy_ev=-0.1,
                        relax_steps=7, relax_converged=True, removed_element="Cu",
                        removed_position_fractional=(0.5, 0.0, 0.5), chemical_potential_ev=-0.007,
                        chemical_potential_source="E0 per atom of fcc:Cu:3.59, relaxed with the same calculator")
    props = P.Properties(name="EMT", structure="Cu3Ni", vacancy=v)
    assert [r[1] for r in _rows(props)] == ["vacancy formation energy, Cu site (relaxed)",
                                            "vacancy formation energy, Cu site (unrelaxed)"]
    report = {"structure": "cu3ni.xyz", "model": "emt", "reference": None, "warnings": [], "sus2c_version": "x",
              "wall_s": 1.0, "settings": {"eos_form": "vinet", "eos_volume_range": 0.06, "strains": [0.01],
                                          "fmax_ev_per_angstrom": 1e-4, "supercell": [2, 2, 2],
                                          "cutoff_angstrom": 5.0, "mesh": [4, 4, 4]}}
    write_markdown(tmp_path / "report.md", report, [("EMT", props)], [])
    md = (tmp_path / "report.md").read_text()
    assert "removed atom 2 (Cu at 0.5, 0, 0.5) of the unit cell" in md
    assert "μ_Cu = -0.00700 eV (E0 per atom of fcc:Cu:3.59, relaxed with the same calculator)" in md


# ---------------------------------------------------------------- a model fitted to EMT


def test_fitted_model_reproduces_emt_properties(cu_model, emt_props):
    model, _ = cu_model
    calc = Calculator(model, threads=2)
    atoms = P.parse_structure("fcc:Cu:3.61")
    ph_ref = emt_props.phonons
    t = time.perf_counter()
    mine = P.compute_properties(calc, atoms, name="sus2c", supercell=ph_ref.supercell, band_from=ph_ref)
    elapsed = time.perf_counter() - t
    a, a_ref = mine.eos.a0_angstrom, emt_props.eos.a0_angstrom
    rmse = P.frequency_rmse(mine.phonons, ph_ref)
    c, c_ref = mine.elastic.named_gpa, emt_props.elastic.named_gpa
    print(
        f"\na0 {a:.4f} vs {a_ref:.4f} Å ({100 * (a / a_ref - 1):+.3f} %); B {mine.eos.b_gpa:.1f} vs {emt_props.eos.b_gpa:.1f} GPa"
        + "".join(f"; {k} {c[k]:.1f} vs {c_ref[k]:.1f} GPa ({100 * (c[k] / c_ref[k] - 1):+.1f} %)" for k in ("C11", "C12", "C44"))
        + f"\nphonon RMSE {rmse['band_rmse_thz']:.4f} THz (band), {rmse['mesh_rmse_thz']:.4f} THz (mesh); vacancy "
        f"{mine.vacancy.formation_energy_ev:.3f} vs {emt_props.vacancy.formation_energy_ev:.3f} eV; {elapsed:.1f} s"
    )
    assert a == pytest.approx(a_ref, rel=5e-3)
    for k in ("C11", "C12", "C44"):
        assert c[k] == pytest.approx(c_ref[k], rel=0.10), k
    assert rmse["band_rmse_thz"] < 0.3 and rmse["mesh_rmse_thz"] < 0.3
    assert mine.phonons.min_frequency_thz > -1e-3
    assert mine.elastic.converged
    # not in the training data: a looser check
    assert mine.vacancy.formation_energy_ev == pytest.approx(emt_props.vacancy.formation_energy_ev, rel=0.15)


def test_nve_energy_drift(cu_model):
    """500 atoms, 1 fs, 2000 steps: total-energy drift within 1e-4 eV/atom."""
    model, _ = cu_model
    atoms = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat((5, 5, 5))
    r = run_md(atoms, Calculator(model, threads=2), "nve", temperature_k=600, steps=2000, timestep_fs=1.0, progress=False)
    print(
        f"\nNVE 500 atoms x 2000 steps: drift {r.drift_ev_per_atom:+.2e} eV/atom, max deviation "
        f"{r.max_deviation_ev_per_atom:.2e} eV/atom, T {r.temperature_mean_k:.0f} K, {r.wall_s:.1f} s ({r.steps_per_s:.0f} steps/s)"
    )
    assert r.n_atoms == 500 and r.steps == 2000 and len(r.series["etot_ev_per_atom"]) == 2001
    assert abs(r.drift_ev_per_atom) <= 1e-4
    assert r.max_deviation_ev_per_atom <= 1e-4
    assert 200 < r.temperature_mean_k < 400  # equipartition from a perfect lattice at 600 K


# ---------------------------------------------------------------- commands


def test_validate_command(cu_model, tmp_path, capsys):
    _, path = cu_model
    out = tmp_path / "val"
    args = ["validate", str(path), "--structure", "fcc:Cu:3.61", "--reference", "emt", "--out", str(out)]
    assert main(args + ["--properties", "eos,elastic,phonons", "--mesh", "8", "--strains", "0.5,1"]) == 0
    text = capsys.readouterr().out
    assert "lattice constant a" in text and "phonon frequency RMSE" in text
    for name in ("report.md", "report.json", "eos.png", "phonon_bands.png", "phonon_dos.png", "elastic_convergence.png"):
        assert (out / name).stat().st_size > 0, name
    rep = json.loads((out / "report.json").read_text())
    assert rep["labels"] == ["cu.json", "EMT"] and rep["settings"]["supercell"] == [3, 3, 3]
    assert abs(rep["comparison"]["a0"]["relative_difference"]) < 5e-3
    assert rep["phonon_frequency_rmse"]["band_rmse_thz"] < 0.3
    res = rep["results"]["EMT"]
    assert res["elastic"]["strains"] == [0.005, 0.01] and res["vacancy"] is None
    assert len(res["phonons"]["band_frequencies_thz"]) == len(res["phonons"]["band_qpoints"])
    md = (out / "report.md").read_text()
    assert "| C44 | GPa |" in md and "![phonon_bands](phonon_bands.png)" in md

    # a model against itself: every difference is zero
    out2 = tmp_path / "self"
    assert main(["validate", str(path), "--structure", "fcc:Cu:3.6", "--reference", str(path),
                 "--out", str(out2), "--properties", "eos,elastic", "--strains", "1"]) == 0
    capsys.readouterr()
    rep = json.loads((out2 / "report.json").read_text())
    assert rep["labels"] == ["cu.json", "cu.json (reference)"]
    assert all(c["difference"] == 0 for c in rep["comparison"].values())

    assert main(["validate", str(path), "--structure", "bcc:Mo:3.16", "--reference", "emt", "--out", str(out)]) == 2
    assert "Mo" in capsys.readouterr().err
    assert main(["validate", str(path), "--structure", "fcc:Cu:3.6", "--properties", "eos,magic", "--out", str(out)]) == 2
    assert "magic" in capsys.readouterr().err


def test_md_command(cu_model, tmp_path, capsys):
    from ase.io import read

    _, path = cu_model
    traj = tmp_path / "md.traj"
    args = ["md", str(path), "fcc:Cu:3.59", "--ensemble", "nvt", "--temperature", "500", "--steps", "60",
            "--repeat", "3", "--trajectory", str(traj), "--trajectory-interval", "20", "--json"]
    assert main(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n_atoms"] == 108 and r["ensemble"] == "nvt" and r["thermostat"] == "langevin"
    assert len(read(traj, ":")) == 4  # steps 0, 20, 40, 60
    assert main(args[:-1] + ["--thermostat", "bussi"]) == 0
    out = capsys.readouterr().out
    assert "bussi thermostat" in out and "temperature" in out
    # NVE from the command line: auto repeat to >= 300 atoms, a summary with the drift even when not a tty
    assert main(["md", str(path), "fcc:Cu:3.59", "--steps", "20", "--progress", "--log-interval", "10"]) == 0
    out = capsys.readouterr().out
    assert "500 atoms" in out and "total energy drift" in out and out.count("step ") == 3
    assert main(["md", str(path), "fcc:Cu:3.59", "--repeat", "2,x"]) == 2
    assert "--repeat" in capsys.readouterr().err


def test_md_helpers():
    assert parse_repeat("auto") is None and parse_repeat("4") == (4, 4, 4) and parse_repeat("2,3,4") == (2, 3, 4)
    with pytest.raises(ValueError):
        parse_repeat("0")
    assert auto_repeat(bulk("Cu", "fcc", a=3.6, cubic=True)) == (5, 5, 5)
    assert auto_repeat(bulk("Cu", "fcc", a=3.6, cubic=True).repeat(7)) == (1, 1, 1)
    with pytest.raises(ValueError, match="ensemble"):
        run_md(bulk("Cu", "fcc", a=3.6, cubic=True), EMT(), ensemble="npt", steps=1)
