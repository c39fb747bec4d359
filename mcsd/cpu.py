"""Code generation settings for the kernels, applied before numba is imported.

LLVM's tuning for recent Intel server cores (Ice Lake server and later) prefers 256-bit
vectors even where the core has AVX-512. The kernels are long vectorized loops over a
block of paths, for which the full 512-bit width measured 10-15% faster (study priors,
Sapphire/Emerald Rapids; on AMD Zen 4 it measured the same as numba's default). Vector
width never changes a number: every lane does the same IEEE operations as a scalar path
would (no fastmath), so results are bit-identical at any width; only the numba cache key
(the CPU features) differs.

Set ``NUMBA_CPU_FEATURES`` yourself, or import numba before mcsd, to keep numba's defaults.
"""

from __future__ import annotations

import os
import sys

NO_PREFER_256 = "-prefer-256-bit"


def prefer_full_width_vectors() -> bool:
    """Ask numba for 512-bit vectors on AVX-512 CPUs; True when the setting was made.

    Does nothing when ``NUMBA_CPU_FEATURES`` is set (the user's choice wins), when numba
    has already read its configuration, or when the CPU has no AVX-512.
    """
    if "NUMBA_CPU_FEATURES" in os.environ or "numba" in sys.modules:
        return False
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f", False):
        return False
    os.environ["NUMBA_CPU_FEATURES"] = f"{features.flatten()},{NO_PREFER_256}"
    return True
