"""Universal scaling (SUS2): initial element and pair scalars from data.

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

from .model import Scaling
from .neighbors import bond_distances

L_FRACTION = 0.1  # l_ab = L_FRACTION * r0_ab


def first_peaks(frames, elements, cutoff=6.0, bin_width=0.02):
    """Nearest-neighbour distance per pair: the first peak of its distance histogram."""
    index = {e: i for i, e in enumerate(elements)}
    hists = {}
    edges = np.arange(0.0, cutoff + bin_width, bin_width)
    for fr in frames:
        a = fr.atoms
        centre, idx, d = bond_distances(a, cutoff)
        if not len(idx):
            continue
        t = np.array([index[s] for s in a.get_chemical_symbols()])
        ti, tj = np.minimum(t[centre], t[idx]), np.maximum(t[centre], t[idx])
        for p in set(zip(ti.tolist(), tj.tolist())):
            sel = (ti == p[0]) & (tj == p[1])
            h = hists.setdefault(p, np.zeros(len(edges) - 1))
            h += np.histogram(d[sel], bins=edges)[0]
    peaks = {}
    for (i, j), h in hists.items():
        if h.sum() == 0:
            continue
        # smooth a little, then take the first local maximum above 20% of the largest bin
        k = np.convolve(h, np.ones(5) / 5, mode="same")
        thresh = 0.2 * k.max()
        for b in range(1, len(k) - 1):
            if k[b] >= thresh and k[b] >= k[b - 1] and k[b] >= k[b + 1]:
                peaks[(elements[i], elements[j])] = 0.5 * (edges[b] + edges[b + 1])
                break
    return peaks


def initial_scaling(frames, elements, mode="pair", dmin=None) -> Scaling:
    """Scaling with unit amplitudes, r0 at the first peaks and l = 0.1 r0."""
    from ase.data import atomic_numbers, covalent_radii

    peaks = first_peaks(frames, elements)
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
