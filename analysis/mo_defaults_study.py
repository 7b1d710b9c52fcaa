"""Data-driven defaults (sus2c.fit.auto, issue 13) on the Mo benchmark data: why it chooses what it does.

Everything here reads mo-train.xyz only; the mo-test report of the fixed
procedure is analysis/mo_report.py.

Parts (``--parts``, default all, in this order):

* ``chooser``  -- pair distribution, shells, gaps and cutoff candidates of mo-train;
* ``balance``  -- CV on mo-train of the energy/force balance and of the stress
  weight at the cutoffs the selection picks (base resolution), from per-type
  Gram matrices: energy MAE and RMSE, force RMSE, stress MAE per setting;
  plus fit()'s own CV (force MAE too) for three balances;
* ``select``   -- ``sus2c.fit.auto.select`` with the default 60 s budget, its
  printed log and record, on ``--threads`` threads (1 for exploration);
* ``groups``   -- CV energy MAE per group of the chosen model and of others;
* ``robustness`` -- the same candidates scored under five fold seeds.

Folds: the selection's (``--fold-scheme blocked``, the default) or fit()'s
random ones.

    python analysis/mo_defaults_study.py [--data DIR] [--threads 1] [--parts chooser,select,balance,groups]

Writes analysis/results/mo_defaults_study.json (parts merge into it).
"""
import argparse
import json
import os
import time
import warnings
from pathlib import Path

from _data import add_data_argument, data_file



FOLD_SCHEME = "blocked"  # set from --fold-scheme


def load_avg():
    return os.getloadavg()[0]


def study_folds(train, seed):
    """The folds of the study: the selection's blocked folds or fit()'s random ones, for ``seed``."""
    from sus2c.fit.auto import NEAR_DUPLICATE_TOL, shell_gaps
    from sus2c.fit.folds import blocked_folds, random_folds

    if FOLD_SCHEME == "random":
        return randomstudy_folds(train, seed)
    return blocked_folds(train, 5, seed, NEAR_DUPLICATE_TOL * shell_gaps(train).d_nn)[0]


def part_chooser(train, out):
    from sus2c.fit.auto import choose_cutoffs, shell_gaps

    t = time.perf_counter()
    sa = shell_gaps(train)
    c = choose_cutoffs(train, analysis=sa)
    dt = time.perf_counter() - t
    print(f"first shell {sa.d_nn:.3f} Å; shells", [round(s["r"], 2) for s in sa.shells["*"]])
    for g in sa.gaps["*"]:
        print(f"  gap {g['lo']:.2f}-{g['hi']:.2f} Å: cutoff position {g['r']:.2f} Å, g there {g['g']:.2f}, "
              f"depth {g['depth']:.2f}")
    print("cutoff3 candidates", [x["r"] for x in c["cutoff3"]], "cutoff2 candidates", [x["r"] for x in c["cutoff2"]])
    # g(r) of the data at the old defaults and the tuned example, for comparison
    at = {r: round(sa.at("*", r), 3) for r in (3.79, 4.25, 4.5, 4.81, 5.0, 5.5, 5.97, 6.0, 6.2)}
    print("relative density g at", at)
    out["chooser"] = {"seconds": dt, "result": {k: v for k, v in c.items() if k != "analysis"},
                      "shells": sa.shells["*"], "gaps": sa.gaps["*"], "g_at": at,
                      "neighbours_within": {r: round(sa.neighbours_within(r), 2) for r in (3.79, 4.25, 4.81, 5.0, 5.97)},
                      "triplets_per_atom": {r: round(sa.triplets_within(r), 1) for r in (3.79, 4.25, 4.81, 5.0, 5.97)}}


def part_balance(train, out, threads):
    from threadpoolctl import threadpool_limits

    from sus2c.fit import FitSettings, fit
    from sus2c.fit.auto import ENERGY_FRACTIONS, accumulate_typed, candidate_layout, cv_scores

    sel = out.get("select", {}).get("record", {}).get("chosen")
    c2, c3 = (sel["cutoff2"], sel["cutoff3"]) if sel else (5.97, 4.81)
    n2, n3 = 27, 8  # base resolution of those cutoffs (stage B)
    rows = []
    base = dict(cutoff2=c2, cutoff3=c3, intervals2=n2, intervals3=(n3, n3, 2 * n3), threads=threads)
    with threadpool_limits(limits=threads, user_api="blas"):
        lay = candidate_layout(train, FitSettings(**base))
        tg = accumulate_typed(lay, train, study_folds(train, 0), threads=threads)
        for e in ENERGY_FRACTIONS + (0.98,):
            for s in (0.0, 0.003, 0.01, 0.03, 0.1, 0.3):
                cv, sol = cv_scores(tg, lay, train, FitSettings(**base, energy_weight=e, force_weight=1 - e,
                                                                 stress_weight=s), threads)
                rows.append({"energy_weight": e, "stress_weight": s, **cv, "score": cv["energy_mae"] * cv["force_rmse"],
                             "ridge": sol.ridge, "curvature": sol.curvature})
                print(f"  e {e:<6g} s {s:<6g} CV E MAE {cv['energy_mae']:.3f} RMSE {cv['energy_rmse']:.3f} "
                      f"F RMSE {cv['force_rmse']:.4f} S MAE {cv['stress_mae']:.3f}  score {rows[-1]['score']:.4f}")
    # fit()'s own CV (force MAE) at three balances, no stress
    fits = []
    for e in (0.5, 0.9, 0.97, 0.99):
        r = fit(train, FitSettings(**base, energy_weight=e, force_weight=1 - e, stress_weight=0.0),
                folds=study_folds(train, 0))
        fits.append({"energy_weight": e, "cv": r.cv_errors})
        print(f"  fit() e {e}: CV E MAE {r.cv_errors['energy_mae_mev_per_atom']:.3f} "
              f"F MAE {r.cv_errors['force_mae_ev_per_a']:.4f}")
    out["balance"] = {"cutoff2": c2, "cutoff3": c3, "intervals2": n2, "intervals3": [n3, n3, 2 * n3],
                      "typed_gram_cv": rows, "fit_cv": fits}


def part_select(train, out, threads, budget, fold_scheme="blocked"):
    from sus2c.fit import FitSettings, select

    lines = []

    def log(msg):
        print(msg, flush=True)
        lines.append(msg)

    load0 = load_avg()
    t = time.perf_counter()
    sel = select(train, FitSettings(auto_budget=budget, threads=threads), log=log, fold_scheme=fold_scheme)
    dt = time.perf_counter() - t
    out["select" if fold_scheme == "blocked" else "select_random_folds"] = {"threads": threads, "budget_s": budget, "seconds": dt, "load_average_start": load0,
                     "load_average_end": load_avg(), "log": lines, "record": sel.record}


def part_robustness(train, out, threads):
    """Train only: are the selection's decisions stable under other fold assignments?
    The same candidates scored with 5-fold CV for fold seeds 0-4."""
    from threadpoolctl import threadpool_limits

    from sus2c.fit import FitSettings
    from sus2c.fit.auto import accumulate_typed, candidate_layout, cv_scores

    cands = [("5.97/4.81 n3=8", dict(cutoff2=5.97, cutoff3=4.81, intervals2=27, intervals3=(8, 8, 16))),
             ("5.97/4.81 n3=10", dict(cutoff2=5.97, cutoff3=4.81, intervals2=27, intervals3=(10, 10, 20))),
             ("5.97/4.81 n3=12", dict(cutoff2=5.97, cutoff3=4.81, intervals2=27, intervals3=(12, 12, 24))),
             ("5.97/3.79 n3=5", dict(cutoff2=5.97, cutoff3=3.79, intervals2=27, intervals3=(5, 5, 10))),
             ("fit.toml 5.0/5.0 n3=8", dict(cutoff2=5.0, cutoff3=5.0, intervals2=20, intervals3=(8, 8, 16)))]
    weights = [(0.97, 0.03, 0.0), (0.97, 0.03, 0.1)]
    rows = []
    with threadpool_limits(limits=threads, user_api="blas"):
        for seed in range(5):
            for name, kw in cands:
                base = FitSettings(**kw, threads=threads, seed=seed)
                lay = candidate_layout(train, base)
                tg = accumulate_typed(lay, train, study_folds(train, seed), threads=threads)
                for e, f, s in weights:
                    st = FitSettings(**kw, threads=threads, seed=seed, energy_weight=e, force_weight=f, stress_weight=s)
                    cv, sol = cv_scores(tg, lay, train, st, threads)
                    rows.append({"seed": seed, "name": name, "stress_weight": s, "coefficients": lay.n_columns,
                                 **cv, "score": cv["energy_mae"] * cv["force_rmse"]})
                    print(f"  seed {seed} {name:24s} s {s:<4g} CV E MAE {cv['energy_mae']:.3f} "
                          f"F RMSE {cv['force_rmse']:.4f} S MAE {cv['stress_mae']:.3f} score {rows[-1]['score']:.4f}",
                          flush=True)
                del tg
    out["robustness"] = {"rows": rows}


def part_groups(train, out, threads):
    """Train only: CV energy MAE per group (the study's folds) of the chosen model (stress weight 0,
    as chosen), the same with stress weight 0.1 and at the base resolution, examples/mo/fit.toml and
    the old defaults."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from sus2c.fit import FitSettings
    from sus2c.fit.auto import accumulate_typed, candidate_layout, cv_scores

    cands = [("chosen (5.97/4.81, n3=12, stress 0)", dict(cutoff2=5.97, cutoff3=4.81, intervals2=27,
                                                         intervals3=(12, 12, 24))),
             ("5.97/4.81, n3=12, stress 0.1", dict(cutoff2=5.97, cutoff3=4.81, intervals2=27, intervals3=(12, 12, 24),
                                                   stress_weight=0.1)),
             ("5.97/4.81, n3=8, stress 0", dict(cutoff2=5.97, cutoff3=4.81, intervals2=27, intervals3=(8, 8, 16))),
             ("fit.toml 5.0/5.0, n3=8", dict(cutoff2=5.0, cutoff3=5.0, intervals2=20, intervals3=(8, 8, 16))),
             ("old defaults 5.5/4.25, n3=6, e 0.9", dict(cutoff2=5.5, cutoff3=4.25, intervals2=20,
                                                         intervals3=(6, 6, 12), energy_weight=0.9, force_weight=0.1))]
    groups = np.array([f.group for f in train])
    rows = {}
    with threadpool_limits(limits=threads, user_api="blas"):
        for name, kw in cands:
            kw = {"energy_weight": 0.97, "force_weight": 0.03, "stress_weight": 0.0, **kw}
            st = FitSettings(**kw, threads=threads)
            lay = candidate_layout(train, st)
            tg = accumulate_typed(lay, train, study_folds(train, 0), threads=threads)
            cv, _ = cv_scores(tg, lay, train, st, threads)
            ea = tg.last_energy_abs
            rows[name] = {"all": cv["energy_mae"], **{g: float(ea[groups == g].mean()) for g in sorted(set(groups))}}
            print(f"  {name:40s} " + "  ".join(f"{k} {v:.2f}" for k, v in rows[name].items()), flush=True)
            del tg
    out["cv_energy_mae_by_group"] = rows


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--parts", default="chooser,select,balance,groups")
    p.add_argument("--fold-scheme", default="blocked", choices=("blocked", "random"))
    p.add_argument("--out", default=here / "results" / "mo_defaults_study.json")
    args = p.parse_args()
    global FOLD_SCHEME
    FOLD_SCHEME = args.fold_scheme
    warnings.simplefilter("ignore")
    from sus2c.data import read_frames

    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    train = read_frames(data_file(args.data, "mo-train.xyz"))
    parts = args.parts.split(",")
    if "chooser" in parts:
        part_chooser(train, out)
    if "select" in parts:
        part_select(train, out, args.threads, args.budget, args.fold_scheme)
    if "balance" in parts:
        part_balance(train, out, args.threads)
    if "groups" in parts:
        part_groups(train, out, args.threads)
    if "robustness" in parts:
        part_robustness(train, out, args.threads)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
