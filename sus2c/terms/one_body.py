"""One-body term: an energy per element, e1(a)."""
from __future__ import annotations

import math

import numpy as np

from ..schema import ModelError, element_table, require
from .base import Term


class OneBody(Term):
    """``sum_i e1(a_i)``: ``energies[element]`` in eV (0 for elements not given).

    LAMMPS's ``pair_style uf3`` leaves these out; the export reports them.
    """

    type = "one_body"
    order = 0
    label = "one-body"
    parameter_block = "one_body"
    parameter_label = "one-body energies"
    lammps_style = None

    def __init__(self, energies):
        self.energies = dict(energies)

    def check(self, model):
        for e in self.energies:
            if e not in model.elements:
                raise ModelError(f"one-body energy given for {e!r}, not one of the model's elements {model.elements}")
        for e, v in self.energies.items():
            if not math.isfinite(v):
                raise ModelError(f"one-body energy of {e} is not finite")

    def energy_of(self, elements):
        """The energies in the order of ``elements`` (0 where not given)."""
        return np.array([float(self.energies.get(e, 0.0)) for e in elements])

    def to_dict(self):
        return {"type": self.type, "energies": {e: float(v) for e, v in self.energies.items()}}

    @classmethod
    def from_dict(cls, d, keys, where):
        require(d, ("energies",), where)
        energies = element_table(d["energies"], keys.elements, f"{where}.energies")
        missing = sorted(set(keys.elements) - set(energies))
        if missing:
            raise ModelError(f"{where}.energies has no energy for {missing}")
        return cls(energies)

    def n_parameters(self):
        return len(self.energies)

    def map_coefficients(self, fn):
        elements = list(self.energies)
        values = fn(np.array([self.energies[e] for e in elements], dtype=float))
        return OneBody({e: float(v) for e, v in zip(elements, values)})

    @classmethod
    def template(cls, plan, columns):
        cols = columns.plain("one_body", len(plan.elements))
        return cls({e: c for e, c in zip(plan.elements, cols)})
