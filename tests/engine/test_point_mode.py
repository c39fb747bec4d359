"""Point mode (every input at its nominal value) on the study priors reproduces the study's
table; on a small hand-made priors file it gives hand-checkable numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mcsd
from mcsd.study import study_table

REGIONS = ["jingjin", "yangtze", "gba", "southwest_other", "national"]
YEARS = [2025, 2026, 2027, 2028]


@pytest.fixture(scope="module")
def point(study_priors):
    return mcsd.simulate(study_priors, point=True)


def year_end(ds, name, region, year):
    t = pd.Timestamp(f"{year}-12-31")
    return float(ds[name].sel(region=region, time=t).isel(quantile=9))


@pytest.mark.parametrize("region", REGIONS)
def test_study_table_reproduced(point, region):
    table = study_table().set_index(["region", "year"])
    for year in YEARS:
        row = table.loc[(region, year)]
        assert abs(year_end(point, "demand", region, year) - row.demand_stock_mw) <= 1.0
        assert abs(year_end(point, "supply", region, year) - row.supply_stock_mw) <= 1.0
        assert abs(year_end(point, "occupancy", region, year) - row.occupancy) <= 0.005


@pytest.mark.parametrize(
    ("region", "year"),
    [
        ("jingjin", 2025),
        ("yangtze", 2026),
        ("national", 2027),
        ("gba", None),
        ("southwest_other", None),
    ],
)
def test_turning_points(point, region, year):
    cdf = point["turning_point_cdf"].sel(region=region)
    assert set(np.unique(cdf.values)) <= {0.0, 1.0}
    if year is None:
        assert float(point["p_no_turning_point"].sel(region=region)) == 1.0
        assert np.all(cdf.values == 0.0)
        return
    first = pd.Timestamp(cdf.time.values[np.argmax(cdf.values == 1.0)])
    assert first.year == year, first
    assert float(point["p_no_turning_point"].sel(region=region)) == 0.0
    assert not bool(point["in_shortage_at_base"].sel(region=region))


def test_point_mode_quantiles_all_equal(point):
    for name in ("occupancy", "demand", "supply", "unmet_demand"):
        v = point[name].values
        assert np.all(v == v[..., :1]), name
    assert point.attrs["n_paths"] == 1 and point.attrs["point_mode"] == 1
    assert set(np.unique(point["p_shortage"].values)) <= {0.0, 1.0}


HAND = """
[meta]
name = "hand"
[settings]
base_month = "2029-12"
horizon_month = "2030-12"
threshold = 0.75
max_occupancy = 0.9
[[regions]]
id = "north"
demand_stock_mw = 60
supply_stock_mw = 100
[[regions]]
id = "east"
demand_stock_mw = 10
supply_stock_mw = 50
[[regions]]
id = "west"
demand_stock_mw = 0
supply_stock_mw = 20
[[buyers]]
id = "acme"
market_loading = 0.5
persistence = 0.3
demand_multiplier = { dist = "lognorm", s = 0.3 }
third_party_share = { nominal = 0.5, dist = "uniform", loc = 0.4, scale = 0.2 }
[buyers.increments_mw]
north = { 2030 = 48 }
east = { 2030 = 12 }
[[providers]]
id = "builder"
cancellation_probability = 0.1
delay_factor = { dist = "lognorm", s = 0.3 }
delivery_delay_months = { p_on_time = 0.6, late = { dist = "gamma", a = 2, scale = 2.0 } }
projects = [
  { id = "n1", region = "north", capacity_mw = 20, scheduled_month = "2030-06" },
  { id = "w1", region = "west", capacity_mw = 5, scheduled_month = "2030-03" },
]
"""


def test_hand_checkable_three_regions(tmp_path):
    f = tmp_path / "hand.toml"
    f.write_text(HAND)
    ds = mcsd.simulate(mcsd.load_priors(f), point=True)
    assert list(ds.region.values) == ["north", "east", "west", "national"]
    assert ds.sizes["time"] == 12
    med = ds.isel(quantile=0)
    t = np.arange(1, 13)
    # north: requested 60 + 4 t; supply 100, +20 from month 6; served <= 0.9 S
    sup_n = np.where(t >= 6, 120.0, 100.0)
    dem_n = np.minimum(60 + 4.0 * t, 0.9 * sup_n)
    np.testing.assert_allclose(med["supply"].sel(region="north"), sup_n, rtol=1e-12)
    np.testing.assert_allclose(med["demand"].sel(region="north"), dem_n, rtol=1e-12)
    np.testing.assert_allclose(
        med["unmet_demand"].sel(region="north"), 60 + 4.0 * t - dem_n, rtol=1e-12, atol=1e-9
    )
    # month 4: 76 / 100 = 0.76 >= 0.75 -> first shortage month; month 6: 84 / 120 = 0.70
    occ_n = dem_n / sup_n
    np.testing.assert_allclose(med["occupancy"].sel(region="north"), occ_n, rtol=1e-12)
    np.testing.assert_array_equal(
        ds["p_shortage"].sel(region="north"), (occ_n >= 0.75).astype(float)
    )
    assert int(np.argmax(ds["turning_point_cdf"].sel(region="north").values)) + 1 == 4
    # east: 10 + t over 50; west: 0 over 20, +5 from month 3 (never short)
    np.testing.assert_allclose(med["occupancy"].sel(region="east"), (10 + t) / 50, rtol=1e-12)
    np.testing.assert_allclose(
        med["supply"].sel(region="west"), np.where(t >= 3, 25.0, 20.0), rtol=1e-12
    )
    assert np.all(med["occupancy"].sel(region="west").values == 0.0)
    assert float(ds["p_no_turning_point"].sel(region="west")) == 1.0
    # national: total served / total supply
    nat = (dem_n + 10 + t) / (sup_n + 50 + np.where(t >= 3, 25.0, 20.0))
    np.testing.assert_allclose(med["occupancy"].sel(region="national"), nat, rtol=1e-12)
