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
    _draw_demand,
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
    }


def test_linear_quantiles_match_numpy():
    from mcsd.testing.reference import _linear_quantiles

    rng = np.random.default_rng(0)
    q = np.arange(1, 20) / 20
    for n in (1, 2, 7, 20, 1001):
        x = rng.lognormal(size=(3, n)).astype(np.float32)
        x[0, : n // 2] = 1.0  # ties
        expected = np.quantile(x.astype(np.float64), q, axis=-1).T
        np.testing.assert_allclose(_linear_quantiles(x.copy(), q), expected, rtol=1e-14)
