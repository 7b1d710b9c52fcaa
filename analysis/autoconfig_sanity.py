"""Sanity check of the data-driven defaults (sus2c.fit.auto) on generated, non-Mo data.

Not for tuning: only to see that the cutoffs land in gaps of the data's
shells and that the selection is driven by CV on the training part.

Data (generated here, labelled with ASE's EMT or LAMMPS Stillinger-Weber):

* EMT fcc Cu, Ni, Al: strained + rattled bulk cells (32 and 108 atoms),
  vacancy cells, (111) and (100) slabs, "hot" cells rattled hard; a
  held-out test set of the same kinds (other seeds);
* SW Si (``pair_style sw`` in the LAMMPS Python module, as tests/_labels.py):
  strained + rattled 64-atom diamond cells and snapshots of NVE runs at
  ~600 K and ~1500 K;
* EMT hcp Ni (another crystal structure): strained + rattled hcp cells,
  vacancies, hot cells;
* a soft, long-ranged bcc "alkali" (Na-like, d_nn ~3.7 Å) from a
  Finnis-Sinclair-like EAM through ASE: strained + rattled cells, vacancies,
  hot cells; forces and energies only, no stress (ASE's EAM has none).

For each set: the chooser's shells, gaps and candidates; select_settings
(budget ``--budget``, ``--threads``); fit with the chosen settings and with
the old fixed defaults; CV and held-out errors of both.

    python analysis/autoconfig_sanity.py [--threads 1] [--budget 30] [--sets Cu,Ni,Al,Si,hcpNi,Na]

Writes analysis/results/autoconfig_sanity.json.
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from ase.build import bulk, fcc100, fcc111

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

A0 = {"Cu": 3.61, "Ni": 3.52, "Al": 4.05}


def emt_structures(symbol, n, seed):
    rng = np.random.default_rng(seed)
    a0 = A0[symbol]
    out = []
    kinds = ("bulk32", "bulk108", "vacancy", "slab111", "slab100", "hot")
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        a = a0 * rng.uniform(0.96, 1.04)
        if kind in ("bulk32", "hot"):
            at = bulk(symbol, "fcc", a=a, cubic=True).repeat(2)
        elif kind == "bulk108":
            at = bulk(symbol, "fcc", a=a, cubic=True).repeat(3)
        elif kind == "vacancy":
            at = bulk(symbol, "fcc", a=a, cubic=True).repeat(3)
            del at[int(rng.integers(len(at)))]
        elif kind == "slab111":
            at = fcc111(symbol, (3, 3, 4), a=a, vacuum=6.0, periodic=True)
        else:
            at = fcc100(symbol, (3, 3, 4), a=a, vacuum=6.0, periodic=True)
        if kind.startswith("bulk") or kind in ("vacancy", "hot"):
            F = np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))
            at.set_cell(at.cell.array @ F, scale_atoms=True)
        at.rattle(0.15 if kind == "hot" else 0.05, seed=int(rng.integers(2**31)))
        at.info["group"] = kind
        out.append(at)
    return out


def hcp_structures(symbol, n, seed, a0=2.49, c0=4.07):
    rng = np.random.default_rng(seed)
    out = []
    kinds = ("bulk", "vacancy", "hot")
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        s = rng.uniform(0.96, 1.04)
        at = bulk(symbol, "hcp", a=a0 * s, c=c0 * s).repeat((3, 3, 2))
        if kind == "vacancy":
            del at[int(rng.integers(len(at)))]
        F = np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))
        at.set_cell(at.cell.array @ F, scale_atoms=True)
        at.rattle(0.15 if kind == "hot" else 0.05, seed=int(rng.integers(2**31)))
        out.append(at)
    return out


def alkali_eam():
    """A Finnis-Sinclair-like EAM of a soft, long-ranged bcc 'alkali' (Na-like); ASE's EAM
    gives energies and forces, no stress."""
    from ase.calculators.eam import EAM
    from scipy.interpolate import InterpolatedUnivariateSpline as Spline

    rc = 7.0
    r = np.linspace(0.5, rc, 2000)
    x = np.clip((rc - r) / 1.5, 0, 1)
    cut = x**3 * (10 - 15 * x + 6 * x * x)
    phi = Spline(r, 0.05 * (np.exp(-2.2 * (r - 4.1)) - 2 * np.exp(-1.1 * (r - 4.1))) * cut)
    dens = Spline(r, np.exp(-(r - 3.66)) * cut)
    rho = np.linspace(0, 40, 2000)
    F = Spline(rho, -0.3 * np.sqrt(rho))
    return EAM(elements=["Na"], embedded_energy=np.array([F]), electron_density=np.array([dens]),
               phi=np.array([[phi]]), d_embedded_energy=np.array([F.derivative()]),
               d_electron_density=np.array([dens.derivative()]), d_phi=np.array([[phi.derivative()]]),
               cutoff=rc, form="alloy", Z=[11], nr=2000, nrho=2000, dr=r[1] - r[0], drho=rho[1] - rho[0],
               lattice=["bcc"], mass=[22.99], a=[4.23])


def alkali_frames(n, seed):
    from _labels import label_ase

    calc = alkali_eam()
    grid = np.arange(3.6, 5.2, 0.02)
    e = []
    for a in grid:
        at = bulk("Na", "bcc", a=a, cubic=True)
        at.calc = calc
        e.append(at.get_potential_energy())
    a0 = float(grid[int(np.argmin(e))])
    rng = np.random.default_rng(seed)
    out = []
    kinds = ("bulk", "vacancy", "hot")
    while len(out) < n:
        kind = kinds[len(out) % len(kinds)]
        at = bulk("Na", "bcc", a=a0 * rng.uniform(0.96, 1.04), cubic=True).repeat(3)
        if kind == "vacancy":
            del at[int(rng.integers(len(at)))]
        F = np.eye(3) + rng.uniform(-0.02, 0.02, (3, 3))
        at.set_cell(at.cell.array @ F, scale_atoms=True)
        at.rattle(0.25 if kind == "hot" else 0.08, seed=int(rng.integers(2**31)))
        out.append(at)
    frames = label_ase(out, calc, prefix="eam-Na")
    for fr in frames:
        fr.stress = None
    return frames


def emt_frames(symbol, n, seed):
    from ase.calculators.emt import EMT

    from _labels import label_ase

    frames = label_ase(emt_structures(symbol, n, seed), EMT(), prefix=f"emt-{symbol}")
    kinds = ("bulk32", "bulk108", "vacancy", "slab111", "slab100", "hot")
    for k, fr in enumerate(frames):
        fr.group = kinds[k % len(kinds)]
    return frames


def sw_frames(n, seed):
    from _labels import LammpsSW, diamond_si
    from ase.build import bulk as _bulk

    rng = np.random.default_rng(seed)
    structs = []
    with LammpsSW() as sw:
        for k in range(n // 2):
            structs.append(diamond_si(rng, a=5.431 * rng.uniform(0.97, 1.03), strain=0.02, rattle=(0.03, 0.12),
                                      d_floor=1.9))
        start = _bulk("Si", "diamond", a=5.431, cubic=True).repeat(2)
        for T in (600, 1500):
            structs += sw.md_snapshots(start, T, (n - len(structs)) if T == 1500 else n // 4, every=150,
                                       equilibrate=300, seed=seed + T)
        frames = sw.frames(structs, prefix="sw-Si")
    return frames


def make_set(name):
    """(label, train, test) of a generated set."""
    from ase.calculators.emt import EMT

    from _labels import label_ase

    if name == "Si":
        return "SW Si (LAMMPS)", sw_frames(40, seed=11), sw_frames(12, seed=12)
    if name == "hcpNi":
        return ("EMT hcp Ni", label_ase(hcp_structures("Ni", 48, 1), EMT(), prefix="emt-hcp"),
                label_ase(hcp_structures("Ni", 12, 2), EMT(), prefix="emt-hcp"))
    if name == "Na":
        return "EAM bcc Na-like (no stress)", alkali_frames(48, 1), alkali_frames(12, 2)
    return f"EMT fcc {name}", emt_frames(name, 48, seed=1), emt_frames(name, 12, seed=2)


def run_set(name, train, test, threads, budget):
    from sus2c.evaluate import evaluate
    from sus2c.fit import FitSettings, fit, select
    from sus2c.fit.auto import choose_cutoffs, shell_gaps

    sa = shell_gaps(train)
    c = choose_cutoffs(train, analysis=sa)
    print(f"\n== {name}: {len(train)} training structures, {len(test)} test; first shell {sa.d_nn:.3f} Å")
    print("   shells", [round(s["r"], 2) for s in sa.shells["*"]])
    print("   cutoff3 candidates", [(x["r"], x["g"]) for x in c["cutoff3"]],
          " cutoff2 candidates", [(x["r"], x["g"]) for x in c["cutoff2"]])
    t = time.perf_counter()
    sel = select(train, FitSettings(auto_budget=budget, threads=threads), log=print)
    t_sel = time.perf_counter() - t
    rows = {}
    for label, s, folds in (("auto", sel.settings, sel.folds), ("fixed defaults", FitSettings(threads=threads, auto=False), None)):
        t = time.perf_counter()
        r = fit(train, s, folds=folds)
        rows[label] = {"fit_s": time.perf_counter() - t, "cv": r.cv_errors, "test": evaluate(r.model, test),
                       "coefficients": r.model.n_parameters()["total"]}
        x = rows[label]["test"]
        print(f"   {label:13s} CV E {r.cv_errors['energy_mae_mev_per_atom']:.3f} F {r.cv_errors['force_mae_ev_per_a']:.4f}"
              f" | test E {x['energy_mae_mev_per_atom']:.3f} meV/atom F {x['force_mae_ev_per_a']:.4f} eV/Å "
              f"S {x['stress_mae_gpa'] or float('nan'):.3f} GPa ({rows[label]['coefficients']} coef)")
    return {"n_train": len(train), "n_test": len(test), "d_nn": sa.d_nn, "shells": sa.shells["*"],
            "gaps": sa.gaps["*"], "candidates": {k: c[k] for k in ("cutoff3", "cutoff2", "warnings")},
            "selection_s": t_sel, "record": sel.record, "fits": rows}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=float, default=30.0)
    p.add_argument("--sets", default="Cu,Ni,Al,Si,hcpNi,Na")
    p.add_argument("--out", default=HERE / "results" / "autoconfig_sanity.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in args.sets.split(","):
        t = time.perf_counter()
        label, train, test = make_set(name)
        print(f"{label}: labelled in {time.perf_counter() - t:.1f} s")
        out[label] = run_set(label, train, test, args.threads, args.budget)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
