"""The sus2c energy model (DESIGN.md section 1) and its JSON file.

::

    E = sum_i e1(a_i)
      + sum_{bonds i<j} phi_ab(r_ij)                      (each bond once)
      + sum_i sum_{j<k in N3(i)} V_a;bc(r_ij, r_ik, r_jk)  (i is the centre)

Each 2- and 3-body term is the sum of an optional *specific* part (its own
spline in r per pair / triplet) and an optional *universal* part
(``phi_ab = w_a w_b u(x_ab)``, ``V = w_a w_b w_c g(x_ab, x_ac, x_bc)`` with
``x_ab = (r - r0_ab)/l_ab``).  Because x is affine in r, every universal part
is also an exact clamped uniform spline in r; :meth:`Model.pair_parts` and
:meth:`Model.triplet_parts` give every term as such r-space splines, which is
all the compiled kernels and the LAMMPS export ever see.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numpy as np

from . import bspline

FORMAT = "sus2c-model"
SCHEMA_VERSION = 1


class ModelError(ValueError):
    """A model (or model file) that is not valid, with the reason in the message."""


# --------------------------------------------------------------------------- splines


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
        _check_leg(self.lo, self.hi, self.intervals, where)
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
        _require(d, ("lo", "hi", "intervals", "coefficients"), where)
        _number(d["lo"], f"{where}.lo")
        _number(d["hi"], f"{where}.hi")
        _integer(d["intervals"], f"{where}.intervals")
        return cls(d["lo"], d["hi"], d["intervals"], _array(d["coefficients"], f"{where}.coefficients", 1))


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
            _check_leg(self.lo[leg], self.hi[leg], self.intervals[leg], f"{where} leg {name}")
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
                self.lo[leg], self.hi[leg], self.intervals[leg], rs[leg], continuation="constant"
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
        _require(d, ("lo", "hi", "intervals", "coefficients"), where)
        for key in ("lo", "hi", "intervals"):
            if not isinstance(d[key], list) or len(d[key]) != 3:
                raise ModelError(f"{where}.{key}: expected a list of 3 numbers (legs ij, ik, jk)")
        for v in d["lo"] + d["hi"]:
            _number(v, f"{where}.lo/hi")
        for v in d["intervals"]:
            _integer(v, f"{where}.intervals")
        return cls(d["lo"], d["hi"], d["intervals"], _array(d["coefficients"], f"{where}.coefficients", 3))


def _check_leg(lo, hi, n, where):
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ModelError(f"{where}: knot range must be finite, got [{lo}, {hi}]")
    if not hi > lo:
        raise ModelError(f"{where}: knot range [{lo}, {hi}] is empty (need hi > lo)")
    if n < 1:
        raise ModelError(f"{where}: need at least 1 interval, got {n}")


# --------------------------------------------------------------------------- scaling


@dataclass
class Scaling:
    """Element amplitudes and the per-pair affine map x_ab = (r - r0_ab)/l_ab.

    ``mode == "pair"``: ``pairs[(a, b)] = (r0, l)`` for every pair.
    ``mode == "element"``: ``radii[a]``, ``lengths[a]``; r0_ab = rho_a + rho_b,
    l_ab = (lambda_a + lambda_b)/2.
    """

    mode: str
    amplitudes: dict
    pairs: dict = field(default_factory=dict)
    radii: dict = field(default_factory=dict)
    lengths: dict = field(default_factory=dict)

    def pair(self, a: str, b: str):
        if self.mode == "pair":
            key = (a, b) if (a, b) in self.pairs else (b, a)
            if key not in self.pairs:
                raise ModelError(f"scaling: no (r0, l) for the pair {a}-{b}")
            r0, l = self.pairs[key]
        else:
            r0 = self.radii[a] + self.radii[b]
            l = 0.5 * (self.lengths[a] + self.lengths[b])
        return float(r0), float(l)


# --------------------------------------------------------------------------- model


class Model:
    """A sus2c potential: one-body energies, 2-body and 3-body terms.

    Parameters
    ----------
    elements : list of chemical symbols (their order fixes the canonical
        order of pair and triplet keys).
    one_body : {element: energy in eV}
    pair_specific : {(a, b): Spline1D in r}
    triplet_specific : {(centre, b, c): Spline3D in (r_ij, r_ik, r_jk)}
    pair_universal : Spline1D in x, shared by all pairs (u)
    triplet_universal : Spline3D in x, shared by all triplets (g; symmetric
        in its first two legs)
    scaling : Scaling, needed with any universal part
    metadata : free-form JSON-able dict (fit settings, errors, ...)
    """

    def __init__(
        self,
        elements,
        one_body=None,
        pair_specific=None,
        triplet_specific=None,
        pair_universal=None,
        triplet_universal=None,
        scaling=None,
        metadata=None,
    ):
        self.elements = [str(e) for e in elements]
        self.one_body = {e: float((one_body or {}).get(e, 0.0)) for e in self.elements}
        order = {e: i for i, e in enumerate(self.elements)}
        self.pair_specific = {}
        for (a, b), s in (pair_specific or {}).items():
            self.pair_specific[self._pair_key(a, b, order)] = s
        self.triplet_specific = {}
        for (a, b, c), s in (triplet_specific or {}).items():
            key = self._triplet_key(a, b, c, order)
            self.triplet_specific[key] = s if key == (a, b, c) else s.swapped()
        self.pair_universal = pair_universal
        self.triplet_universal = triplet_universal
        self.scaling = scaling
        self.metadata = dict(metadata or {})
        self.validate()

    # ---- keys
    def _pair_key(self, a, b, order=None):
        order = order or {e: i for i, e in enumerate(self.elements)}
        for e in (a, b):
            if e not in order:
                raise ModelError(f"element {e!r} is not one of the model's elements {self.elements}")
        return (a, b) if order[a] <= order[b] else (b, a)

    def _triplet_key(self, a, b, c, order=None):
        order = order or {e: i for i, e in enumerate(self.elements)}
        for e in (a, b, c):
            if e not in order:
                raise ModelError(f"element {e!r} is not one of the model's elements {self.elements}")
        return (a, b, c) if order[b] <= order[c] else (a, c, b)

    def pairs(self):
        return list(combinations_with_replacement(self.elements, 2))

    def triplets(self):
        return [(a, b, c) for a in self.elements for b, c in combinations_with_replacement(self.elements, 2)]

    # ---- validation
    def validate(self):
        if not self.elements:
            raise ModelError("a model needs at least one element")
        if len(set(self.elements)) != len(self.elements):
            raise ModelError(f"elements listed twice: {self.elements}")
        from ase.data import atomic_numbers

        for e in self.elements:
            if e not in atomic_numbers:
                raise ModelError(f"{e!r} is not a chemical symbol")
        for e, v in self.one_body.items():
            if not math.isfinite(v):
                raise ModelError(f"one-body energy of {e} is not finite")
        for (a, b), s in self.pair_specific.items():
            s.check(f"2-body specific {a}-{b}")
        for (a, b, c), s in self.triplet_specific.items():
            s.check(f"3-body specific {a}-{b}-{c}", symmetric=(b == c))
        if self.pair_universal is not None:
            self.pair_universal.check("2-body universal u(x)")
        if self.triplet_universal is not None:
            self.triplet_universal.check("3-body universal g(x)", symmetric=True)
        if self.pair_universal is not None or self.triplet_universal is not None:
            s = self.scaling
            if s is None:
                raise ModelError("a model with universal parts needs a scaling (amplitudes, r0, l)")
            if s.mode not in ("pair", "element"):
                raise ModelError(f"scaling mode must be 'pair' or 'element', got {s.mode!r}")
            for e in self.elements:
                if e not in s.amplitudes or not math.isfinite(s.amplitudes[e]):
                    raise ModelError(f"scaling: missing or non-finite amplitude w for {e}")
                if s.mode == "element":
                    for name, table in (("radius rho", s.radii), ("length lambda", s.lengths)):
                        if e not in table or not math.isfinite(table[e]):
                            raise ModelError(f"scaling: missing or non-finite {name} for {e}")
            for a, b in self.pairs():
                r0, l = s.pair(a, b)
                if not (math.isfinite(r0) and math.isfinite(l)) or l <= 0:
                    raise ModelError(f"scaling: pair {a}-{b} needs finite r0 and l > 0, got r0={r0}, l={l}")

    # ---- r-space view of every term
    def pair_parts(self, a, b):
        """All parts of phi_ab as r-space splines (specific first, then universal)."""
        key = self._pair_key(a, b)
        parts = []
        if key in self.pair_specific:
            parts.append(self.pair_specific[key])
        u = self.pair_universal
        if u is not None:
            r0, l = self.scaling.pair(a, b)
            w = self.scaling.amplitudes[a] * self.scaling.amplitudes[b]
            parts.append(Spline1D(r0 + l * u.lo, r0 + l * u.hi, u.intervals, w * u.coefficients))
        return parts

    def triplet_parts(self, a, b, c):
        """All parts of V_a;bc (centre a, j of element b, k of element c) as r-space splines."""
        key = self._triplet_key(a, b, c)
        parts = []
        if key in self.triplet_specific:
            s = self.triplet_specific[key]
            parts.append(s if key == (a, b, c) else s.swapped())
        g = self.triplet_universal
        if g is not None:
            sc = self.scaling
            legs = (sc.pair(a, b), sc.pair(a, c), sc.pair(b, c))
            lo = tuple(r0 + l * g.lo[i] for i, (r0, l) in enumerate(legs))
            hi = tuple(r0 + l * g.hi[i] for i, (r0, l) in enumerate(legs))
            w = sc.amplitudes[a] * sc.amplitudes[b] * sc.amplitudes[c]
            parts.append(Spline3D(lo, hi, g.intervals, w * g.coefficients))
        return parts

    def pair_energy(self, a, b, r, derivative: int = 0):
        """phi_ab(r) (or its derivative), including the below-first-knot continuation."""
        r = np.asarray(r, dtype=float)
        return sum((p(r, derivative) for p in self.pair_parts(a, b)), np.zeros(r.shape))

    def triplet_energy(self, a, b, c, rij, rik, rjk):
        """V_a;bc(r_ij, r_ik, r_jk)."""
        shape = np.broadcast_shapes(np.shape(rij), np.shape(rik), np.shape(rjk))
        return sum((p(rij, rik, rjk) for p in self.triplet_parts(a, b, c)), np.zeros(shape))

    def cutoff2(self, a, b) -> float:
        return max((p.hi for p in self.pair_parts(a, b)), default=0.0)

    def cutoff3(self, a, b) -> float:
        """Largest r_ij for which a neighbour of element b of a centre a enters a triplet."""
        rc = 0.0
        for c in self.elements:
            for p in self.triplet_parts(a, b, c):
                rc = max(rc, p.hi[0])
        return rc

    @property
    def cutoff(self) -> float:
        """The largest distance any term sees."""
        return max([0.0] + [max(self.cutoff2(a, b), self.cutoff3(a, b), self.cutoff3(b, a)) for a, b in self.pairs()])

    @property
    def has_three_body(self) -> bool:
        return bool(self.triplet_specific) or self.triplet_universal is not None

    def n_parameters(self) -> dict:
        """Free parameters per block (trimmed coefficients excluded)."""
        t = bspline.TRIM

        def n1(s):
            return s.intervals + 3 - t

        def n3(s, sym):
            a, b, c = (n + 3 - t for n in s.intervals)
            return (a * (a + 1) // 2) * c if sym else a * b * c

        counts = {"one_body": len(self.elements)}
        counts["two_body_specific"] = sum(n1(s) for s in self.pair_specific.values())
        counts["three_body_specific"] = sum(n3(s, k[1] == k[2]) for k, s in self.triplet_specific.items())
        counts["two_body_universal"] = n1(self.pair_universal) if self.pair_universal else 0
        counts["three_body_universal"] = n3(self.triplet_universal, True) if self.triplet_universal else 0
        sc = self.scaling
        if sc is None or (self.pair_universal is None and self.triplet_universal is None):
            counts["scaling"] = 0
        elif sc.mode == "pair":
            counts["scaling"] = len(self.elements) + 2 * len(self.pairs())
        else:
            counts["scaling"] = 3 * len(self.elements)
        counts["total"] = sum(counts.values())
        return counts

    # ---- kernels
    def compiled(self):
        """The flat tables the compiled kernels read (built once, cached)."""
        if getattr(self, "_compiled", None) is None:
            from ._tables import compile_model

            self._compiled = compile_model(self)
        return self._compiled

    # ---- JSON
    def to_dict(self):
        sc = self.scaling
        scaling = None
        if sc is not None:
            scaling = {"mode": sc.mode, "amplitudes": {e: float(sc.amplitudes[e]) for e in self.elements}}
            if sc.mode == "pair":
                scaling["pairs"] = {
                    f"{a}-{b}": {"r0": sc.pair(a, b)[0], "l": sc.pair(a, b)[1]} for a, b in self.pairs()
                }
            else:
                scaling["radii"] = {e: float(sc.radii[e]) for e in self.elements}
                scaling["lengths"] = {e: float(sc.lengths[e]) for e in self.elements}
        return {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "elements": list(self.elements),
            "one_body": dict(self.one_body),
            "two_body": {
                "specific": {f"{a}-{b}": s.to_dict() for (a, b), s in self.pair_specific.items()},
                "universal": self.pair_universal.to_dict() if self.pair_universal else None,
            },
            "three_body": {
                "specific": {f"{a}-{b}-{c}": s.to_dict() for (a, b, c), s in self.triplet_specific.items()},
                "universal": self.triplet_universal.to_dict() if self.triplet_universal else None,
            },
            "scaling": scaling,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise ModelError("model file must hold a JSON object")
        if d.get("format") != FORMAT:
            raise ModelError(f"not a sus2c model: 'format' is {d.get('format')!r}, expected {FORMAT!r}")
        _require(d, ("version", "elements", "one_body", "two_body", "three_body"), "model")
        v = d["version"]
        if not isinstance(v, int) or isinstance(v, bool):
            raise ModelError(f"model.version must be an integer, got {v!r}")
        if v > SCHEMA_VERSION:
            raise ModelError(
                f"model file has schema version {v}, newer than this sus2c understands "
                f"({SCHEMA_VERSION}); upgrade sus2c"
            )
        if v < 1:
            raise ModelError(f"unknown model schema version {v}")
        elements = d["elements"]
        if not isinstance(elements, list) or not all(isinstance(e, str) for e in elements):
            raise ModelError("model.elements must be a list of chemical symbols")
        eset = set(elements)
        ob = _dict(d["one_body"], "model.one_body")
        for e, val in ob.items():
            if e not in eset:
                raise ModelError(f"model.one_body names element {e!r}, not in elements {elements}")
            _number(val, f"model.one_body.{e}")
        missing = eset - set(ob)
        if missing:
            raise ModelError(f"model.one_body has no energy for {sorted(missing)}")
        two = _dict(d["two_body"], "model.two_body")
        three = _dict(d["three_body"], "model.three_body")
        _require(two, ("specific", "universal"), "model.two_body")
        _require(three, ("specific", "universal"), "model.three_body")

        seen = {}

        def split(key, n, where):
            parts = key.split("-")
            if len(parts) != n:
                raise ModelError(f"{where}: key {key!r} should name {n} elements joined by '-'")
            for e in parts:
                if e not in eset:
                    raise ModelError(f"{where}: key {key!r} names element {e!r}, not in elements {elements}")
            canon = tuple(sorted(parts)) if n == 2 else (parts[0],) + tuple(sorted(parts[1:]))
            other = seen.setdefault((where, canon), key)
            if other != key:
                raise ModelError(f"{where}: {other!r} and {key!r} name the same term twice")
            return tuple(parts)

        pair_specific = {
            split(k, 2, "model.two_body.specific"): Spline1D.from_dict(_dict(s, f"two_body.specific.{k}"), f"2-body specific {k}")
            for k, s in _dict(two["specific"], "model.two_body.specific").items()
        }
        triplet_specific = {
            split(k, 3, "model.three_body.specific"): Spline3D.from_dict(_dict(s, f"three_body.specific.{k}"), f"3-body specific {k}")
            for k, s in _dict(three["specific"], "model.three_body.specific").items()
        }
        pu = Spline1D.from_dict(_dict(two["universal"], "two_body.universal"), "2-body universal") if two["universal"] is not None else None
        tu = Spline3D.from_dict(_dict(three["universal"], "three_body.universal"), "3-body universal") if three["universal"] is not None else None
        scaling = None
        if d.get("scaling") is not None:
            s = _dict(d["scaling"], "model.scaling")
            _require(s, ("mode", "amplitudes"), "model.scaling")
            amps = _dict(s["amplitudes"], "model.scaling.amplitudes")
            for e, val in amps.items():
                if e not in eset:
                    raise ModelError(f"model.scaling.amplitudes names element {e!r}, not in elements {elements}")
                _number(val, f"model.scaling.amplitudes.{e}")
            if s["mode"] == "pair":
                _require(s, ("pairs",), "model.scaling")
                pairs = {}
                for k, p in _dict(s["pairs"], "model.scaling.pairs").items():
                    p = _dict(p, f"model.scaling.pairs.{k}")
                    _require(p, ("r0", "l"), f"model.scaling.pairs.{k}")
                    _number(p["r0"], f"model.scaling.pairs.{k}.r0")
                    _number(p["l"], f"model.scaling.pairs.{k}.l")
                    pairs[split(k, 2, "model.scaling.pairs")] = (float(p["r0"]), float(p["l"]))
                scaling = Scaling("pair", {e: float(v) for e, v in amps.items()}, pairs=pairs)
            elif s["mode"] == "element":
                _require(s, ("radii", "lengths"), "model.scaling")
                radii = _dict(s["radii"], "model.scaling.radii")
                lengths = _dict(s["lengths"], "model.scaling.lengths")
                for name, table in (("radii", radii), ("lengths", lengths)):
                    for e, val in table.items():
                        if e not in eset:
                            raise ModelError(f"model.scaling.{name} names element {e!r}, not in elements {elements}")
                        _number(val, f"model.scaling.{name}.{e}")
                scaling = Scaling(
                    "element",
                    {e: float(v) for e, v in amps.items()},
                    radii={e: float(v) for e, v in radii.items()},
                    lengths={e: float(v) for e, v in lengths.items()},
                )
            else:
                raise ModelError(f"model.scaling.mode must be 'pair' or 'element', got {s['mode']!r}")
        return cls(
            elements,
            one_body=ob,
            pair_specific=pair_specific,
            triplet_specific=triplet_specific,
            pair_universal=pu,
            triplet_universal=tu,
            scaling=scaling,
            metadata=d.get("metadata") or {},
        )

    def save(self, path):
        """Write the model as JSON (atomically: a failed write never leaves half a file)."""
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)
            fh.write("\n")
        os.replace(tmp, path)

    def __repr__(self):
        parts = []
        if self.pair_specific:
            parts.append(f"{len(self.pair_specific)} specific pairs")
        if self.pair_universal is not None:
            parts.append("universal u(x)")
        if self.triplet_specific:
            parts.append(f"{len(self.triplet_specific)} specific triplets")
        if self.triplet_universal is not None:
            parts.append("universal g(x)")
        return f"<sus2c.Model {'-'.join(self.elements)}: {', '.join(parts) or 'one-body only'}>"


def load(path) -> Model:
    """Read a model file written by :meth:`Model.save`."""
    path = os.fspath(path)
    try:
        with open(path) as fh:
            d = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"model file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not a sus2c model file (not valid JSON: {exc})") from None
    try:
        return Model.from_dict(d)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- helpers


def _require(d, keys, where):
    for k in keys:
        if k not in d:
            raise ModelError(f"{where}: missing field {k!r}")


def _dict(v, where):
    if not isinstance(v, dict):
        raise ModelError(f"{where}: expected an object, got {type(v).__name__}")
    return v


def _number(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ModelError(f"{where}: expected a number, got {type(v).__name__}")
    if not math.isfinite(v):
        raise ModelError(f"{where}: not finite ({v})")


def _integer(v, where):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelError(f"{where}: expected an integer, got {v!r}")


def _array(v, where, ndim):
    try:
        a = np.array(v, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: expected a {ndim}-D array of numbers") from None
    if a.ndim != ndim:
        raise ModelError(f"{where}: expected a {ndim}-D array of numbers, got {a.ndim}-D")
    return a
