"""Toy priors builders for tests and benchmarks: priors made directly from the
``mcsd.priors.model`` dataclasses (no TOML).

Two "exactly degenerate" distributions, written in scipy's own names and accepted by scipy,
make an input constant *in float64*, not merely nearly constant:

* ``EXACT_ONE = lognorm(s=1e-300)``: ``exp(1e-300 * z) == 1.0`` for every |z| < 1e284, so a
  multiplier or delay factor is exactly 1 (scipy's ppf and rvs give 1.0 as well).
* ``exact_share(nominal) = uniform(loc=nominal, scale=1e-300)``: ``nominal + 1e-300 * u``
  rounds to ``nominal`` exactly, so share / nominal == 1.0 on every path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import xarray as xr

from mcsd.priors import model
from mcsd.priors.model import Distribution, Priors

EXACT_ONE = Distribution("lognorm", {"s": 1e-300})
ON_TIME = model.DelayDistribution(
    p_on_time=1.0, late=Distribution("gamma", {"a": 2.0, "scale": 1.0})
)
Z4 = 4.0  # every statistical tolerance in these tests is 4 Monte Carlo standard errors


def exact_share(nominal: float = 0.5) -> Distribution:
    return Distribution("uniform", {"loc": nominal, "scale": 1e-300})


def make_priors(regions, buyers, providers=(), spillover=None, **settings) -> Priors:
    kw: dict[str, Any] = dict(
        base_month="2024-12",
        horizon_month="2025-12",
        threshold=0.8,
        max_occupancy=1.0,
        sustain_months=1,
    )
    kw.update(settings)
    return Priors(
        name="toy",
        source_path="<memory>",
        sha256="0" * 64,
        regions=tuple(regions),
        buyers=tuple(buyers),
        providers=tuple(providers),
        spillover=spillover,
        **kw,
    )


def region(rid: str, d0: float, s0: float, delay_factor=None) -> model.Region:
    return model.Region(rid, rid, demand_stock_mw=d0, supply_stock_mw=s0, delay_factor=delay_factor)


def buyer(
    bid: str,
    increments=None,
    mult: Distribution | None = None,
    loading: float = 0.0,
    phi: float = 0.0,
    share: Distribution | None = None,
    nominal: float = 0.5,
    **kw,
) -> model.Buyer:
    return model.Buyer(
        id=bid,
        name=bid,
        demand_multiplier=mult or Distribution("lognorm", {"s": 0.2}),
        market_loading=loading,
        persistence=phi,
        third_party_share_nominal=nominal,
        third_party_share=share or exact_share(nominal),
        increments_mw=increments or {},
        **kw,
    )


def provider(
    pid: str,
    projects,
    p_on_time: float = 1.0,
    late: Distribution | None = None,
    cancel: float = 0.0,
    factor: Distribution | None = EXACT_ONE,
    wp: float = 0.0,
    wr: float = 0.0,
) -> model.Provider:
    """A provider; ``wp`` / ``wr``: loadings of its projects' lateness on its own and on
    their region's normal (shared lateness)."""
    return model.Provider(
        id=pid,
        name=pid,
        delivery_delay_months=model.DelayDistribution(
            p_on_time=p_on_time,
            late=late or Distribution("gamma", {"a": 2.0, "scale": 1.5}),
            provider_loading=wp,
            region_loading=wr,
        ),
        cancellation_probability=cancel,
        delay_factor=factor,
        projects=tuple(projects),
    )


def project(
    jid: str, rid: str, cap: float, month: str, lease: tuple[str, float] | None = None
) -> model.Project:
    """A project; ``lease = (buyer id, MW)`` pre-leases ``MW`` of it to that buyer."""
    buyer_id, mw = lease if lease is not None else (None, 0.0)
    return model.Project(
        id=jid,
        region=rid,
        capacity_mw=cap,
        scheduled_month=month,
        pre_lease_buyer=buyer_id,
        pre_lease_mw=float(mw),
    )


def event(
    eid: str, bid: str, rid: str, month: str, mw: float, p: float, loading: float = 0.0
) -> model.DemandEvent:
    return model.DemandEvent(
        id=eid,
        name=eid,
        buyer=bid,
        region=rid,
        month=month,
        mw=mw,
        probability=p,
        market_loading=loading,
    )


def all_mechanisms_priors() -> Priors:
    """Three regions, three buyers, three providers, spillover, 36 months, with every
    issue-16 mechanism on and mattering: the year-end turning rule; shared lateness
    (provider and region loadings, a region without a delay factor, a provider without one);
    pre-leases on five halls (one provider usually late, cancellations up to 30 %); shares
    loading on the market (positive, zero and negative); two demand events (p = 0.3 with a
    market loading, p = 0.8 without). Occupancies sit near the 0.8 threshold so the
    shortage probabilities are neither 0 nor 1."""
    lognorm = Distribution("lognorm", {"s": 0.3})
    regions = [
        region("A", 640.0, 1000.0, delay_factor=Distribution("lognorm", {"s": 0.3})),
        region("B", 380.0, 600.0),  # no factor: still has its normal Zr
        region("C", 300.0, 500.0, delay_factor=Distribution("lognorm", {"s": 0.2})),
    ]
    buyers = [
        buyer(
            "b1",
            {"A": {2025: 180.0, 2026: 150.0, 2027: 150.0}, "B": {2025: 100.0, 2026: 60.0}},
            mult=lognorm,
            loading=0.7,
            phi=0.5,
            share=Distribution("uniform", {"loc": 0.45, "scale": 0.4}),
            nominal=0.65,
            third_party_share_market_loading=0.8,
        ),
        buyer(
            "b2",
            {"C": {2025: 100.0, 2026: 80.0, 2027: 60.0}, "B": {2026: 50.0}},
            mult=Distribution("lognorm", {"s": 0.4}),
            loading=0.4,
            phi=0.3,
            share=Distribution("beta", {"a": 4.0, "b": 4.0}),
            nominal=0.5,
            monthly_profile=(1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3),
        ),
        buyer(
            "b3",
            {"A": {2025: 150.0, 2026: 60.0}, "C": {2027: 60.0}},
            mult=Distribution("gamma", {"a": 16.0, "scale": 1 / 15.67}),
            loading=0.5,
            share=Distribution("uniform", {"loc": 0.3, "scale": 0.4}),
            nominal=0.5,
            third_party_share_market_loading=-0.5,
        ),
    ]
    providers = [
        provider(
            "p1",
            [
                project("p1a", "A", 150.0, "2025-06", lease=("b1", 100.0)),
                project("p1b", "A", 100.0, "2026-03"),
                project("p1c", "B", 80.0, "2025-09", lease=("b1", 60.0)),
                project("p1d", "C", 120.0, "2026-06"),
            ],
            p_on_time=0.5,
            late=Distribution("gamma", {"a": 2.0, "scale": 3.0}),
            cancel=0.1,
            factor=Distribution("lognorm", {"s": 0.4}),
            wp=0.6,
            wr=0.5,
        ),
        provider(
            "p2",
            [
                project("p2a", "B", 100.0, "2025-04"),
                project("p2b", "C", 90.0, "2025-11", lease=("b2", 50.0)),
                project("p2c", "A", 120.0, "2027-01"),
            ],
            p_on_time=0.8,
            late=Distribution("gamma", {"a": 2.0, "scale": 2.0}),
            cancel=0.2,
            factor=None,
            wr=0.7,
        ),
        provider(
            "p3",
            [
                project("p3a", "A", 200.0, "2025-08", lease=("b3", 120.0)),
                project("p3b", "C", 60.0, "2026-10", lease=("b2", 40.0)),
                project("p3c", "B", 100.0, "2027-02"),
            ],
            p_on_time=0.2,  # usually late
            late=Distribution("gamma", {"a": 3.0, "scale": 2.0}),
            cancel=0.3,
            factor=Distribution("lognorm", {"s": 0.3}),
            wp=-0.4,
            wr=0.3,
        ),
    ]
    spill = ((0.0, 0.3, 0.0), (0.0, 0.0, 0.2), (0.5, 0.0, 0.0))
    events = (
        event("boom", "b1", "A", "2026-04", 200.0, 0.3, loading=0.6),
        event("campus", "b2", "C", "2025-10", 80.0, 0.8),
    )
    return make_priors(
        regions,
        buyers,
        providers,
        spill,
        horizon_month="2027-12",
        turning_point="year_end",
        demand_events=events,
    )


def two_regions(growth: float = 1.0, max_occupancy: float = 0.97) -> Priors:
    """Two regions (yangtze, named "My Yangtze", and gba), one buyer, horizon 2026-12:
    the plot tests' toy; ``growth`` scales the buyer's increments."""
    increments = {
        "yangtze": {2025: 200.0 * growth, 2026: 200.0 * growth},
        "gba": {2025: 300.0 * growth, 2026: 300.0 * growth},
    }
    return make_priors(
        [
            model.Region("yangtze", "My Yangtze", demand_stock_mw=700, supply_stock_mw=1000),
            region("gba", 500, 1000),
        ],
        [buyer("b1", increments=increments)],
        horizon_month="2026-12",
        max_occupancy=max_occupancy,
    )


def zero_width(priors: Priors) -> Priors:
    """``priors`` with every uncertain input exactly at its nominal value on every path."""
    buyers = tuple(
        dataclasses.replace(
            b,
            demand_multiplier=EXACT_ONE,
            third_party_share=exact_share(b.third_party_share_nominal),
        )
        for b in priors.buyers
    )
    providers = tuple(
        dataclasses.replace(
            p,
            cancellation_probability=0.0,
            delivery_delay_months=dataclasses.replace(p.delivery_delay_months, p_on_time=1.0),
        )
        for p in priors.providers
    )
    # an event's nominal is its median: certain when p > 0.5, absent when p < 0.5
    events = tuple(
        dataclasses.replace(e, probability=1.0) for e in priors.demand_events if e.probability > 0.5
    )
    return dataclasses.replace(priors, buyers=buyers, providers=providers, demand_events=events)


def drop_created(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs.pop("created", None)
    return ds
