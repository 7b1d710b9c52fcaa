"""Materials properties from any ASE calculator.

Every function takes an ASE calculator and an :class:`ase.Atoms` and never
looks inside the calculator, so a reference (DFT, EMT, another model) and a
sus2c model are computed by the same code side by side.  Results are
dataclasses whose field names carry their units (``_ev``, ``_angstrom``,
``_angstrom3``, ``_gpa``, ``_thz``, ``_k``, ``_kb``); ``to_dict()`` gives
plain JSON-ready numbers.

- :func:`parse_structure` -- ``"fcc:Cu:3.61"``, ``"bcc:Mo:3.16"``,
  ``"hcp:Ti:2.95"`` (ideal c/a unless ``:c`` is given), ``"diamond:Si:5.43"``,
  ``"sc:Po:3.35"``, or any file ``ase.io.read`` understands.  Cubic lattices
  give the cubic conventional cell.
- :func:`equation_of_state` / :func:`equilibrium` -- E(V) under isotropic
  scaling (ions relaxed where they are free to move), fitted with Vinet or
  third-order Birch-Murnaghan: E0, V0, B, B' and the lattice parameters at V0.
- :func:`elastic_constants` -- the 6x6 C_ij by central differences of the
  calculator's stress under +/- strains of several sizes, ions relaxed at
  every strain; the spread across strain sizes is the convergence check.
  Bulk and shear moduli (Voigt, Reuss, Hill), Young's modulus, Poisson ratio.
- :func:`phonons` -- phonopy finite displacements in a supercell at least
  twice the interaction cutoff wide, band structure along ASE's standard path
  for the primitive cell, DOS on a mesh, harmonic F, S, Cv.
  :func:`frequency_rmse` compares two results on the same q-points.
- :func:`vacancy_formation_energy` -- relaxed (and unrelaxed) at constant
  volume: E_f = E(N-1) - E(N) + mu_X for removing an atom of element X;
  mu_X = E(N)/N for an elemental crystal, given for a compound (refused
  without it).

Units: eV, Å, GPa for elastic quantities, THz for phonon frequencies.
"""
from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .records import Record, plain
from .units import EV_PER_A3_TO_GPA, KJ_PER_MOL_PER_EV, R_J_PER_MOL_K

LATTICES = ("fcc", "bcc", "sc", "diamond", "hcp")


class PropertyError(ValueError):
    """A property cannot be computed as asked; the message says why."""


# --------------------------------------------------------------------------- helpers


def _with_calc(atoms, calc):
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms


def is_cubic(atoms, tol=1e-6) -> bool:
    """True for a cell with three equal, mutually orthogonal edges."""
    lengths = atoms.cell.lengths()
    angles = atoms.cell.angles()
    return bool(np.allclose(lengths, lengths[0], rtol=tol) and np.allclose(angles, 90.0, atol=1e-4))


def _small_blas():
    """One BLAS thread: the optimisers' matrices are tiny, and threaded BLAS on
    busy cores made a 3x3 solve take milliseconds (cell relaxations 10x slower)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def relax_ions(atoms, fmax=1e-4, steps=1000, optimizer="BFGS"):
    """Relax atomic positions at fixed cell; returns (steps taken, converged).

    Does nothing when the largest force is already below ``fmax`` (eV/Å),
    e.g. for atoms fixed by symmetry.
    """
    from ase.optimize import BFGS, FIRE

    f = atoms.get_forces()
    if len(atoms) == 0 or np.sqrt((f * f).sum(axis=1)).max() <= fmax:
        return 0, True
    with _small_blas():
        opt = {"BFGS": BFGS, "FIRE": FIRE}[optimizer](atoms, logfile=None)
        converged = bool(opt.run(fmax=fmax, steps=steps))
    return int(opt.nsteps), converged


def relax_cell(atoms, fmax=1e-4, steps=1000, symmetry=True):
    """Relax positions and cell (shape and volume) with ASE's FrechetCellFilter.

    ``symmetry``: keep the space group of the starting structure (ASE's
    FixSymmetry, through spglib), so numerical noise cannot lower it.
    """
    from ase.optimize import BFGS

    try:
        from ase.filters import FrechetCellFilter as _Filter
    except ImportError:  # pragma: no cover - ASE < 3.23
        from ase.constraints import ExpCellFilter as _Filter
    saved = list(atoms.constraints)
    if symmetry:
        from ase.constraints import FixSymmetry

        atoms.set_constraint(saved + [FixSymmetry(atoms, symprec=1e-4)])
    try:
        with _small_blas():
            opt = BFGS(_Filter(atoms), logfile=None)
            converged = bool(opt.run(fmax=fmax, steps=steps))
    finally:
        atoms.set_constraint(saved)
    return int(opt.nsteps), converged


# --------------------------------------------------------------------------- structures


def parse_structure(spec: str):
    """An :class:`ase.Atoms` from ``lattice:Element:a[:c]`` or a structure file.

    ``lattice`` is fcc, bcc, sc, diamond (cubic conventional cells: 4, 2, 1, 8
    atoms) or hcp (2 atoms, ideal c/a = sqrt(8/3) unless c is given); ``a``
    and ``c`` in Å.  Anything else is read with ``ase.io.read`` (the last
    frame of a trajectory).
    """
    from ase.build import bulk

    spec = str(spec)
    parts = spec.split(":")
    if parts[0].lower() in LATTICES and not os.path.exists(spec):
        lattice = parts[0].lower()
        if len(parts) not in (3, 4) or (len(parts) == 4 and lattice != "hcp"):
            raise PropertyError(
                f"structure {spec!r}: expected lattice:Element:a (hcp also lattice:Element:a:c), e.g. bcc:Mo:3.16"
            )
        element = parts[1]
        from ase.data import atomic_numbers

        if element not in atomic_numbers:
            raise PropertyError(f"structure {spec!r}: unknown element {element!r}")
        try:
            a = float(parts[2])
            c = float(parts[3]) if len(parts) == 4 else None
        except ValueError:
            raise PropertyError(f"structure {spec!r}: lattice parameters must be numbers in Å") from None
        if not a > 0 or (c is not None and not c > 0):
            raise PropertyError(f"structure {spec!r}: lattice parameters must be > 0")
        if lattice == "hcp":
            return bulk(element, "hcp", a=a, c=c if c is not None else a * math.sqrt(8.0 / 3.0))
        return bulk(element, lattice, a=a, cubic=True)
    if not os.path.exists(spec):
        raise PropertyError(
            f"structure {spec!r}: neither lattice:Element:a ({', '.join(LATTICES)}) nor an existing file"
        )
    from ase.io import read

    atoms = read(spec)
    atoms.calc = None
    return atoms


def load_calculator(spec, threads=None):
    """(calculator, label) from 'emt' (ASE's EMT) or a sus2c model file."""
    if str(spec).lower() == "emt":
        from ase.calculators.emt import EMT

        return EMT(), "EMT"
    from .calculator import Calculator
    from .model import Model

    label = "sus2c" if isinstance(spec, Model) else os.path.basename(str(spec))
    return Calculator(spec, threads=threads), label


def check_elements(calc, atoms):
    """Raise a clear error when a calculator cannot handle the elements of ``atoms``."""
    symbols = sorted(set(atoms.get_chemical_symbols()))
    model = getattr(calc, "model", None)
    if model is not None and hasattr(model, "elements"):
        missing = [s for s in symbols if s not in model.elements]
        if missing:
            raise PropertyError(f"element(s) {', '.join(missing)} not in the model (elements: {', '.join(model.elements)})")
    if type(calc).__name__ == "EMT":
        from ase.calculators.emt import parameters

        missing = [s for s in symbols if s not in parameters]
        if missing:
            raise PropertyError(f"ASE's EMT has no parameters for {', '.join(missing)} (it knows {', '.join(parameters)})")


def interaction_cutoff(calc, atoms=None, default=6.0) -> float:
    """The longest distance a calculator's atoms interact over (Å), as well as it can be told.

    sus2c models: the model cutoff; ASE's EMT: its neighbour cutoff (known
    after one calculation on ``atoms``); calculators with a ``cutoff`` or
    ``rc`` parameter: that; otherwise ``default``.
    """
    model = getattr(calc, "model", None)
    if model is not None and hasattr(model, "cutoff"):
        return float(model.cutoff)
    if atoms is not None and not hasattr(calc, "rc"):
        try:
            _with_calc(atoms, calc).get_potential_energy()
        except Exception:  # pragma: no cover - the calculator will complain again later
            pass
    for name in ("rc", "cutoff", "r_cut"):
        v = getattr(calc, name, None)
        if v is None:
            v = getattr(calc, "parameters", {}).get(name) if hasattr(calc, "parameters") else None
        if isinstance(v, (int, float)) and v > 0:
            return float(v)
    return float(default)


def repeat_for_width(atoms, width) -> tuple:
    """Smallest repetition (n1, n2, n3) whose cell is at least ``width`` Å wide in every direction.

    Widths are perpendicular heights (volume / area of the opposite face),
    which for a triclinic cell are shorter than the edges.
    """
    cell = atoms.cell.array
    vol = abs(np.linalg.det(cell))
    heights = [vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)]
    return tuple(max(1, int(math.ceil(width / h - 1e-9))) for h in heights)


# --------------------------------------------------------------------------- EOS


def vinet(v, e0, b0, bp, v0):
    """Vinet E(V); B0 in eV/Å³."""
    eta = (v / v0) ** (1.0 / 3.0)
    return e0 + 2.0 * b0 * v0 / (bp - 1.0) ** 2 * (
        2.0 - (5.0 + 3.0 * bp * (eta - 1.0) - 3.0 * eta) * np.exp(-1.5 * (bp - 1.0) * (eta - 1.0))
    )


def birch_murnaghan(v, e0, b0, bp, v0):
    """Third-order Birch-Murnaghan E(V); B0 in eV/Å³."""
    x = (v0 / v) ** (2.0 / 3.0) - 1.0
    return e0 + 9.0 * v0 * b0 / 16.0 * (x**3 * bp + x**2 * (6.0 - 4.0 * (v0 / v) ** (2.0 / 3.0)))


EOS_FORMS = {"vinet": vinet, "birchmurnaghan": birch_murnaghan}


def fit_eos(volumes, energies, form="vinet"):
    """Fit E(V) with ``form`` ('vinet' or 'birchmurnaghan'); returns (E0, B0 [eV/Å³], B', V0, rms residual)."""
    from scipy.optimize import least_squares

    if form not in EOS_FORMS:
        raise PropertyError(f"EOS form must be one of {sorted(EOS_FORMS)}, got {form!r}")
    v = np.asarray(volumes, dtype=float)
    e = np.asarray(energies, dtype=float)
    if len(v) < 5:
        raise PropertyError("an EOS fit needs at least 5 volumes")
    c2, c1, c0 = np.polyfit(v, e, 2)
    if c2 <= 0:
        raise PropertyError("E(V) has no minimum in the sampled range (not convex): cannot fit an EOS")
    v0 = -c1 / (2 * c2)
    p0 = [c0 + c1 * v0 + c2 * v0 * v0, 2 * c2 * v0, 4.0, v0]
    f = EOS_FORMS[form]
    scale = max(np.ptp(e), 1e-12)
    res = least_squares(
        lambda p: (f(v, *p) - e) / scale,
        p0,
        x_scale=[scale, abs(p0[1]), 1.0, v0],
        xtol=1e-15,
        ftol=1e-15,
        gtol=1e-15,
        max_nfev=20000,
    )
    e0, b0, bp, v0 = res.x
    rms = float(np.sqrt(np.mean((f(v, *res.x) - e) ** 2)))
    return float(e0), float(b0), float(bp), float(v0), rms


@dataclass
class EOSResult(Record):
    form: str
    n_atoms: int
    e0_ev_per_atom: float
    v0_angstrom3_per_atom: float
    b_gpa: float
    bp: float  # dB/dP, dimensionless
    a0_angstrom: float  # first cell edge at V0 (the lattice constant of a cubic conventional cell)
    c0_angstrom: float  # third cell edge at V0 (c of hcp)
    fit_rms_mev_per_atom: float
    volumes_angstrom3_per_atom: np.ndarray
    energies_ev_per_atom: np.ndarray
    max_ion_relax_steps: int
    other_form: dict = field(default_factory=dict)  # the same data fitted with the other EOS form

    def energy(self, v_per_atom):
        """The fitted E(V) per atom at volumes per atom."""
        return EOS_FORMS[self.form](
            np.asarray(v_per_atom, dtype=float), self.e0_ev_per_atom, self.b_gpa / EV_PER_A3_TO_GPA, self.bp,
            self.v0_angstrom3_per_atom,
        )


def _scaled(atoms, s):
    a = atoms.copy()
    a.set_cell(atoms.cell.array * s, scale_atoms=True)
    return a


def eos_points(calc, atoms, volume_range=0.06, n=11, relax=True, fmax=1e-4):
    """Energies (eV) at ``n`` volumes from (1-range) V to (1+range) V by isotropic scaling.

    Ions are relaxed at fixed cell at every volume when forces exceed ``fmax``.
    Returns (volumes, energies, largest number of relaxation steps).
    """
    v_in = atoms.get_volume()
    volumes = v_in * np.linspace(1.0 - volume_range, 1.0 + volume_range, n)
    energies, max_steps = [], 0
    for v in volumes:
        a = _with_calc(_scaled(atoms, (v / v_in) ** (1.0 / 3.0)), calc)
        if relax:
            steps, _ = relax_ions(a, fmax)
            max_steps = max(max_steps, steps)
        energies.append(a.get_potential_energy())
    return volumes, np.array(energies), max_steps


def equation_of_state(calc, atoms, form="vinet", volume_range=0.06, n=11, relax=True, fmax=1e-4, max_passes=8):
    """EOS around the energy minimum under isotropic scaling of ``atoms``' cell.

    The sampled window is re-centred on the fitted V0 (up to ``max_passes``
    times) until V0 lies in its middle third, so the input lattice constant
    only needs to be roughly right.  Returns (EOSResult, atoms scaled to V0).
    """
    if not atoms.pbc.all():
        raise PropertyError("an equation of state needs a cell periodic in all three directions")
    work = atoms.copy()
    n_at = len(work)
    for _ in range(max_passes):
        vols, ens, steps = eos_points(calc, work, volume_range, n, relax, fmax)
        imin = int(np.argmin(ens))
        if imin in (0, len(ens) - 1):
            # minimum outside the window: centre the next window a half window beyond its edge
            target = vols[imin] * (1.0 + (volume_range if imin else -volume_range))
            work = _scaled(work, (target / work.get_volume()) ** (1.0 / 3.0))
            continue
        e0, b0, bp, v0, rms = fit_eos(vols, ens, form)
        v_in = work.get_volume()
        if abs(v0 / v_in - 1.0) <= volume_range / 3.0:
            break
        work = _scaled(work, (v0 / v_in) ** (1.0 / 3.0))
    else:
        raise PropertyError(
            f"no energy minimum found within {max_passes} EOS windows of +/-{volume_range:.0%} volume "
            f"(last window {vols[0] / n_at:.2f}-{vols[-1] / n_at:.2f} Å³/atom): is the structure stable "
            "under this potential, and the lattice constant roughly right?"
        )
    other = "birchmurnaghan" if form == "vinet" else "vinet"
    try:
        oe0, ob0, obp, ov0, orms = fit_eos(vols, ens, other)
        other_fit = {
            "form": other,
            "e0_ev_per_atom": oe0 / n_at,
            "v0_angstrom3_per_atom": ov0 / n_at,
            "b_gpa": ob0 * EV_PER_A3_TO_GPA,
            "bp": obp,
            "fit_rms_mev_per_atom": 1000.0 * orms / n_at,
        }
    except (PropertyError, ValueError, FloatingPointError) as exc:  # pragma: no cover - a cross-check only
        other_fit = {"form": other, "error": str(exc)}
    s = (v0 / atoms.get_volume()) ** (1.0 / 3.0)
    eq = _scaled(atoms, s)
    if relax:
        eq = _with_calc(eq, calc)
        relax_ions(eq, fmax)
        eq.calc = None
    lengths = eq.cell.lengths()
    res = EOSResult(
        form=form,
        n_atoms=n_at,
        e0_ev_per_atom=e0 / n_at,
        v0_angstrom3_per_atom=v0 / n_at,
        b_gpa=b0 * EV_PER_A3_TO_GPA,
        bp=bp,
        a0_angstrom=float(lengths[0]),
        c0_angstrom=float(lengths[2]),
        fit_rms_mev_per_atom=1000.0 * rms / n_at,
        volumes_angstrom3_per_atom=vols / n_at,
        energies_ev_per_atom=ens / n_at,
        max_ion_relax_steps=steps,
        other_form=other_fit,
    )
    return res, eq


def equilibrium(calc, atoms, form="vinet", relax_shape=None, fmax=1e-4, **eos_kwargs):
    """Equilibrium structure and EOS: (EOSResult, relaxed atoms without calculator).

    ``relax_shape`` (default: for every non-cubic cell) first relaxes cell
    shape and ions together; the EOS then scales that shape isotropically.
    """
    work = atoms.copy()
    if relax_shape is None:
        relax_shape = not is_cubic(work)
    if relax_shape:
        work.calc = calc
        relax_cell(work, fmax=max(fmax, 1e-3))
        work.calc = None
    return equation_of_state(calc, work, form=form, fmax=fmax, **eos_kwargs)


# --------------------------------------------------------------------------- elastic constants

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def strain_matrix(component: int, size: float) -> np.ndarray:
    """The symmetric strain tensor of Voigt ``component`` (0..5) with engineering strain ``size``."""
    i, j = VOIGT[component]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = size
    else:
        eps[i, j] = eps[j, i] = size / 2.0
    return eps


def strained(atoms, eps):
    """``atoms`` with cell and positions deformed by (1 + eps)."""
    a = atoms.copy()
    a.set_cell(atoms.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
    return a


def moduli(c_gpa):
    """Bulk, shear and Young's moduli (Voigt, Reuss, Hill) and Poisson ratio from a 6x6 C (GPa)."""
    C = np.asarray(c_gpa, dtype=float)
    bv = (C[0, 0] + C[1, 1] + C[2, 2] + 2 * (C[0, 1] + C[0, 2] + C[1, 2])) / 9.0
    gv = (C[0, 0] + C[1, 1] + C[2, 2] - (C[0, 1] + C[0, 2] + C[1, 2]) + 3 * (C[3, 3] + C[4, 4] + C[5, 5])) / 15.0
    try:
        S = np.linalg.inv(C)
        br = 1.0 / (S[0, 0] + S[1, 1] + S[2, 2] + 2 * (S[0, 1] + S[0, 2] + S[1, 2]))
        gr = 15.0 / (4 * (S[0, 0] + S[1, 1] + S[2, 2]) - 4 * (S[0, 1] + S[0, 2] + S[1, 2]) + 3 * (S[3, 3] + S[4, 4] + S[5, 5]))
    except np.linalg.LinAlgError:
        br = gr = float("nan")
    bh, gh = (bv + br) / 2.0, (gv + gr) / 2.0
    young = 9 * bh * gh / (3 * bh + gh)
    poisson = (3 * bh - 2 * gh) / (2 * (3 * bh + gh))
    eig = np.linalg.eigvalsh((C + C.T) / 2.0)
    return {
        "bulk_voigt_gpa": bv,
        "bulk_reuss_gpa": br,
        "bulk_hill_gpa": bh,
        "shear_voigt_gpa": gv,
        "shear_reuss_gpa": gr,
        "shear_hill_gpa": gh,
        "young_hill_gpa": young,
        "poisson_hill": poisson,
        "mechanically_stable": bool(eig.min() > 0),
    }


@dataclass
class ElasticResult(Record):
    c_gpa: np.ndarray  # 6x6, Voigt order xx yy zz yz xz xy, symmetrised, averaged over strain sizes
    strains: tuple  # engineering strain sizes used (each applied + and -)
    c_by_strain_gpa: np.ndarray  # (n_strains, 6, 6), unsymmetrised
    spread_gpa: float  # largest (max - min) of any C_ij across strain sizes: the convergence check
    asymmetry_gpa: float  # largest |C_ij - C_ji|
    residual_pressure_gpa: float  # -trace(stress)/3 of the unstrained cell
    max_ion_relax_steps: int
    crystal: str  # 'cubic', 'hexagonal' or 'other' (from the cell)
    named_gpa: dict  # C11, C12, C44 (cubic) or C11, C12, C13, C33, C44, C66 (hexagonal)
    moduli: dict  # Voigt/Reuss/Hill bulk, shear, Young's modulus (GPa), Poisson ratio
    named_by_strain_gpa: dict  # every named constant at every strain size
    converged: bool  # spread below max(1 GPa, 2 % of the largest |C_ij|)


def _named(C, crystal):
    if crystal == "cubic":
        d = {
            "C11": np.mean([C[0, 0], C[1, 1], C[2, 2]]),
            "C12": np.mean([C[0, 1], C[0, 2], C[1, 2], C[1, 0], C[2, 0], C[2, 1]]),
            "C44": np.mean([C[3, 3], C[4, 4], C[5, 5]]),
        }
        d["C'"] = (d["C11"] - d["C12"]) / 2.0
        d["zener_anisotropy"] = 2 * d["C44"] / (d["C11"] - d["C12"]) if d["C11"] != d["C12"] else float("nan")
        return d
    if crystal == "hexagonal":
        return {
            "C11": (C[0, 0] + C[1, 1]) / 2,
            "C12": (C[0, 1] + C[1, 0]) / 2,
            "C13": np.mean([C[0, 2], C[1, 2], C[2, 0], C[2, 1]]),
            "C33": C[2, 2],
            "C44": (C[3, 3] + C[4, 4]) / 2,
            "C66": C[5, 5],
        }
    return {}


def _crystal(atoms):
    if is_cubic(atoms):
        return "cubic"
    a, b, c, al, be, ga = atoms.cell.cellpar()
    if abs(a - b) < 1e-6 * a and abs(al - 90) < 1e-4 and abs(be - 90) < 1e-4 and abs(ga - 120) < 1e-4:
        # ASE's hcp cell: a1 along x, c along z, so C is in the standard hexagonal frame
        cell = atoms.cell.array
        if abs(cell[2, 0]) < 1e-8 and abs(cell[2, 1]) < 1e-8:
            return "hexagonal"
    return "other"


def elastic_constants(calc, atoms, strains=(0.0025, 0.005, 0.01), relax=True, fmax=1e-4):
    """Elastic constants (GPa) by finite strain with relaxed ions.

    For every Voigt component and every strain size δ, the cell is deformed
    by +δ and -δ (engineering strain for the shear components), ions are
    relaxed at fixed cell, and C_ij = (σ_i(+δ) - σ_i(-δ)) / 2δ with the
    calculator's stress (ASE sign: positive in tension, so σ = C ε).
    ``atoms`` should be at equilibrium (see :func:`equilibrium`).
    """
    if not atoms.pbc.all():
        raise PropertyError("elastic constants need a cell periodic in all three directions")
    strains = tuple(float(s) for s in strains)
    if not strains or min(strains) <= 0:
        raise PropertyError("strain sizes must be > 0")
    base = _with_calc(atoms, calc)
    s0 = base.get_stress(voigt=True)
    per = np.zeros((len(strains), 6, 6))
    max_steps = 0
    for k, d in enumerate(strains):
        for j in range(6):
            sig = []
            for sign in (1.0, -1.0):
                a = _with_calc(strained(atoms, strain_matrix(j, sign * d)), calc)
                if relax:
                    steps, _ = relax_ions(a, fmax)
                    max_steps = max(max_steps, steps)
                sig.append(a.get_stress(voigt=True))
            per[k, :, j] = (sig[0] - sig[1]) / (2 * d) * EV_PER_A3_TO_GPA
    mean = per.mean(axis=0)
    C = (mean + mean.T) / 2.0
    crystal = _crystal(atoms)
    spread = float(np.max(per.max(axis=0) - per.min(axis=0)))
    named_by = {}
    for k, d in enumerate(strains):
        for name, v in _named(per[k], crystal).items():
            named_by.setdefault(name, []).append(float(v))
    return ElasticResult(
        c_gpa=C,
        strains=strains,
        c_by_strain_gpa=per,
        spread_gpa=spread,
        asymmetry_gpa=float(np.max(np.abs(mean - mean.T))),
        residual_pressure_gpa=float(-s0[:3].mean() * EV_PER_A3_TO_GPA),
        max_ion_relax_steps=max_steps,
        crystal=crystal,
        named_gpa={k: float(v) for k, v in _named(C, crystal).items()},
        moduli=moduli(C),
        named_by_strain_gpa=named_by,
        converged=bool(spread <= max(1.0, 0.02 * np.abs(C).max())),
    )


# --------------------------------------------------------------------------- phonons


@dataclass
class PhononResult(Record):
    supercell: tuple  # repetition of the input cell
    n_supercell_atoms: int
    cutoff_angstrom: float  # interaction cutoff used to choose the supercell
    displacement_angstrom: float
    n_displacements: int
    primitive_cell_angstrom: np.ndarray
    n_primitive_atoms: int
    band_path: str  # ASE special-point path, e.g. GXWKGLUWLK,UX
    band_qpoints: np.ndarray  # fractional, in the primitive reciprocal basis
    band_x: np.ndarray  # ASE linear axis (1/Å) of the q-points
    band_special_x: np.ndarray
    band_labels: list
    band_frequencies_thz: np.ndarray  # (n_q, n_bands)
    mesh: tuple
    mesh_qpoints: np.ndarray
    mesh_weights: np.ndarray
    mesh_frequencies_thz: np.ndarray
    dos_frequencies_thz: np.ndarray
    dos_states_per_thz: np.ndarray  # per primitive cell
    temperatures_k: np.ndarray
    free_energy_ev_per_atom: np.ndarray  # harmonic, zero-point energy included
    entropy_kb_per_atom: np.ndarray
    heat_capacity_kb_per_atom: np.ndarray  # C_v
    zero_point_energy_ev_per_atom: float
    max_frequency_thz: float
    min_frequency_thz: float  # negative = imaginary (phonopy's convention)


def _phonopy_atoms(atoms):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=atoms.cell.array,
        scaled_positions=atoms.get_scaled_positions(),
        masses=atoms.get_masses(),
    )


def _ase_atoms(patoms):
    from ase import Atoms

    return Atoms(
        symbols=list(patoms.symbols),
        cell=patoms.cell,
        scaled_positions=patoms.scaled_positions,
        masses=patoms.masses,
        pbc=True,
    )


def phonons(
    calc,
    atoms,
    supercell=None,
    cutoff=None,
    width_factor=2.0,
    distance=0.01,
    band_npoints=150,
    band_from=None,
    mesh=(20, 20, 20),
    temperatures=(100.0, 300.0, 500.0, 1000.0),
    symprec=1e-5,
):
    """Harmonic phonons by phonopy's finite displacements.

    ``supercell``: repetition of ``atoms`` (3 integers or a 3x3 matrix);
    default: the smallest whose perpendicular widths are all at least
    ``width_factor`` x ``cutoff`` (cutoff: :func:`interaction_cutoff`), so
    the forces from one displaced atom do not reach its periodic images.
    Displacements of ``distance`` Å in both directions; forces of the
    undisplaced supercell are subtracted.  The band structure follows ASE's
    standard path for the primitive cell; ``band_from`` (another
    :class:`PhononResult`) reuses its fractional q-points, axis and labels
    instead, so two calculators can be compared on the very same q-points.
    """
    from ase.cell import Cell
    from phonopy import Phonopy

    if not atoms.pbc.all():
        raise PropertyError("phonons need a cell periodic in all three directions")
    if cutoff is None:
        cutoff = interaction_cutoff(calc, atoms)
    if supercell is None:
        supercell = repeat_for_width(atoms, width_factor * cutoff)
    sc = np.asarray(supercell, dtype=int)
    sc_matrix = np.diag(sc) if sc.ndim == 1 else sc
    with warnings.catch_warnings():
        # phonopy 4 warns that "auto" (what we want: the primitive cell) changed from v3's default
        warnings.filterwarnings("ignore", message=".*primitive_matrix.*")
        ph = Phonopy(_phonopy_atoms(atoms), supercell_matrix=sc_matrix, primitive_matrix="auto", symprec=symprec)
    ph.generate_displacements(distance=distance, is_plusminus=True)
    perfect = _with_calc(_ase_atoms(ph.supercell), calc)
    f0 = perfect.get_forces()
    forces = []
    for disp in ph.supercells_with_displacements:
        a = _with_calc(_ase_atoms(disp), calc)
        forces.append(a.get_forces() - f0)
    ph.forces = np.array(forces)
    ph.produce_force_constants(show_drift=False)
    ph.symmetrize_force_constants()

    prim = ph.primitive
    n_prim = len(prim.symbols)
    if band_from is None:
        bp = Cell(prim.cell).bandpath(npoints=band_npoints)
        qpts = np.asarray(bp.kpts)
        x, sx, labels = bp.get_linear_kpoint_axis()
        path = bp.path
    else:
        def shape(c):
            c = np.asarray(c, dtype=float)
            return c / abs(np.linalg.det(c)) ** (1.0 / 3.0)

        if band_from.n_primitive_atoms != n_prim or not np.allclose(
            shape(band_from.primitive_cell_angstrom), shape(prim.cell), atol=0.05
        ):
            raise PropertyError("band_from: a phonon result for a differently shaped primitive cell")
        qpts = np.asarray(band_from.band_qpoints, dtype=float)
        x, sx, labels, path = band_from.band_x, band_from.band_special_x, band_from.band_labels, band_from.band_path
    ph.run_qpoints(qpts)
    band = np.array(ph.qpoints.frequencies)

    ph.run_mesh(list(mesh), is_gamma_center=True)
    mesh_q, mesh_w, mesh_f = (np.array(v) for v in (ph.mesh.qpoints, ph.mesh.weights, ph.mesh.frequencies))
    ph.run_total_dos()
    dos_f, dos = np.array(ph.total_dos.frequency_points), np.array(ph.total_dos.dos)
    # the three zero-frequency acoustic modes at Gamma carry no thermal weight
    ph.run_thermal_properties(temperatures=list(temperatures), exclude_gamma_acoustic=True)
    tp = ph.thermal_properties
    # phonopy: kJ/mol and J/K/mol per primitive cell
    fe = np.array(tp.free_energy) / KJ_PER_MOL_PER_EV / n_prim
    s = np.array(tp.entropy) / R_J_PER_MOL_K / n_prim
    cv = np.array(tp.heat_capacity) / R_J_PER_MOL_K / n_prim
    zpe = float(tp.zero_point_energy) / KJ_PER_MOL_PER_EV / n_prim
    allf = np.concatenate([band.ravel(), mesh_f.ravel()])
    return PhononResult(
        supercell=tuple(int(v) for v in np.diag(sc_matrix)) if sc.ndim == 1 else tuple(map(tuple, sc_matrix.tolist())),
        n_supercell_atoms=len(ph.supercell.symbols),
        cutoff_angstrom=float(cutoff),
        displacement_angstrom=float(distance),
        n_displacements=len(forces),
        primitive_cell_angstrom=np.asarray(prim.cell),
        n_primitive_atoms=n_prim,
        band_path=path,
        band_qpoints=qpts,
        band_x=np.asarray(x),
        band_special_x=np.asarray(sx),
        band_labels=list(labels),
        band_frequencies_thz=band,
        mesh=tuple(int(m) for m in mesh),
        mesh_qpoints=mesh_q,
        mesh_weights=mesh_w,
        mesh_frequencies_thz=mesh_f,
        dos_frequencies_thz=dos_f,
        dos_states_per_thz=dos,
        temperatures_k=np.array(tp.temperatures),
        free_energy_ev_per_atom=fe,
        entropy_kb_per_atom=s,
        heat_capacity_kb_per_atom=cv,
        zero_point_energy_ev_per_atom=zpe,
        max_frequency_thz=float(allf.max()),
        min_frequency_thz=float(allf.min()),
    )


def frequency_rmse(result: PhononResult, reference: PhononResult) -> dict:
    """RMS difference of phonon frequencies (THz) on the same q-points.

    Bands are compared in ascending order at every q-point, along the band
    path and on the mesh (weighted by the irreducible q-point weights).
    """
    out = {}
    for name, attr in (("band", "band_frequencies_thz"), ("mesh", "mesh_frequencies_thz")):
        a, b = getattr(result, attr), getattr(reference, attr)
        qa, qb = getattr(result, f"{name}_qpoints"), getattr(reference, f"{name}_qpoints")
        if a.shape != b.shape or not np.allclose(qa, qb, atol=1e-8):
            raise PropertyError(
                f"phonon {name} q-points differ between the two results: compute both with the "
                "same structure type, mesh and band q-points"
            )
        d = np.sort(a, axis=1) - np.sort(b, axis=1)
        if name == "mesh":
            w = np.asarray(result.mesh_weights, dtype=float)
            out["mesh_rmse_thz"] = float(np.sqrt((w[:, None] * d * d).sum() / (w.sum() * d.shape[1])))
            out["mesh_max_abs_thz"] = float(np.abs(d).max())
        else:
            out["band_rmse_thz"] = float(np.sqrt(np.mean(d * d)))
            out["band_max_abs_thz"] = float(np.abs(d).max())
    return out


# --------------------------------------------------------------------------- vacancy


@dataclass
class VacancyResult(Record):
    supercell: tuple
    n_atoms: int  # of the perfect supercell
    removed_index: int  # in the unit cell (and the supercell: its first copy)
    e_bulk_ev: float
    formation_energy_unrelaxed_ev: float
    formation_energy_ev: float  # relaxed ions, fixed cell
    relaxation_energy_ev: float
    relax_steps: int
    relax_converged: bool
    removed_element: str = ""
    removed_position_fractional: tuple = ()  # in the unit cell
    chemical_potential_ev: float = None  # mu of the removed element
    chemical_potential_source: str = ""  # "E(N)/N of the perfect crystal", or where the given mu came from

    def site(self) -> str:
        """'atom 0 (Cu at 0, 0, 0)': which atom of the unit cell was removed."""
        frac = ", ".join(f"{round(x, 4) + 0.0:g}" for x in self.removed_position_fractional)
        return f"atom {self.removed_index} ({self.removed_element} at {frac})"


def vacancy_site(atoms, index=0):
    """(index, element) of the unit-cell atom a vacancy removes (negative indices count from the end)."""
    if not -len(atoms) <= int(index) < len(atoms):
        raise PropertyError(f"vacancy: atom index {index} is outside the unit cell ({len(atoms)} atoms)")
    index = int(index) % len(atoms)
    return index, atoms.get_chemical_symbols()[index]


def check_vacancy_reference(atoms, index=0):
    """Refuse a vacancy in a compound without a chemical potential (the message says what to give)."""
    index, element = vacancy_site(atoms, index)
    if len(set(atoms.get_chemical_symbols())) > 1:
        raise PropertyError(
            f"vacancy formation energy of the compound {atoms.get_chemical_formula()}: removing atom {index} "
            f"({element}) needs the chemical potential of {element} (the energy of a {element} atom in the "
            f"reservoir it goes to, from the same calculator); E(N)/N would mix the elements. Give it (sus2c "
            f"validate --chemical-potential {element}=fcc:{element}:A for the relaxed elemental crystal, or "
            f"{element}=EV)"
        )


def vacancy_formation_energy(calc, atoms, supercell=None, cutoff=None, width_factor=2.0, index=0, fmax=1e-3, steps=500,
                             chemical_potential=None, chemical_potential_source="given"):
    """Vacancy formation energy at constant volume: E_f = E(N-1) - E(N) + mu_X.

    ``atoms`` is the equilibrium unit cell; the supercell defaults to the
    smallest at least ``width_factor`` x cutoff wide (as for phonons), so the
    vacancy does not interact with its own images within the cutoff.  Atom
    ``index`` of the unit cell (element X) is removed.  ``chemical_potential``
    is mu_X in eV, the energy of the removed atom in the reservoir it goes
    to, computed with the same calculator (e.g. per atom of X's elemental
    crystal); ``chemical_potential_source`` says where it came from.  For an
    elemental crystal it defaults to E(N)/N, which gives the usual
    E(N-1) - (N-1)/N E(N); a compound has no such default and is refused
    without it (E(N)/N would average over its elements).
    """
    index, element = vacancy_site(atoms, index)
    if chemical_potential is None:
        check_vacancy_reference(atoms, index)
    if chemical_potential is not None and not math.isfinite(float(chemical_potential)):
        raise PropertyError(f"vacancy: the chemical potential of {element} must be a finite energy (eV), "
                            f"got {chemical_potential!r}")
    frac = tuple(float(x) for x in np.round(atoms.get_scaled_positions(wrap=False)[index], 10))
    if supercell is None:
        if cutoff is None:
            cutoff = interaction_cutoff(calc, atoms)
        supercell = repeat_for_width(atoms, width_factor * cutoff)
    supercell = tuple(int(v) for v in supercell)
    bulk = _with_calc(atoms.repeat(supercell), calc)
    n = len(bulk)
    e_bulk = bulk.get_potential_energy()
    defect = atoms.repeat(supercell)
    del defect[index]  # the first copy of the unit cell comes first in the supercell
    defect = _with_calc(defect, calc)
    e_unrel = defect.get_potential_energy()
    nsteps, conv = relax_ions(defect, fmax=fmax, steps=steps, optimizer="BFGS")
    e_rel = defect.get_potential_energy()
    if chemical_potential is None:
        mu, source = e_bulk / n, "E(N)/N of the perfect crystal"
    else:
        mu, source = float(chemical_potential), str(chemical_potential_source)
    ref = e_bulk - mu
    return VacancyResult(
        supercell=supercell,
        n_atoms=n,
        removed_index=index,
        e_bulk_ev=float(e_bulk),
        formation_energy_unrelaxed_ev=float(e_unrel - ref),
        formation_energy_ev=float(e_rel - ref),
        relaxation_energy_ev=float(e_rel - e_unrel),
        relax_steps=nsteps,
        relax_converged=conv,
        removed_element=element,
        removed_position_fractional=frac,
        chemical_potential_ev=float(mu),
        chemical_potential_source=source,
    )


# --------------------------------------------------------------------------- all together


@dataclass
class Properties(Record):
    """Everything :func:`compute_properties` found for one calculator."""

    name: str
    structure: str
    eos: EOSResult = None
    elastic: ElasticResult = None
    phonons: PhononResult = None
    vacancy: VacancyResult = None
    equilibrium_cell_angstrom: np.ndarray = None
    timings_s: dict = field(default_factory=dict)


ALL_PROPERTIES = ("eos", "elastic", "phonons", "vacancy")


def compute_properties(
    calc,
    atoms,
    name="",
    which=ALL_PROPERTIES,
    form="vinet",
    strains=(0.0025, 0.005, 0.01),
    supercell=None,
    cutoff=None,
    band_from=None,
    mesh=(20, 20, 20),
    temperatures=(100.0, 300.0, 500.0, 1000.0),
    fmax=1e-4,
    eos=None,
    log=None,
    vacancy_index=0,
    chemical_potential=None,
    chemical_potential_source="given",
):
    """EOS (always: it gives the equilibrium structure), then elastic constants, phonons, vacancy.

    ``eos``: an (EOSResult, equilibrium atoms) pair from :func:`equilibrium`
    already computed for this calculator; ``supercell``, ``cutoff`` and
    ``band_from`` go to :func:`phonons` (and the supercell and cutoff to
    :func:`vacancy_formation_energy`, with ``vacancy_index`` and the
    ``chemical_potential`` of that atom's element, in eV, for this calculator).
    """
    log = log or (lambda *a, **k: None)
    unknown = set(which) - set(ALL_PROPERTIES)
    if unknown:
        raise PropertyError(f"unknown properties {sorted(unknown)}; choose from {', '.join(ALL_PROPERTIES)}")
    check_elements(calc, atoms)
    if "vacancy" in which and chemical_potential is None:
        check_vacancy_reference(atoms, vacancy_index)  # before the long calculations, not after them
    out = Properties(name=name, structure=atoms.get_chemical_formula())
    t = time.perf_counter()
    out.eos, eq = eos if eos is not None else equilibrium(calc, atoms, form=form, fmax=fmax)
    out.equilibrium_cell_angstrom = eq.cell.array.copy()
    out.timings_s["eos"] = time.perf_counter() - t
    log(f"  [{name}] EOS: a0 = {out.eos.a0_angstrom:.4f} Å, B = {out.eos.b_gpa:.1f} GPa ({out.timings_s['eos']:.1f} s)")
    if "elastic" in which:
        t = time.perf_counter()
        out.elastic = elastic_constants(calc, eq, strains=strains, fmax=fmax)
        out.timings_s["elastic"] = time.perf_counter() - t
        named = ", ".join(f"{k} = {v:.1f}" for k, v in out.elastic.named_gpa.items() if k.startswith("C"))
        log(f"  [{name}] elastic: {named or 'full matrix'} GPa ({out.timings_s['elastic']:.1f} s)")
    if "phonons" in which:
        t = time.perf_counter()
        out.phonons = phonons(
            calc, eq, supercell=supercell, cutoff=cutoff, band_from=band_from, mesh=mesh, temperatures=temperatures
        )
        out.timings_s["phonons"] = time.perf_counter() - t
        log(
            f"  [{name}] phonons: {out.phonons.n_supercell_atoms}-atom supercell, max {out.phonons.max_frequency_thz:.3f} THz "
            f"({out.timings_s['phonons']:.1f} s)"
        )
    if "vacancy" in which:
        t = time.perf_counter()
        out.vacancy = vacancy_formation_energy(
            calc, eq, supercell=supercell if supercell is not None and np.ndim(supercell) == 1 else None,
            cutoff=cutoff, index=vacancy_index, chemical_potential=chemical_potential,
            chemical_potential_source=chemical_potential_source,
        )
        out.timings_s["vacancy"] = time.perf_counter() - t
        log(
            f"  [{name}] vacancy: E_f = {out.vacancy.formation_energy_ev:.3f} eV in {out.vacancy.n_atoms} atoms, "
            f"removed {out.vacancy.site()} ({out.timings_s['vacancy']:.1f} s)"
        )
    return out
