# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# The model kernels, built for the baseline instruction set: the compiled
# model (its tables as a C struct), then one pass per job, all walking the
# neighbour list by the rules in _common.pxd.
include "_compiled.pxi"
include "_energy.pxi"
include "_design.pxi"
include "_jacobian.pxi"
