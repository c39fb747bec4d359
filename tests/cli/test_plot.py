"""Figures (mcsd.plot) and the ``mcsd plot`` subcommand, on a synthetic result Dataset.

The helper ``make_result`` builds a Dataset with exactly the engine's schema from random
monotone quantiles, so these tests do not depend on the engine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import stat
import time
from pathlib import Path

import matplotlib
import matplotlib.figure

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PolyCollection, QuadMesh  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from mcsd import plot  # noqa: E402
from mcsd.cli import plot as plot_cli  # noqa: E402
from mcsd.results.io import RESULT_FORMAT, RESULT_FORMAT_VERSION  # noqa: E402

QUANTILES = np.round(np.arange(1, 20) * 0.05, 2)
LEVELS = np.round(np.arange(10, 21) * 0.05, 2)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_result(
    regions=("jingjin", "yangtze", "gba"),
    n_months: int = 24,
    start: str = "2025-01",
    seed: int = 0,
    n_paths: int = 400,
    priors_name: str = "cic2025",
    shift: float = 0.0,
) -> xr.Dataset:
    """A small result Dataset with the engine's schema (regions + national, monthly).

    Occupancy quantiles are monotone in the quantile (sorted draws around a rising trend);
    MW variables follow from a supply path; probabilities are consistent in range and
    ``p_shortage_se`` is the binomial SE for ``n_paths``. jingjin starts in shortage.
    """
    rng = np.random.default_rng(seed)
    region = [*regions, "national"]
    nr, nt, nq = len(region), n_months, len(QUANTILES)
    time = pd.date_range(start=pd.Period(start, "M").start_time, periods=nt, freq="ME")
    t = np.arange(1, nt + 1) / 12.0

    start_occ = np.linspace(0.81, 0.5, nr) + shift
    slope = rng.uniform(0.02, 0.08, size=nr)
    centre = start_occ[:, None] + slope[:, None] * t[None, :]
    width = 0.02 + 0.03 * t  # the fan widens with the horizon
    # one random monotone quantile profile per region, skewed, widening with the horizon
    spread = np.sort(rng.standard_normal((nr, 1, nq)), axis=-1)
    spread -= spread[..., nq // 2 : nq // 2 + 1]
    spread *= np.where(spread < 0, 1.3, 0.8)
    occupancy = np.clip(centre[..., None] + width[None, :, None] * spread, 0.0, 0.97)
    occupancy = np.maximum.accumulate(occupancy, axis=-1)

    supply_nominal = rng.uniform(2000, 6000, size=nr)[:, None] * (1 + 0.15 * t[None, :])
    supply = supply_nominal[..., None] * (1 + 0.05 * np.sort(rng.standard_normal(nq)))[None]
    supply = np.sort(supply, axis=-1)
    demand = np.sort(occupancy * supply_nominal[..., None], axis=-1)
    unmet = np.sort(np.maximum(demand - 0.97 * supply, 0.0) + rng.uniform(0, 5, nq), axis=-1)

    sd = np.maximum(width[None, :] * 0.8, 1e-3)
    z = (0.8 - centre) / sd
    p_short = 1.0 - 0.5 * (1.0 + np.tanh(1.2 * z))  # a smooth stand-in for 1 - Phi(z)
    p_short = np.clip(p_short, 0.0, 1.0)
    se = np.sqrt(p_short * (1 - p_short) / n_paths)
    half = 1.96 * se
    exceed = np.stack(
        [np.clip(1.0 - 0.5 * (1.0 + np.tanh(1.2 * (lv - centre) / sd)), 0, 1) for lv in LEVELS],
        axis=-1,
    )
    cdf = np.maximum.accumulate(p_short, axis=1)
    in_base = start_occ >= 0.8
    cdf[in_base, :] = 1.0
    p_none = 1.0 - cdf[:, -1]

    frac = {"units": "1"}
    mw = {"units": "MW"}
    dims3 = ("region", "time", "quantile")
    dims2 = ("region", "time")
    ds = xr.Dataset(
        {
            "occupancy": (dims3, occupancy, {"long_name": "occupancy quantiles", **frac}),
            "demand": (dims3, demand, {"long_name": "served demand stock quantiles", **mw}),
            "supply": (dims3, supply, {"long_name": "supply stock quantiles", **mw}),
            "unmet_demand": (dims3, unmet, {"long_name": "unmet demand quantiles", **mw}),
            "occupancy_exceedance": (
                ("region", "time", "level"),
                exceed,
                {"long_name": "P(occupancy >= level)", **frac},
            ),
            "occupancy_mean": (dims2, centre, {"long_name": "mean occupancy", **frac}),
            "p_shortage": (dims2, p_short, {"long_name": "P(occupancy >= threshold)", **frac}),
            "p_shortage_se": (dims2, se, {"long_name": "standard error of p_shortage", **frac}),
            "p_shortage_lo": (
                dims2,
                np.clip(p_short - half, 0, 1),
                {"long_name": "Wilson 95% lower bound", **frac},
            ),
            "p_shortage_hi": (
                dims2,
                np.clip(p_short + half, 0, 1),
                {"long_name": "Wilson 95% upper bound", **frac},
            ),
            "turning_point_cdf": (
                dims2,
                cdf,
                {"long_name": "P(turning point at or before t)", **frac},
            ),
            "p_no_turning_point": (
                ("region",),
                p_none,
                {"long_name": "P(no turning point by the horizon)", **frac},
            ),
            "in_shortage_at_base": (
                ("region",),
                in_base,
                {"long_name": "in shortage at the base", "units": "1"},
            ),
        },
        coords={
            "region": region,
            # display names, as the engine's region_name coordinate carries the priors' names
            "region_name": ("region", [plot.REGION_LABELS.get(r, r) for r in region]),
            "time": time,
            "quantile": QUANTILES,
            "level": LEVELS,
        },
        attrs={
            "threshold": 0.8,
            "n_paths": n_paths,
            "seed": seed,
            "priors_name": priors_name,
            "mcsd_version": "0.1.0",
            "point_mode": 0,
            "mcsd_format": RESULT_FORMAT,
            "mcsd_format_version": RESULT_FORMAT_VERSION,
        },
    )
    return ds


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def ds() -> xr.Dataset:
    return make_result()


@pytest.fixture(scope="module")
def shared_nc(tmp_path_factory) -> Path:
    """``make_result()`` written once as a result file (tests copy it, never change it)."""
    path = tmp_path_factory.mktemp("shared") / "result.nc"
    make_result().to_netcdf(path, engine="h5netcdf")
    return path


@pytest.fixture
def result_nc(shared_nc: Path, tmp_path: Path) -> Path:
    """A copy of the shared result file as ``tmp_path / "result.nc"``."""
    path = tmp_path / "result.nc"
    shutil.copyfile(shared_nc, path)
    return path


def _panels(fig) -> list:
    """The data axes (a free grid slot holding the legend has its axis turned off)."""
    return [ax for ax in fig.axes if ax.axison]


def _legends(fig) -> list:
    """Figure legends and axes legends."""
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


def _fill_collections(ax) -> list:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


# --- the synthetic dataset itself ---------------------------------------------------------


def test_make_result_has_the_engine_schema(ds):
    assert list(ds["region"].values) == ["jingjin", "yangtze", "gba", "national"]
    assert ds.sizes == {"region": 4, "time": 24, "quantile": 19, "level": 11}
    assert (ds["occupancy"].diff("quantile") >= 0).all()
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2025-01-31")
    assert ds["in_shortage_at_base"].dtype == bool


# --- fan chart ----------------------------------------------------------------------------


def test_fan_chart_nine_bands_threshold_and_median_per_panel(ds):
    fig = plot.fan_chart(ds)
    axes = _panels(fig)
    assert len(axes) == ds.sizes["region"]
    for ax, region in zip(axes, ds["region"].values, strict=True):
        assert len(_fill_collections(ax)) == 9
        horizontal = [
            ln
            for ln in ax.get_lines()
            if len(set(np.asarray(ln.get_ydata(), dtype=float))) == 1
            and np.isclose(float(np.asarray(ln.get_ydata())[0]), 0.8)
        ]
        assert len(horizontal) == 1
        assert horizontal[0].get_label() == "80% shortage threshold"
        medians = [ln for ln in ax.get_lines() if ln.get_label() == "median"]
        assert len(medians) == 1
        expected = ds["occupancy"].sel(region=region, quantile=0.5).values
        np.testing.assert_allclose(np.asarray(medians[0].get_ydata(), dtype=float), expected)
        assert ax.get_title()
        assert "%" in ax.get_ylabel()
    legend_texts = [t.get_text() for legend in _legends(fig) for t in legend.get_texts()]
    assert "80% shortage threshold" in legend_texts and "median" in legend_texts


def test_fan_bands_are_nested_and_darker_toward_the_middle(ds):
    fig = plot.fan_chart(ds, regions="yangtze", study=False)
    (ax,) = fig.axes
    bands = _fill_collections(ax)
    lightness = [float(np.mean(b.get_facecolor()[0][:3])) for b in bands]
    assert lightness == sorted(lightness, reverse=True)
    widths = [np.ptp(b.get_paths()[0].vertices[:, 1]) for b in bands]
    assert widths == sorted(widths, reverse=True)


def test_fan_chart_study_markers_only_for_cic2025(ds):
    fig = plot.fan_chart(ds, regions=["jingjin", "national"])
    for ax in _panels(fig):
        study = [ln for ln in ax.get_lines() if ln.get_label() == "study forecast (year end)"]
        assert len(study) == 1
        # base end 2024 to Dec 2026: the study's year ends 2024, 2025 and 2026
        assert len(study[0].get_xdata()) == 3
    other = make_result(priors_name="deepseek_efficiency")
    fig = plot.fan_chart(other, regions=["jingjin"])
    assert not [ln for ln in fig.axes[0].get_lines() if "study" in ln.get_label()]
    fig = plot.fan_chart(ds, regions=["jingjin"], study=False)
    assert not [ln for ln in fig.axes[0].get_lines() if "study" in ln.get_label()]


def test_fan_chart_study_dataframe_is_drawn_for_any_priors():
    other = make_result(priors_name="mine")
    table = pd.DataFrame(
        {
            "region": ["gba"],
            "year": [2025],
            "demand_stock_mw": [1.0],
            "supply_stock_mw": [2.0],
            "occupancy": [0.5],
        }
    )
    fig = plot.fan_chart(other, regions="gba", study=table)
    (line,) = [ln for ln in fig.axes[0].get_lines() if "study" in ln.get_label()]
    assert np.asarray(line.get_ydata(), dtype=float).tolist() == [0.5]


def test_fan_chart_mw_variable_has_no_threshold_and_mw_label(ds):
    fig = plot.fan_chart(ds, regions="gba", variable="demand")
    (ax,) = fig.axes
    assert len(_fill_collections(ax)) == 9
    assert "MW" in ax.get_ylabel()
    assert not [ln for ln in ax.get_lines() if "threshold" in ln.get_label()]


def test_fan_chart_missing_quantiles_are_named(ds):
    thin = ds.sel({"quantile": [0.1, 0.5, 0.9]})
    with pytest.raises(ValueError, match=r"0\.05.*0\.95"):
        plot.fan_chart(thin)


def test_unknown_region_is_a_clear_error(ds):
    with pytest.raises(ValueError, match="'atlantis'.*jingjin"):
        plot.fan_chart(ds, regions=["atlantis"])


# --- shortage heat map --------------------------------------------------------------------


def _hatched(ax) -> list:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_hatch()]


def test_shortage_heatmap_hatches_cells_above_tolerance(ds):
    tol = 0.01
    n_above = int((ds["p_shortage_se"] > tol).sum())
    assert 0 < n_above < ds["p_shortage_se"].size  # the fixture exercises both cases
    fig = plot.shortage_heatmap(ds, se_tolerance=tol)
    ax = fig.axes[0]
    assert [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(_hatched(ax)) == n_above
    (legend,) = _legends(fig)
    assert "hatched: Monte Carlo standard error > 1 percentage point" in (
        legend.get_texts()[0].get_text()
    )
    colorbar_axes = fig.axes[1]
    assert "P(occupancy" in colorbar_axes.get_ylabel()


def test_shortage_heatmap_no_hatching_with_large_tolerance(ds):
    fig = plot.shortage_heatmap(ds, se_tolerance=1.0)
    assert _hatched(fig.axes[0]) == []


def test_shortage_heatmap_hatches_the_right_cells(ds):
    fig = plot.shortage_heatmap(ds, se_tolerance=0.01)
    ax = fig.axes[0]
    rows = sorted({int(p.get_y()) for p in _hatched(ax)})
    expected = sorted(set(np.nonzero((ds["p_shortage_se"] > 0.01).values)[0].tolist()))
    assert rows == expected


# --- turning point ------------------------------------------------------------------------


def test_turning_point_plot_shows_censored_share(ds):
    fig = plot.turning_point_plot(ds)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [
        ax.get_title() for ax in fig.axes
    ]
    assert any("No turning point by Dec 2026" in t for t in texts)
    for region in ds["region"].values:
        p = float(ds["p_no_turning_point"].sel(region=region))
        assert f"{100 * p:.1f}%" in texts or p < 0.001 or p > 0.999
    gba = float(ds["p_no_turning_point"].sel(region="gba"))
    assert gba > 0.5  # gba stays low in the fixture, so this is a real percentage
    assert f"{100 * gba:.1f}%" in texts


def test_turning_point_plot_steps_and_base_flag(ds):
    fig = plot.turning_point_plot(ds)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert any(lbl.startswith("Jingjin") and "in shortage at base" in lbl for lbl in labels)
    assert not any(lbl.startswith("Greater Bay") and "base" in lbl for lbl in labels)
    steps = [ln for ln in ax.get_lines() if ln.get_drawstyle() == "steps-post"]
    assert len(steps) == ds.sizes["region"]


# --- scenario comparison ------------------------------------------------------------------


@pytest.fixture
def scenarios() -> dict[str, xr.Dataset]:
    return {
        "cic2025": make_result(seed=0),
        "ai_capex_boom": make_result(seed=1, shift=0.04, priors_name="ai_capex_boom"),
        "deepseek_efficiency": make_result(seed=2, shift=-0.04, priors_name="deepseek_efficiency"),
    }


def test_scenario_fan_one_legend_entry_per_scenario(scenarios):
    fig = plot.scenario_comparison(scenarios, regions=["yangtze", "national"])
    (legend,) = fig.legends  # two panels fill the grid: the legend goes under them
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == list(scenarios)
    for ax in _panels(fig):
        assert len(_fill_collections(ax)) == len(scenarios)
    fig = plot.scenario_comparison(scenarios, regions=["jingjin", "yangtze", "national"])
    (spare,) = [ax for ax in fig.axes if not ax.axison]
    assert [t.get_text() for t in spare.get_legend().get_texts()] == list(scenarios)


def test_scenario_difference_uses_unpaired_se(scenarios):
    fig = plot.scenario_comparison(scenarios, regions="yangtze", kind="difference")
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == len(scenarios) - 1
    assert all(lbl.endswith("− cic2025") for lbl in labels)
    (ax,) = fig.axes
    a, b = scenarios["cic2025"], scenarios["ai_capex_boom"]
    diff = (b["p_shortage"] - a["p_shortage"]).sel(region="yangtze").values
    se = np.sqrt(a["p_shortage_se"] ** 2 + b["p_shortage_se"] ** 2).sel(region="yangtze").values
    band = _fill_collections(ax)[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.max(), np.max(diff + 2 * se))
    assert np.isclose(band.min(), np.min(diff - 2 * se))


def test_scenario_difference_needs_two(scenarios):
    with pytest.raises(ValueError, match="at least two"):
        plot.scenario_comparison({"cic2025": scenarios["cic2025"]}, kind="difference")


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "variable"),
    [
        (plot.fan_chart, "occupancy"),
        (plot.shortage_heatmap, "p_shortage"),
        (plot.shortage_heatmap, "p_shortage_se"),
        (plot.turning_point_plot, "turning_point_cdf"),
        (plot.turning_point_plot, "p_no_turning_point"),
        (plot.turning_point_plot, "in_shortage_at_base"),
    ],
)
def test_missing_variable_is_named(ds, func, variable):
    with pytest.raises(ValueError, match=f"no variable '{variable}' \\(needed by {func.__name__}"):
        func(ds.drop_vars(variable))


def test_missing_variable_in_a_scenario_is_named(scenarios):
    scenarios["ai_capex_boom"] = scenarios["ai_capex_boom"].drop_vars("p_shortage_se")
    with pytest.raises(ValueError, match="'ai_capex_boom'.*'p_shortage_se'"):
        plot.scenario_comparison(scenarios, kind="difference")


# --- files and the command ----------------------------------------------------------------


def test_save_figures_all_writes_three_files(tmp_path):
    small = make_result(regions=("gba",), n_months=12)  # two panels: quick to draw
    paths = plot.save_figures(small, "all", tmp_path / "run.png", formats=("png",))
    assert [p.name for p in paths] == ["run_fan.png", "run_shortage.png", "run_turning.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    assert plt.get_fignums() == []  # save_figures closes what it draws


def test_save_figures_bad_dataset_writes_nothing(ds, tmp_path):
    with pytest.raises(ValueError, match="turning_point_cdf"):
        plot.save_figures(ds.drop_vars("turning_point_cdf"), "all", tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def _parse(argv):
    parser = argparse.ArgumentParser(prog="mcsd")
    plot_cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_constants_match_the_library():
    assert plot_cli.FIGURE_KINDS == plot.FIGURE_KINDS
    assert plot_cli.FIGURE_FORMATS == plot.FIGURE_FORMATS


def test_run_plot_writes_png_and_svg(result_nc, tmp_path, capsys):
    result = result_nc
    out = tmp_path / "figs" / "cic"
    out.parent.mkdir()  # mcsd plot, like mcsd run, writes into an existing folder only
    args = _parse(
        ["plot", str(result), "--kind", "all", "--out", str(out), "--format", "png", "svg"]
    )
    assert args.func is plot_cli.run_plot
    assert plot_cli.run_plot(args) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 6
    for kind in ("fan", "shortage", "turning"):
        png = out.parent / f"cic_{kind}.png"
        svg = out.parent / f"cic_{kind}.svg"
        assert str(png) in printed and str(svg) in printed
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 20_000
        text = svg.read_text(encoding="utf-8")
        assert "<svg" in text[:1000]
        assert len(text) > 20_000


def test_run_plot_default_out_is_next_to_result(result_nc, tmp_path, capsys):
    result = result_nc
    assert plot_cli.run_plot(_parse(["plot", str(result)])) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "result.png")
    assert (tmp_path / "result.png").read_bytes().startswith(PNG_MAGIC)


def test_run_plot_missing_file_one_line(tmp_path, capsys):
    assert plot_cli.run_plot(_parse(["plot", str(tmp_path / "nope.nc")])) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mcsd plot: error: ")
    assert "nope.nc" in lines[0]


def test_run_plot_unreadable_file_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_text("not a netcdf file\n", encoding="utf-8")
    assert plot_cli.run_plot(_parse(["plot", str(bad)])) == 2
    lines = capsys.readouterr().err.splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("mcsd plot: error:")
        and "not a readable netCDF" in lines[0]
    )


def test_run_plot_missing_variable_one_line(ds, tmp_path, capsys):
    result = tmp_path / "result.nc"
    ds.drop_vars("p_shortage").to_netcdf(result, engine="h5netcdf")
    args = _parse(["plot", str(result), "--kind", "shortage", "--out", str(tmp_path / "x")])
    assert plot_cli.run_plot(args) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "mcsd plot: error: dataset has no variable 'p_shortage' (needed by shortage_heatmap)"
    ]


# --- atomic figure files ------------------------------------------------------------------


def _half_then_fail(exc: BaseException):
    """A ``Figure.savefig`` stand-in that writes half a PNG header into the temporary file,
    checks that the target is untouched meanwhile, then fails with ``exc``."""
    seen: dict[str, object] = {}

    def savefig(self, fname, **kwargs):
        fname.write(PNG_MAGIC[:4])
        fname.flush()
        folder = seen["folder"]
        seen["temps"] = sorted(p.name for p in folder.glob(".*.tmp"))
        raise exc

    return savefig, seen


@pytest.mark.parametrize(
    "exc",
    [OSError(28, "No space left on device"), KeyboardInterrupt(), RuntimeError("renderer")],
    ids=["enospc", "ctrl-c", "renderer"],
)
def test_save_figure_failing_midway_keeps_the_old_file(ds, tmp_path, monkeypatch, exc):
    old = tmp_path / "run.png"
    old.write_bytes(b"old figure")
    savefig, seen = _half_then_fail(exc)
    seen["folder"] = tmp_path
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    with pytest.raises(type(exc)):
        plot.save_figures(ds, "turning", tmp_path / "run.png")
    # the figure went to a temporary file in the same folder, never into run.png
    assert len(seen["temps"]) == 1 and seen["temps"][0].startswith(".run.png.")
    assert old.read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.png"]
    assert plt.get_fignums() == []


def test_save_figure_replaces_with_plain_permissions(ds, tmp_path):
    old = tmp_path / "run.png"
    old.write_bytes(b"old figure")
    umask = os.umask(0o022)
    try:
        (path,) = plot.save_figures(ds, "turning", tmp_path / "run.png")
    finally:
        os.umask(umask)
    assert path == old and old.read_bytes().startswith(PNG_MAGIC)
    assert stat.S_IMODE(old.stat().st_mode) == 0o644  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.png"]


def test_save_figures_refuses_a_non_regular_target_before_drawing(ds, tmp_path):
    os.mkfifo(tmp_path / "run_turning.png")
    (tmp_path / "run_fan.png").mkdir()
    with pytest.raises(ValueError, match="run_fan.png is a folder"):
        plot.save_figures(ds, "all", tmp_path / "run")
    with pytest.raises(ValueError, match="run_turning.png is not a regular file"):
        plot.save_figures(ds, "turning", tmp_path / "run_turning")
    (tmp_path / "link.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ValueError, match="symbolic link to a missing file"):
        plot.save_figures(ds, "fan", tmp_path / "link.png")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "run_turning.png").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "link.png",
        "run_fan.png",
        "run_turning.png",
    ]
    assert plt.get_fignums() == []


def _cli(argv, capsys):
    from mcsd.cli.main import main

    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_mcsd_plot_write_error_keeps_the_old_file(result_nc, tmp_path, monkeypatch, capsys):
    result = result_nc
    old = tmp_path / "fig.png"
    old.write_bytes(b"old figure")
    savefig, seen = _half_then_fail(OSError(28, "No space left on device"))
    seen["folder"] = tmp_path
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    code, out, err = _cli(["plot", str(result), "--kind", "turning", "--out", str(old)], capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [f"mcsd plot: error: cannot write {old}: No space left on device"]
    assert old.read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "result.nc"]


def test_mcsd_plot_sigterm_while_drawing_removes_the_temp_file(
    result_nc, tmp_path, monkeypatch, capsys
):
    """A real SIGTERM (to this process, through the CLI's handler) in the middle of a save."""
    result = result_nc
    old = tmp_path / "fig.png"
    old.write_bytes(b"old figure")
    temps = []

    def savefig(self, fname, **kwargs):
        fname.write(PNG_MAGIC[:4])
        temps.extend(tmp_path.glob(".fig.png.*.tmp"))
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
            pytest.fail("mcsd's SIGTERM handler is not installed")  # never kill pytest
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        pytest.fail("SIGTERM was not delivered")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    before = signal.getsignal(signal.SIGTERM)
    code, out, err = _cli(["plot", str(result), "--kind", "turning", "--out", str(old)], capsys)
    assert signal.getsignal(signal.SIGTERM) == before
    assert (code, out, err) == (143, "", "mcsd: terminated\n")
    assert len(temps) == 1
    assert old.read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "result.nc"]


def test_mcsd_plot_refuses_non_regular_and_writes_next_to_a_read_only_file(
    result_nc, tmp_path, capsys
):
    result = result_nc
    os.mkfifo(tmp_path / "pipe.png")
    code, _, err = _cli(["plot", str(result), "--out", str(tmp_path / "pipe.png")], capsys)
    assert code == 2 and "fifo" in err and len(err.splitlines()) == 1
    # the file is replaced, not opened for writing: a read-only old figure is no obstacle
    ro = tmp_path / "ro.png"
    ro.write_bytes(b"old figure")
    ro.chmod(0o444)
    code, out, err = _cli(["plot", str(result), "--kind", "turning", "--out", str(ro)], capsys)
    assert (code, err) == (0, ""), err
    assert out.strip() == str(ro) and ro.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.png", "result.nc", "ro.png"]


# --- the turning-point rule in the figures ------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "words", "not_words"),
    [
        (None, "first month in shortage", "year-end"),
        ("first_month", "first month in shortage", "year-end"),
        ("year_end", "first year-end in shortage (study rule)", "first month"),
    ],
)
def test_turning_point_plot_names_the_rule(ds, rule, words, not_words):
    if rule is not None:
        ds.attrs["turning_point_rule"] = rule
    fig = plot.turning_point_plot(ds)
    title = fig.axes[0].get_title()
    assert title.lower().startswith(f"turning point: {words}"), title
    assert "80%" in title
    texts = [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]
    texts += [t.get_text() for legend in _legends(fig) for t in legend.get_texts()]
    assert not any(not_words in t for t in texts)
    assert plot.turning_rule_words(ds) == f"turning point: {words}"


def test_unknown_turning_rule_is_shown_by_name(ds):
    ds.attrs["turning_point_rule"] = "lunar"
    assert plot.turning_rule_words(ds) == "turning point: rule 'lunar'"
    assert "rule 'lunar'" in plot.turning_point_plot(ds).axes[0].get_title()


@pytest.mark.parametrize(
    ("rule", "words"),
    [("first_month", "first month in shortage"), ("year_end", "first year-end in shortage")],
)
def test_tornado_turning_month_title_names_the_rule(rule, words):
    groups = ["demand", "supply"]
    values = np.array([[0.6, 0.3]])
    sens = xr.Dataset(
        {
            "turning_month_total": (("region", "group"), values),
            "turning_month_first_order": (("region", "group"), values / 2),
        },
        coords={"region": ["national"], "group": groups},
        attrs={"turning_point_rule": rule},
    )
    fig = plot.tornado_chart(sens, region="national", output="turning_month")
    assert words in fig.axes[0].get_title()
