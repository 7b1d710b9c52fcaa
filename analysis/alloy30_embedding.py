"""Many-body embedding on 30 elements (alloy30): accuracy against the number of channels.

Data: ../shared/data/alloy30.xyz (639 structures, 30 elements, energies and
forces; the test set released with the SUS2-MLIP alloy model), the seeded
80/20 split of analysis/alloy30_universal.py.  Models: universal 2+3-body
(element scaling) with K = 0, 1, 2, 4 universal embedding channels in
element mode, and K = 2 in pair mode; each with parameter counts, fit time,
train and test MAE/RMSE, and the test errors of structures containing a
pair absent from training ("unseen pair") against the others.  A last row
refits the K = 4 model without the validation stop of the outer fit, to
measure capacity (the training error the model class can reach); two more
vary the 3-body term and the force weight, and two fit the K = 2 model to
a quarter and a half of the training split (a learning curve).  The recommended config
(examples/alloy/fit.toml) is the one of lowest CV energy error on the
training split (the test split only reports).

    python analysis/alloy30_embedding.py [--data DIR] [--only NAME ...] [--threads 2]
"""
import argparse
import json
import time
import warnings
from pathlib import Path

from _data import add_data_argument, data_file
from alloy30_universal import split_by_pairs
from sus2c.data import read_frames, split_frames
from sus2c.evaluate import evaluate
from sus2c.fit import FitSettings, fit

BASE = dict(mode="universal", scaling="element", cutoff2=5.5, cutoff3=4.0, intervals2=20, intervals3=(6, 6, 12),
            energy_weight=0.5, force_weight=0.5, stress_weight=0.0, scaling_iterations=30)
MODELS = {
    "K=0": dict(),
    "K=1 element": dict(embedding="universal", embedding_channels=1),
    "K=2 element": dict(embedding="universal", embedding_channels=2),
    "K=4 element": dict(embedding="universal", embedding_channels=4),
    "K=2 pair": dict(embedding="universal", embedding_channels=2, embedding_scaling="pair"),
    "K=4 element, no validation stop": dict(embedding="universal", embedding_channels=4, outer_validation=0.0),
    "K=2 element, 2-body": dict(embedding="universal", embedding_channels=2, cutoff3=0.0),
    "K=2 element, forces 0.7": dict(embedding="universal", embedding_channels=2, energy_weight=0.3, force_weight=0.7),
    # the learning curve: the same model on a seeded part of the training split (same test split)
    "K=2 element, 25 % of train": dict(embedding="universal", embedding_channels=2, train_fraction=0.25),
    "K=2 element, 50 % of train": dict(embedding="universal", embedding_channels=2, train_fraction=0.5),
}


def summary(r):
    return {k: r[k] for k in ("energy_mae_mev_per_atom", "energy_rmse_mev_per_atom", "force_mae_ev_per_a",
                              "force_rmse_ev_per_a", "n_structures")}


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--out", default=here / "results" / "alloy30_embedding.json")
    p.add_argument("--only", nargs="*", help="model names to run (default: all)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    frames = read_frames(data_file(args.data, "alloy30.xyz"))
    train, test = split_frames(frames, 0.8, seed=0)
    unseen, others = split_by_pairs(train, test, BASE["cutoff2"])
    out = Path(args.out)
    rows = json.loads(out.read_text())["models"] if out.exists() else []
    for name, kw in MODELS.items():
        if args.only and name not in args.only:
            continue
        kw = dict(kw)
        part = train
        if "train_fraction" in kw:
            part, _ = split_frames(train, kw.pop("train_fraction"), seed=1)
        s = FitSettings(**{**BASE, **kw, "threads": args.threads})
        t = time.perf_counter()
        res = fit(part, s, log=lambda m: print("  " + m, flush=True))
        dt = time.perf_counter() - t
        row = {"name": name, "settings": {k: v for k, v in s.__dict__.items() if k != "elements"},
               "n_train": len(part),
               "parameters": res.model.n_parameters(), "fit_s": dt,
               "train": summary(evaluate(res.model, part, threads=args.threads)),
               "test": summary(evaluate(res.model, test, threads=args.threads)),
               "unseen_pair": summary(evaluate(res.model, unseen, threads=args.threads)),
               "other": summary(evaluate(res.model, others, threads=args.threads)),
               "outer": {k: res.model.metadata.get("scaling", {}).get(k) for k in ("iterations", "seconds")},
               # chosen on training data only: the k-fold CV of the final linear solve
               "cv": {k: (res.cv_errors or {}).get(k) for k in ("energy_mae_mev_per_atom", "force_mae_ev_per_a")}}
        rows = [r for r in rows if r["name"] != name] + [row]
        print(f"{name}: {row['parameters']['total']} parameters, fit {dt:.0f} s, train E {row['train']['energy_mae_mev_per_atom']:.1f}"
              f" F {row['train']['force_mae_ev_per_a']:.3f}, test E {row['test']['energy_mae_mev_per_atom']:.1f}"
              f" F {row['test']['force_mae_ev_per_a']:.3f}, unseen/other E {row['unseen_pair']['energy_mae_mev_per_atom']:.1f}"
              f"/{row['other']['energy_mae_mev_per_atom']:.1f}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"n_train": len(train), "n_test": len(test), "n_unseen": len(unseen),
                                   "models": rows}, indent=1, default=float))
    print("\nmodel                              params   fit s  train E   test E (RMSE)   test F   unseen/other E")
    for r in rows:
        print(f"{r['name']:34s} {r['parameters']['total']:6d} {r['fit_s']:7.0f} {r['train']['energy_mae_mev_per_atom']:7.1f}"
              f"  {r['test']['energy_mae_mev_per_atom']:6.1f} ({r['test']['energy_rmse_mev_per_atom']:5.0f})"
              f"  {r['test']['force_mae_ev_per_a']:7.3f}   {r['unseen_pair']['energy_mae_mev_per_atom']:6.1f}"
              f"/{r['other']['energy_mae_mev_per_atom']:.1f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
