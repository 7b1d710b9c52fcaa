"""Helpers for tests and benchmarks: random models and structures."""
from __future__ import annotations

import numpy as np

from . import bspline
from .model import Model, Scaling, Spline1D, Spline3D
from .structures import random_structure

__all__ = ["random_model", "random_structure"]


def _trimmed(rng, shape, scale):
    c = rng.uniform(-scale, scale, size=shape)
    t = bspline.TRIM
    if c.ndim == 1:
        c[-t:] = 0
    else:
        c[-t:, :, :] = 0
        c[:, -t:, :] = 0
        c[:, :, -t:] = 0
    return c


def _sym(c):
    return 0.5 * (c + c.transpose(1, 0, 2))


def random_model(
    elements=("Mo",),
    two_body="specific",
    three_body=None,
    seed=0,
    rc2=5.0,
    rc3=4.0,
    r_min=1.5,
    intervals2=12,
    intervals3=(5, 5, 8),
    scaling_mode="pair",
    embedding=None,
    channels=2,
) -> Model:
    """A model with random (smooth, trimmed) coefficients.

    ``two_body`` / ``three_body`` / ``embedding``: None, "specific",
    "universal" or "both" (``channels`` universal embedding channels).
    The 2-body part gets a repulsive wall at short range so that MD with it
    is stable.  Cutoffs of the specific parts vary a little per pair so that
    the kernels see unequal knots.
    """
    rng = np.random.default_rng(seed)
    elements = list(elements)
    pairs = [(a, b) for i, a in enumerate(elements) for b in elements[i:]]
    pair_specific, triplet_specific = {}, {}
    pair_universal = triplet_universal = scaling = None
    if two_body in ("specific", "both"):
        for k, (a, b) in enumerate(pairs):
            hi = rc2 - 0.2 * k
            c = _trimmed(rng, intervals2 + 3, 0.05)
            c[:3] += np.array([3.0, 1.0, 0.2])  # repulsive core
            pair_specific[(a, b)] = Spline1D(r_min - 0.1 * k, hi, intervals2, c)
    if three_body in ("specific", "both"):
        for a in elements:
            for i, b in enumerate(elements):
                for c in elements[i:]:
                    n = intervals3
                    lo = (r_min, r_min, r_min)
                    hi = (rc3, rc3, 2 * rc3)
                    if b != c:
                        n = (n[0], n[1] + 1, n[2])
                        hi = (rc3, rc3 - 0.25, 2 * rc3 - 0.5)
                    coef = _trimmed(rng, tuple(m + 3 for m in n), 0.02)
                    if b == c:
                        coef = _sym(coef)
                    triplet_specific[(a, b, c)] = Spline3D(lo, hi, n, coef)
    universal2 = two_body in ("universal", "both")
    universal3 = three_body in ("universal", "both")
    if universal2 or universal3:
        amps = {e: float(rng.uniform(0.7, 1.3)) for e in elements}
        if scaling_mode == "pair":
            prs = {p: (float(rng.uniform(2.4, 2.8)), float(rng.uniform(0.35, 0.5))) for p in pairs}
            scaling = Scaling("pair", amps, pairs=prs)
        else:
            scaling = Scaling(
                "element",
                amps,
                radii={e: float(rng.uniform(1.2, 1.4)) for e in elements},
                lengths={e: float(rng.uniform(0.35, 0.5)) for e in elements},
            )
    if universal2:
        c = _trimmed(rng, intervals2 + 3, 0.05)
        c[:3] += np.array([2.0, 0.7, 0.1])
        pair_universal = Spline1D(-2.0, 5.5, intervals2, c)
    if universal3:
        n = intervals3
        coef = _sym(_trimmed(rng, tuple(m + 3 for m in n), 0.02))
        triplet_universal = Spline3D((-2.0, -2.0, -2.0), (3.0, 3.0, 9.0), n, coef)
    terms = []
    if embedding in ("universal", "both"):
        terms.append(random_embedding_universal(elements, rng, channels, scaling_mode))
    if embedding in ("specific", "both"):
        terms.append(random_embedding_specific(elements, rng, r_min, rc2))
    return Model(
        elements,
        terms=terms,
        one_body={e: float(rng.uniform(-5, -1)) for e in elements},
        pair_specific=pair_specific,
        triplet_specific=triplet_specific,
        pair_universal=pair_universal,
        triplet_universal=triplet_universal,
        scaling=scaling,
    )


def _density_coefficients(rng, n):
    """Non-negative, decreasing, trimmed: a density-like spline."""
    c = np.sort(rng.uniform(0.05, 1.0, n + 3))[::-1].copy()
    c[-bspline.TRIM:] = 0.0
    return c


def _embedding_coefficients(rng, n, rho_max):
    """F(rho) ~ -sqrt(rho) at the Greville points, F(0) = 0."""
    t = bspline.knot_vector(0.0, rho_max, n)
    g = np.array([t[i + 1:i + 4].mean() for i in range(n + 3)])  # Greville abscissae
    c = -np.sqrt(np.maximum(g, 0.0)) + rng.normal(scale=0.05, size=n + 3)
    c[0] = 0.0
    return c


def random_embedding_universal(elements, rng, channels=2, scaling_mode="pair", intervals=8):
    from .terms import EmbeddingUniversal

    pairs = [(a, b) for i, a in enumerate(elements) for b in elements[i:]]
    out = []
    for _ in range(channels):
        f = Spline1D(-2.0, 6.0, intervals, _density_coefficients(rng, intervals))
        F = Spline1D(0.0, 12.0, intervals, _embedding_coefficients(rng, intervals, 12.0))
        s = {e: float(rng.uniform(0.7, 1.3)) for e in elements}
        if scaling_mode == "pair":
            sc = Scaling("pair", s, pairs={p: (float(rng.uniform(2.4, 2.8)), float(rng.uniform(0.35, 0.5))) for p in pairs})
        else:
            sc = Scaling("element", s, radii={e: float(rng.uniform(1.2, 1.4)) for e in elements},
                         lengths={e: float(rng.uniform(0.35, 0.5)) for e in elements})
        out.append({"f": f, "F": F, "epsilon": {e: float(rng.uniform(0.7, 1.3)) for e in elements}, "scaling": sc})
    return EmbeddingUniversal(out)


def random_embedding_specific(elements, rng, r_min=1.5, rc=5.0, intervals=8):
    from .terms import EmbeddingSpecific

    embed = {a: Spline1D(0.0, 10.0, intervals, _embedding_coefficients(rng, intervals, 10.0)) for a in elements}
    density = {(a, b): Spline1D(r_min + 0.05 * k, rc - 0.1 * k, intervals, _density_coefficients(rng, intervals))
               for k, (a, b) in enumerate((a, b) for a in elements for b in elements)}
    return EmbeddingSpecific(embed, density)
