"""The embedding term in a fit: starting values, its outer parameters and their Jacobian.

F (the embedding functions) is linear once the densities are fixed and joins
the exact inner solve (:mod:`.layout`).  The densities' spline coefficients
and the scalars -- eps_{a,k}, s_{b,k} (as log s) and the channel maps -- are
outer parameters, moved by Levenberg-Marquardt in :mod:`.varpro` with the
analytic Jacobian of the compiled ``embedding_theta_design`` kernel.

Gauges held fixed (each would otherwise be a flat direction):

* the scale of a channel's densities against F's argument: the first free
  coefficient of f_k (its value at the short-distance end) and the first
  element's s_{b,k} = 1;
* the scale of F against eps: the first element's eps_{a,k} = 1;
* an affine change of a channel's reduced coordinate, absorbed by f_k: the
  first element's radius and length (element mode) or its like pair's map;
* F_k(0) = 0 (F's first coefficient is not a column).

Densities stay >= 0 (coefficient bounds).  F's knot range [0, rho_max] is
fixed at the start from the training densities; beyond it F continues
linearly.
"""
from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from .. import bspline
from .._kernels import engine
from ..compile import compile_layout
from ..model import Model
from ..scaling import Scaling
from ..splines import Spline1D
from ..terms import EmbeddingSpecific, EmbeddingUniversal
from .rows import jacobian_batches
from .start import PEAK_CUTOFF, first_peaks

DECAYS = (2.0, 5.0, 1.0, 9.0, 3.5, 0.6)  # starting decay rates of the channels' densities (over their range)


def greville(lo, hi, n):
    t = bspline.knot_vector(lo, hi, n)
    return np.array([t[i + 1:i + 4].mean() for i in range(n + 3)])


def _decay(lo, hi, n, rate):
    """Coefficients of a decaying, non-negative density on [lo, hi] (trailing trim zero), 1 at lo."""
    g = (greville(lo, hi, n) - lo) / (hi - lo)
    c = np.exp(-rate * g) * (1.0 - g) ** 2
    c[-bspline.TRIM:] = 0.0
    return c / c[0]


def _identity(rho_max, n):
    """F(rho) = rho on [0, rho_max] (and beyond, continued linearly)."""
    return Spline1D(0.0, rho_max, n, greville(0.0, rho_max, n))


def channel_densities(term, frames, threads=1):
    """Per channel, {element: the densities of that element's atoms in ``frames``} under ``term``
    (computed as the per-atom energies of the channel alone with F(rho) = rho)."""
    out = []
    if isinstance(term, EmbeddingUniversal):
        singles = [EmbeddingUniversal([dict(c, F=_identity(1.0, 1), epsilon={e: 1.0 for e in c["epsilon"]})])
                   for c in term.channels]
    else:
        singles = [EmbeddingSpecific({a: _identity(1.0, 1) for a in term.embed}, term.density)]
    from ..calculator import Calculator

    for t in singles:
        els = list(t.channels[0]["epsilon"]) if isinstance(t, EmbeddingUniversal) else list(term.embed)
        calc = Calculator(Model(els, terms=[t]), threads=threads)
        rho = {e: [] for e in els}
        for fr in frames:
            a = fr.atoms.copy()
            a.calc = calc
            en = a.get_potential_energies()
            for sym, v in zip(a.get_chemical_symbols(), en):
                if sym in rho:
                    rho[sym].append(v)
        out.append({e: np.array(v) for e, v in rho.items() if v})
    return out


def initial_embedding(stats, elements, settings, r_min, frames, threads=1):
    """The starting embedding term of a fit (see the module docstring)."""
    kind = settings.embedding
    rc = settings.embedding_cutoff or settings.cutoff2
    nf, nF = settings.embedding_intervals
    if kind == "specific":
        density = {}
        for a in elements:
            for b in elements:
                lo = r_min[(a, b) if (a, b) in r_min else (b, a)]
                density[(a, b)] = Spline1D(lo, rc, nf, _decay(lo, rc, nf, DECAYS[0]))
        term = EmbeddingSpecific({a: _identity(1.0, nF) for a in elements}, density)
    else:
        peaks = first_peaks(stats)
        from ase.data import atomic_numbers, covalent_radii

        radius = {e: 0.5 * peaks[(e, e)] if (e, e) in peaks else float(covalent_radii[atomic_numbers[e]])
                  for e in elements}
        pairs = list(combinations_with_replacement(elements, 2))
        if settings.embedding_scaling == "pair":
            maps = {p: (peaks.get(p, radius[p[0]] + radius[p[1]]),) for p in pairs}
            sc0 = Scaling("pair", {e: 1.0 for e in elements}, pairs={p: (r0[0], 0.1 * r0[0]) for p, r0 in maps.items()})
        else:
            sc0 = Scaling("element", {e: 1.0 for e in elements}, radii=radius,
                          lengths={e: 0.2 * radius[e] for e in elements})
        seen = [p for p in pairs if stats.shortest.get(p) is not None] or pairs
        x_lo = min((r_min[p] - sc0.pair(*p)[0]) / sc0.pair(*p)[1] for p in seen) - 1.0
        # the shortest density reach that still lets no pair in the data exceed the cutoff
        x_hi = min((rc - sc0.pair(*p)[0]) / sc0.pair(*p)[1] for p in seen)
        if not x_hi > x_lo + 1.0:
            x_hi = x_lo + 1.0 + max((rc - sc0.pair(*p)[0]) / sc0.pair(*p)[1] - x_lo for p in seen)
        channels = []
        for k in range(settings.embedding_channels):
            f = Spline1D(x_lo, x_hi, nf, _decay(x_lo, x_hi, nf, DECAYS[k % len(DECAYS)]))
            channels.append({"f": f, "F": _identity(1.0, nF), "epsilon": {e: 1.0 for e in elements},
                             "scaling": Scaling(sc0.mode, {e: 1.0 for e in elements}, pairs=dict(sc0.pairs),
                                                radii=dict(sc0.radii), lengths=dict(sc0.lengths))})
        term = EmbeddingUniversal(channels)
    return with_rho_max(term, frames, threads)


def with_rho_max(term, frames, threads=1, quantile=0.995, margin=1.25):
    """The term with each channel's F on [0, rho_max]: ``margin`` x the ``quantile`` of
    the training densities (above it F continues linearly), and the training range
    of rho recorded per element (the domain of validity)."""
    rhos = channel_densities(term, frames, threads)
    if isinstance(term, EmbeddingUniversal):
        out = []
        for c, rho in zip(term.channels, rhos):
            allv = np.concatenate(list(rho.values())) if rho else np.ones(1)
            rmax = max(margin * float(np.quantile(allv, quantile)), 1e-6)
            F = c["F"]
            out.append(dict(c, F=Spline1D(0.0, rmax, F.intervals, F.coefficients * 0.0),
                            rho_range={e: (float(v.min()), float(v.max())) for e, v in rho.items()}))
        return EmbeddingUniversal(out)
    rho = rhos[0]
    embed = {}
    for a, F in term.embed.items():
        v = rho.get(a, np.ones(1))
        rmax = max(margin * float(np.quantile(v, quantile)), 1e-6)
        embed[a] = Spline1D(0.0, rmax, F.intervals, F.coefficients * 0.0)
    return EmbeddingSpecific(embed, term.density, {e: (float(v.min()), float(v.max())) for e, v in rho.items()})


def record_ranges(term, frames, threads=1):
    """The term with the training range of rho recorded per channel and element."""
    rhos = channel_densities(term, frames, threads)
    if isinstance(term, EmbeddingUniversal):
        return EmbeddingUniversal([dict(c, rho_range={e: (float(v.min()), float(v.max())) for e, v in rho.items()})
                                   for c, rho in zip(term.channels, rhos)])
    rho = rhos[0]
    return EmbeddingSpecific(term.embed, term.density, {e: (float(v.min()), float(v.max())) for e, v in rho.items()})


class EmbeddingMap:
    """θ <-> an embedding term's densities and scalars, with bounds and kernel tables."""

    def __init__(self, term, elements):
        self.elements = list(elements)
        self.kind = "universal" if isinstance(term, EmbeddingUniversal) else "specific"
        self.pairs = list(combinations_with_replacement(self.elements, 2))
        names, free = [], []
        self.slots = []  # per channel: dict of θ positions
        first = self.elements[0]
        if self.kind == "universal":
            for k, c in enumerate(term.channels):
                slot = {}
                nfree = c["f"].intervals  # coefficients not trimmed
                slot["f"] = list(range(len(names), len(names) + nfree))
                names += [f"f{k}[{m}]" for m in range(nfree)]
                free += [m > 0 for m in range(nfree)]  # f's first coefficient fixed (density scale)
                slot["logs"] = {e: len(names) + i for i, e in enumerate(self.elements)}
                names += [f"log s{k}_{e}" for e in self.elements]
                free += [e != first for e in self.elements]
                slot["eps"] = {e: len(names) + i for i, e in enumerate(self.elements)}
                names += [f"eps{k}_{e}" for e in self.elements]
                free += [e != first for e in self.elements]
                sc = c["scaling"]
                if sc.mode == "pair":
                    slot["map"] = {p: (len(names) + 2 * i, len(names) + 2 * i + 1) for i, p in enumerate(self.pairs)}
                    names += [f"{q}{k}_{a}-{b}" for a, b in self.pairs for q in ("r0", "l")]
                    free += [p != (first, first) for p in self.pairs for _ in range(2)]
                else:
                    ne = len(self.elements)
                    slot["map"] = {e: (len(names) + i, len(names) + ne + i) for i, e in enumerate(self.elements)}
                    names += [f"rho{k}_{e}" for e in self.elements] + [f"lambda{k}_{e}" for e in self.elements]
                    free += [e != first for e in self.elements] * 2
                self.slots.append(slot)
        else:
            slot = {"density": {}}
            for key, s in term.density.items():
                nfree = s.intervals
                slot["density"][key] = list(range(len(names), len(names) + nfree))
                names += [f"f_{key[0]}<-{key[1]}[{m}]" for m in range(nfree)]
                # one density scale per host a (F_a takes it): f_aa's first coefficient fixed
                free += [not (m == 0 and key[0] == key[1]) for m in range(nfree)]
            self.slots.append(slot)
        self.names = names
        self.free = np.array([i for i, f in enumerate(free) if f], dtype=np.intp)
        self.free_index = {int(i): k for k, i in enumerate(self.free)}

    # ---- θ <-> term
    def vector(self, term) -> np.ndarray:
        v = np.zeros(len(self.names))
        if self.kind == "universal":
            for c, slot in zip(term.channels, self.slots):
                v[slot["f"]] = c["f"].coefficients[: len(slot["f"])]
                sc = c["scaling"]
                for e, i in slot["logs"].items():
                    v[i] = np.log(sc.amplitudes[e])
                for e, i in slot["eps"].items():
                    v[i] = c["epsilon"][e]
                for key, (i, j) in slot["map"].items():
                    if sc.mode == "pair":
                        v[i], v[j] = sc.pair(*key)
                    else:
                        v[i], v[j] = sc.radii[key], sc.lengths[key]
        else:
            for key, idx in self.slots[0]["density"].items():
                v[idx] = term.density[key].coefficients[: len(idx)]
        return v

    def term(self, theta, like):
        """The term ``like`` with θ's densities and scalars (its F kept)."""
        if self.kind == "universal":
            out = []
            for c, slot in zip(like.channels, self.slots):
                f = c["f"]
                coef = f.coefficients.copy()
                coef[: len(slot["f"])] = theta[slot["f"]]
                sc = c["scaling"]
                amps = {e: float(np.exp(theta[i])) for e, i in slot["logs"].items()}
                if sc.mode == "pair":
                    new = Scaling("pair", amps, pairs={key: (float(theta[i]), float(theta[j]))
                                                      for key, (i, j) in slot["map"].items()})
                else:
                    new = Scaling("element", amps, radii={e: float(theta[i]) for e, (i, _) in slot["map"].items()},
                                  lengths={e: float(theta[j]) for e, (_, j) in slot["map"].items()})
                out.append(dict(c, f=f.with_coefficients(coef), scaling=new,
                                epsilon={e: float(theta[i]) for e, i in slot["eps"].items()}))
            return EmbeddingUniversal(out)
        density = {}
        for key, idx in self.slots[0]["density"].items():
            s = like.density[key]
            coef = s.coefficients.copy()
            coef[: len(idx)] = theta[idx]
            density[key] = s.with_coefficients(coef)
        return EmbeddingSpecific(like.embed, density, like.rho_range)

    def bounds(self, theta0):
        """Densities >= 0; s within [0.05, 20] x; eps within [-10, 10]; radii / r0 within
        1 Å; lengths within [0.2, 3] x."""
        lo = np.full(len(theta0), -np.inf)
        hi = np.full(len(theta0), np.inf)
        for slot in self.slots:
            for idx in ([slot["f"]] if "f" in slot else list(slot["density"].values())):
                lo[idx] = 0.0
            for i in slot.get("logs", {}).values():
                lo[i], hi[i] = theta0[i] + np.log(0.05), theta0[i] + np.log(20.0)
            for i in slot.get("eps", {}).values():
                lo[i], hi[i] = -10.0, 10.0
            for i, j in slot.get("map", {}).values():
                lo[i], hi[i] = theta0[i] - 1.0, theta0[i] + 1.0
                lo[j], hi[j] = 0.2 * theta0[j], 3.0 * theta0[j]
        return lo, hi

    # ---- kernel tables
    def _f(self, i):
        return self.free_index.get(int(i), -1)

    def part_tables(self, compiled, theta):
        """The arrays ``engine.embedding_theta_design`` reads, for ``compiled`` (compile_layout
        of the current model: its dparts / eparts in table order)."""
        T = compiled.tables
        dth = np.zeros(len(T["coef"]))
        nd, nep = len(T["d_lo"]), len(T["e_hi"])
        d_scale = np.ones(nd)
        d_s = np.full(nd, -1, dtype=np.intp)
        d_idx = np.full((nd, 4), -1, dtype=np.intp)
        d_fac = np.zeros((nd, 4))
        d_r0l = np.ones((nd, 2))
        e_eps = np.full(nep, -1, dtype=np.intp)
        for q, (k, a, b, part) in enumerate(compiled.dparts):
            off = int(T["d_coef"][q])
            slot = self.slots[k if self.kind == "universal" else 0]
            idx = slot["f"] if self.kind == "universal" else slot["density"][(a, b)]
            for m, i in enumerate(idx):
                th = self._f(i)
                dth[off + m] = th + 1 if th >= 0 else 0.0
            d_scale[q] = part.scale
            if self.kind != "universal":
                continue
            d_s[q] = self._f(slot["logs"][b])
            key = part.reduced
            if "map" in slot and key is not None:
                r0, l = (float(theta[slot["map"][key][0]]), float(theta[slot["map"][key][1]])) \
                    if key in slot["map"] else (None, None)
                if key in slot["map"]:  # pair mode
                    i, j = slot["map"][key]
                    ent = [(self._f(i), 1.0), (-1, 0.0), (self._f(j), 1.0), (-1, 0.0)]
                else:  # element mode: r0 = rho_a + rho_b, l = (lambda_a + lambda_b) / 2
                    x, y = key
                    (ia, ja), (ib, jb) = slot["map"][x], slot["map"][y]
                    r0 = float(theta[ia] + theta[ib])
                    l = 0.5 * float(theta[ja] + theta[jb])
                    if x == y:
                        ent = [(self._f(ia), 2.0), (-1, 0.0), (self._f(ja), 1.0), (-1, 0.0)]
                    else:
                        ent = [(self._f(ia), 1.0), (self._f(ib), 1.0), (self._f(ja), 0.5), (self._f(jb), 0.5)]
                d_r0l[q] = (r0, l)
                for z, (i, f) in enumerate(ent):
                    d_idx[q, z], d_fac[q, z] = (i, f) if i >= 0 else (-1, 0.0)
        for q, (k, a, part) in enumerate(compiled.eparts):
            if self.kind == "universal":
                e_eps[q] = self._f(self.slots[k]["eps"][a])
        return dth, d_scale, d_s, d_idx, d_fac, d_r0l, e_eps


def embedding_jacobian_block(model, emap, theta, threads=1):
    """``(n_columns, fill)`` of the embedding's free θ for :func:`.rows.jacobian_batches`."""
    compiled, _, _ = compile_layout(model)  # embedding functions unscaled, eps as their scale
    tables = emap.part_tables(compiled, theta)
    return len(emap.free), lambda args, J: engine.embedding_theta_design(compiled, *tables, *args, J, threads)


def embedding_jacobian_batches(model, emap, theta, frames, cutoff, threads=1, batch_rows=4096, stress=True):
    """Yield (batch, J, row_start): ∂(rows)/∂θ_free of the embedding, in the design-row layout."""
    return jacobian_batches(frames, model.elements, cutoff, [embedding_jacobian_block(model, emap, theta, threads)],
                            batch_rows, stress)


__all__ = ["EmbeddingMap", "PEAK_CUTOFF", "embedding_jacobian_batches", "embedding_jacobian_block",
           "initial_embedding", "record_ranges", "with_rho_max"]
