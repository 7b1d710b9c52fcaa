"""Neighbour lists: periodic images laid out explicitly, then a compiled cell-list search.

:func:`neighbor_list` returns a full list (every pair both ways) in CSR form
with Cartesian image shifts, so that the bond vector of entry e of atom i is
``positions[index[e]] + shifts[e] - positions[i]``.  :class:`NeighborList`
keeps such a list built with a skin and reuses it while no atom has moved more
than half the skin and the cell, periodicity and atom count are unchanged.
"""
from __future__ import annotations

import functools

import numpy as np

from ._kernels import neighbor_kernel

#: Most image points the periodic search may lay out (atoms x lattice
#: translations tried per atom; ~56 bytes each, so about 1.1 GB).  Cells at
#: least as wide as the cutoff need 27 translations per atom and are never
#: refused, however many atoms they hold.
MAX_IMAGE_POINTS = 20_000_000
#: A periodic width below this fraction of the cutoff is a (nearly) singular cell.
MIN_WIDTH_FRACTION = 1e-6


class CellError(ValueError):
    """A periodic cell the neighbour search cannot handle (singular, or far too thin for the cutoff)."""


def _effective_cell(cell, pbc):
    """Cell whose periodic rows are the real ones and whose other rows complete a basis."""
    cell = np.array(cell, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    periodic = [k for k in range(3) if pbc[k]]
    if periodic:
        sub = cell[periodic]
        if np.linalg.matrix_rank(sub, tol=1e-10 * max(1.0, np.abs(sub).max())) < len(periodic):
            raise CellError(
                "the cell is singular along its periodic directions "
                f"(pbc={pbc.tolist()}, cell={cell.tolist()}): set a proper cell or switch pbc off"
            )
        vol_scale = np.abs(sub).max()
    eff = cell.copy()
    # complete the basis with unit vectors orthogonal to the periodic rows
    # (projected against an orthonormal basis of their span: the rows
    # themselves need not be orthogonal, e.g. a hexagonal slab)
    ortho = []
    for b in cell[periodic]:
        for o in ortho:
            b = b - (b @ o) * o
        ortho.append(b / np.linalg.norm(b))
    for k in range(3):
        if pbc[k]:
            continue
        for trial in np.eye(3):
            v = trial.copy()
            for o in ortho:
                v -= (v @ o) * o
            if np.linalg.norm(v) > 1e-6:
                v /= np.linalg.norm(v)
                ortho.append(v)
                eff[k] = v
                break
    if periodic and abs(np.linalg.det(eff)) < 1e-12 * vol_scale ** len(periodic):
        raise CellError(f"the cell is singular (cell={cell.tolist()}, pbc={pbc.tolist()})")
    return eff


def check_finite_positions(pos):
    """Raise a ValueError naming the atoms whose positions are NaN or infinite."""
    pos = np.ascontiguousarray(pos, dtype=float).reshape(-1, 3)
    if not neighbor_kernel.all_finite(pos):
        bad = np.nonzero(~np.isfinite(pos).all(axis=1))[0]
        raise ValueError(f"atom positions contain NaN or infinity (atoms {bad[:10].tolist()})")


@functools.lru_cache(maxsize=16)
def _image_setup(cell_bytes, pbc_bytes, cutoff):
    """Cell-dependent part of a periodic list, cached: MD keeps the cell between rebuilds.

    Returns (inverse effective cell, reach along each direction in fractional
    units, largest lattice translation needed, effective cell, pbc as int32),
    read-only.  A cell whose periodic width is below ``MIN_WIDTH_FRACTION``
    of the cutoff is refused (:class:`CellError`) before anything is sized
    by it.
    """
    cell = np.frombuffer(cell_bytes).reshape(3, 3)
    pbc = np.frombuffer(pbc_bytes, dtype=bool)
    eff = _effective_cell(cell, pbc)
    inv = np.ascontiguousarray(np.linalg.inv(eff))
    # planes of a periodic direction are 1/|b_k| apart (b_k: reciprocal rows)
    widths = periodic_widths(inv, pbc)
    k = int(np.argmin(widths))
    if widths[k] < MIN_WIDTH_FRACTION * cutoff:
        raise CellError(
            f"the cell is nearly singular: its thinnest periodic width is {widths[k]:.3g} Å (direction "
            f"{'abc'[k]}) against the cutoff {cutoff:g} Å, so the neighbour search would need "
            f"{_count(2 * np.ceil(cutoff / widths[k]) + 1)} images of every atom along that direction alone "
            f"(cell={cell.tolist()}, pbc={pbc.tolist()}). {_CELL_ADVICE}"
        )
    reach = np.where(pbc, cutoff * np.linalg.norm(inv, axis=0), 0.0)
    nimg = np.where(pbc, np.ceil(reach), 0).astype(np.intp)
    out = (inv, reach, nimg, np.ascontiguousarray(eff), pbc.astype(np.int32))
    for a in out:
        a.setflags(write=False)
    return out


_CELL_ADVICE = (
    "Check the cell (nearly parallel cell vectors usually mean a wrong cell), "
    "or switch periodicity off along a direction that is not meant to repeat."
)


def periodic_widths(inv, pbc):
    """Distance between lattice planes along each periodic direction (Å; inf where not periodic)."""
    inv = np.asarray(inv, dtype=float)
    with np.errstate(divide="ignore"):
        w = 1.0 / np.linalg.norm(inv, axis=0)
    return np.where(np.asarray(pbc, dtype=bool), w, np.inf)


def _count(x):
    """A large count in words a reader takes in at once: 2.0e+09 -> '2e+09', 5001 -> '5001'."""
    x = float(x)
    return f"{x:.0f}" if x < 1e6 else f"{x:.2g}"


def check_image_count(n_atoms, nimg, widths, cutoff, pbc, cell):
    """Refuse (:class:`CellError`) a periodic search that would lay out more than ``MAX_IMAGE_POINTS`` points.

    ``nimg``: the largest lattice translation tried along each direction.
    Translations per atom are the product of (2 nimg + 1) over the periodic
    directions; a cell wider than the cutoff needs at most 3 along each and
    is always accepted.
    """
    per_atom = float(np.prod([2.0 * m + 1.0 for m in nimg]))
    points = n_atoms * per_atom
    if per_atom <= 27 or points <= MAX_IMAGE_POINTS:
        return
    k = int(np.argmin(widths))
    raise CellError(
        f"the cell is too thin for the cutoff: its thinnest periodic width is {widths[k]:.3g} Å (direction "
        f"{'abc'[k]}) against the cutoff {cutoff:g} Å, so the neighbour search would need {_count(per_atom)} "
        f"images of every atom ({n_atoms} atoms: {_count(points)} points, ~{points * 56 / 2**30:.3g} GiB; "
        f"the limit is {_count(MAX_IMAGE_POINTS)}) (cell={np.asarray(cell).tolist()}, "
        f"pbc={np.asarray(pbc).tolist()}). {_CELL_ADVICE}"
    )


def neighbor_list(positions, cell, pbc, cutoff, threads=1, half=False, work=None):
    """Neighbour list within ``cutoff``: (offsets, index, shifts).

    Full (every pair from both ends) by default; ``half=True`` keeps each
    bond once, from the atom with the smaller index (for an atom and its own
    image: the lexicographically positive shift) -- enough for 2-body terms.
    ``work``: a dict in which to keep the large arrays for the next call;
    the arrays returned are then only valid until that call.
    """
    pos = np.ascontiguousarray(positions, dtype=float)
    n = len(pos)
    pbc = np.asarray(pbc, dtype=bool)
    check_finite_positions(pos)
    if n == 0 or not cutoff > 0:
        return np.zeros(n + 1, dtype=np.intp), np.zeros(0, dtype=np.intp), np.zeros((0, 3))
    if pbc.any():
        inv, reach, nimg, eff, pbc32 = _image_setup(
            np.asarray(cell, dtype=float).tobytes(), pbc.tobytes(), float(cutoff)
        )
        check_image_count(n, nimg, periodic_widths(inv, pbc), float(cutoff), pbc, cell)
        points, atom_idx, shifts_pt = neighbor_kernel.periodic_images(pos, inv, eff, nimg, reach, pbc32, work)
    else:
        atom_idx = np.arange(n)
        shifts_pt = np.zeros((n, 3))
        points = pos
    # small systems: one thread (waking a second costs more than it saves)
    threads = max(1, min(int(threads), n // 256))
    return neighbor_kernel.neighbor_list(
        np.ascontiguousarray(points, dtype=float),
        np.ascontiguousarray(atom_idx, dtype=np.intp),
        np.ascontiguousarray(shifts_pt, dtype=float),
        n,
        float(cutoff),
        threads,
        bool(half),
        work,
    )


def bond_distances(atoms, cutoff, threads=1, half=False):
    """(centre, neighbour, distance) of every neighbour entry of an Atoms within ``cutoff``."""
    off, idx, sh = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff, threads, half)
    centre = np.repeat(np.arange(len(atoms)), np.diff(off))
    d = np.linalg.norm(atoms.positions[idx] + sh - atoms.positions[centre], axis=1)
    return centre, idx, d


class NeighborList:
    """A neighbour list with a skin, rebuilt only when it may have gone stale.

    Positions with NaN or infinity always count as moved, so :meth:`update`
    rejects them (ValueError) like a fresh build does.

    :meth:`update` returns (offsets, index, shifts); index and shifts are
    overwritten by the next rebuild (the list keeps those arrays to avoid
    fresh allocations).
    """

    def __init__(self, cutoff, skin=0.3, half=False):
        self.cutoff = float(cutoff)
        self.half = bool(half)
        self.skin = float(skin)
        if not (np.isfinite(self.skin) and self.skin >= 0):
            raise ValueError(f"the neighbour-list skin must be a finite distance >= 0 (Å), got {skin!r}")
        self.nbuilds = 0
        self._key = None
        self._work = {}  # the list's arrays, reused by every rebuild

    def update(self, positions, cell, pbc, threads=1):
        pos = np.ascontiguousarray(positions, dtype=float)
        key = (len(pos), np.asarray(cell, dtype=float).tobytes(), np.asarray(pbc, dtype=bool).tobytes())
        if self._key == key and self.skin > 0 and not neighbor_kernel.moved_beyond(pos, self._positions, 0.5 * self.skin):
            return self.offsets, self.index, self.shifts
        self.offsets, self.index, self.shifts = neighbor_list(
            pos, cell, pbc, self.cutoff + self.skin, threads, self.half, self._work
        )
        self._positions = pos.copy()
        self._key = key
        self.nbuilds += 1
        return self.offsets, self.index, self.shifts
