"""Results: the xarray Dataset (names, dims, units, provenance) and its netCDF IO.

Dimension names live here and mean the same everywhere: ``path``, ``region``, ``time``,
``quantile``, ``level``. ``region`` holds the priors' regions in file order, then
``national``. Attributes describe; they never drive computation.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from mcsd.priors_model import Priors

NATIONAL = "national"
RESULT_FORMAT = "mcsd-result"
RESULT_FORMAT_VERSION = 1
DEFAULT_QUANTILES = np.round(np.arange(1, 20) * 0.05, 2)
DEFAULT_LEVELS = np.round(np.arange(10, 21) * 0.05, 2)

VARIABLE_ATTRS: dict[str, tuple[str, str]] = {
    "occupancy": ("occupancy (served demand / supply), quantiles over paths", "1"),
    "demand": ("served demand stock, quantiles over paths", "MW"),
    "supply": ("supply stock in operation, quantiles over paths", "MW"),
    "unmet_demand": ("requested minus served demand, quantiles over paths", "MW"),
    "occupancy_exceedance": ("probability that occupancy >= level", "1"),
    "occupancy_mean": ("mean occupancy over paths", "1"),
    "p_shortage": ("probability of shortage (occupancy >= threshold)", "1"),
    "p_shortage_se": ("Monte Carlo standard error of p_shortage (binomial)", "1"),
    "p_shortage_lo": ("Wilson 95% interval, lower bound of p_shortage", "1"),
    "p_shortage_hi": ("Wilson 95% interval, upper bound of p_shortage", "1"),
    "turning_point_cdf": ("probability that the price turning point is at or before t", "1"),
    "p_no_turning_point": ("probability of no turning point by the horizon (censored)", "1"),
    "in_shortage_at_base": ("region already at or above the threshold at the base", "1"),
}
QUANTILE_VARS = ("occupancy", "demand", "supply", "unmet_demand")
PATH_VARS = ("occupancy", "demand", "supply", "unmet_demand")


class ResultFileError(ValueError):
    """A result file that mcsd cannot read (not an mcsd result, or an incompatible one)."""


def region_names(priors: Priors) -> list[str]:
    return [*priors.region_ids, NATIONAL]


def _variable(dims: tuple[str, ...], data: np.ndarray) -> xr.Variable:
    """A Variable of a plain numpy array, as is: xarray's general conversion (and its
    index building from arrays) checks for dask arrays, which imports dask (~0.4 s) on a
    machine that has it; mcsd's results never need it."""
    return xr.Variable(dims, np.asarray(data), fastpath=True)


def build_dataset(
    priors: Priors,
    arrays: dict[str, np.ndarray],
    in_shortage_at_base: np.ndarray,
    quantiles: np.ndarray,
    levels: np.ndarray,
    attrs: dict[str, object],
    kept: tuple[np.ndarray, np.ndarray] | None = None,
) -> xr.Dataset:
    """Assemble the result Dataset from finalized accumulator arrays (national last)."""
    # pandas indexes, as xarray would make them (it takes them as they are)
    coords = {
        "region": pd.Index(region_names(priors), dtype=object, name="region"),
        "time": pd.DatetimeIndex(priors.month_ends, name="time"),
        "quantile": pd.Index(np.asarray(quantiles, dtype=np.float64), name="quantile"),
        "level": pd.Index(np.asarray(levels, dtype=np.float64), name="level"),
    }
    rt = ("region", "time")
    data_vars: dict[str, xr.Variable] = {}
    for name in QUANTILE_VARS:
        data_vars[name] = _variable(("region", "time", "quantile"), arrays[name])
    data_vars["occupancy_exceedance"] = _variable(
        ("region", "time", "level"), arrays["occupancy_exceedance"]
    )
    for name in (
        "occupancy_mean",
        "p_shortage",
        "p_shortage_se",
        "p_shortage_lo",
        "p_shortage_hi",
        "turning_point_cdf",
    ):
        data_vars[name] = _variable(rt, arrays[name])
    data_vars["p_no_turning_point"] = _variable(("region",), arrays["p_no_turning_point"])
    data_vars["in_shortage_at_base"] = _variable(("region",), np.asarray(in_shortage_at_base, bool))
    ds = xr.Dataset(data_vars, coords=coords)
    if kept is not None:
        vals, turn = kept
        ds = ds.assign_coords(path=np.arange(vals.shape[0], dtype=np.int64))
        for v, name in enumerate(PATH_VARS):
            ds[f"{name}_path"] = (("path", "region", "time"), vals[:, v])
            ds[f"{name}_path"].attrs.update(
                long_name=f"{VARIABLE_ATTRS[name][0].split(',')[0]}, per path",
                units=VARIABLE_ATTRS[name][1],
            )
        ds["turning_month_path"] = (("path", "region"), turn)
        ds["turning_month_path"].attrs.update(
            long_name="turning-point month per path (1 = first month after the base; 0 = none)",
            units="1",
        )
    for name, (long_name, units) in VARIABLE_ATTRS.items():
        ds[name].attrs.update(long_name=long_name, units=units)
    ds["region"].attrs["long_name"] = "region (national = sum over regions)"
    ds["time"].attrs["long_name"] = "month end"
    ds["quantile"].attrs["long_name"] = "quantile over paths"
    ds["level"].attrs["long_name"] = "occupancy level"
    ds.attrs.update(
        {
            "title": f"mcsd result for priors {priors.name}",
            "mcsd_format": RESULT_FORMAT,
            "mcsd_format_version": RESULT_FORMAT_VERSION,
            "priors_name": priors.name,
            "priors_sha256": priors.sha256,
            "threshold": priors.threshold,
            "max_occupancy": priors.max_occupancy,
            "sustain_months": priors.sustain_months,
            "base_month": priors.base_month,
            "horizon_month": priors.horizon_month,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "Conventions": "CF-1.8",
            **attrs,
        }
    )
    return ds


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file in the same folder, then rename.

    A run killed mid-write leaves any earlier file at ``path`` intact.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        # mkstemp makes the file private (0600); give it the permissions a plain write would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_result(path: str | os.PathLike) -> xr.Dataset:
    """Open an mcsd result file; ``ResultFileError`` if it is not one this version reads."""
    p = Path(path)
    if not p.is_file():
        raise ResultFileError(f"{p}: no such result file")
    try:
        ds = xr.open_dataset(p, engine="h5netcdf").load()
    except Exception as exc:  # noqa: BLE001 - any reader failure means "not a result file"
        raise ResultFileError(f"{p}: not a readable netCDF file ({type(exc).__name__})") from None
    if ds.attrs.get("mcsd_format") != RESULT_FORMAT:
        raise ResultFileError(f"{p}: not an mcsd result file (no mcsd_format attribute)")
    try:
        version = int(ds.attrs.get("mcsd_format_version", -1))
    except (TypeError, ValueError):
        raise ResultFileError(
            f"{p}: unreadable mcsd_format_version {ds.attrs.get('mcsd_format_version')!r}"
        ) from None
    if version != RESULT_FORMAT_VERSION:
        raise ResultFileError(
            f"{p}: result format version {version}, this mcsd reads {RESULT_FORMAT_VERSION}"
        )
    if "in_shortage_at_base" in ds:
        ds["in_shortage_at_base"] = ds["in_shortage_at_base"].astype(bool)
    return ds
