"""Mo with and without the many-body embedding: accuracy and elastic constants against DFT.

The committed Mo configs (examples/mo/fit.toml, fit-lowest-error.toml), each
as it is and with the embedding (Finnis-Sinclair "specific", and one
universal channel), with and without stress in the fit: mo-test energy,
force and stress MAE, fit time, and C11/C12/C44 from the model's stresses on
the data's strained Elastic cells against the same fit of the DFT stresses
(analysis/mo_properties.py's like-for-like comparison, |strain| <= 2 %).

    python analysis/mo_embedding.py [--data DIR] [--only NAME ...] [--threads 2]
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from _data import add_data_argument, data_file
from mo_properties import SUPERCELL_EDGE, cubic_fit, green_strain, voigt
from sus2c import Calculator
from sus2c.config import load_config
from sus2c.data import read_frames
from sus2c.evaluate import evaluate
from sus2c.fit import fit

HERE = Path(__file__).resolve().parent
CONFIGS = {"fit.toml": HERE.parent / "examples" / "mo" / "fit.toml",
           "fit-lowest-error.toml": HERE.parent / "examples" / "mo" / "fit-lowest-error.toml"}
VARIANTS = {
    "": {},
    " + embedding (specific)": {"embedding": "specific"},
    " + embedding (universal, K=1)": {"embedding": "universal", "embedding_channels": 1},
}
STRESS = {"": {}, ", stress 0.1": {"stress_weight": 0.1}}
MAX_STRAIN = 0.021


def elastic_constants(frames, stresses, a_ref):
    strains = [voigt(green_strain(fr.atoms.cell.array, a_ref)) for fr in frames]
    return cubic_fit(strains, stresses, MAX_STRAIN)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--out", default=HERE / "results" / "mo_embedding.json")
    p.add_argument("--only", nargs="*")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    train = read_frames(data_file(args.data, "mo-train.xyz"))
    test = read_frames(data_file(args.data, "mo-test.xyz"))
    elastic = [fr for fr in train + test if fr.group == "Elastic" and len(fr.atoms) == 54 and fr.stress is not None]
    a_ref = float(np.median([fr.atoms.cell.lengths().min() for fr in elastic])) / SUPERCELL_EDGE
    dft = elastic_constants(elastic, [fr.stress for fr in elastic], a_ref)
    print(f"DFT (data, |strain| <= {MAX_STRAIN:.0%}): C11 {dft['C11_gpa']:.0f}, C12 {dft['C12_gpa']:.0f}, "
          f"C44 {dft['C44_gpa']:.0f} GPa")
    out = Path(args.out)
    rows = json.loads(out.read_text())["models"] if out.exists() else []
    for cname, cpath in CONFIGS.items():
        for vname, vkw in VARIANTS.items():
            for sname, skw in STRESS.items():
                name = cname + vname + sname
                if args.only and name not in args.only:
                    continue
                settings = load_config(cpath).settings
                for k, v in {**vkw, **skw, "threads": args.threads}.items():
                    setattr(settings, k, v)
                settings.__post_init__()
                t = time.perf_counter()
                model = fit(train, settings).model
                dt = time.perf_counter() - t
                r = evaluate(model, test, threads=args.threads)
                calc = Calculator(model, threads=args.threads)
                stresses = []
                for fr in elastic:
                    at = fr.atoms.copy()
                    at.calc = calc
                    stresses.append(at.get_stress())
                el = elastic_constants(elastic, stresses, a_ref)
                dev = {k: 100 * (el[k] - dft[k]) / dft[k] for k in ("C11_gpa", "C12_gpa", "C44_gpa")}
                row = {"name": name, "parameters": model.n_parameters()["total"], "fit_s": dt,
                       "energy_mae_mev_per_atom": r["energy_mae_mev_per_atom"], "force_mae_ev_per_a": r["force_mae_ev_per_a"],
                       "stress_mae_gpa": r["stress_mae_gpa"], "cv": (model.metadata["fit"]["cv_errors"] or {}).get("energy_mae_mev_per_atom"),
                       "elastic_gpa": {k: el[k] for k in ("C11_gpa", "C12_gpa", "C44_gpa")}, "elastic_deviation_pct": dev}
                rows = [x for x in rows if x["name"] != name] + [row]
                print(f"{name:62s} {row['parameters']:5d} {dt:6.0f} s  E {row['energy_mae_mev_per_atom']:.2f}  "
                      f"F {row['force_mae_ev_per_a']:.3f}  S {row['stress_mae_gpa']:.3f}  C11/C12/C44 "
                      + "/".join(f"{el[k]:.0f}" for k in ("C11_gpa", "C12_gpa", "C44_gpa"))
                      + "  (" + "/".join(f"{dev[k]:+.1f}" for k in dev) + " %)", flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps({"dft_same_strain_set": dft, "max_strain": MAX_STRAIN, "models": rows},
                                          indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
