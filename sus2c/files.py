"""Output files: one way to write them, for every command.

:func:`atomic_write` is used by everything that writes a result (model
files, LAMMPS exports, reports, plots):

- a missing output folder is created (``sus2c fit -o new/model.json`` and
  ``sus2c export lammps model.json new/model.uf3`` behave the same);
- the content goes to a temporary file beside the target, which replaces the
  target only when complete: a failed or interrupted write never leaves half
  a file, and an existing file survives it unchanged;
- the temporary file is removed on every failure path (including Ctrl-C);
- errors name the user's path, never the temporary one
  (:class:`OutputError`, an OSError).

:func:`check_output` makes the same checks up front, for commands that
should fail before a long computation rather than after it.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager


class OutputError(OSError):
    """An output file cannot be written; the message names the path and says why."""


def check_output(path, what="output file") -> str:
    """Refuse an output path that cannot be a file; create its folder.  Returns the path as a str."""
    path = os.fspath(path)
    if not path:
        raise OutputError(f"no file name given for the {what}")
    if path.endswith(os.sep) or os.path.isdir(path):
        raise OutputError(f"cannot write the {what} {path}: it is a folder; give a file name "
                          f"(e.g. {os.path.join(path, 'NAME')})")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write the {what} {path}: a file is in the way of its folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create the folder of the {what} {path}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write the {what} {path}: its folder {folder} is not writable")
    return path


@contextmanager
def atomic_write(path, mode="w", what="output file", **open_kwargs):
    """Context manager yielding a file object whose content becomes ``path`` on success.

    ``mode``: "w" (text) or "wb" (binary).  See the module docstring for
    what happens on failure.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    path = check_output(path, what)
    folder, name = os.path.split(os.path.abspath(path))
    # hidden, unique, and opened exclusively (created with the user's umask, like open(path, "w"))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        fh = open(tmp, mode.replace("w", "x"), **open_kwargs)
    except OSError as exc:
        raise OutputError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
    try:
        with fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
        raise


def write_text(path, text, what="output file"):
    """Write ``text`` to ``path`` through :func:`atomic_write`; returns the path."""
    with atomic_write(path, "w", what=what, encoding="utf-8") as fh:
        fh.write(text)
    return os.fspath(path)


def save_figure(fig, path, what="plot", **savefig_kwargs):
    """``fig.savefig`` through :func:`atomic_write` (format from the file name); returns the path."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1].lstrip(".").lower() or None
    with atomic_write(path, "wb", what=what) as fh:
        fig.savefig(fh, format=fmt, **savefig_kwargs)
    return path
