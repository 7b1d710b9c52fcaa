"""Which selection procedure generalises?  Nested cross-validation on training data only.

The automatic selection (sus2c.fit.auto.select) has two procedural choices
that its own CV score cannot judge (a rule that picks the lowest CV score
always looks best by that score):

* ``fold_scheme``: "random" folds (as fit() draws them) or "blocked" folds
  that keep runs of near-duplicate consecutive frames (MD snapshots) together;
* ``rule``: "best" (lowest CV score) or "one_se" (the cheapest candidate
  within one standard error of the best, in the cutoff and resolution stages).

Outer loop: the training set in 4 blocked folds (near-duplicate runs kept
together, so a held-out piece is new to the model); for each variant and
each outer fold: select on the other three quarters, fit with the chosen
settings, errors on the held-out quarter.  Pooled held-out energy, force and
stress MAE per variant, paired differences with standard errors, and the
settings each variant chose.  mo-test is not read.

Budget: ``--budget`` seconds on ``--threads`` threads; the selection plans
with predicted costs divided by the threads, so the study runs at 1 thread
with twice the 60 s default to make the plans of a 2-thread run.

    python analysis/auto_nested_cv.py [--sets mo,Cu,Al,Si,hcpNi,Na] [--threads 1] [--budget 120]

Writes analysis/results/auto_nested_cv.json (sets merge into it).
"""
import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _data import add_data_argument, data_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
VARIANTS = [("random", "best"), ("random", "one_se"), ("blocked", "best"), ("blocked", "one_se")]


def per_structure(model, frames, threads):
    from sus2c.evaluate import evaluate
    from sus2c.units import EV_PER_A3_TO_GPA

    r = evaluate(model, frames, threads=threads, return_predictions=True)
    e, f, s = [], [], []
    for p, fr in zip(r["predictions"], frames):
        e.append(abs(p["energy"] - fr.energy) / len(fr.atoms) * 1000)
        f.append(np.abs(p["forces"] - fr.forces).ravel() if fr.forces is not None else np.zeros(0))
        if fr.stress is not None and p["stress"] is not None:
            s.append(np.abs(np.asarray(p["stress"]) - fr.stress) * EV_PER_A3_TO_GPA)
    return np.array(e), np.concatenate(f), (np.concatenate(s) if s else np.zeros(0))


def run(name, frames, threads, budget, variants=VARIANTS, k_outer=4):
    from sus2c.fit import FitSettings, fit, select
    from sus2c.fit.auto import NEAR_DUPLICATE_TOL, shell_gaps
    from sus2c.fit.folds import blocked_folds

    d_nn = shell_gaps(frames).d_nn
    outer, pieces = blocked_folds(frames, k_outer, seed=1, tol=NEAR_DUPLICATE_TOL * d_nn)
    print(f"\n== {name}: {len(frames)} structures, {k_outer} blocked outer folds ({pieces} multi-frame pieces)",
          flush=True)
    res = {"n": len(frames), "outer_folds": outer.tolist(), "variants": {}}
    for scheme, rule in variants:
        label = f"{scheme}/{rule}"
        e_all = np.full(len(frames), np.nan)
        f_abs, s_abs, choices, times = [], [], [], []
        for o in range(k_outer):
            tr = [fr for fr, g in zip(frames, outer) if g != o]
            te = [fr for fr, g in zip(frames, outer) if g == o]
            t = time.perf_counter()
            sel = select(tr, FitSettings(threads=threads, auto_budget=budget), fold_scheme=scheme, rule=rule)
            model = fit(tr, sel.settings, folds=sel.folds).model
            times.append(time.perf_counter() - t)
            e, f, s = per_structure(model, te, threads)
            e_all[outer == o] = e
            f_abs.append(f)
            s_abs.append(s)
            ch = sel.record["chosen"]
            choices.append({k: ch[k] for k in ("cutoff2", "cutoff3", "intervals2", "intervals3", "energy_weight",
                                               "stress_weight", "coefficients")} | {"cv": ch["cv"]})
            print(f"  {label:15s} outer {o}: chose {ch['cutoff2']}/{ch['cutoff3']} n {ch['intervals2']}/"
                  f"{ch['intervals3'][0]} e {ch['energy_weight']} s {ch['stress_weight']} ({ch['coefficients']} coef; "
                  f"CV E {ch['cv']['energy_mae']:.3f}) -> held-out E {e.mean():.3f} F {f.mean():.4f}"
                  + (f" S {s.mean():.3f}" if len(s) else "") + f"  ({times[-1]:.0f} s)", flush=True)
        f_all, s_all = np.concatenate(f_abs), np.concatenate(s_abs)
        res["variants"][label] = {
            "energy_mae": float(np.mean(e_all)), "force_mae": float(np.mean(f_all)),
            "stress_mae": float(np.mean(s_all)) if len(s_all) else None,
            "energy_abs": e_all.tolist(), "choices": choices, "seconds": times,
        }
        v = res["variants"][label]
        print(f"  {label:15s} pooled held-out MAE: E {v['energy_mae']:.3f} meV/atom F {v['force_mae']:.4f} eV/Å"
              + (f" S {v['stress_mae']:.3f} GPa" if v["stress_mae"] is not None else ""), flush=True)
    first = next(iter(res["variants"]))
    base = np.array(res["variants"][first]["energy_abs"])
    for label, v in res["variants"].items():
        d = np.array(v["energy_abs"]) - base
        v[f"energy_vs_{first}"] = {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d)))}
        print(f"  {label:15s} energy MAE - {first}: {d.mean():+.3f} +- {v[f'energy_vs_{first}']['se']:.3f}")
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=float, default=120.0)
    p.add_argument("--sets", default="mo,Cu,Al,Si,hcpNi,Na")
    p.add_argument("--variants", default=",".join(f"{a}/{b}" for a, b in VARIANTS),
                   help="fold_scheme/rule pairs, comma-separated")
    p.add_argument("--out", default=HERE / "results" / "auto_nested_cv.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from autoconfig_sanity import make_set

    from sus2c.data import read_frames

    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in args.sets.split(","):
        if name == "mo":
            label, frames = "Mo (mo-train)", read_frames(data_file(args.data, "mo-train.xyz"))
        else:
            label, frames, _ = make_set(name)  # the set's test part is not used here
        load0 = os.getloadavg()[0]
        variants = [tuple(v.split("/")) for v in args.variants.split(",")]
        out[label] = run(label, frames, args.threads, args.budget, variants)
        out[label].update({"threads": args.threads, "budget_s": args.budget, "load_average": [load0, os.getloadavg()[0]]})
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
