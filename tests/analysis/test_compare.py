"""Paired scenario comparison (``mcsd.compare``): joint counts, paired standard errors."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import mcsd
from mcsd.engine.defaults import MAX_PATHS
from mcsd.testing.toy import buyer, drop_created, make_priors, region

N = 20_000


def test_same_priors_give_exact_zeros(study_priors):
    ds = mcsd.compare(study_priors, study_priors, n_paths=5_000, seed=7)
    for name in ("p_shortage", "turning_point_cdf"):
        assert np.all(ds[f"diff_{name}"].values == 0.0)
        assert np.all(ds[f"diff_{name}_se"].values == 0.0)
        assert np.all(ds[f"{name}_n10"].values == 0) and np.all(ds[f"{name}_n01"].values == 0)
        assert ds[f"diff_{name}_se_unpaired"].max() > 0.005  # independent runs would not


def test_marginals_and_joint_counts_match_per_path_runs(study_priors):
    """Marginals equal simulate() bit for bit; joint counts equal those of keep_paths runs."""
    n, seed = 3_000, 11
    ds = mcsd.compare("cic2025", "power_constrained", n_paths=n, seed=seed, threads=2)
    a = mcsd.simulate("cic2025", n_paths=n, seed=seed, keep_paths=True, progress=False)
    b = mcsd.simulate("power_constrained", n_paths=n, seed=seed, keep_paths=True, progress=False)
    for name in ("p_shortage", "turning_point_cdf"):
        np.testing.assert_array_equal(ds[f"{name}_a"].values, a[name].values)
        np.testing.assert_array_equal(ds[f"{name}_b"].values, b[name].values)
    sa = a.occupancy_path.values >= a.attrs["threshold"]
    sb = b.occupancy_path.values >= b.attrs["threshold"]
    np.testing.assert_array_equal(ds.p_shortage_n11.values, (sa & sb).sum(axis=0))
    np.testing.assert_array_equal(ds.p_shortage_n10.values, (sa & ~sb).sum(axis=0))
    np.testing.assert_array_equal(ds.p_shortage_n01.values, (~sa & sb).sum(axis=0))
    d = sb.astype(float) - sa.astype(float)  # per-path difference: its SE is the paired SE
    np.testing.assert_allclose(ds.diff_p_shortage_se.values, d.std(axis=0) / np.sqrt(n))
    months = np.arange(1, a.sizes["time"] + 1)
    ta = a.turning_month_path.values[:, :, None]
    tb = b.turning_month_path.values[:, :, None]
    ca, cb = (ta > 0) & (ta <= months), (tb > 0) & (tb <= months)
    np.testing.assert_array_equal(ds.turning_point_cdf_n10.values, (ca & ~cb).sum(axis=0))
    np.testing.assert_array_equal(ds.turning_point_cdf_n01.values, (~ca & cb).sum(axis=0))
    one = mcsd.compare("cic2025", "power_constrained", n_paths=n, seed=seed, threads=1)
    # threads never change the numbers (nor any attribute but the wall-clock ``created``)
    assert "created" in ds.attrs and "created" in one.attrs
    xr.testing.assert_identical(drop_created(ds), drop_created(one))


@pytest.mark.parametrize("scenario", ["power_constrained", "deepseek_efficiency"])
def test_pairing_reduces_the_standard_error(scenario):
    ds = mcsd.compare("cic2025", scenario, n_paths=N, seed=2025)
    for name in ("p_shortage", "turning_point_cdf"):
        pa, pb = ds[f"{name}_a"].values, ds[f"{name}_b"].values
        live = (pa > 0.05) & (pa < 0.95) & (pb > 0.05) & (pb < 0.95)
        ratio = ds[f"diff_{name}_se"].values[live] / ds[f"diff_{name}_se_unpaired"].values[live]
        print(
            f"{scenario} {name}: paired/unpaired SE median {np.median(ratio):.3f}, "
            f"min {ratio.min():.3f}, max {ratio.max():.3f} over {live.sum()} cells"
        )
        assert live.sum() >= 20
        assert np.median(ratio) < 0.9 and ratio.max() < 1.0
        # the floor of any coupling with these marginals: comonotone, var = |d| - d**2
        d = np.abs(pb - pa)[live]
        floor = np.sqrt((d - d * d) / N)
        assert np.all(ds[f"diff_{name}_se"].values[live] >= floor - 1e-12)


def test_mismatched_priors_are_refused():
    one = make_priors([region("r1", 10.0, 20.0)], [buyer("b1", {"r1": {2025: 1.0}})])
    two = make_priors([region("r2", 10.0, 20.0)], [buyer("b1", {"r2": {2025: 1.0}})])
    with pytest.raises(ValueError, match="different regions"):
        mcsd.compare(one, two, n_paths=10)
    longer = make_priors(
        [region("r1", 10.0, 20.0)], [buyer("b1", {"r1": {2025: 1.0}})], horizon_month="2026-12"
    )
    with pytest.raises(ValueError, match="different months"):
        mcsd.compare(one, longer, n_paths=10)
    # the engine's one validator (validate_run): the same message as simulate's
    bad_n = rf"^n_paths must be an integer in \[1, {MAX_PATHS}\], got "
    with pytest.raises(ValueError, match=bad_n + "0$"):
        mcsd.compare(one, one, n_paths=0)
    with pytest.raises(ValueError, match=bad_n + f"{MAX_PATHS + 1}$"):
        mcsd.compare(one, one, n_paths=MAX_PATHS + 1)  # capped, as simulate is
