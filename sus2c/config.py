"""The ``sus2c fit`` configuration file (TOML).

Only ``[data] train`` is required.  Cutoffs, interval counts and loss
weights that the file does not give are chosen from the training data in
specific mode (cutoffs in gaps between its coordination shells, the rest by
cross-validation within ``auto_budget`` seconds; :mod:`sus2c.fit.auto`); the
values below are the fixed defaults used instead with ``auto = false`` and
in the universal modes.  Whatever the file gives is used as given::

    [data]
    train = "train.xyz"            # path, glob, or list of them
    test = "test.xyz"              # optional: reported after the fit
    validation_fraction = 0.0      # optional: hold out part of train
    type_map = {0 = "Mo"}          # MLIP .cfg files: type -> element

    [model]
    elements = ["Mo"]              # default: the elements in the data
    cutoff2 = 5.5                  # 2-body cutoff (Å)
    cutoff3 = 4.25                 # 3-body cutoff (Å); 0 = two-body only
    intervals2 = 20
    intervals3 = [6, 6, 12]        # legs ij, ik, jk
    r_min = 1.5                    # default: per pair, just below the data
    mode = "specific"              # "specific" | "universal" | "hybrid"
    scaling = "pair"               # universal scaling: "pair" | "element"
    zbl = false                    # ZBL core below the data (high pressure, hot MD, cascades)
    embedding = "none"             # many-body: "none" | "universal" | "specific" (Finnis-Sinclair)
    embedding_channels = 2         # universal: channels
    embedding_scaling = "element"  # universal: channel maps per "element" or per "pair"
    embedding_intervals = [10, 8]  # densities f, embedding functions F
    embedding_cutoff = 5.5         # Å (default: cutoff2)
    zbl_width = 0.5                # Å: ZBL switched off between r_min - zbl_width and r_min

    [fit]
    energy_weight = 0.9            # fractions of the loss, each normalised
    force_weight = 0.1             # by row count and data spread
    stress_weight = 0.0
    ridge = "cv"                   # a number, or "cv" (cross-validation)
    curvature = "cv"
    cv_folds = 5
    threads = 2                    # default: OMP_NUM_THREADS or all cores
    seed = 0
    scaling_iterations = 20        # steps of the outer fit (universal scalars, embedding)
    outer_validation = 0.1         # held out to stop the outer fit
    auto = true                    # choose unset settings from the data (default: in specific mode)
    auto_budget = 60               # seconds the automatic selection plans for

    [output]
    model = "model.json"

Relative paths are relative to the configuration file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .fit.settings import FitError, FitSettings

SCHEMA = {
    "data": {"train", "test", "validation_fraction", "type_map"},
    "model": {"elements", "cutoff2", "cutoff3", "intervals2", "intervals3", "r_min", "mode", "scaling", "zbl",
              "zbl_width", "embedding", "embedding_channels", "embedding_scaling", "embedding_intervals",
              "embedding_cutoff"},
    "fit": {"energy_weight", "force_weight", "stress_weight", "ridge", "curvature", "cv_folds", "threads", "seed",
            "scaling_iterations", "outer_validation", "auto", "auto_budget"},
    "output": {"model"},
}


class ConfigError(ValueError):
    """A configuration file that cannot be used, with the reason."""


@dataclass
class Config:
    train: list
    test: list = field(default_factory=list)
    validation_fraction: float = 0.0
    type_map: object = None
    settings: FitSettings = field(default_factory=FitSettings)
    output: str = "model.json"
    path: str = ""
    given: set = field(default_factory=set)  # "table.key" of every key the file gives explicitly


def _paths(value, base, key):
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"[data] {key} must be a path or a list of paths")
    return [v if os.path.isabs(v) else os.path.join(base, v) for v in items]


def _number(v, where, integer=False):
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok:
        raise ConfigError(f"{where} must be {'an integer' if integer else 'a number'}, got {v!r}")
    return v


def load_config(path) -> Config:
    """Read and check a configuration file; unknown tables or keys are errors."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"configuration file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    base = os.path.dirname(os.path.abspath(path))
    unknown_tables = sorted(set(raw) - set(SCHEMA))
    if unknown_tables:
        raise ConfigError(f"{path}: unknown table(s) {unknown_tables}; known: {sorted(SCHEMA)}")
    for table, keys in SCHEMA.items():
        section = raw.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{table}] must be a table")
        unknown = sorted(set(section) - keys)
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) in [{table}]: {unknown}; known: {sorted(keys)}")
    data = raw.get("data", {})
    if "train" not in data:
        raise ConfigError(f"{path}: [data] train is required (path or list of paths to training data)")
    model = raw.get("model", {})
    fitt = raw.get("fit", {})
    kw = {}
    if "zbl" in model:
        if not isinstance(model["zbl"], bool):
            raise ConfigError(f"[model] zbl must be true or false, got {model['zbl']!r}")
        kw["zbl"] = model["zbl"]
    for key in ("cutoff2", "cutoff3", "r_min", "zbl_width"):
        if key in model:
            kw[key] = float(_number(model[key], f"[model] {key}"))
    if "intervals2" in model:
        kw["intervals2"] = _number(model["intervals2"], "[model] intervals2", integer=True)
    if "intervals3" in model:
        v = model["intervals3"]
        if isinstance(v, int) and not isinstance(v, bool):
            v = [v, v, 2 * v]
        if not (isinstance(v, list) and len(v) == 3):
            raise ConfigError("[model] intervals3 must be a list of 3 integers [ij, ik, jk]")
        kw["intervals3"] = tuple(_number(x, "[model] intervals3", integer=True) for x in v)
    if "embedding_intervals" in model:
        v = model["embedding_intervals"]
        if not (isinstance(v, list) and len(v) == 2):
            raise ConfigError("[model] embedding_intervals must be a list of 2 integers [density f, embedding F]")
        kw["embedding_intervals"] = tuple(_number(x, "[model] embedding_intervals", integer=True) for x in v)
    if "embedding_channels" in model:
        kw["embedding_channels"] = _number(model["embedding_channels"], "[model] embedding_channels", integer=True)
    if "embedding_cutoff" in model:
        kw["embedding_cutoff"] = float(_number(model["embedding_cutoff"], "[model] embedding_cutoff"))
    if "outer_validation" in fitt:
        kw["outer_validation"] = float(_number(fitt["outer_validation"], "[fit] outer_validation"))
    for key in ("mode", "scaling", "embedding", "embedding_scaling"):
        if key in model:
            if not isinstance(model[key], str):
                raise ConfigError(f"[model] {key} must be a string")
            kw[key] = model[key]
    if "elements" in model:
        els = model["elements"]
        if not (isinstance(els, list) and all(isinstance(e, str) for e in els) and els):
            raise ConfigError("[model] elements must be a list of chemical symbols")
        kw["elements"] = els
    for key in ("energy_weight", "force_weight", "stress_weight"):
        if key in fitt:
            kw[key] = float(_number(fitt[key], f"[fit] {key}"))
    for key in ("ridge", "curvature"):
        if key in fitt:
            v = fitt[key]
            if isinstance(v, str):
                if v.strip().lower() != "cv":
                    raise ConfigError(f'{path}: [fit] {key} must be a number >= 0 or "cv" (cross-validation), got {v!r}')
                v = "cv"
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f'{path}: [fit] {key} must be a number >= 0 or "cv" (cross-validation), got {v!r}')
            else:
                v = float(v)
            kw[key] = v
    for key in ("cv_folds", "threads", "seed", "scaling_iterations"):
        if key in fitt:
            kw[key] = _number(fitt[key], f"[fit] {key}", integer=True)
    if "auto" in fitt:
        if not isinstance(fitt["auto"], bool):
            raise ConfigError(f"[fit] auto must be true or false, got {fitt['auto']!r}")
        kw["auto"] = fitt["auto"]
    if "auto_budget" in fitt:
        kw["auto_budget"] = float(_number(fitt["auto_budget"], "[fit] auto_budget"))
    try:
        settings = FitSettings(**kw)
    except FitError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    vf = float(_number(data.get("validation_fraction", 0.0), "[data] validation_fraction"))
    if not 0.0 <= vf < 1.0:
        raise ConfigError(f"[data] validation_fraction must be in [0, 1), got {vf}")
    out = raw.get("output", {}).get("model", "model.json")
    if not isinstance(out, str):
        raise ConfigError("[output] model must be a path")
    return Config(
        train=_paths(data["train"], base, "train"),
        test=_paths(data["test"], base, "test") if "test" in data else [],
        validation_fraction=vf,
        type_map=data.get("type_map"),
        settings=settings,
        output=out if os.path.isabs(out) else os.path.join(base, out),
        path=path,
        given={f"{table}.{key}" for table in SCHEMA for key in raw.get(table, {})},
    )
