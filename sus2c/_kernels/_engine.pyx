# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
# Energy/force/stress kernel, built for the baseline instruction set.
include "_engine_impl.pxi"
