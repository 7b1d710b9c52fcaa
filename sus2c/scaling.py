"""The universal scaling's scalars (SUS2): element amplitudes and per-pair reduced coordinates.

A pair's reduced coordinate is ``x_ab = (r - r0_ab) / l_ab``.  In ``"pair"``
mode every pair has its own (r0, l); in ``"element"`` mode they come from
per-element radii and lengths by the combination rules
``r0_ab = rho_a + rho_b`` and ``l_ab = (lambda_a + lambda_b) / 2``, which
also gives pairs never seen together in training a prediction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .schema import KeyParser, ModelError, as_dict, element_table, number, require

MODES = ("pair", "element")


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

    def check(self, elements, pairs, where="scaling"):
        if self.mode not in MODES:
            raise ModelError(f"{where} mode must be 'pair' or 'element', got {self.mode!r}")
        for e in elements:
            if e not in self.amplitudes or not math.isfinite(self.amplitudes[e]):
                raise ModelError(f"{where}: missing or non-finite amplitude w for {e}")
            if self.mode == "element":
                for name, table in (("radius rho", self.radii), ("length lambda", self.lengths)):
                    if e not in table or not math.isfinite(table[e]):
                        raise ModelError(f"{where}: missing or non-finite {name} for {e}")
        for a, b in pairs:
            r0, l = self.pair(a, b)
            if not (math.isfinite(r0) and math.isfinite(l)) or l <= 0:
                raise ModelError(f"{where}: pair {a}-{b} needs finite r0 and l > 0, got r0={r0}, l={l}")

    GAUGE = 3  # scalars a universal function absorbs: one amplitude, one affine map of x

    def n_parameters(self, elements, pairs) -> int:
        """Free scalars: amplitudes and (r0, l) per pair or (rho, lambda) per element,
        less the three the universal functions absorb (gauge; the fit holds the
        first element's amplitude and its like pair's map fixed)."""
        n = len(elements) + (2 * len(pairs) if self.mode == "pair" else 2 * len(elements))
        return n - self.GAUGE

    def to_dict(self, elements, pairs):
        d = {"mode": self.mode, "amplitudes": {e: float(self.amplitudes[e]) for e in elements}}
        if self.mode == "pair":
            d["pairs"] = {f"{a}-{b}": {"r0": self.pair(a, b)[0], "l": self.pair(a, b)[1]} for a, b in pairs}
        else:
            d["radii"] = {e: float(self.radii[e]) for e in elements}
            d["lengths"] = {e: float(self.lengths[e]) for e in elements}
        return d

    @classmethod
    def from_dict(cls, s, elements, where="model.scaling"):
        s = as_dict(s, where)
        require(s, ("mode", "amplitudes"), where)
        amps = element_table(s["amplitudes"], elements, f"{where}.amplitudes")
        if s["mode"] == "pair":
            require(s, ("pairs",), where)
            keys = KeyParser(elements)
            pairs = {}
            for k, p in as_dict(s["pairs"], f"{where}.pairs").items():
                p = as_dict(p, f"{where}.pairs.{k}")
                require(p, ("r0", "l"), f"{where}.pairs.{k}")
                r0 = number(p["r0"], f"{where}.pairs.{k}.r0")
                l = number(p["l"], f"{where}.pairs.{k}.l")
                pairs[keys(k, 2, f"{where}.pairs")] = (r0, l)
            return cls("pair", amps, pairs=pairs)
        if s["mode"] == "element":
            require(s, ("radii", "lengths"), where)
            radii = element_table(s["radii"], elements, f"{where}.radii")
            lengths = element_table(s["lengths"], elements, f"{where}.lengths")
            return cls("element", amps, radii=radii, lengths=lengths)
        raise ModelError(f"{where}.mode must be 'pair' or 'element', got {s['mode']!r}")
