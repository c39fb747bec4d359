"""The engine's input samplers (mcsd.kernels.sampling.draw_inputs) against their distributions.

10^6 draws each (beta: 2 x 10^5) from small toy priors, fixed seeds. Tolerances:
* KS test (scipy.stats.kstest) p > 1e-3 (the p observed with these seeds is noted).
* means: |mean - mu| <= 4 SE, SE = sigma / sqrt(n) (sigma from scipy);
  variances: SE = sqrt((mu4 - sigma^4) / n), mu4 = (excess kurtosis + 3) sigma^4.
* frequencies: 4 x sqrt(p (1 - p) / n) per cell, plus a chi-square goodness of fit.
* correlations: 4 x (1 - rho^2) / sqrt(n) (the SE of a sample correlation near rho).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from mcsd.engine.executor import CompiledRun
from mcsd.kernels.sampling import draw_inputs
from mcsd.priors.model import Distribution
from mcsd.testing.toy import Z4, buyer, make_priors, project, provider, region

N = 1_000_000
KS_P_MIN = 1e-3


def draw(priors, n=N, seed=11):
    run = CompiledRun.build(priors, seed)
    m = run.model
    B, K, J = m.market_loading.shape[0], m.n_years, m.proj_capacity_mw.shape[0]
    scale = np.empty((n, B, K))
    delivery = np.empty((n, J), dtype=np.int64)
    z = np.empty((n, K))
    draw_inputs(m, run.group_seed_keys, 0, n, scale, delivery, z)
    return scale, delivery, z


def check_moments(x, dist):
    n = x.size
    mu, var, kurt = (float(v) for v in dist.stats(moments="mvk"))
    assert abs(x.mean() - mu) <= Z4 * np.sqrt(var / n), (x.mean(), mu)
    se_var = np.sqrt((kurt + 2.0) * var * var / n)  # (mu4 - sigma^4) / n
    assert abs(x.var() - var) <= Z4 * se_var, (x.var(), var)


def check_ks(x, dist):
    p = stats.kstest(x, dist.cdf).pvalue
    assert p > KS_P_MIN, p
    return p


def check_corr(a, b, rho):
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r - rho) <= Z4 * (1 - rho * rho) / np.sqrt(a.size), (r, rho)


GAMMA_A = 3.0
GAMMA_MEDIAN_1 = Distribution("gamma", {"a": GAMMA_A, "scale": 1 / stats.gamma(GAMMA_A).median()})
TWO_YEARS = dict(horizon_month="2026-12")


@pytest.fixture(scope="module")
def demand_draws():
    """Two buyers over two years, shares exactly nominal: scale == M."""
    priors = make_priors(
        [region("A", 50, 100)],
        [
            buyer("b0", mult=Distribution("lognorm", {"s": 0.3}), loading=0.8, phi=0.5),
            buyer("b1", mult=GAMMA_MEDIAN_1, loading=0.6, phi=0.3),
        ],
        **TWO_YEARS,
    )
    return draw(priors)


def test_lognorm_multiplier_marginal(demand_draws):
    scale, _, _ = demand_draws
    dist = stats.lognorm(0.3)
    for k in range(2):  # every year has the marginal (the AR(1) keeps z standard normal)
        x = scale[:, 0, k]
        check_ks(x, dist)  # p = 0.20 (k=0), 0.011 (k=1) with seed 11
        check_moments(x, dist)


def test_gamma_multiplier_marginal_through_the_copula(demand_draws):
    scale, _, _ = demand_draws
    dist = GAMMA_MEDIAN_1.frozen()
    assert dist.median() == pytest.approx(1.0, rel=1e-12)
    for k in range(2):
        x = scale[:, 1, k]
        check_ks(x, dist)  # p = 0.91 (k=0), 0.79 (k=1) with seed 11
        check_moments(x, dist)


def test_copula_correlations(demand_draws):
    """z = log M / s (lognorm buyer), Phi^-1(F(M)) (gamma buyer); zm is the market factor."""
    scale, _, zm = demand_draws
    z0 = np.log(scale[:, 0, :]) / 0.3
    z1 = special.ndtri(GAMMA_MEDIAN_1.frozen().cdf(scale[:, 1, :]))
    i0, i1 = np.sqrt(1 - 0.5**2), np.sqrt(1 - 0.3**2)  # innovation weights
    check_corr(z0[:, 0], zm[:, 0], 0.8)  # year 1: corr(z_b, Zm) = loading_b
    check_corr(z0[:, 1], zm[:, 1], i0 * 0.8)  # year 2: through the innovation only
    check_corr(z0[:, 0], z1[:, 0], 0.8 * 0.6)  # corr across buyers = l0 x l1
    check_corr(z0[:, 1], z1[:, 1], (0.5 * 0.3 + i0 * i1) * 0.8 * 0.6)
    for k in range(2):
        check_moments(zm[:, k], stats.norm())
        check_moments(z0[:, k], stats.norm())
        check_moments(z1[:, k], stats.norm())
    check_corr(z0[:, 0], z0[:, 1], 0.5)  # lag-one autocorrelation = persistence
    check_corr(z1[:, 0], z1[:, 1], 0.3)
    check_corr(zm[:, 0], zm[:, 1], 0.0)  # the market factor is fresh every year
    # cross-lag: corr(z0[y], z1[y+1]) = phi1 x l0 l1 (z1[1] = phi1 z1[0] + innov e1[1])
    check_corr(z0[:, 0], z1[:, 1], 0.3 * 0.48)


def share_priors(share, nominal):
    return make_priors(
        [region("A", 50, 100)],
        [buyer("b", mult=Distribution("lognorm", {"s": 1e-300}), share=share, nominal=nominal)],
    )


def test_truncnorm_share():
    kw = {"a": -3.0, "b": 3.0, "loc": 0.7, "scale": 0.0823}  # the study's bytedance share
    scale, _, _ = draw(share_priors(Distribution("truncnorm", kw), 0.7))
    x = scale[:, 0, 0] * 0.7
    dist = stats.truncnorm(**kw)
    check_ks(x, dist)  # p = 0.71 with seed 11
    check_moments(x, dist)


def test_beta_share():
    kw = {"a": 12.0, "b": 8.05}
    dist = stats.beta(**kw)
    nominal = float(dist.median())
    scale, _, _ = draw(share_priors(Distribution("beta", kw), nominal), n=200_000)
    x = scale[:, 0, 0] * nominal
    check_ks(x, dist)  # p = 0.57 with seed 11
    check_moments(x, dist)


def whole_month_pmf(cdf, kmax):
    """P(floor(X + 0.5) == k) = F(k + 0.5) - F(k - 0.5), k = 0..kmax - 1, and the tail."""
    edges = np.concatenate([[0.0], np.arange(kmax) + 0.5])
    c = cdf(edges)
    return np.append(np.diff(c), 1.0 - c[-1])


def check_pmf(shift, pmf):
    kmax = pmf.size - 1
    counts = np.bincount(np.minimum(shift, kmax), minlength=kmax + 1)
    n = shift.size
    freq = counts / n
    se = np.sqrt(pmf * (1 - pmf) / n)
    assert np.all(np.abs(freq - pmf) <= Z4 * se + 1e-12), np.c_[freq, pmf]
    keep = pmf * n >= 5
    expected, observed = pmf[keep] * n, counts[keep]
    if pmf[~keep].sum() > 0:
        expected = np.append(expected, pmf[~keep].sum() * n)
        observed = np.append(observed, counts[~keep].sum())
    chi = stats.chisquare(observed, expected * observed.sum() / expected.sum())
    assert chi.pvalue > KS_P_MIN, chi


@pytest.fixture(scope="module")
def delay_draws():
    late_int = Distribution("gamma", {"a": 2.0, "scale": 1.5})  # integer shape: fast path
    late_ppf = Distribution("gamma", {"a": 2.5, "scale": 1.2})  # non-integer: ppf path
    providers = [
        provider("late_int", [project("li", "A", 10, "2025-01")], p_on_time=0.0, late=late_int),
        provider("late_ppf", [project("lp", "A", 10, "2025-01")], p_on_time=0.0, late=late_ppf),
        provider("mixed", [project("mx", "A", 10, "2025-01")], p_on_time=0.6, late=late_int),
        provider("cancel", [project("cx", "A", 10, "2025-03")], cancel=0.1),
        provider(
            "corr",
            [project("c1", "A", 10, "2025-01"), project("c2", "A", 10, "2025-01")],
            p_on_time=0.0,
            late=late_int,
            factor=Distribution("lognorm", {"s": 0.5}),
        ),
        provider("indep", [project("i1", "A", 10, "2025-01")], p_on_time=0.0, late=late_int),
    ]
    priors = make_priors([region("A", 50, 100)], [buyer("b")], providers)
    _, delivery, _ = draw(priors)
    return delivery


def test_integer_shape_gamma_delay_whole_months(delay_draws):
    """p_on_time = 0, no factor: delivery - scheduled = floor(gamma + 0.5)."""
    shift = delay_draws[:, 0] - 1
    check_pmf(shift, whole_month_pmf(stats.gamma(2.0, scale=1.5).cdf, 16))


def test_non_integer_shape_gamma_delay_whole_months(delay_draws):
    shift = delay_draws[:, 1] - 1
    check_pmf(shift, whole_month_pmf(stats.gamma(2.5, scale=1.2).cdf, 16))


def test_on_time_mass_and_late_part(delay_draws):
    shift = delay_draws[:, 2] - 1
    pmf = 0.4 * whole_month_pmf(stats.gamma(2.0, scale=1.5).cdf, 16)
    pmf[0] += 0.6  # on time with probability p, else late by a rounded gamma draw
    check_pmf(shift, pmf)


def test_cancellation_frequency(delay_draws):
    d = delay_draws[:, 3]
    p = np.mean(d == 0)
    assert abs(p - 0.1) <= Z4 * np.sqrt(0.1 * 0.9 / d.size), p
    assert np.all(d[d != 0] == 3)  # p_on_time = 1: the others arrive exactly as scheduled
    # cancellation is independent of the other projects' draws
    check_corr((d == 0).astype(float), delay_draws[:, 0].astype(float), 0.0)


def test_provider_factor_correlates_its_projects(delay_draws):
    """Same provider: corr of the whole-month shifts equals that of
    floor(G1 F + 0.5), floor(G2 F + 0.5) (G gamma, F lognorm), computed here with NumPy;
    the SE of the difference of two independent sample correlations is
    sqrt(2) (1 - rho^2) / sqrt(n). Different providers: corr 0 within 4 / sqrt(n)."""
    s1, s2, s3 = (delay_draws[:, j].astype(float) for j in (4, 5, 6))
    rng = np.random.default_rng(5)
    f = rng.lognormal(0.0, 0.5, N)
    g = rng.gamma(2.0, 1.5, (2, N))
    ref = np.floor(g * f + 0.5)
    rho = np.corrcoef(ref[0], ref[1])[0, 1]
    r = np.corrcoef(s1, s2)[0, 1]
    assert rho > 0.2
    assert abs(r - rho) <= Z4 * np.sqrt(2) * (1 - rho * rho) / np.sqrt(N), (r, rho)
    check_corr(s1, s3, 0.0)
    check_corr(s2, s3, 0.0)


def test_a_paths_inputs_do_not_depend_on_its_block_position():
    """The sampler is vectorized over paths (``mcsd.kernels.sampling.LANES`` at a time, scalar
    remainder loops): a path's inputs are the same bits whether it is drawn alone, at any
    offset of a block, or in a run longer than LANES. Every transform branch is exercised:
    lognorm and gamma multipliers, truncnorm (two-sided and one-sided) and beta shares,
    integer and non-integer gamma delays, with and without delay factors."""
    late_int = Distribution("gamma", {"a": 3.0, "scale": 1.5})
    late_ppf = Distribution("gamma", {"a": 2.5, "scale": 1.2})
    priors = make_priors(
        [region("A", 50, 100, delay_factor=Distribution("lognorm", {"s": 0.3})), region("B", 1, 2)],
        [
            buyer(
                "b0",
                mult=Distribution("lognorm", {"s": 0.3}),
                loading=0.8,
                phi=0.5,
                share=Distribution("truncnorm", {"a": -3.0, "b": 3.0, "loc": 0.5, "scale": 0.1}),
            ),
            buyer(
                "b1",
                mult=GAMMA_MEDIAN_1,
                loading=0.6,
                phi=0.3,
                share=Distribution("beta", {"a": 12.0, "b": 8.05}),
            ),
            buyer("b2", share=Distribution("truncnorm", {"a": 0.0, "b": np.inf, "scale": 0.2})),
        ],
        [
            provider(
                "pi",
                [project("i1", "A", 10, "2025-01"), project("i2", "B", 5, "2025-02")],
                p_on_time=0.5,
                late=late_int,
                cancel=0.2,
                factor=Distribution("lognorm", {"s": 0.5}),
            ),
            provider(
                "pp",
                [project("p1", "A", 10, "2025-03")],
                p_on_time=0.3,
                late=late_ppf,
                cancel=0.1,
                factor=None,
            ),
            provider(
                "pw",
                [project("w1", "B", 10, "2025-01")],
                p_on_time=0.5,
                late=Distribution("weibull_min", {"c": 1.5, "scale": 2.0}),
                factor=Distribution("gamma", {"a": 4.0, "scale": 0.25}),
            ),
        ],
        **TWO_YEARS,
    )
    n = 300
    full = draw(priors, n=n, seed=3)
    for path0, k in [(0, 1), (5, 1), (7, 37), (129, 171)]:
        run = CompiledRun.build(priors, 3)
        m = run.model
        B, K, J = m.market_loading.shape[0], m.n_years, m.proj_capacity_mw.shape[0]
        scale = np.empty((k, B, K))
        delivery = np.empty((k, J), dtype=np.int64)
        z = np.empty((k, K))
        draw_inputs(m, run.group_seed_keys, path0, k, scale, delivery, z)
        for part, whole in zip((scale, delivery, z), full, strict=True):
            assert np.array_equal(part, whole[path0 : path0 + k]), (path0, k)
