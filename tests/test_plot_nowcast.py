"""The nowcast chart (``mcsd.plot.nowcast_chart``) and ``mcsd plot --kind nowcast``.

The nowcast result is synthetic, in the schema of the design of issue 17: a toy run
(2,000 paths, fixed seed) is the posterior, a run of the same toy with 30% more growth
supplies the ``X_prior`` copies (so prior and posterior bands differ and a test can tell
them apart), and the ``observation_*``/``fact_*`` variables and the attrs are added here.
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
from matplotlib.container import ErrorbarContainer  # noqa: E402

import mcsd  # noqa: E402
from mcsd import plot  # noqa: E402
from mcsd.cli import plot as plot_cli  # noqa: E402
from mcsd.cli.main import main  # noqa: E402
from mcsd.results.io import write_netcdf  # noqa: E402
from mcsd.results.nowcast import PRIOR_VARS  # noqa: E402
from mcsd.testing import toy  # noqa: E402

N_PATHS = 2_000
SEED = 1
CAP = 0.97
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# the design's prior copies: quantity variables and summaries
PRIOR_VARIABLES = PRIOR_VARS
# (region, month, quantity, value, sd)
MEASUREMENTS = (
    ("yangtze", "2025-06", "occupancy", 0.78, 0.02),
    ("yangtze", "2025-12", "occupancy", 0.85, 0.03),
    ("national", "2025-12", "occupancy", 0.75, 0.02),
    ("gba", "2026-03", "demand_mw", 800.0, 40.0),
)
WARNING = (
    "effective sample size 812 is under the floor of 1000: run more paths, use larger "
    "measurement sd or fewer exact facts"
)


def _priors(growth: float = 1.0):
    return toy.two_regions(growth, CAP)


def _month_end(month: str) -> np.datetime64:
    return np.datetime64(pd.Period(month, "M").end_time.normalize(), "ns")


def as_nowcast(
    posterior: xr.Dataset,
    prior: xr.Dataset,
    measurements=MEASUREMENTS,
    ess: float = 1_234.5,
    warning: str | None = None,
) -> xr.Dataset:
    """``posterior`` with the design's nowcast additions: ``X_prior`` from ``prior``, the
    ``observation_*`` and ``fact_*`` variables and the attrs."""
    ds = posterior.copy()
    for name in PRIOR_VARIABLES:
        long_name = prior[name].attrs.get("long_name", name)
        ds[f"{name}_prior"] = prior[name].assign_attrs(
            long_name=f"{long_name} (prior: before the observations)"
        )
    rows = list(measurements)
    ds = ds.assign(
        observation_region=("observation", [r[0] for r in rows]),
        observation_time=(
            "observation",
            np.array([_month_end(r[1]) for r in rows], dtype="datetime64[ns]"),
        ),
        observation_quantity=("observation", [r[2] for r in rows]),
        observation_value=("observation", np.array([r[3] for r in rows], dtype=float)),
        observation_sd=("observation", np.array([r[4] for r in rows], dtype=float)),
        fact_project=("fact", ["hall_a", "hall_b"]),
        fact_status=("fact", ["opened", "cancelled"]),
        fact_time=("fact", np.array(["2025-06-30", "NaT"], dtype="datetime64[ns]")),
    )
    ds.attrs.update(
        observations="illustrative_2025",
        observations_sha256="0" * 64,
        observations_source="observations_example.toml",
        effective_sample_size=float(ess),
        ess_floor=1000,
        weight_scale_bits=62 - N_PATHS.bit_length(),
    )
    if warning is not None:
        ds.attrs["nowcast_warning"] = warning
    return ds


@pytest.fixture(scope="module")
def runs() -> tuple[xr.Dataset, xr.Dataset]:
    posterior = mcsd.simulate(_priors(), n_paths=N_PATHS, seed=SEED, progress=False)
    prior = mcsd.simulate(_priors(1.3), n_paths=N_PATHS, seed=SEED + 1, progress=False)
    return posterior, prior


@pytest.fixture(scope="module")
def ds(runs) -> xr.Dataset:
    return as_nowcast(*runs)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _panels(fig) -> list:
    return [ax for ax in fig.axes if ax.axison]


def _band(ax, gid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x as date numbers, lower edge, upper edge) of the fill with ``gid``."""
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection) and c.get_gid() == gid]
    vertices = band.get_paths()[0].vertices
    xs = np.unique(vertices[:, 0])
    at = [vertices[np.isclose(vertices[:, 0], x), 1] for x in xs]
    return xs, np.array([v.min() for v in at]), np.array([v.max() for v in at])


def _line(ax, gid: str):
    (line,) = [line for line in ax.lines if line.get_gid() == gid]
    return line


def _errorbars(ax) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def _texts(fig) -> list[str]:
    out = [fig.get_suptitle()]
    for legend in fig.legends:
        out.append(legend.get_title().get_text())
        out += [t.get_text() for t in legend.get_texts()]
    for ax in fig.axes:
        out.append(ax.get_title())
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
            out.append(ax.get_legend().get_title().get_text())
    return out


# --- bands and medians ------------------------------------------------------------------


@pytest.mark.parametrize(("region", "variable"), [("yangtze", "occupancy"), ("gba", "demand")])
def test_prior_and_posterior_bands_are_the_datasets_quantiles(ds, region, variable):
    fig = plot.nowcast_chart(ds, region=region, variable=variable)
    (ax,) = _panels(fig)
    times = mdates.date2num(pd.DatetimeIndex(ds["time"].values))
    for which, name in (("prior", f"{variable}_prior"), ("posterior", variable)):
        data = ds[name].sel(region=region)
        for lo, hi in plot.NOWCAST_PAIRS:
            xs, low, high = _band(ax, f"{which}_band:{lo:.2f}-{hi:.2f}")
            np.testing.assert_allclose(xs, times)
            np.testing.assert_allclose(low, data.sel(quantile=lo).values, rtol=1e-12)
            np.testing.assert_allclose(high, data.sel(quantile=hi).values, rtol=1e-12)
        median = _line(ax, f"{which}_median")
        np.testing.assert_allclose(median.get_ydata(), data.sel(quantile=0.5).values)
    # the two runs differ, so a prior band drawn from the posterior would fail above
    prior, post = ds[f"{variable}_prior"].sel(region=region), ds[variable].sel(region=region)
    assert float(abs(prior - post).max()) > 0.02 * float(abs(post).max())
    # the prior lies under the posterior: grey first, then colour
    order = [c.get_gid() for c in ax.collections if isinstance(c, PolyCollection)]
    zorder = {c.get_gid(): c.get_zorder() for c in ax.collections}
    assert max(zorder[g] for g in order if g.startswith("prior")) < min(
        zorder[g] for g in order if g.startswith("posterior")
    )


def test_occupancy_panel_has_threshold_and_serving_cap(ds):
    (ax,) = _panels(plot.nowcast_chart(ds, region="yangtze"))
    flat = {
        round(float(line.get_ydata()[0]), 6): line
        for line in ax.lines
        if np.ptp(np.asarray(line.get_ydata(), dtype=float)) == 0 and len(line.get_ydata()) == 2
    }
    assert set(flat) == {0.8, CAP}
    assert flat[CAP].get_gid() == "serving_cap"
    labels = ax.get_legend_handles_labels()[1]
    assert "80% shortage threshold" in labels
    assert any("97% serving cap" in label for label in labels)


# --- observations -----------------------------------------------------------------------


def test_observations_are_error_bars_of_two_sd_at_their_months(ds):
    fig = plot.nowcast_chart(ds, region=["yangtze", "national", "gba"])
    expected = {
        "yangtze": [m for m in MEASUREMENTS if m[0] == "yangtze"],
        "national": [m for m in MEASUREMENTS if m[0] == "national"],
        "gba": [],  # gba's only measurement is of demand: not on an occupancy chart
    }
    for ax, region in zip(_panels(fig), expected, strict=True):
        rows = expected[region]
        bars = _errorbars(ax)
        assert len(bars) == (1 if rows else 0), region
        if not rows:
            assert "no occupancy observation" in ax.get_title()
            continue
        (bar,) = bars
        assert bar.get_label() == "observed (bars ±2 measurement sd)"
        data_line, _caps, (segments,) = bar.lines
        x = mdates.date2num(pd.DatetimeIndex([_month_end(r[1]) for r in rows]))
        np.testing.assert_allclose(mdates.date2num(data_line.get_xdata()), x)
        np.testing.assert_allclose(data_line.get_ydata(), [r[3] for r in rows])
        for seg, row, xr_ in zip(segments.get_segments(), rows, x, strict=True):
            (x0, y0), (x1, y1) = seg
            assert x0 == pytest.approx(xr_) and x1 == pytest.approx(xr_)
            assert (y1 - y0) / 2 == pytest.approx(2 * row[4], rel=1e-12)  # half-width 2 sd
            assert (y0 + y1) / 2 == pytest.approx(row[3], rel=1e-12)
        low, high = ax.get_ylim()  # the bars are not clipped
        assert all(low <= r[3] - 2 * r[4] and r[3] + 2 * r[4] <= high for r in rows)
        assert f"{len(rows)} occupancy observation" in ax.get_title()


def test_demand_chart_shows_the_demand_measurement(ds):
    (ax,) = _panels(plot.nowcast_chart(ds, variable="demand"))  # default: gba only
    assert ax.get_title().startswith("gba")
    (bar,) = _errorbars(ax)
    _, _, (segments,) = bar.lines
    ((_, y0), (_, y1)) = segments.get_segments()[0]
    assert (y0, y1) == pytest.approx((800.0 - 80.0, 800.0 + 80.0))
    assert ax.get_ylabel() == "demand (MW)"


def test_default_panels_are_the_observed_regions(ds, runs):
    fig = plot.nowcast_chart(ds)
    titles = [ax.get_title() for ax in _panels(fig)]
    assert [t.split(" (")[0] for t in titles] == ["My Yangtze", "national"]
    # no measurement of this quantity: the regions with any measurement
    assert [
        ax.get_title().split(" (")[0] for ax in _panels(plot.nowcast_chart(ds, variable="supply"))
    ] == ["My Yangtze", "gba", "national"]
    facts_only = as_nowcast(*runs, measurements=())
    (ax,) = _panels(plot.nowcast_chart(facts_only))
    assert ax.get_title().startswith("national") and not _errorbars(ax)


def test_a_weighted_run_of_the_engine_is_drawn():
    """The engine's own nowcast result (not the synthetic one) has what the chart reads."""
    from mcsd.priors.observations import make_observations

    priors = _priors()
    measured = {"region": "yangtze", "month": "2025-12", "quantity": "occupancy"}
    obs = make_observations(priors, [{**measured, "value": 0.85, "sd": 0.03}], name="toy_obs")
    real = mcsd.simulate(priors, n_paths=N_PATHS, seed=SEED, observations=obs, progress=False)
    fig = plot.nowcast_chart(real)
    (ax,) = _panels(fig)
    assert ax.get_title().startswith("My Yangtze (1 occupancy observation")
    for which, name in (("prior", "occupancy_prior"), ("posterior", "occupancy")):
        _, low, high = _band(ax, f"{which}_band:0.05-0.95")
        data = real[name].sel(region="yangtze")
        np.testing.assert_allclose(low, data.sel(quantile=0.05).values, rtol=1e-12)
        np.testing.assert_allclose(high, data.sel(quantile=0.95).values, rtol=1e-12)
    (bar,) = _errorbars(ax)
    ((_, y0), (_, y1)) = bar.lines[2][0].get_segments()[0]
    assert (y0, y1) == pytest.approx((0.85 - 0.06, 0.85 + 0.06))
    assert "conditioned on 'toy_obs'" in fig.get_suptitle()


# --- title, ESS, warning ----------------------------------------------------------------


def _inside(inner, outer, tol: float = 0.5) -> bool:
    return (
        inner.x0 >= outer.x0 - tol
        and inner.y0 >= outer.y0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y1 <= outer.y1 + tol
    )


def test_title_names_the_observations_and_the_ess(ds):
    fig = plot.nowcast_chart(ds, region="yangtze")
    title = fig.get_suptitle()
    assert "conditioned on 'illustrative_2025'" in title
    assert "4 measurements" in title and "2 project facts" in title
    assert "effective sample size 1,234 of 2,000 paths (floor 1,000)" in title.replace("\n", " ")
    assert not any("Warning" in t for t in _texts(fig))


@pytest.mark.parametrize("region", ["yangtze", None])
def test_warning_is_shown_and_nothing_overlaps(runs, region):
    ds = as_nowcast(*runs, ess=812.0, warning=WARNING)
    fig = plot.nowcast_chart(ds, region=region)
    fig.canvas.draw()  # a plain savefig: no bbox_inches="tight"
    (block,) = [lg for lg in fig.legends if lg.get_gid() == "nowcast_warning"]
    words = " ".join(t.get_text() for t in block.get_texts()).replace("\n", " ")
    assert words == f"Warning: {WARNING}"
    assert matplotlib.colors.to_hex(block.get_texts()[0].get_color()) == "#b30000"
    assert "effective sample size 812 of 2,000" in block.get_title().get_text().replace("\n", " ")
    boxes = [lg.get_window_extent() for lg in fig.legends]
    boxes += [ax.get_tightbbox() for ax in _panels(fig)]
    if fig._suptitle is not None and fig._suptitle.get_text():  # the title is in the block
        boxes.append(fig._suptitle.get_window_extent())
    for k, box in enumerate(boxes):
        assert _inside(box, fig.bbox), (k, box, fig.bbox)
        for other in boxes[k + 1 :]:
            assert not box.overlaps(other), (box, other)


def test_legend_and_title_fit_without_a_warning(ds):
    fig = plot.nowcast_chart(ds, region="yangtze")
    fig.canvas.draw()
    boxes = [fig._suptitle.get_window_extent()] + [lg.get_window_extent() for lg in fig.legends]
    boxes += [ax.get_tightbbox() for ax in _panels(fig)]
    for k, box in enumerate(boxes):
        assert _inside(box, fig.bbox), (k, box, fig.bbox)
        for other in boxes[k + 1 :]:
            assert not box.overlaps(other), (box, other)


# --- refusals ---------------------------------------------------------------------------


def test_a_result_without_observations_is_refused(runs):
    posterior, _ = runs
    with pytest.raises(
        ValueError, match="not a nowcast result: it has no variable 'occupancy_prior'"
    ):
        plot.nowcast_chart(posterior)
    assert not plot.is_nowcast_result(posterior)


def test_bad_region_and_variable_are_refused(ds):
    with pytest.raises(ValueError, match="unknown region.*'atlantis'"):
        plot.nowcast_chart(ds, region="atlantis")
    with pytest.raises(ValueError, match="variable must be one of occupancy, demand, supply"):
        plot.nowcast_chart(ds, variable="unmet_demand")


# --- the command line -------------------------------------------------------------------


def _cli(argv, capsys) -> tuple[int, str, list[str]]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


@pytest.fixture(scope="module")
def nowcast_nc(ds, tmp_path_factory):
    return write_netcdf(ds, tmp_path_factory.mktemp("nowcast") / "nowcast.nc")


def test_cli_constants_match_the_library():
    assert plot_cli.FIGURE_KINDS == plot.FIGURE_KINDS
    assert plot_cli.NOWCAST_VARIABLES == tuple(plot.NOWCAST_VARIABLES)


def test_mcsd_plot_nowcast_writes_a_png(nowcast_nc, tmp_path, capsys):
    out = tmp_path / "now.png"
    argv = ["plot", str(nowcast_nc), "--kind", "nowcast", "--out", str(out)]
    code, printed, err = _cli([*argv, "--region", "national", "--variable", "occupancy"], capsys)
    assert (code, err) == (0, [])
    assert printed.split() == [str(out)]
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000


def test_mcsd_plot_all_adds_the_nowcast_figure(nowcast_nc, tmp_path, capsys):
    code, printed, err = _cli(
        ["plot", str(nowcast_nc), "--kind", "all", "--out", str(tmp_path / "run")], capsys
    )
    assert (code, err) == (0, [])
    kinds = ("fan", "shortage", "turning", "nowcast")
    assert printed.split() == [str(tmp_path / f"run_{k}.png") for k in kinds]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--kind", "nowcast", "--region", "atlantis"], "unknown region(s) 'atlantis'"),
        (["--kind", "pie"], "invalid choice: 'pie'"),
        (["--kind", "nowcast", "--variable", "unmet_demand"], "invalid choice: 'unmet_demand'"),
        (["--kind", "fan", "--region", "gba"], "apply to --kind nowcast only"),
    ],
)
def test_mcsd_plot_refuses_with_one_line(nowcast_nc, tmp_path, capsys, args, needle):
    out = tmp_path / "x.png"
    code, printed, err = _cli(["plot", str(nowcast_nc), "--out", str(out), *args], capsys)
    assert code == 2 and printed == ""
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_mcsd_plot_nowcast_of_an_unweighted_result_is_one_line(runs, tmp_path, capsys):
    plain = write_netcdf(runs[0], tmp_path / "plain.nc")
    out = tmp_path / "x.png"
    code, printed, err = _cli(["plot", str(plain), "--kind", "nowcast", "--out", str(out)], capsys)
    assert code == 2 and printed == ""
    assert err == [
        "mcsd plot: error: dataset is not a nowcast result: it has no variable "
        "'occupancy_prior' (needed by nowcast_chart; run with observations: "
        "mcsd run --observe FILE)"
    ]
    assert not out.exists()
