"""How uncertain is the mo-test comparison of the automatic defaults with the
fixed defaults and examples/mo/fit.toml?  (Reporting only: nothing here feeds
back into the procedure.)

Refits the three models on mo-train (the automatic one with the settings
recorded by mo_report.py), takes per-structure energy errors on
mo-test and on the 5-fold CV of mo-train (fold models of fit()), and prints
the paired differences with their standard errors, overall and per group.

    python analysis/mo_defaults_uncertainty.py [--data DIR]
"""
import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from _data import add_data_argument, data_file


def per_structure(model, frames):
    from sus2c.evaluate import evaluate

    r = evaluate(model, frames, return_predictions=True)
    return np.array([abs(p["energy"] - f.energy) / len(f.atoms) * 1000 for p, f in zip(r["predictions"], frames)])


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--out", default=here / "results" / "mo_defaults_uncertainty.json")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from sus2c.config import load_config
    from sus2c.data import read_frames
    from sus2c.fit import FitSettings, fit

    train = read_frames(data_file(args.data, "mo-train.xyz"))
    test = read_frames(data_file(args.data, "mo-test.xyz"))
    report = json.loads((here / "results" / "mo_report.json").read_text())
    ch = report["runs"][0]["settings"]
    e, f, s = ch["weights"]
    auto = FitSettings(cutoff2=ch["cutoff2"], cutoff3=ch["cutoff3"], intervals2=ch["intervals2"],
                       intervals3=tuple(ch["intervals3"]), energy_weight=e, force_weight=f, stress_weight=s,
                       ridge=ch["ridge"], curvature=ch["curvature"], threads=1)
    models = {"autoconfig": auto, "old defaults": FitSettings(threads=1, auto=False),
              "examples/mo/fit.toml": load_config(here.parent / "examples" / "mo" / "fit.toml").settings}
    err = {}
    for name, s in models.items():
        s.threads = 1
        res = fit(train, s)
        err[name] = per_structure(res.model, test)
    groups = np.array([f.group for f in test])
    out = {"n_test": len(test), "comparisons": []}
    for other in ("examples/mo/fit.toml", "old defaults"):
        d = err["autoconfig"] - err[other]
        row = {"versus": other, "mean_difference": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))),
               "groups": {}}
        for g in sorted(set(groups)):
            dg = d[groups == g]
            row["groups"][g] = {"n": int(len(dg)), "mean_difference": float(dg.mean()),
                                "se": float(dg.std(ddof=1) / np.sqrt(len(dg))) if len(dg) > 1 else None}
        out["comparisons"].append(row)
        print(f"mo-test energy MAE, autoconfig - {other}: {row['mean_difference']:+.3f} +- {row['se']:.3f} meV/atom "
              f"(paired, {len(d)} structures)")
        for g, v in row["groups"].items():
            print(f"    {g:10s} n={v['n']:2d} {v['mean_difference']:+.3f}" + (f" +- {v['se']:.3f}" if v["se"] else ""))
    out["per_structure_energy_abs_error"] = {k: v.tolist() for k, v in err.items()}
    out["groups"] = groups.tolist()
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
