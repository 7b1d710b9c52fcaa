"""Checks for the fields of JSON documents (model files): each names the field and the problem."""
from __future__ import annotations

import math

import numpy as np


class ModelError(ValueError):
    """A model (or model file) that is not valid, with the reason in the message."""


def require(d, keys, where):
    for k in keys:
        if k not in d:
            raise ModelError(f"{where}: missing field {k!r}")


def as_dict(v, where):
    if not isinstance(v, dict):
        raise ModelError(f"{where}: expected an object, got {type(v).__name__}")
    return v


def number(v, where):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ModelError(f"{where}: expected a number, got {type(v).__name__}")
    if not math.isfinite(v):
        raise ModelError(f"{where}: not finite ({v})")
    return float(v)


def integer(v, where):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelError(f"{where}: expected an integer, got {v!r}")
    return v


def array(v, where, ndim):
    try:
        a = np.array(v, dtype=float)
    except (TypeError, ValueError):
        raise ModelError(f"{where}: expected a {ndim}-D array of numbers") from None
    if a.ndim != ndim:
        raise ModelError(f"{where}: expected a {ndim}-D array of numbers, got {a.ndim}-D")
    return a


def element_table(v, elements, where):
    """{element: number} naming only known elements."""
    v = as_dict(v, where)
    out = {}
    for e, val in v.items():
        if e not in elements:
            raise ModelError(f"{where} names element {e!r}, not in elements {list(elements)}")
        out[e] = number(val, f"{where}.{e}")
    return out


class KeyParser:
    """Reads 'A-B' and 'A-B-C' term keys, refusing unknown elements and the same term named twice."""

    def __init__(self, elements):
        self.elements = list(elements)
        self._seen = {}

    def __call__(self, key, n, where):
        parts = key.split("-")
        if len(parts) != n:
            raise ModelError(f"{where}: key {key!r} should name {n} elements joined by '-'")
        for e in parts:
            if e not in self.elements:
                raise ModelError(f"{where}: key {key!r} names element {e!r}, not in elements {self.elements}")
        canon = tuple(sorted(parts)) if n == 2 else (parts[0],) + tuple(sorted(parts[1:]))
        other = self._seen.setdefault((where, canon), key)
        if other != key:
            raise ModelError(f"{where}: {other!r} and {key!r} name the same term twice")
        return tuple(parts)
