"""The sampler's market mechanisms (issue 16) against closed forms:
``mcsd.kernels.sampling.draw_all_inputs``, 10^6 draws from toy priors (truncnorm shares
5 x 10^5, beta shares 2 x 10^5: their cdf is slow), fixed seeds.

* Shared lateness: project j of provider p in region r is late iff
  wp Zp + wr Zr + sqrt(1 - wp^2 - wr^2) Ej > ndtri(p_on_time), Zp and Zr the normals whose
  quantiles are the delay factors.
* The third-party share on the cycle: the share's normal score is
  rho Zbar + sqrt(1 - rho^2) Eb, Zbar = sum_k Zm[k] / sqrt(K).
* Demand events: on iff w Zm[k] + sqrt(1 - w^2) E > ndtri(1 - p), keyed by the event's id.

Tolerances (4 Monte Carlo standard errors, ``Z4``):
* frequencies: 4 sqrt(p (1 - p) / n);
* a sample correlation r: 4 SE with SE the delta-method (influence-function) standard error
  sqrt(Var(psi) / n), psi = a b - r (a^2 + b^2) / 2, a and b the standardized variables,
  Var(psi) computed under the model (exactly for two Bernoullis from the four cell
  probabilities; for a Bernoulli and a normal from a NumPy sample of the model). For a
  bivariate normal pair Var(psi) = (1 - rho^2)^2, the usual (1 - rho^2) / sqrt(n);
* distributions: KS (continuous) or chi-square (whole months) p > 1e-3.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from scipy import special, stats

from mcsd.engine.executor import CompiledRun
from mcsd.kernels.sampling import draw_all_inputs, draw_inputs
from mcsd.priors.model import DemandEvent, Distribution
from mcsd.testing.toy import EXACT_ONE, Z4, buyer, make_priors, project, provider, region

N = 1_000_000
KS_P_MIN = 1e-3


def draw_all(priors, n=N, seed=11):
    run = CompiledRun.build(priors, seed)
    return draw_all_inputs(run.model, run.group_seed_keys, 0, n)


def check_frequency(x, p):
    f = float(np.mean(x))
    assert abs(f - p) <= Z4 * np.sqrt(p * (1 - p) / x.size), (f, p)


def standardized(x):
    x = np.asarray(x, float)
    return (x - x.mean()) / x.std()


def influence_se(a, b, rho):
    """Delta-method SE of the sample correlation of n pairs like (a, b) (a model sample)."""
    sa, sb = standardized(a), standardized(b)
    psi = sa * sb - 0.5 * rho * (sa * sa + sb * sb)
    return float(psi.std())


def check_corr(a, b, rho, sd_psi):
    """|corr(a, b) - rho| <= 4 sd_psi / sqrt(n)."""
    r = np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1]
    assert abs(r - rho) <= Z4 * sd_psi / np.sqrt(len(a)), (r, rho, sd_psi)
    return r


def check_normal_corr(a, b, rho):
    check_corr(a, b, rho, 1 - rho * rho)


# ------------------------------------------------------------------------ shared lateness
def phi2(t1, t2, rho):
    """P(X1 <= t1, X2 <= t2), (X1, X2) standard bivariate normal with correlation rho."""
    cov = [[1.0, rho], [rho, 1.0]]
    return float(
        stats.multivariate_normal.cdf([t1, t2], [0.0, 0.0], cov, abseps=1e-10, releps=1e-10)
    )


def late_pair(q1, q2, rho):
    """Correlation of the late indicators 1{X1 > c1}, 1{X2 > c2}, P(late) = q, c = ndtri(1 - q),
    and the sd of its influence function, from the four cell probabilities.

    P(both late) = P(X1 > c1, X2 > c2) = P(-X1 < -c1, -X2 < -c2) = Phi2(t1, t2; rho) with
    t = -c = ndtri(q) ((-X1, -X2) has the same law)."""
    p11 = phi2(special.ndtri(q1), special.ndtri(q2), rho)
    s1, s2 = np.sqrt(q1 * (1 - q1)), np.sqrt(q2 * (1 - q2))
    corr = (p11 - q1 * q2) / (s1 * s2)
    cells = {(1, 1): p11, (1, 0): q1 - p11, (0, 1): q2 - p11, (0, 0): 1 - q1 - q2 + p11}
    var = 0.0
    for (x, y), w in cells.items():
        a, b = (x - q1) / s1, (y - q2) / s2
        var += w * (a * b - 0.5 * corr * (a * a + b * b)) ** 2
    return corr, np.sqrt(var)


LATE = Distribution("gamma", {"a": 2.0, "scale": 1.5})
# (provider, wp, wr, p_on_time, delay factor, [(project, region)])
LATENESS_PROVIDERS = [
    ("p1", 0.6, 0.5, 0.6, EXACT_ONE, [("j0", "A"), ("j1", "A"), ("j2", "B")]),
    ("p2", 0.3, 0.7, 0.75, None, [("j3", "A"), ("j4", "B")]),  # no factor: Zp still there
    ("p3", 0.0, 0.0, 0.55, EXACT_ONE, [("j5", "A")]),
    ("p4", 0.0, -0.5, 0.35, EXACT_ONE, [("j6", "A")]),
]


def lateness_priors():
    providers = []
    for pid, wp, wr, on_time, factor, projs in LATENESS_PROVIDERS:
        p = provider(
            pid, [project(j, r, 10, "2025-01") for j, r in projs], on_time, LATE, 0.0, factor
        )
        delay = dataclasses.replace(p.delivery_delay_months, provider_loading=wp, region_loading=wr)
        providers.append(dataclasses.replace(p, delivery_delay_months=delay))
    regions = [
        region("A", 50, 100, delay_factor=Distribution("lognorm", {"s": 0.2})),
        region("B", 50, 100),
    ]
    return make_priors(regions, [buyer("b")], providers)


@pytest.fixture(scope="module")
def late_draws():
    return draw_all(lateness_priors())["late"]


def test_each_project_is_late_with_probability_one_minus_p_on_time(late_draws):
    j = 0
    for _, _, _, on_time, _, projs in LATENESS_PROVIDERS:
        for _ in projs:
            check_frequency(late_draws[:, j], 1 - on_time)
            j += 1


@pytest.mark.parametrize(
    ("j", "k", "rho"),
    [
        (0, 1, 0.6**2 + 0.5**2),  # same provider, same region
        (0, 2, 0.6**2),  # same provider, other region
        (3, 4, 0.3**2),  # same provider (without a delay factor), other region
        (0, 3, 0.5 * 0.7),  # other providers, same region: wr_p wr_p'
        (2, 4, 0.5 * 0.7),  # ... in the region without a delay factor
        (0, 6, 0.5 * -0.5),  # a negative loading
        (0, 4, 0.0),  # other provider, other region
        (0, 5, 0.0),  # a provider without loadings
        (3, 6, 0.7 * -0.5),
    ],
)
def test_late_indicators_correlate_as_the_bivariate_normal_orthant(late_draws, j, k, rho):
    q = {}
    i = 0
    for _, _, _, on_time, _, projs in LATENESS_PROVIDERS:
        for _ in projs:
            q[i] = 1 - on_time
            i += 1
    corr, sd = late_pair(q[j], q[k], rho)
    if rho != 0.0:
        assert abs(corr) > 10 * Z4 * sd / np.sqrt(N)  # the test can tell it from independence
    check_corr(late_draws[:, j], late_draws[:, k], corr, sd)


def whole_month_pmf(cdf, kmax):
    """P(floor(X + 0.5) == k) = F(k + 0.5) - F(k - 0.5), k = 0..kmax - 1, and the tail."""
    edges = np.concatenate([[-np.inf], np.arange(kmax) + 0.5])
    c = cdf(edges)
    return np.append(np.diff(c), 1.0 - c[-1])


def check_pmf(shift, pmf):
    """Per-cell 4 SE and a chi-square goodness of fit (cells with < 5 expected merged)."""
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


LATE_PPF = Distribution("gamma", {"a": 2.5, "scale": 1.2})  # non-integer shape: ppf path
FACTOR_S, REGION_S, LATE_MONTHS = 0.5, 0.3, 10.0


def delay_length_priors():
    """Projects late with p = 0.7, without factors, loadings 0 or not (both delay code paths);
    and two projects whose lateness loads fully on the provider's / region's factor normal
    (a constant late draw of 10 months, so the shift is round(10 x factor))."""
    constant = Distribution("uniform", {"loc": LATE_MONTHS, "scale": 1e-300})  # exactly 10.0

    def one(pid, rid, late, factor, wp=0.0, wr=0.0, on_time=0.3):
        p = provider(pid, [project(pid, rid, 10, "2025-01")], on_time, late, factor=factor)
        delay = dataclasses.replace(p.delivery_delay_months, provider_loading=wp, region_loading=wr)
        return dataclasses.replace(p, delivery_delay_months=delay)

    providers = [
        one("i0", "B", LATE, None),
        one("i1", "B", LATE, None, 0.8, 0.5),
        one("f0", "B", LATE_PPF, EXACT_ONE),
        one("f1", "B", LATE_PPF, EXACT_ONE, -0.6, 0.6),
        one("zp", "B", constant, Distribution("lognorm", {"s": FACTOR_S}), 1.0, 0.0, 0.4),
        one("zr", "A", constant, None, 0.0, 1.0, 0.4),
    ]
    regions = [
        region("A", 50, 100, delay_factor=Distribution("lognorm", {"s": REGION_S})),
        region("B", 50, 100),
    ]
    return make_priors(regions, [buyer("b")], providers)


@pytest.fixture(scope="module")
def delay_length_draws():
    d = draw_all(delay_length_priors())
    return d["late"], d["delivery"] - 1  # scheduled month 1: the shift


@pytest.mark.parametrize(("j", "dist"), [(0, LATE), (1, LATE), (2, LATE_PPF), (3, LATE_PPF)])
def test_delay_length_given_late_does_not_depend_on_the_loadings(delay_length_draws, j, dist):
    """Without factors the length of a late project's delay is its own `late` draw, rounded,
    whatever its loadings: the same whole-month law with loadings 0 (j = 0, 2) and not."""
    late, shift = delay_length_draws
    check_frequency(late[:, j], 0.7)
    assert np.all(shift[~late[:, j], j] == 0)  # on time: exactly the scheduled month
    check_pmf(shift[late[:, j], j], whole_month_pmf(dist.frozen().cdf, 16))


@pytest.mark.parametrize(("j", "s"), [(4, FACTOR_S), (5, REGION_S)])
def test_lateness_reads_the_delay_factors_own_normal(delay_length_draws, j, s):
    """Loading 1 on Zp (Zr): late iff Z > c = ndtri(0.4), and the shift is
    floor(10 exp(s Z) + 0.5) of the same Z, so given late the shift has the law of
    floor(10 exp(s Z) + 0.5) given Z > c (never below round(10 exp(s c)) = 9 or 10)."""
    late, shift = delay_length_draws
    c = special.ndtri(0.4)
    check_frequency(late[:, j], 0.6)
    x = shift[late[:, j], j]
    assert x.min() >= np.floor(LATE_MONTHS * np.exp(s * c) + 0.5), x.min()

    def cdf_given_late(m):  # P(10 exp(s Z) <= m | Z > c)
        with np.errstate(divide="ignore"):
            z = np.log(np.maximum(m, 0.0) / LATE_MONTHS) / s
        return np.clip((stats.norm.cdf(z) - 0.4) / 0.6, 0.0, 1.0)

    check_pmf(x, whole_month_pmf(cdf_given_late, 40))


# ------------------------------------------------------------------ neutrality of the draws
def digest(a) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def neutral_priors():
    """Two regions with spillover, two buyers (both multiplier and share code paths), three
    providers (integer and non-integer gamma delays, weibull, factors, cancellation)."""
    return make_priors(
        [
            region("A", 60, 100, delay_factor=Distribution("lognorm", {"s": 0.3})),
            region("B", 30, 60),
        ],
        [
            buyer(
                "b0",
                {"A": {2025: 30, 2026: 25}, "B": {2025: 10, 2026: 12}},
                mult=Distribution("lognorm", {"s": 0.35}),
                loading=0.7,
                phi=0.4,
                share=Distribution("truncnorm", {"a": -3.0, "b": 3.0, "loc": 0.6, "scale": 0.08}),
                nominal=0.6,
            ),
            buyer(
                "b1",
                {"A": {2025: 8}, "B": {2025: 15, 2026: 20}},
                mult=Distribution("gamma", {"a": 3.0, "scale": 1 / 2.6740603137483736}),
                loading=0.5,
                phi=0.2,
                share=Distribution("beta", {"a": 12.0, "b": 8.05}),
                nominal=0.6020924637,
                monthly_profile=(
                    0.02,
                    0.03,
                    0.05,
                    0.05,
                    0.08,
                    0.08,
                    0.1,
                    0.1,
                    0.1,
                    0.1,
                    0.14,
                    0.15,
                ),
            ),
        ],
        [
            provider(
                "p0",
                [project("a1", "A", 20, "2025-03"), project("b1", "B", 15, "2025-06")],
                p_on_time=0.4,
                late=Distribution("gamma", {"a": 2.0, "scale": 2.0}),
                cancel=0.1,
                factor=Distribution("lognorm", {"s": 0.4}),
            ),
            provider(
                "p1",
                [project("a2", "A", 25, "2025-09"), project("a3", "A", 10, "2026-02")],
                p_on_time=0.3,
                late=Distribution("gamma", {"a": 2.5, "scale": 1.5}),
                cancel=0.05,
                factor=None,
            ),
            provider(
                "p2",
                [project("b2", "B", 20, "2026-01")],
                p_on_time=0.5,
                late=Distribution("weibull_min", {"c": 1.5, "scale": 3.0}),
            ),
        ],
        spillover=((0.0, 0.3), (0.2, 0.0)),
        horizon_month="2026-12",
        max_occupancy=0.95,
        sustain_months=2,
    )


# draw_inputs(neutral_priors(), seed 11, paths 0..4999) computed with the engine before
# issue 16 (git HEAD e02a45e): the new mechanisms at their defaults must not move a bit
OLD_DRAWS = {
    "scale": "635635a74758ff56",
    "delivery": "d221591e48d00b79",
    "market_z": "58ce80b6e1e2ced3",
}


def explicit_defaults(priors):
    """``priors`` with every issue-16 field written out at its neutral default."""
    providers = tuple(
        dataclasses.replace(
            p,
            delivery_delay_months=dataclasses.replace(
                p.delivery_delay_months, provider_loading=0.0, region_loading=0.0
            ),
            projects=tuple(
                dataclasses.replace(j, pre_lease_buyer=None, pre_lease_mw=0.0) for j in p.projects
            ),
        )
        for p in priors.providers
    )
    buyers = tuple(
        dataclasses.replace(b, third_party_share_market_loading=0.0) for b in priors.buyers
    )
    return dataclasses.replace(
        priors, providers=providers, buyers=buyers, turning_point="first_month", demand_events=()
    )


def old_style_draws(priors, n, seed):
    run = CompiledRun.build(priors, seed)
    m = run.model
    B, K, J = m.market_loading.shape[0], m.n_years, m.proj_capacity_mw.shape[0]
    scale, delivery, z = np.empty((n, B, K)), np.empty((n, J), dtype=np.int64), np.empty((n, K))
    draw_inputs(m, run.group_seed_keys, 0, n, scale, delivery, z)
    return {"scale": scale, "delivery": delivery, "market_z": z}


def test_default_loadings_give_the_old_draws_bit_for_bit():
    priors = neutral_priors()
    for p in (priors, explicit_defaults(priors)):
        got = old_style_draws(p, 5000, 11)
        assert {k: digest(v) for k, v in got.items()} == OLD_DRAWS
        every = draw_all(p, n=5000, seed=11)  # the test hook draws the same inputs
        for k, v in got.items():
            assert np.array_equal(every[k], v), k
        # a project neither late nor cancelled arrives exactly at its scheduled month
        on_time = ~every["late"] & (every["delivery"] != 0)
        sched = np.array([3, 6, 9, 14, 13])
        assert np.array_equal(np.where(on_time, every["delivery"], 0), np.where(on_time, sched, 0))
        assert every["share_ratio"].shape == (5000, 2) and every["event_on"].shape == (5000, 0)


# ------------------------------------------------------------------------ share on the cycle
TRUNC = Distribution("truncnorm", {"a": -3.0, "b": 3.0, "loc": 0.7, "scale": 0.0823})
BETA = Distribution("beta", {"a": 12.0, "b": 8.05})
BETA_NOMINAL = float(BETA.frozen().median())
K_SHARE = 3


def share_draws(shares, n):
    """Share ratios and market normals of one-region priors with a buyer per
    (distribution, nominal, rho) of ``shares`` over K_SHARE years."""
    buyers = [
        buyer(f"b{i}", share=dist, nominal=nominal, third_party_share_market_loading=rho)
        for i, (dist, nominal, rho) in enumerate(shares)
    ]
    priors = make_priors([region("A", 50, 100)], buyers, horizon_month="2027-12")
    d = draw_all(priors, n=n)
    assert d["market_z"].shape == (n, K_SHARE)
    return d["share_ratio"], d["market_z"]


def check_share_score(ratio, zm, dist, nominal, rho):
    """The share's marginal is G (KS); its normal score Phi^-1(G(share)) correlates rho with
    Zbar and rho / sqrt(K) with every year's market normal. Returns the score."""
    g = dist.frozen()
    u = g.cdf(ratio * nominal)
    p = stats.kstest(u, stats.uniform.cdf).pvalue  # KS of the share against G
    assert p > KS_P_MIN, p
    score = special.ndtri(u)
    check_normal_corr(score, zm.sum(axis=1) / np.sqrt(K_SHARE), rho)
    for k in range(K_SHARE):  # every year weighs the same: rho / sqrt(K)
        check_normal_corr(score, zm[:, k], rho / np.sqrt(K_SHARE))
    return score


TRUNC_RHOS = (0.7, 0.0, -0.5)


def test_truncnorm_shares_load_on_the_mean_market_normal():
    ratio, zm = share_draws([(TRUNC, 0.7, rho) for rho in TRUNC_RHOS], 500_000)
    scores = [
        check_share_score(ratio[:, b], zm, TRUNC, 0.7, rho) for b, rho in enumerate(TRUNC_RHOS)
    ]
    # two buyers share Zbar only (their own normals are independent): corr = rho1 rho2
    check_normal_corr(scores[0], scores[2], TRUNC_RHOS[0] * TRUNC_RHOS[2])
    check_normal_corr(scores[0], scores[1], 0.0)


def test_beta_share_loads_on_the_mean_market_normal():
    ratio, zm = share_draws([(BETA, BETA_NOMINAL, -0.4)], 200_000)  # beta's ppf is slow
    check_share_score(ratio[:, 0], zm, BETA, BETA_NOMINAL, -0.4)


# ----------------------------------------------------------------------------- demand events
# (id, month, probability, market loading); the horizon is 2026-12: years k = 0, 1
EVENTS = [
    ("e_a", "2025-05", 0.2, 0.0),
    ("e_b", "2025-08", 0.8, 0.0),
    ("e_c", "2026-03", 0.3, 0.6),
    ("e_d", "2025-11", 0.7, -0.5),
    ("e_e", "2026-06", 0.8, 0.9),
    ("e_f", "2025-02", 1.0, 0.0),
]


def event(eid, month, p, w, mw=30.0, buyer_id="b", region_id="A"):
    return DemandEvent(eid, eid, buyer_id, region_id, month, mw, p, market_loading=w)


def event_priors(events=EVENTS, buyers=None):
    return make_priors(
        [region("A", 50, 1000)],
        buyers or [buyer("b", {"A": {2025: 10, 2026: 10}})],
        horizon_month="2026-12",
        demand_events=tuple(event(*e) for e in events),
    )


@pytest.fixture(scope="module")
def event_draws():
    d = draw_all(event_priors())
    return d["event_on"], d["market_z"]


@pytest.mark.parametrize("e", range(len(EVENTS)))
def test_event_frequency(event_draws, e):
    on, _ = event_draws
    check_frequency(on[:, e], EVENTS[e][2])


def point_biserial(p, w):
    """corr(1{X > t}, Z), X = w Z + sqrt(1 - w^2) E, t = ndtri(1 - p):
    E[Z 1{X > t}] = w E[X 1{X > t}] = w phi(t), so corr = w phi(t) / sqrt(p (1 - p))."""
    t = special.ndtri(1 - p)
    return w * stats.norm.pdf(t) / np.sqrt(p * (1 - p))


@pytest.mark.parametrize("e", [0, 1, 2, 3, 4])
def test_event_correlates_with_its_years_market_normal(event_draws, e):
    on, zm = event_draws
    _, month, p, w = EVENTS[e]
    k = int(month[:4]) - 2025
    rho = point_biserial(p, w)
    rng = np.random.default_rng(100 + e)  # the model's own sample, for the SE only
    z, own = rng.standard_normal((2, N))
    model_on = w * z + np.sqrt(1 - w * w) * own > special.ndtri(1 - p)
    sd = influence_se(model_on, z, rho)
    if w != 0.0:
        assert abs(rho) > 10 * Z4 * sd / np.sqrt(N)
    check_corr(on[:, e], zm[:, k], rho, sd)
    check_corr(on[:, e], zm[:, 1 - k], 0.0, 1.0)  # the other year's market normal: independent


def test_events_draw_their_own_normals(event_draws):
    """Two events without loadings are independent (SE of r at independence: 1 / sqrt(n))."""
    on, _ = event_draws
    check_corr(on[:, 0], on[:, 1], 0.0, 1.0)
    check_corr(on[:, 1], on[:, 3], 0.0, 1.0)
    # two loaded events of different years are independent too
    check_corr(on[:, 2], on[:, 3], 0.0, 1.0)


def test_events_are_common_random_numbers_keyed_by_id():
    """The same event id sees the same draw on every path whatever else the priors hold: an
    event added before it, another increment of its buyer, another buyer."""
    n = 20_000
    base = draw_all(event_priors(), n=n)["event_on"]
    variants = [
        event_priors([("new", "2025-03", 0.6, 0.3), *EVENTS]),
        event_priors(buyers=[buyer("b", {"A": {2025: 99, 2026: 1}})]),
        event_priors(
            buyers=[buyer("a0", {"A": {2025: 5}}), buyer("b", {"A": {2025: 10, 2026: 10}})]
        ),
        event_priors(list(reversed(EVENTS))),
    ]
    for v, priors in enumerate(variants):
        got = draw_all(priors, n=n)["event_on"]
        ids = [e.id for e in priors.demand_events]
        for e, (eid, *_) in enumerate(EVENTS):
            assert np.array_equal(got[:, ids.index(eid)], base[:, e]), (v, eid)
