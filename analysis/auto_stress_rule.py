"""How should the automatic selection pick the stress weight?  Nested CV from Gram matrices.

For a fixed model layout (cutoffs, intervals, energy/force balance), the
training set is featurised once into per-fold, per-type Gram matrices on 5
blocked folds (sus2c.fit.auto.accumulate_typed; Grams add up, so any union
of folds is a training set without featurising again).  Outer loop: each
fold held out in turn; inside, the other four folds are the whole world:
every stress weight of ``STRESS_FRACTIONS`` (and 0) is solved with fit()'s
ridge x curvature CV over those four folds, a *rule* picks a weight from
those inner CV results only, and the model of that weight, trained on the
four folds, is scored on the held-out fold.  Rules:

* ``zero``: no stress;
* ``vs_zero``: of the weights whose CV energy MAE is at most one paired
  standard error above weight 0's and whose CV force RMSE is at most 2 %
  above, the one of lowest CV stress MAE (the selection's rule before);
* ``vs_best``: the same, but energies compared with the best energy of any
  weight (one standard error of the paired difference with it) and forces
  with the best force RMSE;
* ``score``: the lowest CV energy MAE x force RMSE (stress only as far as it helps those);
* ``strict``: as ``vs_zero`` with no tolerance: CV energy MAE not above weight 0's;
* ``no_worse_score``: of the weights whose CV score (energy MAE x force RMSE)
  is not above weight 0's, the one of lowest CV stress MAE.

Pooled held-out energy, force and stress MAE per rule (per-structure energy
errors kept for paired comparisons).  Training data only: mo-train and the
generated sets of autoconfig_sanity.py.

    python analysis/auto_stress_rule.py [--sets mo,Cu,Al,Si,hcpNi] [--threads 1]

Writes analysis/results/auto_stress_rule.json.
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _data import add_data_argument, data_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RULES = ("zero", "vs_zero", "vs_best", "score", "strict", "no_worse_score")


def subset(tg, keep):
    """A TypedGrams of the folds ``keep`` only (renumbered 0..len(keep)-1)."""
    from sus2c.fit.auto import TypedGrams

    sub = TypedGrams(tg.n_columns, len(keep))
    for i, f in enumerate(keep):
        sub.G[i], sub.b[i], sub.yy[i], sub.rows[i] = tg.G[f], tg.b[f], tg.yy[f], tg.rows[f]
        sub.n_structures[i], sub.n_atoms[i] = tg.n_structures[f], tg.n_atoms[f]
    ren = {f: i for i, f in enumerate(keep)}
    for kind in ("e", "s"):
        fo = getattr(tg, f"{kind}_fold")
        sel = np.isin(fo, keep)
        setattr(sub, f"{kind}_rows", getattr(tg, f"{kind}_rows")[sel])
        setattr(sub, f"{kind}_y", getattr(tg, f"{kind}_y")[sel])
        setattr(sub, f"{kind}_w", getattr(tg, f"{kind}_w")[sel])
        setattr(sub, f"{kind}_fold", np.array([ren[f] for f in fo[sel]], dtype=int))
    return sub


def pick(rule, rows):
    from sus2c.fit.auto import FORCE_TOLERANCE, paired_se, score_of

    if rule == "zero":
        return rows[0]
    if rule == "score":
        return min(rows, key=lambda r: (score_of(r["cv"]), r["w"]))
    if rule == "no_worse_score":
        ok = [r for r in rows if score_of(r["cv"]) <= score_of(rows[0]["cv"])]
        return min(ok, key=lambda r: (r["cv"]["stress_mae"], -r["w"]))
    if rule in ("vs_zero", "strict"):
        ref_e, ref_f = rows[0], rows[0]
    else:
        ref_e = min(rows, key=lambda r: r["cv"]["energy_mae"])
        ref_f = min(rows, key=lambda r: r["cv"]["force_rmse"] or 0.0)
    ok = []
    for r in rows:
        de = r["cv"]["energy_mae"] - ref_e["cv"]["energy_mae"]
        f_ok = ref_f["cv"]["force_rmse"] is None or r["cv"]["force_rmse"] <= ref_f["cv"]["force_rmse"] * (1 + FORCE_TOLERANCE)
        tol = 0.0 if rule == "strict" else paired_se(r["e_abs"], ref_e["e_abs"])
        if de <= tol and f_ok:
            ok.append(r)
    return min(ok, key=lambda r: (r["cv"]["stress_mae"], -r["w"])) if ok else rows[0]


def held_out(tg, f, coef):
    from sus2c.fit.auto import TYPE_SCALE

    sel = tg.e_fold == f
    e = np.abs(tg.e_rows[sel] @ coef - tg.e_y[sel]) * TYPE_SCALE[0]
    sel = tg.s_fold == f
    s = np.abs(tg.s_rows[sel] @ coef - tg.s_y[sel]) * TYPE_SCALE[2]
    sse = coef @ tg.G[f, 1] @ coef - 2 * coef @ tg.b[f, 1] + tg.yy[f, 1]
    return e, s, float(max(sse, 0.0)), float(tg.rows[f, 1])


def study(name, frames, settings, threads, k=5):
    from dataclasses import replace

    from threadpoolctl import threadpool_limits

    from sus2c.fit.auto import NEAR_DUPLICATE_TOL, STRESS_FRACTIONS, accumulate_typed, candidate_layout, cv_scores, shell_gaps
    from sus2c.fit.folds import blocked_folds

    t0 = time.perf_counter()
    d_nn = shell_gaps(frames).d_nn
    folds, _ = blocked_folds(frames, k, seed=1, tol=NEAR_DUPLICATE_TOL * d_nn)
    lay = candidate_layout(frames, settings, threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        tg = accumulate_typed(lay, frames, folds, threads=threads)
    out = {r: {"e": [], "s": [], "sse": 0.0, "n": 0.0, "w": []} for r in RULES}
    for o in range(k):
        keep = [f for f in range(k) if f != o]
        sub = subset(tg, keep)
        inner = [fr for fr, g in zip(frames, folds) if g != o]
        rows = []
        for w in (0.0,) + STRESS_FRACTIONS:
            cv, sol = cv_scores(sub, lay, inner, replace(settings, stress_weight=w), threads)
            rows.append({"w": w, "cv": cv, "e_abs": sub.last_energy_abs.copy(), "coef": sol.coef})
        for rule in RULES:
            r = pick(rule, rows)
            e, s, sse, n = held_out(tg, o, r["coef"])
            acc = out[rule]
            acc["e"].extend(e.tolist())
            acc["s"].extend(s.tolist())
            acc["sse"] += sse
            acc["n"] += n
            acc["w"].append(r["w"])
    res = {"layout": {"cutoff2": settings.cutoff2, "cutoff3": settings.cutoff3, "intervals2": settings.intervals2,
                      "intervals3": list(settings.intervals3), "energy_weight": settings.energy_weight,
                      "coefficients": lay.n_columns}, "rules": {}}
    base = np.array(out["zero"]["e"])
    print(f"\n== {name}: {lay.n_columns} coefficients, {len(frames)} structures ({time.perf_counter() - t0:.0f} s)")
    for rule, acc in out.items():
        e = np.array(acc["e"])
        d = e - base
        res["rules"][rule] = {"energy_mae": float(e.mean()), "force_rmse": float(np.sqrt(acc["sse"] / acc["n"])),
                              "stress_mae": float(np.mean(acc["s"])) if acc["s"] else None, "weights": acc["w"],
                              "energy_vs_zero": [float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))]}
        v = res["rules"][rule]
        print(f"  {rule:8s} held-out E MAE {v['energy_mae']:.3f} ({d.mean():+.3f} +- {v['energy_vs_zero'][1]:.3f} vs zero)"
              f"  F RMSE {v['force_rmse']:.4f}  S MAE {_f(v['stress_mae'])} GPa  weights {acc['w']}", flush=True)
    return res


def _f(v):
    return f"{v:.3f}" if v is not None else "-"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sets", default="mo,Cu,Al,Si,hcpNi")
    p.add_argument("--out", default=HERE / "results" / "auto_stress_rule.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from autoconfig_sanity import make_set

    from sus2c.data import read_frames
    from sus2c.fit import FitSettings, select

    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in args.sets.split(","):
        if name == "mo":
            frames = read_frames(data_file(args.data, "mo-train.xyz"))
            layouts = {"Mo, examples/mo/fit.toml": FitSettings(cutoff2=5.0, cutoff3=5.0, intervals2=20,
                                                               intervals3=(8, 8, 16), energy_weight=0.97,
                                                               force_weight=0.03, threads=args.threads),
                       "Mo, 5.97/4.81 base resolution": FitSettings(cutoff2=5.97, cutoff3=4.81, intervals2=27,
                                                                    intervals3=(8, 8, 16), energy_weight=0.97,
                                                                    force_weight=0.03, threads=args.threads)}
        else:
            label, frames, _ = make_set(name)
            if not any(fr.stress is not None for fr in frames):
                continue
            # the layout and balance the selection picks (without stress) on the whole set
            sel = select(frames, FitSettings(stress_weight=0.0, threads=args.threads, auto_budget=30))
            layouts = {label: sel.settings}
        for lab, s in layouts.items():
            s.ridge = s.curvature = "cv"
            out[lab] = study(lab, frames, s, args.threads)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
