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
_ndtri_exp = _scipy_special("mcsd_ndtri_exp", "ndtri_exp", 1)

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
# Parameter vector layout: [shape0, shape1, loc, scale, derived0, derived1, derived2, unused].
N_PARAMS = 8

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S12 = np.uint64(12)
_TWO_M52 = 1.0 / 4503599627370496.0

# error_model="numpy": no zero-division checks (every division in the kernels is guarded or
# has a nonzero denominator), which lets LLVM vectorize and keeps branches out of hot loops.
# fastmath stays off: it would reassociate sums and break bit-for-bit reproducibility.
jit = numba.njit(nogil=True, cache=True, fastmath=False, error_model="numpy")


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


# scipy's ndtri (cephes) central rational approximation, |u - 0.5| < 0.5 - exp(-2)
_NDTRI_P0 = (
    -5.99633501014107895267e1,
    9.80010754185999661536e1,
    -5.66762857469070293439e1,
    1.39312609387279679503e1,
    -1.23916583867381258016e0,
)
_NDTRI_Q0 = (
    1.95448858338141759834e0,
    4.67627912898881538453e0,
    8.63602421390890590575e1,
    -2.25462687854119370527e2,
    2.00260212380060660359e2,
    -8.20372256168333339912e1,
    1.59056225126211695515e1,
    -1.18331621121330003142e0,
)
_EXP_M2 = 0.13533528323661269189  # exp(-2), cephes' branch point
_S2PI = 2.50662827463100050242e0


@jit
def _ndtri_centre(u):
    """cephes' central rational function (valid for exp(-2) < u < 1 - exp(-2))."""
    y = u - 0.5
    y2 = y * y
    p = _NDTRI_P0[0]
    p = p * y2 + _NDTRI_P0[1]
    p = p * y2 + _NDTRI_P0[2]
    p = p * y2 + _NDTRI_P0[3]
    p = p * y2 + _NDTRI_P0[4]
    q = y2 + _NDTRI_Q0[0]
    q = q * y2 + _NDTRI_Q0[1]
    q = q * y2 + _NDTRI_Q0[2]
    q = q * y2 + _NDTRI_Q0[3]
    q = q * y2 + _NDTRI_Q0[4]
    q = q * y2 + _NDTRI_Q0[5]
    q = q * y2 + _NDTRI_Q0[6]
    q = q * y2 + _NDTRI_Q0[7]
    x = y + y * (y2 * p / q)
    return x * _S2PI


@jit
def normals(key, hashes, u_buf, out):
    """out[i] = ndtri(uniform(key, hashes[i])) for 1-D arrays, bit for bit ``ndtri``.

    Two passes: the first computes every uniform and the central rational function with no
    branch, so it vectorizes (8 lanes with AVX-512); the second replaces the tail entries
    (27% of them) by scipy's ndtri. Same operations, same order: the same numbers as
    calling ``ndtri`` one value at a time, several times faster.
    """
    for i in range(hashes.shape[0]):
        u = uniform(key, hashes[i])
        u_buf[i] = u
        out[i] = _ndtri_centre(u)
    for i in range(hashes.shape[0]):
        u = u_buf[i]
        if not (_EXP_M2 < u < 1.0 - _EXP_M2):
            out[i] = _ndtri(u)


@jit
def ndtri(u):
    """Standard normal quantile, bit for bit scipy.special.ndtri.

    The central branch (73% of uniforms) is cephes' own rational function, evaluated in
    the same order (Horner, no FMA contraction as numba does not use fastmath), so it
    rounds identically and avoids the call; the tails call scipy's compiled ndtri.
    """
    if _EXP_M2 < u < 1.0 - _EXP_M2:
        return _ndtri_centre(u)
    return _ndtri(u)


@jit
def ndtr(x):
    """Standard normal CDF (scipy.special.ndtr)."""
    return _ndtr(x)


@jit
def _log_sum(x, y):
    """log(exp(x) + exp(y)) as scipy.special.logsumexp computes it for two reals."""
    hi = max(x, y)
    if hi == -np.inf:
        return -np.inf
    if x == y:
        return (0.0 + math.log(2.0)) + hi
    return (math.log1p(math.exp(min(x, y) - hi)) + 0.0) + hi


@jit
def _truncnorm_std(P, i, u):
    """Standard truncnorm(a, b) quantile at u; parameters in row ``i`` of ``P``.

    a < 0 < b: the interval holds the centre, so the direct forms are accurate:
    ``ndtri(Phi(a) + u m)`` for u < 1/2 and ``-ndtri(Phi(-b) + (1 - u) m)`` above
    (1 - u is exact there), m = Phi(b) - Phi(a) precomputed accurately; derived
    P[i, 4:7] = Phi(a), m, Phi(-b).
    One-sided windows (a >= 0 or b <= 0) live in one tail, where a direct form loses
    digits: scipy's own log-space formula, operation for operation; derived
    P[i, 4] = log_ndtr(a) (a < 0) or log_ndtr(-b), P[i, 5] = log(Phi(b) - Phi(a)).
    """
    a = P[i, 0]
    b = P[i, 1]
    if a < 0.0 < b:
        if u < 0.5:
            return ndtri(P[i, 4] + u * P[i, 5])
        return -ndtri(P[i, 6] + (1.0 - u) * P[i, 5])
    if a < 0.0:
        return _ndtri_exp(_log_sum(P[i, 4], math.log(u) + P[i, 5]))
    return -_ndtri_exp(_log_sum(P[i, 4], math.log1p(-u) + P[i, 5]))


@jit
def ppf_row(code, P, i, u):
    """Quantile function of distribution ``code`` with the parameter vector ``P[i]`` at ``u``.

    Equals ``scipy.stats.<name>(**params).ppf(u)`` for u in (0, 1). Kernels pass the 2-D
    parameter table and a row rather than a row view: a view costs two atomic reference
    count updates on the shared table per call, which dominated the cheap transforms and
    made threads contend for one cache line.
    """
    loc = P[i, 2]
    scale = P[i, 3]
    if code == 1:  # lognorm(s): first, the delay factors' and multipliers' marginal
        return loc + scale * math.exp(P[i, 0] * ndtri(u))
    if code == 6:  # truncnorm(a, b): the usual share; see _truncnorm_std
        return loc + scale * _truncnorm_std(P, i, u)
    if code == 0:  # norm
        return loc + scale * ndtri(u)
    if code == 2:  # gamma(a)
        return loc + scale * _gammaincinv(P[i, 0], u)
    if code == 3:  # beta(a, b)
        return loc + scale * _betaincinv(P[i, 0], P[i, 1], u)
    if code == 4:  # uniform
        return loc + scale * u
    if code == 5:  # triang(c)
        c = P[i, 0]
        if u < c:
            return loc + scale * math.sqrt(u * c)
        return loc + scale * (1.0 - math.sqrt((1.0 - u) * (1.0 - c)))
    if code == 7:  # expon
        return loc - scale * math.log1p(-u)
    if code == 8:  # weibull_min(c)
        return loc + scale * (-math.log1p(-u)) ** (1.0 / P[i, 0])
    return math.nan


@jit
def ppf(code, p, u):
    """Quantile function of distribution ``code`` with parameter vector ``p`` (1-D) at ``u``.

    Equals ``scipy.stats.<name>(**params).ppf(u)`` for u in (0, 1).
    """
    return ppf_row(code, p.reshape((1, p.shape[0])), 0, u)


@jit
def quantile_of_normal_row(code, P, i, z):
    """``ppf_row(Phi(z))``: map a standard normal through the copula to the marginal.

    lognorm skips the round trip through Phi (``loc + scale * exp(s z)``, exact).
    """
    if code == 1:
        return P[i, 2] + P[i, 3] * math.exp(P[i, 0] * z)
    if code == 0:
        return P[i, 2] + P[i, 3] * z
    return ppf_row(code, P, i, _ndtr(z))


@jit
def quantile_of_normal(code, p, z):
    """``ppf(Phi(z))`` for a 1-D parameter vector ``p`` (see ``quantile_of_normal_row``)."""
    return quantile_of_normal_row(code, p.reshape((1, p.shape[0])), 0, z)


@jit
def gamma_integer_shape(a, scale, key, H, j):
    """Gamma(a, scale) for a small integer shape ``a``: ``-scale * log(U1 * ... * Ua)``.

    Exact in distribution (a sum of ``a`` exponentials); uses the ``a`` slot hashes
    ``H[j, :a]``.
    """
    prod = 1.0
    for i in range(a):
        prod *= uniform(key, H[j, i])
    return -scale * math.log(prod)
