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
from ..evaluate import errors_of, evaluate
from ..model import Model
from ..terms import ZBLCore
from .layout import Layout, universal_x_ranges
from .rows import accumulate, type_weights
from .settings import FitError, FitSettings
from .solve import Solution, solve
from .auto import select, wants_selection
from .embedding import initial_embedding, record_ranges
from .folds import random_folds
from .start import PEAK_CUTOFF, infer_unseen_pairs, initial_scaling, scan_data
from .varpro import optimize_outer


@dataclass
class FitResult:
    model: Model
    solution: Solution
    layout: Layout
    cv_errors: dict
    timings: dict
    memory_bytes: int


def fit(frames, settings: FitSettings = None, scaling=None, progress=None, log=None, folds=None) -> FitResult:
    """Fit a model to frames (:class:`sus2c.data.Frame`) with the given settings.

    Settings left at None (cutoffs, interval counts, loss weights) are chosen
    from the data by :func:`sus2c.fit.auto.select` in specific mode (unless
    ``settings.auto`` is False; the universal modes take the fixed
    defaults); the selection's record goes into ``model.metadata["auto"]``.
    ``folds``: the CV fold of every frame (default: random, seeded by
    ``settings.seed``; after a selection, the selection's folds).
    """
    settings = settings or FitSettings()
    log = log or (lambda *a, **k: None)
    if not frames:
        raise FitError("no training structures")
    for fr in frames:
        if fr.energy is None:
            raise FitError(f"{fr.source}: missing energy (every training structure needs one)")
    threads = settings.threads or default_threads()
    t0 = time.perf_counter()
    selection = None
    if wants_selection(settings, frames):
        selection = select(frames, settings, threads=threads, log=log, progress=progress)
        settings, folds = selection.settings, selection.folds
    else:
        settings = settings.with_fixed_defaults()
    t_select = time.perf_counter() - t0
    universal = settings.mode != "specific"
    # one scan of the data: shortest distances (first knots), which pairs and
    # triplets occur (specific terms), distance histograms (universal start)
    scan = scan_data(frames, settings, threads,
                     histogram_cutoff=PEAK_CUTOFF if (universal and scaling is None)
                     or settings.embedding == "universal" else 0.0)
    elements, stats, r_min, present = scan.elements, scan.stats, scan.r_min, scan.present
    dmin = stats.shortest
    # fixed terms (no free parameters): the rest of the model is fitted to the data minus them
    # (the ZBL core is switched on below each pair's first knot, i.e. below its shortest distance in the data)
    fixed = [ZBLCore.for_fit(r_min, settings.zbl_width)] if settings.zbl else []
    if fixed:
        frames = minus_fixed_terms(frames, Model(elements, terms=fixed), threads)
    k = max(1, int(settings.cv_folds))
    if folds is None:
        folds = random_folds(len(frames), k, settings.seed)
    folds = np.asarray(folds, dtype=int)
    if folds.shape != (len(frames),):
        raise FitError(f"folds: one fold per frame expected, got {folds.shape} for {len(frames)} frames")
    fractions = settings.weights
    weights = type_weights(frames, fractions)
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
                            present=present, fixed_scaling=scaling if outer_scaling is None else None)
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
    if selection is not None:
        meta["auto"] = selection.record
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
            "layout_s": t_layout - t0 - t_select - t_scaling,
            "featurise_s": t_feat - t_layout,
            "solve_s": t_solve - t_feat,
            "cv_errors_s": t_cv - t_solve,
            "selection_s": t_select,
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

