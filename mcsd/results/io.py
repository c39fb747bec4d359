"""netCDF IO of result Datasets: atomic writes, and reads that refuse what is not a result."""

from __future__ import annotations

import io
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

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


class _DaskIfImported:
    """Stands in for xarray's cached record of the dask module (``DuckArrayModule``), which
    xarray builds on its first "is this a dask array?" test by importing dask.array (~1.5
    s of a run's start-up). No value is a dask array before dask.array is imported, so
    until then the answer is ``()``; afterwards, and for anything else, the real record."""

    def __init__(self, real: Any) -> None:
        self._make_real = real
        self._real: Any = None

    def _resolved(self) -> Any:
        if self._real is None:
            self._real = self._make_real("dask")
        return self._real

    @property
    def type(self) -> tuple[type, ...]:
        if self._real is None and "dask.array" not in sys.modules:
            return ()
        return self._resolved().type

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolved(), name)


def _defer_dask_detection() -> None:
    """Let xarray test for dask arrays without importing dask (``_DaskIfImported``); a
    no-op when xarray has already looked dask up or keeps its record elsewhere."""
    try:
        from xarray.namedarray import pycompat

        cache = pycompat._cached_duck_array_modules
        if "dask" not in cache:
            cache["dask"] = _DaskIfImported(pycompat.DuckArrayModule)  # type: ignore[assignment]
    except (ImportError, AttributeError):  # pragma: no cover - another xarray layout
        pass


_defer_dask_detection()


def netcdf_image(ds: xr.Dataset) -> memoryview:
    """The netCDF4 (HDF5, h5netcdf) file of ``ds``, built in memory.

    ``Dataset.to_netcdf`` first asks dask which scheduler is active (to pick its write
    lock), importing dask and dask.distributed (~1 s) whenever they are installed. A
    Dataset without dask (chunked) variables is written in this thread whatever the
    scheduler, so it goes through the same encoding and store directly
    (``dump_to_store`` into an ``H5NetCDFStore``, with the lock of no scheduler): the
    same bytes.
    """
    chunked = any(v.chunks is not None for v in ds.variables.values())
    if chunked or ds.encoding.get("unlimited_dims"):
        return ds.to_netcdf(engine="h5netcdf")
    _check_netcdf_names_and_attrs(ds)
    from xarray.backends import H5NetCDFStore
    from xarray.backends.locks import HDF5_LOCK, combine_locks

    buffer = io.BytesIO()
    # the lock to_netcdf takes without a dask scheduler: HDF5's global one and the file's
    # own (here a private buffer); asking for it by default would import dask
    lock = combine_locks([HDF5_LOCK, threading.Lock()])
    store = H5NetCDFStore.open(buffer, mode="w", lock=lock)
    try:
        ds.dump_to_store(store)
    finally:
        store.close()
    return buffer.getbuffer()


def _check_netcdf_names_and_attrs(ds: xr.Dataset) -> None:
    """``to_netcdf``'s own checks of variable names and attribute values (its clear
    TypeError for, e.g., a dict attribute), where this xarray has them."""
    try:
        from xarray.backends.writers import _validate_attrs, _validate_dataset_names
    except ImportError:  # pragma: no cover - HDF5 then refuses what it cannot store
        return
    _validate_dataset_names(ds)
    _validate_attrs(ds, "h5netcdf", False)


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` atomically: a temporary file in the same folder, then rename.

    The netCDF image is built in memory first, then written to ``.<name>.<random>.tmp`` in
    the target's folder with plain ``write`` calls, synced and renamed over the target. A
    write that fails (``OSError``: disk full, file-size limit, permissions) or is
    interrupted (``KeyboardInterrupt``, ``SystemExit``, e.g. from a SIGTERM handler)
    removes the temporary file and leaves any earlier file at ``path`` intact.
    """
    image = netcdf_image(ds)  # bytes (memoryview); HDF5 never sees the disk

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
