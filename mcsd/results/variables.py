"""The registry of result variables: one row each (dims, long_name, units, finalize).

``finalize`` maps a ``Finals`` (the merged accumulators plus what the run knows of its
layout) to the variable's array; the Dataset builder (``dataset``) walks the rows in order.
Adding a result variable is one row here (and, if it needs a new sufficient statistic, one
``Statistic`` row in ``accumulators`` and one fold row in the kernels).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mcsd.dims import LEVEL, QUANTILE, REGION, TIME, YEAR
from mcsd.kernels.layout import FIXED_POINT_SCALE, OCC_BINS_PER_UNIT
from mcsd.results.histograms import (
    MW_VARIABLES,
    HistogramSpec,
    max_bin_width,
    mw_quantiles,
    occupancy_quantiles,
)

if TYPE_CHECKING:  # only a type here: finalizing needs no kernel
    from mcsd.results.accumulators import Accumulators

DEFAULT_QUANTILES = np.round(np.arange(1, 20) * 0.05, 2)
DEFAULT_LEVELS = np.round(np.arange(10, 21) * 0.05, 2)
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Finals:
    """What finalizing needs: merged accumulators, bins, requested quantiles and levels, the
    calendar-year index of each month (T,) and the base-shortage flags (R1,)."""

    acc: Accumulators
    spec: HistogramSpec
    quantiles: np.ndarray
    levels: np.ndarray
    month_year: np.ndarray
    in_shortage_at_base: np.ndarray
    # weighted runs: ``acc`` is a ``WeightedView`` (n = the sum of weights) and ``squares``
    # its squared-weight counts, for the ratio-estimator standard errors
    squares: Any = None

    @property
    def n(self) -> int:
        return self.acc.n_paths

    @property
    def weighted(self) -> bool:
        return self.squares is not None

    def proportion_se(self, count: Callable[[Finals], np.ndarray]) -> np.ndarray:
        """Standard error of count(self) / n: binomial, or for weighted counts the
        ratio-estimator sqrt(sum w**2 (x - p)**2) / sum w."""
        k = count(self)
        if self.squares is None:
            return binomial_se(k, self.n)
        p = k / self.n
        sq = dataclasses.replace(self, acc=self.squares, squares=None)
        a, b = count(sq), self.squares.n_paths
        # sum w**2 (x - p)**2 split by x = 1 (a) and x = 0 (b - a): two terms >= 0, no
        # cancellation near p = 1
        sq = a * (1.0 - p) ** 2 + (b - a) * p * p
        return np.sqrt(sq * self.squares.scale) / float(self.n)

    def wilson(self, count: Callable[[Finals], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Wilson 95% interval of count(self) / n; weighted: at each cell's effective
        number of paths p (1 - p) / se**2 (the run's Kish ESS where se is 0)."""
        k = count(self)
        if self.squares is None:
            return wilson_interval(k, self.n)
        p = k / self.n
        se = self.proportion_se(count)
        ess = float(self.n) ** 2 / (self.squares.n_paths * self.squares.scale)
        n_eff = np.where(se > 0, p * (1.0 - p) / np.where(se > 0, se, 1.0) ** 2, ess)
        return wilson_interval(p * n_eff, n_eff)

    @functools.cached_property
    def year_last_month(self) -> np.ndarray:
        """(K,) index of each calendar year's last month within the horizon."""
        k = self.month_year
        return np.nonzero(np.append(k[1:] != k[:-1], True))[0]

    @functools.cached_property
    def months_in_year(self) -> np.ndarray:
        """(K,) months of each calendar year within the horizon."""
        return np.bincount(self.month_year)


def wilson_interval(k: np.ndarray, n: int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval for k successes in n trials (arrays)."""
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the interval always contains p; at p = 0 or 1 rounding can leave it one ulp outside
    lo = np.minimum(np.clip(centre - half, 0.0, 1.0), p)
    hi = np.maximum(np.clip(centre + half, 0.0, 1.0), p)
    return lo, hi


def binomial_se(k: np.ndarray, n: int) -> np.ndarray:
    """Standard error of the proportion k / n."""
    p = k / n
    return np.sqrt(p * (1.0 - p) / n)


@dataclass(frozen=True)
class ResultVariable:
    """One variable of the result Dataset."""

    name: str
    dims: tuple[str, ...]
    long_name: str
    units: str
    finalize: Callable[[Finals], np.ndarray]
    quantile_error: Callable[[HistogramSpec], float] | None = None  # max_quantile_error attr


# ---- the counts each probability is a ratio of -----------------------------------------


def _shortage_count(f: Finals) -> np.ndarray:
    return f.acc.shortage


def _year_end_count(f: Finals) -> np.ndarray:
    return f.acc.shortage[:, f.year_last_month]


def _any_month_count(f: Finals) -> np.ndarray:
    return f.n - f.acc.short_months[:, :, 0]


def _all_months_count(f: Finals) -> np.ndarray:
    k = np.arange(f.months_in_year.size)
    return f.acc.short_months[:, k, f.months_in_year]


def _quantiles(name: str) -> Callable[[Finals], np.ndarray]:
    if name == "occupancy":
        return lambda f: occupancy_quantiles(
            f.acc.occupancy_hist, f.acc.vmin[0], f.acc.vmax[0], f.quantiles
        )
    v = MW_VARIABLES.index(name)
    return lambda f: mw_quantiles(
        f.spec, v, f.acc.mw_hist[v], f.acc.vmin[v + 1], f.acc.vmax[v + 1], f.quantiles
    )


def _bin_width(name: str) -> Callable[[HistogramSpec], float]:
    return lambda spec: max_bin_width(spec)[name]


def _exceedance(f: Finals) -> np.ndarray:
    level_bins = np.rint(np.asarray(f.levels) * OCC_BINS_PER_UNIT).astype(int)
    tail = np.cumsum(f.acc.occupancy_hist[..., ::-1], axis=-1)[..., ::-1]
    return tail[..., level_bins] / f.n


def _probability_rows(
    name: str, dims: tuple[str, ...], what: str, count: Callable[[Finals], np.ndarray]
) -> tuple[ResultVariable, ...]:
    """P(what) from an exact count, and its binomial standard error."""
    return (
        ResultVariable(name, dims, what, "1", lambda f: count(f) / f.n),
        ResultVariable(
            f"{name}_se",
            dims,
            f"Monte Carlo standard error of {name} (binomial)",
            "1",
            lambda f: f.proportion_se(count),
        ),
    )


_QUANTILE_TEXT = {
    "occupancy": ("occupancy (served demand / supply), quantiles over paths", "1"),
    "demand": ("served demand stock, quantiles over paths", "MW"),
    "supply": ("supply stock in operation, quantiles over paths", "MW"),
    "unmet_demand": ("requested minus served demand, quantiles over paths", "MW"),
    "deferred_demand": (
        "pre-leased demand waiting for its late hall (neither served nor unmet), quantiles "
        "over paths",
        "MW",
    ),
}
QUANTILE_VARS = tuple(_QUANTILE_TEXT)
RT = (REGION, TIME)
RY = (REGION, YEAR)

RESULT_VARIABLES: tuple[ResultVariable, ...] = (
    *(
        ResultVariable(
            name,
            (REGION, TIME, QUANTILE),
            text,
            units,
            _quantiles(name),
            _bin_width(name),
        )
        for name, (text, units) in _QUANTILE_TEXT.items()
    ),
    ResultVariable(
        "occupancy_exceedance", (REGION, TIME, LEVEL),
        "probability that occupancy >= level", "1", _exceedance,
    ),
    ResultVariable(
        "occupancy_mean", RT, "mean occupancy over paths", "1",
        lambda f: f.acc.occupancy_fixed / (FIXED_POINT_SCALE * f.n),
    ),
    *_probability_rows(
        "p_shortage", RT, "probability of shortage (occupancy >= threshold)",
        _shortage_count,
    ),
    ResultVariable(
        "p_shortage_lo", RT, "Wilson 95% interval, lower bound of p_shortage", "1",
        lambda f: f.wilson(_shortage_count)[0],
    ),
    ResultVariable(
        "p_shortage_hi", RT, "Wilson 95% interval, upper bound of p_shortage", "1",
        lambda f: f.wilson(_shortage_count)[1],
    ),
    ResultVariable(
        "turning_point_cdf", RT,
        "probability that the price turning point is at or before t", "1",
        lambda f: np.cumsum(f.acc.turning[:, :-1], axis=1) / f.n,
    ),
    ResultVariable(
        "p_no_turning_point", (REGION,),
        "probability of no turning point by the horizon (censored)", "1",
        lambda f: f.acc.turning[:, -1] / f.n,
    ),
    ResultVariable(
        "in_shortage_at_base", (REGION,),
        "region already at or above the threshold at the base", "1",
        lambda f: np.asarray(f.in_shortage_at_base, bool),
    ),
    *_probability_rows(
        "p_shortage_year_end", RY,
        "probability of shortage at the year's last month in the horizon (December "
        "unless the horizon ends earlier)", _year_end_count,
    ),
    *_probability_rows(
        "p_shortage_any_month", RY,
        "probability of shortage in at least one month of the year (within the horizon)",
        _any_month_count,
    ),
    *_probability_rows(
        "p_shortage_all_months", RY,
        "probability of shortage in every month of the year (within the horizon)",
        _all_months_count,
    ),
)  # fmt: skip
VARIABLES = {v.name: v for v in RESULT_VARIABLES}

# Per-path cubes of ``keep_paths`` runs: rows of the kernels' kept values (``VAR_*`` order).
PATH_VARS = QUANTILE_VARS
