"""Two-body terms: phi_ab(r), each bond counted once.

:class:`PairSpecific` is UF3's: one spline in r per element pair.
:class:`PairUniversal` is SUS2's: one function u(x) shared by every pair,
``phi_ab(r) = w_a w_b u((r - r0_ab) / l_ab)``; because x is affine in r it
is also an exact spline in r (knots r0 + l t), which is how the kernels and
the LAMMPS export see it.
"""
from __future__ import annotations

from ..schema import as_dict, require
from ..splines import Spline1D
from .base import PairPart, Term, n_free_1d


class PairSpecific(Term):
    """``splines[(a, b)]``: phi_ab as a spline in r, for the pairs that have one."""

    type = "pair_specific"
    order = 1
    label = "specific"
    parameter_block = "two_body_specific"
    parameter_label = "2-body specific"

    def __init__(self, splines):
        self.splines = dict(splines)

    def is_empty(self):
        return not self.splines

    def canonical(self, model):
        """The same term with keys in the model's element order."""
        return PairSpecific({model.pair_key(a, b): s for (a, b), s in self.splines.items()})

    def check(self, model):
        for (a, b), s in self.splines.items():
            s.check(f"2-body specific {a}-{b}")

    def to_dict(self):
        return {"type": self.type, "splines": {f"{a}-{b}": s.to_dict() for (a, b), s in self.splines.items()}}

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("splines",), where)
        splines = as_dict(d["splines"], f"{where}.splines")
        return cls({
            keys(k, 2, f"{where}.splines"): Spline1D.from_dict(as_dict(s, f"{where}.splines.{k}"), f"2-body specific {k}")
            for k, s in splines.items()
        })

    def n_parameters(self):
        return sum(n_free_1d(s) for s in self.splines.values())

    def pair_parts(self, model, a, b):
        s = self.splines.get((a, b))
        return [] if s is None else [PairPart(s, 1.0, self.label)]

    def map_coefficients(self, fn):
        return PairSpecific({k: s.with_coefficients(fn(s.coefficients)) for k, s in self.splines.items()})

    @classmethod
    def template(cls, plan, columns):
        n = plan.intervals2
        return cls({
            (a, b): Spline1D(plan.r_min(a, b), plan.cutoff2, n,
                             columns.one_d(f"2b {a}-{b}", n, ridge=plan.specific_ridge))
            for a, b in plan.pairs if plan.has_pair(a, b)
        })


class PairUniversal(Term):
    """``u``: the universal 2-body function, a spline in the reduced coordinate x."""

    type = "pair_universal"
    order = 3
    label = "universal"
    parameter_block = "two_body_universal"
    parameter_label = "2-body universal u(x)"
    uses_scaling = True

    def __init__(self, u: Spline1D):
        self.u = u

    def check(self, model):
        self.u.check("2-body universal u(x)")

    def to_dict(self):
        return {"type": self.type, "u": self.u.to_dict()}

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("u",), where)
        return cls(Spline1D.from_dict(as_dict(d["u"], f"{where}.u"), "2-body universal"))

    def n_parameters(self):
        return n_free_1d(self.u)

    def pair_parts(self, model, a, b):
        sc = model.scaling
        r0, l = sc.pair(a, b)
        u = self.u
        s = Spline1D(r0 + l * u.lo, r0 + l * u.hi, u.intervals, u.coefficients)
        return [PairPart(s, sc.amplitudes[a] * sc.amplitudes[b], self.label, (a, b), (a, b))]

    def map_coefficients(self, fn):
        return PairUniversal(self.u.with_coefficients(fn(self.u.coefficients)))

    @classmethod
    def template(cls, plan, columns):
        xr, n = plan.x_ranges, plan.intervals2
        return cls(Spline1D(xr["lo"], xr["hi2"], n, columns.one_d("2b universal u", n)))
