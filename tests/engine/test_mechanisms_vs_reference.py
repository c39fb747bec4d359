"""The numba engine against the independent NumPy reference (mcsd/testing/reference.py) on
``mcsd.testing.toy.all_mechanisms_priors()``: every issue-16 mechanism on at once (year-end
turning rule, shared lateness, pre-leased halls and deferred demand, shares on the cycle,
demand events), independent random streams, fixed seeds, 10^6 engine paths.

Every cell of every variable both produce is compared, at k = 4 combined standard errors:
* probabilities (p_shortage, turning_point_cdf, p_no_turning_point, occupancy_exceedance,
  p_shortage_year_end / _any_month / _all_months):
  |p_e - p_r| <= 4 sqrt(pbar (1 - pbar) (1/n_e + 1/n_r)), the pooled two-sample binomial SE
  (exact 0 = 0 where both are 0 or 1);
* occupancy_mean: |m_e - m_r| <= 4 sd sqrt(1/n_e + 1/n_r), sd the per-cell sample sd of
  the reference's per-path occupancy (a separate 20 000-path run);
* quantiles (occupancy, demand, supply, unmet_demand, deferred_demand): the engine's
  q-quantile must lie between the reference's order statistics at
  q -/+ 4 sqrt(q (1 - q) (1/n_e + 1/n_r)) (the binomial SE of the fraction below a
  quantile, two independent runs), widened by the engine's histogram bin width (its
  ``<name>_max_bin_width`` attr) and the float32 rounding of the reference's stored values.
(The ``_se``, ``_lo`` and ``_hi`` variables are functions of the probabilities compared.)
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import mcsd
from mcsd.testing.reference import reference_paths, reference_simulate
from mcsd.testing.toy import Z4, all_mechanisms_priors

pytestmark = pytest.mark.slow

N_E = 1_000_000
N_R = 250_000  # the reference: 14-30 s on 2 busy cores (1.1-2.5 s per 20 000 paths)
Q = np.round(np.arange(1, 20) * 0.05, 2)
PROB_VARS = (
    "p_shortage",
    "turning_point_cdf",
    "p_no_turning_point",
    "occupancy_exceedance",
    "p_shortage_year_end",
    "p_shortage_any_month",
    "p_shortage_all_months",
)
QUANTILE_VARS = ("occupancy", "demand", "supply", "unmet_demand", "deferred_demand")
TIMES: dict[str, float] = {}


def bracket_quantiles(n_e: int, n_r: int) -> np.ndarray:
    d = Z4 * np.sqrt(Q * (1 - Q) * (1 / n_e + 1 / n_r))
    return np.concatenate([Q, np.clip(Q - d, 0, 1), np.clip(Q + d, 0, 1)])


@pytest.fixture(scope="module")
def priors():
    return all_mechanisms_priors()


@pytest.fixture(scope="module")
def engine(priors):
    t = time.perf_counter()
    ds = mcsd.simulate(priors, n_paths=N_E, seed=1601, progress=False)
    TIMES["engine"] = time.perf_counter() - t
    return ds


@pytest.fixture(scope="module")
def ref(priors):
    t = time.perf_counter()
    ds = reference_simulate(
        priors, N_R, seed=1602, quantiles=bracket_quantiles(N_E, N_R), chunk=20_000
    )
    TIMES["reference"] = time.perf_counter() - t
    return ds


@pytest.fixture(scope="module")
def occupancy_sd(priors):
    out = reference_paths(priors, 20_000, seed=1603)
    return out["occupancy"].std(axis=0)  # (R1, T)


def test_layout_agrees(engine, ref):
    assert list(engine.region.values) == list(ref.region.values)
    assert np.array_equal(engine.time.values, ref.time.values)
    assert np.array_equal(engine.year.values, ref.year.values)
    assert np.array_equal(engine["in_shortage_at_base"].values, ref["in_shortage_at_base"].values)
    assert engine.attrs["turning_point_rule"] == ref.attrs["turning_point_rule"] == "year_end"
    assert engine["deferred_demand"].dims == ref["deferred_demand"].dims


@pytest.mark.parametrize("name", PROB_VARS)
def test_probabilities_agree(engine, ref, name):
    a, b = engine[name].values, ref[name].values
    assert a.shape == b.shape, name
    pbar = (a * N_E + b * N_R) / (N_E + N_R)
    tol = Z4 * np.sqrt(pbar * (1 - pbar) * (1 / N_E + 1 / N_R)) + 1e-12
    bad = np.abs(a - b) > tol
    assert not bad.any(), (name, np.argwhere(bad)[:8], a[bad][:8], b[bad][:8], tol[bad][:8])


def test_occupancy_mean_agrees(engine, ref, occupancy_sd):
    a, b = engine["occupancy_mean"].values, ref["occupancy_mean"].values
    tol = Z4 * occupancy_sd * np.sqrt(1 / N_E + 1 / N_R) + 1e-12
    bad = np.abs(a - b) > tol
    assert not bad.any(), (np.argwhere(bad)[:8], a[bad][:8], b[bad][:8], tol[bad][:8])


@pytest.mark.parametrize("name", QUANTILE_VARS)
def test_quantiles_agree(engine, ref, name):
    nq = Q.size
    eng = engine[name].sel(quantile=Q).values
    refq = ref[name].values
    lo, hi = refq[..., nq : 2 * nq], refq[..., 2 * nq :]
    # bin width of the engine's histogram + float32 rounding of the reference's values
    w = engine.attrs[f"{name}_max_bin_width"] * (1 + 1e-9) + np.abs(refq[..., :nq]) * 2.0**-23
    bad = (eng < lo - w - 1e-9) | (eng > hi + w + 1e-9)
    assert not bad.any(), (
        name,
        np.argwhere(bad)[:8],
        eng[bad][:8],
        lo[bad][:8],
        hi[bad][:8],
        engine.attrs[f"{name}_max_bin_width"],
    )


def test_mechanisms_matter(engine, ref, priors):
    """The comparison is not vacuous: deferred demand, intermediate probabilities."""
    national = ref["deferred_demand"].sel(region="national", quantile=0.95).values
    assert national.max() > 100
    p = ref["p_shortage"].values
    assert ((p > 0.05) & (p < 0.95)).mean() > 0.3
    print(f"engine {N_E} paths: {TIMES.get('engine', 0):.1f} s; "
          f"reference {N_R} paths: {TIMES.get('reference', 0):.1f} s")  # fmt: skip
