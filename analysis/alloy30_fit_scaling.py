"""Fit time of the recommended many-element config against structures and elements.

examples/alloy/fit.toml's settings on alloy30's training split: (a) the
structures repeated 1, 2 and 4 times (rattled copies: 511 to 2044
structures, the same 30 elements), (b) the structures restricted to the
first 10 and 20 elements (by atomic number) and all 30.  Prints the fit
time (with the outer fit's share) and the peak memory of each run.  There
is no ~50-element DFT set here; the trend in (b) is what carries over.

    python analysis/alloy30_fit_scaling.py [--data DIR] [--threads 2]
"""
import argparse
import dataclasses
import json
import resource
import time
import warnings
from pathlib import Path

import numpy as np

from _data import add_data_argument, data_file
from sus2c.config import load_config
from sus2c.data import read_frames, split_frames
from sus2c.fit import fit

HERE = Path(__file__).resolve().parent


def rattled(frames, copies, seed=0):
    """The frames and copies-1 rattled copies of each (labels kept: only the cost matters here)."""
    rng = np.random.default_rng(seed)
    out = list(frames)
    for _ in range(copies - 1):
        for fr in frames:
            a = fr.atoms.copy()
            a.positions += rng.normal(scale=0.02, size=a.positions.shape)
            out.append(dataclasses.replace(fr, atoms=a))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_argument(p)
    p.add_argument("--out", default=HERE / "results" / "alloy30_fit_scaling.json")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    warnings.simplefilter("ignore")
    settings = load_config(HERE.parent / "examples" / "alloy" / "fit.toml").settings
    settings.threads = args.threads
    train, _ = split_frames(read_frames(data_file(args.data, "alloy30.xyz")), 0.8, seed=0)
    from ase.data import atomic_numbers

    elements = sorted({s for fr in train for s in fr.atoms.get_chemical_symbols()}, key=atomic_numbers.get)
    runs = []
    cases = [("structures", c, rattled(train, c)) for c in (1, 2, 4)]
    for ne in (10, 20):
        keep = set(elements[:ne])
        cases.append(("elements", ne, [fr for fr in train if set(fr.atoms.get_chemical_symbols()) <= keep]))
    for kind, value, frames in cases:
        t = time.perf_counter()
        res = fit(frames, settings)
        dt = time.perf_counter() - t
        row = {"kind": kind, "value": value, "structures": len(frames),
               "elements": len(res.model.elements), "parameters": res.model.n_parameters()["total"],
               "fit_s": dt, "outer_s": (res.model.metadata.get("scaling") or {}).get("seconds"),
               "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        runs.append(row)
        print(json.dumps(row), flush=True)
        Path(args.out).write_text(json.dumps({"settings": "examples/alloy/fit.toml", "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
