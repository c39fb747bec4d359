"""The result Dataset, built from the registry of result variables (``variables``).

Dimension names come from ``mcsd.dims``; every dimension has an index coordinate; every
variable carries ``long_name`` and ``units``; the dataset carries provenance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from mcsd.dims import LEVEL, NATIONAL, PATH, QUANTILE, REGION, REGION_NAME, TIME, YEAR
from mcsd.priors.model import Priors
from mcsd.results.io import format_attrs
from mcsd.results.variables import PATH_VARS, RESULT_VARIABLES, VARIABLES, Finals

_COORD_NAMES = {
    REGION: "region (national = sum over regions)",
    TIME: "month end",
    YEAR: "calendar year",
    QUANTILE: "quantile over paths",
    LEVEL: "occupancy level",
}
_REGION_NAME_TEXT = "region display name (from the priors)"


def region_names(priors: Priors) -> list[str]:
    """The region coordinate: the priors' region ids, then ``national``."""
    return [*priors.region_ids, NATIONAL]


def region_display_names(priors: Priors) -> list[str]:
    """The ``region_name`` coordinate: each region's ``name`` from the priors (its id when
    it has none), then "national"."""
    return [*(r.name or r.id for r in priors.regions), NATIONAL]


def with_region_names(ds: xr.Dataset, priors: Priors) -> xr.Dataset:
    """``ds`` with the ``region_name`` coordinate on its region dimension."""
    names = np.array(region_display_names(priors), dtype=object)
    ds = ds.assign_coords({REGION_NAME: _variable((REGION,), names)})
    ds[REGION_NAME].attrs["long_name"] = _REGION_NAME_TEXT
    return ds


def _variable(
    dims: tuple[str, ...], data: np.ndarray, attrs: dict[str, object] | None = None
) -> xr.Variable:
    """A Variable of a plain numpy array, as is: xarray's general conversion (and its
    index building from arrays) checks for dask arrays, which imports dask (~0.4 s) on a
    machine that has it; mcsd's results never need it."""
    return xr.Variable(dims, np.asarray(data), attrs, fastpath=True)


def coordinates(priors: Priors, quantiles: np.ndarray, levels: np.ndarray) -> dict:
    """Index coordinates of a result (pandas indexes, as xarray would make them)."""
    return {
        REGION: pd.Index(region_names(priors), dtype=object, name=REGION),
        TIME: pd.DatetimeIndex(priors.month_ends, name=TIME),
        YEAR: pd.Index(np.array(priors.calendar_years, dtype=np.int64), name=YEAR),
        QUANTILE: pd.Index(np.asarray(quantiles, dtype=np.float64), name=QUANTILE),
        LEVEL: pd.Index(np.asarray(levels, dtype=np.float64), name=LEVEL),
    }


def build_dataset(
    priors: Priors,
    finals: Finals,
    attrs: dict[str, object],
    kept: tuple[np.ndarray, np.ndarray] | None = None,
) -> xr.Dataset:
    """The result Dataset: every row of ``RESULT_VARIABLES`` finalized (national last on
    the region axis), the per-path cubes of ``kept`` (vals (n, 4, R1, T), turning months
    (n, R1)) when given, and ``attrs`` (provenance) with the format marker."""
    data_vars = {}
    for v in RESULT_VARIABLES:
        var_attrs: dict[str, object] = {"long_name": v.long_name, "units": v.units}
        if v.quantile_error is not None:
            var_attrs["max_quantile_error"] = v.quantile_error(finals.spec)
        data_vars[v.name] = _variable(v.dims, v.finalize(finals), var_attrs)
    # one constructor call with every variable, coordinate and attribute: each later
    # assign_coords or ds[name] access rebuilds indexes or a DataArray (~0.2 ms apiece)
    coords: dict[str, object] = {}
    for dim, index in coordinates(priors, finals.quantiles, finals.levels).items():
        coords[dim] = xr.Variable(dim, index, {"long_name": _COORD_NAMES[dim]})
    if kept is None:  # (with paths: region_name after path, as it always was)
        names = np.array(region_display_names(priors), dtype=object)
        coords[REGION_NAME] = _variable((REGION,), names, {"long_name": _REGION_NAME_TEXT})
    ds_attrs = {**format_attrs("simulate"), **attrs}
    ds_attrs.setdefault("Conventions", "CF-1.8")
    ds = xr.Dataset(data_vars, coords=coords, attrs=ds_attrs)
    if kept is not None:
        ds = with_region_names(with_paths(ds, *kept), priors)
    return ds


def with_paths(ds: xr.Dataset, vals: np.ndarray, turn: np.ndarray) -> xr.Dataset:
    """``ds`` with the per-path cubes (dim ``path``)."""
    ds = ds.assign_coords({PATH: np.arange(vals.shape[0], dtype=np.int64)})
    for v, name in enumerate(PATH_VARS):
        ds[f"{name}_path"] = ((PATH, REGION, TIME), vals[:, v])
        ds[f"{name}_path"].attrs.update(
            long_name=f"{VARIABLES[name].long_name.split(',')[0]}, per path",
            units=VARIABLES[name].units,
        )
    ds["turning_month_path"] = ((PATH, REGION), turn)
    ds["turning_month_path"].attrs.update(
        long_name="turning-point month per path (1 = first month after the base; 0 = none)",
        units="1",
    )
    return ds
