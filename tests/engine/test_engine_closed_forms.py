"""The engine (mcsd.simulate) against closed forms on toy systems, 10^5 paths, fixed seeds.

Every probability cell must be within 4 binomial standard errors, SE = sqrt(p (1 - p) / n)
with p the closed-form value (cells where p is 0 or 1 must match exactly).

Constructions (exact, not approximate): the share is ``uniform(loc=nominal, scale=1e-300)``
and factors that should be off are ``lognorm(s=1e-300)``: both are constant in float64, so
share / nominal == 1 and factor == 1 on every path (see mcsd/testing/toy.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

import mcsd
from mcsd.priors.model import Distribution
from mcsd.testing.toy import EXACT_ONE, Z4, buyer, make_priors, project, provider, region

N = 100_000


def assert_probabilities(got, want, n=N):
    got, want = np.asarray(got, float), np.asarray(want, float)
    se = np.sqrt(want * (1 - want) / n)
    bad = np.abs(got - want) > Z4 * se
    assert not bad.any(), np.c_[np.arange(got.size)[bad] + 1, got[bad], want[bad], se[bad]]


# ------------------------------------------------------------------------ demand only
S_LOG = 0.4
D0, S0, I1, I2 = 60.0, 100.0, 24.0, 12.0  # shortage <=> requested >= 80


def demand_priors(phi):
    return make_priors(
        [region("A", D0, S0)],
        [
            buyer(
                "b",
                {"A": {2025: I1, 2026: I2}},
                mult=Distribution("lognorm", {"s": S_LOG}),
                loading=0.0,
                phi=phi,
            )
        ],
        horizon_month="2026-12",
    )


def p_year1(t):
    """Month t <= 12: requested = D0 + I1 M1 t / 12 >= 0.8 S0 <=> M1 >= c."""
    c = (0.8 * S0 - D0) * 12 / (I1 * t)
    return stats.norm.sf(np.log(c) / S_LOG)


def p_year2(t, phi):
    """Month t in 13..24: D0 + I1 M1 + I2 M2 u >= 0.8 S0, u = (t - 12) / 12, with
    (log M1, log M2) / s standard bivariate normal with correlation phi (a 1-d integral)."""
    u = (t - 12) / 12
    need = 0.8 * S0 - D0

    def integrand(z1):
        rest = need - I1 * np.exp(S_LOG * z1)
        if rest <= 0:
            cond = 1.0
        else:
            z2 = np.log(rest / (I2 * u)) / S_LOG
            cond = stats.norm.sf((z2 - phi * z1) / np.sqrt(1 - phi * phi))
        return cond * stats.norm.pdf(z1)

    z_break = np.log(need / I1) / S_LOG
    a, _ = integrate.quad(integrand, -12, z_break, epsabs=1e-13, epsrel=1e-12)
    return a + stats.norm.sf(z_break)


@pytest.mark.parametrize("phi", [0.0, 0.7])
def test_lognormal_demand_shortage_probability(phi):
    ds = mcsd.simulate(demand_priors(phi), n_paths=N, seed=3, progress=False)
    p = ds["p_shortage"].sel(region="A").values
    want = np.array([p_year1(t) for t in range(1, 13)] + [p_year2(t, phi) for t in range(13, 25)])
    assert 0.03 < want[4] < 0.05 and want[9] == pytest.approx(0.5)
    assert_probabilities(p, want)
    # national == the only region here
    np.testing.assert_array_equal(ds["p_shortage"].sel(region="national").values, p)
    # persistence matters: the year-2 probabilities differ between phi = 0 and 0.7
    if phi:
        indep = np.array([p_year2(t, 0.0) for t in range(13, 25)])
        assert np.max(np.abs(indep - want[12:])) > 5 * Z4 * np.sqrt(0.25 / N)


# ------------------------------------------------------------------------ supply only
def supply_priors(p_on_time, cancel, factor=EXACT_ONE, late=None):
    """D0 = 85, S0 = 100 (in shortage), one 100 MW project scheduled in month 3:
    shortage at month t <=> the project has not arrived by t."""
    late = late or Distribution("gamma", {"a": 2.0, "scale": 2.0})
    prov = provider(
        "p",
        [project("j", "A", 100.0, "2025-03")],
        p_on_time=p_on_time,
        late=late,
        cancel=cancel,
        factor=factor,
    )
    return make_priors([region("A", 85.0, S0)], [buyer("b")], [prov], horizon_month="2026-12")


def p_not_delivered(t, p_on_time, cancel, late_cdf):
    """delivery = 3 + floor(dev + 0.5) <= t <=> dev < t - 3 + 0.5 (dev continuous)."""
    if t < 3:
        return 1.0
    delivered = p_on_time + (1 - p_on_time) * late_cdf(t - 3 + 0.5)
    return 1.0 - (1.0 - cancel) * delivered


@pytest.mark.parametrize(("p_on_time", "cancel"), [(0.5, 0.1), (0.0, 0.0), (0.8, 0.3)])
def test_delay_distribution_cdf(p_on_time, cancel):
    ds = mcsd.simulate(supply_priors(p_on_time, cancel), n_paths=N, seed=5, progress=False)
    late = stats.gamma(2.0, scale=2.0).cdf
    want = [p_not_delivered(t, p_on_time, cancel, late) for t in range(1, 25)]
    assert_probabilities(ds["p_shortage"].sel(region="A").values, want)
    # shortage at the base: flagged, the turning point is month 1 on every path
    assert bool(ds["in_shortage_at_base"].sel(region="A"))
    assert np.all(ds["turning_point_cdf"].sel(region="A").values == 1.0)
    # supply is 100 or 200: P(supply == 200 at t) = 1 - P(not delivered)
    assert ds["supply"].sel(region="A").min() == 100 and ds["supply"].max() <= 200


def test_delay_with_provider_factor():
    """dev = G x F, G ~ gamma(2, 2), F ~ lognorm(0.4): P(G F < x) = E_F[F_G(x / F)]."""
    factor = Distribution("lognorm", {"s": 0.4})
    ds = mcsd.simulate(supply_priors(0.0, 0.0, factor=factor), n_paths=N, seed=9, progress=False)
    g, f = stats.gamma(2.0, scale=2.0), stats.lognorm(0.4)

    def cdf(x):
        val, _ = integrate.quad(
            lambda z: g.cdf(x / f.ppf(stats.norm.cdf(z))) * stats.norm.pdf(z), -10, 10, epsabs=1e-13
        )
        return val

    want = [p_not_delivered(t, 0.0, 0.0, cdf) for t in range(1, 25)]
    assert_probabilities(ds["p_shortage"].sel(region="A").values, want)


def test_cancellation_only():
    """p_on_time = 1: the project arrives exactly in month 3 unless cancelled (p = 0.2)."""
    ds = mcsd.simulate(supply_priors(1.0, 0.2), n_paths=N, seed=13, progress=False)
    p = ds["p_shortage"].sel(region="A").values
    assert np.all(p[:2] == 1.0)
    assert np.all(p[2:] == p[2])  # never delivered later than scheduled
    assert_probabilities(p[2:], np.full(22, 0.2))
