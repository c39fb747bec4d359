"""Numba kernels: the counter-based random stream.

Every random number is a pure function of (path key, slot hash): ``u = U(mix64(key ^ h))``.
The path key is derived from the run's seed and the path index; the slot hash names the
input (group, item, draw number). No generator state is carried, so a path's inputs do not
depend on which thread or block computes it, and a path's draws for one input do not depend
on how many draws other inputs made.
"""

from __future__ import annotations

import numpy as np

from mcsd.kernels.jit import jit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S12 = np.uint64(12)
_TWO_M52 = 1.0 / 4503599627370496.0


@jit
def mix64(z):
    """SplitMix64's finaliser: a bijection on uint64 with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit
def path_key(seed_key, path):
    """Key of path ``path`` (int64) for a run whose seed hashes to ``seed_key`` (uint64)."""
    return mix64(seed_key + np.uint64(path) * _GOLDEN)


@jit
def uniform(key, slot_hash):
    """A uniform in the open interval (0, 1): 52 random bits, (k + 1/2) / 2**52.

    All values are exact doubles; the largest is 1 - 2**-53 < 1 (with 53 bits, (2**53 - 1/2)
    / 2**53 would round up to exactly 1.0).
    """
    x = mix64(key ^ slot_hash)
    return (np.float64(x >> _S12) + 0.5) * _TWO_M52
