"""The summary of ``mcsd run`` (mcsd/cli/summary.py): one test per claim it makes.

Labels say what a column is (a year-end column names its month), the turning rule is in
words, a median turn past the horizon is "after YYYY-MM (censored)", every probability
carries its 95% Wilson interval (the Monte Carlo error given the priors, said so in a line),
every line fits 100 columns, and ``--format csv|json`` give back the Dataset's numbers.
"""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from mcsd.api import simulate
from mcsd.cli.main import main
from mcsd.cli.summary import (
    WIDTH,
    study_turning_years,
    summary_csv,
    summary_frames,
    summary_json,
    summary_text,
)
from mcsd.results.io import read_result
from mcsd.results.variables import wilson_interval

TINY = Path(__file__).parents[1] / "bad_priors" / "_base" / "tiny.toml"
N = 2000
SEED = 7
YEARS = (2025, 2026, 2027, 2028)
CELL = re.compile(r"(\d\.\d{3}) \[(\d?\.\d{3}),(\d?\.\d{3})\]")


@pytest.fixture(scope="module")
def study() -> xr.Dataset:
    return simulate(None, n_paths=N, seed=SEED, progress=False)


@pytest.fixture(scope="module")
def study_lines(study: xr.Dataset) -> list[str]:
    return summary_text(study, "title")


def _table(lines: list[str], heading: str) -> list[str]:
    """The lines of the table under the heading that starts with ``heading``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    out = []
    for line in lines[start + 1 :]:
        if not line:
            break
        out.append(line)
    return out


def _row(table: list[str], region: str) -> list[tuple[float, float, float]]:
    (line,) = [x for x in table if x.split()[0] == region]
    return [tuple(map(float, m.groups())) for m in CELL.finditer(line)]


# ------------------------------------------------------------------------------ labels


def test_year_end_columns_are_labelled_with_their_month(study_lines: list[str]) -> None:
    table = _table(study_lines, "Short at the year end")
    header = table[0]
    for year in YEARS:
        assert f"P(short, Dec {year})" in header
    assert "Short at the year end (occupancy of the year's last month >= 0.8)" in "\n".join(
        study_lines
    )


def test_year_end_cells_are_the_datasets_year_end_probabilities(
    study: xr.Dataset, study_lines: list[str]
) -> None:
    table = _table(study_lines, "Short at the year end")
    for region in ("jingjin", "yangtze", "national"):
        cells = _row(table, region)
        want = study.p_shortage_year_end.sel(region=region).values
        assert [c[0] for c in cells] == [float(f"{v:.3f}") for v in want]


def test_any_and_all_months_per_year(study: xr.Dataset, study_lines: list[str]) -> None:
    for heading, label, var in (
        ("Short in at least one month", "P(any month, {})", "p_shortage_any_month"),
        ("Short in every month", "P(all months, {})", "p_shortage_all_months"),
    ):
        table = _table(study_lines, heading)
        assert all(label.format(y) in table[0] for y in YEARS)
        cells = _row(table, "national")
        want = study[var].sel(region="national").values
        assert [c[0] for c in cells] == [float(f"{v:.3f}") for v in want]
    # the three readings differ (the test would pass on a copy of one column otherwise)
    nat = study.sel(region="national", year=2027)
    assert nat.p_shortage_all_months < nat.p_shortage_year_end < nat.p_shortage_any_month


def test_partial_last_year_is_labelled_with_its_last_month() -> None:
    ds = _synthetic(periods=18)  # 2025-01 .. 2026-06
    text = "\n".join(summary_text(ds))
    assert "P(short, Dec 2025)" in text and "P(short, Jun 2026)" in text
    assert "Dec 2026" not in text


# ------------------------------------------------------------------------ turning rule


def test_turning_rule_in_words(study: xr.Dataset, study_lines: list[str]) -> None:
    assert study.attrs["turning_point_rule"] == "year_end"
    text = " ".join(study_lines)
    assert "Turning point: the first December in which the region is short" in text
    tiny = simulate(TINY, n_paths=200, seed=1, progress=False)
    assert tiny.attrs.get("turning_point_rule", "first_month") == "first_month"
    words = " ".join(summary_text(tiny))
    assert "the first month that starts a run of 1 short month(s)" in words
    assert "December" not in words


def test_rule_defaults_to_first_month_without_the_attr() -> None:
    ds = _synthetic()
    ds.attrs.pop("turning_point_rule", None)
    assert "rule first_month" in " ".join(summary_text(ds))


# ---------------------------------------------------------------------- censored median


def test_median_past_the_horizon_is_censored_not_none(
    study: xr.Dataset, study_lines: list[str]
) -> None:
    table = _table(study_lines, "Turning point (median")
    (gba,) = [line for line in table if line.startswith("gba ")]
    assert float(study.p_no_turning_point.sel(region="gba")) > 0.5  # median past 2028-12
    assert "after 2028-12 (censored)" in gba
    assert not re.search(r"\bnone\b", "\n".join(study_lines))
    frame = summary_frames(study)["by_region"]
    assert frame.loc["gba", "median_turn"] is None and frame.loc["gba", "median_turn_censored"]
    nat = frame.loc["national", "median_turn"]
    cdf = study.turning_point_cdf.sel(region="national").to_series()
    first = cdf[cdf >= 0.5].index[0]
    assert nat == first.strftime("%Y-%m") and not frame.loc["national", "median_turn_censored"]


def test_synthetic_censored_wording_uses_the_horizon() -> None:
    ds = _synthetic(periods=30, cdf_top=0.4)  # horizon 2027-06, CDF never reaches 0.5
    text = "\n".join(summary_text(ds))
    assert text.count("after 2027-06 (censored)") == ds.sizes["region"]


# --------------------------------------------------------------------------- intervals


def test_every_probability_has_its_wilson_interval(
    study: xr.Dataset, study_lines: list[str]
) -> None:
    table = _table(study_lines, "Short at the year end")
    p = study.p_shortage_year_end.sel(region="southwest_other").values
    lo, hi = wilson_interval(np.rint(p * N), N)
    for (c, clo, chi), want_lo, want_hi in zip(_row(table, "southwest_other"), lo, hi, strict=True):
        assert clo == pytest.approx(want_lo, abs=5e-4) and chi == pytest.approx(want_hi, abs=5e-4)
        assert clo <= c <= chi and chi > clo
    for heading in ("Short at", "Short in at least", "Short in every", "Turned by"):
        for line in _table(study_lines, heading)[1:]:
            assert len(CELL.findall(line)) == len(YEARS), line
    turning = _table(study_lines, "Turning point (median")
    assert all(len(CELL.findall(line)) == 1 for line in turning[1:])  # P(no turn)


def test_frames_intervals_match_wilson_and_the_datasets_se(study: xr.Dataset) -> None:
    by_year = summary_frames(study)["by_year"]
    p = study.p_shortage_any_month.transpose("region", "year").values.ravel()
    lo, hi = wilson_interval(np.rint(p * N), N)
    np.testing.assert_array_equal(by_year.p_short_any_month_lo.to_numpy(), lo)
    np.testing.assert_array_equal(by_year.p_short_any_month_hi.to_numpy(), hi)
    se = study.p_shortage_any_month_se.transpose("region", "year").values.ravel()
    np.testing.assert_allclose(by_year.p_short_any_month_se.to_numpy(), se, rtol=1e-12)


def test_error_line_says_monte_carlo_given_the_priors(study_lines: list[str]) -> None:
    text = " ".join(line.strip() for line in study_lines)
    assert "95% Wilson interval of the Monte Carlo error with 2,000 paths, given the priors" in (
        text
    )
    assert "not the uncertainty of the priors themselves" in text
    assert "largest Monte Carlo standard error" not in text  # the old global line is gone
    assert "not informative" not in text


def test_tiny_path_count_says_the_error_is_not_informative() -> None:
    ds = simulate(TINY, n_paths=10, seed=1, progress=False)
    text = " ".join(line.strip() for line in summary_text(ds))
    assert "With only 10 paths the standard errors and intervals are not informative" in text


# ---------------------------------------------------------------------- study's years


def test_study_years_beside_the_median_for_the_study_priors(study_lines: list[str]) -> None:
    table = _table(study_lines, "Turning point (median")
    assert "study's year" in table[0]
    want = {"jingjin": "2025", "yangtze": "2026", "national": "2027"}
    for region, year in want.items():
        (line,) = [x for x in table if x.split()[0] == region]
        assert re.search(rf"\d{{4}}-\d{{2}}\s+{year}\s", line), line
    for region in ("gba", "southwest_other"):
        (line,) = [x for x in table if x.split()[0] == region]
        assert "not by 2028" in line


def test_study_turning_years_are_the_studys() -> None:
    years = study_turning_years(0.8)
    assert years == {
        "jingjin": 2025,
        "yangtze": 2026,
        "gba": None,
        "southwest_other": None,
        "national": 2027,
    }


def test_no_study_column_for_other_priors() -> None:
    tiny = simulate(TINY, n_paths=200, seed=1, progress=False)
    assert "study" not in "\n".join(summary_text(tiny))
    assert "study_turn_year" not in summary_frames(tiny)["by_region"]


# ------------------------------------------------------------------------------ width


def test_every_line_fits_100_columns(study_lines: list[str]) -> None:
    assert max(map(len, study_lines)) <= WIDTH == 100


def test_long_horizons_and_names_are_split_into_tables() -> None:
    ds = _synthetic(periods=96, regions=("a_rather_long_region_id", "b", "national"))
    lines = summary_text(ds, "x" * 150)
    assert max(map(len, lines)) <= WIDTH
    text = "\n".join(lines)
    for year in range(2025, 2033):  # all eight years are still shown
        assert f"P(short, Dec {year})" in text


# ------------------------------------------------------------------ machine-readable


def _cli_run(fmt: str, tmp_path: Path, capsys) -> tuple[str, xr.Dataset]:
    out = tmp_path / f"r_{fmt}.nc"
    argv = ["run", "--paths", str(N), "--seed", str(SEED), "--quiet", "--out", str(out)]
    code = main([*argv, "--format", fmt])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.strip() == f"wrote {out}"  # stdout is the data alone
    return captured.out, read_result(out)


def _same(frame_values: np.ndarray, ds: xr.Dataset, var: str) -> None:
    want = ds[var].transpose("region", "year").values.ravel()
    np.testing.assert_array_equal(np.asarray(frame_values, dtype=float), want)


def test_format_csv_parses_back_to_the_datasets_numbers(tmp_path: Path, capsys) -> None:
    text, ds = _cli_run("csv", tmp_path, capsys)
    frame = pd.read_csv(StringIO(text))
    assert list(frame.region.unique()) == list(ds.region.values)
    assert list(frame.year.unique()) == list(ds.year.values)
    _same(frame.p_short_year_end, ds, "p_shortage_year_end")
    _same(frame.p_short_any_month, ds, "p_shortage_any_month")
    _same(frame.p_short_all_months, ds, "p_shortage_all_months")
    _same(frame.p_short_year_end_se, ds, "p_shortage_year_end_se")
    cdf = ds.turning_point_cdf.sel(time=ds.time.dt.month == 12).values.ravel()
    np.testing.assert_array_equal(frame.p_turned_by_year_end.to_numpy(), cdf)
    per_region = frame.groupby("region", sort=False).p_no_turn.first()
    np.testing.assert_array_equal(per_region.to_numpy(), ds.p_no_turning_point.values)


def test_format_json_parses_back_to_the_datasets_numbers(tmp_path: Path, capsys) -> None:
    text, ds = _cli_run("json", tmp_path, capsys)
    doc = json.loads(text)
    assert doc["run"]["n_paths"] == N and doc["run"]["seed"] == SEED
    assert "first December" in doc["turning_point_rule"]
    assert "Monte Carlo" in doc["note"]
    rows = doc["by_year"]
    assert [(r["region"], r["year"]) for r in rows] == [
        (r, int(y)) for r in ds.region.values for y in ds.year.values
    ]
    _same([r["p_short_year_end"] for r in rows], ds, "p_shortage_year_end")
    _same([r["p_short_all_months_se"] for r in rows], ds, "p_shortage_all_months_se")
    regions = {r["region"]: r for r in doc["by_region"]}
    assert regions["gba"]["median_turn"] is None and regions["gba"]["median_turn_censored"]
    assert regions["national"]["study_turn_year"] == 2027
    assert [regions[r]["p_no_turn"] for r in ds.region.values] == list(ds.p_no_turning_point.values)


def test_csv_and_json_agree_with_summary_frames(study: xr.Dataset) -> None:
    frames = summary_frames(study)
    assert set(frames) == {"by_year", "by_region"}
    by_year = frames["by_year"]
    csv = pd.read_csv(StringIO(summary_csv(study)))
    np.testing.assert_array_equal(csv.p_short_year_end_hi.to_numpy(), by_year.p_short_year_end_hi)
    doc = json.loads(summary_json(study))
    assert [r["p_turned_by_year_end_lo"] for r in doc["by_year"]] == list(
        by_year.p_turned_by_year_end_lo
    )


def test_hostile_region_ids_are_escaped_in_every_format() -> None:
    ds = _synthetic(regions=("ok", "bad\x1b]0;t\x07\u202e", "national"))
    for text in ("\n".join(summary_text(ds)), summary_csv(ds), summary_json(ds)):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "bad\\x1b]0;t\\x07\\u202e" in summary_csv(ds)
    assert json.loads(summary_json(ds))["by_region"][1]["region"] == "bad\x1b]0;t\x07\u202e"


# ------------------------------------------------------------------------------ helpers


def _synthetic(
    periods: int = 24,
    regions: tuple[str, ...] = ("north", "south", "national"),
    cdf_top: float = 0.9,
    n: int = 1000,
) -> xr.Dataset:
    """A result-shaped Dataset: p_shortage rising, a CDF rising to ``cdf_top``, counts of
    ``n`` paths (every probability a multiple of 1 / n)."""
    time = pd.date_range("2025-01-31", periods=periods, freq="ME")
    years = sorted(set(time.year))
    r = len(regions)
    ramp = np.linspace(0.1, 0.9, periods)
    p = np.round(np.tile(ramp, (r, 1)) * n) / n
    cdf = np.round(np.tile(np.linspace(0.0, cdf_top, periods), (r, 1)) * n) / n
    year_p = np.round(np.tile(np.linspace(0.2, 0.8, len(years)), (r, 1)) * n) / n
    ds = xr.Dataset(
        {
            "p_shortage": (("region", "time"), p),
            "turning_point_cdf": (("region", "time"), cdf),
            "p_no_turning_point": (("region",), 1.0 - cdf[:, -1]),
            "p_shortage_year_end": (("region", "year"), year_p),
            "p_shortage_any_month": (("region", "year"), year_p),
            "p_shortage_all_months": (("region", "year"), year_p / 2),
        },
        coords={"region": list(regions), "time": time, "year": years},
        attrs={"n_paths": n, "threshold": 0.8, "turning_point_rule": "first_month"},
    )
    return ds
