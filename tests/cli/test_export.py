"""The ``mcsd export`` subcommand: tidy CSV / XLSX tables from a result file.

Output rules (as ``mcsd run``'s): the folder must exist, a target must be a regular file
and not the input; every refusal is exit 2 with one line on stderr and nothing written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import mcsd
from mcsd.cli import export
from mcsd.results import frames as fr
from mcsd.testing.toy import buyer, make_priors, project, provider, region

SEED = 5
N = 8


def _priors(name: str = "toy", extra: float = 0.0):
    p = make_priors(
        [region("r", 50.0, 100.0), region("s", 80.0, 90.0)],
        [buyer("b", {"r": {2025: 120.0 + extra, 2026: 60.0}, "s": {2025: 30.0}})],
        [provider("p", [project("p1", "r", 40.0, "2025-06")], p_on_time=0.5, cancel=0.2)],
        base_month="2024-12",
        horizon_month="2026-06",
        threshold=0.7,
    )
    return dataclasses.replace(p, name=name)


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Path:
    ds = mcsd.simulate(_priors(), n_paths=N, seed=SEED, keep_paths=True, progress=False)
    path = tmp_path_factory.mktemp("in") / "result.nc"
    mcsd.write_netcdf(ds, path)
    return path


@pytest.fixture(scope="module")
def big_result(tmp_path_factory) -> Path:
    """Enough paths that the per-path table is the largest (3 x 19 x 20 > 3 x 19 x 19)."""
    ds = mcsd.simulate(_priors(), n_paths=20, seed=SEED, keep_paths=True, progress=False)
    path = tmp_path_factory.mktemp("big") / "result.nc"
    mcsd.write_netcdf(ds, path)
    return path


@pytest.fixture(scope="module")
def compare_result(tmp_path_factory) -> Path:
    # as ``mcsd compare --out`` writes it (no mcsd_format marker)
    ds = mcsd.compare(_priors(), _priors("toy_b", 60.0), n_paths=N, seed=SEED)
    path = tmp_path_factory.mktemp("cmp") / "compare.nc"
    mcsd.write_netcdf(ds, path)
    return path


def _load(path: Path) -> xr.Dataset:
    """The Dataset in a result file (a compare file has no result-format marker)."""
    try:
        return mcsd.read_result(path)
    except mcsd.ResultFileError:
        return xr.open_dataset(path, engine="h5netcdf").load()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcsd")
    sub = parser.add_subparsers(dest="command")
    assert export.register(sub) is not None
    args = parser.parse_args(["export", *map(str, argv)])
    return args.func(args)


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("mcsd export: error: ")
    return lines[0]


def _frames_equal(back: pd.DataFrame, want: pd.DataFrame, name: str) -> None:
    assert list(back.columns) == list(want.columns), name
    assert len(back) == len(want), name
    for col in want.columns:
        a, b = back[col].to_numpy(), want[col].to_numpy()
        if b.dtype.kind == "M":
            assert pd.DatetimeIndex(a).equals(pd.DatetimeIndex(b)), (name, col)
        elif b.dtype.kind in "fiub":
            assert np.array_equal(a.astype(float), b.astype(float), equal_nan=True), (name, col)
        else:
            assert [str(x) for x in a] == [str(x) for x in b], (name, col)


def _read_csv(path: Path, want: pd.DataFrame) -> pd.DataFrame:
    if path.name == "provenance.csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_csv(path, parse_dates=[c for c in want.columns if want[c].dtype.kind == "M"])


@pytest.mark.parametrize("which", ["result", "compare_result"])
def test_csv_export(which: str, request, tmp_path: Path, capsys) -> None:
    source = request.getfixturevalue(which)
    ds = _load(source)
    assert run([source, "--csv", tmp_path]) == 0
    frames = mcsd.to_frames(ds)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(tmp_path / f"{name}.csv") for name in frames]
    assert sorted(os.listdir(tmp_path)) == sorted(f"{name}.csv" for name in frames)
    for name, want in frames.items():
        back = _read_csv(tmp_path / f"{name}.csv", want)
        if name != fr.PROVENANCE:
            _frames_equal(back, want, name)
        else:  # created etc. as written; the export's own rows too
            assert back.values.tolist() == want.values.tolist()
        if name in fr.table_rows(ds):
            dims = name.split("_")
            assert len(back) == int(np.prod([ds.sizes[d] for d in dims]))
    # the numbers are the result file's, by label
    rt = pd.read_csv(tmp_path / "region_time.csv", parse_dates=["time"])
    sel = {d: xr.DataArray(rt[d].to_numpy(), dims="row") for d in ("region", "time")}
    for var in rt.columns[2:]:
        assert np.array_equal(rt[var].to_numpy(), ds[var].sel(sel).values), var
    if which == "result":
        assert "path_region_time.csv" in os.listdir(tmp_path)
        summary = pd.read_csv(tmp_path / "summary_year_end.csv")
        assert summary["year"].tolist() == [2025, 2026] * 3
        assert summary["year_end"].tolist() == ["2025-12-31", "2026-06-30"] * 3


def test_sensitivity_and_marked_compare_files(compare_result, tmp_path: Path, capsys) -> None:
    """A sensitivity result (no time axis) as ``mcsd sensitivity --out`` writes it, and a
    compare result carrying the result-format marker, export too."""
    ds = mcsd.sensitivity(_priors(), n_paths=N, seed=SEED, n_boot=2)
    source = tmp_path / "sens.nc"
    mcsd.write_netcdf(ds, source)
    out = tmp_path / "out"
    out.mkdir()
    assert run([source, "--csv", out]) == 0
    frames = mcsd.to_frames(ds)
    assert fr.SUMMARY not in frames
    assert sorted(os.listdir(out)) == sorted(f"{k}.csv" for k in frames)
    back = pd.read_csv(out / "group_region_year.csv")
    _frames_equal(back, frames["group_region_year"], "group_region_year")
    back = pd.read_csv(out / "region.csv")
    _frames_equal(back, frames["region"], "region")  # incl. the bool no_variance flags
    marked = xr.open_dataset(compare_result, engine="h5netcdf").load()
    marked.attrs.update(mcsd_format="mcsd-result", mcsd_format_version=1)
    mcsd.write_netcdf(marked, tmp_path / "marked.nc")
    capsys.readouterr()
    assert run([tmp_path / "marked.nc", "--csv", out]) == 0
    # a netCDF file not written by mcsd is still refused
    xr.Dataset({"v": ("x", [1.0])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    capsys.readouterr()
    assert run([tmp_path / "other.nc", "--csv", out]) == 2
    assert "not an mcsd result file" in _error_line(capsys)


def test_csv_without_paths_and_replacing_an_earlier_export(result, tmp_path, capsys) -> None:
    (tmp_path / "region_time.csv").write_text("old\n")
    (tmp_path / "unrelated.csv").write_text("keep\n")
    assert run([result, "--csv", tmp_path, "--no-paths"]) == 0
    names = set(os.listdir(tmp_path))
    assert "path_region_time.csv" not in names and "path_region.csv" not in names
    assert (tmp_path / "unrelated.csv").read_text() == "keep\n"
    assert (tmp_path / "region_time.csv").read_text().startswith("region,time,")
    prov = pd.read_csv(tmp_path / "provenance.csv", dtype=str, keep_default_na=False)
    assert prov.set_index("name")["value"]["path_tables"].startswith("left out")


@pytest.mark.parametrize("which", ["result", "compare_result"])
def test_xlsx_export(which: str, request, tmp_path: Path, capsys) -> None:
    pytest.importorskip("openpyxl")
    source = request.getfixturevalue(which)
    ds = _load(source)
    out = tmp_path / "tables.xlsx"
    assert run([source, "--xlsx", out]) == 0
    assert capsys.readouterr().out == f"{out}\n"
    assert os.listdir(tmp_path) == ["tables.xlsx"]
    frames = mcsd.to_frames(ds)
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == list(frames)
    for name, want in frames.items():
        if name == fr.PROVENANCE:
            got = sheets[name].astype(str).values.tolist()
            assert got == want.astype(str).values.tolist()
        else:
            _frames_equal(sheets[name], want, name)


def test_xlsx_refuses_a_table_too_large_for_a_sheet(big_result, tmp_path, capsys, monkeypatch):
    pytest.importorskip("openpyxl")
    rows = fr.table_rows(mcsd.read_result(big_result))
    largest = max(n for name, n in rows.items() if not name.startswith("path"))
    assert rows["path_region_time"] > largest
    monkeypatch.setattr(fr, "XLSX_MAX_ROWS", largest)
    assert run([big_result, "--xlsx", tmp_path / "x.xlsx"]) == 2
    line = _error_line(capsys)
    assert f"table path_region_time has {rows['path_region_time']:,} rows" in line
    assert line.endswith(f"holds ({largest:,}): use --no-paths or use --csv")
    assert os.listdir(tmp_path) == []
    assert run([big_result, "--xlsx", tmp_path / "x.xlsx", "--no-paths"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'x.xlsx'}\n"
    monkeypatch.setattr(fr, "XLSX_MAX_ROWS", largest - 1)
    assert run([big_result, "--xlsx", tmp_path / "y.xlsx", "--no-paths"]) == 2
    assert _error_line(capsys).endswith(f"holds ({largest - 1:,}): use --csv")
    assert os.listdir(tmp_path) == ["x.xlsx"]


def test_openpyxl_missing(result, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl -> ImportError
    assert run([result, "--xlsx", tmp_path / "x.xlsx"]) == 2
    line = _error_line(capsys)
    assert line == (
        "mcsd export: error: --xlsx needs the optional package openpyxl: pip install mcsd[xlsx]"
    )
    assert os.listdir(tmp_path) == []


def test_missing_folder(result, tmp_path: Path, capsys) -> None:
    assert run([result, "--csv", tmp_path / "nope"]) == 2
    assert "folder does not exist" in _error_line(capsys)
    assert run([result, "--xlsx", tmp_path / "nope" / "x.xlsx"]) == 2
    assert "output folder does not exist" in _error_line(capsys)
    assert os.listdir(tmp_path) == []


def test_csv_target_not_a_folder(result, tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert run([result, "--csv", tmp_path / "file"]) == 2
    assert "is not a folder" in _error_line(capsys)


@pytest.mark.parametrize("kind", ["folder", "fifo", "dangling"])
def test_non_regular_targets(kind: str, result, tmp_path: Path, capsys) -> None:
    for target in (tmp_path / "region_time.csv", tmp_path / "x.xlsx"):
        if kind == "folder":
            target.mkdir()
        elif kind == "fifo":
            os.mkfifo(target)
        else:
            target.symlink_to(tmp_path / "missing")
    before = sorted(os.listdir(tmp_path))
    assert run([result, "--csv", tmp_path]) == 2
    line = _error_line(capsys)
    assert line.startswith("mcsd export: error: --csv ") or "folder" in line
    assert "region_time.csv" in line
    if "openpyxl" in sys.modules or _has_openpyxl():
        assert run([result, "--xlsx", tmp_path / "x.xlsx"]) == 2
        assert "x.xlsx" in _error_line(capsys)
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, not even region.csv


def _has_openpyxl() -> bool:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        return False
    return True


def test_input_is_never_overwritten(result, tmp_path: Path, capsys) -> None:
    data = result.read_bytes()
    # the result file under a table's name, in the export folder
    inside = tmp_path / "region.csv"
    inside.write_bytes(data)
    assert run([inside, "--csv", tmp_path]) == 2
    assert "is an input of this command" in _error_line(capsys)
    assert os.listdir(tmp_path) == ["region.csv"]
    # a hard link of the input as the workbook
    link = tmp_path / "x.xlsx"
    os.link(inside, link)
    if _has_openpyxl():
        assert run([inside, "--xlsx", link]) == 2
        assert "is an input of this command" in _error_line(capsys)
        assert run([result, "--xlsx", result]) == 2
        assert "is an input of this command" in _error_line(capsys)
    assert inside.read_bytes() == data and result.read_bytes() == data


def test_not_a_result_file(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    assert run([bad, "--csv", tmp_path]) == 2
    assert "not a readable netCDF file" in _error_line(capsys)
    assert run([tmp_path / "missing.nc", "--csv", tmp_path]) == 2
    assert "no such result file" in _error_line(capsys)
    assert os.listdir(tmp_path) == ["bad.nc"]


def test_a_write_error_is_one_line(result, tmp_path: Path, capsys, monkeypatch) -> None:
    def full(self, handle, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    assert run([result, "--csv", tmp_path]) == 2
    line = _error_line(capsys)
    assert line == (
        f"mcsd export: error: cannot write {tmp_path / 'region_time_quantile.csv'}: "
        "No space left on device"
    )
    assert os.listdir(tmp_path) == []


def test_csv_or_xlsx_is_required(result, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run([result])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        run([result, "--csv", tmp_path, "--xlsx", tmp_path / "x.xlsx"])


def test_building_the_parser_imports_nothing_heavy() -> None:
    import subprocess

    code = (
        "import sys, argparse; from mcsd.cli.export import register; "
        "p = argparse.ArgumentParser(); register(p.add_subparsers()); "
        "print(sorted(m for m in ('xarray', 'openpyxl', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
