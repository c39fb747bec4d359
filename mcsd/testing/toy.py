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
) -> model.Provider:
    return model.Provider(
        id=pid,
        name=pid,
        delivery_delay_months=model.DelayDistribution(
            p_on_time=p_on_time, late=late or Distribution("gamma", {"a": 2.0, "scale": 1.5})
        ),
        cancellation_probability=cancel,
        delay_factor=factor,
        projects=tuple(projects),
    )


def project(jid: str, rid: str, cap: float, month: str) -> model.Project:
    return model.Project(id=jid, region=rid, capacity_mw=cap, scheduled_month=month)


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
    return dataclasses.replace(priors, buyers=buyers, providers=providers)


def drop_created(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs.pop("created", None)
    return ds
