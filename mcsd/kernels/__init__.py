"""numba kernels: plain arrays in, preallocated outputs last; no TOML, scipy.stats or xarray.

``jit`` owns numba (options, CPU features, intrinsics, the scipy.special bindings) and is
imported first, so the CPU-feature setting precedes numba's configuration; ``layout`` holds
the named constants; ``stream``, ``transforms``, ``sampling``, ``stock``, ``fold`` and
``paths`` are the kernels, each importing only numpy, math and its siblings.
"""
