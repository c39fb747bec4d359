"""The numba engine against the independent NumPy reference (mcsd/testing/reference.py) on
the study priors, independent random streams, fixed seeds.

Tolerances (k = 4 standard errors per cell):
* probabilities (p_shortage, turning_point_cdf, p_no_turning_point, occupancy_exceedance):
  |p_e - p_r| <= 4 sqrt(pbar (1 - pbar) (1/n_e + 1/n_r)), the pooled two-sample binomial SE
  (= 4 sqrt(se_e^2 + se_r^2) under the null; exact 0 = 0 where both are 0 or 1).
* occupancy_mean: |m_e - m_r| <= 4 sd sqrt(1/n_e + 1/n_r), sd the per-cell sample sd of the
  engine's per-path occupancy.
* occupancy quantiles: the engine's q-quantile must lie between the reference's order
  statistics at q -/+ 4 sqrt(2 q (1 - q) / n) (the binomial SE of the fraction below a
  quantile, sqrt 2 for two independent runs), widened by the histogram bin width 0.001 and
  float32 rounding of the reference's stored values.
* histogram quantiles vs the exact quantiles of the same run (keep_paths): within one bin
  width of the order statistics bracketing q n.
"""

from __future__ import annotations

import numpy as np
import pytest

import mcsd
from mcsd.testing.reference import reference_simulate

Q = np.round(np.arange(1, 20) * 0.05, 2)
PROB_VARS = ("p_shortage", "turning_point_cdf", "p_no_turning_point", "occupancy_exceedance")


def bracket_quantiles(n):
    d = 4 * np.sqrt(2 * Q * (1 - Q) / n)
    return np.concatenate([Q, np.clip(Q - d, 0, 1), np.clip(Q + d, 0, 1)])


def assert_probabilities_agree(eng, ref, n_e, n_r):
    for name in PROB_VARS:
        a, b = eng[name].values, ref[name].values
        assert a.shape == b.shape, name
        pbar = (a * n_e + b * n_r) / (n_e + n_r)
        tol = 4 * np.sqrt(pbar * (1 - pbar) * (1 / n_e + 1 / n_r)) + 1e-12
        bad = np.abs(a - b) > tol
        assert not bad.any(), (name, np.argwhere(bad)[:5], a[bad][:5], b[bad][:5])


def assert_means_agree(eng, ref, sd, n_e, n_r):
    a, b = eng["occupancy_mean"].values, ref["occupancy_mean"].values
    tol = 4 * sd * np.sqrt(1 / n_e + 1 / n_r) + 1e-12
    assert np.all(np.abs(a - b) <= tol), np.max(np.abs(a - b) / np.maximum(tol, 1e-300))


@pytest.fixture(scope="module")
def engine_100k(study_priors):
    return mcsd.simulate(study_priors, n_paths=100_000, seed=101, keep_paths=True, progress=False)


@pytest.fixture(scope="module")
def ref_100k(study_priors):
    return reference_simulate(study_priors, 100_000, seed=202, quantiles=bracket_quantiles(100_000))


@pytest.fixture(scope="module")
def occupancy_sd(engine_100k):
    return engine_100k["occupancy_path"].std("path").values


def test_regions_and_time_agree(engine_100k, ref_100k):
    assert list(engine_100k.region.values) == list(ref_100k.region.values)
    assert np.array_equal(engine_100k.time.values, ref_100k.time.values)
    assert np.array_equal(
        engine_100k["in_shortage_at_base"].values, ref_100k["in_shortage_at_base"].values
    )


def test_probabilities_agree_100k(engine_100k, ref_100k):
    assert_probabilities_agree(engine_100k, ref_100k, 100_000, 100_000)


def test_occupancy_mean_agrees_100k(engine_100k, ref_100k, occupancy_sd):
    assert_means_agree(engine_100k, ref_100k, occupancy_sd, 100_000, 100_000)


def test_occupancy_quantiles_agree_100k(engine_100k, ref_100k):
    nq = Q.size
    eng = engine_100k["occupancy"].values
    refq = ref_100k["occupancy"].values
    lo, hi = refq[..., nq : 2 * nq], refq[..., 2 * nq :]
    w = 0.001 + 1e-6  # histogram bin width + float32 rounding of occupancy (< 1e-7)
    bad = (eng < lo - w) | (eng > hi + w)
    assert not bad.any(), (np.argwhere(bad)[:5], eng[bad][:5], lo[bad][:5], hi[bad][:5])


@pytest.mark.parametrize("name", ["occupancy", "demand", "supply", "unmet_demand"])
def test_histogram_quantiles_match_exact_quantiles(engine_100k, name):
    """Same run: |q_hist - q_exact| <= bin width + the gap between the order statistics
    around q n (the histogram targets rank q n, numpy's linear method rank (n - 1) q)."""
    ds = engine_100k
    x = np.sort(ds[f"{name}_path"].values, axis=0)  # (n, R1, T)
    n = x.shape[0]
    width = ds.attrs[f"{name}_max_bin_width"]
    lo_rank = np.clip(np.floor(Q * (n - 1)).astype(int) - 1, 0, n - 1)
    hi_rank = np.clip(np.ceil(Q * n).astype(int) + 1, 0, n - 1)
    lo = np.moveaxis(x[lo_rank], 0, -1)
    hi = np.moveaxis(x[hi_rank], 0, -1)
    qh = ds[name].values
    tol = width * (1 + 1e-9) + 1e-9
    bad = (qh < lo - tol) | (qh > hi + tol)
    assert not bad.any(), (np.argwhere(bad)[:5], qh[bad][:5], lo[bad][:5], hi[bad][:5], width)
    exact = np.moveaxis(np.quantile(x, Q, axis=0), 0, -1)
    assert np.all(np.abs(qh - exact) <= (hi - lo) + tol)


@pytest.mark.slow
def test_engine_vs_reference_1e6(study_priors, occupancy_sd):
    """10^6 paths each (reference ~1 min without quantile variables)."""
    n = 1_000_000
    eng = mcsd.simulate(study_priors, n_paths=n, seed=303, progress=False)
    ref = reference_simulate(study_priors, n, seed=404, quantile_vars=False, chunk=50_000)
    assert_probabilities_agree(eng, ref, n, n)
    assert_means_agree(eng, ref, occupancy_sd, n, n)
