"""The sus2c energy model and its JSON file.

::

    E = sum_i e1(a_i)
      + sum_{bonds i<j} phi_ab(r_ij)                      (each bond once)
      + sum_i sum_{j<k in N3(i)} V_a;bc(r_ij, r_ik, r_jk)  (i is the centre)

A :class:`Model` is its elements, a list of terms (:mod:`sus2c.terms`: one
of each type, summed in a canonical order) and, when a term needs it, the
universal scaling (:class:`sus2c.scaling.Scaling`).  Every 2- and 3-body term
describes itself as r-space splines ("parts", :meth:`Model.describe`), which
is all the compiled kernels, the fit and the LAMMPS export ever see.

File format: one JSON object, ``{"format": "sus2c-model", "version": 2,
"elements": [...], "terms": [{"type": ..., ...}, ...], "scaling": ...,
"metadata": {...}}``.  Version-1 files (one_body / two_body / three_body
sections) are read too.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numpy as np

from .scaling import Scaling
from .schema import KeyParser, ModelError, as_dict, element_table, require
from .splines import Spline1D, Spline3D
from .terms import (BY_TYPE, TERM_CLASSES, OneBody, PairSpecific, PairUniversal, TripletSpecific,
                    TripletUniversal)

class UncoveredElementWarning(UserWarning):
    """A model element has no interaction with anything: its atoms get only their one-body energy."""


FORMAT = "sus2c-model"
SCHEMA_VERSION = 2

__all__ = ["Description", "FORMAT", "Model", "ModelError", "SCHEMA_VERSION", "Scaling", "Spline1D", "Spline3D",
           "UncoveredElementWarning", "load"]


@dataclass
class Description:
    """Every 2- and 3-body part of a model, in the order the kernels sum them.

    ``pairs[(a, b)]``: list of :class:`~sus2c.terms.PairPart` for each
    canonical pair; ``triplets[(a, b, c)]``: list of
    :class:`~sus2c.terms.TripletPart` for each canonical triplet (centre a,
    b <= c in element order).  Compiling the model, the fit's part scales and
    the variable-projection tables all read this one list.
    """

    elements: list
    pairs: dict = field(default_factory=dict)
    triplets: dict = field(default_factory=dict)
    embedding: list = field(default_factory=list)  # EmbeddingChannel per many-body channel


class Model:
    """A sus2c potential: elements, terms and the universal scaling.

    Parameters
    ----------
    elements : list of chemical symbols (their order fixes the canonical
        order of pair and triplet keys).
    terms : list of :class:`sus2c.terms.Term` (at most one of each type)
    scaling : :class:`Scaling`, needed with any universal term
    metadata : free-form JSON-able dict (fit settings, errors, ...)

    The keywords ``one_body`` ({element: eV}), ``pair_specific`` ({(a, b):
    Spline1D in r}), ``triplet_specific`` ({(centre, b, c): Spline3D in
    (r_ij, r_ik, r_jk)}), ``pair_universal`` (Spline1D u(x)) and
    ``triplet_universal`` (Spline3D g(x), symmetric in its first two legs)
    build the corresponding terms.
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
        terms=(),
    ):
        self.elements = [str(e) for e in elements]
        self._order = {e: i for i, e in enumerate(self.elements)}
        terms = list(terms)
        if one_body is not None:
            terms.append(OneBody(one_body))
        if pair_specific:
            terms.append(PairSpecific(pair_specific))
        if triplet_specific:
            terms.append(TripletSpecific(triplet_specific))
        if pair_universal is not None:
            terms.append(PairUniversal(pair_universal))
        if triplet_universal is not None:
            terms.append(TripletUniversal(triplet_universal))
        by_type = {}
        for t in terms:
            if t.is_empty():
                continue
            if t.type in by_type:
                raise ModelError(f"a model has at most one {t.type} term")
            by_type[t.type] = t
        if "one_body" not in by_type:
            by_type["one_body"] = OneBody({})
        ob = by_type["one_body"]
        for e in ob.energies:
            self._check_element(e)
        by_type["one_body"] = OneBody({e: float(ob.energies.get(e, 0.0)) for e in self.elements})
        for k, t in by_type.items():
            if hasattr(t, "canonical"):
                by_type[k] = t.canonical(self)
        self.terms = sorted(by_type.values(), key=lambda t: t.order)
        self.scaling = scaling
        self.metadata = dict(metadata or {})
        self.validate()

    # ---- terms
    def term(self, kind):
        """The term of a class or type name, or None."""
        for t in self.terms:
            if t.type == kind or (isinstance(kind, type) and isinstance(t, kind)):
                return t
        return None

    @property
    def one_body(self) -> dict:
        return self.term(OneBody).energies

    @property
    def pair_specific(self) -> dict:
        t = self.term(PairSpecific)
        return t.splines if t else {}

    @property
    def triplet_specific(self) -> dict:
        t = self.term(TripletSpecific)
        return t.splines if t else {}

    @property
    def pair_universal(self):
        t = self.term(PairUniversal)
        return t.u if t else None

    @property
    def triplet_universal(self):
        t = self.term(TripletUniversal)
        return t.g if t else None

    # ---- keys
    def _check_element(self, e):
        if e not in self._order:
            raise ModelError(f"element {e!r} is not one of the model's elements {self.elements}")

    def pair_key(self, a, b):
        """(a, b) in the model's element order."""
        self._check_element(a)
        self._check_element(b)
        return (a, b) if self._order[a] <= self._order[b] else (b, a)

    def triplet_key(self, a, b, c):
        """(centre, b, c) with b <= c in the model's element order."""
        for e in (a, b, c):
            self._check_element(e)
        return (a, b, c) if self._order[b] <= self._order[c] else (a, c, b)

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
        for t in self.terms:
            t.check(self)
        if any(t.uses_scaling for t in self.terms):
            if self.scaling is None:
                raise ModelError("a model with universal parts needs a scaling (amplitudes, r0, l)")
            self.scaling.check(self.elements, self.pairs())

    # ---- r-space view of every term
    def describe(self) -> Description:
        """Every part of every 2- and 3-body term, per canonical pair and triplet."""
        d = Description(list(self.elements))
        for a, b in self.pairs():
            d.pairs[(a, b)] = [p for t in self.terms for p in t.pair_parts(self, a, b)]
        for a, b, c in self.triplets():
            d.triplets[(a, b, c)] = [p for t in self.terms for p in t.triplet_parts(self, a, b, c)]
        d.embedding = [ch for t in self.terms for ch in t.embedding_channels(self)]
        return d

    def labelled_pair_parts(self, a, b):
        """[(label, part)] of phi_ab in summation order: r-space Spline1D parts, then
        analytic ones (e.g. the ZBL core), each callable as ``part(r, derivative)``."""
        key = self.pair_key(a, b)
        out = [(p.label, p.scaled) for t in self.terms for p in t.pair_parts(self, *key)]
        for t in self.terms:
            f = t.pair_function(self, *key)
            if f is not None:
                out.append((t.label, f))
        return out

    def pair_parts(self, a, b):
        """The spline parts of phi_ab in r (specific first, then universal)."""
        key = self.pair_key(a, b)
        return [p.scaled for t in self.terms for p in t.pair_parts(self, *key)]

    def triplet_parts(self, a, b, c):
        """All parts of V_a;bc (centre a, j of element b, k of element c) as r-space splines."""
        key = self.triplet_key(a, b, c)
        parts = [p for t in self.terms for p in t.triplet_parts(self, *key)]
        if key != (a, b, c):
            parts = [p.swapped() for p in parts]
        return [p.scaled for p in parts]

    def pair_energy(self, a, b, r, derivative: int = 0):
        """phi_ab(r) (or its derivative), including the below-first-knot continuation."""
        r = np.asarray(r, dtype=float)
        return sum((p(r, derivative) for _, p in self.labelled_pair_parts(a, b)), np.zeros(r.shape))

    def triplet_energy(self, a, b, c, rij, rik, rjk):
        """V_a;bc(r_ij, r_ik, r_jk)."""
        shape = np.broadcast_shapes(np.shape(rij), np.shape(rik), np.shape(rjk))
        return sum((p(rij, rik, rjk) for p in self.triplet_parts(a, b, c)), np.zeros(shape))

    def cutoff2(self, a, b) -> float:
        return max((p.hi for _, p in self.labelled_pair_parts(a, b)), default=0.0)

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
        rc = max([0.0] + [max(self.cutoff2(a, b), self.cutoff3(a, b), self.cutoff3(b, a)) for a, b in self.pairs()])
        return max([rc] + [ch.cutoff for t in self.terms for ch in t.embedding_channels(self)])

    def elements_without_interactions(self) -> list:
        """Elements that no 2- or 3-body term couples to any atom (only their one-body energy)."""
        d = self.describe()
        covered = set()
        for (a, b), parts in d.pairs.items():
            if parts:
                covered.update((a, b))
        for key, parts in d.triplets.items():
            if parts:
                covered.update(key)
        for ch in d.embedding:
            for (a, b) in ch.density:
                if a in ch.embed:
                    covered.update((a, b))
        return [e for e in self.elements if e not in covered]

    @property
    def has_three_body(self) -> bool:
        return self.term(TripletSpecific) is not None or self.term(TripletUniversal) is not None

    @property
    def needs_full_list(self) -> bool:
        """True when a term needs every neighbour of every atom (else each bond once is enough)."""
        return any(t.needs_full_list for t in self.terms)

    def n_parameters(self) -> dict:
        """Free parameters per block (trimmed coefficients excluded)."""
        counts = {}
        for cls in TERM_CLASSES:
            if not cls.parameter_block:
                continue
            t = self.term(cls)
            counts[cls.parameter_block] = t.n_parameters() if t is not None else 0
        uses = any(t.uses_scaling for t in self.terms)
        counts["scaling"] = self.scaling.n_parameters(self.elements, self.pairs()) if uses else 0
        counts["embedding_scalars"] = sum(t.n_scalars(self) for t in self.terms if hasattr(t, "n_scalars"))
        counts["total"] = sum(counts.values())
        return counts

    def parameter_lines(self) -> list:
        """``(name, count)`` for every non-empty block of :meth:`n_parameters`, then the total,
        named for reports (``sus2c fit``, ``sus2c info``)."""
        names = {cls.parameter_block: cls.parameter_label or cls.parameter_block for cls in TERM_CLASSES
                 if cls.parameter_block}
        names.update(scaling="scaling scalars (free)", embedding_scalars="embedding scalars (free)", total="total")
        return [(names.get(k, k), n) for k, n in self.n_parameters().items() if n or k == "total"]

    # ---- kernels
    def compiled(self):
        """The flat tables the compiled kernels read (built once, cached)."""
        if getattr(self, "_compiled", None) is None:
            from .compile import compile_model

            self._compiled = compile_model(self)
        return self._compiled

    # ---- JSON
    def to_dict(self):
        return {
            "format": FORMAT,
            "version": SCHEMA_VERSION,
            "elements": list(self.elements),
            "terms": [t.to_dict() for t in self.terms],
            "scaling": None if self.scaling is None else self.scaling.to_dict(self.elements, self.pairs()),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict):
            raise ModelError("model file must hold a JSON object")
        if d.get("format") != FORMAT:
            raise ModelError(f"not a sus2c model: 'format' is {d.get('format')!r}, expected {FORMAT!r}")
        require(d, ("version",), "model")
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
        require(d, ("elements",), "model")
        elements = d["elements"]
        if not isinstance(elements, list) or not all(isinstance(e, str) for e in elements):
            raise ModelError("model.elements must be a list of chemical symbols")
        keys = KeyParser(elements)
        terms = _terms_v1(d, keys) if v == 1 else _terms_v2(d, keys)
        scaling = None
        if d.get("scaling") is not None:
            scaling = Scaling.from_dict(d["scaling"], elements)
        return cls(elements, terms=terms, scaling=scaling, metadata=d.get("metadata") or {})

    def save(self, path):
        """Write the model as JSON (see :func:`sus2c.files.atomic_write`: the folder is created
        if needed, and a failed write leaves neither half a file nor a temporary one)."""
        from .files import atomic_write

        with atomic_write(path, "w", what="model file", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)
            fh.write("\n")

    def __repr__(self):
        names = {
            "pair_specific": lambda t: f"{len(t.splines)} specific pairs",
            "pair_universal": lambda t: "universal u(x)",
            "triplet_specific": lambda t: f"{len(t.splines)} specific triplets",
            "triplet_universal": lambda t: "universal g(x)",
            "zbl": lambda t: "ZBL core",
            "embedding_universal": lambda t: f"{len(t.channels)} universal embedding channel(s)",
            "embedding_specific": lambda t: "specific embedding",
        }
        parts = [names[t.type](t) if t.type in names else t.type for t in self.terms if t.type != "one_body"]
        return f"<sus2c.Model {'-'.join(self.elements)}: {', '.join(parts) or 'one-body only'}>"


def _terms_v2(d, keys):
    require(d, ("terms",), "model")
    raw = d["terms"]
    if not isinstance(raw, list):
        raise ModelError(f"model.terms: expected a list, got {type(raw).__name__}")
    terms = []
    for k, t in enumerate(raw):
        where = f"model.terms[{k}]"
        t = as_dict(t, where)
        require(t, ("type",), where)
        cls = BY_TYPE.get(t["type"])
        if cls is None:
            raise ModelError(f"{where}: unknown term type {t['type']!r}; known: {sorted(BY_TYPE)}")
        terms.append(cls.from_dict(t, keys, f"{where} ({t['type']})"))
    return terms


def _terms_v1(d, keys):
    """The terms of a version-1 file (sections one_body, two_body, three_body)."""
    require(d, ("one_body", "two_body", "three_body"), "model")
    elements = keys.elements
    ob = element_table(d["one_body"], elements, "model.one_body")
    missing = set(elements) - set(ob)
    if missing:
        raise ModelError(f"model.one_body has no energy for {sorted(missing)}")
    two = as_dict(d["two_body"], "model.two_body")
    three = as_dict(d["three_body"], "model.three_body")
    require(two, ("specific", "universal"), "model.two_body")
    require(three, ("specific", "universal"), "model.three_body")
    terms = [OneBody(ob)]
    ps = {
        keys(k, 2, "model.two_body.specific"): Spline1D.from_dict(as_dict(s, f"two_body.specific.{k}"), f"2-body specific {k}")
        for k, s in as_dict(two["specific"], "model.two_body.specific").items()
    }
    ts = {
        keys(k, 3, "model.three_body.specific"): Spline3D.from_dict(as_dict(s, f"three_body.specific.{k}"), f"3-body specific {k}")
        for k, s in as_dict(three["specific"], "model.three_body.specific").items()
    }
    if ps:
        terms.append(PairSpecific(ps))
    if ts:
        terms.append(TripletSpecific(ts))
    if two["universal"] is not None:
        terms.append(PairUniversal(Spline1D.from_dict(as_dict(two["universal"], "two_body.universal"), "2-body universal")))
    if three["universal"] is not None:
        terms.append(TripletUniversal(Spline3D.from_dict(as_dict(three["universal"], "three_body.universal"),
                                                         "3-body universal")))
    return terms


def load(path) -> Model:
    """Read a model file written by :meth:`Model.save` (any schema version up to this one)."""
    path = os.fspath(path)
    try:
        with open(path) as fh:
            d = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"model file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} is not a sus2c model file (not valid JSON: {exc})") from None
    try:
        model = Model.from_dict(d)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    missing = model.elements_without_interactions()
    if missing:
        warnings.warn(
            f"{path}: element(s) {', '.join(missing)} have no fitted interactions: their atoms get only a "
            "one-body energy and no forces (the training data probably had none of them)",
            UncoveredElementWarning,
            stacklevel=2,
        )
    return model
