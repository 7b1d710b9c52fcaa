"""The energy terms of a sus2c model, one class per kind (see :mod:`.base`).

Adding a term means: a class here (validation, JSON form, parameter count,
its parts or kernel tables, its fit template), a kernel pass in
``sus2c/_kernels``, its tests, and its LAMMPS export.
"""
from .base import PairPart, Term, TripletPart
from .embedding import EmbeddingSpecific, EmbeddingUniversal
from .one_body import OneBody
from .pair import PairSpecific, PairUniversal
from .triplet import TripletSpecific, TripletUniversal
from .zbl import ZBLCore

#: every term class, in canonical order (the order parts are summed in)
TERM_CLASSES = sorted([OneBody, PairSpecific, PairUniversal, TripletSpecific, TripletUniversal, ZBLCore,
                       EmbeddingUniversal, EmbeddingSpecific],
                      key=lambda cls: cls.order)
BY_TYPE = {cls.type: cls for cls in TERM_CLASSES}

__all__ = ["BY_TYPE", "TERM_CLASSES", "EmbeddingSpecific", "EmbeddingUniversal", "OneBody", "PairPart", "PairSpecific", "PairUniversal", "Term",
           "TripletPart", "TripletSpecific", "TripletUniversal", "ZBLCore"]
