"""``mcsd compare``, ``mcsd sensitivity`` and the what-if options (``mcsd.cli.decide``):
printed tables equal the analysis functions' Datasets; bad what-ifs and outputs exit 2 with
one line."""

from __future__ import annotations

import argparse

import matplotlib
import numpy as np
import pytest
import xarray as xr

from mcsd.analysis.compare import compare
from mcsd.analysis.sensitivity import sensitivity
from mcsd.cli.decide import (
    add_whatif_arguments,
    difference_figure,
    priors_from_args,
    register,
    year_end_times,
)
from mcsd.priors.changes import apply_changes, parse_change
from mcsd.priors.loader import PriorsError, builtin_priors_dir, load_priors

matplotlib.use("Agg")

STUDY = str(builtin_priors_dir() / "cic2025.toml")
PATHS, SEED = 300, 11


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def _rows(text: str, title: str, n_numbers: int) -> dict[tuple, list[float]]:
    """Rows of a printed table after ``title``: key (the leading words) -> numbers (the
    ``n_numbers`` after them)."""
    lines = text.split(title, 1)[1].strip().splitlines()[2:]  # header and index names
    rows = {}
    for line in lines:
        words = line.split()
        if len(words) <= n_numbers or ":" in line or line.startswith("wrote"):
            break
        tail = words[-n_numbers - 1 :] if words[-1] in ("True", "False") else words[-n_numbers:]
        head = words[: len(words) - len(tail)]
        rows[tuple(head)] = [float(w) for w in tail if w not in ("True", "False")]
    return rows


@pytest.fixture(scope="module")
def what_if_compare(tmp_path_factory):
    """``mcsd compare STUDY --set settings.threshold=0.85`` with --out and --plot."""
    folder = tmp_path_factory.mktemp("compare")
    out, plot = folder / "cmp.nc", folder / "cmp.png"
    argv = ["compare", STUDY, "--set", "settings.threshold=0.85", "--paths", str(PATHS)]
    argv += ["--seed", str(SEED), "--out", str(out), "--plot", str(plot)]
    return argv, out, plot


def test_compare_prints_compares_paired_differences(what_if_compare, capsys):
    argv, out, plot = what_if_compare
    assert _run(argv) == 0
    text = capsys.readouterr().out
    base = load_priors(STUDY)
    changed = apply_changes(base, sets=[parse_change("set", "settings.threshold=0.85")])
    ds = compare(base, changed, n_paths=PATHS, seed=SEED)
    assert ds.attrs["priors_b"] == f"{base.name}+what-if" and ds.attrs["threshold_b"] == 0.85
    # the what-if changes the numbers: a higher threshold means less shortage
    assert float(ds.diff_p_shortage.sum()) < 0
    times = year_end_times(ds)
    for variable, title in (
        ("p_shortage", "P(shortage) at year end:"),
        ("turning_point_cdf", "P(turning point by year end):"),
    ):
        rows = _rows(text, title, 5)
        assert len(rows) == ds.sizes["region"] * len(times)
        for region in ds.region.values:
            for t in times:
                cell = ds.sel(region=region, time=t)
                printed = rows[(str(region), str(t.year))]
                expected = [
                    float(cell[f"{variable}_a"]),
                    float(cell[f"{variable}_b"]),
                    float(cell[f"diff_{variable}"]),
                    float(cell[f"diff_{variable}_se"]),
                    float(cell[f"diff_{variable}_se_unpaired"]),
                ]
                np.testing.assert_allclose(printed, expected, atol=0.5e-4 + 1e-12)
    # the result file holds compare()'s Dataset
    with xr.open_dataset(out, engine="h5netcdf") as written:
        np.testing.assert_array_equal(written.diff_p_shortage.values, ds.diff_p_shortage.values)
        np.testing.assert_array_equal(
            written.diff_p_shortage_se.values, ds.diff_p_shortage_se.values
        )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_difference_chart_bands_the_paired_se():
    base = load_priors(STUDY)
    changed = base.with_changes(set={"settings.threshold": 0.85})
    ds = compare(base, changed, n_paths=PATHS, seed=SEED)
    fig = difference_figure(ds, base.name, changed.name)
    try:
        ax = fig.axes[-2] if len(fig.axes) > ds.sizes["region"] else fig.axes[-1]
        nat = ds.sel(region="national")
        line = ax.lines[0].get_ydata()
        np.testing.assert_allclose(line, nat.diff_p_shortage.values, rtol=0, atol=1e-12)
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        se = nat.diff_p_shortage_se.values
        diff = nat.diff_p_shortage.values
        assert se.max() > 0
        np.testing.assert_allclose(band.max(), (diff + 2 * se).max(), atol=1e-12)
        np.testing.assert_allclose(band.min(), (diff - 2 * se).min(), atol=1e-12)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


def test_an_invalid_what_if_exits_2_naming_it(tmp_path, capsys):
    out = tmp_path / "never.nc"
    argv = ["compare", STUDY, "--set", "settings.threshold=1.5", "--out", str(out)]
    assert _run(argv) == 2
    line = _one_error_line(capsys)
    assert line.startswith("mcsd compare: error: --set settings.threshold=1.5: ")
    assert "settings.threshold must be in [0, 1], got 1.5" in line
    assert not out.exists()
    argv = ["sensitivity", STUDY, "--scale", "buyers.nobody.increments_mw=2"]
    assert _run(argv) == 2
    line = _one_error_line(capsys)
    assert line.startswith("mcsd sensitivity: error: --scale buyers.nobody.increments_mw=2:")
    assert "matches nothing at 'nobody'" in line


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["compare", STUDY], "give priors B, or what-ifs"),
        (["compare", STUDY, STUDY, "--plot", "x.gif"], "must end in .png, .svg or .pdf"),
        (["compare", STUDY, STUDY, "--out", "/no/such/folder/x.nc"], "does not exist"),
        (["compare", STUDY, "no_such_priors_file"], "no such priors file"),
        (["sensitivity", STUDY, "--region", "atlantis"], "is not a region of"),
        (["sensitivity", STUDY, "--year", "1999"], "is not a year end of the run"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(argv, problem, capsys):
    assert _run(argv) == 2
    assert problem in _one_error_line(capsys)


def test_sensitivity_prints_sensitivitys_indices(tmp_path, capsys):
    n, boot, region = 200, 10, "yangtze"
    plot = tmp_path / "tornado.svg"
    argv = ["sensitivity", STUDY, "--paths", str(n), "--boot", str(boot), "--seed", str(SEED)]
    argv += ["--region", region, "--plot", str(plot), "--set", "settings.threshold=0.85"]
    assert _run(argv) == 0
    text = capsys.readouterr().out
    priors = load_priors(STUDY).with_changes(set={"settings.threshold": 0.85})
    assert f"priors {priors.name}," in text
    sens = sensitivity(priors, n_paths=n, seed=SEED, n_boot=boot)
    labels = [str(v) for v in sens.group_label.values]
    keys = ("first_order", "first_order_lo", "first_order_hi", "total", "total_lo", "total_hi")
    short = _rows(text, "shortage at year end (1{occupancy >= threshold}):", 6)
    assert len(short) == sens.sizes["year"] * len(labels)
    for year in sens.year.values:
        for k, label in enumerate(labels):
            cell = sens.sel(region=region, year=year)
            expected = [float(cell[f"shortage_{key}"].values[k]) for key in keys]
            printed = short[(region, str(int(year)), *label.split())]
            np.testing.assert_allclose(printed, expected, atol=0.5e-3 + 1e-12)
    turn = _rows(text, "turning-point month (no turning point by the horizon: n_months + 1):", 6)
    assert len(turn) == len(labels)
    for k, label in enumerate(labels):
        cell = sens.sel(region=region)
        expected = [float(cell[f"turning_month_{key}"].values[k]) for key in keys]
        np.testing.assert_allclose(turn[(region, *label.split())], expected, atol=0.5e-3 + 1e-12)
    assert plot.read_bytes().lstrip().startswith(b"<?xml")


def test_priors_from_args_applies_the_what_ifs():
    parser = argparse.ArgumentParser()
    parser.add_argument("priors", nargs="?")
    add_whatif_arguments(parser)
    args = parser.parse_args(
        [STUDY, "--set", "settings.threshold=0.9", "--scale", "buyers.*.increments_mw=0.75"]
    )
    p = priors_from_args(args)
    base = load_priors(STUDY)
    assert p.threshold == 0.9 and p.name == f"{base.name}+what-if"
    assert p.buyers[0].increments_mw == {
        r: {y: v * 0.75 for y, v in ys.items()} for r, ys in base.buyers[0].increments_mw.items()
    }
    plain = priors_from_args(parser.parse_args([STUDY]))
    assert plain == base
    with pytest.raises(PriorsError, match=r"^--set settings\.threshold=2: "):
        priors_from_args(parser.parse_args([STUDY, "--set", "settings.threshold=2"]))
