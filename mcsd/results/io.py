"""netCDF IO of result Datasets: atomic writes, and reads that refuse what is not a result."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import xarray as xr

RESULT_FORMAT = "mcsd-result"
RESULT_FORMAT_VERSION = 1
RESULT_KINDS = ("simulate", "compare", "sensitivity")  # attr mcsd_result_kind


def format_attrs(kind: str) -> dict[str, object]:
    """The attrs that mark a Dataset as an mcsd result of ``kind`` (``RESULT_KINDS``)."""
    return {
        "mcsd_format": RESULT_FORMAT,
        "mcsd_format_version": RESULT_FORMAT_VERSION,
        "mcsd_result_kind": kind,
    }


class ResultFileError(ValueError):
    """A result file that mcsd cannot read (not an mcsd result, or an incompatible one)."""


_CHUNK = 1 << 20
_TEMP_SUFFIX = ".tmp"
_TEMP_RANDOM = 8  # tempfile's random part


def _temp_prefix(folder: Path, name: str) -> str:
    """``.<name>.``, shortened so the whole temporary name fits the folder's NAME_MAX."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    room = max(1, (limit or 255) - 2 - _TEMP_RANDOM - len(_TEMP_SUFFIX))
    raw = os.fsencode(name)
    if len(raw) > room:
        name = os.fsdecode(raw[:room])
    return f".{name}."


def atomic_replace(path: str | os.PathLike, write_to: Callable[[str], None]) -> Path:
    """Write a file atomically: ``write_to(temporary path)`` in the target's folder
    (``.<name>.<random>.tmp``), then sync it, give it the permissions a plain write would
    (mkstemp makes it 0600) and rename it over ``path``. Any exception or interruption
    (``KeyboardInterrupt``, ``SystemExit``) removes the temporary file and leaves an earlier
    file at ``path`` intact, never half-written."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(
        prefix=_temp_prefix(folder, target.name), suffix=_TEMP_SUFFIX, dir=folder
    )
    os.close(fd)
    done = False
    try:
        write_to(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
        done = True
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)
    return target


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """``atomic_replace`` for a writer of a binary file object."""

    def write_to(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            write(handle)

    return atomic_replace(path, write_to)


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file in the same folder, then rename.

    The netCDF image is built in memory first, then written to ``.<name>.<random>.tmp`` in
    the target's folder with plain ``write`` calls, synced and renamed over the target. A
    write that fails (``OSError``: disk full, file-size limit, permissions) or is
    interrupted (``KeyboardInterrupt``, ``SystemExit``, e.g. from a SIGTERM handler)
    removes the temporary file and leaves any earlier file at ``path`` intact.
    """
    image = ds.to_netcdf(engine="h5netcdf")  # bytes (memoryview); HDF5 never sees the disk

    def write_to(tmp: str) -> None:
        with open(tmp, "wb", buffering=0) as handle:
            view = memoryview(image).cast("B")
            for start in range(0, len(view), _CHUNK):
                chunk = view[start : start + _CHUNK]
                while chunk:
                    written = handle.write(chunk)
                    chunk = chunk[written:]

    return atomic_replace(path, write_to)


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
    for dim in ("region", "time", "year", "quantile", "level"):
        if dim in ds.dims and ds.sizes[dim] == 0:
            raise ResultFileError(f"{p}: dimension {dim!r} is empty: not a result mcsd can read")
    kind = ds.attrs.get("mcsd_result_kind", "simulate")
    if kind not in RESULT_KINDS:
        raise ResultFileError(f"{p}: unknown mcsd_result_kind {kind!r}")
    for dim in ("region",) if kind == "sensitivity" else ("region", "time"):
        if dim not in ds.dims:
            raise ResultFileError(f"{p}: no {dim!r} dimension: not an mcsd result")
    if "in_shortage_at_base" in ds:
        ds["in_shortage_at_base"] = ds["in_shortage_at_base"].astype(bool)
    return ds
