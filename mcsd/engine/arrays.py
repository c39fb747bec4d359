"""Compile validated ``Priors`` into the plain arrays the numba kernels take.

Nothing here is random: the arrays are a pure function of the priors. Slot hashes name every
random draw by (input group, item id, draw number), so two priors files that share a buyer,
provider or project id draw the same random numbers for it (common random numbers).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import special

from mcsd.kernels.layout import GROUPS, MAX_FAST_GAMMA_SHAPE, N_PARAMS, NO_DIST
from mcsd.priors import distributions
from mcsd.priors.model import Distribution, Priors
from mcsd.results.histograms import StockBounds

__all__ = ["GROUPS", "ModelArrays", "build_model_arrays", "seed_key", "slot_hash"]


class ModelArrays(NamedTuple):
    """Everything a kernel needs, as arrays. Shapes: R regions, T months, K calendar years,
    B buyers, P providers, J projects, NP = N_PARAMS."""

    n_regions: int
    n_months: int
    n_years: int
    threshold: float
    max_occupancy: float
    sustain: int
    demand_stock_mw: np.ndarray  # (R,)
    supply_stock_mw: np.ndarray  # (R,)
    month_year: np.ndarray  # (T,) int64: calendar-year index k of month t
    spillover: np.ndarray  # (R, R)
    has_spillover: bool
    in_shortage_at_base: np.ndarray  # (R+1,) bool, national last
    # buyers
    market_loading: np.ndarray  # (B,)
    persistence: np.ndarray  # (B,)
    mult_code: np.ndarray  # (B,) int64
    mult_params: np.ndarray  # (B, NP)
    share_code: np.ndarray  # (B,)
    share_params: np.ndarray  # (B, NP)
    share_nominal: np.ndarray  # (B,)
    increments_month_mw: np.ndarray  # (B, R, T) nominal monthly increments
    increments_year_mw: np.ndarray  # (B, R, K) nominal yearly increments
    profile_group: np.ndarray  # (B,) int64: index of the buyer's monthly profile in profiles
    profiles: np.ndarray  # (G, 12) distinct normalised monthly profiles
    month_of_year: np.ndarray  # (T,) int64: 0 = January
    own_loading: np.ndarray  # (B,) sqrt(1 - market_loading**2)
    innovation: np.ndarray  # (B,) sqrt(1 - persistence**2)
    inc_row_buyer: np.ndarray  # (NR,) int64: buyer of each (buyer, region) row with increments
    inc_row_region: np.ndarray  # (NR,) int64: its region (rows in buyer-major order)
    # providers and projects
    cancel_prob: np.ndarray  # (P,)
    p_on_time: np.ndarray  # (P,)
    late_code: np.ndarray  # (P,)
    late_params: np.ndarray  # (P, NP)
    late_int_shape: np.ndarray  # (P,) int64: a for the fast gamma path, else 0
    prov_factor_code: np.ndarray  # (P,) NO_DIST when absent
    prov_factor_params: np.ndarray  # (P, NP)
    region_factor_code: np.ndarray  # (R,)
    region_factor_params: np.ndarray  # (R, NP)
    proj_provider: np.ndarray  # (J,) int64
    proj_region: np.ndarray  # (J,) int64
    proj_capacity_mw: np.ndarray  # (J,)
    proj_scheduled: np.ndarray  # (J,) int64 month index (1 = first month after base)
    # slot hashes (uint64)
    h_market: np.ndarray  # (K,)
    h_buyer: np.ndarray  # (B, K)
    h_share: np.ndarray  # (B,)
    h_prov_factor: np.ndarray  # (P,)
    h_region_factor: np.ndarray  # (R,)
    h_cancel: np.ndarray  # (J,)
    h_on_time: np.ndarray  # (J,)
    h_late: np.ndarray  # (J, MAX_FAST_GAMMA_SHAPE)
    # market mechanics (each neutral by default: the flags are False and nothing changes)
    turning_year_end: bool  # turning point = first December in shortage
    has_shared_lateness: bool
    late_provider_loading: np.ndarray  # (P,) wp
    late_region_loading: np.ndarray  # (P,) wr
    late_own_loading: np.ndarray  # (P,) sqrt(1 - wp**2 - wr**2)
    late_threshold: np.ndarray  # (P,) ndtri(p_on_time): late iff the latent normal exceeds it
    has_share_loading: bool
    share_market_loading: np.ndarray  # (B,) rho
    share_own_loading: np.ndarray  # (B,) sqrt(1 - rho**2)
    zbar_scale: float  # 1 / sqrt(K): the mean market factor's normalisation
    has_pre_lease: bool
    pre_lease_mw: np.ndarray  # (J,) firm MW pre-leased in each hall, 0 when none
    has_firm: bool  # pre-leases or demand events: firm requests outside the increments
    event_region: np.ndarray  # (E,) int64
    event_month: np.ndarray  # (E,) int64, 1-based
    event_year: np.ndarray  # (E,) int64 calendar-year index k of the event month
    event_mw: np.ndarray  # (E,)
    event_loading: np.ndarray  # (E,) w
    event_own_loading: np.ndarray  # (E,) sqrt(1 - w**2)
    event_threshold: np.ndarray  # (E,) ndtri(1 - p): the event happens above it
    event_nominal: np.ndarray  # (E,) float64 1.0 when p > 0.5 (point mode) else 0.0
    h_event: np.ndarray  # (E,)
    # shared lateness in uniform space: the (provider, region) pairs that have halls
    late_pair: np.ndarray  # (J,) int64: the hall's pair, an index into late_pair_*
    late_pair_provider: np.ndarray  # (Q,) int64
    late_pair_region: np.ndarray  # (Q,) int64
    # observed project facts (nowcast): -1 free, 0 cancelled, d >= 1 opened in month d
    has_pins: bool
    pin_delivery: np.ndarray  # (J,) int64


@functools.lru_cache(maxsize=1 << 16)  # a run hashes each draw's name again; ~4 us each
def slot_hash(*parts: object) -> np.uint64:
    """Stable 64-bit hash of a draw's name, e.g. ``("buyer", "bytedance", 2026)``."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return np.uint64(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little"))


def seed_key(seed: int) -> np.uint64:
    """The uint64 key of a run's seed (any Python int)."""
    return slot_hash("mcsd-seed", int(seed))


def dist_params(dist: Distribution) -> tuple[int, np.ndarray]:
    """Kernel code and (N_PARAMS,) parameter vector of ``dist`` (from the registry:
    ``distributions.kernel_parameters``)."""
    return distributions.kernel_parameters(dist)


def _support_lower(dist: Distribution) -> float:
    return distributions.support(dist)[0]


def build_model_arrays(priors: Priors, pins: Mapping[str, int] | None = None) -> ModelArrays:
    """Compile ``priors`` into kernel arrays (see ``ModelArrays``). ``pins``: project id ->
    delivery month index (0 = cancelled, d >= 1 = opened in month d after the base) of the
    projects an observation pins (``mcsd.priors.observations``)."""
    # the loader refuses these; priors built in code reach here unchecked
    if priors.turning_point not in ("first_month", "year_end"):
        raise ValueError(
            f"turning_point must be 'first_month' or 'year_end', got {priors.turning_point!r}"
        )
    if priors.turning_point == "year_end" and priors.sustain_months != 1:
        raise ValueError(
            "turning_point 'year_end' reads one December: sustain_months must be 1, got "
            f"{priors.sustain_months}"
        )
    regions = priors.region_ids
    r_index = {r: i for i, r in enumerate(regions)}
    R, T = len(regions), priors.n_months
    years = list(priors.calendar_years)
    K = len(years)
    start = pd.Period(priors.base_month, "M") + 1
    months = pd.period_range(start, periods=T, freq="M")
    month_year = np.array([years.index(int(y)) for y in months.year], dtype=np.int64)
    month_of_year = np.array(months.month, dtype=np.int64) - 1

    d0 = np.array([r.demand_stock_mw for r in priors.regions], dtype=np.float64)
    s0 = np.array([r.supply_stock_mw for r in priors.regions], dtype=np.float64)
    spill = priors.spillover_matrix()

    base_flags = np.zeros(R + 1, dtype=np.bool_)
    # held at the cap counts as short whenever threshold <= max_occupancy, however
    # (m s) / s rounds (the kernels' rule, ``fold.fold_occupancy``); national: every region held
    cap_short = priors.threshold <= priors.max_occupancy
    at_cap = (s0 > 0) & (d0 >= priors.max_occupancy * s0)
    for i in range(R + 1):
        d = d0.sum() if i == R else d0[i]
        s = s0.sum() if i == R else s0[i]
        occ = (min(d, priors.max_occupancy * s) / s) if s > 0 else (1.0 if d > 0 else 0.0)
        held = bool(at_cap.all()) if i == R else bool(at_cap[i])
        base_flags[i] = occ >= priors.threshold or (cap_short and held)

    B = len(priors.buyers)
    loading = np.array([b.market_loading for b in priors.buyers], dtype=np.float64)
    persistence = np.array([b.persistence for b in priors.buyers], dtype=np.float64)
    mult_code = np.zeros(B, dtype=np.int64)
    mult_params = np.zeros((B, N_PARAMS))
    share_code = np.zeros(B, dtype=np.int64)
    share_params = np.zeros((B, N_PARAMS))
    share_nominal = np.array([b.third_party_share_nominal for b in priors.buyers])
    inc_month = np.zeros((B, R, T))
    inc_year = np.zeros((B, R, K))
    profiles: list[np.ndarray] = []
    profile_group = np.zeros(B, dtype=np.int64)
    for bi, b in enumerate(priors.buyers):
        mult_code[bi], mult_params[bi] = dist_params(b.demand_multiplier)
        share_code[bi], share_params[bi] = dist_params(b.third_party_share)
        profile = (
            np.full(12, 1.0 / 12)
            if b.monthly_profile is None
            else np.asarray(b.monthly_profile, dtype=np.float64)
        )
        profile = profile / profile.sum()
        for g, known in enumerate(profiles):
            if np.array_equal(known, profile):
                profile_group[bi] = g
                break
        else:
            profile_group[bi] = len(profiles)
            profiles.append(profile)
        for region, by_year in b.increments_mw.items():
            ri = r_index[region]
            for k, y in enumerate(years):
                inc_year[bi, ri, k] = by_year.get(y, 0.0)
            for t in range(T):
                inc = by_year.get(years[month_year[t]], 0.0)
                inc_month[bi, ri, t] = inc * profile[month_of_year[t]]

    # all-zero (buyer, region) rows add nothing: the request kernel skips them
    rows = np.argwhere(np.any(inc_year != 0.0, axis=2)).astype(np.int64).reshape(-1, 2)

    P = len(priors.providers)
    cancel = np.zeros(P)
    p_on = np.zeros(P)
    late_code = np.zeros(P, dtype=np.int64)
    late_params = np.zeros((P, N_PARAMS))
    late_int = np.zeros(P, dtype=np.int64)
    pf_code = np.full(P, NO_DIST, dtype=np.int64)
    pf_params = np.zeros((P, N_PARAMS))
    projects = []
    for pi, prov in enumerate(priors.providers):
        cancel[pi] = prov.cancellation_probability
        p_on[pi] = prov.delivery_delay_months.p_on_time
        late = prov.delivery_delay_months.late
        late_code[pi], late_params[pi] = dist_params(late)
        a = late_params[pi, 0]
        if (
            late.name == "gamma"
            and late_params[pi, 2] == 0.0
            and a == math.floor(a)
            and 1 <= a <= MAX_FAST_GAMMA_SHAPE
        ):
            late_int[pi] = int(a)
        if prov.delay_factor is not None:
            pf_code[pi], pf_params[pi] = dist_params(prov.delay_factor)
        for proj in prov.projects:
            projects.append((pi, proj))
    rf_code = np.full(R, NO_DIST, dtype=np.int64)
    rf_params = np.zeros((R, N_PARAMS))
    for ri, reg in enumerate(priors.regions):
        if reg.delay_factor is not None:
            rf_code[ri], rf_params[ri] = dist_params(reg.delay_factor)

    J = len(projects)
    pre_lease = np.array([p.pre_lease_mw for _, p in projects], dtype=np.float64).reshape(J)
    buyer_ids = [b.id for b in priors.buyers]
    for _, proj in projects:
        if proj.pre_lease_buyer is not None and proj.pre_lease_mw > 0:
            # the firm part leaves the scaled, phased increment of its region and year
            k = years.index(int(proj.scheduled_month[:4]))
            bi = buyer_ids.index(proj.pre_lease_buyer)
            inc_year[bi, r_index[proj.region], k] -= proj.pre_lease_mw
    if pre_lease.any():
        np.maximum(inc_year, 0.0, out=inc_year)  # a full pre-lease can leave -1e-13
        weights = np.array(profiles)[profile_group][:, month_of_year]  # (B, T)
        inc_month = inc_year[:, :, month_year] * weights[:, None, :]
    wp = np.array([p.delivery_delay_months.provider_loading for p in priors.providers])
    wr = np.array([p.delivery_delay_months.region_loading for p in priors.providers])
    wp, wr = wp.reshape(P), wr.reshape(P)
    rho = np.array([b.third_party_share_market_loading for b in priors.buyers]).reshape(B)
    events = priors.demand_events
    E = len(events)
    ev_prob = np.array([e.probability for e in events], dtype=np.float64).reshape(E)
    ev_load = np.array([e.market_loading for e in events], dtype=np.float64).reshape(E)
    ev_month = np.array([priors.month_index(e.month) for e in events], np.int64).reshape(E)
    proj_provider = np.array([pi for pi, _ in projects], dtype=np.int64)
    proj_region = np.array([r_index[p.region] for _, p in projects], dtype=np.int64)
    proj_cap = np.array([p.capacity_mw for _, p in projects], dtype=np.float64)
    proj_sched = np.array([priors.month_index(p.scheduled_month) for _, p in projects], np.int64)

    h = slot_hash
    return ModelArrays(
        turning_year_end=priors.turning_point == "year_end",
        has_shared_lateness=bool(np.any(wp != 0.0) or np.any(wr != 0.0)),
        late_provider_loading=wp,
        late_region_loading=wr,
        late_own_loading=np.sqrt(np.maximum(1.0 - wp * wp - wr * wr, 0.0)),
        late_threshold=special.ndtri(p_on),
        has_share_loading=bool(np.any(rho != 0.0)),
        share_market_loading=rho,
        share_own_loading=np.sqrt(1.0 - rho * rho),
        zbar_scale=1.0 / math.sqrt(K),
        has_pre_lease=bool(pre_lease.any()),
        pre_lease_mw=pre_lease,
        has_firm=bool(pre_lease.any()) or E > 0,
        event_region=np.array([r_index[e.region] for e in events], np.int64).reshape(E),
        event_month=ev_month,
        event_year=month_year[ev_month - 1] if E else np.zeros(0, np.int64),
        event_mw=np.array([e.mw for e in events], dtype=np.float64).reshape(E),
        event_loading=ev_load,
        event_own_loading=np.sqrt(1.0 - ev_load * ev_load),
        event_threshold=special.ndtri(1.0 - ev_prob),
        event_nominal=(ev_prob > 0.5).astype(np.float64),
        h_event=np.array([h("event", e.id) for e in events], np.uint64).reshape(E),
        **_late_pairs(proj_provider, proj_region, R),
        has_pins=bool(pins),
        pin_delivery=_pin_array([p.id for _, p in projects], pins),
        n_regions=R,
        n_months=T,
        n_years=K,
        threshold=float(priors.threshold),
        max_occupancy=float(priors.max_occupancy),
        sustain=int(priors.sustain_months),
        demand_stock_mw=d0,
        supply_stock_mw=s0,
        month_year=month_year,
        spillover=spill,
        has_spillover=bool(np.any(spill > 0)),
        in_shortage_at_base=base_flags,
        market_loading=loading,
        persistence=persistence,
        mult_code=mult_code,
        mult_params=mult_params,
        share_code=share_code,
        share_params=share_params,
        share_nominal=share_nominal,
        increments_month_mw=inc_month,
        increments_year_mw=inc_year,
        profile_group=profile_group,
        profiles=np.array(profiles, dtype=np.float64).reshape(len(profiles), 12),
        month_of_year=month_of_year,
        # np.sqrt and math.sqrt are both correctly rounded: the kernels' values are unchanged
        own_loading=np.sqrt(1.0 - loading * loading),
        innovation=np.sqrt(1.0 - persistence * persistence),
        inc_row_buyer=rows[:, 0].copy(),
        inc_row_region=rows[:, 1].copy(),
        cancel_prob=cancel,
        p_on_time=p_on,
        late_code=late_code,
        late_params=late_params,
        late_int_shape=late_int,
        prov_factor_code=pf_code,
        prov_factor_params=pf_params,
        region_factor_code=rf_code,
        region_factor_params=rf_params,
        proj_provider=proj_provider.reshape(J),
        proj_region=proj_region.reshape(J),
        proj_capacity_mw=proj_cap.reshape(J),
        proj_scheduled=proj_sched.reshape(J),
        h_market=np.array([h("market", y) for y in years], dtype=np.uint64),
        h_buyer=np.array(
            [[h("buyer", b.id, y) for y in years] for b in priors.buyers], dtype=np.uint64
        ).reshape(B, K),
        h_share=np.array([h("share", b.id) for b in priors.buyers], dtype=np.uint64),
        h_prov_factor=np.array([h("provider", p.id) for p in priors.providers], np.uint64),
        h_region_factor=np.array([h("region", r.id) for r in priors.regions], np.uint64),
        h_cancel=np.array([h("cancel", p.id) for _, p in projects], np.uint64).reshape(J),
        h_on_time=np.array([h("on_time", p.id) for _, p in projects], np.uint64).reshape(J),
        h_late=np.array(
            [[h("late", p.id, i) for i in range(MAX_FAST_GAMMA_SHAPE)] for _, p in projects],
            np.uint64,
        ).reshape(J, MAX_FAST_GAMMA_SHAPE),
    )


def earliest_delivery(priors: Priors, m: ModelArrays) -> np.ndarray:
    """(J,) earliest month each project can arrive on any path (for histogram ranges)."""
    out = m.proj_scheduled.copy()
    can_be_early = np.zeros(len(priors.providers), dtype=bool)
    for pi, prov in enumerate(priors.providers):
        can_be_early[pi] = _support_lower(prov.delivery_delay_months.late) < 0
    early = can_be_early[m.proj_provider] if len(out) else np.zeros(0, dtype=bool)
    out[early] = 1
    return np.maximum(out, 1)


def stock_bounds(priors: Priors, m: ModelArrays) -> StockBounds:
    """What the MW histogram bins are derived from (``results.histograms``): stocks,
    nominal increments, projects' earliest deliveries and a 99.9th-percentile demand scale."""
    scale_hi = 1.0
    for b in priors.buyers:
        share = distributions.ppf(b.third_party_share, 0.999) / b.third_party_share_nominal
        scale_hi = max(scale_hi, distributions.ppf(b.demand_multiplier, 0.999) * share)
    return StockBounds(
        demand_stock_mw=m.demand_stock_mw,
        supply_stock_mw=m.supply_stock_mw,
        max_occupancy=m.max_occupancy,
        cumulative_increments_mw=np.cumsum(m.increments_month_mw.sum(axis=0), axis=1),
        project_region=m.proj_region,
        project_capacity_mw=m.proj_capacity_mw,
        earliest_delivery=earliest_delivery(priors, m),
        demand_scale_hi=scale_hi,
        **_firm_bounds(priors, m),
    )


def _firm_bounds(priors: Priors, m: ModelArrays) -> dict[str, np.ndarray]:
    """``StockBounds``' firm-request and deferrable bounds (R, T), cumulated; none without
    pre-leases or events (the bins stay those of the plain model)."""
    if not m.has_firm:
        return {}
    R, T = m.n_regions, m.n_months
    firm = np.zeros((R, T))
    waiting = np.zeros((R, T))
    first = earliest_delivery(priors, m)
    for j in np.flatnonzero(m.pre_lease_mw > 0):
        r, x = m.proj_region[j], m.pre_lease_mw[j]
        at = min(first[j], m.proj_scheduled[j])
        if at <= T:
            firm[r, at - 1] += x
        if m.proj_scheduled[j] <= T:
            waiting[r, m.proj_scheduled[j] - 1] += x
    for e in range(m.event_mw.shape[0]):
        firm[m.event_region[e], m.event_month[e] - 1] += m.event_mw[e]
    return {
        "cumulative_firm_mw": np.cumsum(firm, axis=1),
        "deferrable_mw": np.cumsum(waiting, axis=1),
    }


def _pin_array(project_ids: list[str], pins: Mapping[str, int] | None) -> np.ndarray:
    """(J,) int64 pinned delivery months (-1 where free); ValueError for an unknown id."""
    out = np.full(len(project_ids), -1, dtype=np.int64)
    for pid, month in (pins or {}).items():
        if pid not in project_ids:
            raise ValueError(f"pins: no project {pid!r} in the priors")
        if isinstance(month, bool) or not isinstance(month, (int, np.integer)) or month < 0:
            raise ValueError(f"pins: project {pid!r} needs a month index >= 0, got {month!r}")
        out[project_ids.index(pid)] = int(month)
    return out


def _late_pairs(proj_provider: np.ndarray, proj_region: np.ndarray, R: int) -> dict:
    """The ``late_pair*`` fields: the distinct (provider, region) pairs of the halls, in
    (provider, region) order, and each hall's pair."""
    codes, pair = np.unique(proj_provider * R + proj_region, return_inverse=True)
    return {
        "late_pair": pair.astype(np.int64).reshape(proj_provider.shape[0]),
        "late_pair_provider": (codes // R).astype(np.int64),
        "late_pair_region": (codes % R).astype(np.int64),
    }
