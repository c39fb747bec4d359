"""Quantiles, medians and supports of the distributions mcsd supports, without scipy.stats.

A :class:`~mcsd.priors_model.Distribution` names a scipy.stats distribution and holds its
keyword arguments. Loading priors and compiling them for the kernels only needs three
things from it: the support, the median and a few quantiles. Importing ``scipy.stats`` for
those costs about 0.6 s of start-up, so this module computes them with numpy and
``scipy.special`` (which the kernels import anyway), following scipy.stats' own formulas
and order of operations so the results agree with ``dist.frozen()`` to a few ulp (bit for
bit on every case tested: tests/test_distributions.py).

As in scipy, a quantile is ``standard_ppf(u, shapes) * scale + loc``; ``u = 0`` and
``u = 1`` give the ends of the support; invalid parameters (e.g. ``scale <= 0``, a shape
outside its domain) give NaN rather than an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import overload

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from mcsd.priors_model import Distribution

__all__ = ["SHAPES", "log_gauss_mass", "median", "parameters", "ppf", "support"]

#: Shape-parameter names of each supported distribution, in scipy's order (``rv.shapes``).
SHAPES: Mapping[str, tuple[str, ...]] = {
    "norm": (),
    "lognorm": ("s",),
    "gamma": ("a",),
    "beta": ("a", "b"),
    "uniform": (),
    "triang": ("c",),
    "truncnorm": ("a", "b"),
    "expon": (),
    "weibull_min": ("c",),
}

_INF = math.inf


def parameters(name: str) -> tuple[str, ...]:
    """All keyword arguments of distribution ``name``: its shapes, then loc and scale."""
    return (*SHAPES[name], "loc", "scale")


# ---------------------------------------------------------------- standard distributions
# Each entry works on the standard (loc 0, scale 1) distribution with scalar shapes.


def _positive(*shapes: float) -> bool:
    # scipy's default argument check: every shape strictly positive (NaN fails)
    return all(s > 0 for s in shapes)


def _valid(name: str, shapes: tuple[float, ...]) -> bool:
    """scipy's ``_argcheck``: are the shape parameters in the distribution's domain?"""
    if name == "triang":
        return 0 <= shapes[0] <= 1
    if name == "truncnorm":
        return shapes[0] < shapes[1]
    return _positive(*shapes)


def _standard_support(name: str, shapes: tuple[float, ...]) -> tuple[float, float]:
    """Support of the standard distribution (scipy's ``_get_support``)."""
    if name == "norm":
        return -_INF, _INF
    if name == "truncnorm":
        return shapes[0], shapes[1]
    if name in ("beta", "uniform", "triang"):
        return 0.0, 1.0
    return 0.0, _INF  # lognorm, gamma, expon, weibull_min


def _log_diff(log_p: float, log_q: float) -> float:
    """log(p - q) from log p >= log q, without forming p - q.

    Evaluated as scipy.stats does, as the complex log-sum-exp log(p + q e^(i pi)) with
    numpy's complex exp and log1p (sin(pi) is not 0 in floating point, and the complex exp
    rounds differently from the real one). A real log1p(-q/p) would be as accurate, but it
    differs by 1 to ~20 ulp on narrow windows; this way the kernels' one-sided truncnorm
    constants (``model_arrays``) stay exactly what scipy's helper gave them.
    """
    with np.errstate(all="ignore"):
        ratio = np.exp(complex(log_q - log_p, math.pi))  # -q/p, plus a ~1e-16 imaginary part
        return float(log_p + np.log1p(ratio).real)


def log_gauss_mass(a: float, b: float) -> float:
    """log(Phi(b) - Phi(a)): log of the standard normal probability of [a, b], a < b.

    As scipy.stats.truncnorm does: a window in the right tail is mirrored into the left
    one, where log Phi is accurate; a window around 0 takes log1p of the two tail masses
    (no cancellation as the mass nears 1).
    """
    if b <= 0.0:
        return _log_diff(float(special.log_ndtr(b)), float(special.log_ndtr(a)))
    if a > 0.0:
        return _log_diff(float(special.log_ndtr(-a)), float(special.log_ndtr(-b)))
    return float(special.log1p(-special.ndtr(a) - special.ndtr(-b)))


def _log_add(log_p: ArrayLike, log_q: ArrayLike) -> np.ndarray:
    """log(p + q) elementwise, as ``scipy.special.logsumexp`` forms it: max + log1p(exp(-gap)).

    (``np.logaddexp`` rounds differently in ~2% of cases, which matters for the
    ill-conditioned quantiles near 1.)
    """
    hi = np.maximum(log_p, log_q)
    return np.log1p(np.exp(np.minimum(log_p, log_q) - hi)) + hi


def _truncnorm_ppf(q: np.ndarray, a: float, b: float) -> np.ndarray:
    """Standard truncnorm(a, b) quantiles of q in (0, 1), in log space like scipy.

    Phi(x) = Phi(a) + q (Phi(b) - Phi(a)) is formed as a log-sum and inverted with
    ``ndtri_exp``; for a >= 0 the mirrored window [-b, -a] with 1 - q is used instead, so
    the tail the window sits in is never computed as 1 - (something near 1).
    """
    log_mass = log_gauss_mass(a, b)
    if a < 0.0:
        log_phi = _log_add(special.log_ndtr(a), np.log(q) + log_mass)
        return special.ndtri_exp(log_phi)
    log_phi = _log_add(special.log_ndtr(-b), np.log1p(-q) + log_mass)
    return -special.ndtri_exp(log_phi)


def _triang_ppf(q: np.ndarray, c: float) -> np.ndarray:
    # rising edge below the mode's probability c, falling edge above it
    return np.where(q < c, np.sqrt(c * q), 1 - np.sqrt((1 - c) * (1 - q)))


# Standard quantile functions for q strictly inside (0, 1); the scipy.special function
# each one uses is the one scipy.stats uses, so the results agree bit for bit.
_STANDARD_PPF: dict[str, Callable[..., np.ndarray]] = {
    "norm": lambda q: special.ndtri(q),
    "lognorm": lambda q, s: np.exp(s * special.ndtri(q)),
    "gamma": lambda q, a: special.gammaincinv(a, q),
    "beta": lambda q, a, b: special.betaincinv(a, b, q),
    "uniform": lambda q: q.copy(),
    "triang": _triang_ppf,
    "truncnorm": _truncnorm_ppf,
    "expon": lambda q: -special.log1p(-q),
    "weibull_min": lambda q, c: np.power(-special.log1p(-q), 1.0 / c),
}


# ---------------------------------------------------------------- public functions


def _unpack(dist: Distribution) -> tuple[tuple[float, ...], float, float]:
    """(shapes, loc, scale) of ``dist``; TypeError on a missing or unknown parameter."""
    if dist.name not in SHAPES:
        raise ValueError(f"unsupported distribution {dist.name!r} (supported: {', '.join(SHAPES)})")
    params = dict(dist.params)
    unknown = set(params) - set(parameters(dist.name))
    if unknown:
        raise TypeError(f"{dist.name} has no parameter(s) {', '.join(sorted(unknown))}")
    missing = [s for s in SHAPES[dist.name] if s not in params]
    if missing:
        raise TypeError(f"{dist.name} requires {', '.join(missing)}")
    shapes = tuple(float(params[s]) for s in SHAPES[dist.name])
    return shapes, float(params.get("loc", 0.0)), float(params.get("scale", 1.0))


def support(dist: Distribution) -> tuple[float, float]:
    """(lower, upper) ends of the support of ``dist``, in its units; (nan, nan) if invalid.

    ``loc + scale x`` the standard support, which may be infinite.
    """
    shapes, loc, scale = _unpack(dist)
    if not (_valid(dist.name, shapes) and scale > 0):
        return math.nan, math.nan
    lo, hi = _standard_support(dist.name, shapes)
    return lo * scale + loc, hi * scale + loc


@overload
def ppf(dist: Distribution, u: float) -> float: ...
@overload
def ppf(dist: Distribution, u: ArrayLike) -> np.ndarray: ...
def ppf(dist: Distribution, u: ArrayLike) -> float | np.ndarray:
    """Quantile of ``dist`` at probability ``u`` (scalar or array, values in [0, 1]).

    Equals ``dist.frozen().ppf(u)`` (scipy.stats) to a few ulp. Returns a float for a scalar
    ``u``, else a float64 array of u's shape; NaN where u is outside [0, 1] or the
    parameters are invalid.
    """
    shapes, loc, scale = _unpack(dist)
    q = np.asarray(u, dtype=np.float64)
    out = np.full(q.shape, np.nan)
    if _valid(dist.name, shapes) and scale > 0 and loc == loc:
        lo, hi = _standard_support(dist.name, shapes)
        out[q == 0] = lo * scale + loc
        out[q == 1] = hi * scale + loc
        inside = (0 < q) & (q < 1)
        if np.any(inside):
            out[inside] = _STANDARD_PPF[dist.name](q[inside], *shapes) * scale + loc
    return float(out) if out.ndim == 0 else out


def median(dist: Distribution) -> float:
    """Median of ``dist`` (its 0.5 quantile), in its units; nan if the parameters are invalid."""
    return ppf(dist, 0.5)
