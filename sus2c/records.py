"""Results as dataclasses that turn into plain JSON (reports of properties and MD)."""
from __future__ import annotations

import math
from dataclasses import fields

import numpy as np


def plain(value):
    """Numbers, arrays and dataclasses as JSON-ready Python objects (NaN and inf as None)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class Record:
    """Base of result dataclasses: ``to_dict()`` gives every field as plain JSON."""

    def to_dict(self) -> dict:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}
