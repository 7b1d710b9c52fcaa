"""Where the analysis scripts find the development DFT data: ``--data``,
else the SUS2C_DATA environment variable, else ``../shared/data`` beside the
repository (the same places the tests look)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT = Path(os.environ.get("SUS2C_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def add_data_argument(parser):
    parser.add_argument("--data", default=DEFAULT, help=f"folder with the DFT data (default {DEFAULT})")


def data_file(folder, name) -> Path:
    """The path of data file ``name``; exits with a clear message when it is missing."""
    path = Path(folder) / name
    if not path.exists():
        sys.exit(f"{path} not found: pass --data or set SUS2C_DATA")
    return path
