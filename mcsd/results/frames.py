"""Tidy tables of a result Dataset (``to_frames``) and their CSV / XLSX export.

``Dataset.to_dataframe()`` broadcasts every variable to the union of all dims (tens of
millions of rows for one ``simulate`` result). :func:`to_frames` instead gives one long
table per set of dims, named by its dims joined with ``_`` (``region_time``,
``region_time_quantile``, ``region_year``, ``region``, ``path_region_time``,
``group_region_year``, ...; ``scalars`` for 0-d variables): the dims' coordinates first, then
one column per variable with exactly those dims, one row per cell (rows = product of the dim
sizes). Column names are the variable names; units and long names are rows of the
``provenance`` table. Two more tables:

- ``summary_year_end`` (a Dataset with ``region`` and ``time``): one row per region and
  calendar year, at the year's last month in the horizon (December unless the horizon ends
  earlier). For a ``simulate`` result: P(short at year end) and its SE, P(short in any
  month) and P(short in every month) of the year with SEs, P(turning point by the year end)
  with its binomial SE, and the median occupancy at the year end (the 0.5 quantile; the
  column is left out when the result has no 0.5 quantile). For other Datasets over
  (region, time), e.g. ``compare``: every (region, time) variable at each year end. A
  Dataset without a time axis (``sensitivity``: its tables are already per year) has none.
- ``provenance``: columns ``kind``, ``name``, ``value`` (text): ``attribute`` rows (the
  Dataset's attributes: mcsd version, seed, n_paths, priors name and sha256, turning-point
  rule, threshold first), ``export`` rows, then ``units`` and ``long_name`` rows for every
  column of every table.

Per-path cubes (``keep_paths``, dim ``path``) are exported by default as tables
``path_region_time`` and ``path_region``; ``paths=False`` leaves them out (an ``export`` row
of the provenance table says which). An XLSX sheet holds at most 1,048,575 data rows: a
table larger than that is refused (``ValueError``) before anything is written.

Files are written atomically, each on its own: a temporary file in the target's folder,
synced and renamed over the target; a failure or interrupt leaves any earlier file intact
and no temporary file behind. Floats are written with the shortest text that reads back to
the same float (CSV), or as the float itself (XLSX), so every number round-trips exactly.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from mcsd._version import __version__
from mcsd.dims import GROUP, LEVEL, PATH, QUANTILE, REGION, TIME, YEAR

SUMMARY = "summary_year_end"
PROVENANCE = "provenance"
SCALARS = "scalars"
# the order of dims within a table's name and columns (others follow, in the Dataset's order)
DIM_ORDER = (PATH, GROUP, REGION, TIME, YEAR, QUANTILE, LEVEL)
# attributes listed first in the provenance table, when present
FIRST_ATTRS = (
    "mcsd_version",
    "seed",
    "n_paths",
    "priors_name",
    "priors_sha256",
    "priors_a",
    "priors_a_sha256",
    "priors_b",
    "priors_b_sha256",
    "turning_point_rule",
    "threshold",
    "threshold_a",
    "threshold_b",
)
XLSX_MAX_ROWS = 1_048_575  # data rows of one sheet (1,048,576 rows, one for the header)
XLSX_HINT = "pip install mcsd[xlsx]"
_SUMMARY_TEXT = {
    "year_end": ("the year's last month in the horizon (December unless it ends earlier)", ""),
    "p_turning_by_year_end": (
        "probability that the turning point is at or before the year's last month",
        "1",
    ),
    "p_turning_by_year_end_se": (
        "Monte Carlo standard error of p_turning_by_year_end (binomial)",
        "1",
    ),
    "occupancy_median_year_end": (
        "median occupancy at the year's last month (the 0.5 quantile over paths)",
        "1",
    ),
}
_YEAR_VARS = (
    "p_shortage_year_end",
    "p_shortage_year_end_se",
    "p_shortage_any_month",
    "p_shortage_any_month_se",
    "p_shortage_all_months",
    "p_shortage_all_months_se",
)


class XlsxUnavailable(ImportError):
    """XLSX export needs the optional package openpyxl."""


# ---- tables ------------------------------------------------------------------------------


def _variables(ds: xr.Dataset) -> list[str]:
    """Data variables, then coordinates that are not a dim's index, in the Dataset's order."""
    return [*map(str, ds.data_vars), *(str(c) for c in ds.coords if c not in ds.dims)]


def _canonical(ds: xr.Dataset, dims: Iterable[Hashable]) -> tuple[str, ...]:
    order = {d: i for i, d in enumerate(DIM_ORDER)}
    rest = {d: len(DIM_ORDER) + i for i, d in enumerate(map(str, ds.dims))}
    return tuple(sorted(map(str, dims), key=lambda d: order.get(d, rest.get(d, 1 << 30))))


def _groups(ds: xr.Dataset, paths: bool = True) -> dict[str, tuple[tuple[str, ...], list[str]]]:
    """Table name -> (dims, variables), tables in the order of their first variable."""
    by_dims: dict[tuple[str, ...], list[str]] = {}
    for name in _variables(ds):
        dims = _canonical(ds, ds[name].dims)
        if not paths and PATH in dims:
            continue
        by_dims.setdefault(dims, []).append(name)
    out: dict[str, tuple[tuple[str, ...], list[str]]] = {}
    for dims, names in by_dims.items():
        base = "_".join(dims) or SCALARS
        key, k = base, 1
        while key in out or key in (SUMMARY, PROVENANCE):
            k += 1
            key = f"{base}_{k}"
        out[key] = (dims, names)
    return out


def table_rows(ds: xr.Dataset, *, paths: bool = True) -> dict[str, int]:
    """Rows of each data table of :func:`to_frames` (the product of its dim sizes), without
    building them (for checks before any work)."""
    return {
        name: math.prod(int(ds.sizes[d]) for d in dims)
        for name, (dims, _) in _groups(ds, paths).items()
    }


def _coord(ds: xr.Dataset, dim: str) -> np.ndarray:
    if dim in ds.coords:
        return np.asarray(ds[dim].values)
    return np.arange(int(ds.sizes[dim]), dtype=np.int64)


def _table(ds: xr.Dataset, dims: tuple[str, ...], names: list[str]) -> pd.DataFrame:
    shape = tuple(int(ds.sizes[d]) for d in dims)
    cells = math.prod(shape)
    columns: dict[str, np.ndarray] = {}
    for i, dim in enumerate(dims):
        outer, inner = math.prod(shape[:i]), math.prod(shape[i + 1 :])
        columns[dim] = np.tile(np.repeat(_coord(ds, dim), inner), outer)
    for name in names:
        values = np.asarray(ds[name].transpose(*dims).values).reshape(cells)
        columns[name] = values
    return pd.DataFrame(columns, index=pd.RangeIndex(cells))


def _year_ends(ds: xr.Dataset, years: np.ndarray) -> np.ndarray | None:
    """Index on ``time`` of each year's last month, or None if a year has no month."""
    time_years = pd.DatetimeIndex(ds[TIME].values).year.to_numpy()
    idx = []
    for y in years:
        hits = np.nonzero(time_years == int(y))[0]
        if hits.size == 0:
            return None
        idx.append(int(hits[-1]))
    return np.asarray(idx, dtype=np.int64)


def year_end_summary(ds: xr.Dataset) -> pd.DataFrame | None:
    """The ``summary_year_end`` table (module doc), or None for a Dataset without
    ``region`` and ``time`` dims (``time`` of dates; ``year``, if any, of integers)."""
    if REGION not in ds.dims or TIME not in ds.dims or TIME not in ds.coords:
        return None
    if ds[TIME].dtype.kind != "M":
        return None
    if YEAR in ds.dims and (YEAR not in ds.coords or ds[YEAR].dtype.kind not in "iu"):
        return None
    regions = _coord(ds, REGION)
    if YEAR in ds.dims:
        years = np.asarray(ds[YEAR].values)
    else:
        years = np.unique(pd.DatetimeIndex(ds[TIME].values).year.to_numpy())
    ends = _year_ends(ds, years)
    if ends is None:
        return None
    n_r, n_y = regions.size, years.size
    cols: dict[str, np.ndarray] = {
        REGION: np.repeat(regions, n_y),
        YEAR: np.tile(years, n_r),
        "year_end": np.tile(np.asarray(ds[TIME].values)[ends], n_r),
    }

    def at_ends(name: str) -> np.ndarray:
        v = ds[name].transpose(REGION, TIME).values
        return np.asarray(v)[:, ends].reshape(n_r * n_y)

    rt = [n for n in _variables(ds) if _canonical(ds, ds[n].dims) == (REGION, TIME)]
    if "p_shortage_year_end" not in ds:  # compare and the like: their (region, time) cells
        for name in rt:
            cols[name] = at_ends(name)
        return pd.DataFrame(cols) if rt else None
    for name in _YEAR_VARS:
        if name in ds and _canonical(ds, ds[name].dims) == (REGION, YEAR):
            cols[name] = np.asarray(ds[name].transpose(REGION, YEAR).values).reshape(n_r * n_y)
    if "turning_point_cdf" in rt:
        p = at_ends("turning_point_cdf")
        cols["p_turning_by_year_end"] = p
        n = _n_paths(ds)
        if n is not None:
            cols["p_turning_by_year_end_se"] = np.sqrt(p * (1.0 - p) / n)
    if "occupancy" in ds and QUANTILE in ds["occupancy"].dims and QUANTILE in ds.coords:
        q = np.asarray(ds[QUANTILE].values, dtype=np.float64)
        hit = np.nonzero(np.isclose(q, 0.5, rtol=0.0, atol=1e-9))[0]
        if hit.size:
            occ = ds["occupancy"].isel({QUANTILE: int(hit[0])}).transpose(REGION, TIME)
            cols["occupancy_median_year_end"] = np.asarray(occ.values)[:, ends].reshape(n_r * n_y)
    return pd.DataFrame(cols)


def _n_paths(ds: xr.Dataset) -> int | None:
    try:
        n = int(ds.attrs["n_paths"])
    except (KeyError, TypeError, ValueError):
        return None
    return n if n > 0 else None


def _text(value: object) -> str:
    """An attribute as text: floats with their shortest round-trip repr; sequences as JSON."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return json.dumps([v if isinstance(v, (int, float, str, bool)) else str(v) for v in value])
    return str(value)


def provenance_table(
    ds: xr.Dataset, tables: dict[str, pd.DataFrame], *, paths: bool = True
) -> pd.DataFrame:
    """The ``provenance`` table (module doc) of ``ds`` and its exported ``tables``."""
    rows: list[tuple[str, str, str]] = []
    attrs = {str(k): v for k, v in ds.attrs.items()}
    for key in [
        *(k for k in FIRST_ATTRS if k in attrs),
        *(k for k in attrs if k not in FIRST_ATTRS),
    ]:
        rows.append(("attribute", key, _text(attrs[key])))
    rows.append(("export", "exported_by_mcsd_version", __version__))
    if PATH in ds.dims:
        state = "included" if paths else "left out (paths=False / --no-paths)"
        rows.append(("export", "path_tables", state))
    units: list[tuple[str, str, str]] = []
    names: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for frame in tables.values():
        for col in map(str, frame.columns):
            if col in seen:
                continue
            seen.add(col)
            if col in ds.variables:
                a = ds[col].attrs
                unit, long_name = a.get("units"), a.get("long_name")
            else:
                long_name, unit = _SUMMARY_TEXT.get(col, (None, None))
            if unit:
                units.append(("units", col, _text(unit)))
            if long_name:
                names.append(("long_name", col, _text(long_name)))
    rows += units + names
    return pd.DataFrame(rows, columns=["kind", "name", "value"], dtype=object)


def to_frames(ds: xr.Dataset, *, paths: bool = True) -> dict[str, pd.DataFrame]:
    """Tidy tables of ``ds``: one per set of dims, ``summary_year_end`` (when ``ds`` has
    region and time) and ``provenance``; see the module doc. ``paths=False`` leaves out the
    per-path tables of a ``keep_paths`` result."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"to_frames needs an xarray.Dataset, got {type(ds).__name__}")
    frames = {name: _table(ds, dims, names) for name, (dims, names) in _groups(ds, paths).items()}
    summary = year_end_summary(ds)
    if summary is not None:
        frames[SUMMARY] = summary
    frames[PROVENANCE] = provenance_table(ds, frames, paths=paths)
    return frames


def table_names(ds: xr.Dataset, *, paths: bool = True) -> list[str]:
    """Names of the tables :func:`to_frames` returns, in order (without building them)."""
    names = list(_groups(ds, paths))
    if year_end_summary_possible(ds):
        names.append(SUMMARY)
    return [*names, PROVENANCE]


def year_end_summary_possible(ds: xr.Dataset) -> bool:
    """Whether :func:`to_frames` has a ``summary_year_end`` table for ``ds``."""
    return year_end_summary(ds) is not None


# ---- files -------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def file_name(table: str, suffix: str = ".csv") -> str:
    """The CSV file name of a table (characters other than letters, digits, ``_.-``
    replaced by ``_``)."""
    return _UNSAFE_NAME.sub("_", table).lstrip(".") + suffix


def csv_paths(ds: xr.Dataset, folder: str | os.PathLike, *, paths: bool = True) -> list[Path]:
    """The files :func:`write_csv` writes into ``folder``, in order."""
    return [Path(folder) / file_name(t) for t in table_names(ds, paths=paths)]


def _atomic(target: Path, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary path)``, sync it and rename it over ``target``; on any error
    or interrupt remove the temporary file and leave ``target`` as it was."""
    from mcsd.results.io import atomic_replace

    try:
        return atomic_replace(target, write)
    except OSError as exc:  # name the target, not the temporary file
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(target)) from exc


def write_csv(
    ds: xr.Dataset | dict[str, pd.DataFrame], folder: str | os.PathLike, *, paths: bool = True
) -> list[Path]:
    """Write each table of ``to_frames(ds)`` to ``folder/<table>.csv`` (UTF-8, a header
    row, no index; floats in shortest round-trip form); return the paths. ``folder`` must
    exist (never created). Each file is written atomically (module doc). ``ds`` may also be
    the dict :func:`to_frames` returned."""
    frames = ds if isinstance(ds, dict) else to_frames(ds, paths=paths)
    out = []
    for name, frame in frames.items():

        def write(tmp: str, frame: pd.DataFrame = frame) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                frame.to_csv(handle, index=False, lineterminator="\n")

        out.append(_atomic(Path(folder) / file_name(name), write))
    return out


def _openpyxl():
    try:
        import openpyxl
    except ImportError:
        raise XlsxUnavailable(
            f"XLSX export needs the optional package openpyxl: {XLSX_HINT}"
        ) from None
    return openpyxl


def check_xlsx_rows(
    rows: dict[str, int],
    path_hint: str = "leave the per-path tables out (paths=False)",
    csv_hint: str = "write CSV",
) -> None:
    """``ValueError`` naming the first table too large for one XLSX sheet, with what to do
    instead (``path_hint`` for a per-path table, ``csv_hint``)."""
    for name, n in rows.items():
        if n > XLSX_MAX_ROWS:
            hint = f"{path_hint} or " if name.startswith(PATH) else ""
            raise ValueError(
                f"table {name} has {n:,} rows, more than an XLSX sheet holds "
                f"({XLSX_MAX_ROWS:,}): {hint}{csv_hint}"
            )


def _sheet_names(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        base = re.sub(r"[\[\]:*?/\\']", "_", name)[:31] or "sheet"
        key, k = base, 1
        while key.lower() in (s.lower() for s in out):
            k += 1
            key = f"{base[: 31 - len(str(k)) - 1]}_{k}"
        out.append(key)
    return out


def _number(value: float | int, make):
    """``value`` as openpyxl writes it when that text reads back to the same number, else
    a cell holding its shortest round-trip text (openpyxl writes numbers with ``%.16g``,
    one digit short of what every float64 needs)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None if math.isnan(value) else str(value)  # as pandas writes them
        if float(f"{value:.16g}") == value:
            return value
        text = repr(value)
    elif isinstance(value, bool) or abs(value) < 10**15:
        return value
    else:
        text = str(value)
    cell = make(None)
    cell._value = text  # a numeric cell ("n") whose text is written as it is
    cell.data_type = "n"
    return cell


def _cells(column: pd.Series, make, illegal: re.Pattern[str]) -> list:
    """A column as openpyxl cell values: numbers exact (:func:`_number`; NaN empty, +-inf
    as text), datetimes as datetime, text never read as a formula nor holding characters
    XML cannot (escaped as ``mcsd.cli.text.safe`` does)."""
    values = column.to_numpy()
    kind = values.dtype.kind
    if kind == "M":
        return [None if pd.isna(v) else v for v in pd.DatetimeIndex(values).to_pydatetime()]
    if kind in "fiu":
        return [_number(v, make) for v in values.tolist()]
    if kind == "b":
        return values.tolist()
    out = []
    for v in values.tolist():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (float, int)):
            v = _number(v, make)
        elif isinstance(v, str):
            if illegal.search(v):
                from mcsd.cli.text import safe

                v = illegal.sub(lambda m: safe(m.group()), v)
            if v.startswith("="):
                cell = make(v)
                cell.data_type = "s"  # text, not a formula
                v = cell
        elif v is not None:
            v = str(v)
        out.append(v)
    return out


def write_xlsx(
    ds: xr.Dataset | dict[str, pd.DataFrame], path: str | os.PathLike, *, paths: bool = True
) -> Path:
    """Write the tables of ``to_frames(ds)`` to one XLSX workbook, a sheet per table (a
    header row; names cut to Excel's 31 characters), atomically. Needs openpyxl
    (``XlsxUnavailable`` otherwise); ``ValueError`` if a table exceeds a sheet's rows."""
    openpyxl = _openpyxl()
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(ds, dict):
        frames = ds
    else:
        check_xlsx_rows(table_rows(ds, paths=paths))
        frames = to_frames(ds, paths=paths)
    check_xlsx_rows({name: len(frame) for name, frame in frames.items()})

    def write(tmp: str) -> None:
        book = openpyxl.Workbook(write_only=True)
        for sheet_name, frame in zip(_sheet_names(frames), frames.values(), strict=True):
            sheet = book.create_sheet(title=sheet_name)
            make = lambda v, sheet=sheet: WriteOnlyCell(sheet, value=v)  # noqa: E731
            header = pd.Series([str(c) for c in frame.columns], dtype=object)
            sheet.append(_cells(header, make, ILLEGAL_CHARACTERS_RE))
            columns = [_cells(frame[c], make, ILLEGAL_CHARACTERS_RE) for c in frame.columns]
            for row in zip(*columns, strict=True):
                sheet.append(row)
        book.save(tmp)

    return _atomic(Path(path), write)
