"""Stress weight of the tuned Mo configs, chosen by cross-validation on mo-train.

For examples/mo/fit.toml and fit-lowest-error.toml (everything else as in
the file): the model is featurised once into per-type Gram matrices
(sus2c.fit.auto.accumulate_typed) on fit()'s own folds, and every stress
weight of ``sus2c.fit.auto.STRESS_FRACTIONS`` (and 0) is solved with fit()'s
ridge x curvature CV grid.  The rule is the automatic selection's: of the
weights that do not make CV energies worse (CV energy MAE not above that of
weight 0: ``sus2c.fit.auto.STRESS_ENERGY_TOLERANCE_SE`` = 0 standard
errors of the paired per-structure difference) nor forces (force RMSE up by
at most 2 %), the one of lowest CV stress MAE.  The choice of the earlier
rule (energy MAE up by at most one standard error) is shown too.  Only then,
for the weights picked and for 0, the fitted models' mo-test errors
(``--no-test`` skips them).

    python analysis/mo_stress_weight.py [--data DIR] [--threads 1] [--configs fit,fit-lowest-error]

Writes analysis/results/mo_stress_weight.json.
"""
import argparse
import json
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path

from _data import add_data_argument, data_file

HERE = Path(__file__).resolve().parent


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--configs", default="fit,fit-lowest-error")
    p.add_argument("--no-test", action="store_true")
    p.add_argument("--out", default=HERE / "results" / "mo_stress_weight.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from threadpoolctl import threadpool_limits

    from sus2c.config import load_config
    from sus2c.data import read_frames
    from sus2c.evaluate import evaluate
    from sus2c.fit import fit
    from sus2c.fit.auto import (FORCE_TOLERANCE, STRESS_ENERGY_TOLERANCE_SE, STRESS_FRACTIONS, accumulate_typed,
                                candidate_layout, cv_scores, paired_se)
    from sus2c.fit.folds import random_folds

    train = read_frames(data_file(args.data, "mo-train.xyz"))
    out_path = Path(args.out)
    out = json.loads(out_path.read_text()) if out_path.exists() else {}
    for name in args.configs.split(","):
        cfg = load_config(HERE.parent / "examples" / "mo" / f"{name}.toml")
        s0 = replace(cfg.settings, threads=args.threads)
        t = time.perf_counter()
        lay = candidate_layout(train, s0, args.threads)
        with threadpool_limits(limits=args.threads, user_api="blas"):
            tg = accumulate_typed(lay, train, random_folds(len(train), s0.cv_folds, s0.seed), threads=args.threads)
        rows = []
        ref = None
        for sw in (0.0,) + STRESS_FRACTIONS:
            cv, sol = cv_scores(tg, lay, train, replace(s0, stress_weight=sw), args.threads)
            row = {"stress_weight": sw, **cv, "ridge": sol.ridge, "curvature": sol.curvature,
                   "_e": tg.last_energy_abs.copy()}
            if ref is None:
                ref = row
            row["energy_change"] = cv["energy_mae"] - ref["energy_mae"]
            row["energy_change_se"] = paired_se(row["_e"], ref["_e"])
            row["force_rmse_change"] = cv["force_rmse"] / ref["force_rmse"] - 1
            f_ok = row["force_rmse_change"] <= FORCE_TOLERANCE
            row["admissible"] = bool(row["energy_change"] <= STRESS_ENERGY_TOLERANCE_SE * row["energy_change_se"]
                                     and f_ok)
            row["admissible_one_se"] = bool(row["energy_change"] <= row["energy_change_se"] and f_ok)
            rows.append(row)
            print(f"{name:18s} stress weight {sw:<7g} CV E MAE {cv['energy_mae']:.3f} ({row['energy_change']:+.3f}, "
                  f"1 SE {row['energy_change_se']:.3f}) F RMSE {cv['force_rmse']:.4f} ({row['force_rmse_change']:+.1%}) "
                  f"S MAE {cv['stress_mae']:.3f} GPa {'admissible' if row['admissible'] else 'rejected'}", flush=True)
        def choice(key):
            ok = [r for r in rows if r[key] and r["stress_weight"] > 0]
            return min(ok, key=lambda r: (r["stress_mae"], -r["stress_weight"]))["stress_weight"] if ok else 0.0

        pick, pick_one_se = choice("admissible"), choice("admissible_one_se")
        print(f"{name}: stress weight chosen by CV: {pick:g} (earlier one-SE rule: {pick_one_se:g}; "
              f"{time.perf_counter() - t:.0f} s)", flush=True)
        res = {"coefficients": lay.n_columns, "chosen_stress_weight": pick, "one_se_rule_stress_weight": pick_one_se,
               "cv": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows],
               "load_average": os.getloadavg()[0]}
        del tg
        if not args.no_test:
            test = read_frames(data_file(args.data, "mo-test.xyz"))
            res["test"] = {}
            for sw in sorted({0.0, pick, pick_one_se}):
                m = fit(train, replace(s0, stress_weight=sw)).model
                r = evaluate(m, test, threads=args.threads)
                res["test"][str(sw)] = r
                print(f"  mo-test, stress weight {sw:g}: E {r['energy_mae_mev_per_atom']:.3f} meV/atom "
                      f"F {r['force_mae_ev_per_a']:.4f} eV/Å S {r['stress_mae_gpa']:.3f} GPa", flush=True)
        out[name] = res
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1, default=float))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
