"""netCDF IO of result Datasets: atomic writes, and reads that refuse what is not a result."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import xarray as xr

RESULT_FORMAT = "mcsd-result"
RESULT_FORMAT_VERSION = 1


class ResultFileError(ValueError):
    """A result file that mcsd cannot read (not an mcsd result, or an incompatible one)."""


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
