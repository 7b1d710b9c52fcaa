"""The ``sus2c`` command line.

Every sub-command lives in the module of its concern; this file only wires
arguments to functions and turns expected errors into one clear line.
"""
from __future__ import annotations

import argparse
import sys


def _cmd_info(args):
    import sus2c

    info = sus2c.build_info()
    print(f"sus2c {info['version']}")
    print(f"kernels built with OpenMP: {'yes' if info['openmp'] else 'no (serial build)'}")
    print(f"default threads: {info['default_threads']} (set OMP_NUM_THREADS or Calculator(threads=...))")
    if args.model:
        model = sus2c.load(args.model)
        print(f"model: {args.model}: {model!r}")
        print(f"  cutoff {model.cutoff:.4f} A")
        for block, n in model.n_parameters().items():
            print(f"  {block:22s} {n}")
    return 0


def _cmd_export(args):
    from .lammps import check_export, export_lammps

    info = export_lammps(args.model, args.out)
    print(f"wrote {args.out}")
    print("LAMMPS input lines:")
    print("  units metal")
    print("  newton on")
    print(f"  {info['pair_style']}")
    print(f"  {info['pair_coeff']}")
    print("one-body energies (eV per atom; LAMMPS leaves them out of its energy):")
    for el, e in info["one_body"].items():
        print(f"  {el:3s} {e:.10g}")
    if args.check:
        print("checking the file in LAMMPS against the sus2c calculator ...")
        diffs = check_export(args.model, args.out)
        print(f"  structures checked:       {diffs['n_structures']}")
        print(f"  max |dE| per atom (eV):   {diffs['energy_per_atom']:.3e}")
        print(f"  max |dF| (eV/A):          {diffs['forces']:.3e}")
        print(f"  max |dsigma| (eV/A^3):    {diffs['stress']:.3e}")
    return 0


def _cmd_evaluate(args):
    import json

    from .data import read_frames
    from .evaluate import evaluate, format_table

    frames = read_frames(args.data, type_map=args.type_map)
    result = evaluate(args.model, frames, threads=args.threads)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.model} on {len(frames)} structures from {len(args.data)} file(s)")
        print(format_table(result))
    return 0


def _cmd_fit(args):
    from .config import load_config
    from .workflows import run_fit

    cfg = load_config(args.config)
    if args.output:
        cfg.output = args.output
    if args.threads:
        cfg.settings.threads = args.threads
    run_fit(cfg)
    return 0


def _cmd_demo(args):
    from .workflows import run_demo

    run_demo(args.out, threads=args.threads)
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog="sus2c",
        description="Fit, run and export ultra-fast interpretable interatomic potentials "
        "(UF3 B-splines with SUS2 universal scaling).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    q = sub.add_parser("info", help="how sus2c was built; summary of a model file")
    q.add_argument("model", nargs="?", help="a model file (optional)")
    q.set_defaults(func=_cmd_info)

    q = sub.add_parser("fit", help="fit a model to data as described by a TOML configuration file")
    q.add_argument("config", help="configuration file (TOML; only [data] train is required)")
    q.add_argument("-o", "--output", help="model file to write (default: [output] model, else model.json)")
    q.add_argument("--threads", type=int, help="OpenMP threads (default: [fit] threads, else all cores)")
    q.set_defaults(func=_cmd_fit)

    q = sub.add_parser("demo", help="fit a Cu-Ni potential to EMT data it generates itself, and report its errors")
    q.add_argument("--out", default="sus2c-demo", help="output folder (default: sus2c-demo)")
    q.add_argument("--threads", type=int, help="OpenMP threads (default: all cores)")
    q.set_defaults(func=_cmd_demo)

    q = sub.add_parser("export", help="export a model to another code")
    q.add_argument("format", choices=["lammps"], help="target (lammps: pair_style uf3)")
    q.add_argument("model", help="sus2c model file (JSON)")
    q.add_argument("out", help="output potential file, e.g. model.uf3")
    q.add_argument(
        "--check",
        action="store_true",
        help="run the file in the LAMMPS Python module on a few structures and print "
        "the largest energy/force/stress differences to the sus2c calculator",
    )
    q.set_defaults(func=_cmd_export)

    q = sub.add_parser(
        "evaluate",
        help="energy/force/stress errors of a model on labelled structures",
        description="Energy (meV/atom), force (eV/A) and stress (GPa) MAE and RMSE of a model "
        "against DFT labels, overall and per group (atoms.info 'group' or 'config_type', "
        "else the file name).",
    )
    q.add_argument("model", help="sus2c model file (JSON)")
    q.add_argument(
        "data",
        nargs="+",
        help="labelled structures: anything ASE reads (extxyz, vasprun.xml, OUTCAR, ...) "
        "or MLIP .cfg files; globs allowed",
    )
    q.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    q.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    q.add_argument(
        "--type-map",
        default=None,
        metavar="MAP",
        help="element of each integer atom type in MLIP .cfg files, e.g. 0=Mo,1=Nb (or Mo,Nb)",
    )
    q.set_defaults(func=_cmd_evaluate)
    return p


def main(argv=None):
    from .model import ModelError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (ModelError, OSError, ValueError, ImportError) as exc:
        if isinstance(exc, BrokenPipeError):  # output piped into e.g. `head`
            sys.stderr.close()
            return 0
        print(f"sus2c {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
