"""Many-body embedding: E_emb = sum_i sum_k eps_{a,k} F_k(rho_{i,k}).

The densities are sums over neighbours,

    rho_{i,k} = sum_{j != i} s_{b,k} f_k((r_ij - r0^(k)_ab) / l^(k)_ab)

(a: element of i, b: element of j).  :class:`EmbeddingUniversal` has K
channels, each a density function f_k >= 0 in a reduced coordinate and an
embedding function F_k, shared by all elements; element identity is in the
scalars eps_{a,k}, s_{b,k} and the channel's pair map (per pair, or from
per-element radii and lengths by the same combination rules as the 2-body
term, so pairs never seen together get a prediction).  :class:`EmbeddingSpecific`
is the Finnis-Sinclair form for one or a few elements: F_a per element and a
density f_ab(r) per ordered pair (host a, neighbour b).

Functions: cubic B-splines with uniform clamped knots.  A density vanishes
smoothly at its cutoff (trailing trim 3), is continued below its first knot
like a 3-body leg (eased, C1) and has non-negative coefficients (LAMMPS's
density grid starts at 0).  F is a spline on [0, rho_max] with F(0) = 0 (its
first coefficient), continued linearly beyond both ends (as LAMMPS's eam
tables are above their grid).

Both variants describe themselves as channels of r-space density parts and
per-element embedding parts (:class:`EmbeddingChannel`), which is all the
kernels, the fit and the export read.  Exported to LAMMPS as one eam/fs file
per channel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import bspline
from ..scaling import Scaling
from ..schema import ModelError, as_dict, element_table, require
from ..splines import Spline1D
from .base import Term, n_free_1d


@dataclass
class DensityPart:
    """The density a neighbour b gives a host a in one channel: scale * spline(r).

    ``reduced``: the pair whose channel map (r0, l) takes r to x (universal)
    or None; ``neighbour``: element b (whose s_{b,k} is ``scale``)."""

    spline: Spline1D
    scale: float = 1.0
    reduced: tuple = None
    neighbour: str = None

    def __call__(self, r, derivative: int = 0):
        mu, B, _ = bspline.evaluate_basis(self.spline.lo, self.spline.hi, self.spline.intervals, r, derivative,
                                          continuation="eased")
        c = self.spline.coefficients
        return self.scale * np.sum(c[mu[..., None] + np.arange(4)] * B, axis=-1)


@dataclass
class EmbedPart:
    """An element's embedding function in one channel: scale * F(rho) (scale = eps_{a,k})."""

    spline: Spline1D
    scale: float = 1.0
    element: str = None
    rho_range: tuple = None  # the training range of rho (domain of validity), if known

    def __call__(self, rho, derivative: int = 0):
        s = self.spline
        mu, B, _ = bspline.evaluate_basis(s.lo, s.hi, s.intervals, rho, derivative, continuation="linear",
                                          above="linear")
        return self.scale * np.sum(s.coefficients[mu[..., None] + np.arange(4)] * B, axis=-1)


@dataclass
class EmbeddingChannel:
    """One density + embedding channel: ``density[(host, neighbour)]`` and ``embed[element]``."""

    label: str
    density: dict = field(default_factory=dict)
    embed: dict = field(default_factory=dict)
    index: int = 0  # the channel's position within its term

    @property
    def cutoff(self) -> float:
        return max((p.spline.hi for p in self.density.values()), default=0.0)


def check_density(s: Spline1D, where):
    s.check(where)
    if np.any(s.coefficients < 0):
        raise ModelError(f"{where}: density coefficients must be >= 0 (a density cannot be negative)")


def check_embedding(s: Spline1D, where):
    s.check(where, trim=False)
    if s.lo != 0.0:
        raise ModelError(f"{where}: an embedding function starts at rho = 0, got lo = {s.lo}")
    if s.coefficients[0] != 0.0:
        raise ModelError(f"{where}: F(0) must be 0 (first coefficient), got {s.coefficients[0]}")


def n_free_embedding(s: Spline1D) -> int:
    return s.intervals + 3 - 1  # all but F(0) = 0


class EmbeddingUniversal(Term):
    """K channels: ``channels[k] = {"f": Spline1D in x, "F": Spline1D in rho, "epsilon": {a: eps},
    "scaling": Scaling}``; the channel scaling's ``amplitudes`` are the neighbour weights s_b."""

    type = "embedding_universal"
    order = 6
    label = "embedding"
    parameter_block = "embedding_universal"
    parameter_label = "embedding f_k(x), F_k(rho)"
    needs_full_list = True
    lammps_style = "eam/fs"

    def __init__(self, channels):
        self.channels = [dict(c) for c in channels]

    def is_empty(self):
        return not self.channels

    def check(self, model):
        for k, c in enumerate(self.channels):
            where = f"embedding channel {k}"
            check_density(c["f"], f"{where} density f(x)")
            check_embedding(c["F"], f"{where} embedding F(rho)")
            for e in model.elements:
                v = c["epsilon"].get(e)
                if v is None or not math.isfinite(v):
                    raise ModelError(f"{where}: missing or non-finite epsilon for {e}")
            c["scaling"].check(model.elements, model.pairs(), where=f"{where} scaling")

    def to_dict(self):
        out = []
        for c in self.channels:
            d = {"f": c["f"].to_dict(), "F": c["F"].to_dict(), "epsilon": {e: float(v) for e, v in c["epsilon"].items()},
                 "scaling": c["scaling"].to_dict(list(c["epsilon"]), _pairs(list(c["epsilon"])))}
            if c.get("rho_range"):
                d["rho_range"] = {e: [float(v[0]), float(v[1])] for e, v in c["rho_range"].items()}
            out.append(d)
        return {"type": self.type, "channels": out}

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("channels",), where)
        if not isinstance(d["channels"], list):
            raise ModelError(f"{where}.channels: expected a list")
        out = []
        for k, c in enumerate(d["channels"]):
            w = f"{where}.channels[{k}]"
            c = as_dict(c, w)
            require(c, ("f", "F", "epsilon", "scaling"), w)
            out.append({
                "f": Spline1D.from_dict(as_dict(c["f"], f"{w}.f"), f"embedding channel {k} density"),
                "F": Spline1D.from_dict(as_dict(c["F"], f"{w}.F"), f"embedding channel {k} embedding"),
                "epsilon": element_table(c["epsilon"], keys.elements, f"{w}.epsilon"),
                "scaling": Scaling.from_dict(c["scaling"], keys.elements, f"{w}.scaling"),
                "rho_range": _ranges(c.get("rho_range"), keys.elements, f"{w}.rho_range"),
            })
        return cls(out)

    def n_parameters(self):
        return sum(n_free_1d(c["f"]) + n_free_embedding(c["F"]) for c in self.channels)

    def n_scalars(self, model):
        """Free scalars: eps and s per element, the channel map, less the gauges (s of the
        first element and eps of the first element fixed: F and f take their scales)."""
        n = 0
        for c in self.channels:
            sc = c["scaling"]
            maps = 2 * len(model.pairs()) if sc.mode == "pair" else 2 * len(model.elements)
            n += 2 * len(model.elements) + maps - 2
        return n

    def embedding_channels(self, model):
        out = []
        for k, c in enumerate(self.channels):
            ch = EmbeddingChannel(f"universal {k}", index=k)
            f, sc = c["f"], c["scaling"]
            for a in model.elements:
                for b in model.elements:
                    r0, l = sc.pair(a, b)
                    s = Spline1D(r0 + l * f.lo, r0 + l * f.hi, f.intervals, f.coefficients)
                    ch.density[(a, b)] = DensityPart(s, sc.amplitudes[b], model.pair_key(a, b), b)
                ch.embed[a] = EmbedPart(c["F"], c["epsilon"][a], a, (c.get("rho_range") or {}).get(a))
            out.append(ch)
        return out

    def map_coefficients(self, fn):
        return EmbeddingUniversal([dict(c, F=c["F"].with_coefficients(fn(c["F"].coefficients)))
                                   for c in self.channels])

    @classmethod
    def template(cls, plan, columns):
        """F's coefficients are the fit's columns; densities and scalars are the plan's current ones."""
        state = plan.embedding
        if not isinstance(state, EmbeddingUniversal):
            return None
        out = []
        for k, c in enumerate(state.channels):
            F = c["F"]
            out.append(dict(c, F=Spline1D(0.0, F.hi, F.intervals, columns.embedding(f"embedding F_{k}", F.intervals))))
        return cls(out)

    def with_scalars(self, channels):
        """The same term with new densities and scalars (``channels``: list of dicts)."""
        return EmbeddingUniversal(channels)


class EmbeddingSpecific(Term):
    """Finnis-Sinclair form: ``embed[a]`` F_a(rho) per element and ``density[(a, b)]``, the
    density neighbour b gives host a (ordered pairs)."""

    type = "embedding_specific"
    order = 7
    label = "embedding (specific)"
    parameter_block = "embedding_specific"
    parameter_label = "embedding F_a, densities"
    needs_full_list = True
    lammps_style = "eam/fs"

    def __init__(self, embed, density, rho_range=None):
        self.embed = dict(embed)
        self.density = dict(density)
        self.rho_range = dict(rho_range or {})

    def is_empty(self):
        return not self.embed

    def check(self, model):
        for a, s in self.embed.items():
            model.pair_key(a, a)
            check_embedding(s, f"embedding {a} F(rho)")
        for (a, b), s in self.density.items():
            model.pair_key(a, b)
            check_density(s, f"density {a}<-{b}")

    def to_dict(self):
        d = {"type": self.type, "embed": {a: s.to_dict() for a, s in self.embed.items()},
             "density": {f"{a}-{b}": s.to_dict() for (a, b), s in self.density.items()}}
        if self.rho_range:
            d["rho_range"] = {e: [float(v[0]), float(v[1])] for e, v in self.rho_range.items()}
        return d

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("embed", "density"), where)
        embed = {}
        for a, s in as_dict(d["embed"], f"{where}.embed").items():
            if a not in keys.elements:
                raise ModelError(f"{where}.embed names element {a!r}, not in elements {keys.elements}")
            embed[a] = Spline1D.from_dict(as_dict(s, f"{where}.embed.{a}"), f"embedding {a}")
        density = {}
        for k, s in as_dict(d["density"], f"{where}.density").items():
            parts = k.split("-")
            if len(parts) != 2 or any(e not in keys.elements for e in parts):
                raise ModelError(f"{where}.density: key {k!r} should name host-neighbour elements of the model")
            density[tuple(parts)] = Spline1D.from_dict(as_dict(s, f"{where}.density.{k}"), f"density {k}")
        return cls(embed, density, _ranges(d.get("rho_range"), keys.elements, f"{where}.rho_range"))

    def n_parameters(self):
        return sum(n_free_embedding(s) for s in self.embed.values()) + sum(n_free_1d(s) for s in self.density.values())

    def n_scalars(self, model):
        return 0

    def embedding_channels(self, model):
        ch = EmbeddingChannel("specific")
        for (a, b), s in self.density.items():
            ch.density[(a, b)] = DensityPart(s, 1.0, None, b)
        for a, s in self.embed.items():
            ch.embed[a] = EmbedPart(s, 1.0, a, self.rho_range.get(a))
        return [ch]

    def map_coefficients(self, fn):
        return EmbeddingSpecific({a: s.with_coefficients(fn(s.coefficients)) for a, s in self.embed.items()},
                                 self.density, self.rho_range)

    @classmethod
    def template(cls, plan, columns):
        state = plan.embedding
        if not isinstance(state, EmbeddingSpecific):
            return None
        embed = {a: Spline1D(0.0, F.hi, F.intervals, columns.embedding(f"embedding F_{a}", F.intervals))
                 for a, F in state.embed.items()}
        return cls(embed, state.density, state.rho_range)


def _ranges(d, elements, where):
    """{element: (lo, hi)} training ranges of rho from a model file (None: not recorded)."""
    if d is None:
        return None
    out = {}
    for e, v in as_dict(d, where).items():
        if e not in elements or not (isinstance(v, list) and len(v) == 2):
            raise ModelError(f"{where}.{e}: expected [lo, hi] for an element of the model")
        out[e] = (float(v[0]), float(v[1]))
    return out


def _pairs(elements):
    from itertools import combinations_with_replacement

    return list(combinations_with_replacement(elements, 2))
