"""What defines a fit: the [model] and [fit] settings, and the error for fits that cannot be done."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

MODES = ("specific", "universal", "hybrid")

#: settings the automatic selection (:mod:`sus2c.fit.auto`) chooses when they are left at None
CHOSEN = ("cutoff2", "cutoff3", "intervals2", "intervals3", "energy_weight", "force_weight", "stress_weight")

#: what a setting left at None becomes when nothing is selected (``auto = False``, or universal and
#: hybrid modes): the fixed defaults of earlier versions
FIXED_DEFAULTS = {"cutoff2": 5.5, "cutoff3": 4.25, "intervals2": 20, "intervals3": (6, 6, 12),
                  "energy_weight": 0.9, "force_weight": 0.1, "stress_weight": 0.0}


class FitError(ValueError):
    """The data or settings do not allow a fit; the message says why."""


@dataclass
class FitSettings:
    """Everything that defines a fit (the [model] and [fit] tables of a config).

    Cutoffs, interval counts and loss weights left at None are chosen from the
    training data (:mod:`sus2c.fit.auto`: cutoffs in gaps between its
    coordination shells, the rest by cross-validation) in specific mode, or
    take :data:`FIXED_DEFAULTS` with ``auto=False`` and in the universal
    modes.  A value given is always used as given.
    """

    elements: list = None  # default: the elements found in the data
    cutoff2: float = None  # Å (fixed default 5.5)
    cutoff3: float = None  # Å; 0: two-body only (fixed default 4.25)
    intervals2: int = None  # (fixed default 20)
    intervals3: tuple = None  # legs ij, ik, jk (fixed default (6, 6, 12))
    r_min: float = None  # default: per pair, just below the shortest distance in the data
    mode: str = "specific"  # "specific" | "universal" | "hybrid"
    scaling: str = "pair"  # universal scaling: "pair" | "element"
    energy_weight: float = None  # fractions of the loss; see rows.type_weights() (fixed defaults 0.9 / 0.1 / 0)
    force_weight: float = None
    stress_weight: float = None
    ridge: object = "cv"  # a number, or "cv": chosen by cross-validation
    curvature: object = "cv"
    cv_folds: int = 5
    threads: int = None
    seed: int = 0
    scaling_iterations: int = 20  # universal/hybrid: Levenberg-Marquardt steps on the scalars (0: keep initial)
    zbl: bool = False  # add the ZBL core below each pair's first knot (a fixed term)
    zbl_width: float = 0.5  # Å: the ZBL core is switched off between r_min - zbl_width and r_min
    embedding: str = "none"  # many-body embedding: "none" | "universal" | "specific" (Finnis-Sinclair)
    embedding_channels: int = 2  # universal: channels K
    embedding_scaling: str = "element"  # universal: channel maps per "element" (combination rules) or "pair"
    embedding_intervals: tuple = (10, 8)  # intervals of the densities f and of the embedding functions F
    embedding_cutoff: float = None  # Å: how far densities reach (default: cutoff2)
    outer_validation: float = 0.1  # fraction of the training structures that stops the outer (scalar) fit
    auto: bool = None  # choose unset settings from the data: None = in specific mode; True; False = fixed defaults
    auto_budget: float = 60.0  # s: planned time of the automatic selection

    def __post_init__(self):
        if self.mode not in MODES:
            raise FitError(f"mode must be 'specific', 'universal' or 'hybrid', got {self.mode!r}")
        if self.scaling not in ("pair", "element"):
            raise FitError(f"scaling must be 'pair' or 'element', got {self.scaling!r}")
        if self.cutoff2 is not None and not self.cutoff2 > 0:
            raise FitError(f"cutoff2 must be > 0, got {self.cutoff2}")
        if self.cutoff3 is not None and self.cutoff3 < 0:
            raise FitError(f"cutoff3 must be >= 0 (0 = two-body only), got {self.cutoff3}")
        if self.cutoff3 is not None and self.cutoff2 is not None and self.cutoff3 > self.cutoff2:
            raise FitError(
                f"cutoff3 ({self.cutoff3}) must not exceed cutoff2 ({self.cutoff2}): "
                "LAMMPS builds triplets from the 2-body neighbour list"
            )
        if self.intervals3 is not None:
            self.intervals3 = tuple(int(n) for n in np.broadcast_to(self.intervals3, (3,)))
            if self.intervals3[0] != self.intervals3[1]:
                raise FitError(f"intervals3 must have equal ij and ik entries, got {self.intervals3}")
            if min(self.intervals3) < 1:
                raise FitError("interval counts must be >= 1")
        if self.intervals2 is not None and int(self.intervals2) < 1:
            raise FitError("interval counts must be >= 1")
        w = np.array([v for v in (self.energy_weight, self.force_weight, self.stress_weight) if v is not None],
                     dtype=float)
        if np.any(w < 0) or (len(w) == 3 and w.sum() <= 0):
            raise FitError(f"energy/force/stress weights must be >= 0 and not all zero, got {w.tolist()}")
        for name in ("ridge", "curvature"):
            v = getattr(self, name)
            if not (v == "cv" or (isinstance(v, (int, float)) and v >= 0)):
                raise FitError(f"{name} must be a number >= 0 or 'cv', got {v!r}")
        if self.embedding not in ("none", "universal", "specific"):
            raise FitError(f"embedding must be 'none', 'universal' or 'specific', got {self.embedding!r}")
        if self.embedding_scaling not in ("pair", "element"):
            raise FitError(f"embedding_scaling must be 'pair' or 'element', got {self.embedding_scaling!r}")
        self.embedding_intervals = tuple(int(n) for n in np.broadcast_to(self.embedding_intervals, (2,)))
        if int(self.embedding_channels) < 1 or min(self.embedding_intervals) < 2:
            raise FitError("embedding_channels must be >= 1 and embedding_intervals >= 2")
        if self.embedding_cutoff is not None and not self.embedding_cutoff > 0:
            raise FitError(f"embedding_cutoff must be > 0 Å, got {self.embedding_cutoff}")
        if not 0.0 <= self.outer_validation < 0.5:
            raise FitError(f"outer_validation must be in [0, 0.5), got {self.outer_validation}")
        if not (self.zbl_width > 0):
            raise FitError(f"zbl_width must be > 0 Å, got {self.zbl_width}")
        if int(self.cv_folds) < 2 and "cv" in (self.ridge, self.curvature):
            raise FitError("cross-validation needs cv_folds >= 2")
        if self.auto not in (None, True, False):
            raise FitError(f"auto must be true, false or unset, got {self.auto!r}")
        if not self.auto_budget > 0:
            raise FitError(f"auto_budget must be > 0 s, got {self.auto_budget}")

    def unset(self) -> list:
        """The settings of :data:`CHOSEN` left at None."""
        return [k for k in CHOSEN if getattr(self, k) is None]

    def given(self) -> dict:
        """The settings given explicitly (not None), by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def with_fixed_defaults(self) -> "FitSettings":
        """A copy with every unset setting at its fixed default (:data:`FIXED_DEFAULTS`)."""
        out = replace(self, **{k: FIXED_DEFAULTS[k] for k in self.unset()})
        w = np.array(out.weights, dtype=float)
        if w.sum() <= 0:
            raise FitError(f"energy/force/stress weights must not all be zero, got {w.tolist()}")
        return out

    @property
    def three_body(self) -> bool:
        return bool(self.cutoff3) and self.cutoff3 > 0

    @property
    def weights(self) -> list:
        """Loss fractions of (energy, force, stress)."""
        return [self.energy_weight, self.force_weight, self.stress_weight]
