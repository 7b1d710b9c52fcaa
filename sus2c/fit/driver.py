"""The fit, start to end: data -> starting values -> design rows -> normal
equations -> cross-validated solve (-> variable projection of the universal
scalars) -> model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from itertools import combinations_with_replacement

import numpy as np

from .._kernels import default_threads
from ..distances import pair_statistics
from ..evaluate import errors_of, evaluate
from ..model import Model
from ..terms import ZBLCore
from .layout import Layout, universal_x_ranges
from .rows import accumulate, type_weights
from .settings import FitError, FitSettings
from .solve import Solution, solve
from .start import PEAK_CUTOFF, choose_r_min, infer_elements, infer_unseen_pairs, initial_scaling
from .embedding import initial_embedding, record_ranges
from .varpro import optimize_outer


@dataclass
class FitResult:
    model: Model
    solution: Solution
    layout: Layout
    cv_errors: dict
    timings: dict
    memory_bytes: int


def fit(frames, settings: FitSettings = None, scaling=None, progress=None, log=None) -> FitResult:
    """Fit a model to frames (:class:`sus2c.data.Frame`) with the given settings."""
    settings = settings or FitSettings()
    log = log or (lambda *a, **k: None)
    if not frames:
        raise FitError("no training structures")
    for fr in frames:
        if fr.energy is None:
            raise FitError(f"{fr.source}: missing energy (every training structure needs one)")
    threads = settings.threads or default_threads()
    t0 = time.perf_counter()
    found = infer_elements(frames)
    elements = list(settings.elements) if settings.elements else found
    absent = [e for e in elements if e not in found]
    if absent:
        raise FitError(
            f"element(s) {', '.join(absent)} are listed in the model elements but no training structure "
            f"contains them, so nothing about their interactions can be fitted; remove them from "
            f"[model] elements (the data has {', '.join(found)}) or add training data with them"
        )
    universal = settings.mode != "specific"
    # one scan of the data: shortest distances (first knots), which pairs and
    # triplets occur (specific terms), distance histograms (universal start)
    need_present = settings.mode != "universal" and len(elements) > 1
    try:
        stats = pair_statistics(
            frames, elements, max(settings.cutoff2, settings.cutoff3), cutoff2=settings.cutoff2,
            cutoff3=settings.cutoff3 if need_present else 0.0,
            histogram_cutoff=PEAK_CUTOFF if (universal and scaling is None) or settings.embedding == "universal"
            else 0.0, threads=threads,
        )
    except ValueError as exc:
        raise FitError(str(exc)) from None
    dmin = stats.shortest
    if settings.r_min is not None:
        for (a, b), d in dmin.items():
            if d is not None and d < settings.r_min:
                raise FitError(f"r_min = {settings.r_min} Å but the data has a {a}-{b} distance of {d:.3f} Å")
    r_min = choose_r_min(dmin, settings.cutoff2, settings.intervals2)
    # fixed terms (no free parameters): the rest of the model is fitted to the data minus them
    # (the ZBL core is switched on below each pair's first knot, i.e. below its shortest distance in the data)
    fixed = [ZBLCore.for_fit(r_min, settings.zbl_width)] if settings.zbl else []
    if fixed:
        frames = minus_fixed_terms(frames, Model(elements, terms=fixed), threads)
    rng = np.random.default_rng(settings.seed)
    k = max(1, int(settings.cv_folds))
    folds = rng.permutation(np.arange(len(frames)) % k)
    fractions = settings.weights
    weights = type_weights(frames, fractions)
    present = (stats.pairs2, stats.triplets) if need_present else None
    x_ranges = None
    scaling_info = None
    embedding = None
    t_scaling = 0.0
    if universal:
        if scaling is None:
            scaling = initial_scaling(stats, elements, settings.scaling)
        pairs = list(combinations_with_replacement(elements, 2))
        # knots in x fixed once, with room below for the scalars to move
        x_ranges = universal_x_ranges(pairs, scaling, lambda a, b: r_min.get((a, b), r_min.get((b, a))), settings,
                                      margin=1.0)
    if settings.embedding != "none":
        embedding = initial_embedding(stats, elements, settings, r_min, frames, threads)
    outer_scaling = scaling if universal and len(elements) > 1 else None
    if settings.scaling_iterations > 0 and (outer_scaling is not None or embedding is not None):
        t_s = time.perf_counter()
        layout0 = Layout(elements, r_min, settings, scaling, x_ranges=x_ranges, present=present, embedding=embedding)
        what = " and ".join(w for w, on in (("the universal scaling", outer_scaling is not None),
                                            ("the embedding's densities and scalars", embedding is not None)) if on)
        log(f"{len(frames)} structures, elements {' '.join(elements)}, {layout0.n_columns} coefficients; "
            f"fitting {what} (variable projection)")
        g0 = accumulate(layout0, frames, folds, weights, threads=threads, progress=progress)
        s0 = solve(g0, layout0, settings, threads)
        vp = optimize_outer(frames, elements, r_min, settings, outer_scaling, embedding, s0.ridge, s0.curvature,
                            x_ranges, weights, max_iter=settings.scaling_iterations, threads=threads, log=log,
                            present=present)
        if outer_scaling is not None:
            scaling = vp.scaling
        if embedding is not None:
            embedding = vp.embedding
        t_scaling = time.perf_counter() - t_s
        scaling_info = {"iterations": vp.iterations, "loss": vp.loss_history, "validation_loss": vp.validation_history,
                        "seconds": t_scaling}
    if universal:
        scaling, inferred = infer_unseen_pairs(scaling, dmin)
        scaling_info = dict(scaling_info or {})
        scaling_info["fitted_pairs"] = [f"{a}-{b}" for (a, b), d in dmin.items() if d is not None]
        scaling_info["inferred_pairs"] = [f"{a}-{b}" for a, b in inferred]
    if embedding is not None:
        embedding = record_ranges(embedding, frames, threads)
    layout = Layout(elements, r_min, settings, scaling, x_ranges=x_ranges, present=present, embedding=embedding)
    log(f"{len(frames)} structures, elements {' '.join(elements)}, {layout.n_columns} coefficients")
    t_layout = time.perf_counter()
    grams = accumulate(layout, frames, folds, weights, threads=threads, progress=progress)
    t_feat = time.perf_counter()
    sol = solve(grams, layout, settings, threads)
    t_solve = time.perf_counter()
    # cross-validation errors at the chosen point: each fold's model on its held-out structures
    # A held-out structure holding a pair's shortest distance in the data is, for
    # its fold's model, an extrapolation (nothing but the penalties sets that
    # model below the fold's own shortest distance): such structures are
    # counted, and the CV errors also given without them.
    cv = None
    if sol.fold_coef:
        held, preds, extrapolated = [], [], []
        used = [f for f in range(grams.n_folds) if grams.n_structures[f] > 0]
        for f, c in zip(used, sol.fold_coef):
            mine = folds == f
            sub = [fr for fr, g in zip(frames, folds) if g == f]
            r = evaluate(layout.model(c), sub, threads=threads, return_predictions=True)
            held.extend(sub)
            preds.extend(r["predictions"])
            fold_min = stats.per_frame[~mine].min(axis=0) if (~mine).any() else np.full(stats.per_frame.shape[1:], np.inf)
            extrapolated.extend(bool(np.any(m < fold_min)) for m in stats.per_frame[mine])
        cv = errors_of(held, preds)
        inside = [(fr, p) for fr, p, x in zip(held, preds, extrapolated) if not x]
        cv["n_extrapolated"] = len(held) - len(inside)
        cv["inside"] = errors_of(*zip(*inside)) if inside and len(inside) < len(held) else None
    t_cv = time.perf_counter()
    meta = {
        "fit": {
            "mode": settings.mode,
            "cutoff2": settings.cutoff2,
            "cutoff3": settings.cutoff3,
            "intervals2": int(settings.intervals2),
            "intervals3": list(settings.intervals3),
            "r_min": {f"{a}-{b}": v for (a, b), v in r_min.items()},
            # the domain of validity: each pair's shortest and longest training distance
            "distance_ranges": {f"{a}-{b}": [v, stats.longest[(a, b)]] for (a, b), v in dmin.items() if v is not None},
            "ridge": sol.ridge,
            "curvature": sol.curvature,
            "weights": fractions,
            "cv_folds": k,
            "n_structures": int(grams.n_structures.sum()),
            "n_atoms": int(grams.n_atoms.sum()),
            "cv_errors": cv,
            "zbl": {"width": settings.zbl_width} if settings.zbl else None,
            "embedding": None if settings.embedding == "none" else {
                "kind": settings.embedding, "channels": int(settings.embedding_channels),
                "scaling": settings.embedding_scaling, "intervals": list(settings.embedding_intervals),
                "cutoff": settings.embedding_cutoff or settings.cutoff2},
        }
    }
    if scaling_info is not None:
        meta["scaling"] = scaling_info
    model = layout.model(sol.coef, metadata=meta)
    if fixed:
        model = Model(elements, terms=model.terms + fixed, scaling=model.scaling, metadata=meta)
    return FitResult(
        model,
        sol,
        layout,
        cv,
        {
            "scaling_s": t_scaling,
            "layout_s": t_layout - t0 - t_scaling,
            "featurise_s": t_feat - t_layout,
            "solve_s": t_solve - t_feat,
            "cv_errors_s": t_cv - t_solve,
            "total_s": t_cv - t0,
        },
        grams.nbytes,
    )


def minus_fixed_terms(frames, fixed, threads):
    """The frames with the energies, forces and stresses of the model ``fixed`` taken off their labels."""
    preds = evaluate(fixed, frames, threads=threads, return_predictions=True)["predictions"]
    out = []
    for fr, p in zip(frames, preds):
        out.append(replace(
            fr,
            energy=None if fr.energy is None else fr.energy - p["energy"],
            forces=None if fr.forces is None else fr.forces - p["forces"],
            stress=None if (fr.stress is None or p["stress"] is None) else fr.stress - p["stress"],
        ))
    return out

