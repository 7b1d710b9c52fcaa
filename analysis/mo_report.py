"""Mo benchmark report: sus2c fits on mo-train, errors on mo-test, per group, with stress.

Fits on mo-train.xyz (194 structures) and reports energy (meV/atom), force
(eV/Å) and stress (GPa) MAE on mo-test.xyz (23), overall and per group
(AIMD-NVT, Elastic, Surface, Vacancy), for:

* **defaults**: only the data given; cutoffs, resolution and loss weights
  chosen from mo-train by sus2c.fit.auto (the choices and their CV scores
  are printed and stored);
* **defaults, 2-body only (UF2)**: cutoff3 = 0, the rest chosen likewise;
* the tuned ``examples/mo/fit.toml`` and ``examples/mo/fit-lowest-error.toml``;
* the fixed defaults of earlier versions (``auto = false``), for reference.

Fit time (selection included) on ``--threads`` threads, with the load
average before and after each fit (the machine may be shared).  Baselines on
the same split (Zuo et al., J. Phys. Chem. A 124, 731, 2020; uf3 0.4
measured by the project):

    SNAP            5.48 meV/atom  0.207 eV/Å
    quadratic SNAP  2.77           0.184
    uf3 0.4 (2+3)   2.71           0.133   (913 coefficients)
    uf3 0.4 (2)     8.97           0.347

    python analysis/mo_report.py [--data DIR] [--threads 2]
"""
import argparse
import json
import os
import time
import warnings
from pathlib import Path

from _data import add_data_argument, data_file
from sus2c.config import load_config
from sus2c.data import read_frames
from sus2c.evaluate import evaluate
from sus2c.fit import FitSettings, fit

BASELINES = [("SNAP", 5.48, 0.207), ("quadratic SNAP", 2.77, 0.184), ("uf3 0.4, 2+3-body", 2.71, 0.133),
             ("uf3 0.4, 2-body", 8.97, 0.347)]
GROUPS = ("AIMD-NVT", "Elastic", "Surface", "Vacancy")


def _f(v, fmt):
    return format(v, fmt) if v is not None else "-"


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=here / "results" / "mo_report.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    train = read_frames(data_file(args.data, "mo-train.xyz"))
    test = read_frames(data_file(args.data, "mo-test.xyz"))
    examples = here.parent / "examples" / "mo"
    runs = [("defaults", FitSettings()),
            ("defaults, 2-body only (UF2)", FitSettings(cutoff3=0.0)),
            ("tuned (examples/mo/fit.toml)", load_config(examples / "fit.toml").settings),
            ("lowest error (examples/mo/fit-lowest-error.toml)", load_config(examples / "fit-lowest-error.toml").settings),
            ("fixed defaults (auto = false)", FitSettings(auto=False))]
    rows = []
    for name, s in runs:
        s.threads = args.threads
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        res = fit(train, s, log=print if name.startswith("defaults") else None)
        fit_s = time.perf_counter() - t
        r = evaluate(res.model, test, threads=args.threads)
        meta = res.model.metadata
        auto = meta.get("auto")
        rows.append({"name": name, "coefficients": res.model.n_parameters()["total"], "fit_s": fit_s,
                     "selection_s": res.timings["selection_s"], "load_average": [load0, os.getloadavg()[0]],
                     "settings": {k: meta["fit"][k] for k in ("cutoff2", "cutoff3", "intervals2", "intervals3",
                                                               "weights", "ridge", "curvature")},
                     "chosen_by_auto": auto["chosen_keys"] if auto else [],
                     "auto_record": auto, "test": r, "cv": res.cv_errors})
        print(f"\n{name}: {rows[-1]['coefficients']} coefficients, fit {fit_s:.1f} s"
              + (f" (selection {res.timings['selection_s']:.1f} s)" if auto else "")
              + f", load average {load0:.2f} -> {rows[-1]['load_average'][1]:.2f}", flush=True)
    W = 50
    print(f"\nmo-test.xyz MAE {' ' * (W - 13)}E meV/atom  F eV/Å   S GPa   coef   fit s")
    for name, e, f in BASELINES:
        print(f"  {name:{W}s} {e:8.2f} {f:8.3f}")
    for row in rows:
        r = row["test"]
        print(f"  {row['name']:{W}s} {r['energy_mae_mev_per_atom']:8.2f} {r['force_mae_ev_per_a']:8.3f} "
              f"{_f(r['stress_mae_gpa'], '7.3f')} {row['coefficients']:6d} {row['fit_s']:7.1f}")
    print("\nper group, E meV/atom / F eV/Å / S GPa")
    print("  " + " " * W + "".join(f"{g:>20s}" for g in GROUPS))
    for row in rows:
        gr = row["test"]["groups"]
        print(f"  {row['name']:{W}s}" + "".join(
            f"{_f(gr[g]['energy_mae_mev_per_atom'], '.2f'):>8s}/{_f(gr[g]['force_mae_ev_per_a'], '.3f')}/"
            f"{_f(gr[g]['stress_mae_gpa'], '.2f'):<5s}" for g in GROUPS))
    print("\nsettings")
    for row in rows:
        s = row["settings"]
        print(f"  {row['name']:{W}s} cutoff2 {s['cutoff2']} cutoff3 {s['cutoff3']} intervals {s['intervals2']}/"
              f"{s['intervals3']} weights {s['weights']} ridge {s['ridge']:g} curvature {s['curvature']:g}"
              + (f"  [chosen: {', '.join(row['chosen_by_auto'])}]" if row["chosen_by_auto"] else ""))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "baselines": BASELINES, "runs": rows}, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
