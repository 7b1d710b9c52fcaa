"""CV on mo-train against mo-test for the Mo configurations of mo_report.py.

Every configuration is scored by the same 5-fold CV the automatic selection
uses (blocked folds: runs of near-duplicate MD snapshots kept together,
seed 0), from per-type Gram matrices with fit()'s ridge x curvature grid,
and by fit()'s own random folds; the mo-test errors come from
analysis/results/mo_report.json (run that first).  Shows whether the
training-data CV ranks the configurations as mo-test does.

    python analysis/mo_cv_vs_test.py [--data DIR] [--threads 1]

Writes analysis/results/mo_cv_vs_test.json.
"""
import argparse
import json
import warnings
from pathlib import Path

from _data import add_data_argument, data_file

HERE = Path(__file__).resolve().parent


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=HERE / "results" / "mo_cv_vs_test.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from threadpoolctl import threadpool_limits

    from sus2c.data import read_frames
    from sus2c.fit import FitSettings
    from sus2c.fit.auto import NEAR_DUPLICATE_TOL, accumulate_typed, candidate_layout, cv_scores, shell_gaps
    from sus2c.fit.folds import blocked_folds, random_folds

    train = read_frames(data_file(args.data, "mo-train.xyz"))
    report = json.loads((HERE / "results" / "mo_report.json").read_text())
    d_nn = shell_gaps(train).d_nn
    folds = {"blocked": blocked_folds(train, 5, 0, NEAR_DUPLICATE_TOL * d_nn)[0],
             "random": random_folds(len(train), 5, 0)}
    rows = []
    print(f"{'configuration':50s} {'coef':>5s}  CV E MAE blocked / random   F RMSE blocked   mo-test E MAE  F MAE")
    for run in report["runs"]:
        s = run["settings"]
        e, f, st = s["weights"]
        settings = FitSettings(cutoff2=s["cutoff2"], cutoff3=s["cutoff3"], intervals2=s["intervals2"],
                               intervals3=tuple(s["intervals3"]), energy_weight=e, force_weight=f, stress_weight=st,
                               threads=args.threads)
        lay = candidate_layout(train, settings, args.threads)
        row = {"name": run["name"], "coefficients": lay.n_columns, "test": {
            k: run["test"][k] for k in ("energy_mae_mev_per_atom", "force_mae_ev_per_a", "stress_mae_gpa")}}
        for scheme, fo in folds.items():
            with threadpool_limits(limits=args.threads, user_api="blas"):
                tg = accumulate_typed(lay, train, fo, threads=args.threads, stress=True)
            cv, _ = cv_scores(tg, lay, train, settings, args.threads)
            row[f"cv_{scheme}"] = cv
            del tg
        rows.append(row)
        t = row["test"]
        print(f"{row['name']:50s} {lay.n_columns:5d}  {row['cv_blocked']['energy_mae']:8.3f} / "
              f"{row['cv_random']['energy_mae']:6.3f}   {row['cv_blocked']['force_rmse']:14.4f}   "
              f"{t['energy_mae_mev_per_atom']:13.2f}  {t['force_mae_ev_per_a']:.3f}", flush=True)
    Path(args.out).write_text(json.dumps(rows, indent=1, default=float))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
