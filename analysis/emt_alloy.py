"""Properties of a Cu-Ni potential against its exact reference (ASE's EMT).

The training data are the demo's EMT structures (random fcc Cu-Ni: rattled,
strained, vacancies, short MD).  Because the reference is EMT itself, every
difference is the model's error: lattice constant and EOS, elastic constants
(relaxed ions), phonons (frequency RMSE on the same q-points) and the relaxed
vacancy energy, for fcc Cu, fcc Ni and the ordered L1_2 Cu3Ni alloy (a
structure not in the training data: random occupations only).

    python analysis/emt_alloy.py [--out analysis/results/emt_alloy]
"""
import argparse
import json
import time
import warnings
from pathlib import Path

from ase.build import bulk
from ase.calculators.emt import EMT

from sus2c.calculator import Calculator
from sus2c.fit import FitSettings, fit
from sus2c.properties import compute_properties, frequency_rmse
from sus2c.workflows import demo_structures


def l12_cu3ni(a=3.56):
    at = bulk("Cu", "fcc", a=a, cubic=True)
    at[0].symbol = "Ni"  # corner site of the conventional cell: Cu3Ni (L1_2)
    return at


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=here / "results" / "emt_alloy.json")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    t = time.perf_counter()
    train, _ = demo_structures()
    res = fit(train, FitSettings(cutoff2=5.5, cutoff3=4.25, intervals2=16, intervals3=(5, 5, 10), energy_weight=0.6,
                                 force_weight=0.35, stress_weight=0.05, threads=args.threads))
    print(f"fitted {res.model.n_parameters()['total']} coefficients to {len(train)} EMT structures "
          f"in {time.perf_counter() - t:.0f} s")
    model_calc = Calculator(res.model, threads=args.threads)
    rows = []
    for name, atoms in (("fcc Cu", bulk("Cu", "fcc", a=3.61, cubic=True)),
                        ("fcc Ni", bulk("Ni", "fcc", a=3.52, cubic=True)),
                        ("L1_2 Cu3Ni", l12_cu3ni())):
        ref = compute_properties(EMT(), atoms.copy(), name="EMT", which=("elastic", "phonons", "vacancy"))
        mod = compute_properties(model_calc, atoms.copy(), name="sus2c", which=("elastic", "phonons", "vacancy"),
                                 supercell=ref.phonons.supercell, band_from=ref.phonons)
        rmse = frequency_rmse(mod.phonons, ref.phonons)
        row = {
            "structure": name,
            "a0_angstrom": (mod.eos.a0_angstrom, ref.eos.a0_angstrom),
            "bulk_modulus_gpa": (mod.eos.b_gpa, ref.eos.b_gpa),
            "elastic_gpa": {k: (mod.elastic.named_gpa[k], ref.elastic.named_gpa[k])
                            for k in ref.elastic.named_gpa if k.startswith("C")},
            "phonon_rmse_thz": rmse,
            "vacancy_ev": (mod.vacancy.formation_energy_ev, ref.vacancy.formation_energy_ev),
        }
        rows.append(row)
        print(f"\n{name}: sus2c vs EMT")
        print(f"  a0          {row['a0_angstrom'][0]:.4f} vs {row['a0_angstrom'][1]:.4f} Å "
              f"({100 * (row['a0_angstrom'][0] / row['a0_angstrom'][1] - 1):+.2f} %)")
        print(f"  B           {row['bulk_modulus_gpa'][0]:.1f} vs {row['bulk_modulus_gpa'][1]:.1f} GPa")
        for k, (m, r) in row["elastic_gpa"].items():
            print(f"  {k:11s} {m:.1f} vs {r:.1f} GPa ({100 * (m / r - 1):+.1f} %)")
        print(f"  phonons     RMSE {rmse}")
        print(f"  vacancy     {row['vacancy_ev'][0]:.3f} vs {row['vacancy_ev'][1]:.3f} eV")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n_train": len(train), "rows": rows}, indent=1, default=float))
    print(f"\nwrote {out} ({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
