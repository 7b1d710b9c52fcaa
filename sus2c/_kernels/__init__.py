"""Compiled kernels (Cython + OpenMP).  Private: use the Python API in sus2c.

``engine`` is the kernel module for this CPU (energy/forces/stress, design
rows, Jacobians): the AVX2+FMA build when the CPU has those instructions and
it was built, else the baseline build.  Set SUS2C_SIMD=baseline to force the
baseline build.  :func:`default_threads` is how many threads every kernel
uses unless told otherwise.
"""
import os

# Threads that finish a parallel region spin briefly, then sleep (unless the
# user chose a wait policy).  MD calls a millisecond kernel every step: with
# threads that sleep at once (OMP_WAIT_POLICY=PASSIVE) waking them cost so
# much that 2 threads ran the 2-body kernel of 2000 Mo atoms no faster than
# one (1.25 -> 1.25 ms; 0.75 ms with the brief spin).  Spinning without end
# (ACTIVE, or libgomp's long default) steals the cores BLAS or other
# processes need.  On a machine shared with other busy processes set
# OMP_WAIT_POLICY=PASSIVE.  Must be set before the OpenMP runtime loads with
# the first kernel module.
if not any(k in os.environ for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")):
    os.environ["GOMP_SPINCOUNT"] = "10000"  # GNU libgomp: spin iterations (~0.1 ms)
    os.environ["KMP_BLOCKTIME"] = "1"  # LLVM/Intel libomp: spin milliseconds

try:
    from . import _engine, _neighbors, _openmp  # noqa: E402
except ImportError as exc:
    import importlib.util

    _missing = [m for m in ("_engine", "_neighbors", "_openmp") if importlib.util.find_spec(f"{__name__}.{m}") is None]
    if not _missing:
        raise  # built but not loadable (a missing OpenMP runtime, another numpy): the cause as it is
    # a source tree whose kernels were never compiled
    _here = os.path.dirname(os.path.abspath(__file__))
    raise ImportError(
        f"sus2c's compiled kernels ({', '.join(_missing)}) are not built in {_here}. This happens when Python "
        "imports sus2c from its source tree (for example when run from the repository "
        "root after a non-editable `pip install .`): run from another folder, or install "
        "in editable mode (`pip install -e .`), which compiles the kernels in place."
    ) from exc

#: the neighbour-list kernels and what the build has (OpenMP, threads)
neighbor_kernel = _neighbors
same_data = _neighbors.same_data
openmp_enabled = _openmp.openmp_enabled
max_threads = _openmp.max_threads


def _cpu_has_avx2_fma() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats

        return bool(feats.get("AVX2") and feats.get("FMA3"))
    except Exception:  # noqa: BLE001 - unknown numpy layout: ask the kernel
        try:
            with open("/proc/cpuinfo") as fh:
                flags = next((line for line in fh if line.startswith("flags")), "").split()
            return "avx2" in flags and "fma" in flags
        except OSError:
            return False


def _select():
    if os.environ.get("SUS2C_SIMD", "").strip().lower() in ("baseline", "0", "off", "none"):
        return _engine, "baseline"
    if _cpu_has_avx2_fma():
        try:
            from . import _engine_avx2

            return _engine_avx2, "avx2"
        except ImportError:
            pass
    return _engine, "baseline"


engine, simd = _select()


def default_threads() -> int:
    """Threads to use by default: OMP_NUM_THREADS if set, else the cores available."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
