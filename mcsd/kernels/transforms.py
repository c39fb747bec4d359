"""Numba kernels: distribution transforms (quantile functions on the stream's uniforms).

Transforms are the scipy quantile functions (``ppf``) evaluated on uniforms. The normal
quantile is Wichura's AS241 and exp/log are branch-free polynomial versions (all within about
1e-16 relative of scipy/numpy, and vectorizable); the incomplete-gamma/beta inverses are
scipy's own compiled functions (bound in ``mcsd.kernels.jit``). A transform equals
``scipy.stats.<dist>.ppf`` on the same variate to ~1e-15 relative, not bit for bit.
Distribution codes and the parameter-vector layout are in ``mcsd.kernels.layout``.
"""

from __future__ import annotations

import math

import numpy as np

from mcsd.kernels.jit import (
    bits_float,
    float_bits,
    jit,
    jit_inline,
    scipy_betaincinv,
    scipy_gammaincinv,
    scipy_ndtr,
    scipy_ndtri_exp,
)
from mcsd.kernels.layout import (
    DIST_BETA,
    DIST_EXPON,
    DIST_GAMMA,
    DIST_LOGNORM,
    DIST_NORM,
    DIST_TRIANG,
    DIST_TRUNCNORM,
    DIST_UNIFORM,
    DIST_WEIBULL_MIN,
)

# ---------------------------------------------------------------- exp and log
# math.exp and math.log are calls into libm, which stop LLVM from vectorizing a loop. These
# are branch-free (selects only) fdlibm-style versions: Cody-Waite range reduction, a
# polynomial, exponent arithmetic on the bits. Error < 1 ulp; see tests/test_fast_transforms.
_LN2_HI = 6.93147180369123816490e-01  # 32 trailing zero bits: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_ROUND_MAGIC = 6755399441055744.0  # 1.5 * 2**52: x + it rounds x to an integer, in the bits
_EXP_P = (
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
)
_LOG_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
_TWO_54 = 18014398509481984.0
_MIN_NORMAL = 2.2250738585072014e-308
_SQRT_HALF_HI = 0x3FE6A09E  # high word of sqrt(2)/2: the mantissa is folded into [0.707, 1.414)


@jit_inline
def fast_exp(x):
    """exp(x) for float64 x, branch-free (vectorizes); < 1 ulp, inf/0/nan as numpy.exp."""
    # clamp so that k stays small and finite (nan lands on -746, then is restored below)
    xc = x if x > -746.0 else -746.0
    xc = xc if xc < 710.0 else 710.0
    t = xc * _INV_LN2 + _ROUND_MAGIC
    kf = t - _ROUND_MAGIC  # nearest integer to x / ln 2
    k = float_bits(t) - float_bits(_ROUND_MAGIC)
    hi = xc - kf * _LN2_HI
    lo = kf * _LN2_LO
    r = hi - lo  # |r| <= ln(2) / 2
    r2 = r * r
    c = r - r2 * (
        _EXP_P[0] + r2 * (_EXP_P[1] + r2 * (_EXP_P[2] + r2 * (_EXP_P[3] + r2 * _EXP_P[4])))
    )
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    # 2**k in two exact factors, each a normal number: one rounding even for subnormal results
    k1 = k >> 1
    y = y * bits_float((k1 + 1023) << 52)
    y = y * bits_float((k - k1 + 1023) << 52)
    return y if x == x else x


@jit_inline
def _log_scaled(x, k0):
    """log(x) + k0 log(2) for positive, finite, normal x (no edge cases)."""
    ix = float_bits(x)
    hx = (ix >> 32) + (0x3FF00000 - _SQRT_HALF_HI)
    k = (hx >> 20) - 1023 + k0
    hx = (hx & 0x000FFFFF) + _SQRT_HALF_HI
    f = bits_float((hx << 32) | (ix & 0xFFFFFFFF)) - 1.0  # x = 2**k (1 + f), sqrt(1/2) <= 1+f
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LOG_LG[1] + w * (_LOG_LG[3] + w * _LOG_LG[5]))
    t2 = z * (_LOG_LG[0] + w * (_LOG_LG[2] + w * (_LOG_LG[4] + w * _LOG_LG[6])))
    dk = np.float64(k)
    return (((s * (hfsq + (t2 + t1)) + dk * _LN2_LO) - hfsq) + f) + dk * _LN2_HI


@jit_inline
def fast_log(x):
    """log(x) for float64 x, branch-free (vectorizes); < 1 ulp, -inf/nan/inf as numpy.log."""
    sub = x < _MIN_NORMAL  # subnormals (and 0, negatives: fixed up below) are scaled by 2**54
    y = _log_scaled(x * _TWO_54 if sub else x, -54 if sub else 0)
    y = y if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return y if x < np.inf else x  # +inf and nan are their own log


@jit_inline
def fast_log_pos(x):
    """fast_log(x), the same bits, for positive, finite, normal x (>= 2**-1022) only.

    No edge cases to select: the sampler's log(U1 U2) of the delays runs ~3% faster.
    """
    return _log_scaled(x, 0)


# ---------------------------------------------------------------- normal quantile
# Wichura's AS241 (PPND16), relative accuracy about 1e-16. The central rational function
# (|u - 1/2| <= 0.425, 85% of uniforms) has no branch, so a loop over paths vectorizes; the
# tails (log, sqrt, two rational functions) run only where needed. ndtri and ndtri_row
# evaluate the same expressions in the same order: a number does not depend on which is used.
_AS241_SPLIT = 0.425
_AS241_A = (
    3.3871328727963666080e0,
    1.3314166789178437745e2,
    1.9715909503065514427e3,
    1.3731693765509461125e4,
    4.5921953931549871457e4,
    6.7265770927008700853e4,
    3.3430575583588128105e4,
    2.5090809287301226727e3,
)
_AS241_B = (
    4.2313330701600911252e1,
    6.8718700749205790830e2,
    5.3941960214247511077e3,
    2.1213794301586595867e4,
    3.9307895800092710610e4,
    2.8729085735721942674e4,
    5.2264952788528545610e3,
)
_AS241_C = (
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
)
_AS241_D = (
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
)
_AS241_E = (
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
)
_AS241_F = (
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
)


@jit_inline
def _rational(c, d, r):
    """(c[0] + ... + c[7] r**7) / (1 + d[0] r + ... + d[6] r**7), Horner from the top."""
    num = ((((((c[7] * r + c[6]) * r + c[5]) * r + c[4]) * r + c[3]) * r + c[2]) * r + c[1]) * r
    den = ((((((d[6] * r + d[5]) * r + d[4]) * r + d[3]) * r + d[2]) * r + d[1]) * r + d[0]) * r
    return (num + c[0]) / (den + 1.0)


@jit_inline
def _rational_tail(far, r):
    """AS241's second (``far`` False) or third (``far`` True) rational function at r.

    The coefficients are selected, not the code path, so a vector of lanes can mix both.
    """
    # the same operations, in the same order, as the unselected formula (``_rational``)
    return _rational(_AS241_E if far else _AS241_C, _AS241_F if far else _AS241_D, r)


@jit_inline
def ndtri_is_tail(u):
    """True where ``ndtri_central`` does not apply (|u - 1/2| > 0.425, or u is nan)."""
    return not (abs(u - 0.5) <= _AS241_SPLIT)


@jit_inline
def ndtri_central(u):
    """Standard normal quantile for |u - 1/2| <= 0.425 (AS241's first region); no branch."""
    q = u - 0.5
    return q * _rational(_AS241_A, _AS241_B, 0.180625 - q * q)


@jit_inline
def ndtri_tail(u):
    """Standard normal quantile for |u - 1/2| > 0.425; -inf at 0, inf at 1, nan outside.

    Branch-free (selects only), so a loop over tail values vectorizes.
    """
    q = u - 0.5
    r = math.sqrt(-fast_log(u if q < 0.0 else 1.0 - u))  # 1 - u is exact for u >= 1/2
    far = r > 5.0  # u or 1 - u below exp(-25)
    x = _rational_tail(far, r - (5.0 if far else 1.6))
    x = -x if q < 0.0 else x
    x = x if u > 0.0 else (-np.inf if u == 0.0 else np.nan)
    x = x if u < 1.0 else (np.inf if u == 1.0 else np.nan)
    return x if u == u else u


@jit_inline
def ndtri(u):
    """Standard normal quantile (scipy.special.ndtri to ~1e-16 relative; AS241)."""
    if ndtri_is_tail(u):
        return ndtri_tail(u)
    return ndtri_central(u)


@jit_inline
def ndtri_tails(z, n, u, idx, t):
    """Fix up z[i] = ndtri(u[i]) (i < n) where u[i] is in a tail: z holds ndtri_central(u).

    The ~15% tail lanes are packed into t (idx holds their positions), evaluated in one
    vectorized pass and scattered back; idx (>= n,) int64 and t (>= n,) are scratch.
    """
    cnt = 0
    for i in range(n):  # branch-free packing: always write, advance on tail lanes
        idx[cnt] = i
        t[cnt] = u[i]
        cnt += 1 if ndtri_is_tail(u[i]) else 0
    for c in range(cnt):
        t[c] = ndtri_tail(t[c])
    for c in range(cnt):
        z[idx[c]] = t[c]


@jit
def ndtri_row(p, z, n, idx, t):
    """z[i] = ndtri(p[i]) for i < n, 1-D arrays; the same numbers as ``ndtri``, vectorized.

    The central formula on every lane with no branch (8 lanes with AVX-512), then the tail
    formula on the lanes that need it (``ndtri_tails``); idx (int64) and t are scratch.
    """
    for i in range(n):
        z[i] = ndtri_central(p[i])
    ndtri_tails(z, n, p, idx, t)


# Abramowitz & Stegun 26.2.17: the normal CDF to an absolute error below 7.5e-8, with
# fast_exp and no branch (a loop over paths vectorizes). Only for decisions that keep a
# margin well above that error and redo the exact rule inside it (``NDTR_APPROX_ERROR``).
_AS_P = 0.2316419
_AS_B = (0.319381530, -0.356563782, 1.781477937, -1.821255978, 1.330274429)
_INV_SQRT_2PI = 0.3989422804014327
NDTR_APPROX_ERROR = 7.5e-8  # the formula's bound; float64 rounding adds < 1e-15


@jit_inline
def ndtr_approx(x):
    """Standard normal CDF within ``NDTR_APPROX_ERROR`` (absolute); 0 at -inf, 1 at inf,
    nan at nan. Branch-free."""
    a = abs(x)
    t = 1.0 / (1.0 + _AS_P * a)
    poly = t * (_AS_B[0] + t * (_AS_B[1] + t * (_AS_B[2] + t * (_AS_B[3] + t * _AS_B[4]))))
    q = _INV_SQRT_2PI * fast_exp(-0.5 * a * a) * poly  # upper tail Q(|x|)
    return q if x < 0.0 else (1.0 - q if x >= 0.0 else x)


@jit
def ndtr(x):
    """Standard normal CDF (scipy.special.ndtr)."""
    return scipy_ndtr(x)


@jit
def _log_sum(x, y):
    """log(exp(x) + exp(y)) as scipy.special.logsumexp computes it for two reals."""
    hi = max(x, y)
    if hi == -np.inf:
        return -np.inf
    if x == y:
        return (0.0 + math.log(2.0)) + hi
    return (math.log1p(math.exp(min(x, y) - hi)) + 0.0) + hi


@jit_inline
def truncnorm_centre_arg(P, i, u):
    """For truncnorm(a < 0 < b) in row ``i`` of ``P``: the standard quantile at ``u`` is
    ``ndtri`` of this, negated when u >= 1/2 (see ``_truncnorm_std``). Branch-free."""
    return P[i, 4] + u * P[i, 5] if u < 0.5 else P[i, 6] + (1.0 - u) * P[i, 5]


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
        z = ndtri(truncnorm_centre_arg(P, i, u))
        return z if u < 0.5 else -z
    if a < 0.0:
        return scipy_ndtri_exp(_log_sum(P[i, 4], math.log(u) + P[i, 5]))
    return -scipy_ndtri_exp(_log_sum(P[i, 4], math.log1p(-u) + P[i, 5]))


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
    if code == DIST_LOGNORM:  # lognorm(s): first, the delay factors' and multipliers' marginal
        return loc + scale * fast_exp(P[i, 0] * ndtri(u))
    if code == DIST_TRUNCNORM:  # truncnorm(a, b): the usual share; see _truncnorm_std
        return loc + scale * _truncnorm_std(P, i, u)
    if code == DIST_NORM:  # norm
        return loc + scale * ndtri(u)
    if code == DIST_GAMMA:  # gamma(a)
        return loc + scale * scipy_gammaincinv(P[i, 0], u)
    if code == DIST_BETA:  # beta(a, b)
        return loc + scale * scipy_betaincinv(P[i, 0], P[i, 1], u)
    if code == DIST_UNIFORM:  # uniform
        return loc + scale * u
    if code == DIST_TRIANG:  # triang(c)
        c = P[i, 0]
        if u < c:
            return loc + scale * math.sqrt(u * c)
        return loc + scale * (1.0 - math.sqrt((1.0 - u) * (1.0 - c)))
    if code == DIST_EXPON:  # expon
        return loc - scale * math.log1p(-u)
    if code == DIST_WEIBULL_MIN:  # weibull_min(c)
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
    if code == DIST_LOGNORM:
        return P[i, 2] + P[i, 3] * fast_exp(P[i, 0] * z)
    if code == DIST_NORM:
        return P[i, 2] + P[i, 3] * z
    return ppf_row(code, P, i, scipy_ndtr(z))


@jit
def quantile_of_normal(code, p, z):
    """``ppf(Phi(z))`` for a 1-D parameter vector ``p`` (see ``quantile_of_normal_row``)."""
    return quantile_of_normal_row(code, p.reshape((1, p.shape[0])), 0, z)
