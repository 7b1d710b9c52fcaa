"""Universal short-range core: the Ziegler-Biersack-Littmark screened nuclear repulsion.

Below the shortest distance of the training data a fitted potential is an
extrapolation; under high pressure, in hot MD or in radiation damage atoms
get there.  This term adds the ZBL repulsion, which needs nothing but the
atomic numbers, switched off smoothly before each pair's fitted range starts
(exactly as LAMMPS ``pair_style zbl`` switches it, so the export is exact):

    E(r) = k Z_a Z_b / r · phi(r / a) + S(r),      a = 0.46850 / (Z_a^0.23 + Z_b^0.23)
    phi(x) = 0.18175 e^(-3.19980 x) + 0.50986 e^(-0.94229 x) + 0.28022 e^(-0.40290 x) + 0.02817 e^(-0.20162 x)

k = e²/(4 pi eps0) = 14.399645 eV Å.  S is the switching polynomial of
LAMMPS's lj/gromacs and zbl styles: constant below r_in, a cubic plus quartic
in (r - r_in) between r_in and r_out, chosen so that E, E' and E'' vanish at
r_out.  Each pair has its own (r_in, r_out); the term has no free
parameters (a fit sees it as fixed and fits the rest of the model to the
data minus the ZBL energy).
"""
from __future__ import annotations

import math

import numpy as np

from ..schema import KeyParser, ModelError, as_dict, number, require
from .base import Term

COULOMB = 14.399645  # e²/(4 pi eps0) in eV Å, as LAMMPS's metal units
SCREEN_LENGTH = 0.46850  # Å
SCREEN_POWER = 0.23
SCREEN_C = (0.18175, 0.50986, 0.28022, 0.02817)
SCREEN_D = (3.19980, 0.94229, 0.40290, 0.20162)


def _zbl(zz, a, r, derivative=0):
    """The unswitched ZBL energy k zz/r phi(r/a) or its first or second r-derivative."""
    r = np.asarray(r, dtype=float)
    e = np.zeros(r.shape)
    for c, d in zip(SCREEN_C, SCREEN_D):
        b = d / a
        ex = c * np.exp(-b * r)
        if derivative == 0:
            e += ex / r
        elif derivative == 1:
            e += -ex * (1.0 / r**2 + b / r)
        else:
            e += ex * (2.0 / r**3 + 2.0 * b / r**2 + b * b / r)
    return COULOMB * zz * e


class ZBLPair:
    """The switched ZBL energy of one element pair, callable like a spline part:
    ``pair(r, derivative=0)``; ``lo``/``hi`` = (r_in, r_out), ``knots`` = both."""

    def __init__(self, za, zb, inner, outer):
        self.za, self.zb = float(za), float(zb)
        self.zz = self.za * self.zb
        self.a = SCREEN_LENGTH / (self.za**SCREEN_POWER + self.zb**SCREEN_POWER)
        self.lo, self.hi = float(inner), float(outer)
        tc = self.hi - self.lo
        e, e1, e2 = (float(_zbl(self.zz, self.a, self.hi, k)) for k in (0, 1, 2))
        # S = A/3 t³ + B/4 t⁴ + C for t = r - r_in > 0, C below: E, E', E'' = 0 at r_out
        self.A = (-3.0 * e1 + tc * e2) / (tc * tc)
        self.B = (2.0 * e1 - tc * e2) / (tc * tc * tc)
        self.C = -e + 0.5 * tc * e1 - tc * tc * e2 / 12.0

    @property
    def knots(self):
        return np.array([self.lo, self.hi])

    def __call__(self, r, derivative: int = 0):
        r = np.asarray(r, dtype=float)
        rr = np.maximum(r, 1e-12)
        t = np.maximum(rr - self.lo, 0.0)
        if derivative == 0:
            v = _zbl(self.zz, self.a, rr) + self.A / 3 * t**3 + self.B / 4 * t**4 + self.C
        elif derivative == 1:
            v = _zbl(self.zz, self.a, rr, 1) + t * t * (self.A + self.B * t)
        else:
            v = _zbl(self.zz, self.a, rr, 2) + t * (2.0 * self.A + 3.0 * self.B * t)
        return np.where(r < self.hi, v, 0.0)


class ZBLCore(Term):
    """ZBL repulsion per element pair, switched off between ``switch[(a, b)] = (r_in, r_out)``."""

    type = "zbl"
    order = 5
    label = "ZBL"
    parameter_block = ""  # fixed: no free parameters
    lammps_style = "zbl"

    def __init__(self, switch):
        self.switch = {k: (float(v[0]), float(v[1])) for k, v in dict(switch).items()}

    def is_empty(self):
        return not self.switch

    def canonical(self, model):
        return ZBLCore({model.pair_key(a, b): v for (a, b), v in self.switch.items()})

    def check(self, model):
        for (a, b), (inner, outer) in self.switch.items():
            if not (math.isfinite(inner) and math.isfinite(outer) and 0 < inner < outer):
                raise ModelError(f"ZBL {a}-{b}: need 0 < r_in < r_out, got r_in={inner}, r_out={outer}")

    def to_dict(self):
        return {"type": self.type,
                "switch": {f"{a}-{b}": {"r_in": v[0], "r_out": v[1]} for (a, b), v in self.switch.items()}}

    @classmethod
    def from_dict(cls, d, keys: KeyParser, where):
        require(d, ("switch",), where)
        out = {}
        for k, v in as_dict(d["switch"], f"{where}.switch").items():
            v = as_dict(v, f"{where}.switch.{k}")
            require(v, ("r_in", "r_out"), f"{where}.switch.{k}")
            out[keys(k, 2, f"{where}.switch")] = (number(v["r_in"], f"{where}.switch.{k}.r_in"),
                                                  number(v["r_out"], f"{where}.switch.{k}.r_out"))
        return cls(out)

    def n_parameters(self):
        return 0

    def map_coefficients(self, fn):
        return self

    def pair_function(self, model, a, b):
        """The switched ZBL energy of the canonical pair (a, b) (a :class:`ZBLPair`), or None."""
        if (a, b) not in self.switch:
            return None
        from ase.data import atomic_numbers

        return ZBLPair(atomic_numbers[a], atomic_numbers[b], *self.switch[(a, b)])

    def kernel_tables(self, model, pairs):
        """Per pair (in ``pairs`` order): k Z_a Z_b, 1/a, r_in, r_out and the switch's A, B, C
        (r_out = 0: no ZBL for the pair)."""
        rows = []
        for a, b in pairs:
            z = self.pair_function(model, a, b)
            rows.append([0.0] * 7 if z is None else [COULOMB * z.zz, 1.0 / z.a, z.lo, z.hi, z.A, z.B, z.C])
        return {"zbl": np.ascontiguousarray(rows, dtype=float).reshape(len(pairs), 7)}

    @classmethod
    def for_fit(cls, r_out, width):
        """Switched on below ``r_out[pair]``, off from r_out - width (at most half of r_out)."""
        return cls({p: (max(r - width, 0.5 * r), r) for p, r in r_out.items()})
