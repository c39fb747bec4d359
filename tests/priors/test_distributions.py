"""mcsd.priors.distributions (support, median, quantiles without scipy.stats) vs scipy.stats.

The module follows scipy.stats' formulas and order of operations, so the values agree bit
for bit on every case below; the assertions allow 2 ulp (``ULP``) so an unrelated rounding
change in a numpy or scipy release does not fail them. Truncnorm quantiles near
u = 1 - 2**-53 are ill-conditioned (a 1-ulp change in log Phi can move them by 1e-2, or to
inf), and the priors check that very quantile, so agreement there is what makes the loader
accept and reject exactly the tables it did with scipy.stats.

Also: importing mcsd and loading (and compiling) the study priors never imports scipy.stats.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats

from mcsd.engine.arrays import dist_params
from mcsd.priors import distributions
from mcsd.priors.loader import SUPPORTED_DISTRIBUTIONS
from mcsd.priors.model import Distribution

ULP = 2

#: probabilities: the kernels' extreme uniforms 2**-53 and 1 - 2**-53, the ends of the
#: support (0, 1) and points in between
U_GRID = np.array(
    [0.0, 2.0**-53, 1e-12, 1e-6, 1e-3, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999]
    + [1 - 1e-6, 1 - 1e-12, 1 - 2.0**-53, 1.0]
)

INF = np.inf
PARAMS: dict[str, list[dict[str, float]]] = {
    "norm": [{}, {"loc": 2.5, "scale": 0.3}, {"loc": -1e6, "scale": 7e3}],
    "lognorm": [
        {"s": 1e-300},  # mcsd.testing.toy.EXACT_ONE
        {"s": 0.05, "scale": 2.0},
        {"s": 0.3},
        {"s": 1.5, "loc": 0.1, "scale": 0.5},
        {"s": 6.0},
    ],
    "gamma": [{"a": 1e-3}, {"a": 0.5}, {"a": 2.0, "scale": 1.5}, {"a": 7.3, "loc": 0.2}]
    + [{"a": 1e4, "scale": 1e-4}],
    "beta": [
        {"a": 0.5, "b": 0.5},
        {"a": 12.0, "b": 8.05},
        {"a": 2.0, "b": 30.0, "loc": 0.1, "scale": 0.8},
        {"a": 0.01, "b": 5.0},
        {"a": 1e3, "b": 2e3},
    ],
    "uniform": [{}, {"loc": 0.5, "scale": 0.2}, {"loc": 0.4, "scale": 1e-300}],
    "triang": [
        {"c": 0.0},
        {"c": 0.5},
        {"c": 1.0, "loc": 1.0},
        {"c": 0.8, "loc": 0.3, "scale": 0.4},
    ],
    "truncnorm": [
        # two-sided windows around 0 (the study's shares among them)
        {"a": -3.0, "b": 3.0, "loc": 0.7, "scale": 0.0823},
        {"a": -2.7855, "b": 2.7855, "loc": 0.8, "scale": 0.0718},
        {"a": -1.0, "b": 2.0},
        {"a": -0.2, "b": INF, "loc": -2.3, "scale": 0.78},
        {"a": -INF, "b": 0.5},
        {"a": -INF, "b": INF},
        {"a": -1e-3, "b": 1e-3},
        # one-sided windows: left tail, right tail, half-normals, deep tails
        {"a": -5.0, "b": -1.0, "loc": 1.0},
        {"a": -INF, "b": -2.0},
        {"a": -40.0, "b": -38.0},
        {"a": 0.0, "b": INF, "scale": 2.0},
        {"a": -INF, "b": 0.0},
        {"a": 2.0, "b": 5.0},
        {"a": 8.0, "b": 9.0, "loc": 3.0, "scale": 0.1},
        {"a": 38.0, "b": 40.0},
        {"a": 0.5, "b": 0.51},
    ],
    "expon": [{}, {"scale": 3.0}, {"loc": 1.0, "scale": 0.1}],
    "weibull_min": [{"c": 0.3}, {"c": 0.7, "scale": 2.0}, {"c": 1.5}, {"c": 4.0, "loc": 0.5}]
    + [{"c": 50.0}],
}

CASES = [(name, kw) for name in PARAMS for kw in PARAMS[name]]


def _ids(case: tuple[str, dict[str, float]]) -> str:
    name, kw = case
    return name + "(" + ",".join(f"{k}={v:g}" for k, v in kw.items()) + ")"


def assert_within_ulp(got, want, ulp: int = ULP) -> None:
    """Equal to ``ulp`` units in the last place of ``want``; NaNs and infinities must match."""
    got, want = np.broadcast_arrays(np.asarray(got, float), np.asarray(want, float))
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= ulp * np.spacing(np.abs(want))
    bad = ~(same | (np.isfinite(want) & close))
    assert not bad.any(), f"got {got[bad]}, want {want[bad]}"


def scipy_frozen(name: str, kw: dict[str, float]):
    return getattr(stats, name)(**kw)


def test_supported_names_and_shapes_match_scipy():
    assert tuple(distributions.SHAPES) == SUPPORTED_DISTRIBUTIONS
    assert set(PARAMS) == set(SUPPORTED_DISTRIBUTIONS)
    for name, shapes in distributions.SHAPES.items():
        rv = getattr(stats, name)
        assert isinstance(rv, stats.rv_continuous)
        assert shapes == tuple(s.strip() for s in (rv.shapes or "").split(",") if s.strip())
        assert distributions.parameters(name) == (*shapes, "loc", "scale")


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_ppf_median_support_equal_scipy(case):
    name, kw = case
    dist, frozen = Distribution(name, kw), scipy_frozen(name, kw)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want_ppf, want_median = frozen.ppf(U_GRID), frozen.median()
    assert_within_ulp(distributions.ppf(dist, U_GRID), want_ppf)
    assert_within_ulp(distributions.median(dist), want_median)
    # support: loc + scale x the standard support, the same two operations as scipy
    assert distributions.support(dist) == tuple(float(x) for x in frozen.support())


def test_study_priors_distributions_equal_scipy(study_priors):
    dists = [b.demand_multiplier for b in study_priors.buyers]
    dists += [b.third_party_share for b in study_priors.buyers]
    for p in study_priors.providers:
        dists += [p.delay_factor, p.delivery_delay_months.late]
    dists += [r.delay_factor for r in study_priors.regions if r.delay_factor is not None]
    for dist in dists:
        frozen = dist.frozen()
        assert_within_ulp(distributions.ppf(dist, U_GRID), frozen.ppf(U_GRID))
        assert distributions.median(dist) == float(frozen.median())
        assert distributions.support(dist) == tuple(float(x) for x in frozen.support())


def test_log_gauss_mass():
    # closed forms: a symmetric window, half the line, the whole line
    assert distributions.log_gauss_mass(-INF, INF) == 0.0
    assert distributions.log_gauss_mass(0.0, INF) == pytest.approx(np.log(0.5), rel=1e-15)
    assert distributions.log_gauss_mass(-INF, 0.0) == pytest.approx(np.log(0.5), rel=1e-15)
    # mirror symmetry: the right-tail window is computed as its left-tail mirror
    for a, b in [(2.0, 5.0), (38.0, 40.0), (0.5, 0.51), (1e-3, INF)]:
        assert distributions.log_gauss_mass(a, b) == distributions.log_gauss_mass(-b, -a)
    # deep tail, where Phi(b) - Phi(a) underflows: log Phi(-38) ~ -726.0
    assert np.isfinite(distributions.log_gauss_mass(-40.0, -38.0))


def test_log_gauss_mass_equals_scipys_helper():
    helper = pytest.importorskip("scipy.stats._continuous_distns")._log_gauss_mass
    windows = [(kw["a"], kw["b"]) for kw in PARAMS["truncnorm"]]
    rng = np.random.default_rng(3)
    windows += [tuple(np.sort(rng.normal(0.0, s, 2))) for s in (0.01, 1.0, 5.0, 30.0)]
    # narrow one-sided windows, where scipy's complex log-difference and a real
    # log1p(-q/p) differ by up to ~20 ulp: the kernels' constants must stay scipy's
    windows += [(-0.8540004369635847, -0.8499455999240426), (0.0064874354, 0.0066701090)]
    windows += [(-0.012413781841017713, -0.012379863239181181)]
    for a, b in windows:
        want = float(np.real(helper(np.float64(a), np.float64(b))))
        assert_within_ulp(distributions.log_gauss_mass(a, b), want)


def test_scalar_and_array_results():
    dist = Distribution("gamma", {"a": 2.0, "scale": 1.5})
    x = distributions.ppf(dist, 0.25)
    assert isinstance(x, float)
    grid = np.array([[0.1, 0.2], [0.3, 0.4]])
    assert distributions.ppf(dist, grid).shape == (2, 2)
    assert distributions.ppf(dist, grid)[0, 0] == distributions.ppf(dist, 0.1)
    # outside [0, 1]: NaN, as scipy
    assert np.isnan(distributions.ppf(dist, [-0.1, 1.5, np.nan])).all()


@pytest.mark.parametrize(
    "name, kw",
    [
        ("norm", {"scale": -1.0}),
        ("norm", {"loc": np.nan}),
        ("gamma", {"a": 0.0}),
        ("triang", {"c": 1.5}),
        ("truncnorm", {"a": 2.0, "b": 1.0}),
        ("weibull_min", {"c": -1.0}),
    ],
)
def test_invalid_parameters_give_nan_like_scipy(name, kw):
    dist, frozen = Distribution(name, kw), scipy_frozen(name, kw)
    assert_within_ulp(distributions.ppf(dist, U_GRID), frozen.ppf(U_GRID))
    assert np.isnan(distributions.median(dist))
    if not np.isnan(kw.get("loc", 0.0)):  # scipy's support() does not check loc
        assert np.isnan(distributions.support(dist)).all()


def test_bad_names_and_parameters_raise():
    with pytest.raises(ValueError, match="unsupported distribution 'cauchy'"):
        distributions.ppf(Distribution("cauchy", {}), 0.5)
    with pytest.raises(TypeError, match="requires s"):
        distributions.median(Distribution("lognorm", {}))
    with pytest.raises(TypeError, match="no parameter"):
        distributions.support(Distribution("norm", {"s": 1.0}))


def _run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_loading_priors_does_not_import_scipy_stats():
    # ~0.6 s of start-up; a subprocess, since this test process has imported it already
    _run(
        "import sys, mcsd; p = mcsd.load_priors(); "
        "from mcsd.engine.arrays import build_model_arrays; build_model_arrays(p); "
        "assert 'scipy.stats' not in sys.modules, 'scipy.stats was imported'"
    )


def test_simulating_does_not_import_scipy_stats():
    _run(
        "import sys, mcsd; p = mcsd.load_priors(); mcsd.simulate(p, n_paths=100, threads=1); "
        "assert 'scipy.stats' not in sys.modules, 'scipy.stats was imported'"
    )


def test_one_sided_truncnorm_kernel_constant_is_log_gauss_mass():
    for kw in ({"a": 2.0, "b": 5.0}, {"a": -INF, "b": -2.0}, {"a": 0.0, "b": INF}):
        _, p = dist_params(Distribution("truncnorm", kw))
        assert p[5] == distributions.log_gauss_mass(kw["a"], kw["b"])
