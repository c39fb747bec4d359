"""Runs past one machine: the engine's path chunks as tasks on Dask distributed.

Optional dependency (``pip install mcsd[dask]``): nothing here imports dask or zarr at module
import time. The priors are compiled once (``CompiledRun``) on the client and broadcast to the
workers; the paths are cut into batches (one task each) that return their ``Accumulators``;
the client merges them in task order with a pairwise tree, keeping only O(log tasks)
accumulators. Tasks are submitted incrementally, at most ``max_in_flight`` of them between
the oldest unmerged one and the newest submitted one, so client memory does not grow with the
path count. Because each path's randomness is keyed by (seed, path index) and accumulators
are integers, the result is bit-identical to ``run_paths`` for any workers and batching; a
task lost with its worker is recomputed by Dask and gives the same numbers.

``keep_paths`` with a client writes the per-path cube to a zarr store created up front
(``path`` chunks aligned with the tasks, so each task writes its own chunks); the result's
per-path variables are opened lazily from it.
"""

from __future__ import annotations

import math
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mcsd.dims import PATH, REGION, TIME
from mcsd.engine.executor import CHUNK_PATHS, CompiledRun, chunks, execute, run_paths
from mcsd.results.accumulators import Accumulators
from mcsd.results.variables import PATH_VARS

CONNECT_TIMEOUT_S = 10.0
MIN_TASK_PATHS = 8 * CHUNK_PATHS  # 32,768 paths: about 0.7 s on one core (study priors)
MAX_TASK_PATHS = 256 * CHUNK_PATHS  # 1,048,576 paths: about 20 s, keeps progress and retries fine
TASKS_PER_WORKER = 8  # aim for at least this many tasks per worker (load balance)
IN_FLIGHT_PER_WORKER = 3
KEEP_CHUNK_PATHS = CHUNK_PATHS  # zarr chunk along ``path`` of the per-path cube
PATH_VAR_NAMES = (*(f"{v}_path" for v in PATH_VARS), "turning_month_path")


class DistributedError(RuntimeError):
    """Dask is missing, or the scheduler cannot be reached."""


def _require_dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise DistributedError(
            "Dask distributed is not installed: pip install 'mcsd[dask]' "
            "(dask[distributed] and zarr)"
        ) from None
    return distributed


def _require_zarr() -> Any:
    try:
        import zarr
    except ImportError:
        raise DistributedError(
            "zarr is not installed (needed for keep_paths with a client): pip install 'mcsd[dask]'"
        ) from None
    return zarr


def connect(address: str, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; ``DistributedError`` if it
    cannot be reached within ``timeout`` seconds (default ``CONNECT_TIMEOUT_S``)."""
    distributed = _require_dask()
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DistributedError(
            f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
            f"({type(exc).__name__})"
        ) from None


def local_cluster(n_workers: int) -> tuple[Any, Any]:
    """Start ``LocalCluster(n_workers, 1 thread each, processes)``; (cluster, client)."""
    distributed = _require_dask()
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster, set_as_default=False)
    client.wait_for_workers(n_workers, timeout=120)
    return cluster, client


def n_workers_of(client: Any) -> int:
    """Worker count (threads counted as workers), at least 1."""
    nthreads = client.nthreads()
    return max(1, sum(nthreads.values()))


def choose_batch(n_paths: int, n_workers: int) -> int:
    """Paths per task: about ``TASKS_PER_WORKER`` tasks per worker, each between
    ``MIN_TASK_PATHS`` (per-task overhead well under 5%) and ``MAX_TASK_PATHS``, a multiple
    of ``CHUNK_PATHS``."""
    target = math.ceil(n_paths / (TASKS_PER_WORKER * max(1, n_workers)))
    batch = min(max(target, MIN_TASK_PATHS), MAX_TASK_PATHS)
    return CHUNK_PATHS * math.ceil(batch / CHUNK_PATHS)


# ---- transfer encoding: exact, smaller integers on the wire -------------------------------


def pack(acc: Accumulators) -> dict[str, Any]:
    """Accumulators as a dict whose integer arrays use the smallest dtype holding them."""
    out: dict[str, Any] = {"n_paths": acc.n_paths}
    for name, v in acc.arrays().items():
        if v.dtype.kind in "iu" and v.size:
            small = np.result_type(np.min_scalar_type(v.min()), np.min_scalar_type(v.max()))
            out[name] = (v.dtype.str, v.astype(small) if small.itemsize < v.itemsize else v)
        else:
            out[name] = (v.dtype.str, v)
    return out


def unpack(packed: dict[str, Any]) -> Accumulators:
    arrays = {
        k: v[1].astype(np.dtype(v[0]), copy=False) for k, v in packed.items() if k != "n_paths"
    }
    return Accumulators.from_arrays(packed["n_paths"], arrays)


# ---- tasks ----------------------------------------------------------------------------------


def run_task(
    run: CompiledRun, path0: int, n: int, store: str | None = None, chunk: int = 0
) -> dict[str, Any]:
    """One task: the accumulators of paths path0 .. path0+n-1 (packed), by the engine's one
    executor on one thread; with ``store``, its per-chunk hook also writes the paths' values
    to that zarr store, ``chunk`` paths at a time."""
    if store is None:
        return pack(run_paths(run, n, 1, first_path=path0, chunk=CHUNK_PATHS))
    zarr = _require_zarr()
    group = zarr.open_group(store, mode="r+")
    arrays = [group[name] for name in PATH_VAR_NAMES]

    def write(p0: int, m: int, vals: list[np.ndarray], turns: list[np.ndarray]) -> None:
        for v in range(len(PATH_VARS)):
            arrays[v][p0 : p0 + m] = vals[0][:, v]
        arrays[-1][p0 : p0 + m] = turns[0]

    (acc,), _ = execute([run], n, 1, first_path=path0, chunk=chunk, on_chunk=write)
    return pack(acc)


def noop_task(x: int) -> int:
    """A near-empty task (overhead measurements)."""
    return x


class OrderedTree:
    """Pairwise merge tree over accumulators pushed in task order (binary-counter stack):
    the same tree for the same task count, memory O(log tasks)."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, Accumulators]] = []

    def push(self, acc: Accumulators) -> None:
        level = 0
        while self._stack and self._stack[-1][0] == level:
            acc = self._stack.pop()[1].merge(acc)
            level += 1
        self._stack.append((level, acc))

    def result(self) -> Accumulators:
        if not self._stack:
            raise ValueError("no accumulators were pushed")
        acc = self._stack.pop()[1]
        while self._stack:
            acc = self._stack.pop()[1].merge(acc)
        return acc


# ---- keep_paths: the zarr store -------------------------------------------------------------


def create_path_store(run: CompiledRun, n_paths: int, store: str, chunk: int) -> None:
    """Create (overwrite) the zarr store of the per-path cube: shapes, chunks and the
    ``path`` coordinate; the data is written by the tasks."""
    import dask.array as da
    import xarray as xr

    zarr = _require_zarr()
    r1, t = run.sizes.r1, run.sizes.t
    dims3, dims2 = (PATH, REGION, TIME), (PATH, REGION)
    data: dict[str, tuple[tuple[str, ...], Any]] = {
        f"{v}_path": (dims3, da.zeros((n_paths, r1, t), chunks=(chunk, r1, t))) for v in PATH_VARS
    }
    data["turning_month_path"] = (
        dims2,
        da.zeros((n_paths, r1), dtype=np.int64, chunks=(chunk, r1)),
    )
    encoding = {name: {"_FillValue": None} for name in data}
    xr.Dataset(data).to_zarr(store, mode="w", compute=False, encoding=encoding, consolidated=False)
    group = zarr.open_group(store, mode="r+")
    if int(zarr.__version__.split(".")[0]) >= 3 and group.metadata.zarr_format == 3:
        path = group.create_array(
            "path", shape=(n_paths,), chunks=(chunk,), dtype=np.int64, dimension_names=["path"]
        )
    else:
        path = group.create_dataset("path", shape=(n_paths,), chunks=(chunk,), dtype=np.int64)
        path.attrs["_ARRAY_DIMENSIONS"] = ["path"]
    step = chunk * max(1, (1 << 22) // chunk)  # bounded client memory
    for p0 in range(0, n_paths, step):
        path[p0 : min(p0 + step, n_paths)] = np.arange(p0, min(p0 + step, n_paths))


def attach_paths(ds: Any, store: str) -> Any:
    """Replace the per-path variables of ``ds`` (a zero-path template carrying their
    attributes) by ones opened lazily from the zarr ``store``."""
    import xarray as xr

    # no masking: zarr v3 arrays always carry a fill value, which would turn ints into floats
    lazy = xr.open_zarr(store, consolidated=False, mask_and_scale=False)
    attrs = {name: dict(ds[name].attrs) for name in PATH_VAR_NAMES}
    ds = ds.drop_vars([*PATH_VAR_NAMES, "path"])
    ds = ds.assign_coords(path=lazy["path"])
    for name in PATH_VAR_NAMES:
        ds[name] = lazy[name].variable
        ds[name].attrs = attrs[name]
    return ds


def default_store() -> str:
    return tempfile.mkdtemp(prefix="mcsd-paths-", suffix=".zarr")


# ---- the run --------------------------------------------------------------------------------


def run_distributed(
    client: Any,
    run: CompiledRun,
    n_paths: int,
    batch_paths: int | None = None,
    max_in_flight: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    keep_store: str | os.PathLike | None = None,
) -> Accumulators:
    """Run ``n_paths`` paths as Dask tasks of ``batch_paths`` paths on ``client``.

    Same result, bit for bit, as ``run_paths(run, n_paths, ...)``. With ``keep_store`` the
    per-path values go to that zarr store (created here, overwritten if present).
    """
    distributed = _require_dask()
    workers = n_workers_of(client)
    batch = choose_batch(n_paths, workers) if batch_paths is None else int(batch_paths)
    if batch < 1:
        raise ValueError(f"batch_paths must be >= 1, got {batch_paths!r}")
    limit = IN_FLIGHT_PER_WORKER * workers if max_in_flight is None else int(max_in_flight)
    limit = max(1, limit)
    store = None
    keep_chunk = 0
    if keep_store is not None:
        store = str(Path(keep_store).resolve())
        keep_chunk = KEEP_CHUNK_PATHS if batch % KEEP_CHUNK_PATHS == 0 else batch
        create_path_store(run, n_paths, store, keep_chunk)
    work = chunks(n_paths, batch)
    token = uuid.uuid4().hex[:12]
    run_future = client.scatter(run, broadcast=True, hash=False)
    pending: dict[Any, int] = {}
    ready: dict[int, Accumulators] = {}
    tree = OrderedTree()
    queue = distributed.as_completed(loop=client.loop)
    next_submit = next_merge = 0

    def top_up() -> None:
        nonlocal next_submit
        while next_submit < len(work) and next_submit < next_merge + limit:
            path0, n = work[next_submit]
            fut = client.submit(
                run_task,
                run_future,
                path0,
                n,
                store,
                keep_chunk,
                key=f"mcsd-{token}-{next_submit}",
                pure=False,
            )
            pending[fut] = next_submit
            queue.add(fut)
            next_submit += 1

    try:
        top_up()
        for fut in queue:
            i = pending.pop(fut)
            ready[i] = unpack(fut.result())
            fut.release()
            if on_progress is not None:
                on_progress(work[i][1])
            while next_merge in ready:
                tree.push(ready.pop(next_merge))
                next_merge += 1
            top_up()
    finally:
        if pending:
            client.cancel(list(pending))
        run_future.release()
    return tree.result()
