"""Variable projection for the universal scaling (SUS2) scalars θ.

The outer parameters θ are the universal scaling's scalars -- amplitudes
w_a and either per-pair (r0_ab, l_ab) or per-element (ρ_a, λ_a) -- and the
embedding's densities and scalars (:mod:`.embedding`).  For fixed θ the
model is linear in every spline coefficient
and one-body energy, so the loss is minimised exactly by a regularised
linear solve (:mod:`.solve`).  Outside, Levenberg-Marquardt moves θ using
the Jacobian of the predictions with respect to θ at the projected
coefficients (Kaufman's simplification), computed analytically by the
compiled ``theta_design`` kernel and accumulated as JᵀWJ and JᵀWr, so
memory stays independent of the data size.

Gauges: φ_ab = w_a w_b u(x) is unchanged by w -> αw, u -> u/α², and a
common affine change of x can be absorbed by u; so the first element's
amplitude and its like pair's (r0, l) (or its ρ, λ) are held fixed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numpy as np

from .._kernels import engine
from ..scaling import Scaling
from .embedding import EmbeddingMap, embedding_jacobian_block
from .layout import Layout
from .rows import accumulate, design_batches, jacobian_batches, targets, wants_stress
from .settings import FitError
from .solve import relative_scale, solve_normal, solve_one


class ThetaMap:
    """θ <-> Scaling, with the free parameters and their bounds."""

    def __init__(self, elements, mode):
        self.elements = list(elements)
        self.mode = mode
        ne = len(self.elements)
        self.pairs = list(combinations_with_replacement(self.elements, 2))
        names = [f"w_{e}" for e in self.elements]
        if mode == "pair":
            for a, b in self.pairs:
                names += [f"r0_{a}-{b}", f"l_{a}-{b}"]
        else:
            names += [f"rho_{e}" for e in self.elements] + [f"lambda_{e}" for e in self.elements]
        self.names = names
        fixed = {0}
        if mode == "pair":
            fixed |= {ne, ne + 1}  # r0, l of the first like pair
        else:
            fixed |= {ne, 2 * ne}  # rho, lambda of the first element
        self.free = np.array([i for i in range(len(names)) if i not in fixed], dtype=np.intp)
        self.free_index = {int(i): k for k, i in enumerate(self.free)}

    def vector(self, sc: Scaling) -> np.ndarray:
        v = [sc.amplitudes[e] for e in self.elements]
        if self.mode == "pair":
            for a, b in self.pairs:
                v += list(sc.pair(a, b))
        else:
            v += [sc.radii[e] for e in self.elements] + [sc.lengths[e] for e in self.elements]
        return np.array(v, dtype=float)

    def scaling(self, theta) -> Scaling:
        ne = len(self.elements)
        amps = {e: float(theta[i]) for i, e in enumerate(self.elements)}
        if self.mode == "pair":
            pairs = {p: (float(theta[ne + 2 * k]), float(theta[ne + 2 * k + 1])) for k, p in enumerate(self.pairs)}
            return Scaling("pair", amps, pairs=pairs)
        radii = {e: float(theta[ne + i]) for i, e in enumerate(self.elements)}
        lengths = {e: float(theta[2 * ne + i]) for i, e in enumerate(self.elements)}
        return Scaling("element", amps, radii=radii, lengths=lengths)

    def bounds(self, theta0):
        """Box around the start: amplitudes in [0.05, 20] x, lengths in [0.2, 3] x,
        radii / r0 within 1 Å.  Keeps every step physical and the cutoffs in r
        (r0 + l x_hi) from running away."""
        ne = len(self.elements)
        lo = np.array(theta0, dtype=float)
        hi = np.array(theta0, dtype=float)
        lo[:ne], hi[:ne] = 0.05 * np.abs(theta0[:ne]), 20.0 * np.abs(theta0[:ne])
        if self.mode == "pair":
            r0s, ls = slice(ne, None, 2), slice(ne + 1, None, 2)
        else:
            r0s, ls = slice(ne, 2 * ne), slice(2 * ne, None)
        lo[r0s], hi[r0s] = theta0[r0s] - 1.0, theta0[r0s] + 1.0
        lo[ls], hi[ls] = 0.2 * theta0[ls], 3.0 * theta0[ls]
        return lo, hi

    # ---- kernel tables: which free θ each compiled part depends on
    def _free(self, i):
        return self.free_index.get(int(i), -1)

    def _pair_entries(self, a, b):
        """(r0 entries, l entries) of a pair: [(free index, dr0/dθ)], [(free index, dl/dθ)]."""
        ne = len(self.elements)
        if self.mode == "pair":
            k = self.pairs.index((a, b) if (a, b) in self.pairs else (b, a))
            return [(self._free(ne + 2 * k), 1.0)], [(self._free(ne + 2 * k + 1), 1.0)]
        ia, ib = self.elements.index(a), self.elements.index(b)
        if ia == ib:
            return [(self._free(ne + ia), 2.0)], [(self._free(2 * ne + ia), 1.0)]
        return ([(self._free(ne + ia), 1.0), (self._free(ne + ib), 1.0)],
                [(self._free(2 * ne + ia), 0.5), (self._free(2 * ne + ib), 0.5)])

    def _amp_entries(self, elems, theta):
        out = []
        for e in dict.fromkeys(elems):
            i = self.elements.index(e)
            out.append((self._free(i), elems.count(e) / theta[i]))
        return out

    def part_tables(self, compiled, theta):
        """u2/u3 arrays for ``engine.theta_design``: per compiled part (in table
        order, ``compiled.parts2`` / ``parts3``) the free θ it depends on."""
        sc = self.scaling(theta)
        u2_r0, u2_l, u2_idx, u2_fac = [], [], [], []
        for part in compiled.parts2:
            if part.reduced is None:
                u2_r0.append(1.0), u2_l.append(1.0), u2_idx.append([-1] * 6), u2_fac.append([0.0] * 6)
                continue
            r0, l = sc.pair(*part.reduced)
            ent = _pad(self._amp_entries(list(part.amplitudes), theta), 2)
            r0e, le = self._pair_entries(*part.reduced)
            ent += _pad(r0e, 2) + _pad(le, 2)
            u2_r0.append(r0), u2_l.append(l)
            u2_idx.append([i for i, _ in ent]), u2_fac.append([f for _, f in ent])
        u3_r0, u3_l, u3_idx, u3_fac = [], [], [], []
        for part in compiled.parts3:
            if part.reduced is None:
                u3_r0.append([1.0] * 3), u3_l.append([1.0] * 3)
                u3_idx.append([-1] * 15), u3_fac.append([0.0] * 15)
                continue
            ent = _pad(self._amp_entries(list(part.amplitudes), theta), 3)
            r0s, ls = [], []
            for x, y in part.reduced:
                r0, l = sc.pair(x, y)
                r0s.append(r0), ls.append(l)
                r0e, le = self._pair_entries(x, y)
                ent += _pad(r0e, 2) + _pad(le, 2)
            u3_r0.append(r0s), u3_l.append(ls)
            u3_idx.append([i for i, _ in ent]), u3_fac.append([f for _, f in ent])

        def arr(v, shape, dtype=float):
            a = np.ascontiguousarray(v, dtype=dtype)
            return a.reshape(shape) if a.size else np.zeros(shape, dtype=dtype)

        n2, n3 = len(u2_r0), len(u3_r0)
        return (
            arr(u2_r0, (n2,)), arr(u2_l, (n2,)), arr(u2_idx, (n2, 6), np.intp), arr(u2_fac, (n2, 6)),
            arr(u3_r0, (n3, 3)), arr(u3_l, (n3, 3)), arr(u3_idx, (n3, 15), np.intp), arr(u3_fac, (n3, 15)),
        )


def _pad(entries, n):
    """Free entries first (fixed θ dropped), padded with (-1, 0) to n."""
    entries = [(i, f) for i, f in entries if i >= 0]
    return entries + [(-1, 0.0)] * (n - len(entries))


def theta_jacobian_block(model, tmap: ThetaMap, theta, threads=1):
    """``(n_columns, fill)`` of the scaling's free θ for :func:`.rows.jacobian_batches`."""
    tables = model.compiled()
    parts = tmap.part_tables(tables, theta)
    return len(tmap.free), lambda args, J: engine.theta_design(tables, *parts, *args, J, threads)


def theta_jacobian_batches(model, tmap: ThetaMap, theta, frames, cutoff, threads=1, batch_rows=4096, stress=True):
    """Yield (batch, J, row_start): ∂(rows)/∂θ_free in the design-row layout
    (the layout of ``rows.design_batches`` with the same ``stress``)."""
    return jacobian_batches(frames, model.elements, cutoff, [theta_jacobian_block(model, tmap, theta, threads)],
                            batch_rows, stress)


@dataclass
class VarProResult:
    scaling: Scaling
    theta: np.ndarray
    names: list
    loss_history: list = field(default_factory=list)
    log: list = field(default_factory=list)
    iterations: int = 0
    seconds: float = 0.0
    embedding: object = None
    validation_history: list = field(default_factory=list)


class OuterParameters:
    """The outer (nonlinear) parameters of a fit as one vector: the universal scaling's
    scalars (:class:`ThetaMap`) and the embedding's (:class:`.embedding.EmbeddingMap`)."""

    def __init__(self, elements, scaling0=None, embedding0=None, fixed_scaling=None):
        self.tmap = ThetaMap(elements, scaling0.mode) if scaling0 is not None else None
        # a universal scaling held fixed (one element: nothing in it to fit) while the embedding moves
        self.fixed_scaling = fixed_scaling if scaling0 is None else None
        self.emap = EmbeddingMap(embedding0, elements) if embedding0 is not None else None
        self.embedding0 = embedding0
        self.ns = len(self.tmap.names) if self.tmap else 0
        self.names = (self.tmap.names if self.tmap else []) + (self.emap.names if self.emap else [])
        free = []
        if self.tmap:
            free += list(self.tmap.free)
        if self.emap:
            free += [self.ns + i for i in self.emap.free]
        self.free = np.array(free, dtype=np.intp)

    def vector(self, scaling, embedding):
        parts = []
        if self.tmap:
            parts.append(self.tmap.vector(scaling))
        if self.emap:
            parts.append(self.emap.vector(embedding))
        return np.concatenate(parts) if parts else np.zeros(0)

    def state(self, theta):
        """(scaling, embedding term) at θ."""
        sc = self.tmap.scaling(theta[: self.ns]) if self.tmap else self.fixed_scaling
        emb = self.emap.term(theta[self.ns:], self.embedding0) if self.emap else None
        return sc, emb

    def bounds(self, theta0):
        lo, hi = [], []
        if self.tmap:
            a, b = self.tmap.bounds(theta0[: self.ns])
            lo.append(a), hi.append(b)
        if self.emap:
            a, b = self.emap.bounds(theta0[self.ns:])
            lo.append(a), hi.append(b)
        return np.concatenate(lo), np.concatenate(hi)

    def jacobian_batches(self, model, theta, frames, cutoff, threads, stress):
        """Yield (batch, J, row_start) with the free columns of both blocks side by side."""
        blocks = []
        if self.tmap:
            blocks.append(theta_jacobian_block(model, self.tmap, theta[: self.ns], threads))
        if self.emap:
            blocks.append(embedding_jacobian_block(model, self.emap, theta[self.ns:], threads))
        return jacobian_batches(frames, model.elements, cutoff, blocks, stress=stress)


def _validation_split(n, fraction, seed):
    """Indices of the structures that stop the outer fit (none for small sets)."""
    k = int(round(fraction * n))
    if n < 20 or k < 2:
        return np.zeros(0, dtype=np.intp)
    return np.sort(np.random.default_rng(seed + 7919).permutation(n)[:k])


def optimize_outer(frames, elements, r_min, settings, scaling0, embedding0, ridge, curvature, x_ranges,
                   weights, max_iter=20, tol=1e-3, threads=1, log=None, present=None, patience=5,
                   fixed_scaling=None) -> VarProResult:
    """Levenberg-Marquardt on the outer parameters with the linear coefficients projected out.

    A seeded fraction ``settings.outer_validation`` of the structures is held
    out: steps are taken on the others, and the fit returns the parameters of
    lowest validation loss, stopping when it has not improved for ``patience``
    steps (the scalars overfit a few hundred structures long before the
    training loss stops falling).  ``fixed_scaling``: the universal scaling
    the layouts use when ``scaling0`` is None (not fitted)."""
    log = log or (lambda *a, **k: None)
    outer = OuterParameters(elements, scaling0, embedding0, fixed_scaling)
    theta = outer.vector(scaling0, embedding0)
    lower, upper = outer.bounds(theta)
    val_idx = _validation_split(len(frames), settings.outer_validation, settings.seed)
    is_val = np.zeros(len(frames), dtype=bool)
    is_val[val_idx] = True
    folds = is_val.astype(int)
    train = [fr for fr, v in zip(frames, is_val) if not v]
    # a step may not stretch the longest reach in r by more than half
    max_cutoff = 1.5 * Layout(elements, r_min, settings, scaling0 if scaling0 is not None else fixed_scaling,
                              x_ranges=x_ranges, present=present, embedding=embedding0).cutoff
    t0 = time.perf_counter()
    stress = wants_stress(weights)

    def project(theta):
        """Solve the linear problem at θ: (loss, layout, coefficients, regularised normal matrix,
        validation loss) or None if θ is unusable."""
        try:
            sc, emb = outer.state(theta)
            layout = Layout(elements, r_min, settings, sc, x_ranges=x_ranges, present=present, embedding=emb)
            if layout.cutoff > max_cutoff:  # a scaling that stretches u far beyond the data
                return None
            grams = accumulate(layout, frames, folds, weights, threads=threads)
        except (FitError, ValueError):
            return None
        A, b = grams.G[0], grams.b[0]
        R_ridge, R_curv = layout.penalties()
        scale = relative_scale(A)
        c = solve_one(A, b, R_ridge, R_curv, ridge, curvature, scale)
        pen = scale * (ridge * c @ R_ridge @ c + curvature * c @ R_curv @ c)
        loss = float(c @ A @ c - 2 * c @ b + grams.yy[0] + pen)
        vloss = None
        if grams.n_folds > 1:
            vloss = float(c @ grams.G[1] @ c - 2 * c @ grams.b[1] + grams.yy[1])
        A_reg = A + scale * (ridge * R_ridge + curvature * R_curv)
        return loss, layout, c, A_reg, vloss

    cur = project(theta)
    if cur is None:
        raise FitError("the initial outer parameters put training distances outside the knots")
    history, vhistory = [cur[0]], [cur[4]]
    best = (cur[4], theta.copy())
    log(f"  outer fit: start loss {cur[0]:.6g}" + (f", validation {cur[4]:.6g} ({len(val_idx)} structures)"
                                                    if cur[4] is not None else "")
        + f" ({len(outer.free)} free scalars)")
    mu = 1e-3
    it = 0
    small = stale = 0
    nf = len(outer.free)
    for it in range(1, max_iter + 1):
        loss, layout, c, A_reg, _ = cur
        model = layout.model(c)
        JtJ = np.zeros((nf, nf))
        Jtr = np.zeros(nf)
        XtJ = np.zeros((layout.n_columns, nf))
        design = design_batches(layout, train, threads, stress=stress)
        jac = outer.jacobian_batches(model, theta, train, layout.cutoff, threads, stress)
        for (batch, X, rs), (_, J, _) in zip(design, jac):
            # one BLAS product per batch (per-structure products were the
            # outer step's cost with many scalars)
            y = np.zeros(len(X))
            w = np.zeros(len(X))
            for k, fr in enumerate(batch):
                y[rs[k]:rs[k + 1]], w[rs[k]:rs[k + 1]] = targets(fr, rs[k + 1] - rs[k], weights)
            res = X @ c - y
            Jw = J * w[:, None]
            JtJ += J.T @ Jw
            Jtr += Jw.T @ res
            XtJ += X.T @ Jw
        # Kaufman's projected Gauss-Newton matrix: the part of J the linear
        # coefficients can absorb is removed (J_K = (I - X A^-1 X^T W) J)
        JtJ = JtJ - XtJ.T @ solve_normal(A_reg, XtJ)
        JtJ = 0.5 * (JtJ + JtJ.T)
        diag = np.maximum(np.diag(JtJ), 1e-12 * max(np.diag(JtJ).max(), 1e-300))
        # parameters on a bound that the gradient pushes further out stay there
        # (a clipped step is no longer a descent direction: LM would only grow mu)
        tf = theta[outer.free]
        span = np.maximum(np.abs(tf), 1.0) * 1e-9
        stuck = (((tf <= lower[outer.free] + span) & (Jtr > 0)) | ((tf >= upper[outer.free] - span) & (Jtr < 0)))
        move = np.nonzero(~stuck)[0]
        improved = False
        for _ in range(12):
            step = np.zeros(nf)
            sub = np.ix_(move, move)
            step[move] = np.linalg.solve(JtJ[sub] + mu * np.diag(diag[move]), -Jtr[move])
            trial = theta.copy()
            trial[outer.free] += step
            trial = np.clip(trial, lower, upper)
            new = project(trial)
            if new is not None and new[0] < loss:
                improved = True
                break
            mu *= 4.0
        if not improved:
            log(f"  outer fit: iteration {it}: no downhill step (mu {mu:.1e}); stopping")
            break
        rel = (loss - new[0]) / max(abs(loss), 1e-300)
        theta, cur = trial, new
        history.append(new[0])
        vhistory.append(new[4])
        mu = max(mu / 3.0, 1e-9)
        msg = (f"  outer fit: iteration {it}: loss {new[0]:.6g} (-{100 * rel:.3f} %)"
               + (f", validation {new[4]:.6g}" if new[4] is not None else "")
               + f", |step| {np.linalg.norm(step):.3g}, mu {mu:.1e}, {time.perf_counter() - t0:.1f} s")
        log(msg)
        if new[4] is not None:
            if new[4] < best[0]:
                best, stale = (new[4], theta.copy()), 0
            else:
                stale += 1
                if stale >= patience:
                    log(f"  outer fit: validation loss has not improved for {patience} steps; stopping")
                    break
        small = small + 1 if rel < tol else 0
        if small >= 2:  # two steps in a row gained less than tol
            break
    if vhistory[0] is not None:
        theta = best[1]
    sc, emb = outer.state(theta)
    return VarProResult(sc, theta, outer.names, history, iterations=it, seconds=time.perf_counter() - t0,
                        embedding=emb, validation_history=vhistory)


def optimize_scaling(frames, elements, r_min, settings, scaling0, ridge, curvature, x_ranges,
                     weights, max_iter=20, tol=1e-3, threads=1, log=None, present=None) -> VarProResult:
    """Levenberg-Marquardt on the universal scaling's scalars (no embedding)."""
    return optimize_outer(frames, elements, r_min, settings, scaling0, None, ridge, curvature, x_ranges, weights,
                          max_iter=max_iter, tol=tol, threads=threads, log=log, present=present)
