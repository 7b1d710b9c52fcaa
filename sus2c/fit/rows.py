"""Design rows into normal equations.

Structures are featurised in batches by the compiled design kernel
(parallel over structures); their rows -- energy per atom, force components,
stress components -- go straight into weighted Gram matrices XᵀWX, XᵀWy per
cross-validation fold, so memory is O(P²), not O(data).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .._kernels import engine
from ..distances import element_types
from ..neighbors import neighbor_list
from ..progress import Progress
from .settings import FitError


def frame_types(atoms, elements):
    """Element index of every atom; a FitError names elements the model does not have."""
    try:
        return element_types(atoms, elements)
    except ValueError as exc:
        raise FitError(str(exc)) from None


def type_weights(frames, fractions):
    """Row weight per target type: fraction / (weighted row count x spread of the data).

    Spreads: the variance of per-atom energies left after a least-squares fit
    of one energy per element (so that, in multi-element data, composition
    alone does not make energy errors look cheap), the mean square force
    component and the mean square stress component; computed from the raw
    data, so the weights are known before featurisation.
    """
    fractions = np.asarray(fractions, dtype=float)
    n = np.zeros(3)
    s2 = np.zeros(3)
    symbols = sorted({s for fr in frames for s in fr.atoms.get_chemical_symbols()})
    index = {e: i for i, e in enumerate(symbols)}
    comp = np.zeros((len(frames), len(symbols)))
    e_atom = np.zeros(len(frames))
    w_e = np.zeros(len(frames))
    for k, fr in enumerate(frames):
        w = fr.weight
        natoms = len(fr.atoms)
        for sym in fr.atoms.get_chemical_symbols():
            comp[k, index[sym]] += 1.0 / natoms
        e_atom[k] = fr.energy / natoms
        w_e[k] = w
        if fr.forces is not None:
            f = np.asarray(fr.forces, dtype=float)
            n[1] += w * f.size
            s2[1] += w * float(np.sum(f * f))
        if fr.stress is not None and bool(fr.atoms.pbc.all()):
            st = np.asarray(fr.stress, dtype=float)
            n[2] += w * 6
            s2[2] += w * float(np.sum(st * st))
    if len(frames):
        sw = np.sqrt(w_e)
        e1, *_ = np.linalg.lstsq(comp * sw[:, None], e_atom * sw, rcond=None)
        resid = e_atom - comp @ e1
        n[0] = w_e.sum()
        s2[0] = float(np.sum(w_e * resid * resid))
    weights = np.zeros(3)
    for k in range(3):
        if n[k] <= 0 or fractions[k] <= 0:
            continue
        spread = max(s2[k] / n[k], 1e-12)
        weights[k] = fractions[k] / (n[k] * spread)
    return weights


def wants_stress(weights) -> bool:
    """Stress rows are built only when stress counts in the loss (they are a
    third of the kernel's writes for 3-body terms)."""
    return bool(weights[2] > 0)


@dataclass
class Grams:
    """Weighted normal equations per cross-validation fold: XᵀWX, XᵀWy, yᵀWy."""

    n_columns: int
    n_folds: int

    def __post_init__(self):
        P, F = self.n_columns, self.n_folds
        self.G = np.zeros((F, P, P))
        self.b = np.zeros((F, P))
        self.yy = np.zeros(F)
        self.n_structures = np.zeros(F, dtype=int)
        self.n_atoms = np.zeros(F, dtype=int)

    def add(self, fold, X, y, w):
        """Add rows X with targets y and row weights w to a fold."""
        if len(y) == 0:
            return
        sw = np.sqrt(w)
        Xw = X * sw[:, None]
        yw = y * sw
        # symmetric rank-k update: one BLAS call per batch and fold
        self.G[fold] += Xw.T @ Xw
        self.b[fold] += Xw.T @ yw
        self.yy[fold] += yw @ yw

    @property
    def nbytes(self):
        return self.G.nbytes + self.b.nbytes


def batch_arrays(batch, elements, cutoff, stress=True):
    """Concatenated kernel inputs for a batch of frames (see ``engine.design``).

    ``stress=False``: no stress rows, even for frames with a stress."""
    pos, types, nbrs, shifts, vols = [], [], [], [], []
    atom_start, row_start, offsets = [0], [0], [np.zeros(1, dtype=np.intp)]
    n_entries = 0
    for fr in batch:
        a = fr.atoms
        off, idx, sh = neighbor_list(a.positions, a.cell.array, a.pbc, cutoff, 1)
        pos.append(a.positions)
        types.append(frame_types(a, elements))
        offsets.append(off[1:] + n_entries)
        n_entries += len(idx)
        nbrs.append(idx + atom_start[-1])
        shifts.append(sh)
        atom_start.append(atom_start[-1] + len(a))
        has_stress = stress and fr.stress is not None and bool(a.pbc.all())
        vols.append(a.get_volume() if has_stress else 0.0)
        row_start.append(row_start[-1] + 1 + 3 * len(a) + (6 if has_stress else 0))
    kernel_args = (
        np.ascontiguousarray(np.concatenate(pos), dtype=float),
        np.ascontiguousarray(np.concatenate(types), dtype=np.int32),
        np.asarray(atom_start, dtype=np.intp),
        np.ascontiguousarray(np.concatenate(offsets), dtype=np.intp),
        np.ascontiguousarray(np.concatenate(nbrs), dtype=np.intp),
        np.ascontiguousarray(np.concatenate(shifts), dtype=float),
        np.asarray(vols, dtype=float),
        np.asarray(row_start, dtype=np.intp),
    )
    return {"kernel_args": kernel_args, "row_start": np.asarray(row_start), "types_list": types}


def jacobian_batches(frames, elements, cutoff, blocks, batch_rows=4096, stress=True):
    """Derivatives of the design rows with respect to outer parameters, a batch at a time.

    ``blocks``: ``[(n_columns, fill)]``; ``fill(kernel_args, J)`` writes its
    block of derivatives into the zeroed (rows x n_columns) array ``J``.
    Yields ``(batch, J, row_start)`` with the blocks side by side, in the
    layout of :func:`design_batches` with the same ``stress`` (energy rows
    per atom); one neighbour list per batch serves every block."""
    for batch in batches(frames, batch_rows):
        arr = batch_arrays(batch, elements, cutoff, stress)
        row_start = arr["row_start"]
        parts = []
        for n, fill in blocks:
            J = np.zeros((row_start[-1], n))
            fill(arr["kernel_args"], J)
            parts.append(J)
        J = parts[0] if len(parts) == 1 else np.hstack(parts)
        for k, fr in enumerate(batch):
            J[row_start[k]] /= len(fr.atoms)  # energy per atom
        yield batch, J, row_start


def batches(frames, batch_rows):
    """Consecutive groups of frames with about ``batch_rows`` design rows each."""
    batch, rows = [], 0
    for fr in frames:
        batch.append(fr)
        rows += 1 + 3 * len(fr.atoms) + 6
        if rows >= batch_rows:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def design_batches(layout, frames, threads=1, batch_rows=4096, stress=True):
    """Design rows of frames, a batch at a time.

    Yields ``(batch, X, row_start)``: the frames of the batch, their rows
    (per frame: energy per atom with the one-body columns filled in, 3 N
    force components, and six stress components when the frame has stress
    and is periodic in 3-D, unless ``stress`` is False) and where each
    frame's rows start.  Memory is bounded by ``batch_rows`` rows, whatever
    the number of frames.
    """
    P = layout.n_columns
    ne = len(layout.elements)
    cutoff = layout.cutoff
    for batch in batches(frames, batch_rows):
        arr = batch_arrays(batch, layout.elements, cutoff, stress)
        row_start, types = arr["row_start"], arr["types_list"]
        X = np.zeros((row_start[-1], P))
        below = engine.design(layout.tables, layout.scale2, layout.scale3, *arr["kernel_args"], X, threads)
        for k, (fr, nb) in enumerate(zip(batch, below)):
            if nb:
                raise FitError(
                    f"{fr.source}: {nb} distances lie below the first knot of a term; "
                    "lower r_min (or leave it unset to place it below the data)"
                )
            # energy per atom; one-body columns count the atoms of each element
            r0 = row_start[k]
            X[r0, :ne] = np.bincount(types[k], minlength=ne)
            X[r0] /= len(fr.atoms)
        yield batch, X, row_start


def targets(frame, n_rows, weights):
    """Targets and row weights of one frame's design rows (see :func:`design_batches`)."""
    n = len(frame.atoms)
    y = np.zeros(n_rows)
    w = np.zeros(n_rows)
    y[0] = frame.energy / n
    w[0] = weights[0] * frame.weight
    if frame.forces is not None:
        y[1 : 1 + 3 * n] = np.asarray(frame.forces, dtype=float).ravel()
        w[1 : 1 + 3 * n] = weights[1] * frame.weight
    if n_rows == 1 + 3 * n + 6:
        y[-6:] = np.asarray(frame.stress, dtype=float)
        w[-6:] = weights[2] * frame.weight
    return y, w


def accumulate(layout, frames, folds, weights, threads=1, batch_rows=4096, progress=None) -> Grams:
    """Featurise frames (in batches, in parallel) into per-fold weighted Gram matrices.

    ``weights``: row weight per target type (energy per atom, force, stress),
    see :func:`type_weights`; each frame's own weight multiplies them.
    """
    n_folds = int(max(folds) + 1) if len(folds) else 1
    need = 8.0 * n_folds * layout.n_columns**2
    budget = float(os.environ.get("SUS2C_MAX_GRAM_GIB", "8")) * 2**30
    if need > budget:
        raise FitError(
            f"the model has {layout.n_columns} coefficients: its normal equations for {n_folds} folds would take "
            f"{need / 2**30:.1f} GiB (limit {budget / 2**30:.0f} GiB, set SUS2C_MAX_GRAM_GIB); use fewer "
            "intervals, fewer elements, cutoff3 = 0, or mode = 'universal' (shared functions)"
        )
    grams = Grams(layout.n_columns, n_folds)
    bar = Progress(len(frames), "featurising", progress)
    fold_of = {id(fr): int(f) for fr, f in zip(frames, folds)}
    for batch, X, row_start in design_batches(layout, frames, threads, batch_rows, wants_stress(weights)):
        y = np.zeros(len(X))
        w = np.zeros(len(X))
        fold_of_row = np.zeros(len(X), dtype=np.intp)
        for k, fr in enumerate(batch):
            r0, r1 = row_start[k], row_start[k + 1]
            y[r0:r1], w[r0:r1] = targets(fr, r1 - r0, weights)
            fold = fold_of[id(fr)]
            fold_of_row[r0:r1] = fold
            grams.n_structures[fold] += 1
            grams.n_atoms[fold] += len(fr.atoms)
        for fold in np.unique(fold_of_row):
            sel = (fold_of_row == fold) & (w > 0)
            grams.add(fold, X[sel], y[sel], w[sel])
        bar.update(len(batch))
    bar.close()
    return grams
