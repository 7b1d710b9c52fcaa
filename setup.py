"""Build the Cython kernels, with OpenMP when the compiler supports it.

A small C program using OpenMP is compiled and run first; if that works the
kernels are built with the flags that made it work, otherwise they are built
serially (an install never fails for lack of OpenMP).  Set SUS2C_NO_OPENMP=1
to force a serial build, SUS2C_NATIVE=1 to add -march=native.

SIMD: on x86-64 the energy kernel is built twice, for the baseline
instruction set and for AVX2 + FMA (when the compiler accepts those flags);
sus2c/_kernels/__init__.py picks the AVX2 build at import time on CPUs that
have it, so one install runs on any machine of the architecture.
"""
import platform
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PROBE = r"""
#include <omp.h>
#include <stdio.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    printf("%d\n", n);
    return n > 0 ? 0 : 1;
}
"""

CANDIDATE_FLAGS = (
    (["-fopenmp"], ["-fopenmp"]),  # gcc, clang with libomp installed
    (["-Xpreprocessor", "-fopenmp"], ["-lomp"]),  # Apple clang + libomp
    (["/openmp"], []),  # MSVC
)


def _probe_openmp(compiler):
    """Return (compile_args, link_args) that build and run an OpenMP program, or None."""
    if os.environ.get("SUS2C_NO_OPENMP", "").strip() not in ("", "0"):
        print("sus2c: SUS2C_NO_OPENMP set, building serial kernels")
        return None
    tmp = tempfile.mkdtemp(prefix="sus2c-omp-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write(PROBE)
        for cflags, lflags in CANDIDATE_FLAGS:
            try:
                objs = compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                exe = os.path.join(tmp, "probe")
                compiler.link_executable(objs, exe, extra_postargs=lflags)
                out = subprocess.run([exe], capture_output=True, timeout=60)
                if out.returncode == 0:
                    print(f"sus2c: OpenMP works with {cflags} {lflags}")
                    return cflags, lflags
            except Exception:  # noqa: BLE001 - any failure means "try the next flags"
                continue
        print("sus2c: WARNING no working OpenMP found, building serial kernels")
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


AVX2_FLAGS = ["-mavx2", "-mfma"]


def _compiles(compiler, flags):
    tmp = tempfile.mkdtemp(prefix="sus2c-simd-")
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write("typedef double v4 __attribute__((vector_size(32)));\n"
                     "v4 f(v4 a, v4 b, v4 c) { return a * b + c; }\n")
        compiler.compile([src], output_dir=tmp, extra_postargs=flags)
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# The model kernels: the compilers' straight-line (SLP) vectoriser packs a
# bond vector and its neighbours' coordinates into AVX lanes and unpacks them
# again, costing more than it saves (callgrind, 2000-atom bcc Mo: 2-body
# kernel 51.9 -> 44.3 M instructions, 2+3-body 445 -> 432 M).  The hot
# 3-body contraction is vectorised by hand (_simd.h) and is not affected.
NO_SLP_FLAGS = (["-fno-tree-slp-vectorize"], ["-fno-slp-vectorize"])


class BuildExt(build_ext):
    def build_extensions(self):
        omp = _probe_openmp(self.compiler)
        gnu = self.compiler.compiler_type != "msvc"
        no_slp = next((f for f in NO_SLP_FLAGS if gnu and _compiles(self.compiler, f)), [])
        avx2 = gnu and _compiles(self.compiler, AVX2_FLAGS)
        if not avx2:
            print("sus2c: compiler does not take AVX2/FMA flags; building the baseline kernel only")
            self.extensions = [e for e in self.extensions if not e.name.endswith("_avx2")]
        native = os.environ.get("SUS2C_NATIVE", "").strip() not in ("", "0")
        base = ["/O2"] if self.compiler.compiler_type == "msvc" else ["-O3", "-fno-math-errno", "-Wno-psabi"]
        if native and self.compiler.compiler_type != "msvc":
            base.append("-march=native")
        for ext in self.extensions:
            simd = AVX2_FLAGS if ext.name.endswith("_avx2") else []
            engine = no_slp if ext.name.startswith("sus2c._kernels._engine") else []
            ext.extra_compile_args = base + simd + engine + (omp[0] if omp else [])
            ext.extra_link_args = omp[1] if omp else []
            ext.define_macros = list(ext.define_macros or []) + [
                ("SUS2C_OPENMP", "1" if omp else "0"),
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ]
        super().build_extensions()


KERNEL_SOURCES = ["_common.pxd", "_bspline.pxd", "_simd.h", "_omp.h"]
ENGINE_SOURCES = ["_compiled.pxi", "_energy.pxi", "_design.pxi", "_jacobian.pxi"]


def _ext(name):
    deps = KERNEL_SOURCES + (ENGINE_SOURCES if name.startswith("_engine") else [])
    return Extension(
        f"sus2c._kernels.{name}",
        [f"sus2c/_kernels/{name}.pyx"],
        include_dirs=[np.get_include(), "sus2c/_kernels"],
        depends=[f"sus2c/_kernels/{d}" for d in deps],
    )


_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
extensions = [_ext(n) for n in ("_openmp", "_neighbors", "_engine")]
if _X86:
    extensions.append(_ext("_engine_avx2"))

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
