"""Reading labelled structures (DFT energies, forces, stresses) for fitting and evaluation.

Everything ``ase.io.read`` understands (extxyz, VASP ``vasprun.xml`` / ``OUTCAR``,
...) plus MLIP ``.cfg`` files (the Moment Tensor Potential package's text
format) becomes a list of :class:`Frame` objects with the labels in sus2c's
conventions: energy in eV, forces in eV/Å, stress in eV/Å³ as a Voigt 6-vector
(xx yy zz yz xz xy) with ASE's sign (positive in tension).

MLIP ``.cfg`` sign convention
-----------------------------
``PlusStress`` (columns named in its header, normally ``xx yy zz yz xz xy``)
is the *virial* in eV: the stress multiplied by the cell volume, with the sign
opposite to ASE's, i.e. ``PlusStress = -V * sigma_ASE`` and so
``sigma_ASE = -PlusStress / V``.  This follows from MLIP's own finite-difference
check of its potentials (``AnyPotential::CheckEFSConsistency_debug``:
``dE/dL = -L^-T * stresses``, so ``stresses = -L^T dE/dL = -dE/d(strain)``)
and from its pair potentials, which accumulate ``stresses -= r_ij (x) f_ij``;
a cell under tension (ASE stress > 0) has negative ``PlusStress``.  The old
``Stress:`` (negative stress) and ``Virial:`` fields are rejected with an error
rather than guessed at.  A ``PlusStress`` in a configuration without three
lattice vectors has no volume to divide by and is dropped.

``.cfg`` atom types are integers (0, 1, ...); ``type_map`` turns them into
element symbols.  A ``.cfg`` file that does not start with ``BEGIN_CFG`` is
handed to ASE (which reads AtomEye's unrelated ``.cfg`` format).
"""
from __future__ import annotations

import glob
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DataError",
    "Frame",
    "MissingForcesWarning",
    "frame_from_atoms",
    "parse_type_map",
    "read_frames",
    "split_frames",
]


class DataError(ValueError):
    """A data file that cannot be used, with file and frame named in the message."""


class MissingForcesWarning(UserWarning):
    """Some frames carry no forces (they still contribute energies and stresses)."""


@dataclass
class Frame:
    """One labelled structure.

    atoms : ase.Atoms with positions, cell, pbc and numbers only (no calculator)
    energy : total energy in eV (None only for frames built by hand)
    forces : (N, 3) in eV/Å, or None
    stress : (6,) Voigt xx yy zz yz xz xy in eV/Å³, ASE sign (positive in
        tension), or None
    weight : configuration weight (atoms.info 'weight' or 'config_weight')
    group : label for per-group statistics (atoms.info 'group' or
        'config_type', else the file name without extension)
    source : "path:index" of the frame in its file
    """

    atoms: object
    energy: float | None = None
    forces: np.ndarray | None = None
    stress: np.ndarray | None = None
    weight: float = 1.0
    group: str = ""
    source: str = ""

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)

    @property
    def periodic(self) -> bool:
        """True when the cell is periodic in all three directions (stress is defined)."""
        return bool(np.all(self.atoms.pbc))

    def __repr__(self):
        has = [k for k in ("energy", "forces", "stress") if getattr(self, k) is not None]
        return (
            f"<Frame {self.source or '?'} {self.atoms.get_chemical_formula()} "
            f"group={self.group!r} labels={'+'.join(has) or 'none'}>"
        )


# --------------------------------------------------------------------------- type maps


def parse_type_map(spec) -> dict | None:
    """A ``.cfg`` type map from a dict, a list, or a string.

    ``{0: "Mo", 1: "Nb"}``, ``{"0": "Mo"}`` (TOML keys are strings),
    ``["Mo", "Nb"]`` (index = type), ``"0=Mo,1=Nb"`` or ``"Mo,Nb"``.
    Returns ``{int: symbol}`` (None for None).
    """
    from ase.data import chemical_symbols

    if spec is None:
        return None
    if isinstance(spec, str):
        items = [s.strip() for s in spec.split(",") if s.strip()]
        if not items:
            raise ValueError("empty type map")
        if all("=" in s for s in items):
            spec = {}
            for s in items:
                k, v = (t.strip() for t in s.split("=", 1))
                spec[k] = v
        elif any("=" in s for s in items):
            raise ValueError(f"type map {spec!r}: use either '0=Mo,1=Nb' or 'Mo,Nb', not a mixture")
        else:
            spec = items
    if isinstance(spec, dict):
        pairs = list(spec.items())
    else:
        pairs = list(enumerate(spec))
    out = {}
    for k, v in pairs:
        try:
            key = int(k)
        except (TypeError, ValueError):
            raise ValueError(f"type map: type {k!r} is not an integer") from None
        if isinstance(k, float) and k != key:
            raise ValueError(f"type map: type {k!r} is not an integer")
        if not isinstance(v, str) or v not in chemical_symbols[1:]:
            raise ValueError(f"type map: {v!r} (type {key}) is not an element symbol")
        if key in out:
            raise ValueError(f"type map: type {key} given twice")
        out[key] = v
    return out


# --------------------------------------------------------------------------- building frames


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(x)))


def _voigt(stress, where):
    s = np.asarray(stress, dtype=float)
    if s.shape == (6,):
        return s.copy()
    if s.shape == (9,):
        s = s.reshape(3, 3)
    if s.shape == (3, 3):
        return np.array([s[0, 0], s[1, 1], s[2, 2], 0.5 * (s[1, 2] + s[2, 1]),
                         0.5 * (s[0, 2] + s[2, 0]), 0.5 * (s[0, 1] + s[1, 0])])
    raise DataError(f"{where}: stress has shape {s.shape}, expected 6 Voigt components or a 3x3 tensor")


def frame_from_atoms(atoms, source: str = "", default_group: str = "") -> Frame:
    """Turn one ASE Atoms object with labels into a :class:`Frame`.

    Labels come from the attached calculator's results (as ASE's readers
    leave them): ``energy`` (else ``free_energy``), ``forces``, ``stress``;
    else from ``atoms.info['energy']``, ``atoms.arrays['forces']``,
    ``atoms.info['stress']`` or ``atoms.info['virial']`` (virial = -stress *
    volume, in eV).  Raises :class:`DataError` naming ``source`` for a frame
    without energy, with NaN/inf anywhere, or with forces of the wrong shape.
    """
    from ase import Atoms

    where = source or "frame"
    n = len(atoms)
    if n == 0:
        raise DataError(f"{where}: structure has no atoms")
    pos = np.array(atoms.positions, dtype=float)
    if not _finite(pos):
        bad = np.nonzero(~np.all(np.isfinite(pos), axis=1))[0]
        raise DataError(f"{where}: positions contain NaN or infinity (atoms {bad[:10].tolist()})")
    cell = np.array(atoms.cell.array, dtype=float)
    if not _finite(cell):
        raise DataError(f"{where}: the cell contains NaN or infinity")
    pbc = np.array(atoms.pbc, dtype=bool)
    clean = Atoms(numbers=np.array(atoms.numbers), positions=pos, cell=cell, pbc=pbc)

    results = {}
    if atoms.calc is not None:
        results = dict(getattr(atoms.calc, "results", {}) or {})
    info = atoms.info

    energy = results.get("energy", results.get("free_energy", info.get("energy")))
    if energy is None:
        other = sorted(k for k in info if "energy" in str(k).lower())
        hint = f"; atoms.info has {', '.join(other)}: rename it to 'energy'" if other else ""
        raise DataError(f"{where}: missing energy (every frame needs a total energy for fitting){hint}")
    try:
        energy = float(np.asarray(energy, dtype=float).reshape(()))
    except (TypeError, ValueError):
        raise DataError(f"{where}: energy {energy!r} is not a number") from None
    if not math.isfinite(energy):
        raise DataError(f"{where}: energy is {energy}")

    forces = results.get("forces")
    if forces is None and "forces" in atoms.arrays:
        forces = atoms.arrays["forces"]
    if forces is not None:
        forces = np.array(forces, dtype=float)
        if forces.shape != (n, 3):
            raise DataError(f"{where}: forces have shape {forces.shape}, expected ({n}, 3) for {n} atoms")
        if not _finite(forces):
            bad = np.nonzero(~np.all(np.isfinite(forces), axis=1))[0]
            raise DataError(f"{where}: forces contain NaN or infinity (atoms {bad[:10].tolist()})")

    stress = results.get("stress")
    if stress is None:
        stress = info.get("stress")
    if stress is not None:
        stress = _voigt(stress, where)
    elif info.get("virial") is not None and pbc.all():
        volume = abs(np.linalg.det(cell))
        if volume > 0:
            stress = -_voigt(info["virial"], where) / volume
    if stress is not None and not _finite(stress):
        raise DataError(f"{where}: stress contains NaN or infinity")

    weight = info.get("weight", info.get("config_weight", 1.0))
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise DataError(f"{where}: weight {weight!r} is not a number") from None
    if not (math.isfinite(weight) and weight >= 0):
        raise DataError(f"{where}: weight must be a finite number >= 0, got {weight}")

    group = info.get("group", info.get("config_type", default_group))
    return Frame(clean, energy, forces, stress, weight, str(group), source)


# --------------------------------------------------------------------------- MLIP .cfg


def _is_mlip_cfg(path) -> bool:
    try:
        with open(path, "r", errors="replace") as fh:
            for line in fh:
                s = line.strip()
                if s:
                    return s.startswith("BEGIN_CFG")
    except OSError:
        return False
    return False


_POS_COLS = {
    "cartes": ("cartes_x", "cartes_y", "cartes_z"),
    "cartesian": ("cartesian_x", "cartesian_y", "cartesian_z"),
    "direct": ("direct_x", "direct_y", "direct_z"),
}


def _cfg_blocks(path):
    """Yield (index, first line number, lines) for every BEGIN_CFG ... END_CFG block."""
    with open(path, "r") as fh:
        lines = fh.read().splitlines()
    block, start, k = None, 0, 0
    for ln, raw in enumerate(lines, 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("BEGIN_CFG"):
            if block is not None:
                raise DataError(f"{path}: frame {k} (line {start}): BEGIN_CFG without END_CFG before line {ln}")
            block, start = [], ln
        elif s.startswith("END_CFG"):
            if block is None:
                raise DataError(f"{path}: line {ln}: END_CFG without BEGIN_CFG")
            yield k, start, block
            block, k = None, k + 1
        elif block is None:
            raise DataError(f"{path}: line {ln}: unexpected text outside BEGIN_CFG ... END_CFG: {s[:40]!r}")
        else:
            block.append((ln, s))
    if block is not None:
        raise DataError(f"{path}: frame {k} (line {start}): BEGIN_CFG without END_CFG (file truncated?)")


def _floats(tokens, where, ln, what):
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise DataError(f"{where} line {ln}: cannot read {what} from {' '.join(tokens)!r}") from None


def _parse_cfg_block(block, where, type_map):
    """One configuration -> (Atoms with SinglePointCalculator results, info)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    size = None
    lattice = []
    atomdata = None
    energy = None
    plus = None
    info = {}
    i = 0
    nb = len(block)

    def next_line(ln, what):
        nonlocal i
        if i >= nb:
            raise DataError(f"{where} line {ln}: {what} expected after this line")
        out = block[i]
        i += 1
        return out

    while i < nb:
        ln, s = block[i]
        i += 1
        tok = s.split()
        key = tok[0]
        if key == "Size":
            vals = tok[1:] or next_line(ln, "the number of atoms")[1].split()
            try:
                size = int(vals[0])
            except ValueError:
                raise DataError(f"{where} line {ln}: Size is not an integer: {vals[0]!r}") from None
            if size <= 0:
                raise DataError(f"{where} line {ln}: Size must be positive, got {size}")
        elif key in ("Supercell", "SuperCell"):
            while i < nb and len(lattice) < 3:
                l2, s2 = block[i]
                t2 = s2.split()
                try:
                    row = [float(t) for t in t2]
                except ValueError:
                    break
                if len(row) != 3:
                    raise DataError(f"{where} line {l2}: a Supercell row needs 3 numbers, got {len(row)}")
                lattice.append(row)
                i += 1
        elif key in ("AtomData:", "Atomic_data:"):
            if size is None:
                raise DataError(f"{where} line {ln}: AtomData before Size")
            cols = tok[1:]
            rows = []
            for _ in range(size):
                l2, s2 = next_line(ln, f"{size} lines of AtomData")
                t2 = s2.split()
                if len(t2) != len(cols):
                    raise DataError(
                        f"{where} line {l2}: AtomData row has {len(t2)} columns, header names {len(cols)} "
                        f"({' '.join(cols)}); is Size ({size}) right?"
                    )
                rows.append((l2, t2))
            atomdata = (ln, cols, rows)
        elif key == "Energy":
            vals = tok[1:] or next_line(ln, "the energy")[1].split()
            energy = _floats(vals[:1], where, ln, "the energy")[0]
        elif key == "PlusStress:":
            cols = tok[1:]
            l2, s2 = next_line(ln, "the PlusStress values")
            vals = _floats(s2.split(), where, l2, "PlusStress")
            if len(vals) != len(cols) or sorted(cols) != sorted(["xx", "yy", "zz", "yz", "xz", "xy"]):
                raise DataError(
                    f"{where} line {ln}: PlusStress needs the 6 components xx yy zz yz xz xy "
                    f"(header {' '.join(cols) or 'missing'}, {len(vals)} values)"
                )
            plus = dict(zip(cols, vals))
        elif key in ("Stress:", "Virial:"):
            raise DataError(
                f"{where} line {ln}: '{key}' is an old MLIP stress field with an ambiguous sign; "
                "convert the file to PlusStress (virial in eV, = -stress * volume)"
            )
        elif key == "Feature":
            if len(tok) < 2:
                raise DataError(f"{where} line {ln}: Feature without a name")
            name = tok[1]
            value = s.split(None, 2)[2] if len(tok) > 2 else ""
            info[name] = value if name not in info else f"{info[name]}\n{value}"
        elif key == "Features:":
            names = tok[1:]
            l2, s2 = next_line(ln, "the Features values")
            for name, value in zip(names, s2.split()):
                info[name] = value
        else:
            raise DataError(f"{where} line {ln}: unknown field {key!r}")

    if atomdata is None:
        raise DataError(f"{where}: no AtomData")
    ln, cols, rows = atomdata
    index = {c: j for j, c in enumerate(cols)}
    if "type" not in index:
        raise DataError(f"{where} line {ln}: AtomData has no 'type' column")
    kind = next((k for k, names in _POS_COLS.items() if all(c in index for c in names)), None)
    if kind is None:
        raise DataError(f"{where} line {ln}: AtomData has no position columns (cartes_x/y/z or direct_x/y/z)")
    has_forces = all(c in index for c in ("fx", "fy", "fz"))
    if not has_forces and any(c in index for c in ("fx", "fy", "fz")):
        raise DataError(f"{where} line {ln}: AtomData has only some of fx fy fz")
    types, pos, forces = [], [], []
    for l2, t2 in rows:
        try:
            types.append(int(t2[index["type"]]))
        except ValueError:
            raise DataError(f"{where} line {l2}: atom type {t2[index['type']]!r} is not an integer") from None
        pos.append(_floats([t2[index[c]] for c in _POS_COLS[kind]], where, l2, "positions"))
        if has_forces:
            forces.append(_floats([t2[index[c]] for c in ("fx", "fy", "fz")], where, l2, "forces"))
    if "id" in index:
        ids = [t2[index["id"]] for _, t2 in rows]
        if ids != [str(k + 1) for k in range(len(rows))]:
            raise DataError(f"{where} line {ln}: AtomData ids must run 1, 2, ..., {len(rows)}")

    unknown = sorted(set(types) - set(type_map))
    if unknown:
        raise DataError(
            f"{where}: atom type(s) {unknown} not in the type map "
            f"({', '.join(f'{k}={v}' for k, v in sorted(type_map.items()))})"
        )
    cell = np.zeros((3, 3))
    pbc = np.zeros(3, dtype=bool)
    for r, row in enumerate(lattice):
        cell[r] = row
        pbc[r] = True
    pos = np.array(pos, dtype=float)
    if kind == "direct":
        if len(lattice) != 3:
            raise DataError(f"{where}: direct (fractional) coordinates need three Supercell rows")
        pos = pos @ cell
    atoms = Atoms(symbols=[type_map[t] for t in types], positions=pos, cell=cell, pbc=pbc)

    results = {}
    if energy is not None:
        results["energy"] = energy
    if has_forces:
        results["forces"] = np.array(forces, dtype=float)
    if plus is not None and len(lattice) == 3:
        volume = abs(np.linalg.det(cell))
        if volume > 0:
            v = np.array([plus[c] for c in ("xx", "yy", "zz", "yz", "xz", "xy")])
            results["stress"] = -v / volume  # PlusStress = -V * sigma_ASE
    if results:
        atoms.calc = SinglePointCalculator(atoms, **results)
    for name in ("group", "config_type", "weight", "config_weight"):
        if name in info:
            atoms.info[name] = info[name]
    return atoms


def _read_mlip_cfg(path, type_map):
    """All configurations of an MLIP .cfg file as (index, Atoms)."""
    for k, start, block in _cfg_blocks(path):
        where = f"{path}: frame {k} (line {start})"
        if type_map is None:
            raise DataError(
                f"{path}: an MLIP .cfg file stores atom types as integers; give a type map "
                "(type_map={0: 'Mo', 1: 'Nb'} or ['Mo', 'Nb']; on the command line --type-map 0=Mo,1=Nb)"
            )
        yield k, _parse_cfg_block(block, where, type_map)


# --------------------------------------------------------------------------- reading


def _expand(paths):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for p in paths:
        p = os.fspath(p)
        if glob.has_magic(p):
            matches = sorted(glob.glob(p, recursive=True))
            matches = [m for m in matches if os.path.isfile(m)]
            if not matches:
                raise FileNotFoundError(f"no data files match {p!r}")
            out.extend(matches)
        else:
            if not os.path.exists(p):
                raise FileNotFoundError(f"data file not found: {p}")
            if os.path.isdir(p):
                raise DataError(f"{p} is a directory; give files or a glob such as '{os.path.join(p, '*.xyz')}'")
            out.append(p)
    if not out:
        raise FileNotFoundError("no data files given")
    return out


def _select(items, index):
    """Apply an ASE-style index (':' , '-1', '0:10:2', int, slice) to a list."""
    from ase.io.formats import string2index

    if isinstance(index, str):
        index = string2index(index)
    if isinstance(index, slice):
        return items[index]
    try:
        return [items[index]]
    except IndexError:
        raise IndexError(f"frame index {index} out of range ({len(items)} frames)") from None


def _read_ase(path, fmt):
    import ase.io

    k = 0
    try:
        for atoms in ase.io.iread(path, index=":", format=fmt):
            yield k, atoms
            k += 1
    except DataError:
        raise
    except Exception as exc:  # ASE raises many kinds of errors for bad files
        what = f"frame {k}" if k else "the file"
        raise DataError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None


def read_frames(paths, type_map=None, index=":", format=None) -> list[Frame]:
    """Read labelled structures from one or more files (globs allowed).

    Parameters
    ----------
    paths : a path or glob, or a list of them (globs are expanded and sorted)
    type_map : for MLIP ``.cfg`` files: ``{0: "Mo", 1: "Nb"}``, ``["Mo", "Nb"]``
        or ``"0=Mo,1=Nb"`` (see :func:`parse_type_map`)
    index : frames to take from each file, ASE style (``":"``, ``"-1"``,
        ``"0:100:10"``, an int or a slice)
    format : ASE format name, if it cannot be guessed from the file name

    Every frame must have a finite energy; forces and stress are optional (one
    :class:`MissingForcesWarning` reports how many frames have no forces).
    Errors name the file and the frame index.
    """
    type_map = parse_type_map(type_map)
    frames = []
    for path in _expand(paths):
        stem = Path(path).stem
        if format is None and path.lower().endswith(".cfg") and _is_mlip_cfg(path):
            raw = list(_read_mlip_cfg(path, type_map))
        else:
            raw = list(_read_ase(path, format))
        if not raw:
            raise DataError(f"{path}: no structures in the file")
        try:
            chosen = _select(raw, index)
        except IndexError as exc:
            raise DataError(f"{path}: {exc}") from None
        for k, atoms in chosen:
            frames.append(frame_from_atoms(atoms, source=f"{path}:{k}", default_group=stem))
    missing = sum(1 for f in frames if f.forces is None)
    if missing:
        warnings.warn(
            f"{missing} of {len(frames)} frames have no forces (they contribute energies"
            f"{' and stresses' if any(f.stress is not None for f in frames) else ''} only)",
            MissingForcesWarning,
            stacklevel=2,
        )
    return frames


def split_frames(frames, fraction, seed=0):
    """Random split by structure: ``(train, test)`` with ``fraction`` of the frames in train.

    ``fraction`` is the training fraction (0 <= fraction <= 1); the number of
    training frames is ``round(fraction * n)``, kept between 1 and n-1 when
    0 < fraction < 1 and n >= 2 so that neither set is empty.  The same seed
    gives the same split; both lists keep the original order of the frames.
    """
    frames = list(frames)
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"split fraction must be between 0 and 1, got {fraction}")
    n = len(frames)
    n_train = int(round(fraction * n))
    if 0.0 < fraction < 1.0 and n >= 2:
        n_train = min(max(n_train, 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    train_idx = np.sort(order[:n_train])
    test_idx = np.sort(order[n_train:])
    return [frames[i] for i in train_idx], [frames[i] for i in test_idx]
