# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# The same kernels as _engine, compiled with AVX2 + FMA; chosen at import time
# on CPUs that have them (see sus2c/_kernels/__init__.py).
include "_compiled.pxi"
include "_energy.pxi"
include "_design.pxi"
include "_jacobian.pxi"
