"""Which structures each cross-validation fold holds out.

:func:`random_folds` is what :func:`sus2c.fit.fit` uses by default.
:func:`blocked_folds` keeps runs of near-duplicate consecutive structures
(closely spaced MD snapshots) in one fold: with random folds a held-out
snapshot has its neighbours, a few hundredths of an Ångström away, in the
training folds, and cross-validation then rewards models that interpolate
between them.
"""
from __future__ import annotations

import math

import numpy as np


def random_folds(n, k, seed=0) -> np.ndarray:
    """The fold (0 .. k-1) of each of n structures: a seeded random permutation of equal shares."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n) % max(1, int(k)))


def same_trajectory(a, b, tol) -> bool:
    """Is Atoms ``b`` a close continuation of ``a`` (same atoms and cell, RMS displacement <= tol Å)?"""
    if len(a) != len(b) or (a.numbers != b.numbers).any() or (a.pbc != b.pbc).any():
        return False
    if not np.allclose(a.cell.array, b.cell.array, atol=1e-6):
        return False
    dx = b.positions - a.positions
    if a.pbc.all():  # minimum image (atoms wrapped back into the cell between snapshots)
        frac = np.linalg.solve(a.cell.array.T, dx.T).T
        dx = (frac - np.round(frac)) @ a.cell.array
    return float(np.sqrt(np.mean(np.sum(dx * dx, axis=1)))) <= tol


def near_duplicate_runs(frames, tol):
    """Consecutive structures (in the order given) that continue each other within ``tol`` Å RMS,
    as lists of indices (single structures are runs of one)."""
    atoms = [getattr(f, "atoms", f) for f in frames]
    runs, cur = [], [0] if atoms else []
    for i in range(1, len(atoms)):
        if same_trajectory(atoms[i - 1], atoms[i], tol):
            cur.append(i)
        else:
            runs.append(cur)
            cur = [i]
    if cur:
        runs.append(cur)
    return runs


def blocked_folds(frames, k, seed=0, tol=0.7, piece_fraction=0.5):
    """Folds that keep runs of near-duplicate frames together.

    Runs (:func:`near_duplicate_runs`, RMS displacement <= ``tol`` Å between
    consecutive frames) are cut into pieces of at most
    ``piece_fraction`` x n / k frames, and whole pieces go to one fold (in a
    random order for ``seed``, each to the fold with the fewest frames so
    far).  Returns (fold per frame, number of pieces with more than one frame).
    """
    n = len(frames)
    k = max(1, int(k))
    piece_max = max(1, int(math.ceil(piece_fraction * n / k)))
    pieces = []
    for run in near_duplicate_runs(frames, tol):
        pieces += [run[i : i + piece_max] for i in range(0, len(run), piece_max)]
    rng = np.random.default_rng(seed)
    folds = np.zeros(n, dtype=int)
    size = np.zeros(k, dtype=int)
    for p in rng.permutation(len(pieces)):
        f = int(np.argmin(size))
        folds[pieces[p]] = f
        size[f] += len(pieces[p])
    return folds, sum(1 for p in pieces if len(p) > 1)
