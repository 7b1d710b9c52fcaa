"""Reports that say what they mean (issue 14.9), apart from the plots (tests/test_plots.py).

validate's relative differences; the md summary and its warning for atoms
that never interact; the fit configuration's "cv"; `sus2c info`'s SIMD line;
the demo's output (each line once, output folder ignored by git); warnings
on the command line (one line each, once).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

import sus2c
from sus2c.cli import main
from sus2c.config import ConfigError, load_config
from sus2c.testing import random_model

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- validate: differences


def _props(F, b, e0):
    eos = SimpleNamespace(a0_angstrom=3.6, c0_angstrom=3.6, v0_angstrom3_per_atom=11.7, e0_ev_per_atom=e0,
                          b_gpa=b, bp=4.5, form="vinet")
    ph = SimpleNamespace(max_frequency_thz=7.0, min_frequency_thz=0.0, zero_point_energy_ev_per_atom=0.03,
                         temperatures_k=[300.0, 1000.0], free_energy_ev_per_atom=F,
                         entropy_kb_per_atom=[3.7, 6.9], heat_capacity_kb_per_atom=[2.8, 2.95])
    return SimpleNamespace(eos=eos, elastic=None, phonons=ph, vacancy=None)


def test_no_percentages_of_quantities_near_zero_and_signs_follow_the_difference():
    from sus2c.validate import _summary_text, compare

    # F(300 K) of -13.0 vs -13.98 meV/atom was "-6.99 %" although the model's F is the larger
    model, ref = _props([-0.013002, -0.1], 150.0, -0.0068), _props([-0.013980, -0.11], 140.0, -0.0070)
    c = compare(model, ref)
    for key in ("F_300K", "F_1000K", "e0"):
        assert c[key]["relative_difference"] is None, key
    assert c["F_300K"]["difference"] == pytest.approx(0.978)
    assert c["b_eos"]["relative_difference"] == pytest.approx(10.0 / 140.0)
    text = _summary_text({"labels": ["sus2c", "EMT"], "comparison": c})
    line = next(ln for ln in text.splitlines() if "free energy F at 300 K" in ln)
    assert line.split()[-1] == "+0.978" and "%" not in line
    assert next(ln for ln in text.splitlines() if "bulk modulus B" in ln).endswith("+7.14 %")

    # a negative reference: the sign is that of the difference
    from sus2c.validate import relative_difference

    assert relative_difference("C12", -9.0, -10.0) == pytest.approx(0.1)
    assert relative_difference("C12", 1.0, 0.0) is None


# --------------------------------------------------------------------------- md


@pytest.fixture(scope="module")
def cu_model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("md") / "cu.json"
    random_model(elements=("Cu",), seed=3, r_min=2.0).save(path)
    return path


def test_md_warns_when_no_atom_interacts_and_nve_has_no_target(cu_model_file, capsys):
    # a typo: 361 Å instead of 3.61 Å
    assert main(["md", str(cu_model_file), "fcc:Cu:361", "--repeat", "1", "--steps", "2"]) == 0
    out = capsys.readouterr()
    assert "sus2c md: warning: no atom has a neighbour within the interaction cutoff (5 Å)" in out.err
    assert "lattice constants are in Å" in out.err
    # NVE: the temperature is where the velocities started, not a target
    line = next(ln for ln in out.out.splitlines() if "temperature:" in ln)
    assert "target" not in line and "initial velocities at 300 K" in line

    assert main(["md", str(cu_model_file), "fcc:Cu:3.61", "--repeat", "1", "--steps", "2"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["md", str(cu_model_file), "fcc:Cu:3.61", "--repeat", "1", "--steps", "2", "--ensemble", "nvt"]) == 0
    assert "thermostat 300 K" in capsys.readouterr().out


# --------------------------------------------------------------------------- fit configuration


def test_ridge_cv_in_any_case_and_the_error_says_cv(tmp_path):
    cfg = tmp_path / "fit.toml"
    cfg.write_text('[data]\ntrain = "t.xyz"\n[fit]\nridge = "CV"\ncurvature = 1e-6\n')
    c = load_config(cfg)
    assert c.settings.ridge == "cv" and c.settings.curvature == 1e-6
    for bad in ('"auto"', "[1]", "true"):
        cfg.write_text(f'[data]\ntrain = "t.xyz"\n[fit]\nridge = {bad}\n')
        with pytest.raises(ConfigError, match=r'\[fit\] ridge must be a number >= 0 or "cv"'):
            load_config(cfg)


# --------------------------------------------------------------------------- info, warnings


def test_info_shows_the_simd_build(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    simd = sus2c.build_info()["simd"]
    assert f"SIMD: {simd}: " in out
    assert ("AVX2+FMA build" if simd == "avx2" else "baseline build") in out


def test_command_warnings_are_one_line_each_and_said_once(monkeypatch, capsys):
    import sus2c.cli as cli

    def noisy(args):
        for _ in range(3):
            warnings.warn("31 atom(s) are closer than the first knot", UserWarning)
        warnings.warn("another thing", UserWarning)
        return 0

    monkeypatch.setattr(cli, "_cmd_info", noisy)
    assert main(["info"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["sus2c info: warning: 31 atom(s) are closer than the first knot",
                   "sus2c info: warning: another thing"]


# --------------------------------------------------------------------------- demo


def test_demo_says_each_thing_once(tmp_path, monkeypatch):
    """The demo on a few structures, without its plots and validation (tested elsewhere)."""
    import sus2c.analysis
    import sus2c.validate
    from sus2c import workflows

    real = workflows.demo_structures
    monkeypatch.setattr(workflows, "demo_structures", lambda: real(n_train=12, n_test=4))
    monkeypatch.setattr(sus2c.analysis, "plot_all", lambda *a, **k: [])
    monkeypatch.setattr(sus2c.validate, "validate", lambda *a, **k: None)
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workflows.run_demo(str(tmp_path / "demo"), threads=1, log=lines.append)
    said = [ln.strip() for ln in "\n".join(lines).splitlines()]
    said = [ln for ln in said if ln and not set(ln) <= set("-") and not ln.startswith(("group", "meV/atom"))]
    repeated = sorted({ln for ln in said if said.count(ln) > 1})
    assert repeated == []
    assert sum("model.json" in ln for ln in said) == 1


def test_demo_output_folder_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("sus2c-demo/model.json", "sus2c-validate/report.md"):
        run = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert run.returncode == 0, f"{path} is not ignored by .gitignore"


def test_md_reports_leaving_the_fitted_range():
    """An MD run that squeezes atoms below the model's first knots says when it left the
    fitted range (DESIGN section 7); one that does not says it stayed inside."""
    import warnings

    from ase.build import bulk

    from sus2c.calculator import Calculator
    from sus2c.md import run_md, summary_lines
    from sus2c.testing import random_model

    model = random_model(("Mo",), "specific", None, seed=1, r_min=2.8)  # bcc Mo bonds: 2.74 A
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hot = run_md(bulk("Mo", "bcc", a=3.16, cubic=True).repeat(3), Calculator(model, threads=1),
                     temperature_k=300.0, steps=3, progress=False)
        cold = run_md(bulk("Mo", "bcc", a=3.16, cubic=True).repeat(3), Calculator(
            random_model(("Mo",), "specific", None, seed=1, r_min=1.5), threads=1),
            temperature_k=10.0, steps=3, progress=False)
    assert hot.first_step_outside == 0 and hot.max_atoms_outside == 54
    assert any("left the fitted range at step 0" in line for line in summary_lines(hot))
    assert cold.first_step_outside is None
    assert any("stayed inside" in line for line in summary_lines(cold))
