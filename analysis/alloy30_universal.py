"""Universal scaling on 30 elements: parameter counts and test errors (SUS2 study).

Data: ../shared/data/alloy30.xyz (639 structures, 30 elements, energies and
forces; the test set released with the SUS2-MLIP alloy model).  A seeded 20 %
of the structures is held out.  Models:

    specific 2-body            one spline per element pair (UF2)
    universal 2-body           one shared u(x); scalars per element
    universal 2+3-body         shared u(x) and g(x); scalars per element (or per pair)
    hybrid 2-body              universal u(x) + specific 2-body corrections (pulled to zero)

For each: parameter count per block, fit time, test MAE/RMSE, and the test
error split into structures that contain an element pair absent from the
training split ("unseen pair") and the others.  SUS2's own 53-element model
has 17,689 parameters.

    python analysis/alloy30_universal.py [--data DIR] [--only NAME ...]
"""
import argparse
import json
import time
import warnings
from pathlib import Path

from _data import add_data_argument, data_file
from sus2c.data import read_frames, split_frames
from sus2c.evaluate import evaluate, format_table
from sus2c.distances import present_terms
from sus2c.fit import FitSettings, fit

MODELS = {
    "specific 2-body": dict(mode="specific", cutoff3=0.0, intervals2=12),
    "universal 2-body": dict(mode="universal", cutoff3=0.0, scaling="element"),
    "universal 2+3-body (element)": dict(mode="universal", cutoff3=4.0, scaling="element"),
    "universal 2+3-body (pair)": dict(mode="universal", cutoff3=4.0, scaling="pair"),
    # hybrid with specific 3-body corrections would need one spline per triplet type
    # present (thousands here): the 2-body hybrid is the practical one
    "hybrid 2-body": dict(mode="hybrid", cutoff3=0.0, scaling="element", intervals2=12),
}
COMMON = dict(cutoff2=5.5, intervals2=20, intervals3=(6, 6, 12), energy_weight=0.5, force_weight=0.5,
              stress_weight=0.0)


def split_by_pairs(train, test, cutoff):
    elements = sorted({s for fr in train + test for s in fr.atoms.get_chemical_symbols()})
    seen, _ = present_terms(train, elements, cutoff, 0.0)
    seen = {tuple(sorted(p)) for p in seen}
    unseen, others = [], []
    for fr in test:
        pairs, _ = present_terms([fr], elements, cutoff, 0.0)
        (unseen if any(tuple(sorted(p)) not in seen for p in pairs) else others).append(fr)
    return unseen, others


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--out", default=here / "results" / "alloy30_universal.json")
    p.add_argument("--only", nargs="*", help="model names to run (default: all)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    path = data_file(args.data, "alloy30.xyz")
    warnings.simplefilter("ignore")
    frames = read_frames(path)
    train, test = split_frames(frames, 0.8, seed=0)
    unseen, others = split_by_pairs(train, test, COMMON["cutoff2"])
    print(f"{len(train)} training / {len(test)} test structures; {len(unseen)} test structures contain a pair "
          "absent from training")
    rows = []
    for name, kw in MODELS.items():
        if args.only and name not in args.only:
            continue
        s = FitSettings(**{**COMMON, **kw, "threads": args.threads})
        t = time.perf_counter()
        res = fit(train, s, log=lambda m: print("  " + m, flush=True))
        dt = time.perf_counter() - t
        r = evaluate(res.model, test, threads=args.threads)
        ru = evaluate(res.model, unseen, threads=args.threads) if unseen else None
        ro = evaluate(res.model, others, threads=args.threads)
        counts = res.model.n_parameters()
        rows.append({"name": name, "settings": {k: v for k, v in s.__dict__.items() if k != "elements"},
                     "parameters": counts, "fit_s": dt, "test": {k: v for k, v in r.items() if k != "groups"},
                     "unseen_pair": ru and {k: v for k, v in ru.items() if k != "groups"},
                     "other": {k: v for k, v in ro.items() if k != "groups"},
                     "scaling": res.model.metadata.get("scaling")})
        print(f"\n{name}: {counts['total']} parameters ({counts}), fit {dt:.0f} s")
        print(format_table(r))
        if ru:
            print(f"  unseen-pair structures: E MAE {ru['energy_mae_mev_per_atom']:.1f} meV/atom, "
                  f"F MAE {ru['force_mae_ev_per_a']:.3f} eV/Å; others: E {ro['energy_mae_mev_per_atom']:.1f}, "
                  f"F {ro['force_mae_ev_per_a']:.3f}", flush=True)
    print("\nmodel                            params   fit s   E MAE   F MAE   E MAE unseen/other   F MAE unseen/other")
    for row in rows:
        t, u, o = row["test"], row["unseen_pair"], row["other"]
        us = (f"{u['energy_mae_mev_per_atom']:6.1f}/{o['energy_mae_mev_per_atom']:6.1f}   "
              f"{u['force_mae_ev_per_a']:.3f}/{o['force_mae_ev_per_a']:.3f}") if u else "-"
        print(f"{row['name']:32s} {row['parameters']['total']:6d} {row['fit_s']:7.0f} "
              f"{t['energy_mae_mev_per_atom']:7.1f} {t['force_mae_ev_per_a']:7.3f}   {us}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n_train": len(train), "n_test": len(test), "n_unseen": len(unseen),
                               "models": rows}, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
