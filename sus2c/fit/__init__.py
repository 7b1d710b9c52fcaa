"""Fitting a sus2c model by regularised linear least squares, one module per step.

Data flows one way::

    settings.py   FitSettings, FitError: what defines a fit
    start.py      starting points from the data: elements, first knots, universal scalars
    layout.py     the free coefficients: each term's template with column numbers
    rows.py       design rows (compiled kernel) into per-fold normal equations
    solve.py      penalties and the cross-validated regularised solve
    folds.py      which structures each cross-validation fold holds out
    varpro.py     variable projection of the universal scalars (uses the three above)
    auto.py       settings left unset, chosen from the data: cutoffs from its shells, the rest by CV
    driver.py     fit(): all of it, start to end

>>> from sus2c.fit import FitSettings, fit
>>> result = fit(frames, FitSettings(cutoff2=5.5, cutoff3=4.25, intervals2=20, intervals3=(6, 6, 12),
...                                   energy_weight=0.9, force_weight=0.1, stress_weight=0.0))  # doctest: +SKIP
>>> result = fit(frames)          # unset settings chosen from the data    # doctest: +SKIP
>>> result.model.save("model.json")                                # doctest: +SKIP
"""
from .auto import Selection, select
from .driver import FitResult, fit
from .layout import Layout
from .rows import accumulate, design_batches, type_weights
from .settings import FitError, FitSettings
from .solve import Solution, solve
from .start import choose_r_min, infer_elements, initial_scaling

__all__ = ["FitError", "FitResult", "FitSettings", "Layout", "Selection", "Solution", "accumulate", "choose_r_min",
           "design_batches", "fit", "infer_elements", "initial_scaling", "select", "solve", "type_weights"]
