"""Molecular dynamics through ASE with any calculator (``sus2c md``).

NVE: velocity Verlet; the total-energy drift (E_tot(end) - E_tot(start)) / N
and the largest deviation |E_tot(t) - E_tot(0)| / N measure how well the
potential and time step conserve energy.  NVT: Langevin or Bussi (stochastic
velocity rescaling) thermostat.  Initial velocities: Maxwell-Boltzmann at the
requested temperature, centre-of-mass motion removed.  A crystal started on
its lattice sites shares that kinetic energy with the potential energy, so
in NVE its temperature settles near half the starting value.
"""
from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .properties import repeat_for_width
from .records import Record
from .units import EV_PER_A3_TO_GPA

ENSEMBLES = ("nve", "nvt")
THERMOSTATS = ("langevin", "bussi")


class NoInteractionWarning(UserWarning):
    """No atom has a neighbour within the interaction cutoff: the atoms move freely (usually a wrong structure)."""


def interaction_warning(atoms, calc):
    """A message when no atom of ``atoms`` has a neighbour within ``calc``'s interaction cutoff, else None."""
    from .neighbors import neighbor_list
    from .properties import interaction_cutoff

    if len(atoms) == 0:
        return None
    cutoff = interaction_cutoff(calc, atoms)
    _, index, _ = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff, half=True)
    if len(index):
        return None
    vol = atoms.get_volume() / len(atoms) if atoms.pbc.all() else None
    return (
        f"no atom has a neighbour within the interaction cutoff ({cutoff:.3g} Å): the {len(atoms)} atoms never "
        "interact and move in straight lines"
        + (f" ({vol:.4g} Å³ per atom)" if vol is not None else "")
        + "; check the structure (lattice constants are in Å, e.g. fcc:Cu:3.61)"
    )


def parse_repeat(text):
    """'auto' -> None; '5' -> (5, 5, 5); '4,4,6' -> (4, 4, 6)."""
    if text is None or str(text).strip().lower() == "auto":
        return None
    try:
        parts = [int(v) for v in str(text).replace("x", ",").split(",")]
    except ValueError:
        raise ValueError(f"--repeat: expected 'auto', N or NX,NY,NZ, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError(f"--repeat: expected 'auto', N or NX,NY,NZ with N >= 1, got {text!r}")
    return tuple(parts)


def auto_repeat(atoms, min_atoms=300):
    """The most nearly cubic repetition of a periodic cell with at least ``min_atoms`` atoms."""
    if not atoms.pbc.all() or len(atoms) >= min_atoms:
        return (1, 1, 1)
    width = 0.0
    while True:
        reps = repeat_for_width(atoms, width)
        if len(atoms) * int(np.prod(reps)) >= min_atoms:
            return reps
        width += 0.25


def _thermalize(atoms, temperature_k, rng):
    """Maxwell-Boltzmann momenta (ASE >= 3.29 renamed the function)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # pragma: no cover - ASE < 3.29
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    else:
        thermalize_momenta(atoms, temperature_k, rng=rng)


@dataclass
class MDResult(Record):
    ensemble: str
    thermostat: str
    n_atoms: int
    steps: int
    timestep_fs: float
    temperature_target_k: float  # NVT: the thermostat's; NVE: only that of the initial velocities
    temperature_mean_k: float  # over the second half of the run
    temperature_final_k: float
    epot_mean_ev_per_atom: float  # over the second half
    etot_start_ev_per_atom: float
    etot_end_ev_per_atom: float
    drift_ev_per_atom: float  # (E_tot(end) - E_tot(start)) / N
    max_deviation_ev_per_atom: float  # max |E_tot(t) - E_tot(0)| / N
    drift_rate_ev_per_atom_per_ps: float  # slope of a straight-line fit of E_tot(t) / N
    pressure_mean_gpa: float  # sampled at the progress points (None if the calculator has no stress)
    wall_s: float
    steps_per_s: float
    ns_per_day: float
    trajectory: str = None
    series: dict = field(default_factory=dict)  # time_fs, temperature_k, epot/etot_ev_per_atom per step
    first_step_outside: int = None  # first step with atoms outside the model's fitted range (None: never)
    max_atoms_outside: int = 0


def run_md(
    atoms,
    calc,
    ensemble="nve",
    temperature_k=300.0,
    steps=1000,
    timestep_fs=1.0,
    thermostat="langevin",
    friction_per_fs=0.01,
    taut_fs=100.0,
    seed=0,
    trajectory=None,
    trajectory_interval=10,
    log_interval=100,
    progress=None,
    log=None,
    velocities=True,
):
    """Run MD on ``atoms`` (in place) with ``calc``; returns an :class:`MDResult`.

    ``progress``: print a line every ``log_interval`` steps (default: only
    when stdout is a terminal).  ``velocities``: draw Maxwell-Boltzmann
    velocities at ``temperature_k`` (False: keep the atoms' own).
    """
    from ase import units
    from ase.md.velocitydistribution import Stationary
    from ase.md.verlet import VelocityVerlet

    ensemble = ensemble.lower()
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {', '.join(ENSEMBLES)}, got {ensemble!r}")
    if thermostat not in THERMOSTATS:
        raise ValueError(f"thermostat must be one of {', '.join(THERMOSTATS)}, got {thermostat!r}")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if not timestep_fs > 0:
        raise ValueError(f"timestep must be > 0 fs, got {timestep_fs}")
    if temperature_k < 0:
        raise ValueError(f"temperature must be >= 0 K, got {temperature_k}")
    log = log or (lambda msg: print(msg, flush=True))
    if progress is None:
        progress = sys.stdout.isatty()
    rng = np.random.default_rng(seed)
    atoms.calc = calc
    msg = interaction_warning(atoms, calc)
    if msg:
        warnings.warn(msg, NoInteractionWarning, stacklevel=2)
    if velocities:
        _thermalize(atoms, temperature_k, rng)
        Stationary(atoms)
    dt = timestep_fs * units.fs
    if ensemble == "nve":
        dyn = VelocityVerlet(atoms, timestep=dt)
        thermostat = "none"
    elif thermostat == "langevin":
        from ase.md.langevin import Langevin

        from ase.constraints import FixCom

        # ASE >= 3.28: keep the centre of mass with a constraint, not with Langevin's fixcm
        if not any(isinstance(c, FixCom) for c in atoms.constraints):
            atoms.set_constraint(list(atoms.constraints) + [FixCom()])
        dyn = Langevin(atoms, dt, temperature_K=temperature_k, friction=friction_per_fs / units.fs, fixcm=False, rng=rng)
    else:
        from ase.md.bussi import Bussi

        dyn = Bussi(atoms, dt, temperature_K=temperature_k, taut=taut_fs * units.fs, rng=rng)

    n = len(atoms)
    ndof = 3 * n - 3  # centre of mass removed
    epot = np.empty(steps + 1)
    ekin = np.empty(steps + 1)
    pressures = []
    seen = np.zeros(steps + 1, dtype=bool)
    clock = {"t0": time.perf_counter()}

    def temperature(ek):
        return 2.0 * ek / (ndof * units.kB) if ndof > 0 else 0.0

    outside = {"first": None, "most": 0}

    def observe():
        # ASE calls observers after every step and once before the first
        k = dyn.nsteps
        epot[k] = atoms.get_potential_energy()
        ekin[k] = atoms.get_kinetic_energy()
        seen[k] = True
        # the model's domain of validity (sus2c calculators: atoms closer than a
        # first knot or with a density outside the training range)
        n_out = int(getattr(atoms.calc, "n_close_atoms", 0) or 0)
        if n_out:
            outside["most"] = max(outside["most"], n_out)
            if outside["first"] is None:
                outside["first"] = k
                if progress:
                        log(f"step {k}: {n_out} atom(s) left the range the model was fitted on (closer than a "
                        "first knot, or a density outside the training range); energies there are extrapolated")
        if k % log_interval == 0 or k == steps:
            report(k)

    def report(k):
        try:
            p = -float(np.mean(atoms.get_stress(include_ideal_gas=True)[:3])) * EV_PER_A3_TO_GPA
            pressures.append(p)
        except Exception:
            p = None
        if progress:
            el = time.perf_counter() - clock["t0"]
            rate = k / el if el > 0 else float("nan")
            et = (epot[k] + ekin[k]) / n
            line = (
                f"step {k:>8d}/{steps}  t {k * timestep_fs / 1000:8.3f} ps  T {temperature(ekin[k]):8.1f} K  "
                f"Epot {epot[k] / n:11.5f}  Etot {et:11.5f} eV/atom"
            )
            if ensemble == "nve":
                line += f"  drift {et - (epot[0] + ekin[0]) / n:+.2e}"
            if p is not None:
                line += f"  P {p:7.2f} GPa"
            log(line + (f"  {rate:7.1f} steps/s" if k else ""))

    traj = None
    if trajectory:
        from ase.io import Trajectory

        traj = Trajectory(str(trajectory), "w", atoms)
        dyn.attach(traj.write, interval=max(1, int(trajectory_interval)))
    dyn.attach(observe, interval=1)
    clock["t0"] = time.perf_counter()
    t0 = clock["t0"]
    try:
        dyn.run(steps)
    finally:
        if traj is not None:
            traj.close()
    wall = time.perf_counter() - t0
    if not seen.all():  # pragma: no cover - an ASE that calls observers differently
        raise RuntimeError(f"observed {int(seen.sum())} of {steps + 1} MD states")
    etot = (epot + ekin) / n
    tser = 2.0 * ekin / (ndof * units.kB) if ndof > 0 else np.zeros_like(ekin)
    half = steps // 2
    time_fs = np.arange(steps + 1) * timestep_fs
    slope = float(np.polyfit(time_fs / 1000.0, etot, 1)[0]) if steps >= 2 else 0.0
    return MDResult(
        ensemble=ensemble,
        thermostat=thermostat,
        n_atoms=n,
        steps=steps,
        timestep_fs=float(timestep_fs),
        temperature_target_k=float(temperature_k),
        temperature_mean_k=float(tser[half:].mean()),
        temperature_final_k=float(tser[-1]),
        epot_mean_ev_per_atom=float(epot[half:].mean() / n),
        etot_start_ev_per_atom=float(etot[0]),
        etot_end_ev_per_atom=float(etot[-1]),
        drift_ev_per_atom=float(etot[-1] - etot[0]),
        max_deviation_ev_per_atom=float(np.abs(etot - etot[0]).max()),
        drift_rate_ev_per_atom_per_ps=slope,
        pressure_mean_gpa=float(np.mean(pressures)) if pressures else None,
        wall_s=wall,
        steps_per_s=steps / wall if wall > 0 else float("nan"),
        ns_per_day=steps * timestep_fs * 1e-6 / wall * 86400 if wall > 0 else float("nan"),
        trajectory=str(trajectory) if trajectory else None,
        first_step_outside=outside["first"],
        max_atoms_outside=outside["most"],
        series={
            "time_fs": time_fs,
            "temperature_k": tser,
            "epot_ev_per_atom": epot / n,
            "etot_ev_per_atom": etot,
        },
    )


def summary_lines(r: MDResult):
    """The final summary printed by ``sus2c md``."""
    lines = [
        f"{r.ensemble.upper()}"
        + (f" ({r.thermostat} thermostat)" if r.ensemble == "nvt" else "")
        + f": {r.n_atoms} atoms, {r.steps} steps of {r.timestep_fs:g} fs "
        f"({r.steps * r.timestep_fs / 1000:g} ps) in {r.wall_s:.1f} s "
        f"({r.steps_per_s:.0f} steps/s, {r.ns_per_day:.2f} ns/day)",
        # NVE has no target: the temperature is only where the velocities started
        f"  temperature: {'thermostat' if r.ensemble == 'nvt' else 'initial velocities at'} "
        f"{r.temperature_target_k:g} K, mean over 2nd half {r.temperature_mean_k:.1f} K, "
        f"final {r.temperature_final_k:.1f} K",
        f"  potential energy (2nd half mean): {r.epot_mean_ev_per_atom:.6f} eV/atom",
    ]
    if r.pressure_mean_gpa is not None:
        lines.append(f"  pressure (mean of sampled steps): {r.pressure_mean_gpa:.3f} GPa")
    if r.ensemble == "nve":
        lines += [
            f"  total energy drift (end - start): {r.drift_ev_per_atom:+.3e} eV/atom",
            f"  max |E_tot(t) - E_tot(0)|:        {r.max_deviation_ev_per_atom:.3e} eV/atom",
            f"  drift rate (linear fit):          {r.drift_rate_ev_per_atom_per_ps:+.3e} eV/atom/ps",
        ]
    if r.first_step_outside is not None:
        lines.append(f"  left the fitted range at step {r.first_step_outside} (up to {r.max_atoms_outside} atoms "
                     "outside it): results beyond are extrapolations")
    else:
        lines.append("  stayed inside the range the model was fitted on")
    if r.trajectory:
        lines.append(f"  trajectory: {r.trajectory}")
    return lines
