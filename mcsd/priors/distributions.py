"""The distribution registry: every fact mcsd holds about a distribution family, in one row.

A :class:`~mcsd.priors.model.Distribution` names a scipy.stats distribution and holds its
keyword arguments. :data:`FAMILIES` maps each supported name to a :class:`Family`: its
scipy shape parameters, the rules on them (with the words the loader's errors use), its
standard support and quantile function, its kernel code (``mcsd.kernels.layout``) and the
derived constants its kernel transform reads. Adding a family means adding one row here and
its branch in ``mcsd.kernels.transforms.ppf_row``.

Loading priors and compiling them for the kernels only needs the support, the median and a
few quantiles. Importing ``scipy.stats`` for those costs about 0.6 s of start-up, so this
module computes them with numpy and ``scipy.special`` (which the kernels import anyway),
following scipy.stats' own formulas and order of operations so the results agree with
``dist.frozen()`` to a few ulp (bit for bit on every case tested: tests/test_distributions.py).

As in scipy, a quantile is ``standard_ppf(u, shapes) * scale + loc``; ``u = 0`` and
``u = 1`` give the ends of the support; invalid parameters (e.g. ``scale <= 0``, a shape
outside its domain) give NaN rather than an exception.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import overload

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from mcsd.kernels import layout
from mcsd.priors.model import Distribution

__all__ = [
    "DIST_CODES",
    "FAMILIES",
    "SHAPES",
    "Family",
    "JointRule",
    "ShapeRule",
    "kernel_parameters",
    "log_gauss_mass",
    "median",
    "parameters",
    "ppf",
    "support",
]

_INF = math.inf


# ---------------------------------------------------------------- families


@dataclass(frozen=True)
class ShapeRule:
    """A constraint on one shape parameter: ``test(value)``, and ``text`` for errors."""

    test: Callable[[float], bool]
    text: str  # e.g. "must be > 0"; the loader appends " for <name>"


@dataclass(frozen=True)
class JointRule:
    """A constraint on all the shapes together, reported against the shape ``field``.

    ``test(*shapes)`` takes the shapes in scipy's order; ``text`` is a ``str.format``
    template over the parameter names, e.g. ``"must be > a ({a:g})"``.
    """

    field: str
    test: Callable[..., bool]
    text: str

    def message(self, values: Mapping[str, float]) -> str:
        """The error text for the parameter values ``values`` (name -> value)."""
        return self.text.format(**values)


def _no_derived(*shapes: float) -> tuple[float, ...]:
    return ()


@dataclass(frozen=True)
class Family:
    """One supported scipy.stats distribution family.

    ``shape_rules`` and ``joint_rule`` together are scipy's ``_argcheck`` (NaN fails every
    rule), split so an error can name the parameter. ``standard_support(*shapes)`` and
    ``standard_ppf(q, *shapes)`` (q a float64 array strictly inside (0, 1)) are those of the
    standard (loc 0, scale 1) distribution. ``derived(*shapes)`` gives the constants the
    kernel transform reads from the parameter slots ``layout.PARAM_DERIVED`` on (at most 3).
    """

    name: str  # the scipy.stats name
    kernel_code: int  # layout.DIST_*
    shapes: tuple[str, ...]  # scipy's shape names in scipy's order (``rv.shapes``)
    standard_support: Callable[..., tuple[float, float]]
    standard_ppf: Callable[..., np.ndarray]
    shape_rules: Mapping[str, ShapeRule] = field(default_factory=dict)
    joint_rule: JointRule | None = None
    derived: Callable[..., tuple[float, ...]] = _no_derived

    def __post_init__(self) -> None:
        if len(self.shapes) > layout.PARAM_LOC - layout.PARAM_SHAPE0:
            raise ValueError(f"{self.name}: more shapes than the kernels' parameter slots")
        if not set(self.shape_rules) <= set(self.shapes):
            raise ValueError(f"{self.name}: a shape rule names an unknown shape")
        if self.joint_rule is not None and self.joint_rule.field not in self.shapes:
            raise ValueError(f"{self.name}: the joint rule names an unknown shape")

    @property
    def parameters(self) -> tuple[str, ...]:
        """All keyword arguments: the shapes, then loc and scale."""
        return (*self.shapes, "loc", "scale")

    def valid(self, shapes: tuple[float, ...]) -> bool:
        """scipy's ``_argcheck``: are the shape values (scipy's order) in the domain?"""
        for name, value in zip(self.shapes, shapes, strict=True):
            rule = self.shape_rules.get(name)
            if rule is not None and not rule.test(value):
                return False
        return self.joint_rule is None or bool(self.joint_rule.test(*shapes))


# ---------------------------------------------------------------- standard distributions
# Each function works on the standard (loc 0, scale 1) distribution with scalar shapes.


def _log_diff(log_p: float, log_q: float) -> float:
    """log(p - q) from log p >= log q, without forming p - q.

    Evaluated as scipy.stats does, as the complex log-sum-exp log(p + q e^(i pi)) with
    numpy's complex exp and log1p (sin(pi) is not 0 in floating point, and the complex exp
    rounds differently from the real one). A real log1p(-q/p) would be as accurate, but it
    differs by 1 to ~20 ulp on narrow windows; this way the kernels' one-sided truncnorm
    constants (``_truncnorm_derived``) stay exactly what scipy's helper gave them.
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


def _truncnorm_derived(a: float, b: float) -> tuple[float, float, float]:
    """Derived constants of truncnorm(a, b) for ``mcsd.kernels.transforms._truncnorm_std``.

    a < 0 < b: (Phi(a), Phi(b) - Phi(a), Phi(-b)); one-sided: (log Phi(a) if a < 0 else
    log Phi(-b), log(Phi(b) - Phi(a)), 0).
    """
    if a < 0.0 < b:
        # Phi(b) - Phi(a) without cancellation: both erf terms are positive
        mass = 0.5 * (
            float(special.erf(b / math.sqrt(2.0))) - float(special.erf(a / math.sqrt(2.0)))
        )
        return float(special.ndtr(a)), mass, float(special.ndtr(-b))
    # one-sided: scipy's log-space constants (bit for bit, see log_gauss_mass)
    log_mass = log_gauss_mass(a, b)
    log_base = float(special.log_ndtr(a if a < 0.0 else -b))
    return log_base, log_mass, 0.0


def _triang_ppf(q: np.ndarray, c: float) -> np.ndarray:
    # rising edge below the mode's probability c, falling edge above it
    return np.where(q < c, np.sqrt(c * q), 1 - np.sqrt((1 - c) * (1 - q)))


def _real_line(*shapes: float) -> tuple[float, float]:
    return -_INF, _INF


def _unit_interval(*shapes: float) -> tuple[float, float]:
    return 0.0, 1.0


def _half_line(*shapes: float) -> tuple[float, float]:
    return 0.0, _INF


_POSITIVE = ShapeRule(lambda v: v > 0, "must be > 0")  # scipy's default _argcheck

# One row per family, in the order of the loader's messages. Each standard quantile uses
# the scipy.special function scipy.stats uses, so the results agree bit for bit.
_ROWS: tuple[Family, ...] = (
    Family("norm", layout.DIST_NORM, (), _real_line, lambda q: special.ndtri(q)),
    Family(
        "lognorm",
        layout.DIST_LOGNORM,
        ("s",),
        _half_line,
        lambda q, s: np.exp(s * special.ndtri(q)),
        {"s": _POSITIVE},
    ),
    Family(
        "gamma",
        layout.DIST_GAMMA,
        ("a",),
        _half_line,
        lambda q, a: special.gammaincinv(a, q),
        {"a": _POSITIVE},
    ),
    Family(
        "beta",
        layout.DIST_BETA,
        ("a", "b"),
        _unit_interval,
        lambda q, a, b: special.betaincinv(a, b, q),
        {"a": _POSITIVE, "b": _POSITIVE},
    ),
    Family("uniform", layout.DIST_UNIFORM, (), _unit_interval, lambda q: q.copy()),
    Family(
        "triang",
        layout.DIST_TRIANG,
        ("c",),
        _unit_interval,
        _triang_ppf,
        {"c": ShapeRule(lambda v: 0 <= v <= 1, "must be in [0, 1]")},
    ),
    Family(
        "truncnorm",
        layout.DIST_TRUNCNORM,
        ("a", "b"),
        lambda a, b: (a, b),
        _truncnorm_ppf,
        joint_rule=JointRule("b", lambda a, b: a < b, "must be > a ({a:g})"),
        derived=_truncnorm_derived,
    ),
    Family("expon", layout.DIST_EXPON, (), _half_line, lambda q: -special.log1p(-q)),
    Family(
        "weibull_min",
        layout.DIST_WEIBULL_MIN,
        ("c",),
        _half_line,
        lambda q, c: np.power(-special.log1p(-q), 1.0 / c),
        {"c": _POSITIVE},
    ),
)

#: The supported families by scipy.stats name, in the order the loader lists them.
FAMILIES: Mapping[str, Family] = MappingProxyType({f.name: f for f in _ROWS})
#: Shape-parameter names of each family, in scipy's order (``rv.shapes``).
SHAPES: Mapping[str, tuple[str, ...]] = MappingProxyType({n: f.shapes for n, f in FAMILIES.items()})
#: Kernel code of each family (``mcsd.kernels.layout.DIST_*``).
DIST_CODES: Mapping[str, int] = MappingProxyType({n: f.kernel_code for n, f in FAMILIES.items()})


def parameters(name: str) -> tuple[str, ...]:
    """All keyword arguments of distribution ``name``: its shapes, then loc and scale."""
    return FAMILIES[name].parameters


# ---------------------------------------------------------------- public functions


def _unpack(dist: Distribution) -> tuple[Family, tuple[float, ...], float, float]:
    """(family, shapes, loc, scale) of ``dist``; TypeError on a missing or unknown parameter."""
    family = FAMILIES.get(dist.name)
    if family is None:
        raise ValueError(f"unsupported distribution {dist.name!r} (supported: {', '.join(SHAPES)})")
    params = dict(dist.params)
    unknown = set(params) - set(family.parameters)
    if unknown:
        raise TypeError(f"{dist.name} has no parameter(s) {', '.join(sorted(unknown))}")
    missing = [s for s in family.shapes if s not in params]
    if missing:
        raise TypeError(f"{dist.name} requires {', '.join(missing)}")
    shapes = tuple(float(params[s]) for s in family.shapes)
    return family, shapes, float(params.get("loc", 0.0)), float(params.get("scale", 1.0))


def support(dist: Distribution) -> tuple[float, float]:
    """(lower, upper) ends of the support of ``dist``, in its units; (nan, nan) if invalid.

    ``loc + scale x`` the standard support, which may be infinite.
    """
    family, shapes, loc, scale = _unpack(dist)
    if not (family.valid(shapes) and scale > 0):
        return math.nan, math.nan
    lo, hi = family.standard_support(*shapes)
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
    family, shapes, loc, scale = _unpack(dist)
    q = np.asarray(u, dtype=np.float64)
    out = np.full(q.shape, np.nan)
    if family.valid(shapes) and scale > 0 and loc == loc:
        lo, hi = family.standard_support(*shapes)
        out[q == 0] = lo * scale + loc
        out[q == 1] = hi * scale + loc
        inside = (0 < q) & (q < 1)
        if np.any(inside):
            out[inside] = family.standard_ppf(q[inside], *shapes) * scale + loc
    return float(out) if out.ndim == 0 else out


def median(dist: Distribution) -> float:
    """Median of ``dist`` (its 0.5 quantile), in its units; nan if the parameters are invalid."""
    return ppf(dist, 0.5)


def kernel_parameters(dist: Distribution) -> tuple[int, np.ndarray]:
    """Kernel code and (N_PARAMS,) float64 parameter vector of ``dist``.

    Layout (``mcsd.kernels.layout``): [shape0, shape1, loc, scale, derived0..2, unused];
    absent shapes, derived constants and the unused slot are 0.
    """
    family, shapes, loc, scale = _unpack(dist)
    p = np.zeros(layout.N_PARAMS)
    p[layout.PARAM_SHAPE0 : layout.PARAM_SHAPE0 + len(shapes)] = shapes
    p[layout.PARAM_LOC] = loc
    p[layout.PARAM_SCALE] = scale
    derived = family.derived(*shapes)
    if len(derived) > layout.N_PARAMS - layout.PARAM_DERIVED:
        raise ValueError(f"{family.name}: more derived constants than parameter slots")
    p[layout.PARAM_DERIVED : layout.PARAM_DERIVED + len(derived)] = derived
    return family.kernel_code, p
