"""The validated, immutable priors objects (what ``mcsd.load_priors`` returns).

Plain frozen dataclasses: no TOML, no numba. Units live in field names (``_mw``,
``_months``). Months are ``"YYYY-MM"`` strings; the base is the *end* of ``base_month``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd


def _frozen_mapping(m: Mapping) -> Mapping:
    return MappingProxyType(dict(m))


def month_number(text: str) -> int:
    """Months since year 0 of a ``"YYYY-MM"`` string (validated by the priors loader)."""
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


@dataclass(frozen=True)
class Distribution:
    """A scipy.stats distribution named and parameterised exactly as scipy names it.

    ``params`` holds scipy's own keyword arguments (``s``, ``a``, ``b``, ``c``, ``loc``,
    ``scale``, ...). ``frozen()`` returns the scipy frozen distribution; loading and
    simulating do not use it (``mcsd.distributions`` gives support, median and quantiles
    without importing scipy.stats, which costs ~0.6 s).
    """

    name: str
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen_mapping(self.params))

    def frozen(self):  # -> scipy.stats frozen distribution
        from scipy import stats  # imported on first use: slow, and not needed to simulate

        return getattr(stats, self.name)(**self.params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.name}({args})"


@dataclass(frozen=True)
class DelayDistribution:
    """Deviation of a project's delivery from its scheduled month, in months.

    With probability ``p_on_time`` the deviation is 0; otherwise it is a draw from
    ``late``. The deviation is scaled by the provider (and regional) factor and rounded
    half up to whole months; delivery is never earlier than month 1.

    Whether a project is late is shared through two loadings (dimensionless, in [-1, 1],
    ``provider_loading**2 + region_loading**2 <= 1``): project j is late iff
    ``wp Zp + wr Zr + sqrt(1 - wp**2 - wr**2) Ej > ndtri(p_on_time)``, Zp and Zr the
    provider's and region's standard normals (those of the delay factors). 0 and 0:
    independent, as before.
    """

    p_on_time: float
    late: Distribution
    provider_loading: float = 0.0  # wp: loading of lateness on the provider's normal Zp
    region_loading: float = 0.0  # wr: loading of lateness on the region's normal Zr


@dataclass(frozen=True)
class Region:
    id: str
    name: str
    demand_stock_mw: float
    supply_stock_mw: float
    delay_factor: Distribution | None = None  # optional regional factor on delays, median 1


@dataclass(frozen=True)
class Buyer:
    id: str
    name: str
    demand_multiplier: Distribution  # marginal of the yearly multiplier M[b, y]; median 1
    market_loading: float  # correlation of the buyer's yearly shock with the market factor
    persistence: float  # AR(1) coefficient of the buyer's standardized shock, year to year
    third_party_share_nominal: float  # the share the increments assume; median of the dist
    third_party_share: Distribution
    # increments_mw[region_id][year] = nominal wholesale increment (MW) in that calendar year
    increments_mw: Mapping[str, Mapping[int, float]]
    monthly_profile: tuple[float, ...] | None = None  # 12 weights summing to 1; None = uniform
    # rho in [-1, 1]: loading of the share's normal score on Zbar, the run's mean market
    # normal (sum of the yearly market normals / sqrt(years)); 0 = independent of the cycle
    third_party_share_market_loading: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "increments_mw",
            _frozen_mapping({r: _frozen_mapping(v) for r, v in self.increments_mw.items()}),
        )


@dataclass(frozen=True)
class Project:
    id: str
    region: str
    capacity_mw: float
    scheduled_month: str  # "YYYY-MM": counts from the end of this month
    # A pre-lease: buyer id and MW (0 < mw <= capacity_mw) signed for this hall, taken out
    # of the buyer's nominal increment in (region, year of scheduled_month) and requested,
    # firm, when the hall is delivered. None and 0.0: no pre-lease.
    pre_lease_buyer: str | None = None
    pre_lease_mw: float = 0.0


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    delivery_delay_months: DelayDistribution
    cancellation_probability: float
    delay_factor: Distribution | None  # factor multiplying its projects' deviations; median 1
    projects: tuple[Project, ...]


@dataclass(frozen=True)
class DemandEvent:
    """A lumpy, named demand risk: ``mw`` MW requested, firm, by ``buyer`` in ``region`` at
    ``month`` with probability ``probability`` on a path.

    The event happens iff ``w Zm[k] + sqrt(1 - w**2) E > ndtri(1 - probability)``, Zm[k] the
    market normal of the month's calendar year, E its own standard normal, ``w`` =
    ``market_loading`` (in [-1, 1]; > 0: more likely in a boom). Point mode: present iff
    ``probability > 0.5`` (0.5 itself is refused by the loader: nominal = median).
    """

    id: str
    name: str
    buyer: str  # a buyer id
    region: str  # a region id
    month: str  # "YYYY-MM", after the base, <= the horizon; counts from the end of the month
    mw: float  # > 0
    probability: float  # in (0, 1], != 0.5
    market_loading: float = 0.0


@dataclass(frozen=True)
class Priors:
    """A whole validated priors file."""

    name: str
    source_path: str
    sha256: str
    base_month: str  # "YYYY-MM"; the base is the end of this month
    horizon_month: str  # "YYYY-MM"; the last month simulated
    threshold: float  # shortage: occupancy >= threshold
    max_occupancy: float  # a region serves at most max_occupancy x supply
    sustain_months: int  # turning point: first run of this many shortage months
    regions: tuple[Region, ...]
    buyers: tuple[Buyer, ...]
    providers: tuple[Provider, ...]
    # spillover[i][j]: share of region i's unmet demand that moves to region j each month
    spillover: tuple[tuple[float, ...], ...] | None = None
    description: str = ""
    # "first_month": first run of sustain_months shortage months; "year_end": first December
    # in shortage (sustain_months is then 1)
    turning_point: str = "first_month"
    demand_events: tuple[DemandEvent, ...] = ()

    @property
    def region_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.regions)

    @property
    def n_months(self) -> int:
        """Months from the base (exclusive) to the horizon (inclusive)."""
        return month_number(self.horizon_month) - month_number(self.base_month)

    @functools.cached_property  # pandas' period arithmetic costs ~2 ms a call
    def month_ends(self) -> pd.DatetimeIndex:
        """Month-end timestamps of months 1..n_months."""
        start = pd.Period(self.base_month, "M") + 1
        periods = pd.period_range(start, periods=self.n_months, freq="M")
        return periods.to_timestamp(how="end").normalize()

    @functools.cached_property
    def calendar_years(self) -> tuple[int, ...]:
        """Calendar years touched by months 1..n_months, in order."""
        return tuple(sorted({int(y) for y in self.month_ends.year}))

    def month_index(self, month: str) -> int:
        """Month number of ``"YYYY-MM"`` relative to the base (base month = 0)."""
        return month_number(month) - month_number(self.base_month)

    def spillover_matrix(self) -> np.ndarray:
        """(region, region) float64 array; zeros when the priors have none."""
        n = len(self.regions)
        if self.spillover is None:
            return np.zeros((n, n))
        return np.array(self.spillover, dtype=np.float64).reshape(n, n)

    def with_changes(self, set: Mapping | None = None, scale: Mapping | None = None) -> Priors:
        """These priors with what-ifs, as a scenario file's entries would apply them.

        ``set``: field selector -> new value (``{"settings.threshold": 0.85}``); ``scale``:
        field selector -> factor (``{"buyers.*.increments_mw": 0.8}``). Selectors, order
        (all sets, then all scales) and validation are the scenario files'
        (``mcsd.priors.changes.apply_changes``). The result is named ``"<name>+what-if"``
        and its sha256 covers the changes. Raises PriorsError naming the change.
        """
        from mcsd.priors.changes import apply_changes  # the loader (TOML) only when used

        return apply_changes(self, sets=(set or {}).items(), scales=(scale or {}).items())
