"""One scan of the interatomic distances in a data set, per element pair.

The fit needs, from its training data, the shortest distance of every pair
(where the knots start), which pairs and triplets occur at all (which
specific terms to fit), and each pair's distance histogram (where the
universal scaling starts, where coordination shells lie); plots need each
pair's distance range.  :func:`pair_statistics` computes all of it in one
pass over the structures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numpy as np

from .neighbors import CellError, bond_distances

BIN_WIDTH = 0.02  # Å, histogram bins


@dataclass
class PairStatistics:
    """Distances per element pair (keys in the order of ``elements``).

    ``shortest`` / ``longest``: {pair: Å, or None when the pair has no bond
    below ``cutoff``}; ``pairs2``: pairs with a bond below ``cutoff2``;
    ``triplets``: (centre, b, c), b <= c in element order, that occur with
    both legs below ``cutoff3``; ``histogram``: {pair: counts of neighbour
    entries (each bond seen from both ends) in bins of ``bin_width`` from 0
    to ``histogram_cutoff``, edges :attr:`edges`}.
    """

    elements: list
    cutoff: float
    histogram_cutoff: float = 0.0
    bin_width: float = BIN_WIDTH
    shortest: dict = field(default_factory=dict)
    longest: dict = field(default_factory=dict)
    histogram: dict = field(default_factory=dict)
    pairs2: set = field(default_factory=set)
    triplets: set = field(default_factory=set)
    per_frame: np.ndarray = None  # (frames, ne, ne): each frame's shortest distance per pair (inf: none)

    @property
    def edges(self) -> np.ndarray:
        return np.arange(0.0, self.histogram_cutoff + self.bin_width, self.bin_width)

    def ranges(self) -> dict:
        """{pair: (shortest, longest)} of the pairs that occur."""
        return {p: (d, self.longest[p]) for p, d in self.shortest.items() if d is not None}


def element_types(atoms, elements, strict=True):
    """Index of each atom's element in ``elements`` (-1 for others unless ``strict``)."""
    index = {e: i for i, e in enumerate(elements)}
    syms = atoms.get_chemical_symbols()
    if strict:
        unknown = sorted(set(syms) - set(index))
        if unknown:
            raise ValueError(f"element(s) {unknown} in the data are not among the model elements {list(elements)}")
    return np.array([index.get(s, -1) for s in syms], dtype=np.int32)


def pair_statistics(frames, elements, cutoff, cutoff2=None, cutoff3=0.0, histogram_cutoff=0.0, threads=1,
                    strict=True, bin_width=BIN_WIDTH) -> PairStatistics:
    """Scan ``frames`` (Frames or Atoms) once; see :class:`PairStatistics`.

    ``strict``: atoms of elements outside ``elements`` are an error (else
    they are ignored).
    """
    elements = list(elements)
    ne = len(elements)
    cutoff2 = cutoff if cutoff2 is None else cutoff2
    st = PairStatistics(elements, float(cutoff), float(histogram_cutoff), bin_width)
    edges = st.edges if histogram_cutoff > 0 else None
    scan = max(cutoff, cutoff2, cutoff3, histogram_cutoff)
    dmin = np.full((ne, ne), np.inf)
    dmax = np.full((ne, ne), -np.inf)
    near2 = np.zeros((ne, ne), dtype=bool)
    hist = {}
    per_frame = []
    for fr in frames:
        fmin = np.full((ne, ne), np.inf)
        per_frame.append(fmin)
        atoms = getattr(fr, "atoms", fr)
        if len(atoms) == 0:
            continue
        try:
            centre, idx, d = bond_distances(atoms, scan, threads)
        except CellError as exc:  # say which structure of the data set it is
            where = getattr(fr, "source", None)
            raise CellError(f"{where}: {exc}" if where else str(exc)) from None
        if not len(idx):
            continue
        t = element_types(atoms, elements, strict)
        keep = (t[centre] >= 0) & (t[idx] >= 0)
        ci, d = centre[keep], d[keep]
        ti, tj = t[ci], t[idx[keep]]
        lo, hi = np.minimum(ti, tj), np.maximum(ti, tj)
        inside = d < cutoff
        np.minimum.at(fmin, (lo[inside], hi[inside]), d[inside])
        np.minimum(dmin, fmin, out=dmin)
        np.maximum.at(dmax, (lo[inside], hi[inside]), d[inside])
        in2 = d < cutoff2
        near2[lo[in2], hi[in2]] = True
        if edges is not None:
            for p in set(zip(lo.tolist(), hi.tolist())):
                sel = (lo == p[0]) & (hi == p[1])
                h = hist.setdefault(p, np.zeros(len(edges) - 1))
                h += np.histogram(d[sel], bins=edges)[0]
        if cutoff3 > 0:
            sel = d < cutoff3
            counts = np.zeros((len(atoms), ne), dtype=int)
            np.add.at(counts, (ci[sel], tj[sel]), 1)
            for i_atom in np.nonzero(counts.any(axis=1))[0]:
                row = counts[i_atom]
                have = np.nonzero(row)[0]
                for x in range(len(have)):
                    for y in range(x, len(have)):
                        b, c = have[x], have[y]
                        if b == c and row[b] < 2:
                            continue
                        st.triplets.add((elements[t[i_atom]], elements[b], elements[c]))
    st.per_frame = np.array(per_frame).reshape(len(per_frame), ne, ne)
    for i, j in combinations_with_replacement(range(ne), 2):
        key = (elements[i], elements[j])
        seen = np.isfinite(dmin[i, j])
        st.shortest[key] = float(dmin[i, j]) if seen else None
        st.longest[key] = float(dmax[i, j]) if seen else None
        if near2[i, j]:
            st.pairs2.add(key)
        if (i, j) in hist:
            st.histogram[key] = hist[(i, j)]
    return st


def shortest_distances(frames, elements, cutoff, threads=1):
    """Shortest distance per element pair below ``cutoff`` (None where a pair never occurs)."""
    return pair_statistics(frames, elements, cutoff, threads=threads).shortest


def present_terms(frames, elements, cutoff2, cutoff3, threads=1):
    """(pairs, triplets) that occur in the data within the 2- and 3-body cutoffs.

    Triplet keys are (centre, b, c) with b <= c in element order.
    """
    st = pair_statistics(frames, elements, max(cutoff2, cutoff3), cutoff2=cutoff2, cutoff3=cutoff3, threads=threads)
    return st.pairs2, st.triplets
