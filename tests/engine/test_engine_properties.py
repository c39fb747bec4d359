"""Structural properties of a run that hold exactly (no statistical tolerance).

* More capacity never raises a region's shortage probability (same seed: common random
  numbers, delivery draws do not depend on capacity). Per region without spillover,
  occupancy = min(requested / S, max_occupancy) is non-increasing in S on every path. (Not
  for ``national`` and not with spillover: a region at its cap serves more demand when given
  more supply, which can raise total occupancy; spillover can move more demand into a
  destination that has more room.)
* Zero-width priors reproduce point mode exactly.
* turning_point_cdf is non-decreasing and ends at 1 - p_no_turning_point; Wilson bounds
  bracket p_shortage; occupancy_exceedance is non-increasing in level and equals p_shortage
  at level == threshold.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcsd
from mcsd.priors.model import Distribution
from mcsd.testing.toy import buyer, make_priors, project, provider, region, zero_width

PROFILE = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def scale_capacity(priors, factor):
    providers = tuple(
        dataclasses.replace(
            p,
            projects=tuple(
                dataclasses.replace(j, capacity_mw=j.capacity_mw * factor) for j in p.projects
            ),
        )
        for p in priors.providers
    )
    return dataclasses.replace(priors, providers=providers)


def regional(ds, priors):
    return ds["p_shortage"].sel(region=list(priors.region_ids)).values


@pytest.mark.parametrize("factor", [1.01, 1.5, 3.0])
def test_more_capacity_never_raises_shortage_study(study_priors, factor):
    base = dataclasses.replace(study_priors, spillover=None)
    a = mcsd.simulate(base, n_paths=5000, seed=17, progress=False)
    b = mcsd.simulate(scale_capacity(base, factor), n_paths=5000, seed=17, progress=False)
    assert np.all(regional(b, base) <= regional(a, base))
    assert np.any(regional(b, base) < regional(a, base))


def toy_system(d0, s0, inc, caps, months, p_on, cancel, s_mult, max_occ):
    regions = [region("A", d0[0], s0[0]), region("B", d0[1], s0[1])]
    b = buyer(
        "b",
        {"A": {2025: inc[0], 2026: inc[1]}, "B": {2025: inc[1], 2026: inc[0]}},
        mult=Distribution("lognorm", {"s": s_mult}),
        loading=0.5,
        phi=0.4,
    )
    projects = [
        project(f"j{i}", "AB"[i % 2], caps[i], f"{2025 + m // 12}-{m % 12 + 1:02d}")
        for i, m in enumerate(months)
    ]
    prov = provider(
        "p",
        projects,
        p_on_time=p_on,
        cancel=cancel,
        factor=Distribution("lognorm", {"s": 0.3}),
    )
    return make_priors(regions, [b], [prov], horizon_month="2026-12", max_occupancy=max_occ)


@PROFILE
@given(
    d0=st.tuples(st.floats(10, 90), st.floats(10, 90)),
    s0=st.tuples(st.floats(80, 120), st.floats(80, 120)),
    inc=st.tuples(st.floats(0, 40), st.floats(0, 40)),
    caps=st.lists(st.floats(1, 60), min_size=4, max_size=4),
    months=st.lists(st.integers(0, 23), min_size=4, max_size=4),
    p_on=st.floats(0, 1),
    cancel=st.floats(0, 0.5),
    s_mult=st.floats(0.05, 0.6),
    max_occ=st.floats(0.8, 1.0),
    factor=st.floats(1.0, 4.0),
)
def test_more_capacity_never_raises_shortage_toy(
    d0, s0, inc, caps, months, p_on, cancel, s_mult, max_occ, factor
):
    pri = toy_system(d0, s0, inc, caps, months, p_on, cancel, s_mult, max_occ)
    a = mcsd.simulate(pri, n_paths=1000, seed=1, keep_paths=True, progress=False)
    b = mcsd.simulate(
        scale_capacity(pri, factor), n_paths=1000, seed=1, keep_paths=True, progress=False
    )
    assert np.all(regional(b, pri) <= regional(a, pri))
    # per path too: occupancy non-increasing, supply non-decreasing in every region
    sel = dict(region=list(pri.region_ids))
    # (1e-12: at the cap, occupancy = (max_occupancy x S) / S equals max_occupancy to an ulp)
    occ_a, occ_b = a["occupancy_path"].sel(sel).values, b["occupancy_path"].sel(sel).values
    assert np.all(occ_b <= occ_a + 1e-12)
    assert np.all(b["supply_path"].values >= a["supply_path"].values)


def test_zero_width_priors_reproduce_point_mode(study_priors):
    pt = mcsd.simulate(study_priors, point=True)
    zw = mcsd.simulate(zero_width(study_priors), n_paths=3000, seed=5, progress=False)
    for name in ("occupancy", "demand", "supply", "unmet_demand"):
        np.testing.assert_array_equal(
            zw[name].values, pt[name].values, err_msg=name
        )  # every quantile equals the point value (and point mode's quantiles are all equal)
    for name in (
        "p_shortage",
        "turning_point_cdf",
        "p_no_turning_point",
        "occupancy_exceedance",
        "occupancy_mean",
    ):
        np.testing.assert_array_equal(zw[name].values, pt[name].values, err_msg=name)
    assert set(np.unique(zw["p_shortage"].values)) <= {0.0, 1.0}


@pytest.fixture(scope="module")
def study_runs(study_priors):
    # the sustain rule belongs to the first-month turning rule (the study's is year_end)
    monthly = dataclasses.replace(study_priors, turning_point="first_month")
    sustained = dataclasses.replace(monthly, sustain_months=3)
    return [
        mcsd.simulate(monthly, n_paths=20_000, seed=23, progress=False),
        mcsd.simulate(sustained, n_paths=20_000, seed=23, progress=False),
        mcsd.simulate(
            toy_system(
                (70, 20), (100, 100), (20, 5), [30, 30, 30, 30], [0, 5, 10, 20], 0.5, 0.1, 0.3, 0.97
            ),
            n_paths=20_000,
            seed=23,
            progress=False,
        ),
        mcsd.simulate(study_priors, n_paths=20_000, seed=23, progress=False),
    ]


def test_turning_point_cdf_monotone_and_complete(study_runs):
    for ds in study_runs:
        cdf = ds["turning_point_cdf"].values
        assert np.all(np.diff(cdf, axis=1) >= 0)
        assert np.all((cdf >= 0) & (cdf <= 1))
        np.testing.assert_allclose(
            cdf[:, -1], 1 - ds["p_no_turning_point"].values, atol=1e-12, rtol=0
        )
        short = ds["p_shortage"].values
        if ds.attrs["turning_point_rule"] == "first_month":
            # a path short in month 1 has turned by month 1
            assert np.all(cdf >= short[:, :1] - 1e-12)
        else:  # year end: a path short in a December has turned by then; steps at Decembers
            dec = ds["time"].dt.month.values == 12
            assert np.all(cdf[:, dec] >= short[:, dec] - 1e-12)
            steps = np.flatnonzero(np.any(np.diff(cdf, axis=1) > 0, axis=0)) + 1
            assert np.all(dec[steps]), ds["time"].values[steps]


def test_sustain_delays_the_turning_point(study_runs):
    one, three = study_runs[0], study_runs[1]
    assert np.all(three["turning_point_cdf"].values <= one["turning_point_cdf"].values + 1e-12)
    np.testing.assert_array_equal(three["p_shortage"].values, one["p_shortage"].values)


def test_wilson_bounds_bracket_p_shortage(study_runs):
    for ds in study_runs:
        p, lo, hi = (ds[k].values for k in ("p_shortage", "p_shortage_lo", "p_shortage_hi"))
        assert np.all(lo <= p) and np.all(p <= hi)
        assert np.all((lo >= 0) & (hi <= 1))
        n = ds.attrs["n_paths"]
        np.testing.assert_allclose(ds["p_shortage_se"].values, np.sqrt(p * (1 - p) / n))


def test_occupancy_exceedance_monotone_and_equals_p_shortage_at_threshold(study_runs):
    for ds in study_runs:
        ex = ds["occupancy_exceedance"]
        assert np.all(np.diff(ex.values, axis=-1) <= 0)
        at = ex.sel(level=ds.attrs["threshold"]).values
        np.testing.assert_array_equal(at, ds["p_shortage"].values)
        assert np.all(ex.sel(level=0.5).values >= ds["p_shortage"].values)
