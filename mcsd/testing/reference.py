"""A plain, vectorized NumPy/SciPy implementation of the whole mcsd model.

This is the *reference*: obvious code, independent of the numba engine, shared by the
tests (statistical agreement within Monte Carlo standard errors) and the benchmarks (speed
comparison). It is correct first and reasonably fast second: it vectorizes over paths and
processes them in chunks to bound memory. All randomness comes from
``numpy.random.Generator(PCG64(seed))`` through ``scipy.stats`` ``rvs`` / ``ppf``, so it is
independent of the engine's streams; agreement with the engine is statistical only.

The model (see ``priors/README.md`` and ``MODEL.md``), with the conventions fixed here:

* Months ``t = 1..T`` after the base (``T = priors.n_months``); month ``t`` is the period
  ``base_month + t``. Regions are ``priors.regions`` in file order plus ``"national"`` last.
* Demand. For each calendar year touched by months ``1..T`` (index ``k``) and buyer ``b``:
  ``e[b,k] = loading_b Zm[k] + sqrt(1 - loading_b^2) Zb[b,k]``, ``z[b,0] = e[b,0]``,
  ``z[b,k] = phi_b z[b,k-1] + sqrt(1 - phi_b^2) e[b,k]``, ``M[b,k] = F_b^-1(Phi(z[b,k]))``.
  ``share_b`` is drawn once per buyer and path; ``ratio_b = share_b / nominal_b``. The
  increment of region ``r`` in month ``t`` (year ``y``, month-of-year ``m``) is
  ``sum_b increments_mw[r][y] * w_b[m] * M[b,y] * ratio_b`` with ``w_b`` the normalised
  monthly profile (1/12 when None). A year partly outside ``1..T`` uses only its months inside.
* Supply. Project month ``s = month_index(scheduled_month)``; cancelled with the provider's
  probability; deviation ``dev = 0`` with probability ``p_on_time`` else a ``late`` draw,
  times the provider factor (one per provider and path) times the regional factor (one per
  region and path, 1 when None); ``delivery = max(1, s + floor(dev + 0.5))``, with
  ``dev + 0.5`` clamped to ``[-2**52, 2**52]`` first (NaN to the late end). Delivered
  projects with ``delivery <= T`` count from month ``delivery`` on.
* Serving, month by month: ``req += increment``; ``cap = max_occupancy * S``;
  ``served = min(req, cap)``; ``unmet = req - served``; spillover
  ``offer[r,r'] = f[r,r'] * unmet[r]``, ``room = cap - served`` (before any moves),
  ``accept[r'] = min(1, room[r'] / sum_r offer[r,r'])`` (0 when nothing is offered),
  ``moved = offer * accept``; moved demand leaves the origin's ``req`` and ``unmet`` and
  joins the destination's ``req`` and ``served``. One hop per month; moved demand stays moved.
* Outputs: ``supply`` S, ``demand`` = served, ``unmet_demand`` = unmet,
  ``occupancy`` = served / S, and when S == 0: 1.0 if req > 0 else 0.0 (req after the
  month's moves). ``national`` sums S, served, unmet and req over regions and applies the
  same rule.
* Shortage: occupancy >= threshold, or held at the cap when threshold <= max_occupancy
  (served >= cap, or spillover offered more than its room; supply > 0; national: every
  region at its cap), since served / S can round below max_occupancy. Turning month: the
  first ``t`` with months ``t..t+sustain-1`` all in shortage and ``t + sustain - 1 <= T``;
  0 (none, censored) otherwise. ``in_shortage_at_base``:
  ``min(D0, max_occupancy S0) / S0 >= threshold`` (S0 == 0: 1.0 if D0 > 0 else 0.0;
  national from sums); a flagged region's turning month is 1 on every path.
* Point mode: M = 1, ratio = 1, no deviation, no cancellation (every path identical).

Draw order inside a chunk of ``n`` paths (one generator, consumed in this order): ``Zm``
``(n, K)``, ``Zb`` ``(n, B, K)``, each buyer's share ``(n,)``; then per provider in file
order: its factor ``(n,)``, cancellation uniforms, on-time uniforms and late draws
``(n, n_projects)``; then each region's factor ``(n,)`` (regions with a factor only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from numpy.random import PCG64, Generator
from scipy import special

from mcsd.dims import LEVEL, QUANTILE, REGION, TIME
from mcsd.priors.model import Distribution, Priors
from mcsd.results.variables import DEFAULT_LEVELS, DEFAULT_QUANTILES, PATH_VARS

__all__ = ["reference_paths", "reference_simulate", "DEFAULT_QUANTILES", "DEFAULT_LEVELS"]

# the engine's defaults and variable names (names and settings, not model code)
_PATH_VARS = PATH_VARS


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
            for t in range(T):
                inc = yearly.get(periods[t].year, 0.0)
                nominal[b, ridx[region], t] = inc * w[moy[t] - 1]

    slices, preg, pcap, pmon = [], [], [], []
    start = 0
    for provider in priors.providers:
        for p in provider.projects:
            preg.append(ridx[p.region])
            pcap.append(float(p.capacity_mw))
            pmon.append(priors.month_index(p.scheduled_month))
        slices.append(slice(start, start + len(provider.projects)))
        start += len(provider.projects)

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
    return z


def _draw_demand(plan: _Plan, rng: Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers M (n, B, K) and third-party share ratios (n, B)."""
    z = _latent_demand(plan, rng, n)
    m = np.empty_like(z)
    for b, dist in enumerate(plan.multipliers):
        m[:, b, :] = _gaussian_to_marginal(dist, z[:, b, :])
    ratio = np.empty((n, len(plan.shares)))
    for b, dist in enumerate(plan.shares):
        ratio[:, b] = dist.frozen().rvs(size=n, random_state=rng) / plan.share_nominal[b]
    return m, ratio


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
    shift = _round_half_up(dev).astype(np.int64)
    delivery = np.maximum(1, plan.project_month[None, :] + shift)
    delivery[cancelled] = 0
    return delivery


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
    full = np.zeros(shape, dtype=bool)  # held at the cap: short at any threshold <= it
    cap_counts = plan.threshold <= plan.max_occupancy
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
        if cap_counts:
            at_cap = (served >= cap) | filled  # supply 0: serves 0 = its cap
            full[t, :, :R] = at_cap & (s > 0)
            full[t, :, R] = at_cap.all(axis=1) & (s.sum(axis=1) > 0)
    dem[:, :, R] = dem[:, :, :R] @ np.ones(R)
    unm[:, :, R] = unm[:, :, :R] @ np.ones(R)
    occ[:, :, R] = _occupancy(dem[:, :, R], sup[:, :, R], req_tot)
    shortage = (occ >= plan.threshold) | full
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
    # a region held at the cap is short whenever threshold <= max_occupancy (national:
    # every region held), however (m s) / s rounds
    held = (plan.s0 > 0) & (plan.d0 >= plan.max_occupancy * plan.s0)
    held = np.append(held, held.all())
    return (occ >= plan.threshold) | (held & (plan.threshold <= plan.max_occupancy))


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
    else:
        m, ratio = _draw_demand(plan, rng, n)
        delivery = _draw_delivery(plan, priors, rng, n)
    supply = _supply(plan, delivery)
    out = _serve(plan, supply, _increments(plan, m, ratio))
    at_base = _base_shortage(plan)
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
    ``unmet_demand`` (MW), each float64 of shape ``(n_paths, n_regions + 1, T)`` (regions in
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

    Variables: ``occupancy``, ``demand``, ``supply``, ``unmet_demand`` (region, time,
    quantile; exact ``np.quantile`` default "linear" method over all paths);
    ``occupancy_exceedance`` (region, time, level) = P(O >= level); ``occupancy_mean``;
    ``p_shortage`` = P(O >= threshold) and ``p_shortage_se`` = sqrt(p (1 - p) / n)
    (region, time); ``turning_point_cdf`` (region, time) = P(turning month <= t);
    ``p_no_turning_point`` (region); ``in_shortage_at_base`` (region).

    Memory: everything except the quantiles is accumulated in counts, so it does not grow
    with ``n_paths``. Exact quantiles need every path: the four quantile variables are kept
    as float32 (so quantiles carry float32 rounding, relative error ~6e-8), i.e.
    ``4 * n_paths * (R + 1) * T * 4`` bytes (~3.8 GB at 10^6 paths, 5 regions, 48 months;
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
    }
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
            "priors_name": priors.name,
            "priors_sha256": priors.sha256,
            "point": int(point),
        }
    )
    return ds
