"""Regression tests of the figure defects of issue 18 ("the analyst's last mile", plots).

Each test fails on the figures as they were before the fix. Results come from
``mcsd.simulate`` / ``mcsd.analysis.compare.compare`` on tiny toy priors (500 paths, fixed
seed), whose first region is named "My Yangtze".
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

import mcsd  # noqa: E402
from mcsd import plot  # noqa: E402
from mcsd.analysis.compare import compare  # noqa: E402
from mcsd.results.io import read_result, write_netcdf  # noqa: E402
from mcsd.testing import toy  # noqa: E402

N_PATHS = 500
SEED = 1
CAP = 0.97


def _priors(growth: float = 1.0):
    return toy.two_regions(growth, CAP)


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return mcsd.simulate(_priors(), n_paths=N_PATHS, seed=SEED, progress=False)


@pytest.fixture(scope="module")
def ds_b() -> xr.Dataset:
    return mcsd.simulate(_priors(1.3), n_paths=N_PATHS, seed=SEED, progress=False)


@pytest.fixture(scope="module")
def paired() -> xr.Dataset:
    return compare(_priors(), _priors(1.3), n_paths=N_PATHS, seed=SEED)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _inside(inner, outer, tol: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - tol
        and inner.y0 >= outer.y0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y1 <= outer.y1 + tol
    )


def _sens() -> xr.Dataset:
    values = np.array([[[0.6, 0.3]], [[0.5, 0.2]]])
    return xr.Dataset(
        {
            "shortage_total": (("region", "year", "group"), values),
            "shortage_first_order": (("region", "year", "group"), values / 2),
        },
        coords={
            "region": ["yangtze", "national"],
            "region_name": ("region", ["My Yangtze", "national"]),
            "year": [2025],
            "group": ["demand", "supply"],
        },
        attrs={"priors_name": "toy", "n_paths": 50_000, "seed": 12345, "mcsd_version": "0.1"},
    )


# --- legend and stamp placement ----------------------------------------------------------


def test_one_region_fan_legend_lies_inside_the_figure(ds):
    fig = plot.fan_chart(ds, regions="yangtze")
    fig.canvas.draw()  # what a plain fig.savefig draws: no bbox_inches="tight"
    (legend,) = fig.legends
    assert _inside(legend.get_window_extent(), fig.bbox), (legend.get_window_extent(), fig.bbox)


def test_tornado_run_stamp_does_not_overlap_the_axis_label():
    sens = _sens()
    fig = plot.tornado_chart(sens, region="yangtze")
    fig.canvas.draw()
    stamp = [t for t in fig.texts if "50,000 paths" in t.get_text()]
    assert len(stamp) == 1
    label = fig.axes[0].xaxis.label
    assert label.get_text()
    a, b = stamp[0].get_window_extent(), label.get_window_extent()
    assert not a.overlaps(b), (a, b)
    assert _inside(a, fig.bbox)


# --- scenario comparison: tick labels, paired band, colours ------------------------------


def _tick_points(ax) -> list[tuple[float, float]]:
    """(tick value in points, the value its label reads) for the visible y ticks."""
    lo, hi = ax.get_ylim()
    out = []
    for loc, text in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True):
        if lo - 1e-12 <= loc <= hi + 1e-12:
            out.append((100 * loc, float(text.get_text().replace("\N{MINUS SIGN}", "-"))))
    return out


def _difference_scenarios(top: float) -> dict[str, xr.Dataset]:
    """Two synthetic results whose P(shortage) differs by 0 ... ``top`` over 12 months."""
    time = pd.date_range("2025-01-31", periods=12, freq="ME")
    base = np.full((2, 12), 0.2)
    se = np.full((2, 12), 0.001)
    coords = {"region": ["yangtze", "national"], "time": time}

    def result(p):
        return xr.Dataset(
            {"p_shortage": (("region", "time"), p), "p_shortage_se": (("region", "time"), se)},
            coords=coords,
        )

    return {"a": result(base), "b": result(base + np.linspace(0.0, top, 12)[None, :])}


@pytest.mark.parametrize(
    ("top", "height", "ylim"),
    [
        (0.031, None, None),  # half-point ticks
        (0.14, 2.8, (0.0, 0.15)),  # ticks at 2.5, 7.5, 12.5 (once labelled +2, +8, +12)
        (0.6, None, None),
    ],
)
def test_difference_tick_labels_equal_tick_values(top, height, ylim):
    fig = plot.scenario_comparison(_difference_scenarios(top), regions="yangtze", kind="difference")
    if height is not None:
        fig.set_size_inches(fig.get_figwidth(), height)
    if ylim is not None:
        fig.axes[0].set_ylim(*ylim)
    fig.canvas.draw()
    ticks = _tick_points(fig.axes[0])
    assert len(ticks) >= 3
    for value, read in ticks:
        assert read == pytest.approx(value, abs=1e-9), ticks


def _band_half_widths(ax) -> tuple[np.ndarray, list]:
    """Half the vertical extent of the difference band at each of its x positions, and
    those positions (dates)."""
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    xs = np.unique(vertices[:, 0])
    return np.array(
        [np.ptp(vertices[np.isclose(vertices[:, 0], x), 1]) / 2 for x in xs]
    ), mdates.num2date(xs)


def test_difference_of_a_compare_result_uses_the_paired_se(paired):
    fig = plot.scenario_comparison(paired, regions="yangtze", kind="difference")
    (ax,) = fig.axes
    half, _ = _band_half_widths(ax)
    se = paired["diff_p_shortage_se"].sel(region="yangtze").values
    unpaired = paired["diff_p_shortage_se_unpaired"].sel(region="yangtze").values
    assert np.any(np.abs(se - unpaired) > 0.005)  # the two SEs differ: the test can tell
    np.testing.assert_allclose(half, 2 * se, atol=1e-12)
    assert "paired" in fig.get_suptitle()
    diff = ax.lines[0].get_ydata()
    np.testing.assert_allclose(diff, paired["diff_p_shortage"].sel(region="yangtze").values)


def test_difference_with_a_paired_se_variable_uses_it(ds, ds_b, paired):
    b = ds_b.assign(paired_se=paired["diff_p_shortage_se"])
    fig = plot.scenario_comparison({"a": ds, "b": b}, regions="gba", kind="difference")
    half, _ = _band_half_widths(fig.axes[0])
    np.testing.assert_allclose(half, 2 * paired["diff_p_shortage_se"].sel(region="gba").values)


def test_scenario_colour_follows_the_name_not_the_position(ds, ds_b):
    def colours(order):
        fig = plot.scenario_comparison({k: {"base": ds, "boom": ds_b}[k] for k in order})
        ax = fig.axes[0]
        return {
            name: matplotlib.colors.to_rgba(ax.lines[k].get_color()) for k, name in enumerate(order)
        }

    forward, backward = colours(["base", "boom"]), colours(["boom", "base"])
    assert forward == backward
    assert forward["base"] != forward["boom"]
    assert plot.scenario_colours(["x", "y", "z"]) == plot.scenario_colours(["z", "x", "y"])
    assert len(set(plot.scenario_colours([f"s{k}" for k in range(10)]).values())) == 10


# --- region names -----------------------------------------------------------------------


def _all_texts(fig) -> list[str]:
    texts = [fig.get_suptitle()]
    for ax in fig.axes:
        texts += [ax.get_title()] + [t.get_text() for t in ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
    for legend in fig.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    return texts


def _figures(ds, ds_b):
    sens = _sens()
    return {
        "fan": plot.fan_chart(ds),
        "shortage": plot.shortage_heatmap(ds),
        "turning": plot.turning_point_plot(ds),
        "scenario": plot.scenario_comparison({"a": ds, "b": ds_b}),
        "difference": plot.scenario_comparison({"a": ds, "b": ds_b}, kind="difference"),
        "tornado": plot.tornado_chart(sens, region="yangtze"),
    }


def test_every_plot_labels_regions_by_their_priors_name(ds, ds_b, tmp_path):
    # the name reaches the result file and comes back from it
    back = read_result(write_netcdf(ds, tmp_path / "result.nc"))
    assert list(back["region_name"].values) == ["My Yangtze", "gba", "national"]
    for kind, fig in _figures(back, ds_b).items():
        texts = _all_texts(fig)
        assert any("My Yangtze" in t for t in texts), (kind, texts)
        assert not any("Yangtze River Delta" in t for t in texts), (kind, texts)


def test_without_region_name_plots_fall_back_to_the_id(ds, ds_b):
    old, old_b = ds.drop_vars("region_name"), ds_b.drop_vars("region_name")
    for kind, fig in _figures(old, old_b).items():
        if kind == "tornado":
            continue
        texts = _all_texts(fig)
        assert not any("My Yangtze" in t or "Yangtze River" in t for t in texts), (kind, texts)
        assert any(t.startswith("yangtze") for t in texts), (kind, texts)


def test_names_the_font_cannot_draw_are_trimmed_not_boxed(ds):
    named = ds.assign_coords(region_name=("region", ["Yangtze (长三角)", "长三角", "national"]))
    fig = plot.fan_chart(named)
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    if plot.drawable_text("长三角") == "长三角":  # the figure font has CJK glyphs
        assert titles[:2] == ["Yangtze (长三角)", "长三角"]
    else:
        assert titles[:2] == ["Yangtze", "gba"]  # nothing drawable left: the id


# --- occupancy cap, study markers --------------------------------------------------------


def test_occupancy_fans_mark_the_serving_cap(ds, ds_b):
    assert ds.attrs["max_occupancy"] == CAP
    for fig in (plot.fan_chart(ds), plot.scenario_comparison({"a": ds, "b": ds_b})):
        panels = [ax for ax in fig.axes if ax.axison]
        for ax in panels:
            caps = [
                line
                for line in ax.lines
                if np.allclose(np.asarray(line.get_ydata(), dtype=float), CAP)
            ]
            assert len(caps) == 1, [line.get_ydata() for line in ax.lines]
            assert caps[0].get_linestyle() not in ("-", "None", "")
        texts = _all_texts(fig) + [t.get_text() for ax in panels for t in ax.texts]
        assert any("97% serving cap" in t for t in texts), texts


def test_year_end_study_marker_sits_on_the_tick_labelled_end_of_its_year(ds):
    study = pd.DataFrame(
        {
            "region": ["yangtze", "yangtze"],
            "year": [2025, 2026],
            "occupancy": [0.9, 0.95],
            "demand_stock_mw": [900.0, 950.0],
            "supply_stock_mw": [1000.0, 1000.0],
        }
    )
    fig = plot.fan_chart(ds, regions="yangtze", study=study)
    fig.canvas.draw()
    ax = fig.axes[0]
    (marker,) = [line for line in ax.lines if line.get_marker() == "D"]
    xs = mdates.date2num(pd.to_datetime(marker.get_xdata()))
    expected = mdates.date2num(pd.to_datetime(["2025-12-31", "2026-12-31"]))
    np.testing.assert_allclose(xs, expected)
    locs = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    for x, year in zip(xs, (2025, 2026), strict=True):
        k = int(np.argmin(np.abs(locs - x)))
        assert labels[k] == f"end {year}", (labels, year)
        assert locs[k] == pytest.approx(x)


# --- heat map ---------------------------------------------------------------------------


def _cell_of(x: float, y: float, x_edges: np.ndarray) -> tuple[int, int]:
    return int(np.floor(y)), int(np.searchsorted(x_edges, x) - 1)


def _read_percent(text: str) -> tuple[float, float]:
    """The interval of probabilities a cell's text stands for."""
    if text.startswith(">"):
        return float(text[1:]) / 100, 1.0
    value = float(text)
    half = 0.05 if "." in text else 0.5
    return max(value - half, 0) / 100, min(value + half, 100) / 100


def test_heatmap_cells_carry_their_probability(ds):
    fig = plot.shortage_heatmap(ds)
    ax = fig.axes[0]
    p = ds["p_shortage"].transpose("region", "time").values
    x_edges = mdates.date2num(plot._month_edges(plot._times(ds)))
    seen = np.zeros(p.shape, dtype=bool)
    for text in ax.texts:
        i, j = _cell_of(*text.get_position(), x_edges)
        lo, hi = _read_percent(text.get_text())
        assert lo - 1e-12 <= p[i, j] <= hi + 1e-12, (i, j, text.get_text(), p[i, j])
        assert not seen[i, j]
        seen[i, j] = True
    assert seen.all()  # 24 months: every cell is labelled
    assert 0 < p[0, 3] < 0.05  # a small probability in the run, shown as such
    assert plot.cell_text(0.004) == "0.4" and plot.cell_text(0.0) == "0"


def test_heatmap_long_runs_label_the_year_ends(ds):
    time = pd.date_range("2025-01-31", periods=60, freq="ME")
    p = np.tile(np.linspace(0, 1, 60), (3, 1))
    long = xr.Dataset(
        {"p_shortage": (("region", "time"), p), "p_shortage_se": (("region", "time"), p * 0)},
        coords={"region": ["a", "b", "national"], "time": time},
    )
    ax = plot.shortage_heatmap(long).axes[0]
    x_edges = mdates.date2num(plot._month_edges(time.values))
    cells = {_cell_of(*t.get_position(), x_edges) for t in ax.texts}
    assert {j for _, j in cells} == set(np.flatnonzero(time.month == 12))
    assert len(cells) == 3 * 5


RGB_DISTANCE = 0.2  # Euclidean, RGB in [0, 1]; the linear scale gave 0.09 for 2% vs 8%


def test_heatmap_separates_two_and_eight_percent(ds):
    fig = plot.shortage_heatmap(ds)
    mesh = fig.axes[0].collections[0]

    def rgb(v):
        return np.array(mesh.cmap(mesh.norm(v))[:3])

    assert np.linalg.norm(rgb(0.02) - rgb(0.08)) > RGB_DISTANCE
    assert np.linalg.norm(rgb(0.0) - rgb(0.02)) > 0.05  # 2% is not blank either


# --- turning point ----------------------------------------------------------------------


def _median_month(ds, region):
    cdf = ds["turning_point_cdf"].sel(region=region).values
    hit = np.flatnonzero(cdf >= 0.5)
    return None if hit.size == 0 else pd.Timestamp(ds["time"].values[hit[0]])


def test_turning_chart_marks_the_median_month_and_interval(ds):
    fig = plot.turning_point_plot(ds)
    ax = fig.axes[0]
    by_gid = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    for region in ("yangtze", "gba", "national"):
        assert not bool(ds["in_shortage_at_base"].sel(region=region))
        median = _median_month(ds, region)
        assert median is not None
        marker = by_gid[f"turning_median:{region}"]
        x = mdates.date2num(pd.to_datetime(marker.get_xdata()))
        np.testing.assert_allclose(x, [mdates.date2num(median)])
        np.testing.assert_allclose(marker.get_ydata(), [0.5])
        interval = by_gid[f"turning_interval:{region}"]
        cdf = ds["turning_point_cdf"].sel(region=region).values
        times = pd.DatetimeIndex(ds["time"].values)
        expected = [times[np.flatnonzero(cdf >= q)[0]] for q in (0.25, 0.75)]
        got = pd.to_datetime(interval.get_xdata())
        assert list(got) == expected
        assert expected[0] <= median <= expected[1]
    labels = ax.get_legend_handles_labels()[1]
    assert any(
        lbl.startswith("My Yangtze") and f"median {_median_month(ds, 'yangtze'):%b %Y}" in lbl
        for lbl in labels
    ), labels


def test_turning_chart_says_censored_when_the_median_is_never_reached(ds):
    low = ds.copy()
    low["turning_point_cdf"] = low["turning_point_cdf"] * 0.4  # never reaches 50%
    fig = plot.turning_point_plot(low)
    ax = fig.axes[0]
    assert not [line for line in ax.lines if str(line.get_gid()).startswith("turning_median")]
    assert plot.turning_month_quantile(low, "gba", 0.5) is None
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("gba") and "median after Dec 2026" in t for t in texts), texts
