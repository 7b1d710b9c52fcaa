"""What every energy term is, and the r-space description the kernels, fit and export read.

A term owns its validation, its JSON form, its parameter count, and how it
appears to the rest of the package:

* to the compiled kernels, as *parts*: per element pair a list of
  :class:`PairPart` (1-D splines in r) and per triplet a list of
  :class:`TripletPart` (3-D splines in the leg distances), each with the
  scale that multiplies its coefficients and, for universal parts, which
  scalars it depends on (for the variable-projection Jacobian);
* to the fit, as a *template*: the same term with column numbers in place of
  coefficients (:meth:`Term.template`), turned back into a fitted term by
  :meth:`Term.map_coefficients`;
* to LAMMPS, through ``lammps_style`` (``"uf3"`` terms are exported as
  splines; other styles are exported by :mod:`sus2c.lammps` by their kind).

A model is a list of terms (one of each type) plus the universal scaling;
their canonical order (``Term.order``) fixes the order in which parts are
summed, so results do not depend on the order terms were given in.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import bspline
from ..splines import Spline1D, Spline3D


@dataclass
class PairPart:
    """One part of phi_ab as an r-space spline: phi_part(r) = scale * spline(r).

    ``amplitudes``: the elements whose amplitudes multiply into ``scale``
    (universal parts); ``reduced``: the pair whose (r0, l) maps r to x, or
    None for a part that does not depend on the scaling.
    """

    spline: Spline1D
    scale: float = 1.0
    label: str = "specific"
    amplitudes: tuple = ()
    reduced: tuple = None

    @property
    def scaled(self) -> Spline1D:
        """The part as one spline with the scale multiplied in."""
        if self.scale == 1.0:
            return self.spline
        return self.spline.with_coefficients(self.scale * self.spline.coefficients)


@dataclass
class TripletPart:
    """One part of V_a;bc as a spline in (r_ij, r_ik, r_jk): scale * spline.

    ``reduced``: per leg (ij, ik, jk) the pair whose (r0, l) maps r to x, or
    None for a part that does not depend on the scaling.
    """

    spline: Spline3D
    scale: float = 1.0
    label: str = "specific"
    amplitudes: tuple = ()
    reduced: tuple = None

    @property
    def scaled(self) -> Spline3D:
        if self.scale == 1.0:
            return self.spline
        return self.spline.with_coefficients(self.scale * self.spline.coefficients)

    def swapped(self) -> "TripletPart":
        """The same part seen with j and k exchanged."""
        red = None if self.reduced is None else (self.reduced[1], self.reduced[0], self.reduced[2])
        return TripletPart(self.spline.swapped(), self.scale, self.label, self.amplitudes, red)


class Term:
    """Base class of the energy terms (see the module docstring)."""

    type = ""  # the "type" of the term in a model file
    order = 0  # canonical position in a model
    label = ""  # how plots name its parts
    parameter_block = ""  # its key in Model.n_parameters()
    parameter_label = ""  # how reports name that block
    needs_full_list = False  # True: the kernel needs every neighbour of every atom
    uses_scaling = False  # True: needs the model's universal scaling
    lammps_style = "uf3"  # how sus2c.lammps exports it

    def check(self, model):
        """Raise ModelError if the term does not fit the model."""

    def is_empty(self) -> bool:
        """True for a term with nothing in it (a model leaves it out)."""
        return False

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d, keys, where):
        """The term from its JSON form; ``keys`` parses 'A-B' keys (sus2c.schema.KeyParser)."""
        raise NotImplementedError

    def n_parameters(self) -> int:
        """Free coefficients (trimmed ones excluded)."""
        raise NotImplementedError

    def pair_parts(self, model, a, b):
        """Parts of phi_ab for a canonical pair (a, b)."""
        return []

    def triplet_parts(self, model, a, b, c):
        """Parts of V_a;bc for a canonical triplet (centre a, b <= c)."""
        return []

    def pair_function(self, model, a, b):
        """An analytic (non-spline) part of phi_ab for a canonical pair, callable as
        ``f(r, derivative=0)`` with ``lo``, ``hi`` and ``knots``; None if the term has none."""
        return None

    def embedding_channels(self, model):
        """The term's many-body channels (sus2c.terms.embedding.EmbeddingChannel), if any."""
        return []

    def kernel_tables(self, model, pairs) -> dict:
        """Extra named tables the kernels read for this term (see sus2c/compile.py)."""
        return {}

    def map_coefficients(self, fn) -> "Term":
        """The same term with every coefficient array c replaced by fn(c)."""
        raise NotImplementedError

    @classmethod
    def template(cls, plan, columns):
        """The term for a fit (column numbers + 1 in place of coefficients), or None if the plan has none."""
        return None


def n_free_1d(s: Spline1D) -> int:
    """Free coefficients of a 1-D spline: all but the trailing trim."""
    return s.intervals + 3 - bspline.TRIM


def n_free_3d(s: Spline3D, symmetric: bool) -> int:
    """Free coefficients of a 3-D spline (symmetric: tied under swapping legs ij and ik)."""
    a, b, c = (n + 3 - bspline.TRIM for n in s.intervals)
    return (a * (a + 1) // 2) * c if symmetric else a * b * c
