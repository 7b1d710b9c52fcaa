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

from itertools import combinations_with_replacement

import numpy as np

from ..scaling import Scaling

L_FRACTION = 0.1  # l_ab = L_FRACTION * r0_ab
PEAK_CUTOFF = 6.0  # Å: first peaks are looked for below this


def infer_elements(frames):
    """The elements in the data, by atomic number."""
    from ase.data import atomic_numbers

    found = set()
    for fr in frames:
        found.update(fr.atoms.get_chemical_symbols())
    return sorted(found, key=lambda e: atomic_numbers[e])


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

    from ..distances import PairStatistics, pair_statistics

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
