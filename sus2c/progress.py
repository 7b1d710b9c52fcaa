"""Progress of long work: a one-line bar on stderr, silent when stderr is not a terminal."""
from __future__ import annotations

import sys
import time


class Progress:
    """``update(k)`` after each k items of ``total``; ``close()`` at the end."""

    def __init__(self, total, label, enabled=None):
        self.total = max(1, total)
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()
        self.done = 0

    def update(self, k):
        self.done += k
        if not self.enabled:
            return
        frac = self.done / self.total
        bar = "#" * int(30 * frac)
        el = time.perf_counter() - self.t0
        sys.stderr.write(f"\r{self.label} [{bar:<30s}] {self.done}/{self.total} {el:5.1f} s")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
