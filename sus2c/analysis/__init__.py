"""Interpreting a sus2c model: plots of its terms and of its errors on data.

>>> import sus2c
>>> from sus2c.analysis import plot_pair, plot_universal, fit_rose
>>> model = sus2c.load("model.json")                    # doctest: +SKIP
>>> plot_pair(model, "Mo", "Mo").savefig("MoMo.png")   # doctest: +SKIP
>>> fit_rose(model)                                     # doctest: +SKIP
{'E0': ..., 'x0': ..., 'scale': ..., ...}

Every plot function returns a :class:`matplotlib.figure.Figure` and takes an
optional ``ax``; figures are built without pyplot (see :mod:`.plots`).
"""
from .plots import (
    QUANTITIES,
    distance_ranges,
    fit_rose,
    parity_data,
    plot_all,
    plot_collapse,
    plot_error_histogram,
    plot_pair,
    plot_pairs,
    plot_parity,
    plot_triplet,
    plot_triplet_slice,
    plot_universal,
    predict,
    rose,
    training_range,
    triplet_slice,
)

__all__ = [
    "QUANTITIES",
    "distance_ranges",
    "fit_rose",
    "parity_data",
    "plot_all",
    "plot_collapse",
    "plot_error_histogram",
    "plot_pair",
    "plot_pairs",
    "plot_parity",
    "plot_triplet",
    "plot_triplet_slice",
    "plot_universal",
    "predict",
    "rose",
    "training_range",
    "triplet_slice",
]
