"""The HTML report (mcsd.report) and ``mcsd report``: its numbers are the Dataset's, it is
self-contained, it escapes what it shows, and it is written atomically.

The page is parsed with the standard library's ``html.parser``; every shown number sits in
an element whose ``data-value`` holds the full-precision value and whose ``data-var`` /
``data-region`` / ``data-year`` / ``data-time`` name the Dataset cell, so the checks are
exact (``==``), not approximate.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import os
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import mcsd  # noqa: E402
from mcsd import report  # noqa: E402
from mcsd.analysis.compare import compare  # noqa: E402
from mcsd.cli import report as report_cli  # noqa: E402
from mcsd.results.io import write_netcdf  # noqa: E402

N_PATHS = 1000
SEED = 7
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;\x1b[31m'


class Page(HTMLParser):
    """Tags, attributes and the text of every element carrying ``data-value``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.cells: list[dict[str, str]] = []
        self._open: list[tuple[str, dict[str, str]]] = []
        self.attrs_rows: dict[str, str] = {}
        self._attr_key: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, a))
        if "data-value" in a:
            cell = {**a, "text": ""}
            self.cells.append(cell)
            self._open.append((tag, cell))
        if tag == "td" and "data-attr" in a:
            self._attr_key = a["data-attr"]
            self.attrs_rows[self._attr_key] = ""

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()
        if tag == "td":
            self._attr_key = None

    def handle_data(self, data):
        if self._open:
            self._open[-1][1]["text"] += data
        if self._attr_key is not None:
            self.attrs_rows[self._attr_key] += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def dataset_value(ds, cell: dict[str, str]) -> float:
    """The Dataset value a cell names (its variable, region and year or month)."""
    da = ds[cell["data-var"]]
    sel: dict[str, object] = {}
    if "region" in da.dims:
        sel["region"] = cell["data-region"]
    if "year" in da.dims:
        sel["year"] = int(cell["data-year"])
    if "time" in da.dims:
        sel["time"] = np.datetime64(cell["data-time"])
    return float(da.sel(sel).values)


@pytest.fixture(scope="module")
def result():
    return mcsd.simulate(None, n_paths=N_PATHS, seed=SEED, progress=False)


@pytest.fixture(scope="module")
def page_text(result) -> str:
    return report.html_report(result)


@pytest.fixture
def no_figures(monkeypatch):
    """Tables only: figures are tested once (``page_text``), not in every test."""
    monkeypatch.setattr(report, "result_figures", lambda ds: [])


def year_ends(ds) -> list[tuple[int, str]]:
    times = pd.DatetimeIndex(ds.time.values)
    return [
        (int(y), times[times.year == y][-1].strftime("%Y-%m-%d")) for y in sorted(set(times.year))
    ]


def check_cells(ds, page: Page, var: str, *, se: bool = False) -> int:
    """Every cell of ``var`` equals the Dataset's value, exactly, and shows it rounded;
    returns how many there are."""
    cells = [c for c in page.cells if c.get("data-var") == var]
    for cell in cells:
        want = dataset_value(ds, cell)
        got = float(cell["data-value"])
        assert got == want, (var, cell)
        shown = report.fmt_se(want) if se else report.fmt_probability(want)
        if var.startswith("diff_") and not se:
            shown = report.fmt_difference(want)
        assert cell["text"] == shown, (var, cell)
    return len(cells)


# --- the numbers --------------------------------------------------------------------------


YEAR_VARS = ("p_shortage_year_end", "p_shortage_any_month", "p_shortage_all_months")


def test_summary_numbers_equal_the_datasets(result, page_text):
    page = parse(page_text)
    regions = [str(r) for r in result.region.values]
    cells_per_table = len(regions) * len(year_ends(result))
    for var in (*YEAR_VARS, "turning_point_cdf"):
        assert check_cells(result, page, var) == cells_per_table, var
    assert check_cells(result, page, "p_no_turning_point") == len(regions)
    # the turning-point CDF is read at each year's last month
    times = {c["data-time"] for c in page.cells if c.get("data-var") == "turning_point_cdf"}
    assert times == {t for _, t in year_ends(result)}
    base = [c for c in page.cells if c.get("data-var") == "in_shortage_at_base"]
    assert [c["data-value"] == "1" for c in base] == list(result.in_shortage_at_base.values)


def test_summary_numbers_without_the_summary_module(result, monkeypatch, no_figures):
    """The fallback (mcsd.cli.summary absent) reads the same numbers and the SEs straight
    from the Dataset."""
    monkeypatch.setattr(report, "_summary_frames_function", lambda: None)
    page = parse(report.html_report(result))
    n = result.sizes["region"] * len(year_ends(result))
    for var in (*YEAR_VARS, "turning_point_cdf"):
        assert check_cells(result, page, var) == n, var
    for var in YEAR_VARS:
        ses = [
            c for c in page.cells if c.get("data-col") == var.replace("shortage", "short") + "_se"
        ]
        assert len(ses) == n
    # the fallback frame's SE cells are the Dataset's _se variables
    frames = report.dataset_frames(result)
    by_year = frames["by_year"]
    for region in result.region.values:
        for year in result.year.values:
            want = float(result.p_shortage_year_end_se.sel(region=region, year=year))
            assert by_year.loc[(str(region), int(year)), "p_short_year_end_se"] == want
    median = [c for c in page.cells if c.get("data-col") == "median_turn"]
    assert len(median) == result.sizes["region"]


def test_frame_cells_equal_summary_frames(result, page_text):
    summary = pytest.importorskip("mcsd.cli.summary")
    frames = summary.summary_frames(result)
    page = parse(page_text)
    seen = 0
    for cell in page.cells:
        if "data-frame" not in cell:
            continue
        frame = frames[cell["data-frame"]]
        key: object = cell["data-region"]
        if cell["data-frame"] == "by_year":
            key = (cell["data-region"], int(cell["data-year"]))
        want = frame.loc[key, cell["data-col"]]
        if isinstance(want, float | np.floating):
            assert float(cell["data-value"]) == float(want), cell
        elif pd.isna(want):
            assert cell["data-value"] == "", cell
        else:
            assert cell["data-value"] == str(want), cell
        seen += 1
    by_year_cols = [c for c in frames["by_year"].columns if c != "year_end_month"]
    assert seen >= len(frames["by_year"]) * len(by_year_cols)


def test_provenance_table_holds_every_attribute(result, page_text):
    page = parse(page_text)
    assert list(page.attrs_rows) == list(result.attrs)
    for key, value in result.attrs.items():
        assert page.attrs_rows[key] == str(value), key


# --- self-contained -----------------------------------------------------------------------


def test_page_is_self_contained(result, page_text):
    assert "http://" not in page_text and "https://" not in page_text
    assert "url(" not in page_text and "@import" not in page_text
    page = parse(page_text)
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "base"}
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) == 3  # fans, heat map, turning point
    for a in images:
        assert a["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(a["src"].split(",", 1)[1]).startswith(PNG_MAGIC)
        assert a.get("alt")
    for tag, a in page.tags:  # nothing else refers to anything
        for attr in ("href", "src", "srcset", "action", "poster", "data"):
            if attr in a and tag != "img":
                raise AssertionError(f"<{tag} {attr}=...> in the page")
    csp = [a for tag, a in page.tags if tag == "meta" and a.get("http-equiv")]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_hostile_priors_name_is_escaped(result, no_figures):
    ds = result.copy()
    ds.attrs = {**result.attrs, "priors_name": HOSTILE, "title": HOSTILE}
    text = report.html_report(ds)
    assert "<script" not in text.lower() and "<img src=x" not in text
    assert HOSTILE not in text
    assert "\x1b" not in text
    page = parse(text)
    assert not [t for t, _ in page.tags if t in ("script", "img")]
    # the name is there, as text: escaped, the escape sequence made visible
    shown = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;\\x1b[31m'
    assert page.attrs_rows["priors_name"] == shown
    title = [a for t, a in page.tags if t == "title"]
    assert title


# --- comparison and prior/posterior -------------------------------------------------------


def test_compare_report_shows_the_differences(monkeypatch):
    root = Path(mcsd.__file__).resolve().parents[1]
    boom = root / "priors" / "ai_capex_boom.toml"
    if not boom.is_file():
        pytest.skip("the scenario priors priors/ai_capex_boom.toml are not in this checkout")
    ds = compare(None, boom, n_paths=N_PATHS, seed=SEED)
    text = report.html_report(ds)
    page = parse(text)
    assert 'data-table="turning_point"' not in text  # no empty summary table
    n = ds.sizes["region"] * len(year_ends(ds))
    for var in ("p_shortage_a", "p_shortage_b", "turning_point_cdf_a", "turning_point_cdf_b"):
        assert check_cells(ds, page, var) == n, var
    for x in ("p_shortage", "turning_point_cdf"):
        assert check_cells(ds, page, f"diff_{x}") == n
        assert check_cells(ds, page, f"diff_{x}_se", se=True) == n
        assert check_cells(ds, page, f"diff_{x}_se_unpaired", se=True) == n
    for var in ("p_no_turning_point_a", "p_no_turning_point_b"):
        assert check_cells(ds, page, var) == ds.sizes["region"]
    images = [a for tag, a in page.tags if tag == "img"]
    assert len(images) == 1 and images[0]["src"].startswith("data:image/png;base64,")


def test_prior_posterior_view(result, no_figures):
    ds = result.copy()
    ds["p_shortage_year_end_prior"] = ds.p_shortage_year_end * 0.5
    ds["p_no_turning_point_prior"] = ds.p_no_turning_point * 0.25
    assert report.prior_posterior_pairs(ds) == [
        ("p_shortage_year_end_prior", "p_shortage_year_end"),
        ("p_no_turning_point_prior", "p_no_turning_point"),
    ]
    page = parse(report.html_report(ds))
    n = ds.sizes["region"] * ds.sizes["year"]
    assert check_cells(ds, page, "p_shortage_year_end_prior") == n
    change = [c for c in page.cells if c.get("data-var") == "p_shortage_year_end_change"]
    assert len(change) == n
    for c in change:
        sel = {"region": c["data-region"], "year": int(c["data-year"])}
        want = float((ds.p_shortage_year_end - ds.p_shortage_year_end_prior).sel(sel))
        assert float(c["data-value"]) == want
    region_change = [c for c in page.cells if c.get("data-var") == "p_no_turning_point_change"]
    assert len(region_change) == ds.sizes["region"]


def test_report_refuses_what_is_not_a_result():
    with pytest.raises(ValueError, match="xarray.Dataset"):
        report.html_report({"not": "a dataset"})


# --- atomic write -------------------------------------------------------------------------


def _folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_report_writes_the_page(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "html_report", lambda ds: "<!DOCTYPE html><p>ünïcode</p>\n")
    path = tmp_path / "r.html"
    assert report.write_report(object(), path) == path
    assert path.read_text(encoding="utf-8") == "<!DOCTYPE html><p>ünïcode</p>\n"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _folder_names(tmp_path) == ["r.html"]


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt])
def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch, failure):
    monkeypatch.setattr(report, "html_report", lambda ds: "<p>new</p>" * 1000)
    path = tmp_path / "r.html"
    path.write_text("old report")

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(report.os, "fsync", fail)
    with pytest.raises(type(failure) if isinstance(failure, BaseException) else failure):
        report.write_report(object(), path)
    assert path.read_text() == "old report"
    assert _folder_names(tmp_path) == ["r.html"]  # no temporary file left


def test_failed_drawing_writes_nothing(tmp_path, monkeypatch):
    def fail(ds):
        raise ValueError("no")

    monkeypatch.setattr(report, "html_report", fail)
    path = tmp_path / "r.html"
    path.write_text("old report")
    with pytest.raises(ValueError):
        report.write_report(object(), path)
    assert path.read_text() == "old report"
    assert _folder_names(tmp_path) == ["r.html"]


# --- the command --------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mcsd")
    sub = parser.add_subparsers(dest="command")
    report_cli.register(sub)
    args = parser.parse_args(["report", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def result_file(result, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("result") / "run.nc"
    write_netcdf(result, path)
    return path


def test_cli_writes_the_report(result_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report, "result_figures", lambda ds: [])
    out = tmp_path / "report.html"
    assert run_cli([str(result_file), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    page = parse(text)
    assert page.attrs_rows["priors_name"] == "cic2025"
    assert _folder_names(tmp_path) == ["report.html"]


def test_cli_default_output_is_next_to_the_result(result_file, capsys, monkeypatch):
    monkeypatch.setattr(report, "html_report", lambda ds: "<!DOCTYPE html>\n")
    out = result_file.with_suffix(".html")
    try:
        assert run_cli([str(result_file)]) == 0
        assert capsys.readouterr().out.strip() == str(out)
        assert out.read_text() == "<!DOCTYPE html>\n"
    finally:
        out.unlink(missing_ok=True)


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mcsd report: error: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


def test_cli_errors_are_one_line_exit_2(result_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report, "html_report", lambda ds: "<!DOCTYPE html>\n")
    assert run_cli([str(tmp_path / "missing.nc"), "-o", str(tmp_path / "r.html")]) == 2
    assert "no such result file" in _one_error_line(capsys)
    not_result = tmp_path / "not.nc"
    not_result.write_text("hello")
    assert run_cli([str(not_result), "-o", str(tmp_path / "r.html")]) == 2
    assert "not a readable netCDF" in _one_error_line(capsys)
    assert run_cli([str(result_file), "-o", str(tmp_path / "nowhere" / "r.html")]) == 2
    assert "does not exist" in _one_error_line(capsys)
    assert run_cli([str(result_file), "-o", str(tmp_path)]) == 2
    assert "folder" in _one_error_line(capsys)
    before = result_file.read_bytes()
    assert run_cli([str(result_file), "-o", str(result_file)]) == 2
    assert "input" in _one_error_line(capsys)
    assert result_file.read_bytes() == before
    assert run_cli([str(result_file), "-o", str(tmp_path / "bad\x1bname.html")]) == 2
    assert "\x1b" not in _one_error_line(capsys)
    assert not (tmp_path / "r.html").exists()


def test_cli_write_failure_is_one_line(result_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report, "html_report", lambda ds: "<!DOCTYPE html>\n")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "fsync", full)
    out = tmp_path / "r.html"
    out.write_text("old")
    assert run_cli([str(result_file), "-o", str(out)]) == 2
    line = _one_error_line(capsys)
    assert "No space left on device" in line and str(out) in line
    assert out.read_text() == "old"


def test_cli_through_main(result_file, tmp_path, capsys, monkeypatch):
    from mcsd.cli.main import main

    monkeypatch.setattr(report, "html_report", lambda ds: "<!DOCTYPE html>\n")
    out = tmp_path / "r.html"
    assert main(["report", str(result_file), "-o", str(out)]) == 0
    assert out.read_text() == "<!DOCTYPE html>\n"


def test_region_rows_are_labelled_with_the_priors_names() -> None:
    """The tables label each region by the result's region_name coordinate (the priors'
    names), with the id beside it; an old file without the coordinate shows the ids."""
    import mcsd
    from mcsd.testing.toy import buyer, make_priors, region

    priors = make_priors(
        [region("a", 50.0, 100.0), region("b", 10.0, 100.0)], [buyer("x", {"a": {2025: 5.0}})]
    )
    named = dataclasses.replace(priors.regions[0], name="My Yangtze")
    priors = dataclasses.replace(priors, regions=(named, priors.regions[1]))
    ds = mcsd.simulate(priors, n_paths=200, seed=1, progress=False)
    assert "My Yangtze (a)" in report.html_report(ds)
    old = ds.drop_vars("region_name")
    page = report.html_report(old)
    assert "My Yangtze" not in page
