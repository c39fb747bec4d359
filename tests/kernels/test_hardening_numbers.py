"""Hardening (issue 15): the "wrong numbers" cases, against the kernels and the reference.

* case 6: a delay deviation beyond int64 (an extreme product of accepted factors) must
  mean "after the horizon", never a wrapped shift that delivers in month 1;
* case 7: threshold == max_occupancy: a region held at the cap is short, exactly;
* case 9: spillover shares summing to 1 + 1e-12 never give a negative MW.
"""

from __future__ import annotations

import numpy as np
import pytest

import mcsd
import mcsd.testing.reference
from mcsd.engine.arrays import build_model_arrays
from mcsd.engine.executor import CompiledRun
from mcsd.kernels.sampling import draw_inputs
from mcsd.priors.model import Distribution
from mcsd.testing.reference import reference_paths
from mcsd.testing.toy import EXACT_ONE, buyer, exact_share, make_priors, project, provider, region

# ----------------------------------------------------------------------------- case 6


def _draw(priors, n, seed=5):
    run = CompiledRun.build(priors, seed)
    m = run.model
    B, K, J = m.market_loading.shape[0], m.n_years, m.proj_capacity_mw.shape[0]
    scale = np.empty((n, B, K))
    delivery = np.empty((n, J), dtype=np.int64)
    z = np.empty((n, K))
    draw_inputs(m, run.group_seed_keys, 0, n, scale, delivery, z)
    return delivery


# integer shapes take the vectorized -scale log(U1 ... Ua) path; 2.5 the general ppf path
LATE = {
    "int_gamma": Distribution("gamma", {"a": 2.0, "scale": 1e12}),
    "gamma_2_5": Distribution("gamma", {"a": 2.5, "scale": 1e12}),
    "huge_scale": Distribution("gamma", {"a": 1.0, "scale": 1e300}),
}
# the loader caps each factor's draws at 1e12; their product is not capped
FACTORS = {
    "capped_1e12": Distribution("lognorm", {"s": 4.0}),  # exp(4 z): up to ~1e12 at z = 7
    "overflow_inf": Distribution("lognorm", {"s": 200.0}),  # exp(200 z): inf on most late lanes
}


def _late_priors(late, factor, month="2025-06"):
    return make_priors(
        [region("r", 50.0, 100.0, delay_factor=factor)],
        [buyer("b", {"r": {2025: 12.0}}, mult=EXACT_ONE, share=exact_share(0.5))],
        [provider("p", [project("j", "r", 40.0, month)], p_on_time=0.0, late=late, factor=factor)],
    )


@pytest.mark.parametrize("late", list(LATE), ids=list(LATE))
@pytest.mark.parametrize("factor", list(FACTORS), ids=list(FACTORS))
def test_case6_overflowing_delay_is_never_early(late, factor) -> None:
    priors = _late_priors(LATE[late], FACTORS[factor])
    sched = priors.month_index("2025-06")
    n = 20_000
    delivery = _draw(priors, n)[:, 0]
    # a late draw is >= 0: never before its schedule, and the wrapped INT64_MIN is gone
    assert delivery.min() >= sched, np.count_nonzero(delivery < sched)
    assert (delivery > priors.n_months).mean() > 0.3  # deviations of 1e12+ months: after T
    with np.errstate(over="ignore", invalid="ignore"):  # scipy's draws overflow to inf
        ref = reference_paths(priors, n, seed=5)
    eng = mcsd.simulate(priors, n_paths=n, seed=5, keep_paths=True, progress=False)
    for supply in (ref["supply"][:, 0, :], eng["supply_path"].sel(region="r").values):
        # before its schedule the project has arrived on no path (the old code: month 1)
        assert (supply[:, : sched - 1] == 100.0).all()
        assert (supply[:, -1] == 100.0).mean() > 0.3


def test_case6_inf_and_nan_deviation_clamp() -> None:
    """The clamp itself: inf and NaN deviations are "after the horizon", -inf is month 1,
    and ordinary deviations keep floor(dev + 0.5)."""
    from mcsd.kernels.sampling import MAX_SHIFT, _clamped_half_up
    from mcsd.testing.reference import _round_half_up

    xs = np.array([np.inf, np.nan, 1e36, -1e36, -np.inf, 0.49, 0.5, -0.5, 2.5, 1e15])
    want = np.array([MAX_SHIFT, MAX_SHIFT, MAX_SHIFT, -MAX_SHIFT, -MAX_SHIFT, 0, 1, 0, 3, 1e15])
    got = np.array([np.floor(_clamped_half_up(x)) for x in xs])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_round_half_up(xs), want)
    assert np.int64(MAX_SHIFT) == 2**52


# ----------------------------------------------------------------------------- case 9


def _spill_priors(row_sum_excess=1e-12):
    # north is short (unmet demand every month); east and south have room for all of it
    f = 0.5
    return make_priors(
        [region("north", 80.0, 50.0), region("east", 0.0, 1000.0), region("south", 0.0, 1000.0)],
        [buyer("b", {"north": {2025: 600.0}}, mult=EXACT_ONE, share=exact_share(0.5))],
        spillover=((0.0, f, f + row_sum_excess), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        max_occupancy=0.97,
    )


def test_case9_spillover_rounding_gives_no_negative_mw() -> None:
    priors = _spill_priors()
    assert sum(priors.spillover[0]) > 1.0
    ds = mcsd.simulate(priors, n_paths=8, seed=1, keep_paths=True, progress=False)
    ref = reference_paths(priors, 8, seed=1)
    for unmet in (ds["unmet_demand_path"].values, ref["unmet_demand"]):
        assert (unmet >= 0.0).all(), unmet.min()
        assert (unmet[..., 0, :] == 0.0).all()  # north's unmet demand all moved
    assert (ds["unmet_demand"].values >= 0.0).all()


def test_case9_exact_row_unchanged_by_the_guard() -> None:
    """A row summing to at most 1 leaves the same unmet demand as before the guard."""
    priors = _spill_priors(row_sum_excess=-0.25)
    ds = mcsd.simulate(priors, n_paths=4, seed=1, keep_paths=True, progress=False)
    unmet = ds["unmet_demand_path"].sel(region="north").values
    assert (unmet > 0.0).all()


def _spill_toml(tmp_path, shares: str):
    text = f"""
[meta]
name = "spill"
[settings]
base_month = "2024-12"
horizon_month = "2025-12"
threshold = 0.8
max_occupancy = 0.95
sustain_months = 1
[[regions]]
id = "north"
demand_stock_mw = 100
supply_stock_mw = 50
[[regions]]
id = "east"
demand_stock_mw = 0
supply_stock_mw = 500
[[regions]]
id = "south"
demand_stock_mw = 0
supply_stock_mw = 500
[[buyers]]
id = "acme"
market_loading = 0.0
persistence = 0.0
third_party_share = {{ nominal = 0.5, dist = "uniform", loc = 0.5, scale = 1e-300 }}
demand_multiplier = {{ dist = "lognorm", s = 1e-300 }}
increments_mw = {{ north = {{ 2025 = 120 }} }}
[spillover]
north = {shares}
"""
    path = tmp_path / "spill.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_case9_row_within_tolerance_is_normalised(tmp_path) -> None:
    from mcsd.priors.loader import load_priors

    priors = load_priors(_spill_toml(tmp_path, "{ east = 0.5, south = 0.500000000001 }"))
    row = np.array(priors.spillover[0])
    assert abs(row.sum() - 1.0) <= 2e-16
    np.testing.assert_allclose(row[1:], [0.5, 0.5], rtol=2e-12)
    ds = mcsd.simulate(priors, n_paths=4, seed=1, keep_paths=True, progress=False)
    assert (ds["unmet_demand_path"].values >= 0.0).all()


def test_case9_row_of_1_01_is_refused(tmp_path) -> None:
    from mcsd.priors.loader import PriorsError, load_priors

    with pytest.raises(PriorsError) as err:
        load_priors(_spill_toml(tmp_path, "{ east = 0.51, south = 0.5 }"))
    msg = str(err.value)
    assert "spill.toml" in msg and "spillover.north" in msg
    assert "{ east = 0.51, south = 0.5 }" in msg and "1.01" in msg


# ----------------------------------------------------------------------------- case 7

MAX_OCC = [round(0.50 + 0.01 * k, 2) for k in range(51)]  # 0.50 .. 1.00


def _capped_priors(m, spill=False):
    # supplies with awkward binary expansions, demand far above any cap on every path
    sup = [137.3, 0.7, 3.3, 1e-3 * 123457, 977.9]
    regions = [region(f"r{i}", 5000.0, s) for i, s in enumerate(sup)]
    inc = {f"r{i}": {2025: 120.0} for i in range(len(sup))}
    spillover = None
    if spill:
        # r4 keeps a little own demand and is filled by r0's overflow (accept < 1)
        regions[4] = region("r4", 10.0, 977.9)
        inc.pop("r4")
        n = len(sup)
        spillover = tuple(
            tuple(0.5 if (i, j) == (0, 4) else 0.0 for j in range(n)) for i in range(n)
        )
    return make_priors(
        regions,
        [buyer("b", inc, mult=Distribution("lognorm", {"s": 0.1}))],
        spillover=spillover,
        threshold=m,
        max_occupancy=m,
        sustain_months=3,
    )


@pytest.mark.parametrize("spill", [False, True], ids=["no_spill", "spill_fills_room"])
def test_case7_threshold_equal_to_max_occupancy_counts_capped_cells(spill) -> None:
    from mcsd.testing.reference import reference_simulate

    for m in MAX_OCC:
        priors = _capped_priors(m, spill)
        for ds in (
            mcsd.simulate(priors, n_paths=16, seed=3, progress=False),
            reference_simulate(priors, 16, seed=3, quantile_vars=False),
        ):
            p = ds["p_shortage"]
            assert (p == 1.0).all(), (m, ds.attrs.get("implementation"), p.min(dim="time"))
            # a turning point in month 1 on every path (3 months short from the first)
            assert (ds["turning_point_cdf"].isel(time=0) == 1.0).all(), m
        ds = mcsd.simulate(priors, n_paths=16, seed=3, progress=False)
        for name in ("p_shortage_year_end", "p_shortage_any_month", "p_shortage_all_months"):
            assert (ds[name] == 1.0).all(), (m, name)


def test_case7_capped_cells_short_in_kept_paths() -> None:
    """The per-year shortage months follow the same rule: 12 of 12 for every capped cell.
    A capped cell's kept occupancy is the cap exactly, though (m s) / s rounds below it."""
    priors = _capped_priors(0.79)
    m = build_model_arrays(priors)
    s = m.supply_stock_mw
    assert ((0.79 * s) / s < 0.79).any()  # the rounding this case is about does occur here
    ds = mcsd.simulate(priors, n_paths=8, seed=3, keep_paths=True, progress=False)
    assert (ds["occupancy_path"].values == 0.79).all()
    assert (ds["turning_month_path"].values == 1).all()
    ref = reference_paths(priors, 8, seed=3)
    assert ref["shortage"].all()
    assert (ref["turning_month"] == 1).all()


def test_case7_uncapped_cells_keep_the_occupancy_rule() -> None:
    """A region below its cap is short only by occupancy >= threshold."""
    priors = make_priors(
        [region("low", 10.0, 100.0), region("full", 500.0, 137.3)],
        [buyer("b", {}, mult=EXACT_ONE, share=exact_share(0.5))],
        threshold=0.97,
        max_occupancy=0.97,
    )
    for ds in (
        mcsd.simulate(priors, n_paths=4, seed=1, progress=False),
        mcsd.testing.reference.reference_simulate(priors, 4, seed=1, quantile_vars=False),
    ):
        assert (ds["p_shortage"].sel(region="low") == 0.0).all()
        assert (ds["p_shortage"].sel(region="full") == 1.0).all()
        # national: 0.1 + 132.4 served of 237.3 supply, below the cap and the threshold
        assert (ds["p_shortage"].sel(region="national") == 0.0).all()
