"""Interpreting a sus2c model: plots of its terms and of its errors on data.

>>> import sus2c
>>> from sus2c.analysis import plot_pair, plot_universal, fit_rose
>>> model = sus2c.load("model.json")                    # doctest: +SKIP
>>> plot_pair(model, "Mo", "Mo").savefig("MoMo.png")   # doctest: +SKIP
>>> fit_rose(model)                                     # doctest: +SKIP
{'E0': ..., 'x0': ..., 'scale': ..., ...}

:mod:`.plots` draws a model's terms and its errors on data; :mod:`.property_plots`
draws materials properties (EOS, phonons, elastic constants).  Every plot
function returns a :class:`matplotlib.figure.Figure` and takes an
optional ``ax``; figures are built without pyplot (see :mod:`.plots`).
"""
from . import embedding_plots, plots, property_plots
from .embedding_plots import *  # noqa: F401,F403 - the embedding (many-body) plots
from .plots import *  # noqa: F401,F403 - the public plotting API, listed in plots.__all__
from .property_plots import *  # noqa: F401,F403 - property plots (sus2c validate)

__all__ = list(plots.__all__) + list(property_plots.__all__) + list(embedding_plots.__all__)
