"""Numba kernels: the counter-based random stream and distribution transforms.

Every random number is a pure function of (path key, slot hash): ``u = U(mix64(key ^ h))``.
The path key is derived from the run's seed and the path index; the slot hash names the
input (group, item, draw number). No generator state is carried, so a path's inputs do not
depend on which thread or block computes it, and a path's draws for one input do not depend
on how many draws other inputs made.

Transforms are the scipy quantile functions (``ppf``) evaluated on those uniforms: the normal
and the incomplete-gamma/beta inverses are scipy's own compiled functions, so a transform
equals ``scipy.stats.<dist>.ppf`` on the same variate.
"""

from __future__ import annotations

import math

import llvmlite.binding as ll
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address


def _scipy_special(symbol: str, cython_name: str, n_args: int) -> types.ExternalFunction:
    """scipy's compiled special function, callable from (cached) numba code by symbol name."""
    ll.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special", cython_name))
    return types.ExternalFunction(symbol, types.float64(*([types.float64] * n_args)))


_ndtri = _scipy_special("mcsd_ndtri", "ndtri", 1)
_ndtr = _scipy_special("mcsd_ndtr", "__pyx_fuse_1ndtr", 1)
_gammaincinv = _scipy_special("mcsd_gammaincinv", "gammaincinv", 2)
_betaincinv = _scipy_special("mcsd_betaincinv", "__pyx_fuse_0betaincinv", 3)

# Distribution codes used by the kernels; the names are scipy.stats' names.
DIST_CODES: dict[str, int] = {
    "norm": 0,
    "lognorm": 1,
    "gamma": 2,
    "beta": 3,
    "uniform": 4,
    "triang": 5,
    "truncnorm": 6,
    "expon": 7,
    "weibull_min": 8,
}
# Parameter vector layout: [shape0, shape1, loc, scale, derived0, derived1].
N_PARAMS = 6

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0

jit = numba.njit(nogil=True, cache=True, fastmath=False)


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
    """A uniform in the open interval (0, 1) with 53 random bits."""
    x = mix64(key ^ slot_hash)
    return (np.float64(x >> _S11) + 0.5) * _TWO_M53


@jit
def ndtri(u):
    """Standard normal quantile (scipy.special.ndtri)."""
    return _ndtri(u)


@jit
def ndtr(x):
    """Standard normal CDF (scipy.special.ndtr)."""
    return _ndtr(x)


@jit
def ppf(code, p, u):
    """Quantile function of distribution ``code`` with parameter vector ``p`` at ``u``.

    Equals ``scipy.stats.<name>(**params).ppf(u)`` for u in (0, 1).
    """
    loc = p[2]
    scale = p[3]
    if code == 0:  # norm
        return loc + scale * _ndtri(u)
    if code == 1:  # lognorm(s)
        return loc + scale * math.exp(p[0] * _ndtri(u))
    if code == 2:  # gamma(a)
        return loc + scale * _gammaincinv(p[0], u)
    if code == 3:  # beta(a, b)
        return loc + scale * _betaincinv(p[0], p[1], u)
    if code == 4:  # uniform
        return loc + scale * u
    if code == 5:  # triang(c)
        c = p[0]
        if u < c:
            return loc + scale * math.sqrt(u * c)
        return loc + scale * (1.0 - math.sqrt((1.0 - u) * (1.0 - c)))
    if code == 6:  # truncnorm(a, b); derived: Phi(a), Phi(b)
        q = p[4] + u * (p[5] - p[4])
        return loc + scale * _ndtri(q)
    if code == 7:  # expon
        return loc - scale * math.log1p(-u)
    if code == 8:  # weibull_min(c)
        return loc + scale * (-math.log1p(-u)) ** (1.0 / p[0])
    return math.nan


@jit
def quantile_of_normal(code, p, z):
    """``ppf(Phi(z))``: map a standard normal through the copula to the marginal.

    lognorm skips the round trip through Phi (``loc + scale * exp(s z)``, exact).
    """
    if code == 1:
        return p[2] + p[3] * math.exp(p[0] * z)
    if code == 0:
        return p[2] + p[3] * z
    return ppf(code, p, _ndtr(z))


@jit
def gamma_integer_shape(a, scale, key, hashes, first):
    """Gamma(a, scale) for a small integer shape ``a``: ``-scale * log(U1 * ... * Ua)``.

    Exact in distribution (a sum of ``a`` exponentials); uses the ``a`` slot hashes
    ``hashes[first:first + a]``.
    """
    prod = 1.0
    for i in range(a):
        prod *= uniform(key, hashes[first + i])
    return -scale * math.log(prod)
