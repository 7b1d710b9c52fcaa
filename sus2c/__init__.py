"""sus2c: ultra-fast, interpretable machine-learning interatomic potentials.

Cubic B-spline two- and three-body terms (UF3) with SUS2-MLIP's universal
scaling, evaluated by Cython/OpenMP kernels.

>>> import sus2c
>>> model = sus2c.load("model.json")          # doctest: +SKIP
>>> atoms.calc = sus2c.Calculator(model)      # doctest: +SKIP
"""
from .model import Model, ModelError, Scaling, Spline1D, Spline3D, load

__version__ = "0.1.0"

__all__ = [
    "Calculator",
    "Model",
    "ModelError",
    "Scaling",
    "Spline1D",
    "Spline3D",
    "load",
    "openmp_enabled",
    "build_info",
    "__version__",
]


def openmp_enabled() -> bool:
    """True when the compiled kernels were built with OpenMP (else they run serially)."""
    from ._kernels import openmp_enabled as enabled

    return enabled()


def build_info() -> dict:
    """How the kernels were built and how many threads the calculator uses by default."""
    from ._kernels import default_threads, max_threads, openmp_enabled as enabled, simd

    return {
        "version": __version__,
        "simd": simd,
        "openmp": enabled(),
        "openmp_max_threads": max_threads(),
        "default_threads": default_threads(),
    }


def __getattr__(name):
    # the calculator imports ASE's calculator machinery: load it on first use
    if name == "Calculator":
        from .calculator import Calculator

        return Calculator
    raise AttributeError(f"module 'sus2c' has no attribute {name!r}")
