"""Clamped uniform cubic B-splines: the one basis every sus2c term uses.

A spline on ``[lo, hi]`` with ``n`` uniform intervals has the clamped knot
vector ``lo x4, lo+h, ..., hi-h, hi x4`` (``h = (hi - lo)/n``) and ``n + 3``
basis functions.  On interval ``mu`` (``lo + mu h <= r < lo + (mu+1) h``) the
four non-zero functions are ``B_mu .. B_mu+3`` and each is a cubic polynomial
in the local coordinate ``u = (r - lo)/h - mu``.  :func:`basis_table` returns
those polynomial coefficients, ``T[mu, k, p]`` with
``B_{mu+k} = sum_p T[mu, k, p] u**p``; the compiled kernels evaluate the
basis from this table with Horner's rule, and so does the numpy code here.

Below the first knot (``r < lo``) the basis is continued in one of two ways:

* ``"taylor"`` (2-body terms): each function by its second-order Taylor
  polynomial at ``lo``, so the continuation is C2 and, with the repulsive
  cubic wall of :func:`wall_coefficient`, keeps rising as atoms approach;
* ``"eased"`` (3-body legs): over one knot interval below ``lo`` each
  function's slope eases linearly to zero (``B(lo) + B'(lo) (u + u**2/2)`` for
  ``-1 <= u <= 0``, in units of the interval), and below that it is constant.
  Value and slope are continuous everywhere (C1: forces do not jump at the
  first knot), and a 3-body term stays bounded however close atoms come
  (within half an interval's worth of its slope at ``lo``), so the 2-body
  wall dominates.

Both are exactly representable by splines with extra knots below ``lo``
(which is how the LAMMPS export stays exact): the Taylor continuation by a
simple knot at ``lo``, the eased one by double knots at ``lo`` and one
interval below.  Above ``hi`` every basis function is zero.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

DEGREE = 3
TRIM = 3  # trailing coefficients held at zero: value, slope, curvature vanish at the cutoff


def knot_vector(lo: float, hi: float, n: int) -> np.ndarray:
    """The clamped uniform knot vector (length n + 7) of a cubic spline."""
    inner = lo + (hi - lo) * np.arange(n + 1) / n
    inner[-1] = hi
    return np.concatenate([[lo] * 3, inner, [hi] * 3])


@lru_cache(maxsize=None)
def _table(n: int) -> np.ndarray:
    from scipy.interpolate import BSpline, PPoly

    t = np.concatenate([[0.0] * 3, np.arange(n + 1, dtype=float), [float(n)] * 3])
    table = np.zeros((n, 4, 4))
    for k in range(n + 3):
        c = np.zeros(n + 3)
        c[k] = 1.0
        pp = PPoly.from_spline(BSpline(t, c, DEGREE))
        # pp.x holds the breakpoints (with repeats); keep the unit intervals.
        for mu in range(n):
            j = k - mu
            if not 0 <= j < 4:
                continue
            seg = np.searchsorted(pp.x, mu, side="right") - 1
            # PPoly stores highest power first, in (x - x_seg) = u on unit intervals
            table[mu, j, :] = pp.c[::-1, seg]
    table.setflags(write=False)
    return table


def basis_table(n: int) -> np.ndarray:
    """Polynomial coefficients ``T[mu, k, p]`` of the basis on each interval (see module doc)."""
    if n < 1:
        raise ValueError(f"a spline needs at least one interval, got {n}")
    return _table(int(n))


def evaluate_basis(lo: float, hi: float, n: int, r, derivative: int = 0, continuation: str = "taylor",
                   above: str = "zero"):
    """Non-zero basis values at distances ``r``.

    Returns ``(mu, B, inside)`` with ``mu`` the index of the first non-zero
    function (shape of r), ``B`` the values (or first / second derivative with
    respect to r) of ``B_mu .. B_mu+3`` (shape r.shape + (4,)), and ``inside``
    the mask ``r < hi`` (outside it every value is zero, unless ``above`` is
    ``"linear"``: then each function continues as its tangent at ``hi``).
    ``continuation="linear"``: below ``lo`` each function continues as its
    tangent at ``lo`` (embedding functions F(rho), as LAMMPS's tables do above).
    """
    r = np.asarray(r, dtype=float)
    h = (hi - lo) / n
    T = basis_table(n)
    u = (r - lo) / h
    inside = r < hi
    mu = np.clip(np.floor(u), 0, n - 1).astype(np.int64)
    below = u < 0
    coef = T[mu].copy()  # (..., 4, 4)
    beyond = np.zeros(u.shape, dtype=bool)
    if above == "linear":
        beyond = u >= n
        inside = np.ones(u.shape, dtype=bool)
        last = T[n - 1]  # (4 k, 4 p) in the local coordinate of the last interval
        val = last.sum(axis=1)  # p(1)
        der = last[:, 1] + 2 * last[:, 2] + 3 * last[:, 3]  # p'(1)
        coef[beyond] = np.stack([val - der, der, np.zeros(4), np.zeros(4)], axis=1)
    elif above != "zero":
        raise ValueError(f"above must be 'zero' or 'linear', got {above!r}")
    if continuation == "linear":
        loc = np.where(below, u, u - mu)
        coef[below, :, 2:] = 0.0
    elif continuation == "taylor":
        loc = np.where(below, u, u - mu)
        coef[below, :, 3] = 0.0  # second-order Taylor continuation below lo
    elif continuation == "eased":
        # below lo: c0 + c1 (t + t²/2) with t = max(u, -1)
        loc = np.where(below, np.maximum(u, -1.0), u - mu)
        coef[below, :, 2] = 0.5 * coef[below, :, 1]
        coef[below, :, 3] = 0.0
    else:
        raise ValueError(f"continuation must be 'taylor', 'eased' or 'linear', got {continuation!r}")
    powers = np.arange(4)
    if derivative == 0:
        upow = loc[..., None] ** powers
        B = np.einsum("...kp,...p->...k", coef, upow)
    elif derivative == 1:
        upow = np.where(powers[1:] > 0, loc[..., None] ** (powers[1:] - 1), 0.0)
        B = np.einsum("...kp,...p->...k", coef[..., 1:] * powers[1:], upow) / h
    elif derivative == 2:
        upow = loc[..., None] ** np.array([0, 1])
        B = np.einsum("...kp,...p->...k", coef[..., 2:] * np.array([2.0, 6.0]), upow) / h**2
    else:
        raise ValueError("derivative must be 0, 1 or 2")
    if continuation == "eased" and derivative > 0:
        B = np.where((u < -1.0)[..., None], 0.0, B)
    B = np.where(inside[..., None], B, 0.0)
    return mu, B, inside


def design_matrix(lo: float, hi: float, n: int, r, derivative: int = 0, continuation: str = "taylor") -> np.ndarray:
    """Dense matrix ``A[s, k] = B_k^(derivative)(r_s)`` (continued below lo as chosen)."""
    r = np.atleast_1d(np.asarray(r, dtype=float))
    mu, B, _ = evaluate_basis(lo, hi, n, r, derivative, continuation)
    A = np.zeros((r.size, n + 3))
    rows = np.arange(r.size)
    for k in range(4):
        A[rows, mu + k] += B[:, k]
    return A


def wall_coefficient(coefficients, n: int) -> float:
    """Cubic repulsive-wall strength for a 1-D spline continued below its first knot.

    With ``d = (lo - r)/h`` the continued spline is ``a0 - a1 d + a2 d**2``;
    adding ``c3 d**3`` with this ``c3`` makes the energy rise monotonically
    (repulsive) for ``d >= 1`` whatever the fitted slope and curvature at
    ``lo``; for the usual steep convex wall it is zero.
    """
    T = basis_table(n)[0]
    c = np.asarray(coefficients, dtype=float)[:4]
    a1 = float(c @ T[:, 1])
    a2 = float(c @ T[:, 2])
    return (max(0.0, a1) + 2.0 * max(0.0, -a2)) / 3.0


def evaluate_1d(lo, hi, n, coefficients, r, derivative: int = 0, wall: float = 0.0):
    """Value (or derivative) of a 1-D spline, with the below-``lo`` continuation and wall."""
    c = np.asarray(coefficients, dtype=float)
    mu, B, _ = evaluate_basis(lo, hi, n, r, derivative)
    idx = mu[..., None] + np.arange(4)
    out = np.sum(c[idx] * B, axis=-1)
    if wall:
        h = (hi - lo) / n
        d = np.maximum((lo - np.asarray(r, dtype=float)) / h, 0.0)
        if derivative == 0:
            out = out + wall * d**3
        elif derivative == 1:
            out = out - 3.0 * wall * d**2 / h
        else:
            out = out + 6.0 * wall * d / h**2
    return out
