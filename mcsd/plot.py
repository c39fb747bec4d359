"""Figures from a result Dataset: fan charts, a shortage heat map, turning-point timing.

Every function takes the ``xarray.Dataset`` that :func:`mcsd.simulate` returns (or one read
back from netCDF), validates that the variables and coordinates it needs are there, and
returns a :class:`matplotlib.figure.Figure`. Regions are labelled with the Dataset's
``region_name`` coordinate (the priors' display names). Date axes tick at month ends, a
December end reading "end 2025". Nothing here calls ``plt.show`` or selects a
backend; the caller closes the figures it no longer needs (``plt.close(fig)``), except in
:func:`save_figures`, which closes what it writes.

>>> import matplotlib.pyplot as plt
>>> fig = fan_chart(ds, regions=["yangtze", "national"])  # doctest: +SKIP
>>> fig.savefig("yangtze.png", dpi=150); plt.close(fig)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import font_manager
from matplotlib.colors import BoundaryNorm
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator, PercentFormatter

from mcsd.results.variables import DEFAULT_QUANTILES, QUANTILE_VARS

__all__ = [
    "fan_chart",
    "shortage_heatmap",
    "turning_point_plot",
    "scenario_comparison",
    "tornado_chart",
    "nowcast_chart",
    "is_nowcast_result",
    "save_figures",
    "save_figure",
    "turning_rule_words",
    "turning_month_quantile",
    "scenario_colours",
    "cell_text",
    "drawable_text",
    "FIGURE_KINDS",
    "FIGURE_FORMATS",
]

FIGURE_KINDS = ("fan", "shortage", "turning", "nowcast", "all")
FIGURE_FORMATS = ("png", "svg", "pdf")
DPI = 150

#: The fan's quantiles: 0.05, 0.10, ..., 0.95 (nine nested bands and the median).
FAN_QUANTILES = tuple(float(q) for q in DEFAULT_QUANTILES)
FAN_PAIRS = tuple((FAN_QUANTILES[k], FAN_QUANTILES[-1 - k]) for k in range(9))

#: Descriptive names of the study's region ids (for callers such as the report); figures
#: label regions with the Dataset's ``region_name`` coordinate instead (:func:`_region_label`).
REGION_LABELS = {
    "jingjin": "Jingjin (around Beijing)",
    "yangtze": "Yangtze River Delta",
    "gba": "Greater Bay Area",
    "southwest_other": "Southwest and other",
    "national": "National",
}

_QUANTILE_VARIABLES = QUANTILE_VARS
# study_table() column for each fan variable (unmet demand has no study counterpart)
_STUDY_COLUMNS = {
    "occupancy": "occupancy",
    "demand": "demand_stock_mw",
    "supply": "supply_stock_mw",
}
_VARIABLE_TITLES = {
    "occupancy": "Occupancy",
    "demand": "Served demand (stock)",
    "supply": "Supply (stock)",
    "unmet_demand": "Unmet demand",
}
_FAN_CMAP = "Reds"
_NATIONAL_COLOUR = "black"


# --- validation ---------------------------------------------------------------------------


def _require(
    ds: xr.Dataset,
    needed_by: str,
    variables: Iterable[str] = (),
    coords: Iterable[str] = (),
) -> None:
    """Raise ValueError naming the first missing variable or coordinate."""
    if not isinstance(ds, xr.Dataset):
        raise ValueError(
            f"{needed_by} needs an xarray.Dataset from mcsd.simulate, got {type(ds).__name__}"
        )
    for name in coords:
        if name not in ds.coords:
            raise ValueError(f"dataset has no coordinate '{name}' (needed by {needed_by})")
    for name in variables:
        if name not in ds.data_vars:
            raise ValueError(f"dataset has no variable '{name}' (needed by {needed_by})")


def _check_fan_quantiles(ds: xr.Dataset, needed_by: str) -> None:
    present = np.asarray(ds["quantile"].values, dtype=float)
    missing = [q for q in FAN_QUANTILES if not np.any(np.isclose(present, q, atol=1e-6))]
    if missing:
        names = ", ".join(f"{q:.2f}" for q in missing)
        raise ValueError(
            f"dataset lacks quantiles {names} (needed by {needed_by}: the fan needs "
            "0.05, 0.10, ..., 0.95)"
        )


def _select_regions(ds: xr.Dataset, regions: str | Sequence[str] | None) -> list[str]:
    available = [str(r) for r in ds["region"].values]
    if regions is None:
        return available
    if isinstance(regions, str):
        regions = [regions]
    unknown = [r for r in regions if r not in available]
    if unknown:
        raise ValueError(
            f"unknown region(s) {', '.join(map(repr, unknown))}; "
            f"the dataset has {', '.join(available)}"
        )
    if not regions:
        raise ValueError("regions is empty; pass None for all regions")
    return list(regions)


# --- small helpers ------------------------------------------------------------------------


def _region_label(ds: xr.Dataset, region: str) -> str:
    """The display name of ``region``: ``ds.region_name`` (the priors' names), or the id
    itself when the Dataset has no such coordinate (files written before it existed).
    Characters the figure font cannot draw are left out (:func:`drawable_text`)."""
    if "region_name" in ds.coords and "region" in ds["region_name"].dims:
        names = dict(
            zip(map(str, ds["region"].values), map(str, ds["region_name"].values), strict=True)
        )
        return drawable_text(names.get(region, region)) or region
    return region


@functools.lru_cache(maxsize=8)
def _font_at(path: str) -> FT2Font:
    return FT2Font(path)


_BRACKETS = re.compile(r"\s*[(（]([^()（）]*)[)）]")


def drawable_text(text: str) -> str:
    """``text`` without what the current default font has no glyph for, so a figure never
    shows empty boxes (nor warns): a bracketed part holding such characters is dropped
    whole ("Yangtze River Delta (长三角)" -> "Yangtze River Delta" with a Latin-only
    font), then any remaining such character. Unchanged when the font has every glyph."""
    family = list(plt.rcParams["font.family"])
    font = _font_at(font_manager.findfont(font_manager.FontProperties(family=family)))

    def missing(part: str) -> bool:
        return any(not c.isspace() and font.get_char_index(ord(c)) == 0 for c in part)

    if not missing(text):
        return text
    previous = None
    while previous != text:  # innermost brackets first, so nested groups go too
        previous = text
        text = _BRACKETS.sub(lambda m: "" if missing(m.group(1)) else m.group(0), text)
    kept = "".join(c for c in text if not missing(c))
    return " ".join(kept.split())


def _quantile(da: xr.DataArray, q: float) -> xr.DataArray:
    return da.sel({"quantile": q}, method="nearest")


def _times(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(ds["time"].values, dtype="datetime64[ns]")


def _base_time(ds: xr.Dataset) -> np.datetime64:
    """The base (end of the month before the first on the time axis): the x-axis origin."""
    first = pd.Timestamp(_times(ds)[0])
    return np.datetime64((first.to_period("M") - 1).end_time.normalize(), "ns")


def _horizon_label(ds: xr.Dataset) -> str:
    return pd.Timestamp(_times(ds)[-1]).strftime("%b %Y")


def _threshold(ds: xr.Dataset) -> float:
    return float(ds.attrs.get("threshold", 0.8))


def _serving_cap(ds: xr.Dataset) -> float | None:
    """``ds.attrs["max_occupancy"]`` (the share of supply that can be served), or None."""
    cap = ds.attrs.get("max_occupancy")
    return None if cap is None else float(cap)


def _draw_serving_cap(ax, cap: float | None, label: bool = True) -> None:
    """A dashed line at the serving cap: occupancy bands go flat there by construction."""
    if cap is None:
        return
    ax.axhline(
        cap,
        color="tab:blue",
        ls=(0, (6, 3)),
        lw=1.0,
        gid="serving_cap",
        label=f"{cap:.0%} serving cap (bands flatten)" if label else None,
    )


#: ``ds.attrs["turning_point_rule"]`` in words (results written before the attribute
#: existed used the first-month rule).
TURNING_RULE_WORDS = {
    "first_month": "turning point: first month in shortage",
    "year_end": "turning point: first year-end in shortage (study rule)",
}


def turning_rule_words(ds: xr.Dataset) -> str:
    """The turning-point rule of ``ds`` in words, e.g. "turning point: first month in
    shortage"; an unknown rule is shown by its name."""
    rule = str(ds.attrs.get("turning_point_rule", "first_month"))
    return TURNING_RULE_WORDS.get(rule, f"turning point: rule {rule!r}")


class _MonthEndLocator(Locator):
    """Ticks at month ends (the instants the result's monthly values refer to), every 1, 3,
    6, 12, 24, ... months, always including the December month ends when the step allows."""

    def __init__(self, max_ticks: int = 7) -> None:
        self.max_ticks = max_ticks

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        lo, hi = sorted((float(vmin), float(vmax)))
        start = pd.Timestamp(mdates.num2date(lo)).tz_localize(None).to_period("M") - 1
        stop = pd.Timestamp(mdates.num2date(hi)).tz_localize(None).to_period("M")
        ends = pd.period_range(start, stop, freq="M").end_time.normalize()
        ends = ends[(mdates.date2num(ends) >= lo - 1e-6) & (mdates.date2num(ends) <= hi + 1e-6)]
        for step in (1, 3, 6, 12, 24, 36, 60, 120):
            keep = ends[(ends.month % step == 0) if step <= 12 else (ends.month == 12)]
            if step > 12:
                keep = keep[(keep.year % (step // 12)) == 0]
            if len(keep) <= self.max_ticks:
                break
        return mdates.date2num(keep.to_pydatetime()) if len(keep) else np.array([])


def _month_end_label(x: float, _pos=None) -> str:
    """A month-end tick: "end 2025" at a December end (so a year-end marker reads as the end
    of its year, not the start of the next), else the month ("Jun")."""
    day = pd.Timestamp(mdates.num2date(x)).tz_localize(None)
    if day.month == 12:
        return f"end {day.year}"
    return day.strftime("%b %Y" if _pos == 0 else "%b")


def _format_date_axis(ax) -> None:
    """Month-end ticks; December ends read "end YYYY"."""
    ax.xaxis.set_major_locator(_MonthEndLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_month_end_label))


def _mw_formatter() -> FuncFormatter:
    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def _format_value_axis(ax, variable: str, ds: xr.Dataset) -> None:
    if variable == "occupancy":
        # whole-percent ticks only, so that 0-decimal labels never repeat
        ax.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 5, 10]))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax.set_ylabel("occupancy (% of supply)")
    else:
        units = ds[variable].attrs.get("units", "MW")
        ax.yaxis.set_major_formatter(_mw_formatter())
        ax.set_ylabel(f"{variable.replace('_', ' ')} ({units})")


def _panel_grid(n: int, width: float = 5.2, height: float = 3.4):
    ncols = 1 if n == 1 else 2
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows + 0.9),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for ax in flat[1:n]:
        ax.sharex(flat[0])
    spare = None
    if len(flat) > n:
        spare = flat[n]  # the free slot holds the legend
        spare.set_axis_off()
    for ax in flat[n + 1 :]:
        ax.remove()
    return fig, flat[:n], spare


def _place_legend(fig: Figure, spare, handles, labels, ds: xr.Dataset | None) -> None:
    """Legend in the free panel slot if there is one, else under the panels.

    The run's provenance (priors, paths, seed, version) is the legend's title, so it
    never collides with anything else.
    """
    title = _provenance(ds) if ds is not None else ""
    if spare is not None:
        legend = spare.legend(
            handles, labels, loc="center", frameon=False, fontsize=10, title=title or None
        )
    else:
        # as many columns (up to four) as fit in the figure's width: a plain savefig, with
        # no bbox_inches="tight", must not clip the legend (a one-panel figure is narrow)
        renderer = cast(Any, fig.canvas).get_renderer()
        for ncol in range(min(len(handles), 4), 0, -1):
            legend = fig.legend(
                handles,
                labels,
                loc="outside lower center",
                ncol=ncol,
                frameon=False,
                title=title or None,
            )
            if title:
                legend.get_title().set_fontsize(8)
            if ncol == 1 or legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width:
                break
            legend.remove()
    if title:
        legend.get_title().set_fontsize(8)
        legend.get_title().set_color("0.4")


def _provenance(ds: xr.Dataset) -> str:
    parts = []
    if "priors_name" in ds.attrs:
        parts.append(f"priors {ds.attrs['priors_name']}")
    if "n_paths" in ds.attrs:
        parts.append(f"{int(ds.attrs['n_paths']):,} paths")
    if "seed" in ds.attrs:
        parts.append(f"seed {ds.attrs['seed']}")
    if int(ds.attrs.get("point_mode", 0)):
        parts.append("point mode")
    if "mcsd_version" in ds.attrs:
        parts.append(f"mcsd {ds.attrs['mcsd_version']}")
    return ", ".join(parts)


def _study_points(ds: xr.Dataset, study: bool | pd.DataFrame) -> pd.DataFrame | None:
    """The study's year-end table to overlay, or None."""
    if isinstance(study, pd.DataFrame):
        return study
    if study and str(ds.attrs.get("priors_name", "")).startswith("cic2025"):
        from mcsd.study import study_table

        return study_table()
    return None


# --- fan chart ----------------------------------------------------------------------------


def fan_chart(
    ds: xr.Dataset,
    regions: str | Sequence[str] | None = None,
    variable: str = "occupancy",
    study: bool | pd.DataFrame = True,
) -> Figure:
    """Bank of England fan chart per region: nine nested 10% bands from 5% to 95%.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`mcsd.simulate` with ``variable`` on (region, time, quantile)
        and the quantiles 0.05, 0.10, ..., 0.95.
    regions : str or sequence of str, optional
        Regions to draw, one panel each; default all (``national`` last).
    variable : {"occupancy", "demand", "supply", "unmet_demand"}
        Occupancy is drawn in percent with the shortage threshold and the serving cap
        (``ds.attrs["max_occupancy"]``, a dashed line: the bands go flat there); the
        others in MW.
    study : bool or pandas.DataFrame
        Overlay the study's year-end point forecast (``mcsd.study.study_table()``) when true
        and ``ds.attrs["priors_name"]`` starts with ``"cic2025"``; a DataFrame with the same
        columns is always drawn. A year's marker sits at its December month end, on the
        tick labelled "end <year>".

    Panels are titled with ``ds.region_name`` (the priors' names; the id for results
    without it). With one panel the legend goes under it in as many columns as fit, so
    a plain ``fig.savefig`` keeps it whole.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per region; each holds exactly nine ``fill_between`` collections.
    """
    name = "fan_chart"
    if variable not in _QUANTILE_VARIABLES:
        raise ValueError(
            f"variable must be one of {', '.join(_QUANTILE_VARIABLES)}, got {variable!r}"
        )
    _require(ds, name, variables=[variable], coords=["region", "time", "quantile"])
    _check_fan_quantiles(ds, name)
    regions = _select_regions(ds, regions)
    table = _study_points(ds, study)
    column = _STUDY_COLUMNS.get(variable)
    times = _times(ds)
    base = _base_time(ds)
    threshold = _threshold(ds)
    cap = _serving_cap(ds)
    cmap = plt.get_cmap(_FAN_CMAP)
    band_colours = [cmap(0.15 + 0.07 * k) for k in range(len(FAN_PAIRS))]

    fig, axes, spare = _panel_grid(len(regions))
    da = ds[variable]
    for ax, region in zip(axes, regions, strict=True):
        dr = da.sel(region=region)
        for (lo, hi), colour in zip(FAN_PAIRS, band_colours, strict=True):
            ax.fill_between(
                times,
                _quantile(dr, lo).values,
                _quantile(dr, hi).values,
                color=colour,
                linewidth=0,
                label="5-95% range, 10% bands" if lo == FAN_PAIRS[0][0] else None,
            )
        ax.plot(times, _quantile(dr, 0.5).values, color="darkred", lw=1.8, label="median")
        if variable == "occupancy":
            ax.axhline(
                threshold,
                color="0.2",
                ls="--",
                lw=1.1,
                label=f"{threshold:.0%} shortage threshold",
            )
            _draw_serving_cap(ax, cap)
        study_y = np.empty(0)
        if table is not None and column is not None:
            rows = table[table["region"] == region]
            if len(rows):
                ends = pd.to_datetime(rows["year"].astype(int).astype(str) + "-12-31")
                keep = (ends >= pd.Timestamp(base)) & (ends <= pd.Timestamp(times[-1]))
                if keep.any():
                    study_y = rows.loc[keep.to_numpy(), column].to_numpy(dtype=float)
                    ax.plot(
                        ends[keep].to_numpy(),
                        study_y,
                        ls="none",
                        marker="D",
                        ms=5.5,
                        mfc="white",
                        mec="black",
                        mew=1.2,
                        label="study forecast (year end)",
                        zorder=5,
                        clip_on=False,
                    )
        ax.set_title(_region_label(ds, region), fontsize=11)
        _format_value_axis(ax, variable, ds)
        _format_date_axis(ax)
        ax.grid(axis="y", color="0.85", lw=0.6)
        ax.set_xlim(base, times[-1])
        if variable == "occupancy":
            values: list[np.ndarray] = [
                np.asarray(_quantile(dr, 0.05).values, dtype=float),
                np.asarray(_quantile(dr, 0.95).values, dtype=float),
                np.array([threshold] + ([] if cap is None else [cap]), dtype=float),
                np.asarray(study_y, dtype=float),
            ]
            low = float(np.nanmin(np.concatenate(values)))
            high = float(np.nanmax(np.concatenate(values)))
            pad = 0.06 * max(high - low, 0.05)
            ax.set_ylim(max(low - pad, 0.0), min(high + pad, 1.02))

    handles, labels = _legend_items(axes)
    _place_legend(fig, spare, handles, labels, ds)
    fig.suptitle(f"{_VARIABLE_TITLES[variable]}: Monte Carlo fan chart", fontsize=13)
    return fig


def _legend_items(axes) -> tuple[list, list[str]]:
    """Unique legend entries over all panels, in first-seen order."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in seen:
                seen[label] = handle
    return list(seen.values()), list(seen.keys())


# --- shortage heat map --------------------------------------------------------------------


def _month_edges(times: np.ndarray) -> np.ndarray:
    """Cell edges for month-end timestamps: the start of each month and the end of the last."""
    stamps = pd.DatetimeIndex(times)
    starts = stamps.to_period("M").start_time
    last_end = (stamps[-1].to_period("M") + 1).start_time
    return np.append(starts.to_numpy(), np.datetime64(last_end, "ns"))


#: The heat map's colour levels (probabilities): one colour per band, fine below 10% so that
#: e.g. 2% and 8% look different, and coarser above.
SHORTAGE_LEVELS = (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0)
#: Up to this many months every cell carries its probability; beyond, only the Decembers.
ANNOTATE_ALL_MONTHS = 36


def cell_text(p: float) -> str:
    """A heat-map cell's probability in percent: "0", "0.4", "7", "63", ">99" (below 1%
    one decimal, so that a small non-zero chance never reads as 0), "" when missing."""
    if not np.isfinite(p):
        return ""
    pct = 100.0 * p
    if pct == 0.0 or pct == 100.0:
        return f"{pct:.0f}"
    if pct < 1.0:
        return f"{max(pct, 0.1):.1f}"
    if pct > 99.0:
        return ">99"
    return f"{pct:.0f}"


def _annotate_cells(ax, mesh, x_edges: np.ndarray, p: np.ndarray, every_cell: bool) -> None:
    """Write each cell's probability (percent, :func:`cell_text`) in it: every cell, or the
    December cells (year ends) when the months are too narrow for text."""
    months = pd.DatetimeIndex(mdates.num2date(x_edges[1:] - 0.5)).month
    cols = np.arange(p.shape[1]) if every_cell else np.flatnonzero(months == 12)
    size = 6.5 if every_cell else 7.5
    for i in range(p.shape[0]):
        for j in cols:
            text = cell_text(float(p[i, j]))
            if not text:
                continue
            r, g, b, _ = mesh.cmap(mesh.norm(p[i, j]))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(
                0.5 * (x_edges[j] + x_edges[j + 1]),
                i + 0.5,
                text,
                ha="center",
                va="center",
                fontsize=size,
                color="white" if dark else "black",
                gid="cell_value",
            )


def shortage_heatmap(ds: xr.Dataset, se_tolerance: float = 0.01) -> Figure:
    """P(shortage) by region and month as an image, hatching cells with a large MC error.

    Parameters
    ----------
    ds : xarray.Dataset
        Needs ``p_shortage`` and ``p_shortage_se`` on (region, time).
    se_tolerance : float
        Cells whose Monte Carlo standard error ``p_shortage_se`` exceeds this (a
        probability, 0.01 = one point) are hatched: more paths are needed to read them.

    Returns
    -------
    matplotlib.figure.Figure
        One image axes (a ``QuadMesh``), a colorbar, and one hatched ``Rectangle`` per
        cell above the tolerance.

    Colours follow the discrete levels :data:`SHORTAGE_LEVELS` (finer below 10%). Each
    cell is labelled with its probability in percent (:func:`cell_text`): every cell up
    to :data:`ANNOTATE_ALL_MONTHS` months, else the December (year-end) cells only.
    """
    name = "shortage_heatmap"
    _require(ds, name, variables=["p_shortage", "p_shortage_se"], coords=["region", "time"])
    if not se_tolerance >= 0:
        raise ValueError(f"se_tolerance must be >= 0, got {se_tolerance}")
    regions = [str(r) for r in ds["region"].values]
    times = _times(ds)
    p = ds["p_shortage"].transpose("region", "time").values.astype(float)
    se = ds["p_shortage_se"].transpose("region", "time").values.astype(float)

    x_edges = mdates.date2num(_month_edges(times))
    y_edges = np.arange(len(regions) + 1, dtype=float)
    fig, ax = plt.subplots(figsize=(10.5, 1.0 + 0.55 * len(regions) + 1.3), layout="constrained")
    norm = BoundaryNorm(SHORTAGE_LEVELS, ncolors=256)
    mesh = ax.pcolormesh(x_edges, y_edges, p, cmap="YlOrRd", norm=norm, edgecolors="white", lw=0.3)
    ax.xaxis_date()
    ax.set_ylim(len(regions), 0)  # first region on top
    ax.set_yticks(np.arange(len(regions)) + 0.5)
    ax.set_yticklabels([_region_label(ds, r) for r in regions])
    if "national" in regions and len(regions) > 1:
        k = regions.index("national")
        ax.axhline(k, color="black", lw=1.2)
    _format_date_axis(ax)

    threshold = _threshold(ds)
    bar = fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.04, ticks=SHORTAGE_LEVELS)
    bar.set_label(f"P(occupancy ≥ {threshold:.0%})")
    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    _annotate_cells(ax, mesh, x_edges, p, every_cell=len(times) <= ANNOTATE_ALL_MONTHS)

    rows, cols = np.nonzero(np.nan_to_num(se, nan=np.inf) > se_tolerance)
    for i, j in zip(rows, cols, strict=True):
        ax.add_patch(
            Rectangle(
                (float(x_edges[j]), float(i)),
                x_edges[j + 1] - x_edges[j],
                1.0,
                fill=False,
                hatch="////",
                edgecolor="0.25",
                lw=0,
            )
        )
    points = 100 * se_tolerance
    unit = "percentage point" if points == 1 else "percentage points"
    hatch_key = Patch(
        facecolor="white",
        edgecolor="0.25",
        hatch="////",
        label=f"hatched: Monte Carlo standard error > {points:g} {unit} (run more paths)",
    )
    fig.legend(
        handles=[hatch_key],
        loc="outside lower left",
        frameon=False,
        fontsize=9,
    )
    prov = _provenance(ds)
    ax.set_title(
        f"Probability of shortage (occupancy ≥ {threshold:.0%}) by region and month",
        fontsize=12,
    )
    if prov:
        ax.set_xlabel(f"month ({prov})", fontsize=9, color="0.3")
    return fig


# --- turning point ------------------------------------------------------------------------


def _pct(p: float) -> str:
    if 0 < p < 0.001:
        return "<0.1%"
    if 0.999 < p < 1:
        return ">99.9%"
    return f"{100 * p:.1f}%"


def _region_colours(regions: Sequence[str]) -> dict[str, object]:
    cycle = plt.get_cmap("tab10")
    colours: dict[str, object] = {}
    k = 0
    for r in regions:
        if r == "national":
            colours[r] = _NATIONAL_COLOUR
        else:
            colours[r] = cycle(k % 10)
            k += 1
    return colours


#: The turning-point chart's interval: the months where the CDF first reaches these levels.
TURNING_INTERVAL = (0.25, 0.75)


def turning_month_quantile(ds: xr.Dataset, region: str, q: float) -> pd.Timestamp | None:
    """The first month end at which ``turning_point_cdf`` of ``region`` is >= ``q`` (the
    base, when the region is in shortage at the base); None (censored) when it never is.

    ``q = 0.5`` is the median turning month; 0.25 and 0.75 the chart's interval."""
    cdf = ds["turning_point_cdf"].sel(region=region).values.astype(float)
    if bool(ds["in_shortage_at_base"].sel(region=region).values):
        return pd.Timestamp(_base_time(ds))
    hit = np.flatnonzero(cdf >= q - 1e-12)
    return pd.Timestamp(_times(ds)[hit[0]]) if hit.size else None


def _month_words(when: pd.Timestamp | None, horizon: str) -> str:
    return f"after {horizon}" if when is None else when.strftime("%b %Y")


def turning_point_plot(ds: xr.Dataset, regions: str | Sequence[str] | None = None) -> Figure:
    """When each region turns: the CDF of the turning point, and the share that never does.

    The left panel draws P(turning point at or before t) as step lines; the right panel
    shows ``p_no_turning_point`` (censored at the horizon) as one bar per region, labelled
    with its percentage. Regions already in shortage at the base are marked in the legend
    and with a star at the first month. The left panel's title names the turning-point
    rule of the run (``ds.attrs["turning_point_rule"]``, see :func:`turning_rule_words`).

    Each region's median turning month (the first month with CDF >= 50%,
    :func:`turning_month_quantile`) is a circle on its curve at 50%, and the interval
    between the months where the CDF first reaches 25% and 75% (the quartiles of the
    turning month over the paths, :data:`TURNING_INTERVAL`) by two short horizontal dashes
    on the curve; the legend names the three months ("after <horizon>" when censored).

    Parameters
    ----------
    ds : xarray.Dataset
        Needs ``turning_point_cdf`` (region, time), ``p_no_turning_point`` (region) and
        ``in_shortage_at_base`` (region).
    regions : str or sequence of str, optional
        Default all.
    """
    name = "turning_point_plot"
    _require(
        ds,
        name,
        variables=["turning_point_cdf", "p_no_turning_point", "in_shortage_at_base"],
        coords=["region", "time"],
    )
    regions = _select_regions(ds, regions)
    times = _times(ds)
    horizon = _horizon_label(ds)
    colours = _region_colours(regions)

    fig, (ax, axb) = plt.subplots(
        1,
        2,
        figsize=(11.5, 4.8),
        gridspec_kw={"width_ratios": [3.0, 1.25]},
        layout="constrained",
    )
    flagged = []
    base = _base_time(ds)
    steps_x = np.concatenate([[base], times])
    for region in regions:
        cdf = ds["turning_point_cdf"].sel(region=region).values.astype(float)
        at_base = bool(ds["in_shortage_at_base"].sel(region=region).values)
        # P(turning point <= base) is 1 for a region already in shortage, else 0.
        cdf = np.concatenate([[1.0 if at_base else 0.0], cdf])
        label = _region_label(ds, region) + (" — in shortage at base" if at_base else "")
        when = {q: turning_month_quantile(ds, region, q) for q in (0.5, *TURNING_INTERVAL)}
        if not at_base:
            lo, hi = (_month_words(when[q], horizon) for q in TURNING_INTERVAL)
            label += f" — median {_month_words(when[0.5], horizon)} (25-75%: {lo} to {hi})"
        national = region == "national"
        ax.step(
            steps_x,
            cdf,
            where="post",
            color=colours[region],
            lw=2.2 if national else 1.8,
            ls="--" if national else "-",
            label=label,
        )
        if when[0.5] is not None and not at_base:
            ax.plot(
                when[0.5],
                0.5,
                marker="o",
                ms=6,
                mfc="white",
                mec=colours[region],
                mew=1.6,
                ls="none",
                zorder=6,
                gid=f"turning_median:{region}",
            )
        ends = [(when[q], q) for q in TURNING_INTERVAL if when[q] is not None and not at_base]
        if ends:
            ax.plot(
                [t for t, _ in ends],
                [q for _, q in ends],
                marker="_",
                ms=11,
                mew=2.4,
                ls="none",
                color=colours[region],
                zorder=6,
                gid=f"turning_interval:{region}",
            )
        if at_base:
            flagged.append(region)
            ax.plot(
                base,
                cdf[0],
                marker="*",
                ms=13,
                color=colours[region],
                mec="black",
                mew=0.6,
                zorder=5,
                clip_on=False,
            )
    ax.set_ylim(-0.02, 1.04)
    ax.set_xlim(base, times[-1])
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_ylabel("P(turning point at or before month)")
    _format_date_axis(ax)
    ax.grid(color="0.88", lw=0.6)
    threshold = _threshold(ds)
    words = turning_rule_words(ds)
    ax.set_title(f"{words[0].upper()}{words[1:]}, occupancy ≥ {threshold:.0%}", fontsize=11)
    handles, labels = ax.get_legend_handles_labels()
    if flagged:
        handles.append(
            Line2D([], [], ls="none", marker="*", ms=11, color="0.5", mec="black", mew=0.6)
        )
        labels.append("already at or above the threshold at the base")
    handles.append(Line2D([], [], ls="none", marker="o", ms=6, mfc="white", mec="0.3", mew=1.6))
    labels.append("median turning month (CDF reaches 50%)")
    handles.append(Line2D([], [], ls="none", marker="_", ms=11, mew=2.4, color="0.3"))
    labels.append("interval: CDF reaches 25% and 75%")
    legend = fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncol=3,
        frameon=False,
        fontsize=9,
        title=_provenance(ds) or None,
    )
    legend.get_title().set_fontsize(8)
    legend.get_title().set_color("0.4")

    censored = [float(ds["p_no_turning_point"].sel(region=r).values) for r in regions]
    ypos = np.arange(len(regions))
    axb.barh(ypos, censored, color=[colours[r] for r in regions], alpha=0.85, height=0.6)
    for y, p in zip(ypos, censored, strict=True):
        axb.text(min(p, 1.0) + 0.02, y, _pct(p), va="center", ha="left", fontsize=9, clip_on=False)
    axb.set_yticks(ypos)
    axb.set_yticklabels([_region_label(ds, r) for r in regions], fontsize=9)
    axb.set_ylim(len(regions) - 0.5, -0.5)
    axb.set_xlim(0, 1.32)
    axb.set_xticks([0, 0.5, 1.0])
    axb.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    axb.set_xlabel("share of paths (censored)")
    axb.set_title(f"No turning point by {horizon}", fontsize=11)
    for side in ("top", "right"):
        axb.spines[side].set_visible(False)
    fig.suptitle("When does each region tip into shortage?", fontsize=13)
    return fig


# --- scenario comparison ------------------------------------------------------------------


#: Scenario colours: a scenario's colour is picked from its name (:func:`scenario_colours`).
SCENARIO_PALETTE = tuple(plt.get_cmap("tab10")(k) for k in range(10))


def scenario_colours(names: Iterable[str]) -> dict[str, tuple]:
    """Colour of each scenario, a function of the names only, never of their order: each
    name hashes (CRC-32) to a slot of :data:`SCENARIO_PALETTE`; names are placed in sorted
    order, a taken slot passing to the next free one (so a set of up to ten names never
    shares a colour; the same set gives the same colours in any order)."""
    unique = sorted(set(map(str, names)))
    taken: dict[int, str] = {}
    out: dict[str, tuple] = {}
    size = len(SCENARIO_PALETTE)
    for name in unique:
        slot = zlib.crc32(name.encode("utf-8")) % size
        for k in range(size):  # first free slot; beyond ten names colours repeat
            if (slot + k) % size not in taken:
                slot = (slot + k) % size
                break
        taken.setdefault(slot, name)
        out[name] = SCENARIO_PALETTE[slot]
    return out


def _points_label(v: float, _pos=None) -> str:
    """A probability tick in signed percentage points, with as many decimals as the tick
    needs (0.025 -> "+2.5", never a rounded "+2"), so the label always equals the value."""
    pts = 100.0 * v
    if abs(pts) < 1e-9:
        return "0"
    for decimals in range(4):
        if abs(round(pts, decimals) - pts) < 1e-6:
            break
    return f"{pts:+.{decimals}f}".replace("-", "\N{MINUS SIGN}")


def _from_compare(ds: xr.Dataset, labels: Sequence[str] | None) -> dict[str, xr.Dataset]:
    """The two scenarios of a :func:`mcsd.analysis.compare.compare` result, the second
    carrying the paired SE of the difference (``diff_p_shortage_se``) as ``paired_se``."""
    needed = ["p_shortage_a", "p_shortage_b", "diff_p_shortage", "diff_p_shortage_se"]
    _require(ds, "scenario_comparison", variables=needed, coords=["region", "time"])
    if labels is None:
        labels = (str(ds.attrs.get("priors_a", "a")), str(ds.attrs.get("priors_b", "b")))
    label_a, label_b = (str(x) for x in labels)
    if label_a == label_b:
        label_a, label_b = f"{label_a} (A)", f"{label_b} (B)"
    zero = xr.zeros_like(ds["p_shortage_a"])
    keep = ["region_name"] if "region_name" in ds.coords else []
    a = xr.Dataset({"p_shortage": ds["p_shortage_a"], "p_shortage_se": zero})
    b = xr.Dataset(
        {
            "p_shortage": ds["p_shortage_b"],
            "p_shortage_se": zero,
            "paired_se": ds["diff_p_shortage_se"],
        }
    )
    for part in (a, b):
        part.attrs.update(ds.attrs)
        for name in keep:
            part.coords[name] = ds[name]
    return {label_a: a, label_b: b}


def scenario_comparison(
    datasets: Mapping[str, xr.Dataset] | xr.Dataset,
    regions: str | Sequence[str] | None = None,
    kind: str = "fan",
    variable: str = "occupancy",
    *,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Compare scenarios per region: overlaid fans, or the change in P(shortage).

    Parameters
    ----------
    datasets : mapping of str to xarray.Dataset, or a compare() result
        Scenario name -> result, the first being the reference (e.g. the base case). Or the
        Dataset of :func:`mcsd.analysis.compare.compare` (``kind="difference"`` only; a
        fan needs quantiles): b minus a with the paired standard error.
    regions : str or sequence of str, optional
        Default: the regions present in every dataset, in the first one's order.
    kind : {"fan", "difference"}
        ``"fan"``: the median and the 5-95% band of ``variable`` per scenario. For
        occupancy the threshold and the serving cap (``attrs["max_occupancy"]``) are
        marked. ``"difference"``: P(shortage) of each later scenario minus the first, with a
        band of ±2 standard errors. The SE is the *paired* one when known: a compare()
        result's ``diff_p_shortage_se``, or a ``paired_se`` variable (region, time) in a
        later scenario's Dataset (the SE of its difference from the first); otherwise
        ``sqrt(se_a**2 + se_b**2)`` (independent runs).
    variable : str
        The quantile variable for ``kind="fan"``.
    labels : pair of str, optional
        With a compare() result: the names of scenarios a and b (default the priors'
        names from its attributes).

    Colours are a function of the scenario names (:func:`scenario_colours`), so a
    scenario keeps its colour whatever the order of ``datasets``.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per region; the figure legend has one entry per scenario ("fan") or per
        compared scenario ("difference").
    """
    name = "scenario_comparison"
    if kind not in ("fan", "difference"):
        raise ValueError(f"kind must be 'fan' or 'difference', got {kind!r}")
    if isinstance(datasets, xr.Dataset):
        if "diff_p_shortage" not in datasets.data_vars:
            raise ValueError(
                "scenario_comparison needs a mapping of name -> Dataset, or a compare() result"
            )
        if kind != "difference":
            raise ValueError("a compare() result has no quantiles: use kind='difference'")
        datasets = _from_compare(datasets, labels)
    if not isinstance(datasets, Mapping) or not datasets:
        raise ValueError("scenario_comparison needs a non-empty mapping of name -> Dataset")
    datasets = cast("Mapping[str, xr.Dataset]", datasets)  # a compare() result is converted
    if kind == "difference" and len(datasets) < 2:
        raise ValueError("kind='difference' needs at least two datasets (the first is the base)")
    for label, ds in datasets.items():
        try:
            if kind == "fan":
                _require(ds, name, variables=[variable], coords=["region", "time", "quantile"])
                present = np.asarray(ds["quantile"].values, dtype=float)
                for q in (0.05, 0.5, 0.95):
                    if not np.any(np.isclose(present, q, atol=1e-6)):
                        raise ValueError(f"dataset lacks quantile {q:.2f} (needed by {name})")
            else:
                _require(
                    ds, name, variables=["p_shortage", "p_shortage_se"], coords=["region", "time"]
                )
        except ValueError as err:
            raise ValueError(f"scenario {label!r}: {err}") from None

    names = list(datasets)
    common = [
        str(r)
        for r in datasets[names[0]]["region"].values
        if all(str(r) in set(map(str, d["region"].values)) for d in datasets.values())
    ]
    if not common:
        raise ValueError("the datasets share no region")
    if regions is None:
        regions = common
    else:
        regions = [regions] if isinstance(regions, str) else list(regions)
        unknown = [r for r in regions if r not in common]
        if unknown:
            raise ValueError(
                f"region(s) {', '.join(map(repr, unknown))} not in every dataset; "
                f"common regions: {', '.join(common)}"
            )

    colours = scenario_colours(names)
    fig, axes, spare = _panel_grid(len(regions))
    handles: list = []
    labels_out: list[str] = []
    first = datasets[names[0]]
    if kind == "fan":
        for label in names:
            ds = datasets[label]
            times = _times(ds)
            for ax, region in zip(axes, regions, strict=True):
                dr = ds[variable].sel(region=region)
                ax.fill_between(
                    times,
                    _quantile(dr, 0.05).values,
                    _quantile(dr, 0.95).values,
                    color=colours[label],
                    alpha=0.18,
                    lw=0,
                )
                ax.plot(times, _quantile(dr, 0.5).values, color=colours[label], lw=1.8)
            handles.append(
                (
                    Patch(facecolor=colours[label], alpha=0.25),
                    Line2D([], [], color=colours[label], lw=1.8),
                )
            )
            labels_out.append(label)
        threshold = _threshold(first)
        caps = {_serving_cap(d) for d in datasets.values()} - {None}
        cap = caps.pop() if len(caps) == 1 else None  # different caps: none is "the" cap
        for ax, region in zip(axes, regions, strict=True):
            if variable == "occupancy":
                ax.axhline(threshold, color="0.2", ls="--", lw=1.0)
                ax.annotate(
                    f"{threshold:.0%} threshold",
                    xy=(1.0, threshold),
                    xycoords=("axes fraction", "data"),
                    xytext=(-3, 3),
                    textcoords="offset points",
                    ha="right",
                    va="bottom",
                    fontsize=8,
                    color="0.2",
                )
                if cap is not None:
                    _draw_serving_cap(ax, cap, label=False)
                    ax.annotate(
                        f"{cap:.0%} serving cap",
                        xy=(0.0, cap),
                        xycoords=("axes fraction", "data"),
                        xytext=(3, 3),
                        textcoords="offset points",
                        ha="left",
                        va="bottom",
                        fontsize=8,
                        color="tab:blue",
                    )
            _format_value_axis(ax, variable, first)
            _finish_panel(ax, _region_label(first, region), _base_time(first))
        title = f"{_VARIABLE_TITLES.get(variable, variable)}: scenarios (median and 5-95% band)"
    else:
        ref = first
        paired_all = True
        for label in names[1:]:
            ds = datasets[label]
            paired = "paired_se" in ds.data_vars
            paired_all &= paired
            extra = ["paired_se"] if paired else []
            a, b = xr.align(
                ref[["p_shortage", "p_shortage_se"]],
                ds[["p_shortage", "p_shortage_se", *extra]],
                join="inner",
            )
            if a.sizes["time"] == 0:
                raise ValueError(f"scenario {label!r} shares no month with {names[0]!r}")
            times = _times(a)
            for ax, region in zip(axes, regions, strict=True):
                diff = (b["p_shortage"] - a["p_shortage"]).sel(region=region).values
                if paired:
                    se = b["paired_se"].sel(region=region).values
                else:
                    se = np.hypot(
                        a["p_shortage_se"].sel(region=region).values,
                        b["p_shortage_se"].sel(region=region).values,
                    )
                ax.fill_between(
                    times,
                    diff - 2 * se,
                    diff + 2 * se,
                    color=colours[label],
                    alpha=0.2,
                    lw=0,
                    gid=f"difference_band:{label}",
                )
                ax.plot(times, diff, color=colours[label], lw=1.8)
            handles.append(
                (
                    Patch(facecolor=colours[label], alpha=0.25),
                    Line2D([], [], color=colours[label], lw=1.8),
                )
            )
            labels_out.append(f"{label} − {names[0]}")
        for ax, region in zip(axes, regions, strict=True):
            ax.axhline(0.0, color="0.3", lw=0.8)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=[1, 2, 2.5, 5, 10]))
            ax.yaxis.set_major_formatter(FuncFormatter(_points_label))
            ax.set_ylabel("Δ P(shortage) (percentage points)")
            _finish_panel(ax, _region_label(first, region), _base_time(first))
        which = "paired standard errors" if paired_all else "standard errors"
        title = f"Change in P(shortage) against {names[0]!r}\n(band: ±2 {which})"

    _place_legend(fig, spare, handles, labels_out, None)
    fig.suptitle(title, fontsize=13)
    return fig


def _finish_panel(ax, label: str, base: np.datetime64) -> None:
    ax.set_title(label, fontsize=11)
    ax.set_xlim(left=base)
    _format_date_axis(ax)
    ax.grid(axis="y", color="0.85", lw=0.6)


# --- nowcast (a run conditioned on observations) ------------------------------------------


#: The variables a nowcast result carries a prior copy (``<name>_prior``) of, with a
#: quantity axis, and the observation quantity each one is measured as.
NOWCAST_VARIABLES = {"occupancy": "occupancy", "demand": "demand_mw", "supply": "supply_mw"}
#: The nowcast chart's bands (quantile pairs), outer first, for the prior and the posterior.
NOWCAST_PAIRS = ((0.05, 0.95), (0.25, 0.75))
#: Observations are drawn with error bars of this many measurement standard deviations.
NOWCAST_ERROR_SD = 2.0
_QUANTITY_WORDS = {"occupancy": "occupancy", "demand_mw": "served demand", "supply_mw": "supply"}
_PRIOR_BAND_COLOURS = ("0.86", "0.72")
_PRIOR_MEDIAN_COLOUR = "0.35"
_POSTERIOR_BAND_COLOURS = ("#e34a33", "#b30000")
_POSTERIOR_BAND_ALPHA = (0.35, 0.5)
_OBSERVATION_COLOUR = "#08306b"


def _nowcast_observations(ds: xr.Dataset) -> pd.DataFrame:
    """The measurements of a nowcast result as a table (region, time, quantity, value, sd);
    empty when the run had facts only."""
    columns = ["region", "time", "quantity", "value", "sd"]
    if "observation" not in ds.dims or ds.sizes["observation"] == 0:
        return pd.DataFrame({c: [] for c in columns})
    return pd.DataFrame(
        {
            "region": [str(r) for r in ds["observation_region"].values],
            "time": pd.DatetimeIndex(ds["observation_time"].values),
            "quantity": [str(q) for q in ds["observation_quantity"].values],
            "value": np.asarray(ds["observation_value"].values, dtype=float),
            "sd": np.asarray(ds["observation_sd"].values, dtype=float),
        }
    )


def _check_nowcast(ds: xr.Dataset, region: str | Sequence[str] | None, variable: str) -> list[str]:
    """Validate a nowcast result for :func:`nowcast_chart`; return the regions to draw."""
    name = "nowcast_chart"
    if variable not in NOWCAST_VARIABLES:
        raise ValueError(
            f"variable must be one of {', '.join(NOWCAST_VARIABLES)}, got {variable!r}"
        )
    _require(ds, name, variables=[variable], coords=["region", "time", "quantile"])
    if f"{variable}_prior" not in ds.data_vars:
        raise ValueError(
            f"dataset is not a nowcast result: it has no variable '{variable}_prior' "
            f"(needed by {name}; run with observations: mcsd run --observe FILE)"
        )
    present = np.asarray(ds["quantile"].values, dtype=float)
    for q in sorted({q for pair in NOWCAST_PAIRS for q in pair} | {0.5}):
        if not np.any(np.isclose(present, q, atol=1e-6)):
            raise ValueError(f"dataset lacks quantile {q:.2f} (needed by {name})")
    if region is not None:
        return _select_regions(ds, region)
    obs = _nowcast_observations(ds)
    available = [str(r) for r in ds["region"].values]
    for rows in (obs[obs["quantity"] == NOWCAST_VARIABLES[variable]], obs):
        observed = set(rows["region"])
        chosen = [r for r in available if r in observed]
        if chosen:
            return chosen
    return ["national"] if "national" in available else available[:1]


def _observation_words(ds: xr.Dataset) -> str:
    """ "conditioned on 'NAME': 3 measurements, 2 project facts"."""
    name = drawable_text(str(ds.attrs.get("observations", "observations")))
    parts = []
    for dim, what in (("observation", "measurement"), ("fact", "project fact")):
        n = int(ds.sizes.get(dim, 0))
        if n:
            parts.append(f"{n} {what}{'s' if n != 1 else ''}")
    return f"conditioned on {name!r}" + (f": {', '.join(parts)}" if parts else "")


def _ess_words(ds: xr.Dataset) -> str:
    ess = ds.attrs.get("effective_sample_size")
    if ess is None:
        return ""
    words = f"effective sample size {float(ess):,.0f}"
    if "n_paths" in ds.attrs:
        words += f" of {int(ds.attrs['n_paths']):,} paths"
    if "ess_floor" in ds.attrs:
        words += f" (floor {float(ds.attrs['ess_floor']):,.0f})"
    return words


def _nowcast_fan(
    ax, times, da, gid: str, label: str, colours, alphas, median_colour, ls, lw, zorder: int
) -> list[np.ndarray]:
    """One fan of a nowcast panel: the ``NOWCAST_PAIRS`` bands (gids ``{gid}_band:LO-HI``,
    at ``zorder``) and the median (``{gid}_median``, two layers up); returns the band
    edges drawn."""
    shown: list[np.ndarray] = []
    for (lo, hi), colour, alpha in zip(NOWCAST_PAIRS, colours, alphas, strict=True):
        low, high = _quantile(da, lo).values, _quantile(da, hi).values
        ax.fill_between(
            times, low, high, color=colour, alpha=alpha, lw=0, zorder=zorder,
            gid=f"{gid}_band:{lo:.2f}-{hi:.2f}", label=f"{label} {100 * lo:.0f}-{100 * hi:.0f}%",
        )  # fmt: skip
        shown += [low, high]
    ax.plot(
        times, _quantile(da, 0.5).values, color=median_colour, ls=ls, lw=lw,
        zorder=zorder + 2, gid=f"{gid}_median", label=f"{label} median",
    )  # fmt: skip
    return shown


def nowcast_chart(
    ds: xr.Dataset,
    region: str | Sequence[str] | None = None,
    variable: str = "occupancy",
) -> Figure:
    """Prior against nowcast (posterior) fans per region, with the observations drawn.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of ``mcsd.simulate(..., observations=...)``: ``variable`` and its prior
        copy ``<variable>_prior`` on (region, time, quantile), the ``observation_*``
        variables (dim ``observation``) and the attrs ``observations`` and
        ``effective_sample_size``. Any other Dataset is refused (``ValueError``).
    region : str or sequence of str, optional
        The panels. Default: every region with a measurement of ``variable``'s quantity
        (else with any measurement; else ``national``), in the Dataset's order.
    variable : {"occupancy", "demand", "supply"}
        Occupancy (1) is drawn in percent with the shortage threshold and the serving cap;
        served demand and supply stocks in MW (observed as ``demand_mw``, ``supply_mw``).

    Each panel holds the prior's 5-95% and 25-75% bands (grey, gids ``prior_band:LO-HI``)
    and its median (dashed), under the posterior's bands (colour, ``posterior_band:LO-HI``)
    and median; the region's measurements of that quantity are points with error bars of
    ±2 measurement sd (gid ``observations``). The title names the observations and the
    effective sample size; a run under the ESS floor shows its ``nowcast_warning`` in
    red under the title.
    """
    regions = _check_nowcast(ds, region, variable)
    quantity = NOWCAST_VARIABLES[variable]
    obs = _nowcast_observations(ds)
    obs = obs[obs["quantity"] == quantity]
    times = _times(ds)
    base = _base_time(ds)
    threshold = _threshold(ds)
    cap = _serving_cap(ds)
    one = len(regions) == 1  # a lone panel gets more room: its legend goes under it
    panel_width = 7.6 if one else 5.6
    fig, axes, spare = _panel_grid(len(regions), width=panel_width, height=4.2 if one else 3.6)
    for ax, reg in zip(axes, regions, strict=True):
        prior = ds[f"{variable}_prior"].sel(region=reg)
        post = ds[variable].sel(region=reg)
        shown: list[np.ndarray] = []
        shown += _nowcast_fan(
            ax,
            times,
            prior,
            "prior",
            "prior",
            _PRIOR_BAND_COLOURS,
            (1.0,) * len(NOWCAST_PAIRS),
            _PRIOR_MEDIAN_COLOUR,
            (0, (5, 2)),
            1.5,
            zorder=1,
        )
        shown += _nowcast_fan(
            ax,
            times,
            post,
            "posterior",
            "nowcast",
            _POSTERIOR_BAND_COLOURS,
            _POSTERIOR_BAND_ALPHA,
            "darkred",
            "-",
            1.8,
            zorder=2,
        )
        mine = obs[obs["region"] == reg]
        if len(mine):
            half = NOWCAST_ERROR_SD * mine["sd"].to_numpy()
            values = mine["value"].to_numpy()
            ax.errorbar(
                mine["time"].to_numpy(),
                values,
                yerr=half,
                fmt="o",
                ms=5,
                mfc="white",
                mec=_OBSERVATION_COLOUR,
                mew=1.4,
                ecolor=_OBSERVATION_COLOUR,
                elinewidth=1.4,
                capsize=3,
                zorder=6,
                gid="observations",
                label=f"observed (bars ±{NOWCAST_ERROR_SD:g} measurement sd)",
            )
            shown += [values - half, values + half]
        if variable == "occupancy":
            ax.axhline(
                threshold, color="0.2", ls="--", lw=1.1, label=f"{threshold:.0%} shortage threshold"
            )
            _draw_serving_cap(ax, cap)
            shown.append(np.array([threshold] + ([] if cap is None else [cap])))
        n_obs = len(mine)
        words = _QUANTITY_WORDS[quantity]
        note = (
            f"{n_obs} {words} observation{'s' if n_obs != 1 else ''}"
            if n_obs
            else f"no {words} observation here"
        )
        _format_value_axis(ax, variable, ds)
        # wrapped to the panel's width: long region names and the note would overflow
        title = _wrap(f"{_region_label(ds, reg)} ({note})", 0.85 * panel_width, 11.0)
        _finish_panel(ax, title, base)
        ax.set_xlim(base, times[-1])
        everything = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in shown])
        low, high = float(np.nanmin(everything)), float(np.nanmax(everything))
        if variable == "occupancy":
            pad = 0.06 * max(high - low, 0.05)
            ax.set_ylim(max(low - pad, 0.0), min(high + pad, 1.02))
        else:
            pad = 0.06 * max(high - low, 1.0)
            ax.set_ylim(max(low - pad, 0.0), high + pad)

    handles, labels = _legend_items(axes)
    _place_legend(fig, spare, handles, labels, ds)
    lines = [
        f"{_VARIABLE_TITLES[variable]}: prior (grey) and nowcast (colour)",
        _observation_words(ds),
    ]
    ess = _ess_words(ds)
    if ess:
        lines.append(ess)
    title = _wrap("\n".join(lines), 0.92 * fig.get_figwidth(), 12.0)
    warning = ds.attrs.get("nowcast_warning")
    if warning:
        _title_with_warning(fig, title, str(warning))
    else:
        fig.suptitle(title, fontsize=12)
    return fig


def _title_with_warning(fig: Figure, title: str, warning: str) -> None:
    """The title and, under it in red, the ESS warning, wrapped to the figure's width.

    Both are one figure legend above the panels (the title its title, the warning its one
    entry) instead of a suptitle: the constrained layout reserves the top margin for the
    larger of a suptitle and a legend there, not for both, so two would overlap."""
    legend = fig.legend(
        [Line2D([], [], alpha=0.0)],
        [_wrap(f"Warning: {drawable_text(warning)}", 0.92 * fig.get_figwidth(), 10.0, "bold")],
        loc="outside upper center",
        frameon=False,
        handlelength=0.0,
        handletextpad=0.0,
        labelcolor="#b30000",
        prop={"weight": "bold", "size": 10},
        title=title,
        title_fontsize=12,
        alignment="center",
    )
    legend.get_title().set_multialignment("center")
    legend.set_gid("nowcast_warning")


def _wrap(text: str, width_inches: float, fontsize: float, weight: str = "normal") -> str:
    """``text`` with each line broken at spaces into lines no wider than ``width_inches``
    in the figure font at ``fontsize`` points (measured, not guessed from a mean character
    width); a single word wider than that stays whole."""
    from matplotlib.textpath import TextToPath

    font = font_manager.FontProperties(
        family=list(plt.rcParams["font.family"]), size=fontsize, weight=weight
    )
    limit = 72.0 * width_inches  # points, the unit of the measured width
    measure = TextToPath().get_text_width_height_descent

    def fits(line: str) -> bool:
        return measure(line, font, ismath=False)[0] <= limit

    out: list[str] = []
    for part in text.split("\n"):
        line = ""
        for word in part.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and not fits(candidate):
                out.append(line)
                line = word
            else:
                line = candidate
        out.append(line)
    return "\n".join(out)


# --- files --------------------------------------------------------------------------------


def _stem(out: Path) -> Path:
    out = Path(out)
    if out.suffix.lower().lstrip(".") in FIGURE_FORMATS:
        return out.with_suffix("")
    return out


def is_nowcast_result(ds: xr.Dataset) -> bool:
    """True for a result conditioned on observations (it carries ``occupancy_prior``)."""
    return isinstance(ds, xr.Dataset) and "occupancy_prior" in ds.data_vars


def save_figures(
    ds: xr.Dataset,
    kind: str,
    out: Path,
    formats: Sequence[str] = ("png",),
    *,
    region: str | Sequence[str] | None = None,
    variable: str | None = None,
) -> list[Path]:
    """Write figures of one result to files and return their paths.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`mcsd.simulate`.
    kind : {"fan", "shortage", "turning", "nowcast", "all"}
        Which figure; ``"all"`` writes ``<stem>_fan``, ``<stem>_shortage`` and
        ``<stem>_turning``, and ``<stem>_nowcast`` for a result conditioned on
        observations (:func:`is_nowcast_result`). ``"nowcast"`` needs such a result.
    out : pathlib.Path
        Output path; a ``.png``/``.svg``/``.pdf`` suffix is replaced by each format's.
        Missing parent folders are created.
    formats : sequence of {"png", "svg", "pdf"}
        One file per format and figure, at 150 dpi.
    region, variable : optional
        The panels and the variable of the nowcast figure (:func:`nowcast_chart`); with
        ``kind="nowcast"`` only.

    Each file is written atomically (:func:`save_figure`): a failed or interrupted save
    leaves no partial figure and no temporary file. An existing target that is not a
    regular file is refused (``ValueError``) before any figure is drawn.
    """
    if kind not in FIGURE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FIGURE_KINDS)}, got {kind!r}")
    if kind != "nowcast" and (region is not None or variable is not None):
        raise ValueError(f"region and variable apply to kind 'nowcast' only, not {kind!r}")
    formats = [str(f).lower().lstrip(".") for f in formats]
    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise ValueError(
            f"formats must be among {', '.join(FIGURE_FORMATS)}, got {', '.join(bad) or 'none'}"
        )
    nowcast_variable = "occupancy" if variable is None else variable
    makers: dict[str, Callable[[xr.Dataset], Figure]] = {
        "fan": fan_chart,
        "shortage": shortage_heatmap,
        "turning": turning_point_plot,
        "nowcast": functools.partial(nowcast_chart, region=region, variable=nowcast_variable),
    }
    if kind == "all":
        chosen = [k for k in makers if k != "nowcast" or is_nowcast_result(ds)]
    else:
        chosen = [kind]
    # Validate everything before drawing anything, so a bad dataset writes no files.
    needs = {
        "fan": (["occupancy"], ["region", "time", "quantile"]),
        "shortage": (["p_shortage", "p_shortage_se"], ["region", "time"]),
        "turning": (
            ["turning_point_cdf", "p_no_turning_point", "in_shortage_at_base"],
            ["region", "time"],
        ),
    }
    for k in chosen:
        if k == "nowcast":
            _check_nowcast(ds, region, nowcast_variable)
        else:
            _require(ds, makers[k].__name__, variables=needs[k][0], coords=needs[k][1])
    stem = _stem(Path(out))
    targets: dict[str, list[tuple[str, Path]]] = {}
    for k in chosen:
        base = stem.with_name(f"{stem.name}_{k}") if kind == "all" else stem
        targets[k] = [(fmt, base.with_name(f"{base.name}.{fmt}")) for fmt in formats]
        for _, path in targets[k]:  # refused before anything is drawn
            _check_regular_target(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for k in chosen:
        fig = makers[k](ds)
        try:
            for fmt, path in targets[k]:
                save_figure(fig, path, fmt)
                written.append(path)
        finally:
            plt.close(fig)
    return written


def _check_regular_target(path: Path) -> None:
    """``ValueError`` unless ``path`` is missing or (through any symbolic link) a regular
    file: a figure never replaces a folder, device, fifo or socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            raise ValueError(f"{path} is a symbolic link to a missing file") from None
        return
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise ValueError(f"{path} is {what}: a figure is written only to a regular file")


def save_figure(fig: Figure, path: str | os.PathLike, fmt: str, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` in format ``fmt`` atomically, like ``write_netcdf``.

    The figure is drawn into ``.<name>.<random>.tmp`` in the target's folder, synced and
    renamed over ``path``. A drawing or write that fails (any exception) or is interrupted
    (``KeyboardInterrupt``; ``SystemExit`` or the CLI's SIGTERM exception) removes the
    temporary file and leaves an earlier file at ``path`` intact, never half-written.
    ``ValueError`` if ``path`` exists and is not a regular file.
    """
    from mcsd.results.io import atomic_write

    target = Path(path)
    _check_regular_target(target)
    return atomic_write(target, lambda handle: fig.savefig(handle, dpi=dpi, format=fmt))


# --- sensitivity (mcsd.sensitivity) -------------------------------------------------------


def tornado_chart(
    sens: xr.Dataset,
    region: str = "yangtze",
    output: str = "shortage",
    year: int | None = None,
    first_order: bool = True,
) -> Figure:
    """Horizontal bars of the grouped Sobol indices of one region and output.

    Parameters
    ----------
    sens : xarray.Dataset
        The result of :func:`mcsd.sensitivity`.
    region : str
        A region of ``sens`` (incl. ``national``).
    output : {"shortage", "turning_month"}
        The shortage indicator at a year end, or the (censored) turning-point month.
    year : int, optional
        With ``output="shortage"``: the year end (default the first).
    first_order : bool
        Also draw the first-order index (a thinner, darker bar inside the total).

    Groups are sorted by total index, largest on top; whiskers are the 95% bootstrap
    intervals when ``sens`` has them. The title names the region by ``sens.region_name``
    (its id without it); the run stamp is a figure-level x label under the axis label.
    """
    if output not in ("shortage", "turning_month"):
        raise ValueError(f"output must be 'shortage' or 'turning_month', got {output!r}")
    total_name = f"{output}_total"
    if total_name not in sens or "group" not in sens.dims:
        raise ValueError("tornado_chart needs the Dataset returned by mcsd.sensitivity")
    regions = [str(r) for r in sens.region.values]
    if region not in regions:
        raise ValueError(f"unknown region {region!r}; the dataset has {', '.join(regions)}")
    sel: dict[str, object] = {"region": region}
    when = ""
    if output == "shortage":
        years = [int(y) for y in sens.year.values]
        y = years[0] if year is None else int(year)
        if y not in years:
            raise ValueError(f"year {y} not in the dataset's years {years}")
        sel["year"] = y
        when = f", end {y}"
    sub = sens.sel(sel)
    total = sub[total_name].values.astype(float)
    first = sub[f"{output}_first_order"].values.astype(float)
    labels = (
        [str(v) for v in sens["group_label"].values]
        if "group_label" in sens
        else [str(g) for g in sens.group.values]
    )
    order = np.argsort(np.nan_to_num(total, nan=-1.0))  # smallest first: largest on top
    ypos = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(6.4, 0.55 * len(order) + 1.6), layout="constrained")

    def whiskers(name: str) -> np.ndarray | None:
        lo, hi = f"{name}_lo", f"{name}_hi"
        if lo not in sub or hi not in sub:
            return None
        v = sub[name].values[order]
        return np.abs(np.vstack([v - sub[lo].values[order], sub[hi].values[order] - v]))

    ax.barh(
        ypos,
        np.nan_to_num(total[order]),
        height=0.6,
        color="#f4a582",
        xerr=whiskers(total_name),
        error_kw={"ecolor": "0.3", "capsize": 3, "lw": 1},
        label="total index",
    )
    if first_order:
        ax.barh(
            ypos,
            np.nan_to_num(first[order]),
            height=0.25,
            color="#b2182b",
            xerr=whiskers(f"{output}_first_order"),
            error_kw={"ecolor": "0.1", "capsize": 2, "lw": 0.8},
            label="first-order index",
        )
    ax.set_yticks(ypos, [labels[i] for i in order])
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlim(min(0.0, float(np.nanmin(np.append(first, 0.0))) - 0.05), 1.05)
    ax.set_xlabel("share of output variance (Sobol index)")
    what = "shortage (occupancy >= threshold)" if output == "shortage" else "turning-point month"
    if output == "turning_month":
        when += f"\n{turning_rule_words(sens)}"
    ax.set_title(f"{_region_label(sens, region)}: {what}{when}", fontsize=10)
    if np.all(np.isnan(total)):
        ax.text(
            0.5,
            0.5,
            "output constant: no variance to attribute",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
        )
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    stamp = _provenance(sens)
    if stamp:
        # a figure-level x label: the constrained layout keeps it below the axis label
        fig.supxlabel(stamp, x=0.99, ha="right", fontsize=6.5, color="0.5")
    return fig
