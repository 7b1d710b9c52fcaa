"""Properties of the fitted Mo potential against DFT.

The model is fitted with ``examples/mo/fit.toml`` on mo-train.xyz (mlearn,
Zuo et al., J. Phys. Chem. A 124, 731, 2020; PBE).  Three references:

1. **DFT from the data itself** (same functional, code and settings as the
   training energies): the "Elastic" group of mo-train + mo-test holds 62
   bcc 3x3x3 supercells strained by up to ±10 % with their DFT stresses.  A
   cubic linear stress-strain fit over the small strains gives C11, C12, C44
   and the zero-stress lattice constant.  The model's stresses on the same
   structures go through the same fit ("model, same strain set"), so the two
   columns differ only by the potential.
2. **Phonons**: no DFT phonon frequencies come with the data, so the
   model's acoustic branches are checked against the DFT elastic constants
   through their long-wavelength limit: along [100] the LA and TA sound
   velocities are sqrt(C11/rho) and sqrt(C44/rho).  The script also prints
   the model's frequencies at H, N and P and the vibrational DOS extrema.
3. **Published values** (quoted from the literature, not recomputed here):
   the Materials Project PBE elastic tensor of bcc Mo (mp-129; de Jong et
   al., Sci. Data 2, 150009, 2015) and the room-temperature experimental
   lattice constant.

Data check: the mlearn Mo files carry the yz and xz shear stresses swapped
(a shear of the cell in yz shows up in the stored xz component); the shared
copies have them swapped back.  The script checks the order on the sheared
Elastic structures and stops with an error if a file's shear stresses look
swapped (it no longer repairs them: a fit to such data would be wrong too).

    python analysis/mo_properties.py [--data DIR] [--model MODEL.json]
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.data import atomic_masses, atomic_numbers
from ase.units import GPa, kg

from sus2c import Calculator, load
from _data import add_data_argument, data_file
from sus2c.config import load_config
from sus2c.data import read_frames
from sus2c.fit import fit
from sus2c.properties import compute_properties

PUBLISHED = {
    "C11_gpa": (472.0, "Materials Project mp-129, PBE (de Jong et al., Sci. Data 2, 150009, 2015)"),
    "C12_gpa": (158.0, "Materials Project mp-129, PBE (de Jong et al., Sci. Data 2, 150009, 2015)"),
    "C44_gpa": (106.0, "Materials Project mp-129, PBE (de Jong et al., Sci. Data 2, 150009, 2015)"),
    "a0_experiment_angstrom": (3.147, "room-temperature X-ray lattice parameter of Mo"),
}
SUPERCELL_EDGE = 3  # the Elastic structures are 3x3x3 conventional bcc cells (54 atoms)
SHEAR = (3, 4, 5)  # ASE Voigt order: xx yy zz yz xz xy


def green_strain(cell, a_ref):
    """Green-Lagrange strain of a 3x3x3 supercell against the cubic cell of edge a_ref."""
    h = np.asarray(cell, dtype=float) / (SUPERCELL_EDGE * a_ref)
    return 0.5 * (h @ h.T - np.eye(3))


def voigt(e):
    return np.array([e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])


def shear_order_counts(frames, a_ref):
    """(right, wrong): sheared Elastic cells whose larger stored yz/xz stress is / is not the
    component of the cell's shear."""
    right = wrong = 0
    for fr in frames:
        g = voigt(green_strain(fr.atoms.cell.array, a_ref))[3:5]
        if np.max(np.abs(g)) < 0.015:
            continue
        k = int(np.argmax(np.abs(g)))
        s = np.abs(np.asarray(fr.stress)[3:5])
        if s[k] > s[1 - k]:
            right += 1
        else:
            wrong += 1
    return right, wrong


def check_shear_order(frames, a_ref, source):
    """Raise SystemExit when the yz/xz shear stresses of ``source`` look swapped."""
    right, wrong = shear_order_counts(frames, a_ref)
    if wrong:
        raise SystemExit(
            f"{source}: in {wrong} of {right + wrong} sheared Elastic structures the stored yz and xz stresses "
            "are swapped relative to the cell (the mlearn files' error); use the corrected copy of the data")
    return right


def cubic_fit(strains, stresses, max_strain):
    """C11, C12, C44 (GPa) and the residual pressure offset from sigma = C eps + p0 over |eps| <= max_strain."""
    rows, rhs = [], []
    for e, s in zip(strains, stresses):
        if np.max(np.abs(e)) > max_strain:
            continue
        for i in range(3):
            rows.append([e[i], e[(i + 1) % 3] + e[(i + 2) % 3], 0.0, 1.0])
            rhs.append(s[i] / GPa)
        for i in range(3, 6):
            rows.append([0.0, 0.0, e[i], 0.0])
            rhs.append(s[i] / GPa)
    a, b = np.array(rows), np.array(rhs)
    c, *_ = np.linalg.lstsq(a, b, rcond=None)
    resid = b - a @ c
    return {"C11_gpa": c[0], "C12_gpa": c[1], "C44_gpa": c[2], "p0_gpa": c[3],
            "B_gpa": (c[0] + 2 * c[1]) / 3, "n_structures": len(rows) // 6,
            "rms_residual_gpa": float(np.sqrt(np.mean(resid**2)))}


def qpoint_index(ph, label):
    """Index on the band path of the special point ``label`` (first occurrence)."""
    k = list(ph.band_labels).index(label)
    return int(np.argmin(np.abs(np.asarray(ph.band_x) - ph.band_special_x[k])))


def acoustic_velocities(ph):
    """Initial slopes (m/s) of the three branches leaving Gamma towards H ([100])."""
    x = np.asarray(ph.band_x)
    i0 = qpoint_index(ph, "G")
    # a few points out from Gamma, where the dispersion is still linear
    i1 = i0 + 3
    dq = x[i1] - x[i0]  # ASE's band axis is |q| in 1/Å, 2 pi included
    v = 2 * np.pi * np.sort(ph.band_frequencies_thz[i1]) / dq * 100.0  # omega/q; THz·Å = 100 m/s
    return {"TA_m_per_s": float(v[0]), "TA2_m_per_s": float(v[1]), "LA_m_per_s": float(v[2])}


def frequencies_at(ph, label):
    return sorted(float(v) for v in ph.band_frequencies_thz[qpoint_index(ph, label)])


def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--model", help="a fitted model file (default: fit examples/mo/fit.toml now)")
    p.add_argument("--out", default=here / "results" / "mo_properties.json")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    train = read_frames(data_file(args.data, "mo-train.xyz"))
    test = read_frames(data_file(args.data, "mo-test.xyz"))
    if args.model:
        model = load(args.model)
    else:
        t = time.perf_counter()
        settings = load_config(here.parent / "examples" / "mo" / "fit.toml").settings
        settings.threads = args.threads
        model = fit(train, settings).model
        print(f"fitted examples/mo/fit.toml: {model.n_parameters()['total']} coefficients, "
              f"{time.perf_counter() - t:.1f} s")
    calc = Calculator(model, threads=args.threads)

    # -- DFT elastic constants from the strained structures in the data
    def elastic_of(frames):
        return [fr for fr in frames if fr.group == "Elastic" and len(fr.atoms) == 54 and fr.stress is not None]

    elastic = elastic_of(train) + elastic_of(test)
    a_ref = float(np.median([fr.atoms.cell.lengths().min() for fr in elastic])) / SUPERCELL_EDGE
    n_sheared = {name: check_shear_order(elastic_of(frames), a_ref, name)
                 for name, frames in (("mo-train.xyz", train), ("mo-test.xyz", test))}
    print(f"data check: yz/xz shear stresses in the right order ({n_sheared['mo-train.xyz']} sheared Elastic "
          f"structures in mo-train, {n_sheared['mo-test.xyz']} in mo-test)")
    strains = [voigt(green_strain(fr.atoms.cell.array, a_ref)) for fr in elastic]
    dft = {m: cubic_fit(strains, [fr.stress for fr in elastic], m) for m in (0.021, 0.031)}
    model_stress = []
    for fr in elastic:
        at = fr.atoms.copy()
        at.calc = calc
        model_stress.append(at.get_stress())
    same_set = {m: cubic_fit(strains, model_stress, m) for m in (0.021, 0.031)}
    for d in list(dft.values()) + list(same_set.values()):
        d["a0_angstrom"] = a_ref * (1.0 - d["p0_gpa"] / (d["C11_gpa"] + 2 * d["C12_gpa"]))

    # -- the model's own properties at its own equilibrium
    t = time.perf_counter()
    props = compute_properties(calc, bulk("Mo", "bcc", a=a_ref, cubic=True), name="sus2c",
                               log=lambda m: print(m, flush=True))
    print(f"model properties in {time.perf_counter() - t:.0f} s")
    ph = props.phonons
    a0 = props.eos.a0_angstrom
    rho = 2 * atomic_masses[atomic_numbers["Mo"]] / kg / (a0 * 1e-10) ** 3  # kg/m^3
    d0 = dft[0.021]
    v_dft = {"TA_m_per_s": np.sqrt(d0["C44_gpa"] * 1e9 / rho), "LA_m_per_s": np.sqrt(d0["C11_gpa"] * 1e9 / rho)}
    v_model = acoustic_velocities(ph)
    named = props.elastic.named_gpa

    print("\nbcc Mo                   model (own a0)   model, same strain set   DFT, same strain set   published")
    print(f"  a0 (Å)                 {a0:10.4f}        {same_set[0.021]['a0_angstrom']:10.4f}"
          f"             {d0['a0_angstrom']:10.4f}          {PUBLISHED['a0_experiment_angstrom'][0]:.3f} (exp., RT)")
    for k in ("C11", "C12", "C44"):
        print(f"  {k} (GPa)              {named[k]:10.1f}        {same_set[0.021][k + '_gpa']:10.1f}"
              f"             {d0[k + '_gpa']:10.1f}          {PUBLISHED[k + '_gpa'][0]:.0f} (MP, PBE)")
    print(f"  B (GPa)                {props.eos.b_gpa:10.1f}        {same_set[0.021]['B_gpa']:10.1f}"
          f"             {d0['B_gpa']:10.1f}")
    print(f"  (DFT fit: {d0['n_structures']} structures with |strain| <= 2 %, rms residual {d0['rms_residual_gpa']:.2f} GPa;"
          f" with |strain| <= 3 %: C11/C12/C44 = {dft[0.031]['C11_gpa']:.0f}/{dft[0.031]['C12_gpa']:.0f}/"
          f"{dft[0.031]['C44_gpa']:.0f})")
    print(f"  sound velocity [100] TA {v_model['TA_m_per_s']:.0f} m/s (DFT C44: {v_dft['TA_m_per_s']:.0f}), "
          f"LA {v_model['LA_m_per_s']:.0f} m/s (DFT C11: {v_dft['LA_m_per_s']:.0f})")
    freq = {lab: frequencies_at(ph, lab) for lab in ("H", "N", "P")}
    print("  phonons (THz): " + ", ".join(f"{lab} " + "/".join(f"{v:.2f}" for v in vals) for lab, vals in freq.items())
          + f"; max {ph.max_frequency_thz:.2f}, min {ph.min_frequency_thz:.3f}")
    print(f"  vacancy formation energy {props.vacancy.formation_energy_ev:.3f} eV ({props.vacancy.n_atoms} atoms, relaxed)")
    print("  published: " + "; ".join(sorted({src for _, src in PUBLISHED.values()})))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "model_parameters": model.n_parameters()["total"],
        "sheared_elastic_structures_checked": n_sheared,
        "dft_from_data": dft, "model_same_strain_set": same_set,
        "model": {"a0_angstrom": a0, "B_gpa": props.eos.b_gpa, "Bp": props.eos.bp,
                  "elastic_gpa": {k: v for k, v in named.items()},
                  "phonon_frequencies_thz": freq, "max_frequency_thz": ph.max_frequency_thz,
                  "min_frequency_thz": ph.min_frequency_thz, "sound_velocity_100": v_model,
                  "vacancy_formation_ev": props.vacancy.formation_energy_ev},
        "dft_sound_velocity_100": v_dft,
        "published": {k: {"value": v, "source": s} for k, (v, s) in PUBLISHED.items()},
    }, indent=1, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
