"""A plain, vectorized NumPy/SciPy implementation of the whole mcsd model.

This is the *reference*: obvious code, independent of the numba engine, shared by the
tests (statistical agreement within Monte Carlo standard errors) and the benchmarks (speed
comparison). It is correct first and reasonably fast second: it vectorizes over paths and
processes them in chunks to bound memory. All randomness comes from
``numpy.random.Generator(PCG64(seed))`` through ``scipy.stats`` ``rvs`` / ``ppf``, so it is
independent of the engine's streams; agreement with the engine is statistical only.

The model (see ``priors/README.md``), with the conventions fixed here:

* Months ``t = 1..T`` after the base (``T = priors.n_months``); month ``t`` is the period
  ``base_month + t``. Regions are ``priors.regions`` in file order plus ``"national"`` last.
* Demand. For each calendar year touched by months ``1..T`` (index ``k``, ``K`` years) and
  buyer ``b``: ``e[b,k] = loading_b Zm[k] + sqrt(1 - loading_b^2) Zb[b,k]``,
  ``z[b,0] = e[b,0]``, ``z[b,k] = phi_b z[b,k-1] + sqrt(1 - phi_b^2) e[b,k]``,
  ``M[b,k] = F_b^-1(Phi(z[b,k]))``. ``share_b`` is drawn once per buyer and path: from its
  distribution ``G_b`` when its market loading ``rho_b`` is 0, else
  ``G_b^-1(Phi(rho_b Zbar + sqrt(1 - rho_b^2) Eb))`` with ``Zbar = sum_k Zm[k] / sqrt(K)``
  and ``Eb`` the buyer's own standard normal; ``ratio_b = share_b / nominal_b``. The
  increment of region ``r`` in month ``t`` (year ``y``, month-of-year ``m``) is
  ``sum_b (increments_mw[r][y] - X_b[r][y]) * w_b[m] * M[b,y] * ratio_b`` plus the month's
  firm demand, with ``w_b`` the normalised monthly profile (1/12 when None) and
  ``X_b[r][y]`` the sum of ``b``'s pre-leases on halls in ``r`` scheduled in year ``y``
  (it must not exceed the increment). A year partly outside ``1..T`` uses only its months
  inside.
* Supply. Project month ``s = month_index(scheduled_month)``; cancelled with the provider's
  probability; deviation ``dev = 0`` when on time else a ``late`` draw, times the provider
  factor (one per provider and path) times the regional factor (one per region and path,
  1 when None). Without shared lateness (every provider's ``provider_loading`` and
  ``region_loading`` 0) a project is on time with probability ``p_on_time``, independently,
  and the factors are drawn from their distributions. With it, provider ``p`` has a
  standard normal ``Zp`` and region ``r`` a standard normal ``Zr`` (also when it has no
  factor), the factors are ``F^-1(Phi(Zp))`` and ``F^-1(Phi(Zr))``, and project ``j``
  (provider ``p``, region ``r``) is late iff
  ``wp Zp + wr Zr + sqrt(1 - wp^2 - wr^2) Ej > ndtri(p_on_time)``, ``Ej`` its own standard
  normal. ``delivery = max(1, s + floor(dev + 0.5))``, with ``dev + 0.5`` clamped to
  ``[-2**52, 2**52]`` first (NaN to the late end). Delivered projects with
  ``delivery <= T`` count from month ``delivery`` on.
* Firm demand (not scaled by multiplier or share), added to the month's increment:
  a pre-leased hall's ``X`` MW in its region at its delivery month ``d`` (nothing if
  ``d > T``), or, when the hall is cancelled, at its scheduled month ``s`` (if ``s <= T``);
  a demand event's ``mw`` in its region at its month when it happens: iff
  ``w Zm[k] + sqrt(1 - w^2) E > ndtri(1 - p)``, ``k`` the year of its month, ``E`` its own
  standard normal, ``w`` its market loading, ``p`` its probability.
* Deferred demand: ``deferred_demand[r, t]`` = sum of ``X`` over the pre-leased halls in
  ``r`` that are not cancelled and have ``s <= t < d``. It is neither requested, served nor
  unmet. ``national`` is the sum over regions.
* Serving, month by month: ``req += increment``; ``cap = max_occupancy * S``;
  ``served = min(req, cap)``; ``unmet = req - served``; spillover
  ``offer[r,r'] = f[r,r'] * unmet[r]``, ``room = cap - served`` (before any moves),
  ``accept[r'] = min(1, room[r'] / sum_r offer[r,r'])`` (0 when nothing is offered),
  ``moved = offer * accept``; moved demand leaves the origin's ``req`` and ``unmet`` and
  joins the destination's ``req`` and ``served``. One hop per month; moved demand stays moved.
* Outputs: ``supply`` S, ``demand`` = served, ``unmet_demand`` = unmet,
  ``occupancy`` = served / S, and when S == 0: 1.0 if req > 0 else 0.0 (req after the
  month's moves). ``national`` sums S, served, unmet and req over regions and applies the
  same rule. A cell held at the cap (served >= cap, or spillover offered more than its
  room; supply > 0; national: every region at its cap) has occupancy exactly
  ``max_occupancy``, since served / S can round below it.
* Shortage: occupancy >= threshold. Turning month,
  ``turning_point = "first_month"``: the first ``t`` with months ``t..t+sustain-1`` all in
  shortage and ``t + sustain - 1 <= T``; ``"year_end"`` (sustain must be 1): the first
  ``t`` in December in shortage (a partial last year without December does not count);
  0 (none, censored) otherwise. ``in_shortage_at_base``:
  ``min(D0, max_occupancy S0) / S0 >= threshold`` (S0 == 0: 1.0 if D0 > 0 else 0.0;
  national from sums); a flagged region's turning month is 1 on every path.
* Point mode: M = 1, ratio = 1, no deviation, no cancellation, a demand event present iff
  its probability > 0.5 (every path identical).

Draw order inside a chunk of ``n`` paths (one generator, consumed in this order): ``Zm``
``(n, K)``, ``Zb`` ``(n, B, K)``, each buyer's share ``(n,)`` (its ``rvs``, or ``Eb``
``(n,)`` when it loads on the market); then per provider in file order: its factor
``(n,)`` (``Zp`` under shared lateness), cancellation uniforms, on-time uniforms (``Ej``
normals under shared lateness) and late draws ``(n, n_projects)``; then each region's
factor ``(n,)`` (regions with a factor only; under shared lateness ``Zr`` for every
region); then each demand event's ``E`` ``(n,)`` in file order. With no mechanism on,
the stream is exactly that of the model without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from numpy.random import PCG64, Generator
from scipy import special

from mcsd.dims import LEVEL, QUANTILE, REGION, TIME, YEAR
from mcsd.priors.model import Distribution, Priors
from mcsd.results.variables import DEFAULT_LEVELS, DEFAULT_QUANTILES, PATH_VARS

__all__ = ["reference_paths", "reference_simulate", "DEFAULT_QUANTILES", "DEFAULT_LEVELS"]

# the engine's defaults and variable names (names and settings, not model code); the
# reference's per-path MW/fraction variables are those plus deferred_demand
_PATH_VARS = tuple(dict.fromkeys((*PATH_VARS, "deferred_demand")))


# --------------------------------------------------------------------------------------
# Deterministic structure of a priors object
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    T: int
    R: int
    region_ids: tuple[str, ...]
    month_year_index: np.ndarray  # (T,) int: index k of month t's calendar year
    n_years: int
    monthly_nominal: np.ndarray  # (B, R, T): increments_mw[r][y] * w_b[m]
    loading: np.ndarray  # (B,)
    persistence: np.ndarray  # (B,)
    multipliers: tuple[Distribution, ...]
    shares: tuple[Distribution, ...]
    share_nominal: np.ndarray  # (B,)
    # projects, grouped by provider (file order)
    provider_slices: tuple[slice, ...]
    project_region: np.ndarray  # (P,) int
    project_capacity: np.ndarray  # (P,) float
    project_month: np.ndarray  # (P,) int, s >= 1
    d0: np.ndarray  # (R,)
    s0: np.ndarray  # (R,)
    spill: np.ndarray  # (R, R)
    max_occupancy: float
    threshold: float
    sustain: int
    # issue-16 mechanisms (all neutral by default)
    year_end: bool  # turning_point == "year_end"
    december: np.ndarray  # (T,) bool: month t is a December
    shared_lateness: bool  # some provider has a nonzero provider or region loading
    provider_loading: np.ndarray  # (n_providers,) wp
    region_loading: np.ndarray  # (n_providers,) wr
    share_loading: np.ndarray  # (B,) rho
    project_prelease_mw: np.ndarray  # (P,) X, 0 = no pre-lease
    event_region: np.ndarray  # (E,) int
    event_month: np.ndarray  # (E,) int, 1..T
    event_year: np.ndarray  # (E,) int, index k of the month's calendar year
    event_mw: np.ndarray  # (E,)
    event_probability: np.ndarray  # (E,)
    event_loading: np.ndarray  # (E,)


def _plan(priors: Priors) -> _Plan:
    T = priors.n_months
    if T < 1:
        raise ValueError(f"horizon {priors.horizon_month} is not after base {priors.base_month}")
    region_ids = priors.region_ids
    R = len(region_ids)
    ridx = {r: i for i, r in enumerate(region_ids)}
    base = pd.Period(priors.base_month, "M")
    periods = [base + t for t in range(1, T + 1)]
    years = sorted({p.year for p in periods})
    kidx = np.array([years.index(p.year) for p in periods], dtype=np.int64)
    moy = np.array([p.month for p in periods], dtype=np.int64)

    B = len(priors.buyers)
    bidx = {b.id: i for i, b in enumerate(priors.buyers)}
    # pre-leases: (buyer, region, year of the scheduled month) -> sum of X (MW)
    leased: dict[tuple[int, str, int], float] = {}
    for provider in priors.providers:
        for p in provider.projects:
            if p.pre_lease_buyer is None:
                continue
            if p.pre_lease_buyer not in bidx:
                raise ValueError(f"project {p.id!r}: unknown pre-lease buyer {p.pre_lease_buyer!r}")
            key = (bidx[p.pre_lease_buyer], p.region, pd.Period(p.scheduled_month, "M").year)
            leased[key] = leased.get(key, 0.0) + float(p.pre_lease_mw)
    nominal = np.zeros((B, R, T))
    for b, buyer in enumerate(priors.buyers):
        if buyer.monthly_profile is None:
            w = np.full(12, 1.0 / 12.0)
        else:
            w = np.asarray(buyer.monthly_profile, dtype=np.float64)
            w = w / w.sum()
        for region, by_year in buyer.increments_mw.items():
            if region not in ridx:
                raise ValueError(f"buyers[{b}].increments_mw: unknown region {region!r}")
            yearly = {int(y): float(v) for y, v in by_year.items()}
            for (lb, lr, ly), x in leased.items():  # the pre-leased part is firm, not phased
                if lb == b and lr == region:
                    yearly[ly] = yearly.get(ly, 0.0) - x
            for t in range(T):
                inc = yearly.get(periods[t].year, 0.0)
                nominal[b, ridx[region], t] = inc * w[moy[t] - 1]

    for (lb, lr, ly), x in leased.items():
        inc = float(priors.buyers[lb].increments_mw.get(lr, {}).get(ly, 0.0))
        if inc < x:
            raise ValueError(
                f"buyer {priors.buyers[lb].id!r}: pre-leases of {x} MW in {lr} {ly} exceed "
                f"its increment {inc} MW"
            )

    slices, preg, pcap, pmon, plx = [], [], [], [], []
    start = 0
    for provider in priors.providers:
        for p in provider.projects:
            preg.append(ridx[p.region])
            pcap.append(float(p.capacity_mw))
            pmon.append(priors.month_index(p.scheduled_month))
            plx.append(float(p.pre_lease_mw) if p.pre_lease_buyer is not None else 0.0)
        slices.append(slice(start, start + len(provider.projects)))
        start += len(provider.projects)

    rule = priors.turning_point
    if rule not in ("first_month", "year_end"):
        raise ValueError(f"turning_point must be 'first_month' or 'year_end', got {rule!r}")
    if rule == "year_end" and priors.sustain_months != 1:
        raise ValueError("turning_point 'year_end' needs sustain_months = 1")
    wp = np.array([p.delivery_delay_months.provider_loading for p in priors.providers])
    wr = np.array([p.delivery_delay_months.region_loading for p in priors.providers])
    ev = priors.demand_events
    ev_month = np.array([priors.month_index(e.month) for e in ev], dtype=np.int64)
    if np.any((ev_month < 1) | (ev_month > T)):
        raise ValueError("demand events must fall in months 1..T of the run")

    return _Plan(
        T=T,
        R=R,
        region_ids=region_ids,
        month_year_index=kidx,
        n_years=len(years),
        monthly_nominal=nominal,
        loading=np.array([b.market_loading for b in priors.buyers], dtype=np.float64),
        persistence=np.array([b.persistence for b in priors.buyers], dtype=np.float64),
        multipliers=tuple(b.demand_multiplier for b in priors.buyers),
        shares=tuple(b.third_party_share for b in priors.buyers),
        share_nominal=np.array(
            [b.third_party_share_nominal for b in priors.buyers], dtype=np.float64
        ),
        provider_slices=tuple(slices),
        project_region=np.array(preg, dtype=np.int64),
        project_capacity=np.array(pcap, dtype=np.float64),
        project_month=np.array(pmon, dtype=np.int64),
        d0=np.array([r.demand_stock_mw for r in priors.regions], dtype=np.float64),
        s0=np.array([r.supply_stock_mw for r in priors.regions], dtype=np.float64),
        spill=priors.spillover_matrix(),
        max_occupancy=float(priors.max_occupancy),
        threshold=float(priors.threshold),
        sustain=int(priors.sustain_months),
        year_end=rule == "year_end",
        december=moy == 12,
        shared_lateness=bool(np.any(wp != 0) or np.any(wr != 0)),
        provider_loading=wp.astype(np.float64),
        region_loading=wr.astype(np.float64),
        share_loading=np.array(
            [b.third_party_share_market_loading for b in priors.buyers], dtype=np.float64
        ),
        project_prelease_mw=np.array(plx, dtype=np.float64),
        event_region=np.array([ridx[e.region] for e in ev], dtype=np.int64),
        event_month=ev_month,
        event_year=kidx[ev_month - 1] if ev else np.zeros(0, dtype=np.int64),
        event_mw=np.array([e.mw for e in ev], dtype=np.float64),
        event_probability=np.array([e.probability for e in ev], dtype=np.float64),
        event_loading=np.array([e.market_loading for e in ev], dtype=np.float64),
    )


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------
def _gaussian_to_marginal(dist: Distribution, z: np.ndarray) -> np.ndarray:
    """F^-1(Phi(z)), using the upper tail (isf) for z > 0 for accuracy."""
    if dist.name == "lognorm" and dist.params.get("loc", 0.0) == 0.0:
        return dist.params.get("scale", 1.0) * np.exp(dist.params["s"] * z)
    frozen = dist.frozen()
    out = np.empty_like(z)
    upper = z > 0
    out[~upper] = frozen.ppf(special.ndtr(z[~upper]))
    out[upper] = frozen.isf(special.ndtr(-z[upper]))
    return out


def _latent_demand(plan: _Plan, rng: Generator, n: int) -> np.ndarray:
    """Standardized shocks z (n, B, K): Gaussian copula with market factor and AR(1)."""
    return _latent_demand_and_market(plan, rng, n)[0]


def _latent_demand_and_market(plan: _Plan, rng: Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Shocks z (n, B, K) and the market normals Zm (n, K) they load on."""
    B, K = len(plan.multipliers), plan.n_years
    zm = rng.standard_normal((n, K))
    zb = rng.standard_normal((n, B, K))
    lo = plan.loading[None, :, None]
    e = lo * zm[:, None, :] + np.sqrt(1.0 - lo**2) * zb
    z = np.empty_like(e)
    z[:, :, 0] = e[:, :, 0]
    phi = plan.persistence[None, :]
    inn = np.sqrt(1.0 - phi**2)
    for k in range(1, K):
        z[:, :, k] = phi * z[:, :, k - 1] + inn * e[:, :, k]
    return z, zm


def _draw_demand(plan: _Plan, rng: Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers M (n, B, K) and third-party share ratios (n, B)."""
    m, ratio, _ = _draw_demand_and_market(plan, rng, n)
    return m, ratio


def _draw_demand_and_market(
    plan: _Plan, rng: Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multipliers M (n, B, K), share ratios (n, B) and the market normals Zm (n, K)."""
    z, zm = _latent_demand_and_market(plan, rng, n)
    m = np.empty_like(z)
    for b, dist in enumerate(plan.multipliers):
        m[:, b, :] = _gaussian_to_marginal(dist, z[:, b, :])
    ratio = np.empty((n, len(plan.shares)))
    zbar = zm.sum(axis=1) / np.sqrt(plan.n_years)  # standard normal: the run's mean cycle
    for b, dist in enumerate(plan.shares):
        rho = plan.share_loading[b]
        if rho == 0.0:  # independent of the cycle: the old stream, draw for draw
            share = dist.frozen().rvs(size=n, random_state=rng)
        else:
            eb = rng.standard_normal(n)
            share = _gaussian_to_marginal(dist, rho * zbar + np.sqrt(1.0 - rho**2) * eb)
        ratio[:, b] = share / plan.share_nominal[b]
    return m, ratio, zm


# the engine's bound on a delay shift (``mcsd.kernels.sampling.MAX_SHIFT``, restated: the
# reference imports no kernel code): a deviation that large is after any horizon
_MAX_SHIFT = 2.0**52


def _round_half_up(x: np.ndarray) -> np.ndarray:
    """floor(x + 0.5), x + 0.5 clamped to [-2**52, 2**52] first (NaN to the late end), so
    the int64 cast that follows is exact and cannot wrap (1e36 would become INT64_MIN)."""
    y = x + 0.5
    y = np.where(y <= _MAX_SHIFT, y, _MAX_SHIFT)
    y = np.where(y >= -_MAX_SHIFT, y, -_MAX_SHIFT)
    return np.floor(y)


def _draw_delivery(plan: _Plan, priors: Priors, rng: Generator, n: int) -> np.ndarray:
    """Delivery month (n, P) int64; 0 for cancelled projects."""
    if plan.shared_lateness:
        return _draw_delivery_shared(plan, priors, rng, n)
    P = plan.project_month.size
    dev = np.zeros((n, P))
    cancelled = np.zeros((n, P), dtype=bool)
    for provider, sl in zip(priors.providers, plan.provider_slices, strict=True):
        k = sl.stop - sl.start
        if provider.delay_factor is None:  # toy priors may omit it: a factor of 1
            factor = np.ones(n)
        else:
            factor = provider.delay_factor.frozen().rvs(size=n, random_state=rng)
        if k == 0:
            continue
        cancelled[:, sl] = rng.random((n, k)) < provider.cancellation_probability
        dd = provider.delivery_delay_months
        on_time = rng.random((n, k)) < dd.p_on_time
        late = np.asarray(dd.late.frozen().rvs(size=(n, k), random_state=rng), dtype=float)
        dev[:, sl] = np.where(on_time, 0.0, late) * factor[:, None]
    region_factor = np.ones((n, plan.R))
    for i, region in enumerate(priors.regions):
        if region.delay_factor is not None:
            region_factor[:, i] = region.delay_factor.frozen().rvs(size=n, random_state=rng)
    dev *= region_factor[:, plan.project_region]
    return _delivery_months(plan, dev, cancelled)


def _delivery_months(plan: _Plan, dev: np.ndarray, cancelled: np.ndarray) -> np.ndarray:
    shift = _round_half_up(dev).astype(np.int64)
    delivery = np.maximum(1, plan.project_month[None, :] + shift)
    delivery[cancelled] = 0
    return delivery


def _factor(dist: Distribution | None, z: np.ndarray) -> np.ndarray:
    """A delay factor F^-1(Phi(z)); 1 when there is none."""
    return np.ones_like(z) if dist is None else _gaussian_to_marginal(dist, z)


def _draw_delivery_shared(plan: _Plan, priors: Priors, rng: Generator, n: int) -> np.ndarray:
    """Delivery months (n, P) under shared lateness: every provider and region has its
    normal (Zp, Zr), the factors are their quantiles, lateness loads on both."""
    P = plan.project_month.size
    zp = np.empty((n, len(priors.providers)))
    e = np.zeros((n, P))
    late = np.zeros((n, P))
    cancelled = np.zeros((n, P), dtype=bool)
    for i, (provider, sl) in enumerate(zip(priors.providers, plan.provider_slices, strict=True)):
        zp[:, i] = rng.standard_normal(n)
        k = sl.stop - sl.start
        if k == 0:
            continue
        cancelled[:, sl] = rng.random((n, k)) < provider.cancellation_probability
        e[:, sl] = rng.standard_normal((n, k))
        late_dist = provider.delivery_delay_months.late.frozen()
        late[:, sl] = np.asarray(late_dist.rvs(size=(n, k), random_state=rng), dtype=float)
    zr = np.empty((n, plan.R))
    for r in range(plan.R):
        zr[:, r] = rng.standard_normal(n)
    dev = np.zeros((n, P))
    for i, (provider, sl) in enumerate(zip(priors.providers, plan.provider_slices, strict=True)):
        if sl.stop == sl.start:
            continue
        wp, wr = plan.provider_loading[i], plan.region_loading[i]
        reg = plan.project_region[sl]
        own = np.sqrt(max(0.0, 1.0 - wp**2 - wr**2))
        latent = wp * zp[:, i, None] + wr * zr[:, reg] + own * e[:, sl]
        is_late = latent > special.ndtri(provider.delivery_delay_months.p_on_time)
        factor = _factor(provider.delay_factor, zp[:, i])
        dev[:, sl] = np.where(is_late, late[:, sl], 0.0) * factor[:, None]
    region_factor = np.ones((n, plan.R))
    for r, region in enumerate(priors.regions):
        region_factor[:, r] = _factor(region.delay_factor, zr[:, r])
    dev *= region_factor[:, plan.project_region]
    return _delivery_months(plan, dev, cancelled)


def _draw_events(plan: _Plan, rng: Generator, zm: np.ndarray) -> np.ndarray:
    """Whether each demand event happens, (n, E) bool: w Zm[k] + sqrt(1 - w^2) E >
    ndtri(1 - p), one standard normal E per event and path."""
    n, E = zm.shape[0], plan.event_mw.size
    on = np.zeros((n, E), dtype=bool)
    for i in range(E):
        w = plan.event_loading[i]
        latent = w * zm[:, plan.event_year[i]] + np.sqrt(1.0 - w**2) * rng.standard_normal(n)
        on[:, i] = latent > special.ndtri(1.0 - plan.event_probability[i])
    return on


# --------------------------------------------------------------------------------------
# The stock model on a block of paths
# --------------------------------------------------------------------------------------
def _supply(plan: _Plan, delivery: np.ndarray) -> np.ndarray:
    """S, time-major (T, n, R), from delivery months (n, P) (0 = never)."""
    n, P = delivery.shape
    T, R = plan.T, plan.R
    arrivals = np.zeros(T * n * R)
    if P:
        ok = (delivery >= 1) & (delivery <= T)
        path = np.broadcast_to(np.arange(n)[:, None], (n, P))[ok]
        reg = np.broadcast_to(plan.project_region[None, :], (n, P))[ok]
        cap = np.broadcast_to(plan.project_capacity[None, :], (n, P))[ok]
        flat = ((delivery[ok] - 1) * n + path) * R + reg
        arrivals = np.bincount(flat, weights=cap, minlength=T * n * R)
        arrivals = arrivals.astype(np.float64, copy=False)  # int64 when nothing arrives
    supply = np.cumsum(arrivals.reshape(T, n, R), axis=0)
    supply += plan.s0
    return supply


def _add_at(out: np.ndarray, month: np.ndarray, region: np.ndarray, mw: np.ndarray) -> None:
    """out[month - 1, path, region] += mw for (n, J) arrays month, mw (month 1..T kept)."""
    T, n, R = out.shape
    ok = (month >= 1) & (month <= T) & (mw != 0)
    if not ok.any():
        return
    path = np.broadcast_to(np.arange(n)[:, None], month.shape)[ok]
    reg = np.broadcast_to(region, month.shape)[ok]
    flat = ((month[ok] - 1) * n + path) * R + reg
    out += np.bincount(flat, weights=mw[ok], minlength=T * n * R).reshape(T, n, R)


def _firm_and_deferred(
    plan: _Plan, delivery: np.ndarray, events: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Firm demand and deferred demand, time-major (T, n, R), from delivery months (n, P)
    (0 = cancelled) and event flags (n, E)."""
    n, T, R = delivery.shape[0], plan.T, plan.R
    firm = np.zeros((T, n, R))
    deferred = np.zeros((T, n, R))
    x = np.broadcast_to(plan.project_prelease_mw, delivery.shape)
    if np.any(plan.project_prelease_mw > 0):
        s = np.broadcast_to(plan.project_month, delivery.shape)
        cancelled = delivery == 0
        # a delivered hall's tenant moves in at delivery; a cancelled hall's at its schedule
        _add_at(firm, np.where(cancelled, s, delivery), plan.project_region, x)
        t = np.arange(1, T + 1)[:, None]
        for j in np.nonzero(plan.project_prelease_mw > 0)[0]:
            waiting = (t >= s[:, j]) & (t < delivery[:, j]) & ~cancelled[:, j]  # (T, n)
            deferred[:, :, plan.project_region[j]] += plan.project_prelease_mw[j] * waiting
    if events.shape[1]:
        month = np.broadcast_to(plan.event_month, events.shape)
        mw = np.where(events, plan.event_mw, 0.0)
        _add_at(firm, month, plan.event_region, mw)
    return firm, deferred


def _increments(plan: _Plan, m: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Monthly requested increments, time-major (T, n, R):
    inc[t, :, r] = sum_b M[:, b, year(t)] ratio[:, b] nominal[b, r, t]."""
    x = np.ascontiguousarray((m * ratio[:, :, None]).transpose(2, 0, 1))  # (K, n, B)
    w = plan.monthly_nominal  # (B, R, T)
    inc = np.empty((plan.T, m.shape[0], plan.R))
    for t, k in enumerate(plan.month_year_index):
        np.matmul(x[k], w[:, :, t], out=inc[t])
    return inc


def _occupancy(served: np.ndarray, supply: np.ndarray, req: np.ndarray) -> np.ndarray:
    pos = supply > 0
    occ = np.where(req > 0, 1.0, 0.0)
    np.divide(served, supply, out=occ, where=pos)
    return occ


def _serve(plan: _Plan, supply: np.ndarray, inc: np.ndarray) -> dict[str, np.ndarray]:
    """Run the monthly serving recursion on time-major (T, n, R) supply and increments.

    Returns the four per-path outputs time-major, (T, n, R + 1) (national last).
    """
    T, n, R = inc.shape
    f = plan.spill
    spill = bool(np.any(f > 0))
    shape = (T, n, R + 1)
    occ, dem, sup, unm = (np.empty(shape) for _ in range(4))
    full = np.zeros(shape, dtype=bool)  # held at the cap: occupancy max_occupancy exactly
    req_tot = np.empty((T, n))
    sup[:, :, :R] = supply
    sup[:, :, R] = supply @ np.ones(R)
    req = np.broadcast_to(plan.d0, (n, R)).copy()
    ones = np.ones(R)
    for t in range(T):
        req += inc[t]
        s = supply[t]
        cap = plan.max_occupancy * s
        served = np.minimum(req, cap)
        unmet = req - served
        filled = np.zeros_like(served, dtype=bool)
        if spill:
            # offer[r, r'] = f[r, r'] unmet[r]; inflow[r'] = sum_r offer[r, r'];
            # moved[r, r'] = offer[r, r'] accept[r'] -- written with matmuls (fast for small R)
            room = cap - served
            inflow = unmet @ f
            accept = np.zeros_like(inflow)
            np.divide(room, inflow, out=accept, where=inflow > 0)
            np.minimum(accept, 1.0, out=accept)
            out_ = unmet * (accept @ f.T)  # sum_r' moved[r, r']
            in_ = accept * inflow  # sum_r moved[r, r']
            req += in_ - out_
            unmet -= out_
            np.maximum(unmet, 0.0, out=unmet)  # shares summing to 1 + rounding: never < 0 MW
            served += in_
            filled = (inflow > 0) & (accept < 1.0)  # offered more than its room: full
        dem[t, :, :R] = served
        unm[t, :, :R] = unmet
        occ[t, :, :R] = _occupancy(served, s, req)
        req_tot[t] = req @ ones
        at_cap = (served >= cap) | filled  # supply 0: serves 0 = its cap
        full[t, :, :R] = at_cap & (s > 0)
        full[t, :, R] = at_cap.all(axis=1) & (s.sum(axis=1) > 0)
    dem[:, :, R] = dem[:, :, :R] @ np.ones(R)
    unm[:, :, R] = unm[:, :, :R] @ np.ones(R)
    occ[:, :, R] = _occupancy(dem[:, :, R], sup[:, :, R], req_tot)
    # a cell held at the cap has occupancy exactly max_occupancy ((m S) / S can round below)
    occ[full] = plan.max_occupancy
    shortage = occ >= plan.threshold
    return {
        "occupancy": occ,
        "demand": dem,
        "supply": sup,
        "unmet_demand": unm,
        "shortage": shortage,
    }


def _base_shortage(plan: _Plan) -> np.ndarray:
    served = np.minimum(plan.d0, plan.max_occupancy * plan.s0)
    s = np.append(plan.s0, plan.s0.sum())
    d = np.append(plan.d0, plan.d0.sum())
    sv = np.append(served, served.sum())
    occ = _occupancy(sv, s, d)
    # a region held at the cap has occupancy max_occupancy exactly, however (m s) / s rounds
    # (national: every region held)
    held = (plan.s0 > 0) & (plan.d0 >= plan.max_occupancy * plan.s0)
    held = np.append(held, held.all() and plan.s0.sum() > 0)
    occ[held] = plan.max_occupancy
    return occ >= plan.threshold


def _turning_month_year_end(
    shortage: np.ndarray, december: np.ndarray, at_base: np.ndarray
) -> np.ndarray:
    """First December (1-based month) in shortage; 0 = none. (T, n, R1) -> (n, R1) int64."""
    short = shortage & december[:, None, None]
    out = np.where(short.any(axis=0), np.argmax(short, axis=0) + 1, 0).astype(np.int64)
    out[:, at_base] = 1
    return out


def _turning_month(shortage: np.ndarray, sustain: int, at_base: np.ndarray) -> np.ndarray:
    """First month (1-based) starting a run of ``sustain`` shortage months; 0 = none.

    ``shortage`` is time-major (T, n, R + 1); returns (n, R + 1) int64.
    """
    T, n, R1 = shortage.shape
    out = np.zeros((n, R1), dtype=np.int64)
    if sustain <= T:
        c = np.zeros((T + 1, n, R1), dtype=np.int32)
        np.cumsum(shortage, axis=0, out=c[1:])
        run = (c[sustain:] - c[: T - sustain + 1]) == sustain  # run starting at t, (T-s+1, ...)
        first = np.argmax(run, axis=0)
        out = np.where(run.any(axis=0), first + 1, 0).astype(np.int64)
    out[:, at_base] = 1
    return out


def _block(
    plan: _Plan, priors: Priors, rng: Generator, n: int, point: bool
) -> dict[str, np.ndarray]:
    """One block of n paths; the four path outputs are time-major (T, n, R + 1)."""
    if point:
        m = np.ones((n, len(plan.multipliers), plan.n_years))
        ratio = np.ones((n, len(plan.shares)))
        delivery = np.broadcast_to(plan.project_month, (n, plan.project_month.size))
        delivery = np.maximum(1, delivery)
        events = np.broadcast_to(plan.event_probability > 0.5, (n, plan.event_mw.size))
    else:
        m, ratio, zm = _draw_demand_and_market(plan, rng, n)
        delivery = _draw_delivery(plan, priors, rng, n)
        events = _draw_events(plan, rng, zm)
    supply = _supply(plan, delivery)
    firm, deferred = _firm_and_deferred(plan, delivery, events)
    out = _serve(plan, supply, _increments(plan, m, ratio) + firm)
    dfr = np.empty((plan.T, n, plan.R + 1))
    dfr[:, :, : plan.R] = deferred
    dfr[:, :, plan.R] = deferred @ np.ones(plan.R)
    out["deferred_demand"] = dfr
    at_base = _base_shortage(plan)
    if plan.year_end:
        out["turning_month"] = _turning_month_year_end(out["shortage"], plan.december, at_base)
    else:
        out["turning_month"] = _turning_month(out["shortage"], plan.sustain, at_base)
    out["in_shortage_at_base"] = at_base
    return out


def _linear_quantiles(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(x, q, axis=-1).T`` (default "linear" method) for a 2-D array.

    Sorts ``x`` in place (a float32 sort is far faster than ``np.quantile``'s partition),
    then interpolates in float64 exactly as numpy does: virtual index ``(n - 1) q``,
    ``a + (b - a) g``, or ``b - (b - a) (1 - g)`` when ``g >= 0.5``.
    """
    x.sort(axis=-1)
    n = x.shape[-1]
    virtual = n * q + (1.0 - q) - 1.0  # numpy's _compute_virtual_index with alpha = beta = 1
    virtual = np.clip(virtual, 0, n - 1)
    lo = np.floor(virtual).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    g = virtual - lo
    a = x[:, lo].astype(np.float64)
    b = x[:, hi].astype(np.float64)
    d = b - a
    return np.where(g >= 0.5, b - d * (1.0 - g), a + d * g)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------
def reference_paths(
    priors: Priors, n_paths: int, seed: int, point: bool = False
) -> dict[str, np.ndarray]:
    """Simulate ``n_paths`` paths and return every per-path array (one block, no chunking).

    Returns a dict with ``occupancy`` (fraction), ``demand`` (served, MW), ``supply`` (MW),
    ``unmet_demand`` (MW), ``deferred_demand`` (MW, pre-leases waiting for a late hall),
    each float64 of shape ``(n_paths, n_regions + 1, T)`` (regions in
    file order, ``national`` last); ``turning_month`` int64 ``(n_paths, n_regions + 1)``
    (1..T, 0 = no turning point within the horizon); ``shortage`` bool, the month's
    shortage flag, shaped like ``occupancy``; ``in_shortage_at_base`` bool
    ``(n_regions + 1,)``.

    Memory grows linearly with ``n_paths``: about ``n_paths * (R + 1) * T * 8`` bytes per
    output array plus a few times that in temporaries (e.g. ~60 MB per 10^4 paths for 5
    regions and 48 months). Use :func:`reference_simulate` for large runs.

    Randomness: ``Generator(PCG64(seed))``; ``point=True`` sets every input to its nominal
    value (all paths identical, no draws).
    """
    plan = _plan(priors)
    rng = Generator(PCG64(seed))
    out = _block(plan, priors, rng, int(n_paths), point)
    for v in (*_PATH_VARS, "shortage"):
        out[v] = np.ascontiguousarray(out[v].transpose(1, 2, 0))
    return out


def reference_simulate(
    priors: Priors,
    n_paths: int,
    seed: int,
    quantiles=DEFAULT_QUANTILES,
    levels=DEFAULT_LEVELS,
    chunk: int = 20_000,
    quantile_vars: bool = True,
    point: bool = False,
) -> xr.Dataset:
    """Simulate ``n_paths`` paths in chunks of ``chunk`` and summarise them as a Dataset.

    Variables: ``occupancy``, ``demand``, ``supply``, ``unmet_demand``, ``deferred_demand``
    (region, time, quantile; exact ``np.quantile`` default "linear" method over all paths);
    ``occupancy_exceedance`` (region, time, level) = P(O >= level); ``occupancy_mean``;
    ``p_shortage`` = P(O >= threshold) and ``p_shortage_se`` = sqrt(p (1 - p) / n)
    (region, time); ``turning_point_cdf`` (region, time) = P(turning month <= t);
    ``p_no_turning_point`` (region); ``in_shortage_at_base`` (region);
    ``p_shortage_year_end``, ``p_shortage_any_month``, ``p_shortage_all_months`` (region,
    year): shortage in the year's last month within the horizon, in some month of the year,
    in every month of the year (months within the horizon).

    Memory: everything except the quantiles is accumulated in counts, so it does not grow
    with ``n_paths``. Exact quantiles need every path: the five quantile variables are kept
    as float32 (so quantiles carry float32 rounding, relative error ~6e-8), i.e.
    ``5 * n_paths * (R + 1) * T * 4`` bytes (~4.8 GB at 10^6 paths, 5 regions, 48 months;
    ~1 GB per variable), plus one region's slice copied at a time while computing them.
    ``quantile_vars=False`` skips them (and their memory) entirely.

    Randomness: a single ``Generator(PCG64(seed))`` consumed chunk after chunk, so the result
    depends on ``chunk``; with ``chunk >= n_paths`` it equals :func:`reference_paths` with
    the same seed.
    """
    plan = _plan(priors)
    rng = Generator(PCG64(seed))
    n_paths = int(n_paths)
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    chunk = max(1, int(chunk))
    quantiles = np.asarray(quantiles, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    R1, T = plan.R + 1, plan.T

    store = None
    if quantile_vars:
        store = {v: np.empty((R1, T, n_paths), dtype=np.float32) for v in _PATH_VARS}
    exceed = np.zeros((R1, T, levels.size), dtype=np.int64)
    occ_sum = np.zeros((R1, T))
    short = np.zeros((R1, T), dtype=np.int64)
    turn_hist = np.zeros((R1, T + 1), dtype=np.int64)  # column 0: none
    K = plan.n_years
    kidx = plan.month_year_index
    year_counts = {w: np.zeros((R1, K), dtype=np.int64) for w in ("year_end", "any", "all")}
    at_base = _base_shortage(plan)

    done = 0
    while done < n_paths:
        n = min(chunk, n_paths - done)
        out = _block(plan, priors, rng, n, point)
        occ = out["occupancy"]
        if store is not None:
            for v in _PATH_VARS:
                store[v][:, :, done : done + n] = out[v].transpose(2, 0, 1)
        for j, level in enumerate(levels):
            exceed[:, :, j] += np.count_nonzero(occ >= level, axis=1).T
        occ_sum += occ.sum(axis=1).T
        short += np.count_nonzero(out["shortage"], axis=1).T
        for k in range(K):
            months = out["shortage"][kidx == k]  # (months of year k in the horizon, n, R1)
            year_counts["year_end"][:, k] += np.count_nonzero(months[-1], axis=0)
            year_counts["any"][:, k] += np.count_nonzero(months.any(axis=0), axis=0)
            year_counts["all"][:, k] += np.count_nonzero(months.all(axis=0), axis=0)
        tm = out["turning_month"]
        for r in range(R1):
            turn_hist[r] += np.bincount(tm[:, r], minlength=T + 1)
        done += n

    p = short / n_paths
    coords = {
        REGION: np.array(list(plan.region_ids) + ["national"], dtype=object).astype(str),
        TIME: priors.month_ends,
    }
    data = {
        "occupancy_exceedance": ((REGION, TIME, LEVEL), exceed / n_paths),
        "occupancy_mean": ((REGION, TIME), occ_sum / n_paths),
        "p_shortage": ((REGION, TIME), p),
        "p_shortage_se": ((REGION, TIME), np.sqrt(p * (1.0 - p) / n_paths)),
        "turning_point_cdf": (
            (REGION, TIME),
            np.cumsum(turn_hist[:, 1:], axis=1) / n_paths,
        ),
        "p_no_turning_point": ((REGION,), turn_hist[:, 0] / n_paths),
        "in_shortage_at_base": ((REGION,), at_base),
        "p_shortage_year_end": ((REGION, YEAR), year_counts["year_end"] / n_paths),
        "p_shortage_any_month": ((REGION, YEAR), year_counts["any"] / n_paths),
        "p_shortage_all_months": ((REGION, YEAR), year_counts["all"] / n_paths),
    }
    coords[YEAR] = np.array(priors.calendar_years, dtype=np.int64)
    coords[LEVEL] = levels
    if store is not None:
        coords[QUANTILE] = quantiles
        for v in _PATH_VARS:
            qv = np.empty((R1, T, quantiles.size))
            for r in range(R1):
                qv[r] = _linear_quantiles(store[v][r], quantiles)
            data[v] = ((REGION, TIME, QUANTILE), qv)
        store = None
    ds = xr.Dataset(data, coords=coords)
    order = [v for v in (*_PATH_VARS, *list(data)) if v in ds.data_vars]
    ds = ds[list(dict.fromkeys(order))]
    ds.attrs.update(
        {
            "n_paths": n_paths,
            "seed": seed,
            "implementation": "numpy reference",
            "threshold": plan.threshold,
            "max_occupancy": plan.max_occupancy,
            "sustain_months": plan.sustain,
            "turning_point_rule": "year_end" if plan.year_end else "first_month",
            "priors_name": priors.name,
            "priors_sha256": priors.sha256,
            "point": int(point),
        }
    )
    return ds
