"""The spline value types every term is made of: clamped uniform cubic splines in 1-D and 3-D.

A :class:`Spline1D` on ``[lo, hi]`` with ``n`` intervals has ``n + 3``
coefficients; a :class:`Spline3D` is a tensor product over the three legs
(ij, ik, jk) of a triplet.  The basis and its continuation below the first
knot are :mod:`sus2c.bspline`'s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import bspline
from .schema import ModelError, array, integer, number, require


@dataclass
class Spline1D:
    """Clamped uniform cubic spline on [lo, hi] with ``intervals`` intervals."""

    lo: float
    hi: float
    intervals: int
    coefficients: np.ndarray

    def __post_init__(self):
        self.lo = float(self.lo)
        self.hi = float(self.hi)
        self.intervals = int(self.intervals)
        self.coefficients = np.ascontiguousarray(self.coefficients, dtype=float)

    def check(self, where: str, trim: bool = True):
        check_leg(self.lo, self.hi, self.intervals, where)
        c = self.coefficients
        if c.shape != (self.intervals + 3,):
            raise ModelError(
                f"{where}: expected {self.intervals + 3} coefficients for "
                f"{self.intervals} intervals, got shape {c.shape}"
            )
        if not np.all(np.isfinite(c)):
            raise ModelError(f"{where}: coefficients contain NaN or infinity")
        if trim and np.any(c[-bspline.TRIM:] != 0.0):
            raise ModelError(
                f"{where}: the last {bspline.TRIM} coefficients must be zero "
                "(trailing trim: the term must vanish smoothly at its cutoff)"
            )

    @property
    def knots(self) -> np.ndarray:
        return bspline.knot_vector(self.lo, self.hi, self.intervals)

    def with_coefficients(self, c) -> "Spline1D":
        return Spline1D(self.lo, self.hi, self.intervals, c)

    def __call__(self, r, derivative: int = 0, wall: bool = True):
        w = bspline.wall_coefficient(self.coefficients, self.intervals) if wall else 0.0
        return bspline.evaluate_1d(
            self.lo, self.hi, self.intervals, self.coefficients, r, derivative, w
        )

    def to_dict(self):
        return {
            "lo": self.lo,
            "hi": self.hi,
            "intervals": self.intervals,
            "coefficients": self.coefficients.tolist(),
        }

    @classmethod
    def from_dict(cls, d, where):
        require(d, ("lo", "hi", "intervals", "coefficients"), where)
        number(d["lo"], f"{where}.lo")
        number(d["hi"], f"{where}.hi")
        integer(d["intervals"], f"{where}.intervals")
        return cls(d["lo"], d["hi"], d["intervals"], array(d["coefficients"], f"{where}.coefficients", 1))


@dataclass
class Spline3D:
    """Tensor-product clamped uniform cubic spline in (r_ij, r_ik, r_jk).

    ``lo``, ``hi``, ``intervals`` have one entry per leg, in the order
    (ij, ik, jk); ``coefficients`` has shape ``(n_ij+3, n_ik+3, n_jk+3)``.
    """

    lo: tuple
    hi: tuple
    intervals: tuple
    coefficients: np.ndarray

    def __post_init__(self):
        self.lo = tuple(float(v) for v in self.lo)
        self.hi = tuple(float(v) for v in self.hi)
        self.intervals = tuple(int(v) for v in self.intervals)
        self.coefficients = np.ascontiguousarray(self.coefficients, dtype=float)

    def check(self, where: str, symmetric: bool = False, trim: bool = True):
        if len(self.lo) != 3 or len(self.hi) != 3 or len(self.intervals) != 3:
            raise ModelError(f"{where}: a 3-body spline needs lo, hi and intervals for 3 legs")
        for leg, name in enumerate(("ij", "ik", "jk")):
            check_leg(self.lo[leg], self.hi[leg], self.intervals[leg], f"{where} leg {name}")
        shape = tuple(n + 3 for n in self.intervals)
        c = self.coefficients
        if c.shape != shape:
            raise ModelError(f"{where}: expected coefficient shape {shape}, got {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ModelError(f"{where}: coefficients contain NaN or infinity")
        if trim:
            t = bspline.TRIM
            if np.any(c[-t:, :, :] != 0) or np.any(c[:, -t:, :] != 0) or np.any(c[:, :, -t:] != 0):
                raise ModelError(
                    f"{where}: the last {t} coefficients along every leg must be zero (trailing trim)"
                )
        if symmetric:
            if self.lo[0] != self.lo[1] or self.hi[0] != self.hi[1] or self.intervals[0] != self.intervals[1]:
                raise ModelError(f"{where}: legs ij and ik must have the same knots (symmetric term)")
            if not np.allclose(c, c.transpose(1, 0, 2), rtol=1e-12, atol=1e-14 * max(1.0, np.abs(c).max())):
                raise ModelError(f"{where}: coefficients must be symmetric under swapping legs ij and ik")

    def with_coefficients(self, c) -> "Spline3D":
        return Spline3D(self.lo, self.hi, self.intervals, c)

    def swapped(self) -> "Spline3D":
        """The same function with legs ij and ik exchanged (triplet a;bc seen as a;cb)."""
        return Spline3D(
            (self.lo[1], self.lo[0], self.lo[2]),
            (self.hi[1], self.hi[0], self.hi[2]),
            (self.intervals[1], self.intervals[0], self.intervals[2]),
            self.coefficients.transpose(1, 0, 2).copy(),
        )

    def __call__(self, rij, rik, rjk):
        rs = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (rij, rik, rjk)))
        mus, Bs = [], []
        for leg in range(3):
            mu, B, _ = bspline.evaluate_basis(
                self.lo[leg], self.hi[leg], self.intervals[leg], rs[leg], continuation="eased"
            )
            mus.append(mu)
            Bs.append(B)
        out = np.zeros(rs[0].shape)
        c = self.coefficients
        for l in range(4):
            for m in range(4):
                for n in range(4):
                    out += c[mus[0] + l, mus[1] + m, mus[2] + n] * Bs[0][..., l] * Bs[1][..., m] * Bs[2][..., n]
        return out

    def to_dict(self):
        return {
            "lo": list(self.lo),
            "hi": list(self.hi),
            "intervals": list(self.intervals),
            "coefficients": self.coefficients.tolist(),
        }

    @classmethod
    def from_dict(cls, d, where):
        require(d, ("lo", "hi", "intervals", "coefficients"), where)
        for key in ("lo", "hi", "intervals"):
            if not isinstance(d[key], list) or len(d[key]) != 3:
                raise ModelError(f"{where}.{key}: expected a list of 3 numbers (legs ij, ik, jk)")
        for v in d["lo"] + d["hi"]:
            number(v, f"{where}.lo/hi")
        for v in d["intervals"]:
            integer(v, f"{where}.intervals")
        return cls(d["lo"], d["hi"], d["intervals"], array(d["coefficients"], f"{where}.coefficients", 3))


def check_leg(lo, hi, n, where):
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ModelError(f"{where}: knot range must be finite, got [{lo}, {hi}]")
    if not hi > lo:
        raise ModelError(f"{where}: knot range [{lo}, {hi}] is empty (need hi > lo)")
    if n < 1:
        raise ModelError(f"{where}: need at least 1 interval, got {n}")
