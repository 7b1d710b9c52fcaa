"""Three-body terms: V_a;bc(r_ij, r_ik, r_jk) for centre i (element a) and neighbours j, k.

:class:`TripletSpecific` is UF3's: one tensor-product spline per triplet
type; :class:`TripletUniversal` is SUS2's: one function g(x_ij, x_ik, x_jk)
shared by every triplet, ``V = w_a w_b w_c g(x_ab(r_ij), x_ac(r_ik), x_bc(r_jk))``
(symmetric in its first two arguments).  Both need every neighbour of a
centre (a full neighbour list).
"""
from __future__ import annotations

from ..schema import as_dict, require
from ..splines import Spline3D
from .base import Term, TripletPart, n_free_3d


class TripletSpecific(Term):
    """``splines[(a, b, c)]``: V_a;bc as a spline in (r_ij, r_ik, r_jk)."""

    type = "triplet_specific"
    order = 2
    label = "specific"
    parameter_block = "three_body_specific"
    parameter_label = "3-body specific"
    needs_full_list = True

    def __init__(self, splines):
        self.splines = dict(splines)

    def is_empty(self):
        return not self.splines

    def canonical(self, model):
        """Keys in the model's order (centre, b <= c); a triplet given as a;cb has its legs swapped."""
        out = {}
        for (a, b, c), s in self.splines.items():
            key = model.triplet_key(a, b, c)
            out[key] = s if key == (a, b, c) else s.swapped()
        return TripletSpecific(out)

    def check(self, model):
        for (a, b, c), s in self.splines.items():
            s.check(f"3-body specific {a}-{b}-{c}", symmetric=(b == c))

    def to_dict(self):
        return {"type": self.type,
                "splines": {f"{a}-{b}-{c}": s.to_dict() for (a, b, c), s in self.splines.items()}}

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("splines",), where)
        splines = as_dict(d["splines"], f"{where}.splines")
        return cls({
            keys(k, 3, f"{where}.splines"): Spline3D.from_dict(as_dict(s, f"{where}.splines.{k}"), f"3-body specific {k}")
            for k, s in splines.items()
        })

    def n_parameters(self):
        return sum(n_free_3d(s, k[1] == k[2]) for k, s in self.splines.items())

    def triplet_parts(self, model, a, b, c):
        s = self.splines.get((a, b, c))
        return [] if s is None else [TripletPart(s, 1.0, self.label)]

    def map_coefficients(self, fn):
        return TripletSpecific({k: s.with_coefficients(fn(s.coefficients)) for k, s in self.splines.items()})

    @classmethod
    def template(cls, plan, columns):
        if not plan.cutoff3 > 0:
            return None
        n = plan.intervals3
        out = {}
        for a, b, c in plan.triplets:
            if not plan.has_triplet(a, b, c):
                continue
            lo = (plan.r_min(a, b), plan.r_min(a, c), plan.r_min(b, c))
            hi = (plan.cutoff3, plan.cutoff3, 2 * plan.cutoff3)
            cols = columns.three_d(f"3b {a}-{b}-{c}", n, symmetric=(b == c), ridge=plan.specific_ridge)
            out[(a, b, c)] = Spline3D(lo, hi, n, cols)
        return cls(out)


class TripletUniversal(Term):
    """``g``: the universal 3-body function, a spline in reduced coordinates (symmetric in legs ij, ik)."""

    type = "triplet_universal"
    order = 4
    label = "universal"
    parameter_block = "three_body_universal"
    parameter_label = "3-body universal g(x)"
    needs_full_list = True
    uses_scaling = True

    def __init__(self, g: Spline3D):
        self.g = g

    def check(self, model):
        self.g.check("3-body universal g(x)", symmetric=True)

    def to_dict(self):
        return {"type": self.type, "g": self.g.to_dict()}

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("g",), where)
        return cls(Spline3D.from_dict(as_dict(d["g"], f"{where}.g"), "3-body universal"))

    def n_parameters(self):
        return n_free_3d(self.g, True)

    def triplet_parts(self, model, a, b, c):
        sc, g = model.scaling, self.g
        legs = ((a, b), (a, c), (b, c))
        maps = [sc.pair(x, y) for x, y in legs]
        lo = tuple(r0 + l * g.lo[i] for i, (r0, l) in enumerate(maps))
        hi = tuple(r0 + l * g.hi[i] for i, (r0, l) in enumerate(maps))
        w = sc.amplitudes[a] * sc.amplitudes[b] * sc.amplitudes[c]
        return [TripletPart(Spline3D(lo, hi, g.intervals, g.coefficients), w, self.label, (a, b, c), legs)]

    def map_coefficients(self, fn):
        return TripletUniversal(self.g.with_coefficients(fn(self.g.coefficients)))

    @classmethod
    def template(cls, plan, columns):
        if not plan.cutoff3 > 0:
            return None
        xr, n = plan.x_ranges, plan.intervals3
        return cls(Spline3D((xr["lo"],) * 3, (xr["hi3"], xr["hi3"], xr["jk"]), n,
                            columns.three_d("3b universal g", n, symmetric=True)))
