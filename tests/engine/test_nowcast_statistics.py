"""Nowcast (issue 17): the weighted engine against exact posteriors, fixed seeds.

1. A one-region, one-buyer toy (lognormal multiplier with persistence, constant supply),
   measured at the end of year 1: the posterior P(shortage at the end of year 2) and the
   posterior median occupancy there match a quadrature (``mcsd.testing.nowcast_reference``)
   within 4 standard errors, and differ from the prior by many.
2. Calibration: truths drawn from the priors, noisy measurements of them, one conditioned
   run each: the truths' later values fall in the posteriors' central intervals as often as
   the intervals say (binomial bounds, 4 SE) and their ranks are uniform (chi-square, 1%).
3. An uninformative measurement (sd 1e12) leaves every estimate as the unweighted run's.
4. A fact the sampler would draw anyway (a hall that is never late nor cancelled, "opened"
   at its month) changes nothing, bit for bit.
5. 50 sharp measurements: weights far below exp(-745) in linear space stay finite, and the
   estimates equal a direct log-sum-exp over the kept paths.

Every statistical tolerance is 4 Monte Carlo standard errors (``Z4``) of the quantity
tested; the SEs are the weighted (ratio-estimator) ones of the design.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import mcsd
from mcsd.priors.model import Distribution
from mcsd.testing.nowcast_reference import (
    Posterior,
    TwoYearToy,
    YearOneMeasurement,
    gaussian_log_weights,
    kish_ess,
    log_sum_exp_mean,
    randomized_pit,
    weighted_cdf_at,
    weighted_quantile,
)
from mcsd.testing.toy import Z4, buyer, make_priors, project, provider, region

make_observations = pytest.importorskip("mcsd.priors.observations").make_observations

RUN = dict(progress=False, threads=1)
OCC, DEM, SUP = "occupancy", "demand", "supply"


def path_values(ds, name: str, rid: str = "A"):
    """(path, time) per-path values of ``name`` in region ``rid``."""
    return ds[f"{name}_path"].sel(region=rid).values


# --------------------------------------------------------------------- 1. quadrature
TOY = TwoYearToy(d0=50.0, s0=100.0, inc1=15.0, inc2=10.0, sigma=0.4, phi=0.7)
N_QUAD = 20_000
# (quantity, value, sd) at the end of year 1 (month 12): the first above the prior median
# of demand (65 MW), the second below it (posterior shortage ~0.64 and ~0.008; prior 0.32)
QUAD_CASES = {"demand_mw": ("demand_mw", 70.0, 2.0), "occupancy": ("occupancy", 0.62, 0.01)}


def quad_priors():
    b = buyer(
        "b",
        {"A": {2025: TOY.inc1, 2026: TOY.inc2}},
        mult=Distribution("lognorm", {"s": TOY.sigma}),
        loading=0.6,  # one buyer: its z is standard normal whatever the loading
        phi=TOY.phi,
    )
    return make_priors(
        [region("A", TOY.d0, TOY.s0)],
        [b],
        horizon_month="2026-12",
        threshold=TOY.threshold,
        max_occupancy=TOY.max_occupancy,
    )


@pytest.fixture(scope="module", params=sorted(QUAD_CASES))
def quad_case(request):
    quantity, value, sd = QUAD_CASES[request.param]
    pri = quad_priors()
    obs = make_observations(
        pri,
        measurements=[
            {"region": "A", "month": "2025-12", "quantity": quantity, "value": value, "sd": sd}
        ],
    )
    ds = mcsd.simulate(pri, n_paths=N_QUAD, seed=17, observations=obs, keep_paths=True, **RUN)
    post = Posterior(TOY, [YearOneMeasurement(12, quantity, value, sd)])
    return ds, post, Posterior(TOY)


def test_reference_matches_plain_monte_carlo():
    """The quadrature itself, against 5 x 10^5 numpy draws importance-weighted by hand (the
    reference must not share a bug with the engine)."""
    rng = np.random.default_rng(2026)
    n = 500_000
    z1 = rng.standard_normal(n)
    z2 = TOY.phi * z1 + np.sqrt(1 - TOY.phi**2) * rng.standard_normal(n)
    occ = TOY.quantity("occupancy", 24, z1, z2)
    for quantity, value, sd in QUAD_CASES.values():
        w = np.exp(-0.5 * ((TOY.quantity(quantity, 12, z1) - value) / sd) ** 2)
        post = Posterior(TOY, [YearOneMeasurement(12, quantity, value, sd)])
        p = post.p_shortage(24)
        got, se = weighted_cdf_at(occ, w, TOY.threshold)
        assert abs((1 - got) - p) < Z4 * se
        med = post.quantile(24, 0.5)
        f_se = weighted_cdf_at(occ, w, med)[1]
        assert abs(weighted_quantile(occ, w, 0.5) - med) < Z4 * f_se / post.pdf(24, med)
        assert post.cdf(24, med) == pytest.approx(0.5, abs=1e-9)


def test_posterior_shortage_probability_matches_quadrature(quad_case):
    ds, post, prior = quad_case
    cell = dict(region="A", year=2026)
    p = float(ds["p_shortage_year_end"].sel(**cell))
    se = float(ds["p_shortage_year_end_se"].sel(**cell))
    want = post.p_shortage(24)
    print(f"posterior P(shortage 2026-12) {p:.5f} +- {se:.5f}, quadrature {want:.5f}")
    assert abs(p - want) <= Z4 * se
    # the SE is the ratio-estimator SE of the kept paths' weights (a huge SE would pass
    # anything)
    w = ds["path_weight"].values
    short = path_values(ds, OCC)[:, 23] >= TOY.threshold
    direct = np.sqrt(np.sum(w * w * (short - np.sum(w * short)) ** 2)) / np.sum(w)
    assert se == pytest.approx(direct, rel=1e-9)
    assert p == pytest.approx(np.sum(w * short), rel=1e-9, abs=1e-15)
    # power: the prior is many SEs away, and the prior copy is the prior
    p_prior = prior.p_shortage(24)
    assert abs(p_prior - want) > 10 * Z4 * se
    prior_se = np.sqrt(p_prior * (1 - p_prior) / N_QUAD)
    assert abs(float(ds["p_shortage_year_end_prior"].sel(**cell)) - p_prior) <= Z4 * prior_se
    np.testing.assert_array_equal(
        ds["p_shortage_year_end"].sel(region="national"), ds["p_shortage_year_end"].sel(region="A")
    )


def test_posterior_median_matches_quadrature(quad_case):
    ds, post, prior = quad_case
    w = ds["path_weight"].values
    occ24 = path_values(ds, OCC)[:, 23]
    med = post.quantile(24, 0.5)
    # SE of a weighted sample median: the SE of the weighted CDF at the median / density
    se = weighted_cdf_at(occ24, w, med)[1] / post.pdf(24, med)
    sample_med = weighted_quantile(occ24, w, 0.5)
    grid_med = float(ds[OCC].sel(region="A", quantile=0.5).isel(time=23))
    width = float(ds.attrs["occupancy_max_bin_width"])
    print(
        f"posterior median occupancy 2026-12: grid {grid_med:.5f}, weighted sample "
        f"{sample_med:.5f} +- {se:.5f}, quadrature {med:.5f}"
    )
    assert abs(sample_med - med) <= Z4 * se
    # the histogram quantile lies in the bin of the sample quantile
    assert abs(grid_med - sample_med) <= width
    assert abs(grid_med - med) <= Z4 * se + width
    prior_med = prior.quantile(24, 0.5)
    assert abs(prior_med - med) > 10 * (Z4 * se + width)


def test_effective_sample_size_is_kish(quad_case):
    ds = quad_case[0]
    w = ds["path_weight"].values
    assert w.shape == (N_QUAD,) and np.all(w >= 0)
    assert np.sum(w) == pytest.approx(1.0, rel=1e-12)
    ess = float(ds.attrs["effective_sample_size"])
    assert ess == pytest.approx(kish_ess(w), rel=1e-9)
    assert ds.attrs["ess_floor"] == 1000 and 1000 < ess < 0.9 * N_QUAD
    assert "nowcast_warning" not in ds.attrs
    # the weights are the measurement's Gaussian likelihood of the kept paths
    var = {"demand_mw": DEM, "occupancy": OCC}[str(ds["observation_quantity"].values[0])]
    x = path_values(ds, var)[:, 11:12]
    lw = gaussian_log_weights(x, ds["observation_value"].values, ds["observation_sd"].values)
    e = np.exp(lw - lw.max())
    np.testing.assert_allclose(
        w, e / e.sum(), rtol=1e-9, atol=2.0 ** -ds.attrs["weight_scale_bits"]
    )


# --------------------------------------------------------------------- 2. calibration
N_REPS = 210
N_CAL = 1000
CAL_OCC_SD, CAL_SUP_SD = 0.01, 3.0


def cal_priors(**kw):
    """One region, one buyer (persistence, market loading), one hall that can be late or
    cancelled: occupancy at month 12 depends on demand and on the hall."""
    b = buyer(
        "b",
        {"A": {2025: 15.0, 2026: 10.0}},
        mult=Distribution("lognorm", {"s": 0.4}),
        loading=0.5,
        phi=0.7,
    )
    prov = provider(
        "p",
        [project("j", "A", 30.0, "2025-06")],
        p_on_time=0.5,
        late=Distribution("gamma", {"a": 2.0, "scale": 3.0}),
        cancel=0.2,
    )
    return make_priors([region("A", 50.0, 100.0)], [b], [prov], horizon_month="2026-12", **kw)


@pytest.fixture(scope="module")
def calibration():
    """PIT values of the truths' occupancy at month 24 and supply at month 12 under their
    posteriors, and the posteriors' central-interval widths."""
    pri = cal_priors()
    truth = mcsd.simulate(pri, n_paths=N_REPS, seed=4242, keep_paths=True, **RUN)
    t_occ12, t_occ24 = path_values(truth, OCC)[:, 11], path_values(truth, OCC)[:, 23]
    t_sup9, t_sup12 = path_values(truth, SUP)[:, 8], path_values(truth, SUP)[:, 11]
    rng = np.random.default_rng(9001)
    v_occ = t_occ12 + CAL_OCC_SD * rng.standard_normal(N_REPS)
    v_sup = t_sup9 + CAL_SUP_SD * rng.standard_normal(N_REPS)
    u = rng.uniform(size=(N_REPS, 3))
    # an occupancy outside [0, 1] cannot be stated: leaving such a rep out is a choice made
    # on the measurement only, so the posterior of the others is unchanged
    ok = (v_occ >= 0) & (v_occ <= 1) & (v_sup >= 0)
    pit = {"occ24": [], "sup12": [], "mismatched": []}
    width50 = []
    prev = None
    for rep in np.nonzero(ok)[0]:
        obs = make_observations(
            pri,
            measurements=[
                {"region": "A", "month": "2025-12", "quantity": "occupancy",
                 "value": float(v_occ[rep]), "sd": CAL_OCC_SD},
                {"region": "national", "month": "2025-09", "quantity": "supply_mw",
                 "value": float(v_sup[rep]), "sd": CAL_SUP_SD},
            ],
        )  # fmt: skip
        ds = mcsd.simulate(
            pri, n_paths=N_CAL, seed=100_000 + int(rep), observations=obs, keep_paths=True, **RUN
        )
        w = ds["path_weight"].values
        occ24 = path_values(ds, OCC)[:, 23]
        pit["occ24"].append(randomized_pit(occ24, w, t_occ24[rep], u[rep, 0]))
        pit["sup12"].append(randomized_pit(path_values(ds, SUP)[:, 11], w, t_sup12[rep], u[rep, 1]))
        # power: the previous rep's truth under this rep's posterior is NOT calibrated
        if prev is not None:
            pit["mismatched"].append(randomized_pit(occ24, w, t_occ24[prev], u[rep, 2]))
        prev = rep
        width50.append(weighted_quantile(occ24, w, 0.75) - weighted_quantile(occ24, w, 0.25))
    prior_occ24 = path_values(truth, OCC)[:, 23]
    prior50 = np.quantile(prior_occ24, 0.75) - np.quantile(prior_occ24, 0.25)
    return {k: np.array(v) for k, v in pit.items()}, np.array(width50), prior50


def coverage(pit: np.ndarray, level: float) -> float:
    lo = (1 - level) / 2
    return float(np.mean((pit >= lo) & (pit <= 1 - lo)))


def chi2_uniform_p(pit: np.ndarray, bins: int = 10) -> float:
    counts = np.histogram(pit, bins=bins, range=(0.0, 1.0))[0]
    return float(stats.chisquare(counts).pvalue)


# ~120 ms of CPU a conditioned run, nearly all of it building the result Dataset: the 210
# runs take ~25 s
@pytest.mark.slow
@pytest.mark.parametrize("target", ["occ24", "sup12"])
def test_posterior_intervals_are_calibrated(calibration, target):
    pit = calibration[0][target]
    n = pit.size
    assert n >= 200
    for level in (0.5, 0.9):
        c = coverage(pit, level)
        print(f"{target}: coverage of the {level:.0%} interval {c:.3f} (n = {n})")
        assert abs(c - level) <= Z4 * np.sqrt(level * (1 - level) / n)
    p = chi2_uniform_p(pit)
    print(f"{target}: rank histogram chi-square p = {p:.3f}")
    assert p > 0.01


@pytest.mark.slow
def test_calibration_test_has_power(calibration):
    """Posteriors are much sharper than the prior, and a truth judged by another rep's
    posterior fails the same checks."""
    pits, width50, prior50 = calibration
    print(f"mean posterior 50% width {width50.mean():.4f}, prior {prior50:.4f}")
    assert width50.mean() < 0.8 * prior50
    bad = pits["mismatched"]
    print(
        f"mismatched truths: 50% coverage {coverage(bad, 0.5):.3f}, 90% coverage "
        f"{coverage(bad, 0.9):.3f}, chi-square p = {chi2_uniform_p(bad):.2g}"
    )
    assert abs(coverage(bad, 0.5) - 0.5) > Z4 * np.sqrt(0.25 / bad.size)
    assert chi2_uniform_p(bad) < 1e-4


# --------------------------------------------------------------------- 3. huge sd
N_SAME = 4000


def test_uninformative_measurement_changes_nothing():
    pri = cal_priors()
    obs = make_observations(
        pri,
        measurements=[
            {"region": "A", "month": "2025-12", "quantity": "occupancy", "value": 0.5, "sd": 1e12}
        ],
    )
    base = mcsd.simulate(pri, n_paths=N_SAME, seed=5, keep_paths=True, **RUN)
    ds = mcsd.simulate(pri, n_paths=N_SAME, seed=5, observations=obs, keep_paths=True, **RUN)
    assert ds.attrs["effective_sample_size"] == N_SAME
    np.testing.assert_array_equal(ds["path_weight"].values, np.full(N_SAME, 1.0 / N_SAME))
    assert set(base.data_vars) <= set(ds.data_vars)
    for name in base.data_vars:
        np.testing.assert_allclose(
            ds[name].values, base[name].values, rtol=1e-12, atol=1e-12, err_msg=name
        )
        prior = f"{name}_prior"
        if prior in ds:
            np.testing.assert_array_equal(ds[prior].values, base[name].values, err_msg=prior)


# --------------------------------------------------------------------- 4. pinned facts
def pin_priors():
    sure = provider("sure", [project("k", "A", 20.0, "2025-09")], p_on_time=1.0, cancel=0.0)
    base = cal_priors()
    return make_priors(base.regions, base.buyers, (*base.providers, sure), horizon_month="2026-12")


def test_a_fact_the_sampler_draws_anyway_changes_nothing():
    pri = pin_priors()
    obs = make_observations(pri, facts=[{"project": "k", "status": "opened", "month": "2025-09"}])
    base = mcsd.simulate(pri, n_paths=N_SAME, seed=8, keep_paths=True, **RUN)
    ds = mcsd.simulate(pri, n_paths=N_SAME, seed=8, observations=obs, keep_paths=True, **RUN)
    assert ds.attrs["effective_sample_size"] == N_SAME
    for name in base.data_vars:  # pins only: equal weights, so the run itself, bit for bit
        np.testing.assert_array_equal(ds[name].values, base[name].values, err_msg=name)


def test_a_pinned_fact_pins_the_hall_on_every_path():
    """Power for the test above: pinning the uncertain hall j (scheduled 2025-06) to open in
    2025-08 puts its 30 MW in service from month 8 on every path."""
    pri = pin_priors()
    obs = make_observations(pri, facts=[{"project": "j", "status": "opened", "month": "2025-08"}])
    base = mcsd.simulate(pri, n_paths=N_SAME, seed=8, keep_paths=True, **RUN)
    ds = mcsd.simulate(pri, n_paths=N_SAME, seed=8, observations=obs, keep_paths=True, **RUN)
    sup = path_values(ds, SUP)
    k = np.where(np.arange(sup.shape[1]) >= 8, 20.0, 0.0)  # hall k: month 9 on
    j = np.where(np.arange(sup.shape[1]) >= 7, 30.0, 0.0)
    np.testing.assert_array_equal(sup, np.broadcast_to(100.0 + j + k, sup.shape))
    assert not np.array_equal(path_values(base, SUP), sup)
    # the prior copy is the unpinned run's
    np.testing.assert_array_equal(ds["supply_prior"].values, base[SUP].values)


# --------------------------------------------------------------------- 5. log space
N_LOG = 4000
N_MEAS = 50


def log_priors():
    b = buyer(
        "b",
        {"A": {y: 12.0 for y in range(2025, 2030)}},
        mult=Distribution("lognorm", {"s": 0.3}),
        loading=0.5,
        phi=0.8,
    )
    return make_priors([region("A", 70.0, 150.0)], [b], horizon_month="2029-06")


def test_many_sharp_measurements_stay_in_log_space():
    """25 supply measurements 20 sd off (the same on every path: log weight -5000 on each)
    and 25 occupancies of a truth path (sd 0.005): in linear space every weight is 0."""
    pri = log_priors()
    truth = path_values(mcsd.simulate(pri, n_paths=1, seed=77, keep_paths=True, **RUN), OCC)[0]
    months = list(pri.month_ends.strftime("%Y-%m"))[: N_MEAS // 2]
    ms = [
        {"region": "A", "month": m, "quantity": "supply_mw", "value": 140.0, "sd": 0.5}
        for m in months
    ] + [
        {"region": "national", "month": m, "quantity": "occupancy", "value": float(v), "sd": 0.005}
        for m, v in zip(months, truth, strict=False)
    ]
    obs = make_observations(pri, measurements=ms)
    ds = mcsd.simulate(pri, n_paths=N_LOG, seed=78, observations=obs, keep_paths=True, **RUN)
    occ, sup = path_values(ds, OCC), path_values(ds, SUP)
    x = np.concatenate([sup[:, : len(months)], occ[:, : len(months)]], axis=1)
    lw = gaussian_log_weights(x, [m["value"] for m in ms], [m["sd"] for m in ms])
    ess = float(ds.attrs["effective_sample_size"])
    e = np.exp(lw - lw.max())
    print(f"max log weight {lw.max():.1f}, ESS {ess:.3f}")
    assert len(ms) == N_MEAS
    assert lw.max() < -745.0 and not np.exp(lw).any()  # linear space would underflow to 0
    w = ds["path_weight"].values
    assert np.isfinite(w).all() and np.isfinite(ess) and 1.0 <= ess < 1000
    assert "below 1000" in ds.attrs["nowcast_warning"]
    assert ess == pytest.approx(kish_ess(e), rel=1e-9)
    bits = int(ds.attrs["weight_scale_bits"])
    assert bits == 62 - N_LOG.bit_length()
    np.testing.assert_allclose(w, e / e.sum(), rtol=1e-9, atol=2.0**-bits)
    # every probability cell against the direct log-sum-exp estimate; a path whose weight
    # rounds to 0 moves a cell by at most 2**-bits
    p = ds["p_shortage"].sel(region="A").values
    want = np.array([log_sum_exp_mean(lw, occ[:, t] >= pri.threshold) for t in range(occ.shape[1])])
    assert np.sum((want > 0.05) & (want < 0.95)) >= 6  # not all 0 or 1
    np.testing.assert_allclose(p, want, rtol=1e-9, atol=N_LOG * 2.0**-bits)
    p_ye = ds["p_shortage_year_end"].sel(region="A").values[:-1]  # 2025..2028 Decembers
    np.testing.assert_allclose(p_ye, want[11::12][:4], rtol=1e-9, atol=N_LOG * 2.0**-bits)
    # occupancy_mean sums occupancies in fixed point (2**-24)
    mean = ds["occupancy_mean"].sel(region="A").values
    want_mean = np.array([log_sum_exp_mean(lw, occ[:, t]) for t in range(occ.shape[1])])
    np.testing.assert_allclose(mean, want_mean, rtol=1e-9, atol=2.0**-24 + N_LOG * 2.0**-bits)
