"""The study's priors (priors/cic2025.toml) against the study's table.

Parses the TOML with tomllib (independent of the loader) and recomputes point mode with an
independent pandas/numpy monthly calculation. The study table is the project's copy,
mcsd/data/cic2025_wholesale_stock.csv.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
PRIORS_PATH = ROOT / "priors" / "cic2025.toml"
CSV_PATH = ROOT / "mcsd" / "data" / "cic2025_wholesale_stock.csv"

REGIONS = ["jingjin", "yangtze", "gba", "southwest_other"]
YEARS = [2025, 2026, 2027, 2028]
MONTHS = pd.period_range("2025-01", "2028-12", freq="M")


@pytest.fixture(scope="module")
def priors() -> dict:
    with PRIORS_PATH.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(CSV_PATH).set_index(["region", "year"])


def _increments(table: pd.DataFrame, col: str) -> dict[tuple[str, int], int]:
    return {
        (r, y): int(table.loc[(r, y), col] - table.loc[(r, y - 1), col])
        for r in REGIONS
        for y in YEARS
    }


def _buyer_totals(priors: dict) -> dict[tuple[str, int], float]:
    tot = {(r, y): 0.0 for r in REGIONS for y in YEARS}
    for b in priors["buyers"]:
        for r, by_year in b.get("increments_mw", {}).items():
            for y, v in by_year.items():
                tot[(r, int(y))] += v
    return tot


def _project_rows(priors: dict) -> pd.DataFrame:
    rows = [{"provider": p["id"], **prj} for p in priors["providers"] for prj in p["projects"]]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- structure
def test_settings(priors):
    s = priors["settings"]
    assert s["base_month"] == "2024-12"
    assert s["horizon_month"] == "2028-12"
    assert s["threshold"] == 0.80
    assert s["max_occupancy"] == 0.97
    assert s["sustain_months"] == 1
    assert s["turning_point"] == "year_end"  # the study reads shortage on year-end stock


def test_regions_match_csv_2024(priors, table):
    assert [r["id"] for r in priors["regions"]] == REGIONS
    for r in priors["regions"]:
        assert r["demand_stock_mw"] == table.loc[(r["id"], 2024), "demand_stock_mw"]
        assert r["supply_stock_mw"] == table.loc[(r["id"], 2024), "supply_stock_mw"]


def test_counts_and_unique_ids(priors):
    assert len(priors["buyers"]) == 15
    assert len(priors["providers"]) == 20
    assert len({b["id"] for b in priors["buyers"]}) == 15
    assert len({p["id"] for p in priors["providers"]}) == 20
    ids = [prj["id"] for p in priors["providers"] for prj in p["projects"]]
    assert 80 <= len(ids) <= 130
    assert len(ids) == len(set(ids))


def test_one_project_per_provider_region_year(priors):
    prj = _project_rows(priors)
    prj["year"] = prj["scheduled_month"].str[:4].astype(int)
    assert not prj.duplicated(["provider", "region", "year"]).any()
    assert set(prj["region"]) <= set(REGIONS)
    assert prj["year"].between(2025, 2028).all()
    assert prj["scheduled_month"].str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").all()
    caps = prj["capacity_mw"]
    assert all(isinstance(c, int) for c in caps) and (caps > 0).all()


# ----------------------------------------------------------------------------- exact sums
def test_buyer_increments_sum_to_study(priors, table):
    want = _increments(table, "demand_stock_mw")
    got = _buyer_totals(priors)
    assert got == {k: float(v) for k, v in want.items()}
    for b in priors["buyers"]:
        for by_year in b["increments_mw"].values():
            for y, v in by_year.items():
                assert isinstance(v, int) and v >= 0
                assert int(y) in YEARS


def test_projects_sum_to_study(priors, table):
    want = _increments(table, "supply_stock_mw")
    prj = _project_rows(priors)
    prj["year"] = prj["scheduled_month"].str[:4].astype(int)
    got = prj.groupby(["region", "year"])["capacity_mw"].sum().to_dict()
    assert got == want


# ----------------------------------------------------------------------------- medians
def _is_median_one_lognorm(d: dict) -> bool:
    return (
        d["dist"] == "lognorm"
        and d.get("scale", 1.0) == 1.0
        and d.get("loc", 0.0) == 0.0
        and d["s"] > 0
        and abs(stats.lognorm(s=d["s"], scale=d.get("scale", 1.0)).median() - 1.0) < 1e-12
    )


def test_medians(priors):
    for r in priors["regions"]:
        if "delay_factor" in r:
            assert _is_median_one_lognorm(r["delay_factor"])
    for b in priors["buyers"]:
        dm = b["demand_multiplier"]
        assert _is_median_one_lognorm(dm)
        # AI-heavy buyers 0.40 (BAT capex log changes -0.31, -0.14, +0.70): a sane band
        assert 0.15 <= dm["s"] <= 0.45
        assert 0.0 <= b["persistence"] < 1.0
        assert -1.0 <= b["market_loading"] <= 1.0
        tp = b["third_party_share"]
        assert tp["dist"] == "truncnorm"
        assert tp["a"] == -tp["b"]  # symmetric truncation: the median is loc exactly
        med = stats.truncnorm(tp["a"], tp["b"], loc=tp["loc"], scale=tp["scale"]).median()
        lo, hi = stats.truncnorm(tp["a"], tp["b"], loc=tp["loc"], scale=tp["scale"]).support()
        assert 0.0 <= lo and hi <= 1.0
        assert abs(med - tp["nominal"]) <= 1e-6, (b["id"], med, tp["nominal"])
        assert abs(med - tp["nominal"]) <= 1e-7
        assert 0.0 < tp["nominal"] < 1.0
    for p in priors["providers"]:
        assert _is_median_one_lognorm(p["delay_factor"])
        assert 0.0 <= p["cancellation_probability"] <= 0.1
        dd = p["delivery_delay_months"]
        assert dd["p_on_time"] >= 0.5  # median deviation 0: nominal = scheduled month
        late = dd["late"]
        assert late["dist"] == "gamma" and late["a"] == 2 and late["scale"] > 0


def test_spillover_rows(priors):
    spill = priors.get("spillover", {})
    for src, row in spill.items():
        assert src in REGIONS
        assert src not in row
        assert set(row) <= set(REGIONS)
        assert all(v >= 0 for v in row.values())
        assert sum(row.values()) <= 1.0


# ----------------------------------------------------------------------------- point mode
def _point_mode(priors: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly demand and supply (index: months 2025-01..2028-12, columns: regions)."""
    demand = pd.DataFrame(0.0, index=MONTHS, columns=REGIONS)
    supply = pd.DataFrame(0.0, index=MONTHS, columns=REGIONS)
    for r in priors["regions"]:
        demand[r["id"]] += r["demand_stock_mw"]
        supply[r["id"]] += r["supply_stock_mw"]
    # demand: each year's increment in twelve equal slices, each counting from its month end
    monthly = pd.DataFrame(0.0, index=MONTHS, columns=REGIONS)
    for b in priors["buyers"]:
        for reg, by_year in b["increments_mw"].items():
            for y, v in by_year.items():
                monthly.loc[monthly.index.year == int(y), reg] += v / 12.0
    demand += monthly.cumsum()
    # supply: each project from the end of its scheduled month
    adds = pd.DataFrame(0.0, index=MONTHS, columns=REGIONS)
    for prj in _project_rows(priors).itertuples():
        adds.loc[pd.Period(prj.scheduled_month, "M"), prj.region] += prj.capacity_mw
    supply += adds.cumsum()
    return demand, supply


def _first_shortage(occ: pd.Series, threshold: float = 0.80):
    hit = occ[occ >= threshold]
    return None if hit.empty else hit.index[0]


def test_point_mode_reproduces_year_ends(priors, table):
    demand, supply = _point_mode(priors)
    for r in REGIONS:
        for y in YEARS:
            dec = pd.Period(f"{y}-12", "M")
            assert demand.loc[dec, r] == pytest.approx(
                table.loc[(r, y), "demand_stock_mw"], abs=1e-6
            )
            assert supply.loc[dec, r] == table.loc[(r, y), "supply_stock_mw"]
    for y in YEARS:
        dec = pd.Period(f"{y}-12", "M")
        assert demand.loc[dec].sum() == pytest.approx(
            table.loc[("national", y), "demand_stock_mw"], abs=1e-6
        )
        assert supply.loc[dec].sum() == table.loc[("national", y), "supply_stock_mw"]


def test_point_mode_no_unmet_demand(priors):
    demand, supply = _point_mode(priors)
    cap = priors["settings"]["max_occupancy"] * supply
    assert (demand <= cap + 1e-9).all().all(), (demand / supply).max()


def test_point_mode_turning_points(priors):
    demand, supply = _point_mode(priors)
    occ = demand / supply
    occ["national"] = demand.sum(axis=1) / supply.sum(axis=1)
    first = {r: _first_shortage(occ[r]) for r in occ.columns}
    assert first["jingjin"] is not None and first["jingjin"].year == 2025
    assert first["yangtze"] is not None and first["yangtze"].year == 2026
    assert (occ.loc[occ.index.year == 2025, "yangtze"] < 0.80).all()
    assert first["national"] is not None and first["national"].year == 2027
    assert (occ.loc[occ.index.year <= 2026, "national"] < 0.80).all()
    assert first["gba"] is None
    assert first["southwest_other"] is None
    # the study's rule (year-end stock): the first December in shortage, the same years
    dec = occ[occ.index.month == 12]
    year_end = {r: dec.index[dec[r] >= 0.80].year.min() for r in dec.columns}
    assert (year_end["jingjin"], year_end["yangtze"], year_end["national"]) == (2025, 2026, 2027)
    assert np.isnan(year_end["gba"]) and np.isnan(year_end["southwest_other"])


# ----------------------------------------------------------------------------- documentation
def test_every_number_line_is_commented():
    """Each line holding a number has a comment on it or in the comment block just above."""
    lines = PRIORS_PATH.read_text(encoding="utf-8").splitlines()
    number = re.compile(r"=\s*[-\d{\[]")
    in_block_comment = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("#"):
            in_block_comment = True
            continue
        if not stripped:
            in_block_comment = False
            continue
        if number.search(stripped.split("#")[0]) and "#" not in stripped:
            # allow a number line inside a commented block (e.g. a table header with comments)
            assert in_block_comment or lines[i - 1].strip().startswith(("#", "[")), (
                f"line {i + 1} has a number without a comment: {line!r}"
            )


def test_generator_is_in_sync():
    """tools/make_cic2025_priors.py --check: the TOML is the generator's output."""
    gen = ROOT / "tools" / "make_cic2025_priors.py"
    if not gen.exists():
        pytest.skip("no generator")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_cic2025_priors", gen)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0


def test_loader_accepts_file():
    try:
        from mcsd.priors.loader import load_priors
    except ImportError:
        pytest.skip("mcsd.priors.load_priors not available yet")
    p = load_priors(PRIORS_PATH)
    assert len(p.buyers) == 15 and len(p.providers) == 20
    assert math.isclose(p.threshold, 0.80)
