"""The ``sus2c`` command line.

Every sub-command lives in the module of its concern; this file only wires
arguments to functions and turns expected errors into one clear line.
"""
from __future__ import annotations

import argparse
import sys
import warnings


def _cmd_info(args):
    import sus2c

    info = sus2c.build_info()
    print(f"sus2c {info['version']}")
    print(f"kernels built with OpenMP: {'yes' if info['openmp'] else 'no (serial build)'}")
    simd = {"avx2": "AVX2+FMA build (selected for this CPU; SUS2C_SIMD=baseline forces the baseline build)",
            "baseline": "baseline build (no AVX2+FMA build for this CPU, or SUS2C_SIMD=baseline)"}
    print(f"SIMD: {info['simd']}: {simd.get(info['simd'], '')}".rstrip(": "))
    print(f"default threads: {info['default_threads']} (set OMP_NUM_THREADS or Calculator(threads=...))")
    if args.model:
        model = sus2c.load(args.model)
        print(f"model: {args.model}: {model!r}")
        print(f"  cutoff {model.cutoff:.4f} A")
        print("  parameters:")
        for name, n in model.parameter_lines():
            print(f"    {name:26s} {n:7d}")
        missing = model.elements_without_interactions()
        if missing:
            print(f"  WARNING: no fitted interactions for {', '.join(missing)} (one-body energy only)")
    return 0


def _cmd_export(args):
    from .lammps import check_export, export_lammps

    elements = args.elements.replace(",", " ").split() if args.elements else None
    info = export_lammps(args.model, args.out, elements=elements)
    print(f"wrote {args.out}" + "".join(f", {f}" for f in info["eam_files"]))
    print("LAMMPS input lines:")
    print("  units metal")
    print("  newton on")
    for line in info["commands"]:
        print(f"  {line}")
    print("one-body energies (eV per atom; LAMMPS leaves them out of its energy):")
    for el, e in info["one_body"].items():
        print(f"  {el:3s} {e:.10g}")
    if args.check:
        print("checking the file in LAMMPS against the sus2c calculator ...")
        from .lammps import CHECK_ENERGY_TOL, CHECK_FORCE_TOL

        diffs = check_export(args.model, args.out, elements=elements)
        print(f"  structures checked:       {diffs['n_structures']}")
        print(f"  max |dE| per atom (eV):   {diffs['energy_per_atom']:.3e}   (limit {CHECK_ENERGY_TOL:g})")
        print(f"  max |dF| (eV/A):          {diffs['forces']:.3e}   (limit {CHECK_FORCE_TOL:g})")
        print(f"  max |dsigma| (eV/A^3):    {diffs['stress']:.3e}")
        if not diffs["passed"]:
            print(f"sus2c export: error: LAMMPS and sus2c differ by more than the limits above", file=sys.stderr)
            return 1
        print("  passed")
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


def _cmd_plot(args):
    from .analysis import plot_all
    from .data import read_frames

    # each --data argument (a file or a glob) is one data set with its own, labelled plots:
    # `--data train.xyz test.xyz` must not mix training and test errors
    frames = None
    if args.data:
        frames = {}
        for arg in args.data:
            frames[arg] = read_frames(arg, type_map=args.type_map)
    written = plot_all(args.model, args.out, frames=frames, fmt=args.format, threads=args.threads)
    print(f"wrote {len(written)} plot(s) of {args.model} to {args.out}/")
    for path in written:
        print(f"  {path}")
    return 0


def _cmd_validate(args):
    from .validate import validate

    which = None if args.properties is None else [w.strip() for w in args.properties.split(",") if w.strip()]
    strains = [float(x) / 100.0 for x in args.strains.split(",")]
    validate(
        args.model,
        args.structure,
        reference=args.reference,
        out=args.out,
        which=which,
        form=args.eos,
        strains=strains,
        mesh=args.mesh,
        threads=args.threads,
        vacancy_index=args.vacancy_atom,
        chemical_potentials=args.chemical_potential,
    )
    return 0


def _cmd_md(args):
    import json

    from .md import auto_repeat, parse_repeat, run_md, summary_lines
    from .properties import check_elements, load_calculator, parse_structure

    atoms = parse_structure(args.structure)
    calc, label = load_calculator(args.model, args.threads)
    check_elements(calc, atoms)
    reps = parse_repeat(args.repeat)
    if reps is None:
        reps = auto_repeat(atoms, args.min_atoms)
    if reps != (1, 1, 1):
        atoms = atoms.repeat(reps)
    if not args.json:
        print(
            f"sus2c md: {label} on {args.structure} repeated {'x'.join(map(str, reps))} = {len(atoms)} atoms, "
            f"{args.ensemble.upper()} at {args.temperature:g} K, {args.steps} x {args.timestep:g} fs",
            flush=True,
        )
    progress = False if args.json else (True if args.progress else None)
    res = run_md(
        atoms,
        calc,
        ensemble=args.ensemble,
        temperature_k=args.temperature,
        steps=args.steps,
        timestep_fs=args.timestep,
        thermostat=args.thermostat,
        friction_per_fs=args.friction,
        taut_fs=args.taut,
        seed=args.seed,
        trajectory=args.trajectory,
        trajectory_interval=args.trajectory_interval,
        log_interval=args.log_interval,
        progress=progress,
    )
    if args.json:
        d = res.to_dict()
        d.pop("series")
        print(json.dumps(d, indent=2))
    else:
        for line in summary_lines(res):
            print(line)
    return 0


def _cmd_demo(args):
    from .workflows import run_demo

    run_demo(args.out, threads=args.threads)
    return 0


def _add_type_map(q):
    q.add_argument(
        "--type-map",
        default=None,
        metavar="MAP",
        help="element of each integer atom type in MLIP .cfg files, e.g. 0=Mo,1=Nb (or Mo,Nb)",
    )


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

    q = sub.add_parser("fit", help="fit a model to data as described by a TOML configuration file; cutoffs, "
                       "resolution and loss weights it does not give are chosen from the data")
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
        help="run the file in the LAMMPS Python module on a few structures, print "
        "the largest energy/force/stress differences to the sus2c calculator, and exit "
        "non-zero when forces differ by more than 1e-6 eV/A or energies by more than 1e-7 eV/atom",
    )
    q.add_argument("--elements", default=None, metavar="EL,EL",
                   help="export only these elements, in the order of the LAMMPS atom types (default: all)")
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
    _add_type_map(q)
    q.set_defaults(func=_cmd_evaluate)

    q = sub.add_parser(
        "plot",
        help="plot a model's terms (and its errors on data)",
        description="Write every applicable plot of a model into a folder: each 2-body curve with "
        "its knots, slices of each 3-body term, the universal function u(x) with Rose's binding "
        "curve and the universal collapse (models with universal parts), and with --data parity "
        "plots and error histograms per group.",
    )
    q.add_argument("model", help="sus2c model file (JSON)")
    q.add_argument("--out", required=True, help="output folder (created if needed)")
    q.add_argument(
        "--data",
        nargs="+",
        default=None,
        metavar="FILE",
        help="labelled structures for parity plots and error histograms, one data set per argument "
        "(e.g. --data train.xyz test.xyz gives parity_energy_train and parity_energy_test); their distances "
        "are shaded on the 2-body curves (globs allowed)",
    )
    q.add_argument("--format", choices=["png", "pdf", "svg"], default="png", help="file format (default: png)")
    q.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    _add_type_map(q)
    q.set_defaults(func=_cmd_plot)

    q = sub.add_parser(
        "validate",
        help="lattice constant, EOS, elastic constants, phonons and vacancy energy, optionally against a reference",
        description="Materials properties of a model for one crystal: equilibrium lattice constant and "
        "equation of state (E0, V0, B, B'), elastic constants by finite strain with relaxed ions, "
        "phonons through phonopy (band structure, DOS, F, S, Cv) and the relaxed vacancy formation "
        "energy; with --reference the same calculations for the reference and their differences "
        "(phonon frequency RMSE on the same q-points). Writes report.md, report.json and PNG plots.",
    )
    q.add_argument("model", help="sus2c model file (JSON)")
    q.add_argument(
        "--structure",
        required=True,
        help="lattice:Element:a with lattice fcc, bcc, sc, diamond (cubic conventional cells) or "
        "hcp (ideal c/a, or hcp:El:a:c), e.g. bcc:Mo:3.16; or a structure file ASE reads",
    )
    q.add_argument("--reference", default=None, help="'emt' (ASE's EMT calculator) or another sus2c model file")
    q.add_argument("--out", default="sus2c-validate", help="output folder (default: sus2c-validate)")
    q.add_argument(
        "--properties",
        default=None,
        help="comma-separated subset of eos,elastic,phonons,vacancy (default: all that apply: the vacancy of a "
        "compound needs --chemical-potential; eos is always computed)",
    )
    q.add_argument("--vacancy-atom", type=int, default=0, metavar="INDEX",
                   help="the atom of the unit cell the vacancy removes (default: 0); the report names its element and site")
    q.add_argument(
        "--chemical-potential",
        action="append",
        default=None,
        metavar="EL=VALUE",
        help="chemical potential of the removed element, needed for a vacancy in a compound: EL=EV (the same number "
        "for every calculator) or EL=STRUCTURE, e.g. Cu=fcc:Cu:3.61 (its relaxed energy per atom, computed by each "
        "calculator); repeatable",
    )
    q.add_argument("--eos", choices=["vinet", "birchmurnaghan"], default="vinet", help="EOS form (default: vinet)")
    q.add_argument(
        "--strains", default="0.25,0.5,1", help="strain sizes in %% for the elastic constants (default: 0.25,0.5,1)"
    )
    q.add_argument("--mesh", type=int, default=20, help="phonon q-mesh per direction for DOS and thermal properties (default: 20)")
    q.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    q.set_defaults(func=_cmd_validate)

    q = sub.add_parser(
        "md",
        help="molecular dynamics (NVE or NVT) through ASE; reports the NVE energy drift",
        description="Run MD with a model through ASE: velocity Verlet (nve) or a Langevin/Bussi "
        "thermostat (nvt), Maxwell-Boltzmann velocities at --temperature. Progress lines when "
        "stdout is a terminal (or --progress); always a final summary with, for NVE, the total-energy "
        "drift (E_tot(end) - E_tot(start))/N and its largest deviation.",
    )
    q.add_argument("model", help="sus2c model file (JSON), or 'emt' for ASE's EMT")
    q.add_argument("structure", help="lattice:Element:a (e.g. fcc:Cu:3.61) or a structure file ASE reads")
    q.add_argument("--ensemble", choices=["nve", "nvt"], default="nve", help="default: nve")
    q.add_argument("--temperature", type=float, default=300.0, help="K: initial velocities and thermostat (default: 300)")
    q.add_argument("--steps", type=int, default=1000, help="MD steps (default: 1000)")
    q.add_argument("--timestep", type=float, default=1.0, help="time step in fs (default: 1)")
    q.add_argument("--trajectory", default=None, help="write an ASE trajectory (.traj) to this file")
    q.add_argument("--trajectory-interval", type=int, default=10, help="steps between trajectory frames (default: 10)")
    q.add_argument(
        "--repeat",
        default="auto",
        help="repeat the cell: N or NX,NY,NZ; 'auto' (default) repeats small cells to at least --min-atoms",
    )
    q.add_argument("--min-atoms", type=int, default=300, help="atoms to reach with --repeat auto (default: 300)")
    q.add_argument("--thermostat", choices=["langevin", "bussi"], default="langevin", help="NVT thermostat (default: langevin)")
    q.add_argument("--friction", type=float, default=0.01, help="Langevin friction in 1/fs (default: 0.01)")
    q.add_argument("--taut", type=float, default=100.0, help="Bussi time constant in fs (default: 100)")
    q.add_argument("--seed", type=int, default=0, help="random seed for velocities and thermostat (default: 0)")
    q.add_argument("--log-interval", type=int, default=100, help="steps between progress lines (default: 100)")
    q.add_argument("--progress", action="store_true", help="print progress lines even when stdout is not a terminal")
    q.add_argument("--json", action="store_true", help="print the summary as one JSON object (no progress lines)")
    q.add_argument("--threads", type=int, default=None, help="OpenMP threads (default: all cores)")
    q.set_defaults(func=_cmd_md)
    return p


def _warning_printer(command):
    """warnings.showwarning for a command: 'sus2c CMD: warning: ...' on stderr, each message once
    (two calculators on the same data would otherwise say the same thing twice)."""
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in seen:
            seen.add(text)
            print(f"sus2c {command}: warning: {text}", file=sys.stderr, flush=True)

    return show


def main(argv=None):
    from .model import ModelError

    import warnings

    args = build_parser().parse_args(argv)
    # warnings meant for the user print as one line, not with a source line
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest: f"sus2c {args.command}: warning: {message}\n"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command)
            return args.func(args) or 0
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's exit code for SIGINT
        print(f"\nsus2c {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ModelError, OSError, ValueError, ImportError) as exc:
        if isinstance(exc, BrokenPipeError):  # output piped into e.g. `head`
            sys.stderr.close()
            return 0
        print(f"sus2c {args.command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
