"""Solve one parameter of a distribution for a given median (``mcsd priors solve``).

``solve_median("gamma", 5.0, {"a": 2.0})`` returns the
:class:`~mcsd.priors.model.Distribution` ``gamma(a=2.0, scale=s)`` whose median is 5, with
``s`` found as follows:

* ``loc`` and ``scale`` in closed form: a median is ``loc + scale * m``, ``m`` the standard
  (loc 0, scale 1) distribution's median (lognorm: ``m = 1``, so ``scale = M - loc``; norm
  and a symmetric truncnorm: ``m = 0``, so ``loc = M``);
* a shape (gamma ``a``, beta ``a`` / ``b``, triang ``c``, truncnorm ``a`` / ``b``,
  weibull_min ``c``) with ``scipy.optimize.brentq`` on the first bracket of a grid over the
  shape's domain where the median crosses ``M``.

Medians are those of :mod:`mcsd.priors.distributions` (scipy.stats' formulas). The result
is checked by the loader's own distribution checker (:func:`check`), and
:func:`toml_line` writes it as a line to paste into a priors file, each number with the
fewest digits that keep the median within 1e-12 (relative) of ``M``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mcsd.priors import distributions
from mcsd.priors.distributions import FAMILIES
from mcsd.priors.model import Distribution

__all__ = [
    "DEFAULT_PARAMETER",
    "ROLES",
    "SolveError",
    "check",
    "default_parameter",
    "solve_median",
    "toml_line",
]

#: The parameter solved when none is named: where the median moves with it in one
#: obvious way (norm and truncnorm shift with loc; a beta share is usually set by b).
DEFAULT_PARAMETER: Mapping[str, str] = {"norm": "loc", "truncnorm": "loc", "beta": "b"}
#: The relative distance to the asked median the result must reach (the loader asks 1e-9
#: of a multiplier's median 1); printed numbers keep 1e-12.
RTOL = 1e-10
PRINT_RTOL = 1e-12
#: The fields of a priors file a distribution can fill, with the loader's role names.
ROLES = (
    ("factor", "demand_multiplier / delay_factor"),
    ("late", "delivery_delay_months.late"),
    ("share", "third_party_share"),
)


class SolveError(ValueError):
    """No value of the parameter gives the median, or the request is malformed (one line)."""


def default_parameter(name: str) -> str:
    """The parameter ``solve_median`` solves for family ``name`` when none is named."""
    return DEFAULT_PARAMETER.get(name, "scale")


@dataclass(frozen=True)
class _Problem:
    name: str
    fixed: dict[str, float]
    param: str
    target: float

    def dist(self, value: float) -> Distribution:
        return _ordered(self.name, {**self.fixed, self.param: value})

    def median(self, value: float) -> float:
        with np.errstate(all="ignore"):
            return distributions.median(self.dist(value))


def _ordered(name: str, params: Mapping[str, float]) -> Distribution:
    """A Distribution with its parameters in scipy's order (shapes, loc, scale)."""
    order = FAMILIES[name].parameters
    return Distribution(name, {k: float(params[k]) for k in order if k in params})


def _close(value: float, target: float, rtol: float) -> bool:
    return abs(value - target) <= rtol * abs(target) if target != 0 else abs(value) <= 1e-300


def solve_median(
    name: str, median: float, fixed: Mapping[str, float] | None = None, solve: str | None = None
) -> Distribution:
    """The distribution ``name`` with parameters ``fixed`` and ``solve`` chosen so that its
    median is ``median`` (within 1e-10, relative).

    Parameters
    ----------
    name : str
        A supported scipy.stats name (``mcsd.priors.distributions.FAMILIES``).
    median : float
        The median to reach, in the distribution's units.
    fixed : mapping, optional
        The other parameters (scipy's names); omitted loc / scale take scipy's 0 / 1, every
        other shape must be given.
    solve : str, optional
        The parameter to find (default :func:`default_parameter`).

    Raises
    ------
    SolveError
        An unknown family or parameter, a missing shape, or a median no value reaches.
    """
    family = FAMILIES.get(name)
    if family is None:
        raise SolveError(f"unsupported distribution {name!r} (supported: {', '.join(FAMILIES)})")
    param = solve or default_parameter(name)
    valid = family.parameters
    if param not in valid:
        raise SolveError(
            f"--solve {param}: not a parameter of scipy.stats.{name} (parameters: "
            f"{', '.join(valid)})"
        )
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    for key, value in fixed.items():
        if key not in valid:
            raise SolveError(
                f"--fix {key}: not a parameter of scipy.stats.{name} (parameters: "
                f"{', '.join(valid)})"
            )
        if key == param:
            raise SolveError(f"--fix {key}: {key} is the parameter solved for (--solve {param})")
        if not math.isfinite(value):
            raise SolveError(f"--fix {key}: must be a finite number, got {value!r}")
    missing = [s for s in family.shapes if s != param and s not in fixed]
    if missing:
        raise SolveError(
            f"scipy.stats.{name} requires {', '.join(family.shapes)}: give "
            + " ".join(f"--fix {s}=VALUE" for s in missing)
        )
    if not math.isfinite(median):
        raise SolveError(f"--median must be a finite number, got {median!r}")
    if fixed.get("scale", 1.0) <= 0:
        raise SolveError(f"--fix scale: must be > 0, got {fixed['scale']!r}")
    shapes = tuple(fixed[s] for s in family.shapes if s != param)
    if param not in family.shapes and not family.valid(shapes):
        # a closed form needs a valid standard distribution: let the loader's words say why
        check(_ordered(name, {**fixed, param: 1.0}))
    problem = _Problem(name, fixed, param, float(median))
    if param in ("loc", "scale"):
        value = _closed_form(problem)
    else:
        value = _bracketed(problem)
    got = problem.median(value)
    if not _close(got, problem.target, RTOL):
        raise SolveError(
            f"could not reach median {median!r} with {param} = {value!r} (median {got!r})"
        )
    return problem.dist(value)


def _standard_median(problem: _Problem) -> float:
    """The median of the standard (loc 0, scale 1) distribution with the fixed shapes."""
    shapes = {s: problem.fixed[s] for s in FAMILIES[problem.name].shapes}
    if problem.name == "norm" or (problem.name == "truncnorm" and shapes["a"] == -shapes["b"]):
        return 0.0  # symmetric about 0: exactly, not the ~1e-17 the quantile function gives
    with np.errstate(all="ignore"):
        return distributions.median(_ordered(problem.name, shapes))


def _closed_form(problem: _Problem) -> float:
    m = _standard_median(problem)
    loc, scale, target = (
        problem.fixed.get("loc", 0.0),
        problem.fixed.get("scale", 1.0),
        problem.target,
    )
    if problem.param == "loc":
        return target - scale * m
    if m == 0:
        raise SolveError(
            f"the median of {problem.dist(1.0).name} here does not depend on scale: "
            f"it is loc ({loc:g}) whatever the scale"
        )
    scale = (target - loc) / m
    if not (scale > 0 and math.isfinite(scale)):
        raise SolveError(
            f"no scale > 0 gives median {target:g}: the median is loc + scale x {m:.6g} "
            f"with loc = {loc:g}"
        )
    return scale


def _grid(problem: _Problem) -> np.ndarray:
    """Increasing candidate values of the solved shape, inside its domain."""
    name, param, fixed = problem.name, problem.param, problem.fixed
    if name == "triang":  # c in [0, 1]
        return np.linspace(0.0, 1.0, 201)
    wide = np.geomspace(1e-6, 1e3, 271)
    if name == "truncnorm":  # a < b: the solved end moves away from the fixed one
        return fixed["b"] - wide[::-1] if param == "a" else fixed["a"] + wide
    return np.geomspace(1e-8, 1e8, 321)  # shapes that must be > 0


def _bracketed(problem: _Problem) -> float:
    from scipy.optimize import brentq

    grid = _grid(problem)
    medians = np.array([problem.median(x) for x in grid])
    f = medians - problem.target
    ok = np.isfinite(f)
    exact = np.flatnonzero(ok & (f == 0))
    if exact.size:
        return float(grid[exact[0]])
    cross = np.flatnonzero(ok[:-1] & ok[1:] & (np.sign(f[:-1]) != np.sign(f[1:])))
    if not cross.size:
        seen = medians[ok]
        lo, hi = (float(seen.min()), float(seen.max())) if seen.size else (math.nan, math.nan)
        if seen.size and hi - lo <= 1e-12 * max(abs(hi), 1.0):
            raise SolveError(
                f"the median of scipy.stats.{problem.name} does not depend on "
                f"{problem.param} (it is {lo:.6g} with these parameters)"
            )
        raise SolveError(
            f"no value of {problem.param} gives scipy.stats.{problem.name} median "
            f"{problem.target:g} (with the other parameters as given, its median ranges over "
            f"[{lo:.6g}, {hi:.6g}])"
        )
    i = int(cross[0])

    def gap(x: float) -> float:
        return problem.median(x) - problem.target

    return float(brentq(gap, grid[i], grid[i + 1], xtol=1e-300, rtol=4 * np.finfo(float).eps))


# ----------------------------------------------------------------------------- output


def _short(problem: _Problem, value: float) -> float:
    """``value`` with the fewest significant digits that keep the median within
    PRINT_RTOL of the target (at most 17: the float itself)."""
    for digits in range(4, 17):
        shorter = float(f"{value:.{digits}g}")
        if _close(problem.median(shorter), problem.target, PRINT_RTOL):
            return shorter
    return value


def shortened(dist: Distribution, param: str, target: float) -> Distribution:
    """``dist`` with its ``param`` written in the fewest digits that keep its median within
    1e-12 (relative) of ``target``; the other parameters as they are."""
    params = dict(dist.params)
    problem = _Problem(dist.name, {k: v for k, v in params.items() if k != param}, param, target)
    if not _close(problem.median(params[param]), target, PRINT_RTOL):
        return dist
    return problem.dist(_short(problem, params[param]))


def _number(value: float) -> str:
    return repr(float(value))


def toml_line(dist: Distribution, nominal: float | None = None) -> str:
    """The inline table of ``dist`` as a priors file writes it, e.g.
    ``{ dist = "gamma", a = 2.0, scale = 2.885 }``; with ``nominal``, a share's table."""
    parts = [f"nominal = {_number(nominal)}"] if nominal is not None else []
    parts.append(f'dist = "{dist.name}"')
    parts += [f"{k} = {_number(v)}" for k, v in dist.params.items()]
    return "{ " + ", ".join(parts) + " }"


def check(dist: Distribution, nominal: float | None = None) -> dict[str, str | None]:
    """Check ``dist`` with the loader's distribution checker.

    Raises PriorsError (the loader's message) if no priors field could hold it (parameters
    scipy rejects, non-finite draws or median). Returns, for each field label of
    :data:`ROLES`, ``None`` if the loader accepts ``dist`` there, else its problem; a share
    is checked with ``nominal`` (default: the median).
    """
    import warnings

    from mcsd.priors.loader import PriorsError, _Ctx, _distribution, _scipy_distribution

    ctx = _Ctx("solve")
    raw = {"dist": dist.name, **dist.params}
    checked = _scipy_distribution(ctx, "distribution", dict(raw))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        lo, hi = distributions.support(checked)
        med = distributions.median(checked)
    if math.isnan(lo) or math.isnan(hi) or not math.isfinite(med):
        ctx.fail("distribution", f"has parameters scipy.stats rejects: {checked}", raw)
    out: dict[str, str | None] = {}
    for role, label in ROLES:
        entry = dict(raw)
        if role == "share":
            entry = {"nominal": med if nominal is None else nominal, **entry}
        try:
            _distribution(role)(ctx, label, entry)
        except PriorsError as err:
            out[label] = err.problem
        else:
            out[label] = None
    return out
