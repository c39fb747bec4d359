"""Tidy tables of result Datasets (``mcsd.to_frames``) and their CSV / XLSX files.

Every Dataset kind the project makes (simulate, point mode, keep_paths, compare,
sensitivity) is turned into one table per set of dims; each cell is checked against the
Dataset by label (vectorised ``sel``, independent of how the table was laid out), and the
files are read back and compared exactly.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import mcsd
from mcsd.results import frames as fr
from mcsd.testing.toy import buyer, make_priors, project, provider, region

SEED = 7
N = 10


def _priors(name: str = "toy", extra: float = 0.0):
    """Two regions (+ national), base 2024-09, horizon 2026-03: 2026 ends in March."""
    p = make_priors(
        [region("r", 50.0, 100.0), region("s", 80.0, 90.0)],
        [buyer("b", {"r": {2024: 60.0, 2025: 120.0 + extra, 2026: 60.0}, "s": {2025: 30.0}})],
        [
            provider(
                "p",
                [project("p1", "r", 40.0, "2025-06"), project("p2", "s", 20.0, "2025-03")],
                p_on_time=0.5,
                cancel=0.2,
            )
        ],
        base_month="2024-09",
        horizon_month="2026-03",
        threshold=0.7,
    )
    return dataclasses.replace(p, name=name)


@pytest.fixture(scope="module")
def sim() -> xr.Dataset:
    return mcsd.simulate(_priors(), n_paths=N, seed=SEED, keep_paths=True, progress=False)


@pytest.fixture(scope="module")
def point() -> xr.Dataset:
    return mcsd.simulate(_priors(), point=True, progress=False)


@pytest.fixture(scope="module")
def cmp() -> xr.Dataset:
    return mcsd.compare(_priors(), _priors("toy_b", extra=80.0), n_paths=40, seed=SEED)


@pytest.fixture(scope="module")
def sens() -> xr.Dataset:
    return mcsd.sensitivity(_priors(), n_paths=40, seed=SEED, n_boot=4)


@pytest.fixture(params=["sim", "point", "cmp", "sens"])
def any_ds(request) -> xr.Dataset:
    return request.getfixturevalue(request.param)


def _data_tables(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {k: v for k, v in frames.items() if k not in (fr.SUMMARY, fr.PROVENANCE)}


def _by_label(da: xr.DataArray, table: pd.DataFrame) -> np.ndarray:
    """``da`` at each row's labels (pointwise selection by the dims' columns)."""
    index = {d: xr.DataArray(table[d].to_numpy(), dims="row") for d in da.dims}
    return np.asarray(da.sel(index).values)


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return np.array_equal(a.astype(float), b.astype(float), equal_nan=True)
    return a.tolist() == b.tolist()


# ---- tables ------------------------------------------------------------------------------


def test_one_table_per_set_of_dims_every_cell_by_label(any_ds: xr.Dataset) -> None:
    frames = mcsd.to_frames(any_ds)
    tables = _data_tables(frames)
    seen: list[str] = []
    for name, table in tables.items():
        dims = name.split("_")
        assert all(d in any_ds.dims for d in dims), name
        assert len(table) == math.prod(any_ds.sizes[d] for d in dims)  # no broadcasting
        assert list(table.columns[: len(dims)]) == dims
        assert table.index.equals(pd.RangeIndex(len(table)))
        # every row a distinct cell
        assert not table.duplicated(subset=dims).any()
        for var in table.columns[len(dims) :]:
            assert set(any_ds[var].dims) == set(dims), var
            assert _same(table[var], _by_label(any_ds[var], table)), (name, var)
            seen.append(var)
    # every variable once, in exactly one table
    want = [*any_ds.data_vars, *(c for c in any_ds.coords if c not in any_ds.dims)]
    assert sorted(seen) == sorted(map(str, want))
    assert list(frames) == fr.table_names(any_ds)
    assert fr.table_rows(any_ds) == {k: len(v) for k, v in tables.items()}


def test_simulate_tables_by_name(sim: xr.Dataset) -> None:
    tables = _data_tables(mcsd.to_frames(sim))
    assert list(tables) == [
        "region_time_quantile",
        "region_time_level",
        "region_time",
        "region",
        "region_year",
        "path_region_time",
        "path_region",
    ]
    rt = tables["region_time"]
    assert list(rt.columns[:3]) == ["region", "time", "occupancy_mean"]
    assert rt["time"].dtype.kind == "M"
    assert list(rt["region"].iloc[:: sim.sizes["time"]]) == ["r", "s", "national"]


def test_paths_left_out_on_request(sim: xr.Dataset) -> None:
    frames = mcsd.to_frames(sim, paths=False)
    assert not [k for k in frames if k.startswith("path")]
    assert "path_region_time" in fr.table_names(sim)
    assert "path_region_time" not in fr.table_names(sim, paths=False)
    prov = frames[fr.PROVENANCE].set_index("name")["value"]
    assert prov["path_tables"].startswith("left out")
    assert mcsd.to_frames(sim)[fr.PROVENANCE].set_index("name")["value"]["path_tables"] == (
        "included"
    )


def test_compare_and_sensitivity_tables(cmp: xr.Dataset, sens: xr.Dataset) -> None:
    assert list(_data_tables(mcsd.to_frames(cmp))) == ["region_time", "region"]
    assert list(_data_tables(mcsd.to_frames(sens))) == [
        "group_region_year",
        "region_year",
        "group_region",
        "region",
        "group",
    ]
    assert fr.SUMMARY not in mcsd.to_frames(sens)  # no time axis: nothing to summarise


def test_dims_in_any_order_scalars_and_dims_without_coordinates() -> None:
    ds = xr.Dataset(
        {
            "a": (("region", "time"), np.arange(6.0).reshape(2, 3)),
            "b": (("time", "region"), np.arange(6).reshape(3, 2)),
            "c": (("widget",), np.array([True, False])),
            "d": ((), 2.5),
        },
        coords={"region": ["x", "y"], "time": pd.date_range("2025-01-31", periods=3, freq="ME")},
        attrs={"seed": np.int64(5), "threshold": np.float64(0.1), "list": np.array([1, 2])},
    )
    frames = fr.to_frames(ds)
    assert list(_data_tables(frames)) == ["region_time", "widget", "scalars"]
    rt = frames["region_time"]
    assert _same(rt["b"], _by_label(ds["b"], rt))
    assert frames["widget"]["widget"].tolist() == [0, 1]
    assert frames["scalars"].to_dict("list") == {"d": [2.5]}
    prov = frames[fr.PROVENANCE].set_index("name")["value"]
    assert (prov["seed"], prov["threshold"], prov["list"]) == ("5", "0.1", "[1, 2]")
    with pytest.raises(TypeError, match="xarray.Dataset"):
        fr.to_frames(ds["a"])


# ---- year-end summary ---------------------------------------------------------------------


def test_year_end_summary_of_a_simulate_result(sim: xr.Dataset) -> None:
    s = mcsd.to_frames(sim)[fr.SUMMARY]
    assert len(s) == sim.sizes["region"] * sim.sizes["year"]
    assert list(s.columns) == [
        "region",
        "year",
        "year_end",
        "p_shortage_year_end",
        "p_shortage_year_end_se",
        "p_shortage_any_month",
        "p_shortage_any_month_se",
        "p_shortage_all_months",
        "p_shortage_all_months_se",
        "p_turning_by_year_end",
        "p_turning_by_year_end_se",
        "occupancy_median_year_end",
    ]
    ends = pd.DatetimeIndex(s["year_end"])
    # December, except the horizon's partial last year (ends in March 2026)
    assert ends[s["year"] == 2026].month.tolist() == [3, 3, 3]
    assert set(ends[s["year"] != 2026].month) == {12}
    assert (ends.year == s["year"]).all()
    at = {"region": xr.DataArray(s["region"].to_numpy(), dims="row")}
    at["time"] = xr.DataArray(s["year_end"].to_numpy(), dims="row")
    yr = {"region": at["region"], "year": xr.DataArray(s["year"].to_numpy(), dims="row")}
    for name in [c for c in s.columns if c.startswith("p_shortage")]:
        assert _same(s[name], sim[name].sel(yr).values), name
    # the year-end month is the one the engine counts: P(short) there is the same count
    assert _same(s["p_shortage_year_end"], sim["p_shortage"].sel(at).values)
    p = sim["turning_point_cdf"].sel(at).values
    assert _same(s["p_turning_by_year_end"], p)
    assert _same(s["p_turning_by_year_end_se"], np.sqrt(p * (1 - p) / N))
    assert _same(s["occupancy_median_year_end"], sim["occupancy"].sel(quantile=0.5).sel(at).values)
    # the readings are ordered as they must be
    assert (s.p_shortage_all_months <= s.p_shortage_year_end).all()
    assert (s.p_shortage_year_end <= s.p_shortage_any_month).all()


def test_summary_without_a_median_quantile_leaves_the_column_out() -> None:
    ds = mcsd.simulate(_priors(), n_paths=5, seed=SEED, quantiles=[0.1, 0.9], progress=False)
    s = mcsd.to_frames(ds)[fr.SUMMARY]
    assert "occupancy_median_year_end" not in s
    assert "p_turning_by_year_end" in s


def test_point_mode_summary(point: xr.Dataset) -> None:
    s = mcsd.to_frames(point)[fr.SUMMARY]
    assert set(s["p_shortage_year_end"]) <= {0.0, 1.0}
    assert (s["p_turning_by_year_end_se"] == 0.0).all()


def test_year_end_summary_of_a_compare_result(cmp: xr.Dataset) -> None:
    s = mcsd.to_frames(cmp)[fr.SUMMARY]
    rt = [v for v in cmp.data_vars if cmp[v].dims == ("region", "time")]
    assert list(s.columns) == ["region", "year", "year_end", *rt]
    assert s["year"].tolist() == [2024, 2025, 2026] * 3
    at = {
        "region": xr.DataArray(s["region"].to_numpy(), dims="row"),
        "time": xr.DataArray(s["year_end"].to_numpy(), dims="row"),
    }
    assert pd.DatetimeIndex(s["year_end"]).month.tolist() == [12, 12, 3] * 3
    for name in rt:
        assert _same(s[name], cmp[name].sel(at).values), name


# ---- provenance ---------------------------------------------------------------------------


def test_provenance_attributes_first_then_units(sim: xr.Dataset, cmp: xr.Dataset) -> None:
    prov = mcsd.to_frames(sim)[fr.PROVENANCE]
    assert list(prov.columns) == ["kind", "name", "value"]
    attrs = prov[prov.kind == "attribute"]
    assert attrs["name"].tolist()[:7] == [
        "mcsd_version",
        "seed",
        "n_paths",
        "priors_name",
        "priors_sha256",
        "turning_point_rule",
        "threshold",
    ]
    assert sorted(attrs["name"]) == sorted(sim.attrs)
    for name, value in zip(attrs["name"], attrs["value"], strict=True):
        want = sim.attrs[name]
        assert value == (repr(float(want)) if isinstance(want, float) else str(want))
    units = prov[prov.kind == "units"].set_index("name")["value"]
    assert units["demand"] == "MW" and units["p_shortage"] == "1"
    assert units["p_turning_by_year_end"] == "1"
    for var in sim.data_vars:
        assert units[var] == sim[var].attrs["units"]
    names = prov[prov.kind == "long_name"].set_index("name")["value"]
    assert names["time"] == "month end"
    cprov = mcsd.to_frames(cmp)[fr.PROVENANCE].set_index("name")["value"]
    assert cprov["priors_a"] == "toy" and cprov["priors_b"] == "toy_b"
    assert cprov["n_paths"] == "40" and cprov["seed"] == str(SEED)


# ---- files --------------------------------------------------------------------------------


def _read_csv(path: Path, like: pd.DataFrame) -> pd.DataFrame:
    if path.name == "provenance.csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    dates = [c for c in like.columns if like[c].dtype.kind == "M"]
    return pd.read_csv(path, parse_dates=dates)


@pytest.mark.parametrize("kind", ["sim", "cmp"])
def test_csv_round_trip_exact(kind: str, request, tmp_path: Path) -> None:
    ds = request.getfixturevalue(kind)
    frames = mcsd.to_frames(ds)
    paths = fr.write_csv(ds, tmp_path)
    assert paths == fr.csv_paths(ds, tmp_path)
    assert [p.name for p in paths] == [f"{k}.csv" for k in frames]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)  # no temporary file
    for (name, frame), path in zip(frames.items(), paths, strict=True):
        back = _read_csv(path, frame)
        assert list(back.columns) == list(frame.columns)
        assert len(back) == len(frame)
        for col in frame.columns:
            assert _same(back[col], frame[col]), (name, col)
    # and the tables hold the Dataset's own numbers (by label), read from the file
    back = pd.read_csv(tmp_path / "region_time.csv", parse_dates=["time"])
    for var in back.columns[2:]:
        assert _same(back[var], _by_label(ds[var], back)), var


def test_csv_replaces_a_file_only_when_complete(sim, tmp_path: Path, monkeypatch) -> None:
    old = tmp_path / "region.csv"
    old.write_text("old\n")
    real = pd.DataFrame.to_csv

    def fail_on_region(self, handle, **kw):
        if list(self.columns[:2]) == ["region", "p_no_turning_point"]:
            handle.write("region,partial")
            raise OSError(28, "No space left on device")
        return real(self, handle, **kw)

    monkeypatch.setattr(pd.DataFrame, "to_csv", fail_on_region)
    with pytest.raises(OSError, match="No space left") as info:
        fr.write_csv(sim, tmp_path)
    assert info.value.filename == str(old)  # the target is named, not the temporary file
    assert old.read_text() == "old\n"
    # the files before it were written whole; nothing after it, no temporary file left
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["region_time_quantile.csv", "region_time_level.csv", "region_time.csv", "region.csv"]
    )


def test_interrupt_leaves_no_temporary_file(sim, tmp_path: Path, monkeypatch) -> None:
    def interrupt(self, handle, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fr.write_csv(sim, tmp_path)
    assert os.listdir(tmp_path) == []


def _xlsx_sheets(path: Path) -> dict[str, list[tuple]]:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: list(ws.iter_rows(values_only=True)) for ws in book.worksheets}
    finally:
        book.close()


@pytest.mark.parametrize("kind", ["sim", "cmp"])
def test_xlsx_round_trip_exact(kind: str, request, tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    ds = request.getfixturevalue(kind)
    frames = mcsd.to_frames(ds)
    out = fr.write_xlsx(ds, tmp_path / "result.xlsx")
    assert out == tmp_path / "result.xlsx"
    assert os.listdir(tmp_path) == ["result.xlsx"]
    sheets = _xlsx_sheets(out)
    assert list(sheets) == list(frames)
    for name, frame in frames.items():
        header, *rows = sheets[name]
        assert list(header) == list(frame.columns)
        assert len(rows) == len(frame)
        for j, col in enumerate(frame.columns):
            got = [r[j] for r in rows]
            want = frame[col]
            if want.dtype.kind == "M":
                assert pd.DatetimeIndex(got).equals(pd.DatetimeIndex(want)), (name, col)
            elif want.dtype.kind in "fiub":
                assert _same(np.array(got, dtype=float), want.to_numpy(dtype=float)), (name, col)
                if want.dtype.kind == "b":
                    assert all(isinstance(v, bool) for v in got)
            else:
                assert got == want.tolist(), (name, col)
    # read with pandas too: the Dataset's numbers by label
    back = pd.read_excel(out, sheet_name="region_time")
    for var in back.columns[2:]:
        assert _same(back[var], _by_label(ds[var], back)), var


def test_xlsx_text_is_never_a_formula(tmp_path: Path) -> None:
    pytest.importorskip("openpyxl")
    ds = xr.Dataset(
        {"v": (("region",), [1.0, np.nan, np.inf])},
        coords={"region": ["=1+1", "a\x1bb", "c"]},
        attrs={"priors_name": '=HYPERLINK("http://x")'},
    )
    sheets = _xlsx_sheets(fr.write_xlsx(ds, tmp_path / "x.xlsx"))
    rows = [(*r, None)[:2] for r in sheets["region"][1:]]  # a trailing empty cell is cut
    assert rows == [("=1+1", 1.0), ("a\\x1bb", None), ("c", "inf")]
    prov = {r[1]: r[2] for r in sheets["provenance"][1:]}
    assert prov["priors_name"] == '=HYPERLINK("http://x")'
    openpyxl = pytest.importorskip("openpyxl")
    cell = openpyxl.load_workbook(tmp_path / "x.xlsx")["region"]["A2"]
    assert cell.data_type == "s"


def test_xlsx_refuses_a_table_larger_than_a_sheet(sim, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("openpyxl")
    monkeypatch.setattr(fr, "XLSX_MAX_ROWS", 10)
    big = {"path_region": pd.DataFrame({"a": np.zeros(11)})}
    with pytest.raises(ValueError, match=r"path_region has 11 rows.*\(paths=False\) or write"):
        fr.write_xlsx(big, tmp_path / "x.xlsx")
    rows = fr.table_rows(sim)
    monkeypatch.setattr(fr, "XLSX_MAX_ROWS", rows["region_time_quantile"] - 1)
    with pytest.raises(ValueError, match=r"region_time_quantile has .*\): write CSV$"):
        fr.write_xlsx(sim, tmp_path / "x.xlsx", paths=False)  # checked before building
    assert os.listdir(tmp_path) == []
    fr.write_xlsx({"path_region": big["path_region"][:10]}, tmp_path / "x.xlsx")  # fits


def test_xlsx_without_openpyxl(sim, tmp_path: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(fr.XlsxUnavailable, match=r"pip install mcsd\[xlsx\]"):
        fr.write_xlsx(sim, tmp_path / "x.xlsx")
    assert os.listdir(tmp_path) == []


def test_lazy_export() -> None:
    assert mcsd.to_frames is fr.to_frames
    assert "to_frames" in mcsd.__all__
