#!/usr/bin/env python
"""Per-MD-step cost of a model with the many-body embedding: sus2c against LAMMPS hybrid/overlay.

The same 2000-atom bcc Mo NVE run as analysis/bench_engine.py (its runners,
interleaving and fairness rules), for bench_engine's synthetic 2-body and
2+3-body models each plus a Finnis-Sinclair embedding (an exponential density
on [1.5, 5.0] Å, F ~ -sqrt(rho)).  LAMMPS runs the exported files:
``pair_style hybrid/overlay uf3 N eam/fs``.  Reports µs per atom-step
(medians over blocks), the ratio sus2c / LAMMPS (target <= 0.5) and the
2-thread speed-up (target >= 1.8).

    python analysis/bench_embedding.py [--repeats 7] [--steps 20] [--quick]
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np

import bench_engine as be
import sus2c
from sus2c.model import Model
from sus2c.splines import Spline1D
from sus2c.terms import EmbeddingSpecific

HERE = os.path.dirname(os.path.abspath(__file__))


def with_embedding(model):
    """The benchmark model plus a smooth Finnis-Sinclair embedding for Mo."""
    from sus2c import bspline

    n = 10
    t = bspline.knot_vector(be.R_MIN, 5.0, n)
    g = np.array([t[i + 1:i + 4].mean() for i in range(n + 3)])
    f = np.exp(-1.4 * (g - be.R_MIN)) * (1.0 - (g - be.R_MIN) / (5.0 - be.R_MIN)) ** 2
    f[-bspline.TRIM:] = 0.0
    rho_max = 6.0
    tr = bspline.knot_vector(0.0, rho_max, 8)
    gr = np.array([tr[i + 1:i + 4].mean() for i in range(11)])
    F = -np.sqrt(gr)
    F[0] = 0.0
    emb = EmbeddingSpecific({be.ELEMENT: Spline1D(0.0, rho_max, 8, F)},
                            {(be.ELEMENT, be.ELEMENT): Spline1D(be.R_MIN, 5.0, n, f)})
    return Model(model.elements, terms=list(model.terms) + [emb], metadata={"source": "analysis/bench_embedding.py"})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results", "bench_embedding.json"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 7)
    steps = args.steps or (10 if args.quick else 20)
    warmup = 5 if args.quick else 20
    from sus2c import lammps as L

    load0 = be._loadavg()
    print(f"sus2c {sus2c.build_info()}  load average at start: {load0}")
    models = {"2body+emb": with_embedding(be.make_model(False)), "2+3body+emb": with_embedding(be.make_model(True))}
    start = be.initial_state()
    n = len(start)
    res = {"meta": {"build_info": sus2c.build_info(), "cpu_model": be._cpu_model(), "load_average_start": load0,
                    "repeats": repeats, "steps": steps}, "models": {}}
    with tempfile.TemporaryDirectory(prefix="sus2c-bench-emb-") as tmp:
        for name, model in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", L.LammpsPrecisionWarning)
                info = L.export_lammps(model, os.path.join(tmp, f"{name}.uf3"))
            info = dict(info, pair_coeff="\n".join(info["commands"][1:]))
            print(f"{name}: {info['pair_style']} ({repeats} x {steps} steps) ...", flush=True)
            r = be.bench_model(model, start, steps, repeats, warmup, {"hybrid": info}, tmp, name)
            e_s = r["sus2c"]["threads_1"]["energy_initial_eV"]
            e_l = r["lammps"]["hybrid"]["energy_initial_eV"]
            r["energy_check_eV_per_atom"] = abs(e_s - e_l) / n
            one = r["sus2c"]["threads_1"]["calc_us_per_atom_step"]["median"]
            two = r["sus2c"]["threads_2"]["calc_us_per_atom_step"]["median"]
            lmp = r["lammps"]["hybrid"]["force_us_per_atom_step"]["median"]
            r["ratio"] = one / lmp
            k = "calc_us_per_atom_step"
            r["speedup_2threads"] = be.paired_speedup(r["sus2c"]["threads_1"][k]["repeats"],
                                                      r["sus2c"]["threads_2"][k]["repeats"])
            res["models"][name] = r
            print(f"  sus2c 1 thread {one:.3f}, 2 threads {two:.3f} µs/atom-step; LAMMPS {lmp:.3f}; "
                  f"ratio {r['ratio']:.3f} (target <= 0.5); 2-thread speed-up {r['speedup_2threads']:.2f} "
                  f"(target >= 1.8); |dE| {r['energy_check_eV_per_atom']:.1e} eV/atom", flush=True)
    res["meta"]["load_average_end"] = be._loadavg()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
