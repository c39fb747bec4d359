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
per-path variables are opened lazily from it. A store given by the caller must be new, an
empty folder or an mcsd store (marked ``mcsd_store = 1`` in its group attrs); anything else is
refused, never emptied. The default temporary store is removed when the result is closed
(``ds.close()``), when nothing references its per-path data any more, or at interpreter exit.

Before any task is submitted every worker must match the client in everything that makes the
numbers (``identity``: the mcsd version, a sha256 over the kernel, array-builder and
accumulator source files, the numba, llvmlite, numpy and scipy versions, and the CPU target
and features the kernels are compiled for); each task checks it again (workers that join
later). A mismatch is refused with one line naming each worker and what differs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import functools
import hashlib
import logging
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import uuid
import weakref
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
    """Dask is missing, the scheduler cannot be reached, or a worker differs from the client."""


class PathStoreError(ValueError):
    """``keep_paths_store`` names something mcsd will not overwrite."""


class WorkerMismatchError(RuntimeError):
    """Raised inside a task on a worker whose ``identity()`` differs from the client's."""


# ---- worker identity: what makes the numbers -----------------------------------------------

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_DIGEST_FILES = (
    "engine/arrays.py",
    "engine/weighting.py",
    "results/accumulators.py",
    "results/weighted.py",
)
#: The libraries whose version can change a number: the JIT compiler and its LLVM, the
#: array library, and scipy's special functions that the kernels call.
NUMBER_LIBRARIES = ("numba", "llvmlite", "numpy", "scipy")
#: The fields of ``identity()``, in the order ``run_task``'s ``expected`` tuple holds them.
IDENTITY_FIELDS = ("version", "digest", *NUMBER_LIBRARIES, "cpu", "cpu_features")
_FIELD_NAMES = {
    "version": "mcsd version",
    "digest": "mcsd kernel sources",
    "cpu": "CPU target",
    "cpu_features": "CPU features",
}


def kernel_digest() -> str:
    """sha256 over the installed source files that make the numbers: ``mcsd/kernels/*.py``
    and ``_DIGEST_FILES`` (the array builder, the weighting, the accumulators; names and
    contents)."""
    files = sorted(_PACKAGE_DIR.glob("kernels/*.py")) + [_PACKAGE_DIR / f for f in _DIGEST_FILES]
    h = hashlib.sha256()
    for f in files:
        data = f.read_bytes()
        h.update(f.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0")
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    """``__version__`` of each of ``NUMBER_LIBRARIES`` as imported here ("missing" if not
    importable)."""
    import importlib

    out = {}
    for name in NUMBER_LIBRARIES:
        try:
            out[name] = str(importlib.import_module(name).__version__)
        except Exception:  # noqa: BLE001 - reported as a difference, never a crash
            out[name] = "missing"
    return out


def kernel_target() -> dict[str, str]:
    """What numba compiles the kernels for: ``cpu`` (LLVM target triple and CPU name) and
    ``cpu_features`` (LLVM's feature string, e.g. ``+avx2,-avx512f,...``), as numba's own
    cache key has them (``mcsd.kernels.jit`` is imported first: it chooses the features
    before numba reads its configuration)."""
    import mcsd.kernels.jit  # noqa: F401 - the CPU-feature choice, before numba's config

    try:
        from numba.core.registry import cpu_target

        triple, name, features = cpu_target.target_context.codegen().magic_tuple()
    except Exception:  # noqa: BLE001 - numba moved its internals: the same, from config
        import llvmlite.binding as ll
        from numba.core import config
        from numba.core.codegen import get_host_cpu_features

        triple = ll.get_process_triple()
        cfg: Any = config  # CPU_NAME / CPU_FEATURES exist at run time, not in its stubs
        name = cfg.CPU_NAME or ll.get_host_cpu_name()
        features = cfg.CPU_FEATURES or get_host_cpu_features()
    return {"cpu": f"{triple} {name}", "cpu_features": str(features)}


@functools.lru_cache(maxsize=1)
def _cached_identity() -> tuple[str, ...]:
    from mcsd._version import __version__

    ident = {"version": __version__, "digest": kernel_digest()}
    ident.update(library_versions())
    ident.update(kernel_target())
    return tuple(ident[k] for k in IDENTITY_FIELDS)


def identity() -> dict[str, str]:
    """What makes this process's numbers, read once per process: the mcsd ``version``, the
    ``digest`` of its kernel sources, the versions of numba, llvmlite, numpy and scipy, and
    the ``cpu`` and ``cpu_features`` the kernels are compiled for (imports numba)."""
    return dict(zip(IDENTITY_FIELDS, _cached_identity(), strict=True))


def worker_identity() -> dict[str, str]:
    """Run on each worker by ``check_workers`` (``client.run``)."""
    return identity()


def _show(field: str, value: object) -> str:
    text = str(value)
    if field == "digest":
        return text[:12]
    return text if len(text) <= 60 else text[:57] + "..."


def _feature_difference(ours: str, theirs: str) -> str:
    """The flags of two LLVM feature strings that differ, e.g. "+avx512f on the client,
    -avx512f on the worker"; at most six of each side shown."""
    a = {f for f in ours.split(",") if f}
    b = {f for f in theirs.split(",") if f}
    only_a, only_b = sorted(a - b), sorted(b - a)

    def few(flags: list[str]) -> str:
        shown = ",".join(flags[:6]) or "none"
        return shown + (f" and {len(flags) - 6} more" if len(flags) > 6 else "")

    return f"{few(only_a)} on the client, {few(only_b)} on the worker"


def differences(ours: dict[str, str], theirs: object) -> list[str]:
    """What differs between the client's identity ``ours`` and a worker's ``theirs``, one
    phrase per field ("numba: client 0.60.0, worker 0.59.1"); empty when they agree."""
    if not isinstance(theirs, dict):
        return [f"no mcsd identity (got {type(theirs).__name__})"]
    out = []
    for field in IDENTITY_FIELDS:
        a, b = ours.get(field), theirs.get(field)
        if a == b:
            continue
        name = _FIELD_NAMES.get(field, field)
        if field == "cpu_features" and isinstance(a, str) and isinstance(b, str):
            out.append(f"{name}: {_feature_difference(a, b)}")
        else:
            out.append(f"{name}: client {_show(field, a)}, worker {_show(field, b)}")
    return out


def check_workers(client: Any) -> dict[str, str]:
    """The client's ``identity()``; ``DistributedError`` naming every worker whose mcsd
    version, kernel sources, number libraries or CPU target differ from the client's (or
    which cannot run mcsd at all), and what differs."""
    mine = identity()
    try:
        theirs = client.run(worker_identity, on_error="return")
    except Exception as exc:  # noqa: BLE001 - one line, below
        raise DistributedError(
            f"cannot check the workers' mcsd version ({type(exc).__name__}: {exc})"
        ) from None
    bad = []
    for address, ident in sorted(theirs.items()):
        if isinstance(ident, BaseException):
            bad.append(f"{address} cannot run mcsd ({type(ident).__name__}: {ident!s:.80})")
        elif diff := differences(mine, ident):
            bad.append(f"{address}: {', '.join(diff)}")
    if bad:
        raise DistributedError(
            "Dask worker(s) differ from the client, which would change the numbers: "
            + "; ".join(" ".join(b.split()) for b in bad)
        )
    return mine


def _check_in_task(expected: tuple[str, ...] | None) -> None:
    """``WorkerMismatchError`` unless this worker's identity is ``expected`` (the client's
    identity values in ``IDENTITY_FIELDS`` order)."""
    if expected is None or _cached_identity() == tuple(expected):
        return
    try:
        from distributed import get_worker

        where = get_worker().address
    except Exception:  # noqa: BLE001 - not on a worker
        where = "this process"
    theirs = dict(zip(IDENTITY_FIELDS, expected, strict=False))
    # the phrases speak of the client (expected) and the worker (this process)
    diff = differences(theirs, identity()) or ["an identity of another shape"]
    raise WorkerMismatchError(
        f"Dask worker {where} differs from the client, which would change the numbers: "
        + ", ".join(diff)
    )


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


class _Refused(Exception):
    """The first connection attempt was refused or found no route: retrying cannot help."""


# errnos after which nothing listens at the address (Dask would retry until the timeout)
_FATAL_ERRNOS = frozenset(
    getattr(errno, n) for n in ("ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH") if hasattr(errno, n)
)


def _refusal(exc: BaseException) -> str | None:
    """The OS reason (e.g. "Connection refused") if ``exc`` or its causes is a refused or
    unroutable connection or an unknown host name, else None."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        exc = cur
        if isinstance(exc, socket.gaierror) and exc.errno in (socket.EAI_NONAME,):
            return f"unknown host: {exc.strerror}"
        if isinstance(exc, OSError) and exc.errno in _FATAL_ERRNOS:
            return exc.strerror or os.strerror(exc.errno or 0)
        cur = exc.__cause__ or exc.__context__
        seen += 1
    return None


async def _connect_fast(address: str, timeout: float) -> Any:
    """A handshaken Dask comm to ``address``. Dask's ``connect`` retries a refused
    connection until its timeout; here a first attempt that is refused (nothing listens
    there), finds no route or names an unknown host raises ``_Refused`` at once, and any
    other failure falls back to Dask's retrying ``connect`` for the rest of ``timeout``."""
    from distributed.comm import connect as comm_connect
    from distributed.comm import registry
    from distributed.comm.addressing import parse_address

    loop = asyncio.get_running_loop()
    start = loop.time()
    scheme, loc = parse_address(address)
    connector = registry.get_backend(scheme).get_connector()  # ValueError: unknown scheme
    try:
        comm = await asyncio.wait_for(connector.connect(loc, deserialize=True), timeout)
    except Exception as exc:  # noqa: BLE001 - sorted below
        why = _refusal(exc)
        if why is not None:
            raise _Refused(why) from None
        left = timeout - (loop.time() - start)
        return await comm_connect(address, timeout=max(left, 0.1))
    # the client half of Dask's handshake (as distributed.comm.connect does it)
    local_info = comm.handshake_info()
    await comm.write(local_info)
    handshake = await comm.read()
    comm.remote_info = handshake
    comm.remote_info["address"] = comm.peer_address
    comm.local_info = local_info
    comm.local_info["address"] = comm.local_address
    comm.handshake_options = comm.handshake_configuration(comm.local_info, comm.remote_info)
    return comm


def _probe(address: str, timeout: float) -> None:
    """Ask ``address`` for its identity over Dask's protocol, all within ``timeout`` seconds
    (a hard bound: a server that accepts and then says nothing or garbage cannot stall it).
    ``DistributedError`` unless a Dask scheduler answers; at once when the connection is
    refused (``_connect_fast``)."""
    from distributed.comm.addressing import parse_address

    try:
        parse_address(address)
    except (ValueError, TypeError) as exc:
        raise DistributedError(
            f"not a Dask scheduler address: {address!r} ({exc!s:.100})"
        ) from None

    async def ask() -> Any:
        comm = await _connect_fast(address, timeout)
        try:
            await comm.write({"op": "identity", "reply": True, "n_workers": 0})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(ask(), timeout)

    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["reply"] = asyncio.run(bounded())
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    thread = threading.Thread(target=target, name="mcsd-probe", daemon=True)
    thread.start()
    thread.join(timeout + 2.0)
    reply = out.get("reply")
    if isinstance(reply, dict) and reply.get("type") == "Scheduler":
        return
    err = out.get("error")
    if isinstance(err, _Refused):
        raise DistributedError(f"cannot reach the Dask scheduler at {address!r} ({err})")
    if isinstance(err, ValueError):
        raise DistributedError(f"not a Dask scheduler address: {address!r} ({err!s:.100})")
    why = "no answer" if thread.is_alive() or err is None else type(err).__name__
    if err is not None and not isinstance(err, (OSError, TimeoutError)):
        why = f"the server there does not speak Dask's protocol: {why}"
    if reply is not None:
        why = "the server there is not a Dask scheduler"
    raise DistributedError(
        f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({why})"
    )


def _close_failed_client(exc: BaseException) -> None:
    """Close the half-built ``Client`` whose constructor raised ``exc`` now, quickly and
    quietly (otherwise its ``__del__`` stalls 20 s at exit and prints a traceback)."""
    import distributed

    tb = exc.__traceback__
    while tb is not None:
        obj = tb.tb_frame.f_locals.get("self")
        if isinstance(obj, distributed.Client):
            with contextlib.suppress(BaseException):
                obj.close(timeout=2)
            with contextlib.suppress(BaseException):
                obj.status = "closed"  # __del__ then does nothing
            break
        tb = tb.tb_next


def connect(address: str, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; ``DistributedError`` (one
    line) if it is not a valid address or no Dask scheduler answers within ``timeout``
    seconds (default ``CONNECT_TIMEOUT_S``)."""
    distributed = _require_dask()
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    _probe(address, timeout)
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - one line, below
        _close_failed_client(exc)
        name = type(exc).__name__
    raise DistributedError(
        f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({name})"
    )


@contextlib.contextmanager
def _sigint_deferred() -> Any:
    """Defer SIGINT (blocked in this thread, ignored by the worker processes started
    meanwhile): a terminal's Ctrl-C then interrupts only the client, which closes the
    cluster itself; a Ctrl-C that arrived meanwhile is delivered on exit."""
    main = threading.current_thread() is threading.main_thread()
    if not main:
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by spawned workers
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def dask_setup(worker: Any) -> None:
    """Preload of ``local_cluster``'s worker processes (restarted ones too): ignore SIGINT,
    so a terminal's Ctrl-C stops the client, which closes the cluster quietly."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _silence_logs() -> None:
    logging.getLogger("distributed").setLevel(logging.CRITICAL + 1)


def close_quietly(client: Any, cluster: Any = None, timeout: float = 10.0) -> None:
    """Close ``client`` and ``cluster`` (after an interruption): no second Ctrl-C, no log
    lines from Dask, every error suppressed, each step bounded by ``timeout`` seconds."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        if cluster is not None and client is not None:  # our own workers share our stderr
            with contextlib.suppress(BaseException):
                client.run(_silence_logs)
        for thing in (client, cluster):
            if thing is not None:
                with contextlib.suppress(BaseException):
                    thing.close(timeout=timeout)
    finally:
        log.setLevel(level)
        if old is not None:
            signal.signal(signal.SIGINT, old)


def local_cluster(n_workers: int) -> tuple[Any, Any]:
    """Start ``LocalCluster(n_workers, 1 thread each, processes)``; (cluster, client)."""
    distributed = _require_dask()
    cluster = client = None
    try:
        with _sigint_deferred():
            cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                preload=[__name__],  # dask_setup: workers ignore SIGINT
            )
            client = distributed.Client(cluster, set_as_default=False)
            client.wait_for_workers(n_workers, timeout=120)
    except BaseException:
        close_quietly(client, cluster)
        raise
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
    run: CompiledRun,
    path0: int,
    n: int,
    store: str | None = None,
    chunk: int = 0,
    expected: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One task: the accumulators of paths path0 .. path0+n-1 (packed), by the engine's one
    executor on one thread; with ``store``, its per-chunk hook also writes the paths' values
    to that zarr store, ``chunk`` paths at a time. With ``expected`` (the client's
    ``identity()`` values, in ``IDENTITY_FIELDS`` order) a worker that differs raises
    ``WorkerMismatchError``."""
    _check_in_task(expected)
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


def weighted_task(
    run: CompiledRun,
    path0: int,
    n: int,
    obs: Any,
    shift: float | None,
    scale_bits: int,
    expected: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """One task of a nowcast (``mcsd.engine.weighting``) on paths path0 .. path0+n-1: pass
    1 (``shift`` None) returns the packed accumulators and the largest log weight; pass 2
    the packed accumulators and the weighted accumulators' arrays."""
    from mcsd.engine.weighting import max_log_weight_pass, weighted_pass

    _check_in_task(expected)
    if shift is None:
        acc, top = max_log_weight_pass(run, obs, n, 1, first_path=path0)
        return {"acc": pack(acc), "max_log_weight": top}
    acc, wacc = weighted_pass(run, obs, n, 1, shift, scale_bits, first_path=path0)
    return {"acc": pack(acc), "weighted": wacc.arrays, "n": wacc.n_paths}


class _WeightedPart:
    """A task's share of a nowcast pass, merged exactly (sums, max) in the OrderedTree."""

    def __init__(self, packed: dict[str, Any], scale_bits: int) -> None:
        from mcsd.results.weighted import WeightedAccumulators

        self.acc = unpack(packed["acc"])
        self.top = packed.get("max_log_weight", -np.inf)
        w = packed.get("weighted")
        self.wacc = None if w is None else WeightedAccumulators(w, scale_bits, packed["n"])

    def merge(self, other: _WeightedPart) -> _WeightedPart:
        self.acc += other.acc
        self.top = max(self.top, other.top)
        if self.wacc is not None and other.wacc is not None:
            self.wacc += other.wacc
        return self


def run_distributed_weighted(
    client: Any,
    run: CompiledRun,
    obs: Any,
    n_paths: int,
    *,
    shift: float | None = None,
    scale_bits: int = 0,
    batch_paths: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Accumulators, Any]:
    """A nowcast pass as Dask tasks: (accumulators, largest log weight) when ``shift`` is
    None, else (accumulators, weighted accumulators); bit for bit the local passes'."""
    part = _run_distributed(
        client, run, n_paths, batch_paths, None, on_progress, None,
        task=weighted_task, task_args=(obs, shift, scale_bits),
        decode=lambda packed: _WeightedPart(packed, scale_bits),
    )  # fmt: skip
    return (part.acc, part.top) if shift is None else (part.acc, part.wacc)


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


STORE_MARK = "mcsd_store"  # group attribute (= 1) marking a zarr store mcsd created
_STORE_ENTRIES = frozenset(
    {*PATH_VAR_NAMES, "path", "zarr.json", ".zgroup", ".zattrs", ".zmetadata"}
)


def is_mcsd_store(folder: str | os.PathLike) -> bool:
    """True if ``folder`` is a zarr group marked ``mcsd_store = 1`` holding nothing but
    mcsd's per-path arrays."""
    folder = Path(folder)
    try:
        if not folder.is_dir() or not {p.name for p in folder.iterdir()} <= _STORE_ENTRIES:
            return False
        zarr = _require_zarr()
        return zarr.open_group(str(folder), mode="r").attrs.get(STORE_MARK) == 1
    except Exception:  # noqa: BLE001 - unreadable or not zarr: not ours
        return False


def check_path_store(store: str | os.PathLike) -> str:
    """The resolved ``keep_paths_store``; ``PathStoreError`` unless it is new, an empty
    folder or an mcsd store (which alone mcsd overwrites)."""
    path = Path(store).expanduser().resolve()
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise PathStoreError(f"keep_paths_store {str(path)!r} exists and is not a folder")
        try:
            entries = sorted(p.name for p in path.iterdir())
        except OSError as exc:
            raise PathStoreError(
                f"keep_paths_store {str(path)!r} cannot be read ({exc.strerror})"
            ) from None
        if entries and not is_mcsd_store(path):
            raise PathStoreError(
                f"keep_paths_store {str(path)!r} is a non-empty folder that is not an mcsd "
                f"store (it holds {entries[0]!r}"
                + (f" and {len(entries) - 1} more" if len(entries) > 1 else "")
                + "); give a new or empty folder, or a store mcsd wrote"
            )
    elif not path.parent.is_dir():
        raise PathStoreError(f"keep_paths_store folder does not exist: {str(path.parent)!r}")
    return str(path)


def create_path_store(run: CompiledRun, n_paths: int, store: str, chunk: int) -> None:
    """Create the zarr store of the per-path cube (overwriting only an mcsd store, see
    ``check_path_store``): shapes, chunks, the ``path`` coordinate and the ``mcsd_store``
    mark; the data is written by the tasks."""
    store = check_path_store(store)
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
    xr.Dataset(data, attrs={STORE_MARK: 1}).to_zarr(
        store, mode="w", compute=False, encoding=encoding, consolidated=False
    )
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

    store = str(Path(store).resolve()) if store not in _TEMP_STORES else store
    # no masking: zarr v3 arrays always carry a fill value, which would turn ints into floats
    source: Any = store
    if store in _TEMP_STORES:  # one store object, shared by every array read from it
        zarr = _require_zarr()
        if int(zarr.__version__.split(".")[0]) >= 3:
            source = zarr.storage.LocalStore(store, read_only=True)
    lazy = xr.open_zarr(source, consolidated=False, mask_and_scale=False)
    attrs = {name: dict(ds[name].attrs) for name in PATH_VAR_NAMES}
    ds = ds.drop_vars([*PATH_VAR_NAMES, "path"])
    ds = ds.assign_coords(path=lazy["path"])
    for name in PATH_VAR_NAMES:
        ds[name] = lazy[name].variable
        ds[name].attrs = attrs[name]
    if store in _TEMP_STORES:
        _tie_lifetime(ds, lazy, store, source)
    return ds


_TEMP_STORES: set[str] = set()


def default_store() -> str:
    """A new temporary folder for the per-path cube, owned by mcsd: removed by
    ``remove_temp_store`` (when its result is closed or unreferenced), else at exit."""
    path = str(Path(tempfile.mkdtemp(prefix="mcsd-paths-", suffix=".zarr")).resolve())
    _TEMP_STORES.add(path)
    return path


def remove_temp_store(store: str) -> None:
    """Remove ``store`` if it is a temporary store mcsd created (anything else: nothing)."""
    if store in _TEMP_STORES:
        _TEMP_STORES.discard(store)
        shutil.rmtree(store, ignore_errors=True)


@atexit.register
def _remove_temp_stores() -> None:
    for store in list(_TEMP_STORES):
        remove_temp_store(store)


def _tie_lifetime(ds: Any, lazy: Any, store: str, source: Any) -> None:
    """Remove the temporary ``store`` when ``ds`` is closed, or once nothing (``ds`` or any
    Dataset or array derived from it) references ``source``, the zarr store object all its
    per-path data reads through (else: at exit)."""

    def close() -> None:
        with contextlib.suppress(Exception):
            lazy.close()
        remove_temp_store(store)

    ds.set_close(close)
    if not isinstance(source, str):
        weakref.finalize(source, remove_temp_store, store)


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
    per-path values go to that zarr store (created here; an existing folder must be empty or
    an mcsd store, see ``check_path_store``). Every worker must match the client's
    ``identity()`` (``check_workers``), else ``DistributedError``.
    """
    try:
        return _run_distributed(
            client, run, n_paths, batch_paths, max_in_flight, on_progress, keep_store
        )
    except BaseException:
        if keep_store is not None:
            remove_temp_store(str(keep_store))  # only mcsd's own temporary store
        raise


def _run_distributed(
    client: Any,
    run: CompiledRun,
    n_paths: int,
    batch_paths: int | None,
    max_in_flight: int | None,
    on_progress: Callable[[int], None] | None,
    keep_store: str | os.PathLike | None,
    task: Callable[..., Any] | None = None,
    task_args: tuple = (),
    decode: Callable[[Any], Any] = unpack,
) -> Any:
    """The task loop: ``task(run, path0, n, *task_args, expected)`` per batch (default
    ``run_task`` with the store arguments), each result ``decode``-d and merged in task
    order by an ``OrderedTree``."""
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
        store = check_path_store(keep_store)
    mine = check_workers(client)
    expected = tuple(mine[k] for k in IDENTITY_FIELDS)
    if store is not None:
        keep_chunk = KEEP_CHUNK_PATHS if batch % KEEP_CHUNK_PATHS == 0 else batch
        create_path_store(run, n_paths, store, keep_chunk)
    work = chunks(n_paths, batch)
    token = uuid.uuid4().hex[:12]
    run_future = client.scatter(run, broadcast=True, hash=False)
    pending: dict[Any, int] = {}
    ready: dict[int, Any] = {}
    tree = OrderedTree()
    queue = distributed.as_completed(loop=client.loop)
    next_submit = next_merge = 0

    def top_up() -> None:
        nonlocal next_submit
        while next_submit < len(work) and next_submit < next_merge + limit:
            path0, n = work[next_submit]
            fut = client.submit(
                task or run_task,
                run_future,
                path0,
                n,
                *(task_args if task is not None else (store, keep_chunk)),
                expected,
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
            try:
                packed = fut.result()
            except WorkerMismatchError as exc:
                raise DistributedError(str(exc)) from None
            ready[i] = decode(packed)
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
