"""Grouped Sobol indices (``mcsd.sensitivity``): estimator on toy functions, engine checks."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest

import mcsd
from mcsd.analysis.sensitivity import bootstrap_indices, sobol_indices
from mcsd.kernels.layout import GROUPS
from mcsd.testing.toy import zero_width

matplotlib.use("Agg")


def pick_freeze(f, xa: np.ndarray, xb: np.ndarray):
    """YA, YB and YAB[g] (column g of A replaced by B's) of a function of (n, k) inputs."""
    yab = []
    for g in range(xa.shape[1]):
        x = xa.copy()
        x[:, g] = xb[:, g]
        yab.append(f(x))
    return f(xa), f(xb), np.array(yab)


def test_linear_toy_known_indices():
    """Y = X1 + 2 X2, independent standard normals: S = ST = (1/5, 4/5)."""
    rng = np.random.default_rng(0)
    n = 20_000
    ya, yb, yab = pick_freeze(
        lambda x: x[:, 0] + 2 * x[:, 1], rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    )
    s, st = sobol_indices(ya, yb, yab)
    s_lo, s_hi, st_lo, st_hi = bootstrap_indices(ya, yb, yab, n_boot=200, seed=1)
    want = np.array([0.2, 0.8])
    for est, lo, hi in ((s, s_lo, s_hi), (st, st_lo, st_hi)):
        np.testing.assert_allclose(est, want, atol=0.03)
        assert np.all(lo < hi)
        widen = 0.5 * (hi - lo)  # the truth within the 95% interval widened by half its width
        assert np.all((lo - widen <= want) & (want <= hi + widen)), (lo, hi)


def test_ishigami_known_indices():
    """Ishigami (a = 7, b = 0.1), uniform on [-pi, pi]^3: closed-form S and ST."""
    a, b = 7.0, 0.1
    rng = np.random.default_rng(3)
    n = 50_000

    def f(x):
        return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])

    v1 = 0.5 * (1 + b * np.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * np.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    s_true = np.array([v1, v2, 0.0]) / v
    st_true = np.array([v1 + v13, v2, v13]) / v
    u = lambda: rng.uniform(-np.pi, np.pi, (n, 3))  # noqa: E731
    s, st = sobol_indices(*pick_freeze(f, u(), u()))
    np.testing.assert_allclose(s, s_true, atol=0.03)
    np.testing.assert_allclose(st, st_true, atol=0.03)


def test_weights_reproduce_plain_means():
    rng = np.random.default_rng(5)
    ya, yb, yab = rng.random(50), rng.random(50), rng.random((3, 50))
    s, st = sobol_indices(ya, yb, yab)
    sw, stw = sobol_indices(ya, yb, yab, weights=np.ones((2, 50)))
    np.testing.assert_allclose(sw[1], s)
    np.testing.assert_allclose(stw[0], st)


@pytest.fixture(scope="module")
def cancel_only(study_priors):
    """The study's priors with every input at nominal except cancellations (p = 0.3)."""
    flat = zero_width(study_priors)
    providers = tuple(dataclasses.replace(p, cancellation_probability=0.3) for p in flat.providers)
    return dataclasses.replace(flat, providers=providers)


def test_engine_only_cancellations_uncertain(cancel_only):
    sens = mcsd.sensitivity(cancel_only, n_paths=4_000, seed=9, n_boot=50)
    assert sens.sizes["group"] == len(GROUPS)
    var = sens.shortage_variance.values
    for out in ("shortage", "turning_month"):
        s1, st = sens[f"{out}_first_order"], sens[f"{out}_total"]
        others = [g for g in GROUPS if g != "cancel"]
        # groups without width change nothing: their indices are exactly 0
        assert np.all(np.nan_to_num(s1.sel(group=others).values) == 0.0)
        assert np.all(np.nan_to_num(st.sel(group=others).values) == 0.0)
        # cells with real variance (p in about [0.05, 0.95]; turning months varying)
        mask = var > 0.045 if out == "shortage" else sens.turning_month_variance.values > 0.5
        for k in ("first_order", "total"):
            est = sens[f"{out}_{k}"].sel(group="cancel").values[mask]
            lo = sens[f"{out}_{k}_lo"].sel(group="cancel").values[mask]
            hi = sens[f"{out}_{k}_hi"].sel(group="cancel").values[mask]
            assert mask.sum() >= 2
            # the first-order estimator is the noisier one when S is near 1 (heavy-tailed
            # censored months): a looser point tolerance, the same interval check
            np.testing.assert_allclose(est, 1.0, atol=0.5 if k == "first_order" else 0.1)
            # 1 within the 95% bootstrap interval (with a little slack: several cells)
            assert np.all((lo - 0.05 <= 1.0) & (1.0 <= hi + 0.05)), (k, est, lo, hi)


def test_study_priors_market_dominates_and_plot(study_priors):
    sens = mcsd.sensitivity(study_priors, n_paths=4_000, seed=1, n_boot=50, groups=GROUPS)
    y = sens.sel(region="yangtze")
    st = y.shortage_total.sel(year=2025)
    assert str(st.idxmax().values) == "market"
    assert np.all(y.shortage_total_lo <= y.shortage_total + 1e-12)
    assert np.all(y.shortage_total_hi >= y.shortage_total - 1e-12)
    assert sens.turning_month_total.dims == ("group", "region")
    fig = mcsd.plot.tornado_chart(sens, region="yangtze", output="shortage", year=2025)
    fig2 = mcsd.plot.tornado_chart(sens, region="national", output="turning_month")
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(fig2)
    with pytest.raises(ValueError, match="output"):
        mcsd.plot.tornado_chart(sens, output="price")
    with pytest.raises(ValueError, match="groups"):
        mcsd.sensitivity(study_priors, n_paths=10, groups=("weather",))


# ----------------------------------------------------------------------------- issue 15, case 13


def _no_nan(sens) -> None:
    for name, var in sens.data_vars.items():
        values = np.asarray(var.values)
        if values.dtype.kind == "f":
            assert not np.isnan(values).any(), name


def test_constant_output_at_one_path_is_flagged_not_nan(cancel_only):
    """n_paths=1: (almost) every cell has no variance; indices 0.0 with a flag, never NaN."""
    sens = mcsd.sensitivity(cancel_only, n_paths=1, seed=9, n_boot=20)
    _no_nan(sens)
    for out, dims in (("shortage", ("region", "year")), ("turning_month", ("region",))):
        flag = sens[f"{out}_no_variance"]
        assert flag.dtype == bool and flag.dims == dims
        assert "no variance" in flag.attrs["long_name"]
        assert bool(flag.any())
        for k in ("first_order", "total", "first_order_lo", "first_order_hi"):
            v = sens[f"{out}_{k}"]
            assert (v.where(flag, 0.0) == 0.0).all(), (out, k)
        np.testing.assert_array_equal(flag.values, sens[f"{out}_variance"].values <= 1e-12)


def test_region_short_on_every_path_is_flagged():
    from mcsd.priors.model import Distribution
    from mcsd.testing.toy import buyer, make_priors, project, provider, region

    priors = make_priors(
        [region("full", 500.0, 100.0), region("open", 50.0, 100.0)],
        [buyer("b", {"open": {2025: 30.0}}, mult=Distribution("lognorm", {"s": 0.3}))],
        [provider("p", [project("j", "open", 20.0, "2025-06")], p_on_time=0.5, cancel=0.3)],
    )
    sens = mcsd.sensitivity(priors, n_paths=400, seed=2, n_boot=20)
    _no_nan(sens)
    flag = sens["shortage_no_variance"]
    assert bool(flag.sel(region="full").all())
    assert (sens["shortage_mean"].sel(region="full") == 1.0).all()
    for k in ("first_order", "total", "first_order_lo", "total_hi"):
        assert (sens[f"shortage_{k}"].sel(region="full") == 0.0).all(), k
    assert bool(sens["turning_month_no_variance"].sel(region="full"))
    assert not bool(flag.sel(region="open").all())
