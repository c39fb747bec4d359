"""Numerical edge cases of the engine: zero supply, zero demand, one path, path counts that
are no multiple of the chunk size, a one-month horizon, thresholds 0 and 1, capacity that
never arrives, zero increments, and counters past 2**31. No Dataset may hold a NaN."""

from __future__ import annotations

import numpy as np
import pytest

import mcsd
from mcsd.engine.executor import BLOCK_PATHS, CHUNK_PATHS, CompiledRun
from mcsd.kernels.layout import FIXED_POINT_SCALE
from mcsd.priors.model import Distribution
from mcsd.results.accumulators import Accumulators
from mcsd.results.variables import RESULT_VARIABLES
from mcsd.testing.toy import EXACT_ONE, buyer, exact_share, make_priors, project, provider, region


def assert_no_nan(ds) -> None:
    for name, var in ds.data_vars.items():
        values = np.asarray(var.values)
        if values.dtype.kind in "fc":
            assert not np.isnan(values).any(), f"NaN in {name}"
    for name, coord in ds.coords.items():
        values = np.asarray(coord.values)
        if values.dtype.kind == "f":
            assert not np.isnan(values).any(), f"NaN in coordinate {name}"


def sim(priors, n_paths: int = 64, **kw):
    ds = mcsd.simulate(priors, n_paths=n_paths, seed=11, progress=False, **kw)
    assert_no_nan(ds)
    return ds


def exact_buyer(increments, **kw):
    """A buyer whose multiplier and share are exactly nominal on every path."""
    return buyer("b", increments, mult=EXACT_ONE, share=exact_share(0.5), **kw)


# ----------------------------------------------------------------------------- supply 0


def test_zero_supply_region_occupancy_rule() -> None:
    """Supply 0: occupancy 1 if demand is requested, else 0 (never 0/0)."""
    priors = make_priors(
        [region("asked", 10.0, 0.0), region("idle", 0.0, 0.0), region("ok", 50.0, 100.0)],
        [exact_buyer({"ok": {2025: 12.0}})],
    )
    for ds in (sim(priors), sim(priors, point=True)):
        occ = ds.occupancy
        assert (occ.sel(region="asked") == 1.0).all()
        assert (occ.sel(region="idle") == 0.0).all()
        assert (ds.p_shortage.sel(region="asked") == 1.0).all()
        assert (ds.p_shortage.sel(region="idle") == 0.0).all()
        assert (ds.unmet_demand.sel(region="asked") == 10.0).all()
        assert (ds.demand.sel(region="asked") == 0.0).all()
        assert bool(ds.in_shortage_at_base.sel(region="asked"))
        assert not bool(ds.in_shortage_at_base.sel(region="idle"))
        assert float(ds.p_no_turning_point.sel(region="idle")) == 1.0
        # national: served 50 (+ increments) over supply 100
        assert (ds.occupancy.sel(region="national") <= 1.0).all()


def test_all_regions_zero_supply() -> None:
    priors = make_priors([region("a", 5.0, 0.0), region("b", 0.0, 0.0)], [exact_buyer({})])
    ds = sim(priors)
    assert (ds.occupancy.sel(region="a") == 1.0).all()
    assert (ds.occupancy.sel(region="b") == 0.0).all()
    assert (ds.occupancy.sel(region="national") == 1.0).all()


# ----------------------------------------------------------------------------- demand 0


def test_zero_demand() -> None:
    priors = make_priors(
        [region("a", 0.0, 100.0), region("b", 0.0, 50.0)],
        [buyer("b0", {})],
        [provider("p", [project("j", "a", 10.0, "2025-06")], p_on_time=0.5, cancel=0.2)],
    )
    ds = sim(priors)
    for var in ("occupancy", "demand", "unmet_demand", "occupancy_mean", "p_shortage"):
        assert (ds[var] == 0.0).all(), var
    assert (ds.p_no_turning_point == 1.0).all()
    assert (ds.turning_point_cdf == 0.0).all()
    assert (ds.p_shortage_lo == 0.0).all() and (ds.p_shortage_hi > 0.0).all()


def test_every_increment_zero() -> None:
    """Buyers with explicit zero increments: demand stays at the base stock on every path."""
    priors = make_priors(
        [region("a", 40.0, 100.0), region("b", 10.0, 50.0)],
        [
            buyer("b0", {"a": {2025: 0.0}, "b": {2025: 0.0}}, loading=0.9, phi=0.5),
            buyer("b1", {"a": {2025: 0.0}}, mult=Distribution("lognorm", {"s": 2.0})),
        ],
    )
    ds = sim(priors)
    assert (ds.demand.sel(region="a") == 40.0).all()
    assert (ds.demand.sel(region="b") == 10.0).all()
    assert (ds.unmet_demand == 0.0).all()
    assert np.allclose(ds.occupancy.sel(region="a"), 0.4)


# ----------------------------------------------------------------------------- path counts


def test_one_path() -> None:
    priors = make_priors(
        [region("a", 70.0, 100.0)],
        [buyer("b0", {"a": {2025: 30.0}})],
        [provider("p", [project("j", "a", 10.0, "2025-03")], p_on_time=0.5)],
    )
    ds = sim(priors, n_paths=1)
    assert ds.attrs["n_paths"] == 1
    assert set(np.unique(ds.p_shortage.values)) <= {0.0, 1.0}
    assert (ds.p_shortage_se == 0.0).all()
    # every quantile of one path is that path's value
    spread = ds.occupancy.max("quantile") - ds.occupancy.min("quantile")
    assert float(spread.max()) == 0.0


@pytest.mark.parametrize("n_paths", [CHUNK_PATHS + 1, BLOCK_PATHS + 3])
def test_path_count_not_a_multiple_of_chunk(n_paths: int) -> None:
    """Summaries agree exactly with the per-path cubes when the last chunk or block is
    partial; thread count does not change a bit."""
    priors = make_priors(
        [region("a", 70.0, 100.0), region("b", 20.0, 60.0)],
        [buyer("b0", {"a": {2025: 30.0}, "b": {2025: 25.0}}, loading=0.5)],
        [
            provider(
                "p",
                [project("j1", "a", 10.0, "2025-03"), project("j2", "b", 15.0, "2025-05")],
                p_on_time=0.5,
                cancel=0.1,
            )
        ],
        threshold=0.8,
        max_occupancy=0.97,
    )
    ds = sim(priors, n_paths=n_paths, keep_paths=True, threads=2)
    assert ds.sizes["path"] == n_paths
    occ = ds.occupancy_path.values  # (path, region, time)
    assert not np.isnan(occ).any()
    p = (occ >= priors.threshold).mean(axis=0)
    np.testing.assert_array_equal(ds.p_shortage.values, p)
    turn = ds.turning_month_path.values  # (path, region), 0 = none
    assert float(ds.p_no_turning_point.sel(region="a")) == np.mean(turn[:, 0] == 0)
    for t in range(ds.sizes["time"]):
        cdf = ((turn >= 1) & (turn <= t + 1)).mean(axis=0)
        np.testing.assert_allclose(ds.turning_point_cdf.values[:, t], cdf, rtol=0, atol=1e-15)
    # occupancy sums are fixed point in units of 2**-24: each path rounds by <= 2**-25
    np.testing.assert_allclose(ds.occupancy_mean.values, occ.mean(axis=0), rtol=0, atol=2.0**-25)
    one = sim(priors, n_paths=n_paths, threads=1)
    for name in one.data_vars:
        np.testing.assert_array_equal(one[name].values, ds[name].values, err_msg=name)


# ----------------------------------------------------------------------------- horizon


def test_one_month_horizon() -> None:
    priors = make_priors(
        [region("a", 70.0, 100.0)],
        [buyer("b0", {"a": {2025: 120.0}})],
        [provider("p", [project("j", "a", 10.0, "2025-01"), project("k", "a", 5.0, "2026-06")])],
        horizon_month="2025-01",
    )
    assert priors.n_months == 1
    ds = sim(priors)
    assert ds.sizes["time"] == 1
    pt = sim(priors, point=True)
    # month 1: supply 100 + 10 (on time), demand 70 + 120/12
    assert float(pt.supply.sel(region="a").isel(time=0, quantile=0)) == pytest.approx(110.0)
    assert float(pt.demand.sel(region="a").isel(time=0, quantile=0)) == pytest.approx(80.0)


def test_delays_push_all_capacity_past_horizon() -> None:
    """Every project late by 100+ months: supply stays at the base stock on every path."""
    late = Distribution("uniform", {"loc": 100.0, "scale": 1.0})
    priors = make_priors(
        [region("a", 70.0, 100.0), region("b", 10.0, 40.0)],
        [buyer("b0", {"a": {2025: 50.0}})],
        [
            provider(
                "p",
                [project("j", "a", 30.0, "2025-02"), project("k", "b", 20.0, "2025-11")],
                p_on_time=0.0,
                late=late,
            )
        ],
    )
    ds = sim(priors)
    assert (ds.supply.sel(region="a") == 100.0).all()
    assert (ds.supply.sel(region="b") == 40.0).all()
    assert (ds.supply.sel(region="national") == 140.0).all()


# ----------------------------------------------------------------------------- thresholds


def test_threshold_zero() -> None:
    """O >= 0 always: shortage everywhere, from the base."""
    priors = make_priors(
        [region("a", 0.0, 100.0), region("b", 30.0, 60.0)],
        [buyer("b0", {"b": {2025: 10.0}})],
        threshold=0.0,
    )
    ds = sim(priors)
    assert (ds.p_shortage == 1.0).all()
    assert ds.in_shortage_at_base.all()
    assert (ds.turning_point_cdf == 1.0).all()
    assert (ds.p_no_turning_point == 0.0).all()
    assert (ds.p_shortage_se == 0.0).all()


def test_threshold_one_and_max_occupancy_one() -> None:
    """Shortage only when served demand reaches the whole supply."""
    priors = make_priors(
        [region("full", 100.0, 100.0), region("over", 150.0, 100.0), region("low", 10.0, 100.0)],
        [exact_buyer({})],
        threshold=1.0,
        max_occupancy=1.0,
    )
    ds = sim(priors)
    assert (ds.p_shortage.sel(region="full") == 1.0).all()
    assert (ds.p_shortage.sel(region="over") == 1.0).all()
    assert (ds.occupancy.sel(region="over") == 1.0).all()
    assert (ds.unmet_demand.sel(region="over") == 50.0).all()
    assert (ds.p_shortage.sel(region="low") == 0.0).all()
    assert (ds.occupancy_exceedance.sel(region="full", level=1.0) == 1.0).all()


# ----------------------------------------------------------------------------- counters


def _toy_run() -> CompiledRun:
    priors = make_priors([region("a", 50.0, 100.0)], [exact_buyer({"a": {2025: 12.0}})])
    return CompiledRun.build(priors, 1)


def test_accumulator_counters_are_int64() -> None:
    acc = _toy_run().new_accumulators()
    for name in ("shortage", "turning", "occupancy_fixed", "occupancy_hist", "mw_hist"):
        assert getattr(acc, name).dtype == np.int64, name
    merged = acc.merge(acc)
    for name in ("shortage", "turning", "occupancy_fixed", "occupancy_hist", "mw_hist"):
        assert getattr(merged, name).dtype == np.int64, name


def _finalize(run: CompiledRun, acc: Accumulators, quantiles, levels) -> dict[str, np.ndarray]:
    """Every result variable of ``acc``, by name (the results registry)."""
    finals = run.finals(acc, np.asarray(quantiles), np.asarray(levels))
    return {v.name: v.finalize(finals) for v in RESULT_VARIABLES}


def _huge(run: CompiledRun, n: int, occupancy_fixed_per_path: int) -> Accumulators:
    """An accumulator of ``n`` identical paths (occupancy 0.25, shortage in every cell)."""
    acc = run.new_accumulators()
    acc.n_paths = n
    acc.shortage[:] = n
    acc.turning[:, 0] = n  # every path turns in month 1
    acc.occupancy_fixed[:] = n * occupancy_fixed_per_path
    acc.occupancy_hist[..., 250] = n
    acc.mw_hist[..., 1] = n
    acc.vmin[:] = 0.25
    acc.vmax[:] = 0.25
    acc.vmin[1:] = run.spec.lo[:, :, :]
    acc.vmax[1:] = run.spec.lo[:, :, :]
    # short in every month: each path counts at "all the year's months" of every year
    months_in_year = np.bincount(run.model.month_year)
    acc.short_months[:, np.arange(months_in_year.size), months_in_year] = n
    return acc


def test_merging_counts_past_2_to_the_31() -> None:
    run = _toy_run()
    n = 2**31 - 1
    quarter = int(0.25 * FIXED_POINT_SCALE)  # (2**32 + 5) x 2**22 < 2**63
    a, b = _huge(run, n, quarter), _huge(run, n + 7, quarter)
    merged = a.merge(b)
    total = 2 * n + 7
    assert merged.n_paths == total
    assert (merged.shortage == total).all() and merged.shortage.dtype == np.int64
    assert (merged.turning[:, 0] == total).all()
    assert (merged.occupancy_hist[..., 250] == total).all()
    out = _finalize(run, merged, [0.05, 0.5, 0.95], [0.25, 0.8])
    for name, values in out.items():
        assert not np.isnan(values).any(), name
    assert (out["p_shortage"] == 1.0).all()
    assert (out["p_shortage_se"] == 0.0).all()
    assert (out["turning_point_cdf"] == 1.0).all()
    assert np.allclose(out["occupancy_mean"], 0.25, rtol=0, atol=1e-12)
    assert np.allclose(out["occupancy"], 0.25, rtol=0, atol=1e-12)
    assert (out["occupancy_exceedance"][..., 0] == 1.0).all()
    assert (out["occupancy_exceedance"][..., 1] == 0.0).all()
    for name in ("p_shortage_year_end", "p_shortage_any_month", "p_shortage_all_months"):
        assert (out[name] == 1.0).all() and (out[f"{name}_se"] == 0.0).all(), name


def test_occupancy_sum_does_not_wrap_past_2_to_the_31_paths() -> None:
    run = _toy_run()
    n = 2**31 - 1  # fixed point 2**-24: 2 x (2**31 - 1) x 2**24 < 2**63
    full = int(FIXED_POINT_SCALE)  # occupancy 1 on every path
    merged = _huge(run, n, full).merge(_huge(run, n, full))
    out = _finalize(run, merged, [0.5], [0.5])
    assert np.allclose(out["occupancy_mean"], 1.0)
