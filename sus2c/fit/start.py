"""Starting points a fit takes from its data: elements, first knots, universal scalars.

The reduced coordinate of a pair is x = (r - r0_ab) / l_ab.  Good starting
values: r0_ab at the first peak of the pair's distance distribution (the
nearest-neighbour distance), l_ab a fixed fraction of it (Rose's scaling
length is of order 0.2-0.3 Å for metals; a fraction of r0 keeps the knot
spacing in x comparable across pairs).  Pairs absent from the data take
their values from tabulated covalent radii (ASE), which also gives element
radii for the "element" combination rule r0_ab = rho_a + rho_b.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np

from ..distances import PairStatistics, pair_statistics
from ..scaling import Scaling
from .settings import FitError

L_FRACTION = 0.1  # l_ab = L_FRACTION * r0_ab
PEAK_CUTOFF = 6.0  # Å: first peaks are looked for below this


def infer_elements(frames):
    """The elements in the data (Frames or Atoms), by atomic number."""
    from ase.data import atomic_numbers

    found = set()
    for fr in frames:
        found.update(getattr(fr, "atoms", fr).get_chemical_symbols())
    return sorted(found, key=lambda e: atomic_numbers[e])


@dataclass
class DataScan:
    """What a fit takes from one scan of its training data (:func:`scan_data`)."""

    elements: list
    stats: PairStatistics  # shortest distances, pairs and triplets present, histograms if asked for
    r_min: dict  # {pair: first knot}, from :func:`choose_r_min`
    present: tuple  # (pairs, triplets) for the specific terms; None: all (one element, universal mode)


def model_elements(frames, settings) -> list:
    """The elements of the model: ``settings.elements``, else those in the data.  A FitError
    names listed elements that no training structure contains."""
    found = infer_elements(frames)
    elements = list(settings.elements) if settings.elements else found
    absent = [e for e in elements if e not in found]
    if absent:
        raise FitError(
            f"element(s) {', '.join(absent)} are listed in the model elements but no training structure "
            f"contains them, so nothing about their interactions can be fitted; remove them from "
            f"[model] elements (the data has {', '.join(found)}) or add training data with them"
        )
    return elements


def scan_data(frames, settings, threads=1, histogram_cutoff=0.0) -> DataScan:
    """Elements, distances and first knots of ``frames`` for complete ``settings``
    (cutoffs and intervals set): the starting point of :func:`sus2c.fit.fit`
    and of every candidate of the automatic selection.  FitErrors for
    elements without data and for an r_min above the data."""
    elements = model_elements(frames, settings)
    need_present = settings.mode != "universal" and len(elements) > 1
    try:
        stats = pair_statistics(
            frames, elements, max(settings.cutoff2, settings.cutoff3), cutoff2=settings.cutoff2,
            cutoff3=settings.cutoff3 if need_present else 0.0, histogram_cutoff=histogram_cutoff, threads=threads,
        )
    except ValueError as exc:
        raise FitError(str(exc)) from None
    if settings.r_min is not None:
        for (a, b), d in stats.shortest.items():
            if d is not None and d < settings.r_min:
                raise FitError(f"r_min = {settings.r_min} Å but the data has a {a}-{b} distance of {d:.3f} Å")
    r_min = choose_r_min(stats.shortest, settings.cutoff2, settings.intervals2)
    present = (stats.pairs2, stats.triplets) if need_present else None
    return DataScan(elements, stats, r_min, present)


def choose_r_min(dmin, cutoff=5.5, intervals=20):
    """Per pair: a tenth of a knot interval below the shortest distance in the data.

    Further below, the first coefficients would be fixed by the penalties
    alone and distances just under the data's shortest would get a poorly
    determined energy; further up, data would fall below the first knot.
    """
    seen = [v for v in dmin.values() if v is not None]
    r_min = {}
    for pair, d in dmin.items():
        if d is None:  # a pair never seen together: start at the shortest distance of any pair
            d = min(seen) if seen else 2.0
        h = max(cutoff - d, 0.5) / max(int(intervals), 1)
        r_min[pair] = max(0.5, d - 0.1 * h)
    return r_min


def first_peaks(stats):
    """Nearest-neighbour distance per pair: the first peak of its distance histogram
    (a :class:`sus2c.distances.PairStatistics` scanned to at least PEAK_CUTOFF)."""
    edges = stats.edges
    nb = int(round(PEAK_CUTOFF / stats.bin_width))
    peaks = {}
    for key, h in stats.histogram.items():
        h = h[:nb]
        if h.sum() == 0:
            continue
        # smooth a little, then take the first local maximum above 20% of the largest bin
        k = np.convolve(h, np.ones(5) / 5, mode="same")
        thresh = 0.2 * k.max()
        for b in range(1, len(k) - 1):
            if k[b] >= thresh and k[b] >= k[b - 1] and k[b] >= k[b + 1]:
                peaks[key] = 0.5 * (edges[b] + edges[b + 1])
                break
    return peaks


def initial_scaling(data, elements, mode="pair", dmin=None) -> Scaling:
    """Scaling with unit amplitudes, r0 at the first peaks and l = 0.1 r0.

    ``data``: the training frames, or their :class:`~sus2c.distances.PairStatistics`
    with histograms to at least PEAK_CUTOFF (``dmin`` is not used; kept for
    callers of earlier versions)."""
    from ase.data import atomic_numbers, covalent_radii

    stats = data
    if not isinstance(data, PairStatistics):
        stats = pair_statistics(data, elements, PEAK_CUTOFF, histogram_cutoff=PEAK_CUTOFF)
    peaks = first_peaks(stats)
    radius = {e: float(covalent_radii[atomic_numbers[e]]) for e in elements}
    # element radii: half the like-pair peak where seen, else tabulated
    rho = {}
    for e in elements:
        if (e, e) in peaks:
            rho[e] = 0.5 * peaks[(e, e)]
        else:
            rho[e] = radius[e]
    pairs = {}
    for a, b in combinations_with_replacement(elements, 2):
        r0 = peaks.get((a, b), peaks.get((b, a), rho[a] + rho[b]))
        pairs[(a, b)] = (float(r0), float(L_FRACTION * r0))
    amps = {e: 1.0 for e in elements}
    if mode == "pair":
        return Scaling("pair", amps, pairs=pairs)
    lam = {e: float(L_FRACTION * 2 * rho[e]) for e in elements}
    return Scaling("element", amps, radii=rho, lengths=lam)


def infer_unseen_pairs(scaling: Scaling, dmin):
    """Pairs never seen together in the data get scalings from the fitted ones.

    Element mode needs nothing (combination rules from element scalars).
    Pair mode: r0_ab = rho_a + rho_b and l_ab = (lambda_a + lambda_b)/2 with
    rho_a, lambda_a taken from the element's fitted like pair (r0_aa/2, l_aa),
    else the mean over its fitted unlike pairs, else left as initialised.
    Returns (scaling, inferred pairs).
    """
    unseen = [p for p, d in dmin.items() if d is None]
    if scaling.mode != "pair" or not unseen:
        return scaling, unseen
    seen = [p for p, d in dmin.items() if d is not None]
    rho, lam = {}, {}
    for a, b in seen:
        r0, l = scaling.pair(a, b)
        if a == b:
            rho[a], lam[a] = 0.5 * r0, l
    for a, b in seen:
        r0, l = scaling.pair(a, b)
        for x, y in ((a, b), (b, a)):
            if x not in rho and y in rho:
                rho.setdefault(x, r0 - rho[y])
                lam.setdefault(x, l)
    pairs = dict(scaling.pairs)
    for a, b in unseen:
        if a in rho and b in rho:
            key = (a, b) if (a, b) in pairs else (b, a)
            pairs[key] = (rho[a] + rho[b], 0.5 * (lam[a] + lam[b]))
    return Scaling("pair", dict(scaling.amplitudes), pairs=pairs), unseen
