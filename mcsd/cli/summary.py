"""The summary of a result that ``mcsd run`` prints: what each number means, with its error.

:func:`summary_frames` gives the numbers (full precision, for reuse: the CLI's csv/json
output, an HTML report); :func:`summary_text` renders them as plain-text tables of at most
:data:`WIDTH` columns; :func:`summary_csv` and :func:`summary_json` are the machine-readable
forms of ``mcsd run --format csv|json``.

Every probability is a count of paths over the path count, so its 95% Wilson interval is
exact to compute from the Dataset (``k = p x n`` is an integer). These intervals are the
Monte Carlo error *given the priors*: more paths narrow them; they say nothing about
whether the priors themselves are right.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mcsd.cli.text import safe
from mcsd.dims import REGION, YEAR

WIDTH = 100  # columns every line of the text summary fits in
STUDY_PRIORS = "cic2025"
# Below this many paths a binomial SE (or Wilson interval) says little about the error.
MIN_INFORMATIVE_PATHS = 100

# (frame column stem, Dataset variable, text label stem, text title); the label gets the
# year's last month ("Dec 2026") or the year.
YEAR_MEASURES = (
    ("p_short_year_end", "p_shortage_year_end", "P(short, {month})",
     "Short at the year end (occupancy of the year's last month >= {threshold})"),
    ("p_short_any_month", "p_shortage_any_month", "P(any month, {year})",
     "Short in at least one month of the year"),
    ("p_short_all_months", "p_shortage_all_months", "P(all months, {year})",
     "Short in every month of the year"),
    ("p_turned_by_year_end", "turning_point_cdf", "P(turn by {month})",
     "Turned by the year end (turning point at or before the year's last month)"),
)  # fmt: skip

RULE_WORDS = {
    "first_month": "the first month that starts a run of {sustain} short month(s) "
    "(rule first_month, monthly stocks)",
    "year_end": "the first December in which the region is short (rule year_end, the "
    "study's year-end reading; a partial last year does not count)",
}


# ----------------------------------------------------------------------------- numbers


def _n_paths(ds) -> int | None:
    """The path count intervals are computed at: a nowcast's effective sample size."""
    ess = ds.attrs.get("effective_sample_size")
    if ess is not None:
        try:
            return max(1, int(round(float(ess))))
        except (TypeError, ValueError):
            return None
    n = ds.attrs.get("n_paths")
    try:
        n = int(n)
    except (TypeError, ValueError):
        return None
    return n if n >= 1 else None


def _interval(p: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, se) of proportions ``p`` of ``n`` paths: Wilson 95% and binomial SE (NaN
    without a path count)."""
    p = np.asarray(p, dtype=float)
    if n is None:
        nan = np.full(p.shape, np.nan)
        return nan, nan.copy(), nan.copy()
    from mcsd.results.variables import binomial_se, wilson_interval

    k = np.rint(p * n)  # the exact count behind each probability
    lo, hi = wilson_interval(k, n)
    return lo, hi, binomial_se(k, n)


def _years(ds) -> tuple[list[int], list[int]]:
    """The calendar years of the horizon and the index of each year's last month."""
    times = pd.DatetimeIndex(ds.time.values)
    years = sorted(set(times.year))
    last = [int(np.nonzero(times.year == y)[0][-1]) for y in years]
    return years, last


def _year_end_label(ds, year: int) -> str:
    times = pd.DatetimeIndex(ds.time.values)
    return times[times.year == year][-1].strftime("%b %Y")


def _year_values(ds, var: str, years: list[int], last: list[int]) -> np.ndarray | None:
    """(R, K) values of ``var`` per region and year, or None when the result lacks it."""
    if var == "turning_point_cdf" or (var == "p_shortage_year_end" and var not in ds):
        src = "turning_point_cdf" if var == "turning_point_cdf" else "p_shortage"
        if src not in ds:
            return None
        return ds[src].transpose(REGION, "time").values[:, last]
    if var not in ds:
        return None
    return ds[var].transpose(REGION, YEAR).sel({YEAR: years}).values


def study_turning_years(threshold: float) -> dict[str, int | None]:
    """Region -> the study's turning year: the first year after its base (2024) whose
    year-end occupancy in the study's table is at or above ``threshold`` (None: not
    within the table's years)."""
    from mcsd.study import study_table

    table = study_table()
    base = 2024
    out: dict[str, int | None] = {}
    for region, rows in table.groupby("region", sort=False):
        hit = rows[(rows.year > base) & (rows.occupancy >= threshold)]
        out[str(region)] = int(hit.year.min()) if len(hit) else None
    return out


def is_study_result(ds) -> bool:
    """Whether the result is of the study's priors (by name)."""
    return ds.attrs.get("priors_name") == STUDY_PRIORS


def summary_frames(ds) -> dict[str, pd.DataFrame]:
    """The summary's numbers, full precision, from a result Dataset.

    Returns
    -------
    dict with
        ``"by_year"``: index (region, year); for each measure ``m`` of ``p_short_year_end``
        (shortage at the year's last month, December unless the horizon ends earlier),
        ``p_short_any_month``, ``p_short_all_months`` and ``p_turned_by_year_end``
        (turning point at or before the year's last month): columns ``m``, ``m_lo``,
        ``m_hi`` (95% Wilson interval) and ``m_se`` (binomial SE), all Monte Carlo errors
        given the priors; column ``year_end_month`` ("YYYY-MM"). A measure the result
        lacks is left out.
        ``"by_region"``: index region; ``median_turn`` ("YYYY-MM", the first month whose
        turning-point CDF is >= 0.5; None when later than the horizon), ``median_turn_censored``
        (bool), ``p_no_turn`` with ``_lo``, ``_hi``, ``_se``, and for the study's priors
        ``study_turn_year`` (the study's own turning year, None: not within its table).
    Region ids are as in the Dataset (not escaped).
    """
    n = _n_paths(ds)
    regions = [str(r) for r in ds[REGION].values]
    years, last = _years(ds)
    times = pd.DatetimeIndex(ds.time.values)
    index = pd.MultiIndex.from_product([regions, years], names=[REGION, YEAR])
    by_year = pd.DataFrame(index=index)
    by_year["year_end_month"] = [times[i].strftime("%Y-%m") for _ in regions for i in last]
    for stem, var, _, _ in YEAR_MEASURES:
        values = _year_values(ds, var, years, last)
        if values is None:
            continue
        lo, hi, se = _interval(values, n)
        by_year[stem] = values.ravel()
        by_year[f"{stem}_lo"] = lo.ravel()
        by_year[f"{stem}_hi"] = hi.ravel()
        by_year[f"{stem}_se"] = se.ravel()

    by_region = pd.DataFrame(index=pd.Index(regions, name=REGION))
    if "turning_point_cdf" in ds:
        cdf = ds.turning_point_cdf.transpose(REGION, "time").values
        median: list[str | None] = []
        for row in cdf:
            hit = np.nonzero(row >= 0.5)[0]
            median.append(times[hit[0]].strftime("%Y-%m") if hit.size else None)
        by_region["median_turn"] = pd.Series(median, index=by_region.index, dtype=object)
        by_region["median_turn_censored"] = [m is None for m in median]
    if "p_no_turning_point" in ds:
        p_none = ds.p_no_turning_point.sel({REGION: ds[REGION].values}).values.astype(float)
        lo, hi, se = _interval(p_none, n)
        by_region["p_no_turn"] = p_none
        by_region["p_no_turn_lo"] = lo
        by_region["p_no_turn_hi"] = hi
        by_region["p_no_turn_se"] = se
    if is_study_result(ds):
        study = study_turning_years(float(ds.attrs.get("threshold", 0.8)))
        years_ = [study.get(r) for r in regions]
        by_region["study_turn_year"] = pd.Series(years_, index=by_region.index, dtype="Int64")
    return {"by_year": by_year, "by_region": by_region}


def summary_table(ds) -> pd.DataFrame:
    """One row per region (ids escaped for printing): P(short) at each year end, median
    turning month ("after YYYY-MM (censored)" past the horizon), P(no turning point)."""
    frames = summary_frames(ds)
    by_year, by_region = frames["by_year"], frames["by_region"]
    out = pd.DataFrame(index=by_region.index)
    years, _ = _years(ds)
    if "p_short_year_end" in by_year:
        for y in years:
            label = f"P(short, {_year_end_label(ds, y)})"
            out[label] = by_year["p_short_year_end"].xs(y, level=YEAR).reindex(out.index)
    if "median_turn" in by_region:
        out["median turn"] = [_median_words(m, _horizon(ds)) for m in by_region.median_turn]
    if "p_no_turn" in by_region:
        out[f"P(no turn by {_horizon(ds)})"] = by_region["p_no_turn"]
    out.index = [safe(r) for r in out.index]  # region ids are user-supplied: no escapes
    out.index.name = REGION
    return out


# ------------------------------------------------------------------------------ text


def _horizon(ds) -> str:
    return pd.Timestamp(ds.time.values[-1]).strftime("%Y-%m")


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _median_words(median: str | None, horizon: str) -> str:
    return f"after {horizon} (censored)" if _missing(median) else str(median)


def _short_prob(x: float) -> str:
    """0.975 -> ".975"; 1 -> "1.000" (an interval bound, in 4-5 characters)."""
    text = f"{x:.3f}"
    return text[1:] if text.startswith("0.") else text


def _cell(p: float, lo: float, hi: float) -> str:
    if not math.isfinite(p):
        return "-"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{p:.3f}"
    return f"{p:.3f} [{_short_prob(lo)},{_short_prob(hi)}]"


def render_blocks(
    index_name: str,
    index: Sequence[str],
    columns: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]],
    width: int = WIDTH,
) -> list[str]:
    """Plain-text table(s): the index column, then ``columns`` (label -> cells, or (label,
    cells) pairs), split into as many tables (separated by a blank line) as keep every line
    within ``width``; cells are right-aligned."""
    left = max([len(index_name), *map(len, index)])
    pairs = columns.items() if isinstance(columns, Mapping) else columns
    items = [(label, list(cells)) for label, cells in pairs]
    widths = [max([len(label), *map(len, cells)]) for label, cells in items]
    groups: list[list[int]] = []
    used = left
    for i, w in enumerate(widths):
        if not groups or used + 2 + w > width:
            groups.append([])
            used = left
        groups[-1].append(i)
        used += 2 + w
    lines: list[str] = []
    for g, group in enumerate(groups or [[]]):
        if g:
            lines.append("")
        head = index_name.ljust(left) + "".join("  " + items[i][0].rjust(widths[i]) for i in group)
        lines.append(head.rstrip())
        for r, name in enumerate(index):
            row = name.ljust(left) + "".join("  " + items[i][1][r].rjust(widths[i]) for i in group)
            lines.append(row.rstrip())
    return lines


def _wrap(text: str, width: int = WIDTH, indent: str = "  ") -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, subsequent_indent=indent, break_on_hyphens=False)


def rule_words(ds) -> str:
    """The turning-point rule of the result, in words."""
    rule = str(ds.attrs.get("turning_point_rule", "first_month"))
    sustain = ds.attrs.get("sustain_months", 1)
    words = RULE_WORDS.get(rule)
    if words is None:
        return f"rule {safe(rule)}"
    return words.format(sustain=sustain)


def error_note_text(ds) -> str:
    """What the brackets are: Monte Carlo error given the priors, not the priors' own."""
    n = _n_paths(ds)
    if n is None:
        return "No path count in this result: no Monte Carlo intervals."
    paths = f"{n:,} paths"
    if ds.attrs.get("effective_sample_size") is not None:
        paths = (
            f"an effective sample size of {n:,} (Kish) of the {ds.attrs.get('n_paths', 0):,} "
            "paths weighted by the observations"
        )
    text = (
        f"[lo,hi]: 95% Wilson interval of the Monte Carlo error with {paths}, given the "
        "priors. More paths narrow it; it is not the uncertainty of the priors themselves "
        "(other priors move the numbers: compare scenarios for that)."
    )
    if n < MIN_INFORMATIVE_PATHS:
        text += (
            f" With only {n:,} paths the standard errors and intervals are not informative: "
            f"run {MIN_INFORMATIVE_PATHS * 100:,} paths or more."
        )
    return text


def nowcast_note(ds) -> list[str]:
    """What a nowcast result is conditioned on, and its ESS warning (none otherwise)."""
    if ds.attrs.get("effective_sample_size") is None:
        return []
    n_obs = ds.sizes.get("observation", 0)
    n_facts = ds.sizes.get("fact", 0)
    lines = _wrap(
        f"Nowcast: conditioned on observations {safe(str(ds.attrs.get('observations', '')))} "
        f"({n_obs} measurement(s), {n_facts} project fact(s)); effective sample size "
        f"{float(ds.attrs['effective_sample_size']):,.0f} of {ds.attrs.get('n_paths', 0):,} "
        "paths."
    )
    warning = ds.attrs.get("nowcast_warning")
    if warning:
        lines += _wrap(f"WARNING: {safe(str(warning))}.")
    return lines


def prior_posterior_block(ds, regions: list[str], years: list[int]) -> list[str]:
    """A nowcast's year-end P(short), prior -> conditioned, per region and year (none for
    other results)."""
    if "p_shortage_year_end_prior" not in ds or "p_shortage_year_end" not in ds:
        return []
    prior = ds["p_shortage_year_end_prior"].sel(year=years).values
    post = ds["p_shortage_year_end"].sel(year=years).values
    cols = {
        str(y): [f"{a:.3f} -> {b:.3f}" for a, b in zip(prior[:, k], post[:, k], strict=True)]
        for k, y in enumerate(years)
    }
    head = "P(short at the year end), prior (no observations) -> conditioned on them:"
    return ["", *_wrap(head), *render_blocks(REGION, regions, cols)]


def error_note(ds) -> list[str]:
    """:func:`error_note_text` wrapped to :data:`WIDTH` columns."""
    return _wrap(error_note_text(ds))


def summary_text(ds, title: str | None = None) -> list[str]:
    """The text summary of ``mcsd run``: lines of at most :data:`WIDTH` columns."""
    frames = summary_frames(ds)
    by_year, by_region = frames["by_year"], frames["by_region"]
    regions = [safe(r) for r in by_region.index]
    threshold = ds.attrs.get("threshold")
    years, _ = _years(ds)
    horizon = _horizon(ds)
    lines: list[str] = [] if title is None else _wrap(title)
    shown = f"{float(threshold):g}" if threshold is not None else "the threshold"
    lines += _wrap(f"Short: occupancy (served demand / supply) >= {shown}.")
    lines += _wrap(f"Turning point: {rule_words(ds)}.")
    lines += nowcast_note(ds)
    lines += error_note(ds)
    for stem, _, label, heading in YEAR_MEASURES:
        if stem not in by_year:
            continue
        cols: dict[str, list[str]] = {}
        for y in years:
            rows = by_year.xs(y, level=YEAR).reindex(by_region.index)
            name = label.format(month=_year_end_label(ds, y), year=y)
            cols[name] = [
                _cell(p, lo, hi)
                for p, lo, hi in zip(
                    rows[stem], rows[f"{stem}_lo"], rows[f"{stem}_hi"], strict=True
                )
            ]
        lines += ["", *_wrap(heading.format(threshold=shown) + ":")]
        lines += render_blocks(REGION, regions, cols)
    lines += prior_posterior_block(ds, regions, years)
    cols = {}
    if "median_turn" in by_region:
        cols["median turn"] = [_median_words(m, horizon) for m in by_region.median_turn]
    if "study_turn_year" in by_region:
        last_year = years[-1]
        cols["study's year"] = [
            f"not by {last_year}" if pd.isna(y) else str(int(y)) for y in by_region.study_turn_year
        ]
    if "p_no_turn" in by_region:
        cols[f"P(no turn by {horizon})"] = [
            _cell(p, lo, hi)
            for p, lo, hi in zip(
                by_region.p_no_turn, by_region.p_no_turn_lo, by_region.p_no_turn_hi, strict=True
            )
        ]
    if cols:
        lines += ["", *_wrap("Turning point (median: the first month with P(turned) >= 0.5):")]
        lines += render_blocks(REGION, regions, cols)
    return lines


# ------------------------------------------------------------------ machine-readable


def _flat(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (region, year): the year columns, then the region's columns."""
    by_year, by_region = frames["by_year"], frames["by_region"]
    flat = by_year.reset_index()
    return flat.merge(by_region.reset_index(), on=REGION, how="left", sort=False)


def summary_csv(ds) -> str:
    """``mcsd run --format csv``: one row per (region, year), full precision (floats as
    their shortest round-trip repr); the region's columns repeat on each of its rows.
    Region ids go through :func:`mcsd.cli.text.safe` (JSON escapes them by itself)."""
    flat = _flat(summary_frames(ds))
    flat[REGION] = [safe(r) for r in flat[REGION]]  # user-supplied ids: no terminal escapes
    return flat.to_csv(index=False, lineterminator="\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if value is None or isinstance(value, (str, int)):
        return value
    if pd.isna(value):
        return None
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    flat = frame.reset_index()
    return [
        {str(k): _jsonable(v) for k, v in zip(flat.columns, row, strict=True)}
        for row in flat.itertuples(index=False, name=None)
    ]


def summary_json(ds) -> str:
    """``mcsd run --format json``: ``{"run": attrs, "turning_point_rule": words,
    "note": ..., "by_year": [...], "by_region": [...]}`` (records of
    :func:`summary_frames`; floats exact, NaN as null)."""
    frames = summary_frames(ds)
    doc = {
        "run": {str(k): _jsonable(v) for k, v in ds.attrs.items()},
        "turning_point_rule": rule_words(ds),
        "note": error_note_text(ds),
        "by_year": _records(frames["by_year"]),
        "by_region": _records(frames["by_region"]),
    }
    return json.dumps(doc, indent=1, ensure_ascii=True, allow_nan=False)
