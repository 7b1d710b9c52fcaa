"""Errors of a model against labelled structures (energies, forces, stresses).

>>> from sus2c.data import read_frames
>>> from sus2c.evaluate import evaluate, format_table
>>> result = evaluate("model.json", read_frames("test.xyz"))   # doctest: +SKIP
>>> print(format_table(result))                                 # doctest: +SKIP

Metrics (unweighted; configuration weights only matter for fitting):

- energy: per-atom error ``(E_pred - E_dft) / N`` per structure; MAE and RMSE
  over structures, in meV/atom;
- forces: MAE and RMSE over all Cartesian components of all atoms of the
  structures that have forces, in eV/Å;
- stress: MAE and RMSE over the 6 Voigt components of the structures that have
  a stress and are periodic in all three directions, in GPa.

A quantity without data is None.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .units import EV_PER_A3_TO_GPA

__all__ = ["EV_PER_A3_TO_GPA", "KEYS", "ErrorAccumulator", "errors_of", "evaluate", "format_table"]
KEYS = (
    "energy_mae_mev_per_atom",
    "energy_rmse_mev_per_atom",
    "force_mae_ev_per_a",
    "force_rmse_ev_per_a",
    "stress_mae_gpa",
    "stress_rmse_gpa",
    "n_structures",
    "n_atoms",
)


class ErrorAccumulator:
    """Running sums of |error| and error² for energy per atom, force components and stress."""

    def __init__(self):
        self.n_structures = 0
        self.n_atoms = 0
        self.e = [0, 0.0, 0.0]  # count, sum |d|, sum d²
        self.f = [0, 0.0, 0.0]
        self.s = [0, 0.0, 0.0]

    @staticmethod
    def _add(acc, d):
        d = np.asarray(d, dtype=float).ravel()
        acc[0] += d.size
        acc[1] += float(np.abs(d).sum())
        acc[2] += float((d * d).sum())

    def add_prediction(self, frame, prediction):
        """Add one frame's errors given its prediction (energy, forces, stress)."""
        n = len(frame.atoms)
        de = None if frame.energy is None else (prediction["energy"] - frame.energy) / n
        df = None if frame.forces is None else prediction["forces"] - frame.forces
        ds = None if (frame.stress is None or prediction.get("stress") is None) else prediction["stress"] - frame.stress
        self.add(n, de, df, ds)

    def add(self, n_atoms, de=None, df=None, ds=None):
        self.n_structures += 1
        self.n_atoms += n_atoms
        if de is not None:
            self._add(self.e, de)
        if df is not None:
            self._add(self.f, df)
        if ds is not None:
            self._add(self.s, ds)

    @staticmethod
    def _stats(acc, scale):
        n, sa, s2 = acc
        if n == 0:
            return None, None
        return scale * sa / n, scale * math.sqrt(s2 / n)

    def result(self) -> dict:
        emae, ermse = self._stats(self.e, 1000.0)
        fmae, frmse = self._stats(self.f, 1.0)
        smae, srmse = self._stats(self.s, EV_PER_A3_TO_GPA)
        return {
            "energy_mae_mev_per_atom": emae,
            "energy_rmse_mev_per_atom": ermse,
            "force_mae_ev_per_a": fmae,
            "force_rmse_ev_per_a": frmse,
            "stress_mae_gpa": smae,
            "stress_rmse_gpa": srmse,
            "n_structures": self.n_structures,
            "n_atoms": self.n_atoms,
        }


def errors_of(frames, predictions) -> dict:
    """Energy (meV/atom), force (eV/Å) and stress (GPa) MAE/RMSE of predictions for frames."""
    acc = ErrorAccumulator()
    for fr, p in zip(frames, predictions):
        acc.add_prediction(fr, p)
    return acc.result()


def _calculator(model_or_calc, threads):
    """(calculator, restore) for a Model, a model path or an existing calculator."""
    from ase.calculators.calculator import BaseCalculator

    from .calculator import Calculator

    if isinstance(model_or_calc, BaseCalculator):
        calc = model_or_calc
        if threads is not None and isinstance(calc, Calculator):
            old = calc.threads
            if int(threads) < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            calc.threads = int(threads)
            return calc, lambda: setattr(calc, "threads", old)
        return calc, lambda: None
    return Calculator(model_or_calc, threads=threads), lambda: None


def evaluate(model_or_calc, frames, threads=None, return_predictions=False) -> dict:
    """Energy, force and stress errors of a model on labelled frames.

    Parameters
    ----------
    model_or_calc : a :class:`sus2c.Model`, a model file, or an ASE calculator
        (a sus2c :class:`~sus2c.calculator.Calculator` or any other, e.g. to
        score a reference potential on the same data)
    frames : list of :class:`sus2c.data.Frame` (see :func:`sus2c.data.read_frames`)
    threads : OpenMP threads for the sus2c calculator
    return_predictions : also return, under ``"predictions"``, one dict per
        frame (same order as ``frames``) with ``source``, ``group``,
        ``n_atoms``, predicted ``energy`` (eV), ``forces`` ((N, 3) eV/Å) and
        ``stress`` ((6,) eV/Å³ for fully periodic frames, else None)

    Returns
    -------
    dict with the keys in :data:`KEYS` for all frames, ``"groups"``:
    ``{group name: dict with the same keys}`` in order of first appearance,
    and the model's domain of validity (sus2c calculators only):
    ``"outside"``, one entry ``{source, group, n_atoms, n_atoms_outside}``
    per structure with atoms outside the range the model was fitted on
    (closer than a term's first knot), and ``"inside"``, the errors over the
    other structures (None when every structure is inside).
    """
    from .calculator import CloseContactWarning

    frames = list(frames)
    if not frames:
        raise ValueError("no structures to evaluate")
    calc, restore = _calculator(model_or_calc, threads)
    total = ErrorAccumulator()
    inside = ErrorAccumulator()
    outside = []
    groups: dict[str, ErrorAccumulator] = {}
    predictions = [] if return_predictions else None
    try:
        for frame in frames:
            atoms = frame.atoms.copy()
            atoms.calc = calc
            periodic = bool(np.all(atoms.pbc))
            try:
                with warnings.catch_warnings():
                    # atoms outside the fitted range are reported below, per structure
                    warnings.simplefilter("ignore", CloseContactWarning)
                    energy = float(atoms.get_potential_energy())
                    forces = np.array(atoms.get_forces(), dtype=float)
                    stress = np.array(atoms.get_stress(voigt=True), dtype=float) if periodic else None
            except ValueError as exc:  # e.g. an element the model does not know
                raise ValueError(f"{frame.source or 'frame'}: {exc}") from exc
            n_out = int(getattr(calc, "n_close_atoms", 0) or 0)
            p = {
                "source": frame.source,
                "group": frame.group,
                "n_atoms": len(atoms),
                "energy": energy,
                "forces": forces,
                "stress": stress,
            }
            p["n_atoms_outside"] = n_out
            total.add_prediction(frame, p)
            groups.setdefault(frame.group, ErrorAccumulator()).add_prediction(frame, p)
            if n_out:
                outside.append({"source": frame.source, "group": frame.group, "n_atoms": len(atoms),
                                "n_atoms_outside": n_out})
            else:
                inside.add_prediction(frame, p)
            if predictions is not None:
                predictions.append(p)
    finally:
        restore()
    out = total.result()
    out["groups"] = {name: acc.result() for name, acc in groups.items()}
    out["outside"] = outside
    out["inside"] = inside.result() if outside and inside.n_structures else None
    if predictions is not None:
        out["predictions"] = predictions
    return out


def _fmt(v, width, digits):
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}f}"


def format_table(result) -> str:
    """A fixed-width table: one line per group, then the overall line."""
    rows = [(str(name), r) for name, r in result.get("groups", {}).items()]
    rows.append(("overall", result))
    if result.get("inside"):
        rows.append(("inside fitted range", result["inside"]))
    w = max(8, max(len(name) for name, _ in rows))
    head1 = (
        f"{'group':<{w}} {'structs':>7} {'atoms':>8}  {'E MAE':>8} {'E RMSE':>8}  "
        f"{'F MAE':>8} {'F RMSE':>8}  {'S MAE':>8} {'S RMSE':>8}"
    )
    head2 = (
        f"{'':<{w}} {'':>7} {'':>8}  {'meV/atom':>8} {'meV/atom':>8}  "
        f"{'eV/A':>8} {'eV/A':>8}  {'GPa':>8} {'GPa':>8}"
    )
    lines = [head1, head2, "-" * len(head1)]
    n_groups = len(result.get("groups", {}))
    for k, (name, r) in enumerate(rows):
        if k == n_groups:
            lines.append("-" * len(head1))
        lines.append(
            f"{name:<{w}} {r['n_structures']:>7d} {r['n_atoms']:>8d}  "
            f"{_fmt(r['energy_mae_mev_per_atom'], 8, 3)} {_fmt(r['energy_rmse_mev_per_atom'], 8, 3)}  "
            f"{_fmt(r['force_mae_ev_per_a'], 8, 4)} {_fmt(r['force_rmse_ev_per_a'], 8, 4)}  "
            f"{_fmt(r['stress_mae_gpa'], 8, 3)} {_fmt(r['stress_rmse_gpa'], 8, 3)}"
        )
    outside = result.get("outside") or []
    if outside:
        lines.append(
            f"{len(outside)} of {result['n_structures']} structures have atoms outside the range the model was "
            "fitted on (closer than a term's first knot); 'inside fitted range' leaves them out:"
        )
        for o in outside[:10]:
            lines.append(f"  {o['source'] or '(no source)'}: {o['n_atoms_outside']} of {o['n_atoms']} atoms")
        if len(outside) > 10:
            lines.append(f"  ... and {len(outside) - 10} more (--json lists them all)")
    return "\n".join(lines)
