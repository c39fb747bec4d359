"""A region already held at the cap at the base is short there whenever threshold <=
max_occupancy, however (m x s) / s rounds (issue: threshold == max_occupancy)."""

from __future__ import annotations

import numpy as np
import pytest

import mcsd
from mcsd.engine.arrays import build_model_arrays
from mcsd.testing.reference import reference_simulate
from mcsd.testing.toy import buyer, make_priors, region

LEVELS = np.round(np.arange(50, 101) / 100, 2)


def _rounds_low(m: float, s: float) -> bool:
    return (m * s) / s < m


@pytest.mark.parametrize("m", [float(x) for x in LEVELS])
def test_base_flag_counts_capped_regions(m: float) -> None:
    supply = 1234.5
    priors = make_priors(
        [region("a", 2 * supply, supply), region("b", 3 * supply, supply)],
        [buyer("x", {"a": {2025: 10.0}})],
        threshold=m,
        max_occupancy=m,
    )
    flags = build_model_arrays(priors).in_shortage_at_base
    assert flags.tolist() == [True, True, True]


def test_some_levels_do_round_low() -> None:
    """The parametrised test above is not vacuous: for several levels (m s) / s < m."""
    assert sum(_rounds_low(float(m), 1234.5) for m in LEVELS) > 0


def test_engine_and_reference_agree_at_the_cap() -> None:
    m = next(float(x) for x in LEVELS if _rounds_low(float(x), 1234.5))
    priors = make_priors(
        [region("a", 2 * 1234.5, 1234.5)],
        [buyer("x", {"a": {2025: 10.0}})],
        threshold=m,
        max_occupancy=m,
    )
    ds = mcsd.simulate(priors, n_paths=200, seed=1, progress=False)
    ref = reference_simulate(priors, n_paths=200, seed=1)
    assert bool(ds.in_shortage_at_base.sel(region="a"))
    assert bool(ref.in_shortage_at_base.sel(region="a"))
    assert float(ds.turning_point_cdf.isel(time=0).sel(region="a")) == 1.0


@pytest.mark.parametrize("spill", [False, True])
def test_capped_cells_sit_exactly_at_the_cap(spill: bool) -> None:
    """A region held at the cap has occupancy exactly max_occupancy on every path: its
    quantiles equal m, P(occupancy >= m) is 1 and, with threshold = m, it is short. (m s) / s
    rounds below m for the chosen levels, which put capped cells one bin low before.
    With spillover, region b is filled by a's unmet demand (accept < 1)."""
    supply = 1234.5
    levels = [float(x) for x in LEVELS if _rounds_low(float(x), supply)][:3]
    assert levels  # not vacuous
    for m in levels:
        regions = [region("a", 2 * supply, supply)]
        spillover = None
        if spill:
            regions.append(region("b", 0.5 * supply, supply))
            spillover = ((0.0, 1.0), (0.0, 0.0))
        priors = make_priors(
            regions,
            [buyer("x", {"a": {2025: 10.0}})],
            spillover=spillover,
            threshold=m,
            max_occupancy=m,
            horizon_month="2025-06",
        )
        ds = mcsd.simulate(priors, n_paths=500, seed=2, levels=(0.5, m), progress=False)
        ref = reference_simulate(priors, n_paths=500, seed=2, levels=(0.5, m))
        held = ["a", "b", "national"] if spill else ["a", "national"]
        occ = ds.occupancy.sel(region=held).values
        assert np.all(occ == m), (m, occ.min(), occ.max())
        # the reference keeps its path values as float32 (quantiles within ~6e-8)
        np.testing.assert_allclose(ref.occupancy.sel(region=held).values, m, rtol=1e-7)
        for out in (ds, ref):
            assert np.all(out.occupancy_exceedance.sel(region=held, level=m).values == 1.0)
            assert np.all(out.p_shortage.sel(region=held).values == 1.0)
        kept = mcsd.simulate(priors, n_paths=50, seed=2, keep_paths=True, progress=False)
        assert np.all(kept.occupancy_path.sel(region=held).values == m)
