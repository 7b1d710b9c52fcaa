"""What defines a fit: the [model] and [fit] settings, and the error for fits that cannot be done."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("specific", "universal", "hybrid")


class FitError(ValueError):
    """The data or settings do not allow a fit; the message says why."""


@dataclass
class FitSettings:
    """Everything that defines a fit (the [model] and [fit] tables of a config)."""

    elements: list = None  # default: the elements found in the data
    cutoff2: float = 5.5
    cutoff3: float = 4.25  # 0: two-body only
    intervals2: int = 20
    intervals3: tuple = (6, 6, 12)
    r_min: float = None  # default: per pair, just below the shortest distance in the data
    mode: str = "specific"  # "specific" | "universal" | "hybrid"
    scaling: str = "pair"  # universal scaling: "pair" | "element"
    energy_weight: float = 0.9  # fractions of the loss; see rows.type_weights()
    force_weight: float = 0.1
    stress_weight: float = 0.0
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

    def __post_init__(self):
        if self.mode not in MODES:
            raise FitError(f"mode must be 'specific', 'universal' or 'hybrid', got {self.mode!r}")
        if self.scaling not in ("pair", "element"):
            raise FitError(f"scaling must be 'pair' or 'element', got {self.scaling!r}")
        if not self.cutoff2 > 0:
            raise FitError(f"cutoff2 must be > 0, got {self.cutoff2}")
        if self.cutoff3 < 0:
            raise FitError(f"cutoff3 must be >= 0 (0 = two-body only), got {self.cutoff3}")
        if self.cutoff3 > self.cutoff2:
            raise FitError(
                f"cutoff3 ({self.cutoff3}) must not exceed cutoff2 ({self.cutoff2}): "
                "LAMMPS builds triplets from the 2-body neighbour list"
            )
        self.intervals3 = tuple(int(n) for n in np.broadcast_to(self.intervals3, (3,)))
        if self.intervals3[0] != self.intervals3[1]:
            raise FitError(f"intervals3 must have equal ij and ik entries, got {self.intervals3}")
        if int(self.intervals2) < 1 or min(self.intervals3) < 1:
            raise FitError("interval counts must be >= 1")
        w = np.array([self.energy_weight, self.force_weight, self.stress_weight], dtype=float)
        if np.any(w < 0) or w.sum() <= 0:
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

    @property
    def three_body(self) -> bool:
        return self.cutoff3 > 0

    @property
    def weights(self) -> list:
        """Loss fractions of (energy, force, stress)."""
        return [self.energy_weight, self.force_weight, self.stress_weight]
