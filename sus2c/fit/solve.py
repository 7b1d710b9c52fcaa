"""Penalties and the cross-validated regularised solve.

Weights per target type come in through the Gram matrices; here ridge and
curvature penalties are added and the normal equations solved by Cholesky.
The regularisation strengths are picked by k-fold cross-validation over
structures from the per-fold Grams (no re-featurisation).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from .._kernels import default_threads

FULL_GRID_MAX_COLUMNS = 2000
DEFAULT_RIDGE_GRID = (1e-10, 1e-8, 1e-6, 1e-4)
DEFAULT_CURVATURE_GRID = (1e-11, 1e-9, 1e-7, 1e-5, 1e-3)


@dataclass
class Solution:
    coef: np.ndarray
    ridge: float
    curvature: float
    fold_coef: list = field(default_factory=list)  # per fold, at the chosen point (for CV errors)
    cv_table: list = field(default_factory=list)  # weighted validation loss at every grid point


class Penalty:
    """The penalty matrices kept as their non-zero entries: the ridge matrix
    is diagonal and the curvature matrix has a few entries per row, so adding
    them to a normal matrix touches O(P) entries instead of the P x P dense
    sums (several full-size temporaries per solve, as costly as the Cholesky
    factorisation itself for ~2000 coefficients)."""

    def __init__(self, R_ridge, R_curv):
        self.d = np.diag(R_ridge).copy()
        if np.count_nonzero(R_ridge - np.diag(self.d)):
            raise ValueError("the ridge penalty must be diagonal")
        self.i, self.j = np.nonzero(R_curv)
        self.v = R_curv[self.i, self.j]

    def add_to(self, M, ridge, curvature, scale):
        """M += scale (ridge R_ridge + curvature R_curv), in place."""
        M[self.i, self.j] += (scale * curvature) * self.v
        M.flat[:: M.shape[0] + 1] += (scale * ridge) * self.d
        return M


def relative_scale(A) -> float:
    """Penalties are relative: multiplied by trace(A)/P, so their values mean the
    same for any data size and weighting."""
    t = np.trace(A)
    return t / A.shape[0] if t > 0 else 1.0


def solve_penalised(M, b, pen, ridge, curvature, scale):
    """Coefficients of (M + penalties) c = b; the penalties are added to M in place.

    numpy's Cholesky releases the GIL (scipy's holds it), so solves of
    different grid points run side by side in threads.  It leaves M as it
    was, so the least-squares fallback solves the same matrix."""
    pen.add_to(M, ridge, curvature, scale)
    return solve_normal(M, b)


def solve_normal(M, b):
    """x with M x = b for a symmetric positive semi-definite M (normal equations):
    Cholesky, or least squares when M is singular (columns the data cannot tell apart)."""
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return scipy.linalg.lstsq(M, b, check_finite=False)[0]
    y = scipy.linalg.solve_triangular(L, b, lower=True, check_finite=False)
    return scipy.linalg.solve_triangular(L, y, lower=True, trans="T", check_finite=False)


def solve_one(A, b, R_ridge, R_curv, ridge, curvature, scale):
    """Coefficients of (A + scale (ridge R_ridge + curvature R_curv)) c = b (A is not changed)."""
    return solve_penalised(np.array(A, dtype=float), b, Penalty(R_ridge, R_curv), ridge, curvature, scale)


def solve(grams, layout, settings, threads=None) -> Solution:
    """Regularised solve; ridge/curvature by k-fold CV over the per-fold Grams.

    Up to a few thousand coefficients the many small Cholesky solves run on
    one BLAS thread each, with ``threads`` grid points solved side by side:
    threaded BLAS gained little there, and on a machine whose cores are busy
    its spinning threads made the solve up to 100x slower.
    """
    from threadpoolctl import threadpool_limits

    threads = threads or settings.threads or default_threads()
    blas_threads = 1 if grams.n_columns < 3000 else threads
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        return _solve(grams, layout, settings, threads if blas_threads == 1 else 1)


def _solve(grams, layout, settings, workers: int) -> Solution:
    R_ridge, R_curv = layout.penalties()
    pen = Penalty(R_ridge, R_curv)
    F = grams.n_folds
    A = grams.G.sum(axis=0)
    b = grams.b.sum(axis=0)
    P = A.shape[0]
    scale = relative_scale(A)
    ridges = DEFAULT_RIDGE_GRID if settings.ridge == "cv" else (float(settings.ridge),)
    curvs = DEFAULT_CURVATURE_GRID if settings.curvature == "cv" else (float(settings.curvature),)
    folds = [f for f in range(F) if grams.n_structures[f] > 0]
    table = []
    cache = {}

    def fold_solutions(point):
        ridge, curv = point
        loss = 0.0
        coefs = []
        for f in folds:
            c = solve_penalised(A - grams.G[f], b - grams.b[f], pen, ridge, curv, scale)
            loss += c @ grams.G[f] @ c - 2 * c @ grams.b[f] + grams.yy[f]
            coefs.append(c)
        return float(loss), coefs

    # grid points are independent: with several threads they are solved side
    # by side (LAPACK releases the GIL; each solve uses one BLAS thread)
    # each worker holds a P x P matrix and its factor: at most ~2 GiB in all
    workers = max(1, min(workers, len(ridges) * len(curvs), int(2**31 // (16 * P * P + 1))))
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None

    def best(points):
        """The grid point of lowest CV loss (the first of equals), solving those not seen yet."""
        todo = [p for p in points if p not in cache]
        for p, res in zip(todo, (pool.map if pool else map)(fold_solutions, todo)):
            cache[p] = res
            table.append({"ridge": p[0], "curvature": p[1], "loss": res[0]})
        return min(points, key=lambda p: cache[p][0])

    try:
        if F > 1 and len(folds) > 1 and len(ridges) * len(curvs) > 1:
            if P <= FULL_GRID_MAX_COLUMNS:
                # the whole grid: 1-D scans can stop far from the optimum
                ridge, curv = best([(r, c) for r in ridges for c in curvs])
            else:
                # large models: coordinate search (curvature, ridge, curvature)
                ridge = ridges[len(ridges) // 2]
                ridge, curv = best([(ridge, c) for c in curvs])
                ridge, curv = best([(r, curv) for r in ridges])
                ridge, curv = best([(ridge, c) for c in curvs])
            coefs = cache[(ridge, curv)][1]
        elif F > 1 and len(folds) > 1:
            ridge, curv = best([(ridges[0], curvs[0])])
            coefs = cache[(ridge, curv)][1]
        else:
            ridge, curv, coefs = ridges[0], curvs[0], []
    finally:
        if pool is not None:
            pool.shutdown()
    coef = solve_penalised(A.copy(), b, pen, ridge, curv, scale)
    return Solution(coef, ridge, curv, coefs, table)
