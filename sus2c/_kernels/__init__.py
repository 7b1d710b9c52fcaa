"""Compiled kernels (Cython + OpenMP).  Private: use the Python API in sus2c."""
