"""Tests of the NumPy reference implementation (mcsd/testing/reference.py).

Point mode against hand arithmetic; Monte Carlo against closed forms within 4 standard
errors; the demand copula's correlations. Priors are built directly from the dataclasses.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.random import PCG64, Generator
from scipy import integrate, special, stats

from mcsd.priors.model import (
    Buyer,
    DelayDistribution,
    Distribution,
    Priors,
    Project,
    Provider,
    Region,
)
from mcsd.testing import toy
from mcsd.testing.reference import (
    _draw_delivery,
    _draw_demand,
    _draw_demand_and_market,
    _draw_events,
    _latent_demand,
    _plan,
    _round_half_up,
    reference_paths,
    reference_simulate,
)

ONE = Distribution("lognorm", {"s": 1e-9})  # a factor that is 1 for all purposes


def make_priors(regions, buyers, providers=(), spillover=None, **settings) -> Priors:
    """``mcsd.testing.toy.make_priors`` with a 0.9 serving cap (this file's default)."""
    settings.setdefault("max_occupancy", 0.9)
    return toy.make_priors(regions, buyers, providers, spillover, **settings)


def buyer(bid, increments, mult=None, loading=0.0, phi=0.0, share=None, nominal=0.6, **kw):
    return Buyer(
        id=bid,
        name=bid,
        demand_multiplier=mult or Distribution("lognorm", {"s": 0.2}),
        market_loading=loading,
        persistence=phi,
        third_party_share_nominal=nominal,
        third_party_share=share or Distribution("uniform", {"loc": 0.5, "scale": 0.2}),
        increments_mw=increments,
        **kw,
    )


# --------------------------------------------------------------------------------------
# Point mode: hand arithmetic
# --------------------------------------------------------------------------------------
def hand_priors() -> Priors:
    regions = [
        Region("A", "A", demand_stock_mw=70, supply_stock_mw=100),
        Region("B", "B", demand_stock_mw=85, supply_stock_mw=100),  # 0.85: short at base
        Region("C", "C", demand_stock_mw=70, supply_stock_mw=100),
        Region("D", "D", demand_stock_mw=0, supply_stock_mw=0),  # S == 0 rule
    ]
    buyers = [
        buyer("x", {"A": {2025: 240}, "B": {2025: 120}}),  # 20 and 10 MW a month
        buyer("y", {"D": {2025: 6}}, monthly_profile=(0, 0, 1) + (0,) * 9),  # 6 MW in March
    ]
    providers = [
        Provider(
            id="p",
            name="p",
            delivery_delay_months=DelayDistribution(
                0.5, Distribution("gamma", {"a": 2.0, "scale": 3.0})
            ),
            cancellation_probability=0.5,
            delay_factor=Distribution("lognorm", {"s": 0.5}),
            projects=(
                Project("a1", "A", 80, "2025-04"),
                Project("d1", "D", 100, "2025-04"),
                Project("a2", "A", 1000, "2025-05"),  # after the horizon
            ),
        )
    ]
    spill = (
        (0.0, 0.0, 0.5, 0.0),  # A -> C half of its unmet
        (0.0, 0.0, 1.0, 0.0),  # B -> C all of it
        (0.0, 0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0, 0.0),
    )
    return make_priors(regions, buyers, providers, spill, horizon_month="2025-04", sustain_months=2)


def test_point_mode_hand_arithmetic():
    out = reference_paths(hand_priors(), n_paths=3, seed=1, point=True)
    # month 1: B unmet 5 all moves to C (room 20).
    # month 2: A unmet 20 -> offers 10, B unmet 10 -> offers 10; C room 15: accept 0.75,
    #          7.5 each (pro rata). A req 102.5 (unmet 12.5), B 92.5 (2.5), C 90.
    # month 3: A req 122.5, B 102.5, C full (no moves); D: req 6, S 0 -> O = 1.
    # month 4: A gets 80 MW (cap 162): backlog 142.5 served; D gets 100 MW.
    supply = [[100, 100, 100, 180], [100] * 4, [100] * 4, [0, 0, 0, 100], [300, 300, 300, 480]]
    demand = [
        [90, 90, 90, 142.5],
        [90, 90, 90, 90],
        [75, 90, 90, 90],
        [0, 0, 0, 6],
        [255, 270, 270, 328.5],
    ]
    unmet = [
        [0, 12.5, 32.5, 0],
        [0, 2.5, 12.5, 22.5],
        [0, 0, 0, 0],
        [0, 0, 6, 0],
        [0, 15, 51, 22.5],
    ]
    occ = [
        [0.9, 0.9, 0.9, 142.5 / 180],
        [0.9] * 4,
        [0.75, 0.9, 0.9, 0.9],
        [0.0, 0.0, 1.0, 0.06],
        [255 / 300, 0.9, 0.9, 328.5 / 480],
    ]
    for p in range(3):
        np.testing.assert_allclose(out["supply"][p], supply, rtol=1e-12)
        np.testing.assert_allclose(out["demand"][p], demand, rtol=1e-12)
        np.testing.assert_allclose(out["unmet_demand"][p], unmet, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out["occupancy"][p], occ, rtol=1e-12)
    # at base: A 0.7, B 0.85 (flagged), C 0.7, D 0 (S0 = 0, D0 = 0), national 225/300
    assert out["in_shortage_at_base"].tolist() == [False, True, False, False, False]
    # sustain 2: A short 1..3 -> 1; B flagged -> 1; C short 2..4 -> 2;
    # D short only in month 3 (a one-month blip) -> none; national short 1..3 -> 1
    assert out["turning_month"].tolist() == [[1, 1, 2, 0, 1]] * 3
    for k in ("occupancy", "demand", "supply", "unmet_demand"):
        assert out[k].shape == (3, 5, 4) and out[k].dtype == np.float64
    assert out["turning_month"].dtype == np.int64


def test_point_mode_simulate_dataset():
    pri = hand_priors()
    ds = reference_simulate(pri, n_paths=4, seed=0, point=True, chunk=3)
    assert list(ds.region.values) == ["A", "B", "C", "D", "national"]
    assert ds.occupancy.dims == ("region", "time", "quantile")
    assert ds.occupancy_exceedance.dims == ("region", "time", "level")
    assert len(ds.time) == 4 and str(ds.time.values[0])[:10] == "2025-01-31"
    np.testing.assert_allclose(ds.occupancy.sel(region="C").values[:, 0], [0.75, 0.9, 0.9, 0.9])
    assert ds.turning_point_cdf.sel(region="C").values.tolist() == [0, 1, 1, 1]
    assert ds.turning_point_cdf.sel(region="B").values.tolist() == [1, 1, 1, 1]
    assert ds.p_no_turning_point.values.tolist() == [0, 0, 0, 1, 0]
    assert ds.p_shortage.sel(region="D").values.tolist() == [0, 0, 1, 0]
    assert ds.attrs["implementation"] == "numpy reference"
    assert ds.attrs["n_paths"] == 4 and ds.attrs["seed"] == 0


def test_backlog_single_region_no_spill_and_unmet_carried():
    pri = make_priors(
        [Region("r", "r", demand_stock_mw=100, supply_stock_mw=100)],
        [buyer("x", {"r": {2025: 12}})],
        [
            Provider(
                "p",
                "p",
                DelayDistribution(1.0, ONE),
                0.0,
                ONE,
                (Project("q", "r", 50, "2025-03"),),
            )
        ],
        horizon_month="2025-03",
    )
    out = reference_paths(pri, 1, 0, point=True)
    np.testing.assert_allclose(out["unmet_demand"][0, 0], [11, 12, 0])
    np.testing.assert_allclose(out["demand"][0, 0], [90, 90, 103])
    assert out["in_shortage_at_base"].tolist() == [True, True]
    assert out["turning_month"].tolist() == [[1, 1]]


# --------------------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------------------
def test_shortage_probability_lognormal_closed_form():
    s_m, d0, s0, inc = 0.3, 700.0, 1000.0, 150.0
    share = Distribution("uniform", {"loc": 0.5, "scale": 0.2})
    pri = make_priors(
        [Region("r", "r", demand_stock_mw=d0, supply_stock_mw=s0)],
        [buyer("x", {"r": {2025: inc}}, mult=Distribution("lognorm", {"s": s_m}), share=share)],
        max_occupancy=0.97,
    )
    n = 100_000
    ds = reference_simulate(pri, n, seed=11, chunk=30_000, quantile_vars=False)
    fs = share.frozen()
    for month in (6, 12):
        # short iff d0 + inc * month/12 * M * share/0.6 >= 0.8 s0 (the cap 0.97 s0 sits above)
        need = (0.8 * s0 - d0) * 0.6 * 12 / (inc * month)

        def integrand(u, need=need):
            return stats.lognorm(s_m).sf(need / u) * fs.pdf(u)

        expected = integrate.quad(integrand, 0.5, 0.7)[0]
        p = float(ds.p_shortage.sel(region="r").values[month - 1])
        se = np.sqrt(expected * (1 - expected) / n)
        assert abs(p - expected) < 4 * se, (month, p, expected)
        assert float(ds.p_shortage.sel(region="national").values[month - 1]) == p
        assert ds.p_shortage_se.values[0, month - 1] == pytest.approx(np.sqrt(p * (1 - p) / n))


def test_delivery_cdf_closed_form():
    p_on, a, scale, s_f, c = 0.4, 2.0, 2.0, 0.3, 0.1
    s = 6
    pri = make_priors(
        [Region("r", "r", demand_stock_mw=0, supply_stock_mw=100)],
        [buyer("x", {})],
        [
            Provider(
                "p",
                "p",
                DelayDistribution(p_on, Distribution("gamma", {"a": a, "scale": scale})),
                c,
                Distribution("lognorm", {"s": s_f}),
                (Project("q", "r", 10, "2025-06"),),
            )
        ],
        horizon_month="2026-06",
    )
    n = 100_000
    out = reference_paths(pri, n, seed=5)
    T = pri.n_months
    delivered = out["supply"][:, 0, :] > 100  # (n, T)
    fac = stats.lognorm(s_f)
    for t in range(1, T + 1):
        if t < s:
            expected = 0.0
        else:
            # floor(F L + 0.5) <= t - s  <=>  F L < t - s + 0.5
            x = t - s + 0.5
            p_late = integrate.quad(
                lambda f, x=x: stats.gamma(a, scale=scale).cdf(x / f) * fac.pdf(f), 0, np.inf
            )[0]
            expected = (1 - c) * (p_on + (1 - p_on) * p_late)
        p = delivered[:, t - 1].mean()
        se = np.sqrt(max(expected * (1 - expected), 1e-12) / n)
        assert abs(p - expected) <= 4 * se, (t, p, expected)


def test_round_half_up_and_early_delivery_clipped():
    np.testing.assert_array_equal(
        _round_half_up(np.array([0.0, 0.49, 0.5, 1.5, 2.5, -0.5, -0.51, -5.0])),
        [0, 0, 1, 2, 3, 0, -1, -5],
    )
    # a deviation of -5 months on a project scheduled in month 2 delivers in month 1
    pri = make_priors(
        [Region("r", "r", demand_stock_mw=0, supply_stock_mw=0)],
        [buyer("x", {})],
        [
            Provider(
                "p",
                "p",
                DelayDistribution(0.0, Distribution("uniform", {"loc": -5.0, "scale": 1e-9})),
                0.0,
                ONE,
                (Project("q", "r", 10, "2025-02"),),
            )
        ],
        horizon_month="2025-03",
    )
    out = reference_paths(pri, 50, 0)
    np.testing.assert_allclose(out["supply"][:, 0, :], 10.0)


def test_regional_factor_scales_delays():
    # deterministic late delay of 2 months, regional factor 2 -> delivery 4 months late
    pri = make_priors(
        [Region("r", "r", 0, 0, delay_factor=Distribution("uniform", {"loc": 2, "scale": 1e-9}))],
        [buyer("x", {})],
        [
            Provider(
                "p",
                "p",
                DelayDistribution(0.0, Distribution("uniform", {"loc": 2, "scale": 1e-9})),
                0.0,
                ONE,
                (Project("q", "r", 10, "2025-02"),),
            )
        ],
    )
    out = reference_paths(pri, 20, 0)
    assert (out["supply"][:, 0, 4] == 0).all() and (out["supply"][:, 0, 5] == 10).all()


# --------------------------------------------------------------------------------------
# Demand copula
# --------------------------------------------------------------------------------------
def corr_priors(mult2=None):
    l1, l2, p1, p2 = 0.8, 0.5, 0.6, 0.3
    buyers = [
        buyer("b1", {}, Distribution("lognorm", {"s": 0.25}), l1, p1),
        buyer("b2", {}, mult2 or Distribution("lognorm", {"s": 0.4}), l2, p2),
    ]
    pri = make_priors(
        [Region("r", "r", 0, 100)], buyers, horizon_month="2028-12"
    )  # 4 calendar years
    return pri, (l1, l2, p1, p2)


def _check_corr(x, y, rho, n):
    r = np.corrcoef(x, y)[0, 1]
    assert abs(r - rho) < 4 * (1 - rho**2) / np.sqrt(n) + 1e-9, (r, rho)


def test_multiplier_correlations():
    pri, (l1, l2, p1, p2) = corr_priors()
    plan = _plan(pri)
    n = 100_000
    m, ratio = _draw_demand(plan, Generator(PCG64(3)), n)
    assert m.shape == (n, 2, 4) and ratio.shape == (n, 2)
    lm = np.log(m)
    # cross-buyer: l1 l2 in the first year, then the AR(1) recursion of the covariance
    cov = l1 * l2
    for k in range(4):
        _check_corr(lm[:, 0, k], lm[:, 1, k], cov, n)
        cov = p1 * p2 * cov + np.sqrt((1 - p1**2) * (1 - p2**2)) * l1 * l2
    # lag-one autocorrelation = persistence, every year has the marginal (sd of log M = s)
    for b, (phi, s) in enumerate([(p1, 0.25), (p2, 0.4)]):
        for k in range(1, 4):
            _check_corr(lm[:, b, k], lm[:, b, k - 1], phi, n)
        sd = lm[:, b, :].std(axis=0)
        np.testing.assert_allclose(sd, s, rtol=4 / np.sqrt(2 * n) * 1.5)
    # share ratio: uniform(0.5, 0.7) / 0.6 -> mean 1
    assert abs(ratio.mean() - 1.0) < 4 * (0.2 / np.sqrt(12) / 0.6) / np.sqrt(2 * n)


def test_general_marginal_through_copula():
    gamma = Distribution("gamma", {"a": 20.0, "scale": 1 / 19.67})
    pri, (l1, l2, _, _) = corr_priors(mult2=gamma)
    plan = _plan(pri)
    n = 50_000
    m, _ = _draw_demand(plan, Generator(PCG64(9)), n)
    z = _latent_demand(plan, Generator(PCG64(9)), n)
    # same generator stream: M2 = F^-1(Phi(z2)) exactly, and F(M2) is uniform
    np.testing.assert_allclose(m[:, 1, :], gamma.frozen().ppf(special.ndtr(z[:, 1, :])), 1e-9)
    u = gamma.frozen().cdf(m[:, 1, 2])
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    _check_corr(np.log(m[:, 0, 0]), special.ndtri(gamma.frozen().cdf(m[:, 1, 0])), l1 * l2, n)


def test_demand_reaches_outputs():
    # huge supply: served demand at the end of year k minus year k-1 = inc * M[k] * ratio
    pri = make_priors(
        [Region("r", "r", 0, 1e9)],
        [buyer("b1", {"r": {2025: 120, 2026: 240}}, Distribution("lognorm", {"s": 0.25}))],
        horizon_month="2026-12",
    )
    plan = _plan(pri)
    out = reference_paths(pri, 1000, seed=4)
    m, ratio = _draw_demand(plan, Generator(PCG64(4)), 1000)
    d = out["demand"][:, 0, :]
    np.testing.assert_allclose(d[:, 11], 120 * m[:, 0, 0] * ratio[:, 0], rtol=1e-10)
    np.testing.assert_allclose(d[:, 23] - d[:, 11], 240 * m[:, 0, 1] * ratio[:, 0], rtol=1e-10)
    np.testing.assert_allclose(d[:, 0], 10 * m[:, 0, 0] * ratio[:, 0], rtol=1e-10)


# --------------------------------------------------------------------------------------
# reference_simulate against reference_paths
# --------------------------------------------------------------------------------------
def test_simulate_matches_paths_when_one_chunk():
    pri = hand_priors()
    n = 2000
    out = reference_paths(pri, n, seed=7)
    ds = reference_simulate(pri, n, seed=7, chunk=n)
    q = ds["quantile"].values
    for v in ("occupancy", "demand", "supply", "unmet_demand"):
        expected = np.quantile(out[v].astype(np.float32).astype(np.float64), q, axis=0)
        np.testing.assert_allclose(ds[v].values, expected.transpose(1, 2, 0), rtol=1e-12)
        np.testing.assert_allclose(
            ds[v].values, np.quantile(out[v], q, axis=0).transpose(1, 2, 0), rtol=1e-6, atol=1e-5
        )
    occ = out["occupancy"]
    np.testing.assert_array_equal(ds.p_shortage.values, (occ >= 0.8).mean(axis=0))
    np.testing.assert_allclose(ds.occupancy_mean.values, occ.mean(axis=0), rtol=1e-12)
    lv = ds.level.values
    np.testing.assert_array_equal(
        ds.occupancy_exceedance.values, (occ[..., None] >= lv).mean(axis=0)
    )
    tm = out["turning_month"]
    T = pri.n_months
    cdf = ((tm[:, :, None] >= 1) & (tm[:, :, None] <= np.arange(1, T + 1))).mean(axis=0)
    np.testing.assert_array_equal(ds.turning_point_cdf.values, cdf)
    np.testing.assert_array_equal(ds.p_no_turning_point.values, (tm == 0).mean(axis=0))
    # chunking changes the stream but not the statistics' shapes; no-quantile mode is lighter
    ds2 = reference_simulate(pri, n, seed=7, chunk=300, quantile_vars=False)
    assert "occupancy" not in ds2 and ds2.p_shortage.shape == ds.p_shortage.shape
    assert set(ds.data_vars) == {
        "occupancy",
        "demand",
        "supply",
        "unmet_demand",
        "occupancy_exceedance",
        "occupancy_mean",
        "p_shortage",
        "p_shortage_se",
        "turning_point_cdf",
        "p_no_turning_point",
        "in_shortage_at_base",
        "deferred_demand",
        "p_shortage_year_end",
        "p_shortage_any_month",
        "p_shortage_all_months",
    }
    # hand_priors' horizon is 2025-04: one partial year of 4 months
    sh = out["shortage"]  # (n, R1, T)
    assert ds.year.values.tolist() == [2025]
    np.testing.assert_array_equal(ds.p_shortage_year_end.values[:, 0], sh[:, :, 3].mean(0))
    np.testing.assert_array_equal(ds.p_shortage_any_month.values[:, 0], sh.any(2).mean(0))
    np.testing.assert_array_equal(ds.p_shortage_all_months.values[:, 0], sh.all(2).mean(0))
    assert ds.deferred_demand.dims == ("region", "time", "quantile")
    assert (ds.deferred_demand.values == 0).all()  # no pre-leases
    assert ds.attrs["turning_point_rule"] == "first_month"


def test_linear_quantiles_match_numpy():
    from mcsd.testing.reference import _linear_quantiles

    rng = np.random.default_rng(0)
    q = np.arange(1, 20) / 20
    for n in (1, 2, 7, 20, 1001):
        x = rng.lognormal(size=(3, n)).astype(np.float32)
        x[0, : n // 2] = 1.0  # ties
        expected = np.quantile(x.astype(np.float64), q, axis=-1).T
        np.testing.assert_allclose(_linear_quantiles(x.copy(), q), expected, rtol=1e-14)


# --------------------------------------------------------------------------------------
# Issue-16 mechanisms: year-end turning rule, shared lateness, pre-leases, share on the
# cycle, demand events
# --------------------------------------------------------------------------------------
def fixed(value: float) -> Distribution:
    """A late draw equal to ``value`` to float precision."""
    return Distribution("uniform", {"loc": value, "scale": 1e-9})


def test_year_end_turning_rule_point_mode():
    regions = [
        Region("A", "A", 60, 100),  # short from month 2, not in month 4..10, short in Dec
        Region("B", "B", 0, 100),  # short only in the partial last year 2026
        Region("C", "C", 90, 100),  # short at base
    ]
    buyers = [buyer("x", {"A": {2025: 120}, "B": {2026: 1200}}, nominal=0.6)]
    providers = [toy.provider("p", [toy.project("a", "A", 100, "2025-04")])]
    kw = dict(horizon_month="2026-06", max_occupancy=1.0)
    first = make_priors(regions, buyers, providers, **kw)
    year_end = make_priors(regions, buyers, providers, turning_point="year_end", **kw)
    a = reference_paths(first, 2, 0, point=True)
    b = reference_paths(year_end, 2, 0, point=True)
    occ = a["occupancy"][0]
    np.testing.assert_allclose(occ[0, [1, 3, 11]], [0.8, 0.5, 0.9])
    assert (occ[1, :12] == 0).all() and occ[1, 12] == 1.0
    # national: 270 / 400 in December 2025, 370 / 400 in January 2026
    assert a["turning_month"][0].tolist() == [2, 13, 1, 13]
    assert b["turning_month"][0].tolist() == [12, 0, 1, 0]
    np.testing.assert_array_equal(a["shortage"], b["shortage"])  # p_shortage stays monthly
    ds = reference_simulate(year_end, 3, seed=0, point=True)
    assert ds.attrs["turning_point_rule"] == "year_end"
    assert ds.p_no_turning_point.values.tolist() == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="sustain"):
        reference_paths(
            make_priors(regions, buyers, turning_point="year_end", sustain_months=2, **kw), 1, 0
        )


def test_pre_lease_point_mode_keeps_year_end_stocks():
    """X comes out of the buyer's increment and is requested at the (on-time) delivery, so
    the year's total is unchanged; only the phasing moves."""
    regions = [Region("r", "r", 0, 1e6)]
    buyers = [buyer("x", {"r": {2025: 240, 2026: 120}}, nominal=0.6)]

    def pri(lease):
        hall = toy.project("h", "r", 150, "2025-06", lease=lease)
        prov = toy.provider("p", [hall], p_on_time=0.3, cancel=0.2)
        return make_priors(regions, buyers, [prov], horizon_month="2026-12")

    plain = reference_paths(pri(None), 1, 0, point=True)
    leased = reference_paths(pri(("x", 120.0)), 1, 0, point=True)
    d0, d1 = plain["demand"][0, 0], leased["demand"][0, 0]
    np.testing.assert_allclose(d0[[11, 23]], [240, 360], rtol=1e-12)
    np.testing.assert_allclose(d1[[11, 23]], d0[[11, 23]], rtol=1e-12)
    # (240 - 120) / 12 = 10 a month, plus 120 in June
    np.testing.assert_allclose(d1[:12], 10 * np.arange(1, 13) + 120 * (np.arange(1, 13) >= 6))
    assert (leased["deferred_demand"] == 0).all()
    with pytest.raises(ValueError, match="exceed"):
        reference_paths(pri(("x", 241.0)), 1, 0)


def test_pre_lease_late_cancelled_and_deferred():
    """A hall always exactly 3 months late defers its tenant 3 months; a cancelled hall's
    tenant asks at the scheduled month; a hall past the horizon defers to the end."""
    regions = [Region("r", "r", 0, 1e6), Region("q", "q", 0, 1e6)]
    buyers = [buyer("x", {"r": {2025: 120}, "q": {2025: 120}}, nominal=0.6)]
    late3 = toy.provider(
        "late",
        [
            toy.project("a", "r", 100, "2025-04", lease=("x", 60.0)),
            toy.project("z", "q", 100, "2025-11", lease=("x", 24.0)),  # d = 14 > T
        ],
        p_on_time=0.0,
        late=fixed(3.0),
    )
    gone = toy.provider(
        "gone", [toy.project("c", "q", 100, "2025-05", lease=("x", 36.0))], cancel=1.0
    )
    pri = make_priors(regions, buyers, [late3, gone])
    out = reference_paths(pri, 5, 1)
    t = np.arange(1, 13)
    dfr = out["deferred_demand"]
    expected_r = 60.0 * ((t >= 4) & (t < 7))
    expected_q = 24.0 * (t >= 11)
    for p in range(5):
        np.testing.assert_array_equal(dfr[p, 0], expected_r)
        np.testing.assert_array_equal(dfr[p, 1], expected_q)
        np.testing.assert_array_equal(dfr[p, 2], expected_r + expected_q)
    # served demand (supply is ample): the rest of the increment, scaled and phased, plus
    # each tenant's firm X at its month (demand is drawn first: same stream)
    m, ratio = _draw_demand(_plan(pri), Generator(PCG64(1)), 5)
    scaled = (m[:, 0, 0] * ratio[:, 0])[:, None] * (120 - 60) / 12 * t
    d = out["demand"]
    np.testing.assert_allclose(d[:, 0], scaled + 60 * (t >= 7), rtol=1e-12)
    np.testing.assert_allclose(d[:, 1], scaled + 36 * (t >= 5), rtol=1e-12)
    np.testing.assert_allclose(out["unmet_demand"], 0.0, atol=1e-9)
    # the Dataset's quantiles of a constant are that constant
    ds = reference_simulate(pri, 50, seed=2)
    got = ds.deferred_demand.sel(region="national").values
    np.testing.assert_array_equal(got, np.repeat((expected_r + expected_q)[:, None], 19, 1))


def event_priors(p, loading, region_factor=None):
    regions = [Region("r", "r", 0, 1e9, delay_factor=region_factor)]
    buyers = [buyer("x", {"r": {2025: 120, 2026: 120}}, loading=0.5, nominal=0.6)]
    events = (
        toy.event("e1", "x", "r", "2026-03", 50.0, p, loading),
        toy.event("e2", "x", "r", "2025-02", 7.0, 0.8),
    )
    return make_priors(regions, buyers, horizon_month="2026-12", demand_events=events)


def test_demand_event_probability_and_market_loading():
    p, w = 0.3, 0.6
    pri = event_priors(p, w, region_factor=ONE)
    n = 100_000
    plan = _plan(pri)
    rng = Generator(PCG64(8))
    m, ratio, zm = _draw_demand_and_market(plan, rng, n)
    on = _draw_events(plan, rng, zm)
    # P(event) = p; E[1{event} Zm[k]] = w phi(ndtri(1 - p)) (E[Zm | latent] = w latent)
    for i, (pi, wi) in enumerate([(p, w), (0.8, 0.0)]):
        assert abs(on[:, i].mean() - pi) <= 4 * np.sqrt(pi * (1 - pi) / n)
        k = plan.event_year[i]
        x = on[:, i] * zm[:, k]
        expected = wi * stats.norm.pdf(special.ndtri(1 - pi))
        assert abs(x.mean() - expected) <= 4 * x.std() / np.sqrt(n), (i, x.mean(), expected)
    # the same stream through the model: with no providers and no regional factor nothing
    # is drawn between demand and events
    pri = event_priors(p, w)
    plan = _plan(pri)
    rng = Generator(PCG64(9))
    m, ratio, zm = _draw_demand_and_market(plan, rng, 2000)
    on = _draw_events(plan, rng, zm)
    out = reference_paths(pri, 2000, seed=9)
    d = out["demand"][:, 0]
    base = 10 * m[:, 0, 1] * ratio[:, 0]  # the March 2026 slice
    np.testing.assert_allclose(d[:, 14] - d[:, 13], base + 50 * on[:, 0], rtol=1e-9)
    jan = 10 * m[:, 0, 0] * ratio[:, 0]
    np.testing.assert_allclose(d[:, 1] - d[:, 0], jan + 7 * on[:, 1], rtol=1e-9)
    # point mode: present iff p > 0.5
    pt = reference_paths(pri, 1, 0, point=True)["demand"][0, 0]
    np.testing.assert_allclose(np.diff(pt)[[0, 13]], [17, 10], rtol=1e-12)


def test_share_market_loading():
    rho, K = 0.7, 4
    g = Distribution("beta", {"a": 3.0, "b": 5.0})
    buyers = [
        buyer("x", {}, share=g, nominal=0.375, third_party_share_market_loading=rho),
        buyer("y", {}, share=Distribution("uniform", {"loc": 0.5, "scale": 0.2})),
    ]
    pri = make_priors([Region("r", "r", 0, 100)], buyers, horizon_month="2028-12")
    plan = _plan(pri)
    n = 100_000
    m, ratio, zm = _draw_demand_and_market(plan, Generator(PCG64(12)), n)
    zbar = zm.sum(axis=1) / np.sqrt(K)
    u = g.frozen().cdf(ratio[:, 0] * 0.375)
    assert stats.kstest(u, "uniform").pvalue > 1e-4  # the marginal is G
    _check_corr(special.ndtri(u), zbar, rho, n)  # normal score loads rho on Zbar
    # a buyer with no loading keeps the old stream: its share is G's rvs after Zm and Zb
    rng = Generator(PCG64(12))
    rng.standard_normal((n, K))
    rng.standard_normal((n, 2, K))
    rng.standard_normal(n)  # x's own share normal Eb
    old = buyers[1].third_party_share.frozen().rvs(size=n, random_state=rng)
    np.testing.assert_array_equal(ratio[:, 1], old / 0.6)


def lateness_priors(wp1, wr1, wp2, wr2, p_on):
    """Projects a, b (p1, region r), c (p1, q), d (p2, r); a late hall's deviation is 10^6
    months times its factors (p1 and r: lognorm(0.5); p2 and q: none)."""
    factor = Distribution("lognorm", {"s": 0.5})
    regions = [Region("r", "r", 0, 10, delay_factor=factor), Region("q", "q", 0, 10)]
    p1 = toy.provider(
        "p1",
        [toy.project(j, g, 1, "2025-02") for j, g in (("a", "r"), ("b", "r"), ("c", "q"))],
        p_on_time=p_on,
        late=fixed(1e6),
        factor=factor,
        wp=wp1,
        wr=wr1,
    )
    p2 = toy.provider(
        "p2", [toy.project("d", "r", 1, "2025-02")], p_on_time=p_on, late=fixed(1e6),
        factor=None, wp=wp2, wr=wr2,
    )  # fmt: skip
    return make_priors(regions, [buyer("x", {})], [p1, p2])


def test_shared_lateness_pairwise_and_factors():
    wp1, wr1, wp2, wr2, p_on = 0.6, 0.5, 0.3, 0.8, 0.4
    pri = lateness_priors(wp1, wr1, wp2, wr2, p_on)
    plan = _plan(pri)
    assert plan.shared_lateness
    n = 100_000
    shift = _draw_delivery(plan, pri, Generator(PCG64(21)), n) - 2
    late = shift > 0  # on time: 0; late: 10^6 F >= 1 (F < 1e-6 needs |Z| > 27)
    c = special.ndtri(p_on)

    def both(rho):  # P(L1 > c, L2 > c), standard normals with correlation rho
        mvn = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]], abseps=1e-10)
        return mvn.cdf([-c, -c])

    for j in range(4):
        assert abs(late[:, j].mean() - (1 - p_on)) <= 4 * np.sqrt(p_on * (1 - p_on) / n)
    pairs = [
        (0, 1, wp1**2 + wr1**2),  # same provider, same region
        (0, 2, wp1**2),  # same provider, other region
        (0, 3, wr1 * wr2),  # other providers, same region
        (2, 3, 0.0),  # nothing shared
    ]
    for a, b, rho in pairs:
        pab = both(rho)
        got = (late[:, a] & late[:, b]).mean()
        assert abs(got - pab) <= 4 * np.sqrt(pab * (1 - pab) / n), (a, b, got, pab)
    # the factors are the quantiles of the normals lateness loads on: given project j late,
    # E[Z | L_j > c] = cov(Z, L_j) phi(c) / (1 - p_on), and log F = 0.5 Z. Rounding a
    # deviation x >= 10^6 F to whole months moves log x by <= 0.5 / x < 1e-4 (F > 0.005).
    h = stats.norm.pdf(c) / (1 - p_on)
    for j, cov in ((0, wp1 + wr1), (2, wp1), (3, wr2)):  # a: both factors; c: p1's; d: r's
        logf = np.log(shift[late[:, j], j] / 1e6)
        tol = 4 * logf.std() / np.sqrt(logf.size) + 1e-4
        assert abs(logf.mean() - 0.5 * cov * h) <= tol, (j, logf.mean(), 0.5 * cov * h)
