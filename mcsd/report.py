"""One self-contained HTML report of a result: tables, figures and provenance in one file.

:func:`html_report` turns a result ``xarray.Dataset`` into one HTML page that needs nothing
else: figures (from :mod:`mcsd.plot`) are PNG images embedded as ``data:`` URIs, the style
sheet is inline, there is no script, no font file and no link to the network (a
Content-Security-Policy in the page forbids loading anything that is not embedded). A risk
team can mail it as it is.

What the page holds depends on the variables present:

- a result of :func:`mcsd.simulate`: the summary tables (P(shortage) at each year end with
  its Monte Carlo standard error, in any / every month of the year, P(turning point by the
  year end), P(no turning point), the median turning month), the occupancy fans per region,
  the P(shortage) heat map and the turning-point CDFs;
- a result of :func:`mcsd.analysis.compare.compare` (``diff_p_shortage`` present): both
  scenarios' year-end probabilities, the difference b − a with its paired standard error
  (and the unpaired one for contrast) and the difference figure, its band ±2 paired SE;
- a result holding prior and posterior views (variables ``X_prior`` beside ``X_posterior``
  or beside ``X`` itself): one table per variable with prior, posterior and the change;
- always: the provenance table (every attribute of ``ds.attrs``).

Numbers are shown rounded (probabilities in percent with one decimal, standard errors and
differences in percentage points); each shown number sits in an element whose
``data-value`` attribute holds the full-precision value (``repr`` of the float, which reads
back exactly) and whose ``data-var`` / ``data-region`` / ``data-year`` / ``data-time`` say
which Dataset cell it is. All text from the Dataset (priors names, region ids, attributes)
is escaped.

>>> from mcsd.report import write_report
>>> write_report(ds, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["html_report", "write_report", "report_sections"]

FIGURE_DPI = 110
_PP = "percentage points"


# --- text and numbers ---------------------------------------------------------------------


def _t(value: object) -> str:
    """Text for HTML: control characters made visible (mcsd.cli.text.safe), then escaped."""
    from mcsd.cli.text import safe

    return html.escape(safe(value), quote=True)


def _full(value: object) -> str:
    """The full-precision ``data-value`` of a number (``repr``: reads back exactly)."""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return repr(float(value))  # type: ignore[arg-type]


def fmt_probability(p: float) -> str:
    """A probability in percent, one decimal: ``0.98154`` -> ``"98.2%"``; NaN -> ``"–"``."""
    return "–" if not np.isfinite(p) else f"{100 * p:.1f}%"


def fmt_se(se: float) -> str:
    """A standard error in percentage points, two decimals: ``0.0030`` -> ``"±0.30"``."""
    return "–" if not np.isfinite(se) else f"±{100 * se:.2f}"


def fmt_mw(x: float) -> str:
    """Megawatts, whole, with thousands separators: ``2738.4`` -> ``"2,738"``."""
    return "–" if not np.isfinite(x) else f"{x:,.0f}"


def fmt_mw_difference(d: float) -> str:
    """A difference of megawatts, signed: ``-73.2`` -> ``"-73"``."""
    return "–" if not np.isfinite(d) else f"{d:+,.0f}"


def fmt_difference(d: float) -> str:
    """A difference of probabilities in percentage points, signed: ``0.123`` -> ``"+12.3"``."""
    return "–" if not np.isfinite(d) else f"{100 * d:+.1f}"


@dataclass
class Cell:
    """One shown number: its text, its full value and the Dataset cell it comes from."""

    text: str
    value: object
    keys: dict[str, str] = field(default_factory=dict)
    css: str = ""

    def html(self) -> str:
        attrs = "".join(f' data-{k}="{_t(v)}"' for k, v in self.keys.items())
        css = f' class="{self.css}"' if self.css else ""
        value = self.value if isinstance(self.value, str) else _full(self.value)
        return f'<span{css}{attrs} data-value="{_t(value)}">{_t(self.text)}</span>'


def _table(
    caption: str,
    header: Sequence[str],
    rows: Iterable[tuple[str, Sequence[Sequence[Cell]]]],
    note: str = "",
    name: str = "",
) -> str:
    """A <table>: ``rows`` are (row label, one list of cells per column)."""
    out = [f'<table data-table="{_t(name)}">' if name else "<table>"]
    out.append(f"<caption>{_t(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{_t(h)}</th>' for h in header))
    out.append("</tr></thead><tbody>")
    for label, columns in rows:
        tds = "".join("<td>" + " ".join(c.html() for c in cells) + "</td>" for cells in columns)
        out.append(f'<tr><th scope="row">{_t(label)}</th>{tds}</tr>')
    out.append("</tbody></table>")
    if note:
        out.append(f'<p class="note">{_t(note)}</p>')
    return "\n".join(out)


# --- the Dataset's axes -------------------------------------------------------------------


def _regions(ds: xr.Dataset) -> list[str]:
    return [str(r) for r in ds["region"].values]


def _region_label(ds: xr.Dataset, region: str) -> str:
    """``Name (id)`` from the result's ``region_name`` coordinate (the priors' names); the id
    alone when the two agree or the result has no such coordinate (older files)."""
    name = region
    if "region_name" in ds.coords and "region" in ds["region_name"].dims:
        ids, names_ = ds["region"].values, ds["region_name"].values
        names = dict(zip(map(str, ids), map(str, names_), strict=True))
        name = names.get(region, region)
    return f"{name} ({region})" if name != region else region


def year_ends(ds: xr.Dataset) -> list[tuple[int, int]]:
    """(calendar year, index of its last month on the time axis), in order: the December,
    or the horizon's last month for a partial last year."""
    years = pd.DatetimeIndex(ds["time"].values).year.to_numpy()
    ends = np.nonzero(np.append(years[1:] != years[:-1], True))[0]
    return [(int(years[i]), int(i)) for i in ends]


def _month(ds: xr.Dataset, index: int) -> pd.Timestamp:
    return pd.Timestamp(ds["time"].values[index])


def _calendar_year(ds: xr.Dataset, year: int, index: int) -> str:
    """``"2026"``, or ``"2028 (to Jun)"`` for a year the horizon ends in before December."""
    month = _month(ds, index)
    return str(year) if month.month == 12 else f"{year} (to {month.strftime('%b')})"


def _year_header(ds: xr.Dataset, index: int) -> str:
    return _month(ds, index).strftime("%b %Y")


# --- region x year tables -----------------------------------------------------------------


def _year_table(
    ds: xr.Dataset,
    var: str,
    caption: str,
    se_var: str | None = None,
    fmt: Callable[[float], str] = fmt_probability,
    note: str = "",
) -> str:
    """Rows regions, columns year ends: ``var`` (on (region, year) or (region, time), read at
    each year's last month) and, if given, ``se_var`` beside it."""
    da = ds[var]
    ends = year_ends(ds)
    by_year = "year" in da.dims
    if by_year:
        years = [int(y) for y in ds["year"].values]
        time_of = dict(ends)
        columns = [(y, time_of.get(y)) for y in years]
    else:
        columns = [(y, i) for y, i in ends]
    header = ["region"] + [
        _year_header(ds, i) if i is not None else f"year {y}" for y, i in columns
    ]
    rows = []
    for region in _regions(ds):
        cells = []
        for y, i in columns:
            sel: dict[str, object] = {"region": region}
            keys = {"region": region, "year": str(y)}
            if by_year:
                sel["year"] = y
            else:
                sel["time"] = ds["time"].values[i]
            if i is not None:
                keys["time"] = _month(ds, i).strftime("%Y-%m-%d")
            v = float(da.sel(sel).values)
            cell = [Cell(fmt(v), v, {"var": var, **keys})]
            if se_var is not None and se_var in ds:
                s = float(ds[se_var].sel(sel).values)
                cell.append(Cell(fmt_se(s), s, {"var": se_var, **keys}, css="se"))
            cells.append(cell)
        rows.append((_region_label(ds, region), cells))
    return _table(caption, header, rows, note=note, name=var)


# --- summary tables -----------------------------------------------------------------------

#: The year measures of the summary: (frame column stem, Dataset variable, caption). The
#: same stems as ``mcsd.cli.summary.summary_frames``.
YEAR_MEASURES = (
    ("p_short_year_end", "p_shortage_year_end", "P(shortage) at the year end"),
    ("p_short_any_month", "p_shortage_any_month", "P(shortage in at least one month of the year)"),
    ("p_short_all_months", "p_shortage_all_months", "P(shortage in every month of the year)"),
    ("p_turned_by_year_end", "turning_point_cdf", "P(turning point at or before the year end)"),
)


def _summary_frames_function() -> Callable[[xr.Dataset], dict[str, pd.DataFrame]] | None:
    """``mcsd.cli.summary.summary_frames`` when that module exists, else None."""
    try:
        from mcsd.cli.summary import summary_frames
    except ImportError:
        return None
    return summary_frames


def dataset_frames(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    """The summary numbers read straight from the Dataset, in ``summary_frames``' layout
    (``by_year``: index (region, year), a column per measure and its ``_se`` where the
    Dataset has one; ``by_region``: ``median_turn``, ``p_no_turn``): the fallback when
    ``mcsd.cli.summary`` is not there."""
    regions = _regions(ds)
    ends = year_ends(ds)
    index = pd.MultiIndex.from_product([regions, [y for y, _ in ends]], names=["region", "year"])
    by_year = pd.DataFrame(index=index)
    times = pd.DatetimeIndex(ds["time"].values)
    by_year["year_end_month"] = [times[i].strftime("%Y-%m") for _ in regions for _, i in ends]
    last = [i for _, i in ends]
    for stem, var, _ in YEAR_MEASURES:
        if var not in ds and var == "p_shortage_year_end" and "p_shortage" in ds:
            var = "p_shortage"  # a result of an older version: read the year's last month
        if var not in ds:
            continue
        for column, name in ((stem, var), (f"{stem}_se", f"{var}_se")):
            if name not in ds:
                continue
            da = ds[name]
            if "year" in da.dims:
                values = da.transpose("region", "year").sel(year=[y for y, _ in ends]).values
            else:
                values = da.transpose("region", "time").values[:, last]
            by_year[column] = np.asarray(values, dtype=float).ravel()
    by_region = pd.DataFrame(index=pd.Index(regions, name="region"))
    if "turning_point_cdf" in ds:
        cdf = ds["turning_point_cdf"].transpose("region", "time").values
        median = []
        for row in cdf:
            hit = np.nonzero(row >= 0.5)[0]
            median.append(times[hit[0]].strftime("%Y-%m") if hit.size else None)
        by_region["median_turn"] = pd.Series(median, index=by_region.index, dtype=object)
    if "p_no_turning_point" in ds:
        by_region["p_no_turn"] = np.asarray(
            ds["p_no_turning_point"].sel(region=regions).values, dtype=float
        )
    return {"by_year": by_year, "by_region": by_region}


def _frames(ds: xr.Dataset) -> dict[str, pd.DataFrame]:
    frames_of = _summary_frames_function()
    if frames_of is not None:
        try:
            frames = frames_of(ds)
        except (ValueError, KeyError, AttributeError, TypeError):  # not a result it reads
            frames = None
        if frames and "by_year" in frames and "by_region" in frames:
            return frames
    return dataset_frames(ds)


def _is_missing(v: object) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float | np.floating) and np.isnan(v))


def _frame_cells(
    frame: pd.DataFrame, name: str, key: object, stem: str, extra: dict[str, str]
) -> list[Cell]:
    """The value of ``stem`` at row ``key`` and, where the frame has them, its SE and 95%
    interval. Each cell names its frame column (``data-frame``, ``data-col``) and the row
    (``extra``: region, year, month); only the value names its Dataset variable (``var``)."""
    row = frame.loc[key]
    where = {k: v for k, v in extra.items() if k != "var"}

    def keys(col: str) -> dict[str, str]:
        return {**where, "frame": name, "col": col}

    v = float(row[stem])
    cells = [Cell(fmt_probability(v), v, {**extra, **keys(stem)})]
    if f"{stem}_se" in frame:
        s = float(row[f"{stem}_se"])
        cells.append(Cell(fmt_se(s), s, keys(f"{stem}_se"), css="se"))
    if f"{stem}_lo" in frame and f"{stem}_hi" in frame:
        lo, hi = float(row[f"{stem}_lo"]), float(row[f"{stem}_hi"])
        cells.append(Cell(f"[{100 * lo:.1f},", lo, keys(f"{stem}_lo"), "ci"))
        cells.append(Cell(f"{100 * hi:.1f}]", hi, keys(f"{stem}_hi"), "ci"))
    return cells


def summary_tables(ds: xr.Dataset) -> list[str]:
    """The summary tables of a result (HTML): the numbers of
    ``mcsd.cli.summary.summary_frames`` when that module is importable, else
    :func:`dataset_frames`. Each value's element names its Dataset variable (``data-var``,
    ``data-region``, ``data-year``, ``data-time``)."""
    if "region" not in ds.dims or "time" not in ds.dims:
        return []
    frames = _frames(ds)
    by_year, by_region = frames["by_year"], frames["by_region"]
    regions = _regions(ds)
    ends = year_ends(ds)
    out = []
    notes = {
        True: f"Beside each probability: its Monte Carlo standard error in {_PP} and its 95% "
        "interval in percent (Wilson), the error given the priors.",
        False: f"Beside each probability: its Monte Carlo standard error in {_PP}.",
    }
    for stem, var, caption in YEAR_MEASURES:
        if stem not in by_year:
            continue
        if var not in ds and var == "p_shortage_year_end":
            var = "p_shortage"
        rows = []
        for region in regions:
            columns = []
            for year, i in ends:
                keys = {
                    "var": var,
                    "region": region,
                    "year": str(year),
                    "time": _month(ds, i).strftime("%Y-%m-%d"),
                }
                columns.append(_frame_cells(by_year, "by_year", (region, year), stem, keys))
            rows.append((_region_label(ds, region), columns))
        if stem in ("p_short_any_month", "p_short_all_months"):  # the calendar year
            header = ["region"] + [_calendar_year(ds, y, i) for y, i in ends]
        else:  # the year's last month
            header = ["region"] + [_year_header(ds, i) for _, i in ends]
        with_ci = f"{stem}_lo" in by_year
        note = notes[with_ci] if f"{stem}_se" in by_year else ""
        out.append(_table(caption, header, rows, note=note, name=stem))
    if {"median_turn", "p_no_turn"} & set(by_region.columns):
        out.append(_turning_table(ds, by_region))
    return out


def _turning_table(ds: xr.Dataset, by_region: pd.DataFrame) -> str:
    horizon = _month(ds, ds.sizes["time"] - 1).strftime("%b %Y")
    header = ["region"]
    if "median_turn" in by_region:
        header.append("median turning month")
    if "p_no_turn" in by_region:
        header.append(f"P(no turning point by {horizon})")
    if "in_shortage_at_base" in ds:
        header.append("in shortage at the base")
    if "study_turn_year" in by_region:
        header.append("the study's turning year")
    rows = []
    for region in _regions(ds):
        cols: list[list[Cell]] = []
        keys = {"region": region}
        if "median_turn" in by_region:
            m = by_region.loc[region, "median_turn"]
            text = f"after {horizon}" if _is_missing(m) else str(m)
            value = "" if _is_missing(m) else str(m)
            cols.append([Cell(text, value, {"frame": "by_region", "col": "median_turn", **keys})])
        if "p_no_turn" in by_region:
            extra = {"var": "p_no_turning_point", **keys}
            cols.append(_frame_cells(by_region, "by_region", region, "p_no_turn", extra))
        if "in_shortage_at_base" in ds:
            flag = bool(ds["in_shortage_at_base"].sel(region=region).values)
            cols.append(
                [Cell("yes" if flag else "no", flag, {"var": "in_shortage_at_base", **keys})]
            )
        if "study_turn_year" in by_region:
            y = by_region.loc[region, "study_turn_year"]
            text = "not within its table" if _is_missing(y) else str(int(y))
            value = "" if _is_missing(y) else str(int(y))
            keys_ = {"frame": "by_region", "col": "study_turn_year", **keys}
            cols.append([Cell(text, value, keys_)])
        rows.append((_region_label(ds, region), cols))
    return _table(
        "Turning point",
        header,
        rows,
        note="Median turning month: the first month at which P(turning point at or before "
        "the month) reaches 50%.",
        name="turning_point",
    )


def _has(ds: xr.Dataset, *names: str) -> bool:
    return all(n in ds.variables for n in names)


# --- figures ------------------------------------------------------------------------------


def _png_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(make: Callable[[], object], alt: str, caption: str) -> str:
    """A figure drawn by ``make`` as an embedded PNG; a note instead if it cannot be drawn."""
    import matplotlib.pyplot as plt

    try:
        fig = make()
    except ValueError as err:
        return f'<p class="missing">{_t(caption)}: not drawn ({_t(err)})</p>'
    try:
        uri = _png_uri(fig)
    finally:
        plt.close(fig)  # type: ignore[arg-type]
    return (
        f'<figure><img src="{uri}" alt="{_t(alt)}"><figcaption>{_t(caption)}</figcaption></figure>'
    )


def result_figures(ds: xr.Dataset) -> list[str]:
    """Fans per region, the heat map and the turning-point CDFs (HTML figures)."""
    import mcsd.plot as plot

    out = []
    if "occupancy" in ds:
        out.append(
            _figure(
                lambda: plot.fan_chart(ds),
                "occupancy fan chart, one panel per region",
                "Occupancy per region: median and nine nested bands from 5% to 95%; dashed: "
                "the shortage threshold.",
            )
        )
    if _has(ds, "p_shortage", "p_shortage_se"):
        out.append(
            _figure(
                lambda: plot.shortage_heatmap(ds),
                "heat map of the probability of shortage by region and month",
                "P(shortage) by region and month; hatched cells have a Monte Carlo standard "
                "error above one percentage point.",
            )
        )
    if _has(ds, "turning_point_cdf", "p_no_turning_point", "in_shortage_at_base"):
        out.append(
            _figure(
                lambda: plot.turning_point_plot(ds),
                "turning-point cumulative distribution per region",
                f"When each region tips into shortage ({plot.turning_rule_words(ds)}).",
            )
        )
    return out


# --- comparison ---------------------------------------------------------------------------


def _scenario_names(ds: xr.Dataset) -> tuple[str, str]:
    a = str(ds.attrs.get("priors_a", "a"))
    b = str(ds.attrs.get("priors_b", "b"))
    return (f"a: {a}", f"b: {b}") if a == b else (a, b)


def compare_section(ds: xr.Dataset) -> list[str]:
    """Tables and the figure of a paired comparison (the variables of ``compare()``)."""
    import mcsd.plot as plot

    name_a, name_b = _scenario_names(ds)
    out = [
        f"<p>Scenario b ({_t(name_b)}) against scenario a ({_t(name_a)}), paired path by path "
        "on common random numbers: the paired standard error of a difference is what its "
        "Monte Carlo error really is; the unpaired one is what two independent runs of the "
        "same size would have.</p>"
    ]
    for x, what in (
        ("p_shortage", "P(shortage) at the year end"),
        ("turning_point_cdf", "P(turning point at or before the year end)"),
    ):
        if not _has(ds, f"{x}_a", f"{x}_b", f"diff_{x}"):
            continue
        out.append(_year_table(ds, f"{x}_a", f"{what}, scenario a ({name_a})"))
        out.append(_year_table(ds, f"{x}_b", f"{what}, scenario b ({name_b})"))
        out.append(
            _year_table(
                ds,
                f"diff_{x}",
                f"{what}: b − a, in {_PP}",
                se_var=f"diff_{x}_se",
                fmt=fmt_difference,
                note=f"Beside each difference: its paired standard error in {_PP}.",
            )
        )
        if f"diff_{x}_se_unpaired" in ds:
            out.append(
                _year_table(
                    ds,
                    f"diff_{x}_se_unpaired",
                    f"{what}: standard error of b − a if the runs were independent, in {_PP}",
                    fmt=fmt_se,
                )
            )
    if _has(ds, "p_no_turning_point_a", "p_no_turning_point_b"):
        rows = []
        for region in _regions(ds):
            cols = []
            for var in ("p_no_turning_point_a", "p_no_turning_point_b"):
                v = float(ds[var].sel(region=region).values)
                cols.append([Cell(fmt_probability(v), v, {"var": var, "region": region})])
            rows.append((_region_label(ds, region), cols))
        out.append(
            _table(
                "P(no turning point by the horizon)",
                ["region", f"a: {name_a}", f"b: {name_b}"],
                rows,
                name="p_no_turning_point_ab",
            )
        )
    if _has(ds, "p_shortage_a", "p_shortage_b", "diff_p_shortage_se"):
        # scenario_comparison's band is ±2 hypot(se_a, se_b): with se_a = 0 and se_b the
        # paired SE, it is ±2 paired standard errors.
        zero = xr.zeros_like(ds["p_shortage_a"])
        first = xr.Dataset({"p_shortage": ds["p_shortage_a"], "p_shortage_se": zero})
        second = xr.Dataset(
            {"p_shortage": ds["p_shortage_b"], "p_shortage_se": ds["diff_p_shortage_se"]}
        )
        out.append(
            _figure(
                lambda: plot.scenario_comparison(
                    {name_a: first, name_b: second}, kind="difference"
                ),
                "difference in the probability of shortage, b minus a, per region",
                "P(shortage) of b minus a by month, in percentage points; band: ±2 paired "
                "standard errors.",
            )
        )
    return out


# --- prior and posterior ------------------------------------------------------------------


def prior_posterior_pairs(ds: xr.Dataset) -> list[tuple[str, str]]:
    """(prior variable, posterior variable) pairs: ``X_prior`` beside ``X_posterior``, or
    beside ``X`` itself; standard errors (``X_se_prior``, ``X_prior_se``) are not pairs."""
    pairs = []
    for name in map(str, ds.data_vars):
        if not name.endswith("_prior") or name.endswith("_se_prior"):
            continue
        stem = name[: -len("_prior")]
        for post in (f"{stem}_posterior", stem):
            if post in ds.data_vars and "region" in ds[post].dims:
                pairs.append((name, post))
                break
    return pairs


def prior_posterior_section(ds: xr.Dataset) -> list[str]:
    """Per pair: the prior, the posterior and the change, at each year end (HTML)."""
    out = []
    for prior, post in prior_posterior_pairs(ds):
        stem = prior[: -len("_prior")]
        dims = set(ds[prior].dims)
        if "quantile" in dims:  # a quantile cube: its median, if it has one
            if 0.5 not in ds["quantile"].values:
                continue
            stem = f"{stem} (median)"
            prior, post = f"{prior}_median", f"{post}_median"
            ds = ds.assign(
                {
                    prior: ds[prior[: -len("_median")]].sel(quantile=0.5, drop=True),
                    post: ds[post[: -len("_median")]].sel(quantile=0.5, drop=True),
                }
            )
            dims = set(ds[prior].dims)
        if not dims <= {"region", "time", "year"}:
            continue
        if "time" in dims or "year" in dims:
            mw = ds[post].attrs.get("units") == "MW"
            value_fmt = fmt_mw if mw else fmt_probability
            for var, label in ((prior, "prior"), (post, "posterior")):
                se = f"{var}_se" if f"{var}_se" in ds else None
                out.append(_year_table(ds, var, f"{stem}: {label}", se_var=se, fmt=value_fmt))
            change = (ds[post] - ds[prior]).rename(f"{stem}_change")
            out.append(
                _year_table(
                    ds.assign({f"{stem}_change": change}),
                    f"{stem}_change",
                    f"{stem}: posterior − prior, in {'MW' if mw else _PP}",
                    fmt=fmt_mw_difference if mw else fmt_difference,
                )
            )
        elif dims == {"region"}:
            rows = []
            for region in _regions(ds):
                a = float(ds[prior].sel(region=region).values)
                b = float(ds[post].sel(region=region).values)
                keys = {"region": region}
                rows.append(
                    (
                        _region_label(ds, region),
                        [
                            [Cell(fmt_probability(a), a, {"var": prior, **keys})],
                            [Cell(fmt_probability(b), b, {"var": post, **keys})],
                            [Cell(fmt_difference(b - a), b - a, {"var": f"{stem}_change", **keys})],
                        ],
                    )
                )
            out.append(
                _table(stem, ["region", "prior", "posterior", f"change ({_PP})"], rows, name=stem)
            )
    return out


# --- observations (nowcast) ----------------------------------------------------------------


def observations_section(ds: xr.Dataset) -> list[str]:
    """A nowcast's conditioning: its effective sample size (and warning), the measurements
    and the project facts."""
    ess = float(ds.attrs["effective_sample_size"])
    text = (
        f"Conditioned on the observations {ds.attrs.get('observations', '')}: effective "
        f"sample size {ess:,.0f} (Kish) of {int(ds.attrs.get('n_paths', 0)):,} paths."
    )
    out = [f'<p class="note">{_t(text)}</p>']
    if ds.attrs.get("nowcast_warning"):
        out.append(
            f'<p class="note"><strong>Warning:</strong> {_t(ds.attrs["nowcast_warning"])}</p>'
        )
    rows = []
    for i in range(ds.sizes.get("observation", 0)):
        when = pd.Timestamp(ds["observation_time"].values[i]).strftime("%Y-%m")
        value, sd = float(ds["observation_value"].values[i]), float(ds["observation_sd"].values[i])
        keys = {"observation": str(i)}
        rows.append(
            (
                f"{ds['observation_region'].values[i]} {when}",
                [
                    [Cell(str(ds["observation_quantity"].values[i]), "", keys)],
                    [Cell(f"{value:,.4g}", value, {"var": "observation_value", **keys})],
                    [Cell(f"{sd:,.4g}", sd, {"var": "observation_sd", **keys})],
                ],
            )
        )
    if rows:
        out.append(
            _table("Measurements", ["region, month", "quantity", "value", "sd"], rows,
                   name="observations")
        )  # fmt: skip
    rows = []
    for i in range(ds.sizes.get("fact", 0)):
        t = ds["fact_time"].values[i]
        when = "" if pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m")
        rows.append(
            (
                str(ds["fact_project"].values[i]),
                [[Cell(str(ds["fact_status"].values[i]), "", {})], [Cell(when, "", {})]],
            )
        )
    if rows:
        out.append(
            _table("Project facts (pinned or 0/1 likelihoods)", ["project", "status", "month"],
                   rows, name="facts")
        )  # fmt: skip
    return out


# --- provenance ---------------------------------------------------------------------------


def provenance_table(ds: xr.Dataset) -> str:
    """Every attribute of ``ds.attrs``, in order, as text."""
    rows = []
    for key, value in ds.attrs.items():
        text = (
            ", ".join(map(str, np.ravel(value)))
            if isinstance(value, np.ndarray | list | tuple)
            else str(value)
        )
        rows.append(
            f'<tr><th scope="row">{_t(key)}</th><td data-attr="{_t(key)}">{_t(text)}</td></tr>'
        )
    return (
        '<table class="provenance" data-table="provenance"><caption>Provenance (the result '
        'file\'s attributes)</caption><thead><tr><th scope="col">attribute</th>'
        '<th scope="col">value</th></tr></thead><tbody>\n' + "\n".join(rows) + "\n</tbody></table>"
    )


# --- the page -----------------------------------------------------------------------------

_CSS = """
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 2em auto;
  max-width: 1200px; padding: 0 1em; color: #222; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #b2182b; padding-bottom: 0.15em;
  margin-top: 2em; }
p.facts { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0 0.3em; font-size: 0.92em; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
thead th { background: #f3e3e3; }
tbody th { text-align: left; font-weight: normal; background: #fafafa; }
td { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
span.se, span.ci { color: #777; font-size: 0.85em; }
p.note { color: #666; font-size: 0.85em; margin-top: 0; }
p.missing { color: #8a4b00; }
table.provenance td { text-align: left; white-space: normal; word-break: break-all; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
"""

# Nothing may be loaded that is not in the page: images only from data: URIs, no script.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _facts(ds: xr.Dataset) -> str:
    a = ds.attrs
    parts = []
    if "priors_name" in a:
        parts.append(f"priors {a['priors_name']}")
    elif "priors_a" in a:
        parts.append(f"priors {a['priors_b']} against {a['priors_a']}")
    if "n_paths" in a:
        parts.append(f"{int(a['n_paths']):,} paths")
    if "seed" in a:
        parts.append(f"seed {a['seed']}")
    if "threshold" in a:
        parts.append(f"shortage threshold {float(a['threshold']):.0%} occupancy")
    if "turning_point_rule" in a:
        from mcsd.plot import turning_rule_words

        parts.append(turning_rule_words(ds))
    if "created" in a:
        parts.append(f"created {a['created']}")
    return ", ".join(parts)


def report_sections(ds: xr.Dataset) -> list[tuple[str, list[str]]]:
    """The page's sections in order: (heading, HTML blocks); empty ones left out."""
    sections: list[tuple[str, list[str]]] = []
    if "diff_p_shortage" in ds or "diff_turning_point_cdf" in ds:
        sections.append(("Scenario comparison", compare_section(ds)))
    if "effective_sample_size" in ds.attrs:
        sections.append(("Observations (nowcast)", observations_section(ds)))
    pairs = prior_posterior_section(ds)
    if pairs:
        sections.append(("Prior and posterior", pairs))
    sections.append(("Summary", summary_tables(ds)))
    sections.append(("Figures", result_figures(ds)))
    sections.append(("Provenance", [provenance_table(ds)]))
    return [(h, blocks) for h, blocks in sections if blocks]


def html_report(ds: xr.Dataset) -> str:
    """The report of ``ds`` as one self-contained HTML document (a str)."""
    if not isinstance(ds, xr.Dataset):
        raise ValueError(f"html_report needs an xarray.Dataset, got {type(ds).__name__}")
    if "region" not in ds.dims or "time" not in ds.dims:
        raise ValueError("html_report needs a result with 'region' and 'time' dimensions")
    title = str(ds.attrs.get("title", "mcsd result"))
    body = [f"<h1>{_t(title)}</h1>", f'<p class="facts">{_t(_facts(ds))}</p>']
    body.append(
        '<p class="note">Probabilities in percent (one decimal), standard errors and '
        f"differences in {_PP}. Each number's full-precision value is in the page's "
        "data-value attributes.</p>"
    )
    for heading, blocks in report_sections(ds):
        body.append(f"<section><h2>{_t(heading)}</h2>")
        body.extend(blocks)
        body.append("</section>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_t(title)}</title>\n<style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write :func:`html_report` of ``ds`` to ``path`` atomically and return the path.

    The page is built first, then written to ``.<name>.<random>.tmp`` in the target's
    folder, synced and renamed over ``path``: a failure or an interruption (any exception,
    Ctrl-C) leaves an earlier file at ``path`` intact and no temporary file behind.
    """
    from mcsd.results.io import atomic_write

    data = html_report(ds).encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))
