"""Per-calendar-year shortage results: exact counts, checked against the kept paths.

p_shortage_year_end, p_shortage_any_month and p_shortage_all_months (region, year) are
counts over paths; with ``keep_paths=True`` every path's occupancy is in the result, so the
same counts can be made directly from ``occupancy_path`` and must agree exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import mcsd
from mcsd.testing.toy import buyer, make_priors, project, provider, region


def _direct(ds):
    """The three counts per (region, year), from the per-path occupancies."""
    short = ds.occupancy_path.values >= ds.attrs["threshold"]  # (path, region, time)
    years = ds.time.dt.year.values
    out = {}
    for name, reduce in (
        ("p_shortage_year_end", lambda s: s[..., -1]),
        ("p_shortage_any_month", lambda s: s.any(axis=-1)),
        ("p_shortage_all_months", lambda s: s.all(axis=-1)),
    ):
        cols = [reduce(short[..., years == y]).sum(axis=0) for y in ds.year.values]
        out[name] = np.stack(cols, axis=-1)  # (region, year) counts
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_study_year_counts_equal_the_kept_paths(threads: int) -> None:
    n = 3_000
    ds = mcsd.simulate("cic2025", n_paths=n, seed=11, keep_paths=True, threads=threads)
    direct = _direct(ds)
    for name, counts in direct.items():
        assert ds[name].dims == ("region", "year")
        np.testing.assert_array_equal(ds[name].values, counts / n)  # exact counts over n
        p = counts / n
        np.testing.assert_array_equal(ds[f"{name}_se"].values, np.sqrt(p * (1 - p) / n))
    # the three readings differ where they should (the yangtze 2026 example)
    y = ds.sel(region="yangtze", year=2026)
    assert y.p_shortage_all_months <= y.p_shortage_year_end <= y.p_shortage_any_month
    assert y.p_shortage_all_months < y.p_shortage_any_month
    # year end is the December cell of the monthly probability
    dec = ds.p_shortage.sel(time=ds.time.dt.month == 12).values
    np.testing.assert_array_equal(ds.p_shortage_year_end.values, dec)


def test_partial_years_use_the_months_in_the_horizon() -> None:
    """Base 2024-09, horizon 2026-03: 2024 has 3 months, 2026 has 3; the year end of 2026 is
    March, and "all months" of 2024 means October to December."""
    priors = make_priors(
        [region("r", 50.0, 100.0)],
        [buyer("b", {"r": {2024: 60.0, 2025: 120.0, 2026: 60.0}})],
        [provider("p", [project("p1", "r", 40.0, "2025-06")], p_on_time=0.5, cancel=0.2)],
        base_month="2024-09",
        horizon_month="2026-03",
        threshold=0.7,
    )
    ds = mcsd.simulate(priors, n_paths=2_000, seed=3, keep_paths=True, threads=1)
    assert list(ds.year.values) == [2024, 2025, 2026]
    direct = _direct(ds)
    for name, counts in direct.items():
        np.testing.assert_array_equal(ds[name].values, counts / 2_000)
    np.testing.assert_array_equal(
        ds.p_shortage_year_end.sel(year=2026).values,
        ds.p_shortage.sel(time="2026-03-31").values,
    )
    # something varies, so the check above is not between two constant arrays
    assert 0 < float(ds.p_shortage_any_month.sel(region="r", year=2024)) < 1


def test_point_mode_year_variables_are_indicators() -> None:
    ds = mcsd.simulate("cic2025", point=True)
    for name in ("p_shortage_year_end", "p_shortage_any_month", "p_shortage_all_months"):
        assert set(np.unique(ds[name].values)) <= {0.0, 1.0}
    # the study: jingjin short from 2025 on, national from 2027, in point mode
    assert float(ds.p_shortage_year_end.sel(region="national", year=2027)) == 1.0
    assert float(ds.p_shortage_year_end.sel(region="national", year=2026)) == 0.0
