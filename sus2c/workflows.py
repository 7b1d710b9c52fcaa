"""End-to-end jobs behind the command line: ``sus2c fit`` and ``sus2c demo``."""
from __future__ import annotations

import json
import os
import time

import numpy as np


def _say(msg=""):
    print(msg, flush=True)


def run_fit(cfg, progress=None, log=_say):
    """Read data, fit, report errors and write the model for a :class:`~sus2c.config.Config`."""
    from .data import read_frames, split_frames
    from .evaluate import evaluate, format_table
    from .files import check_output
    from .fit import fit

    t0 = time.perf_counter()
    check_output(cfg.output, "model file")  # before the fit, not after it
    frames = read_frames(cfg.train, type_map=cfg.type_map)
    validation = []
    if cfg.validation_fraction > 0:
        frames, validation = split_frames(frames, 1.0 - cfg.validation_fraction, seed=cfg.settings.seed)
    log(f"training structures: {len(frames)} ({sum(len(f.atoms) for f in frames)} atoms)"
        + (f", validation: {len(validation)}" if validation else ""))
    res = fit(frames, cfg.settings, progress=progress, log=log)
    m = res.model
    auto = m.metadata.get("auto")
    if auto:
        ch = auto["chosen"]
        log(f"settings chosen from the data ({auto['fold_scheme']} {auto['cv_folds']}-fold CV, "
            f"{auto['elapsed_s']:.0f} s of a {auto['budget_s']:.0f} s budget): "
            + ", ".join(f"{k} {ch[k]}" for k in auto["chosen_keys"])
            + "; set them in the configuration file to fix them ([fit] auto = false: fixed defaults)")
    log(f"fitted in {res.timings['total_s']:.1f} s ("
        + (f"selection {res.timings['selection_s']:.1f} s, " if auto else "")
        + f"featurise {res.timings['featurise_s']:.1f} s, solve {res.timings['solve_s']:.1f} s); "
        f"Gram matrices {res.memory_bytes / 2**20:.0f} MiB")
    log(f"regularisation: ridge {res.solution.ridge:g}, curvature {res.solution.curvature:g}"
        + (" (chosen by cross-validation)" if res.solution.cv_table else ""))
    log("parameters:")
    for name, n in m.parameter_lines():
        log(f"  {name:26s} {n:7d}")
    if res.cv_errors:
        e = res.cv_errors
        log(f"{m.metadata['fit']['cv_folds']}-fold CV: energy MAE {e['energy_mae_mev_per_atom']:.2f} / RMSE "
            f"{e['energy_rmse_mev_per_atom']:.2f} meV/atom, force MAE {e['force_mae_ev_per_a']:.4f} / RMSE "
            f"{e['force_rmse_ev_per_a']:.4f} eV/Å"
            + (f", stress MAE {e['stress_mae_gpa']:.3f} / RMSE {e['stress_rmse_gpa']:.3f} GPa"
               if e.get("stress_mae_gpa") is not None else ""))
        if e.get("inside"):
            i = e["inside"]
            log(f"  {e['n_extrapolated']} held-out structure(s) hold a pair's shortest distance in the data, an "
                f"extrapolation for their fold's model; without them: energy RMSE "
                f"{i['energy_rmse_mev_per_atom']:.2f} meV/atom, force RMSE {i['force_rmse_ev_per_a']:.4f} eV/Å")
    reports = {}
    for name, data in (("train", frames), ("validation", validation)):
        if data:
            reports[name] = evaluate(m, data, threads=cfg.settings.threads)
    if cfg.test:
        reports["test"] = evaluate(m, read_frames(cfg.test, type_map=cfg.type_map), threads=cfg.settings.threads)
    for name, r in reports.items():
        log(f"\n{name} errors:")
        log(format_table(r))
    m.metadata.setdefault("fit", {})["errors"] = {k: {kk: vv for kk, vv in v.items() if kk != "groups"} for k, v in reports.items()}
    m.save(cfg.output)
    log(f"\nwrote {cfg.output} ({time.perf_counter() - t0:.1f} s in all)")
    return res, reports


# --------------------------------------------------------------------------- demo

DEMO_ELEMENTS = ("Cu", "Ni")
DEMO_LATTICE = 3.56  # Å, between EMT's Cu (3.61) and Ni (3.52)


def demo_structures(n_train=120, n_test=40, seed=0):
    """Labelled Cu-Ni fcc alloy structures from ASE's EMT calculator.

    Random occupations in 32- and 48-atom fcc cells: rattled, strained
    (including shear), with vacancies, and snapshots of short Langevin MD at
    300-1200 K.  Returns (train, test) lists of :class:`sus2c.data.Frame`.
    """
    from ase import units
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.md.langevin import Langevin

    from .data import frame_from_atoms

    rng = np.random.default_rng(seed)
    calc = EMT()

    def base():
        reps = [(2, 2, 2), (3, 2, 2)][rng.integers(2)]
        a = DEMO_LATTICE * rng.uniform(0.97, 1.03)
        at = bulk("Cu", "fcc", a=a, cubic=True).repeat(reps)
        x = rng.uniform(0.2, 0.8)
        at.set_chemical_symbols(np.where(rng.random(len(at)) < x, DEMO_ELEMENTS[0], DEMO_ELEMENTS[1]))
        return at

    def label(at, kind):
        at.calc = calc
        at.get_potential_energy()
        at.get_forces()
        at.get_stress()
        fr = frame_from_atoms(at, source=f"demo:{kind}:{len(frames)}")
        fr.group = kind
        return fr

    frames = []
    n = n_train + n_test
    kinds = ["rattled", "strained", "vacancy", "md"]
    count = 0
    while len(frames) < n:
        kind = kinds[count % 4]
        count += 1
        at = base()
        if kind == "rattled":
            at.positions += rng.normal(scale=rng.uniform(0.03, 0.15), size=at.positions.shape)
        elif kind == "strained":
            eps = rng.uniform(-0.04, 0.04, (3, 3))
            at.set_cell(at.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
            at.positions += rng.normal(scale=0.05, size=at.positions.shape)
        elif kind == "vacancy":
            for _ in range(int(rng.integers(1, 3))):
                del at[int(rng.integers(len(at)))]
            at.positions += rng.normal(scale=0.05, size=at.positions.shape)
        else:
            at.calc = calc
            md = Langevin(at, 2 * units.fs, temperature_K=float(rng.uniform(300, 1200)), friction=0.05,
                          fixcm=False, rng=np.random.RandomState(int(rng.integers(2**31))))
            for _ in range(2):
                md.run(10)
                frames.append(label(at.copy(), kind))
            continue
        frames.append(label(at, kind))
    frames = frames[:n]
    # test structures come from inside the training distribution: the fifth of
    # the structures with the shortest interatomic distances stay in training,
    # so no test atom sits below the fitted range (a rattled structure with the
    # shortest bond of the set would otherwise be a test of extrapolation)
    shortest = np.array([_shortest_distance(fr.atoms) for fr in frames])
    order = rng.permutation(n)
    candidates = [i for i in order if shortest[i] >= np.quantile(shortest, 0.2)]
    test = set(candidates[:n_test])
    return [frames[i] for i in order if i not in test], [frames[i] for i in order if i in test]


def _shortest_distance(atoms):
    d = atoms.get_all_distances(mic=True)
    return float(d[np.triu_indices(len(atoms), 1)].min())


def run_demo(out="sus2c-demo", threads=None, log=_say):
    """The README's main job: make EMT data, fit a 2+3-body model, evaluate, write results."""
    from ase.io import write

    from .config import Config
    from .evaluate import format_table
    from .files import write_text
    from .fit.settings import FitSettings

    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    log(f"sus2c demo: fitting a Cu-Ni potential to EMT data (output in {out}/)")
    log("generating labelled structures with ASE's EMT calculator ...")
    train, test = demo_structures()
    for name, frames in (("train", train), ("test", test)):
        atoms = []
        for fr in frames:
            a = fr.atoms.copy()
            a.info["energy"] = fr.energy
            a.info["stress"] = fr.stress
            a.arrays["forces"] = fr.forces
            a.info["group"] = fr.group
            atoms.append(a)
        write(os.path.join(out, f"{name}.xyz"), atoms)
    log(f"  {len(train)} training and {len(test)} test structures ({time.perf_counter() - t0:.1f} s)")
    settings = FitSettings(cutoff2=5.5, cutoff3=4.25, intervals2=16, intervals3=(5, 5, 10),
                           energy_weight=0.6, force_weight=0.35, stress_weight=0.05, threads=threads)
    cfg = Config(train=[os.path.join(out, "train.xyz")], test=[os.path.join(out, "test.xyz")],
                 settings=settings, output=os.path.join(out, "model.json"))
    res, reports = run_fit(cfg, log=log)
    text = "# sus2c demo: Cu-Ni fitted to EMT\n\n"
    for name, r in reports.items():
        text += f"## {name}\n\n```\n{format_table(r)}\n```\n\n"
    write_text(os.path.join(out, "errors.md"), text, what="error table")
    write_text(os.path.join(out, "errors.json"), json.dumps(reports, indent=1, default=float), what="error table")
    # (run_fit has said where the model went)
    log(f"wrote {out}/errors.md, {out}/errors.json, {out}/train.xyz, {out}/test.xyz")

    # the fitted curves, parity plots, and properties against the EMT reference
    from .analysis import plot_all
    from .data import read_frames
    from .validate import validate

    files = plot_all(res.model, os.path.join(out, "plots"), frames={"test": read_frames(cfg.test)}, threads=threads)
    log(f"wrote {len(files)} plots to {out}/plots/")
    for el, a in (("Cu", 3.61), ("Ni", 3.52)):
        log(f"validating fcc {el} against EMT ...")
        validate(res.model, f"fcc:{el}:{a}", reference="emt", out=os.path.join(out, f"validate-{el}"),
                 threads=threads)
    log(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return res, reports
