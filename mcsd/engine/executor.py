"""The engine: compiles priors for the kernels, splits paths into chunks, runs them on
threads and merges the accumulators.

A run is a pure function of (priors, n_paths, seed, mcsd version). Each path draws its
inputs from keys derived from (seed, path index) alone, and accumulators are integers, so
the result is identical for any number of threads and any chunking. ``execute`` is the one
executor: plain runs, point mode, comparisons, sensitivity, precision loops and Dask tasks
all go through it, with a per-chunk hook for what else a chunk must return.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcsd.engine.arrays import ModelArrays, build_model_arrays, seed_key, stock_bounds
from mcsd.engine.defaults import MAX_PATHS
from mcsd.kernels.jit import env_threads
from mcsd.kernels.layout import GROUPS, N_VARS, PENDING_MAX_PATHS
from mcsd.kernels.paths import simulate_paths
from mcsd.priors.model import Priors, month_number
from mcsd.results.accumulators import Accumulators, Sizes
from mcsd.results.histograms import HistogramSpec, histogram_spec
from mcsd.results.variables import DEFAULT_LEVELS, DEFAULT_QUANTILES, Finals

CHUNK_PATHS = 4096  # paths per task: small enough for a smooth progress bar
BLOCK_PATHS = 256  # paths per fold pass: ~5% faster than 128 (fewer loop set-ups), same as 512
# statistics the kernels count only through the pending scratch (``Accumulators.flush``)
SHARED_STATISTICS = ("occupancy_hist", "mw_hist")

Kept = tuple[np.ndarray, np.ndarray]  # per-path values (n, 4, R1, T), turning months (n, R1)
ChunkHook = Callable[[int, int, list[np.ndarray], list[np.ndarray]], Any]


# The last few (priors, pins) compiled, by identity of the priors object (which the entry
# holds, so its id cannot be reused): Priors is frozen, and its kernel arrays and bins are a
# pure function of it and the pins. Building them costs ~10 ms, most of a small run's fixed
# cost; nothing writes into them (the kernels only read the model).
MODEL_CACHE_SIZE = 8
_model_cache: OrderedDict[tuple[int, Any], tuple[Priors, ModelArrays, HistogramSpec]] = (
    OrderedDict()
)
_model_cache_lock = threading.Lock()


def compiled_model(
    priors: Priors, pins: Mapping[str, int] | None = None
) -> tuple[ModelArrays, HistogramSpec]:
    """(kernel arrays, histogram bins) of ``priors`` with ``pins``: built on first use, then
    shared by every run of the same priors object and pins (``MODEL_CACHE_SIZE`` entries,
    least recently used dropped)."""
    key = (id(priors), None if not pins else tuple(sorted(pins.items())))
    with _model_cache_lock:
        hit = _model_cache.get(key)
        if hit is not None and hit[0] is priors:
            _model_cache.move_to_end(key)
            return hit[1], hit[2]
    model = build_model_arrays(priors, pins)
    spec = histogram_spec(stock_bounds(priors, model))
    with _model_cache_lock:
        _model_cache[key] = (priors, model, spec)
        _model_cache.move_to_end(key)
        while len(_model_cache) > MODEL_CACHE_SIZE:
            _model_cache.popitem(last=False)
    return model, spec


@dataclass(frozen=True)
class CompiledRun:
    """What every chunk of one run shares: kernel arrays, histogram bins, seed keys."""

    model: ModelArrays
    spec: HistogramSpec
    group_seed_keys: np.ndarray  # (G,) uint64

    @classmethod
    def build(
        cls,
        priors: Priors,
        seed: int,
        group_seeds: Sequence[int] | None = None,
        pins: Mapping[str, int] | None = None,
    ) -> CompiledRun:
        """``pins``: project id -> delivery month index of observed facts (0 cancelled).
        The kernel arrays and bins are built once per priors object and pins
        (``compiled_model``): sensitivity, compare, precision and nowcast loops rebuild none."""
        model, spec = compiled_model(priors, pins)
        seeds = [seed] * len(GROUPS) if group_seeds is None else list(group_seeds)
        keys = np.array([seed_key(s) for s in seeds], dtype=np.uint64)
        return cls(model=model, spec=spec, group_seed_keys=keys)

    @property
    def sizes(self) -> Sizes:
        return Sizes(self.model.n_regions + 1, self.model.n_months, self.model.n_years)

    def new_accumulators(self, shared: Mapping[str, np.ndarray] | None = None) -> Accumulators:
        """Empty accumulators; ``shared``: statistics counted into these arrays instead."""
        return Accumulators.empty(self.sizes, shared)

    def finals(
        self,
        acc: Accumulators,
        quantiles: np.ndarray = DEFAULT_QUANTILES,
        levels: np.ndarray = DEFAULT_LEVELS,
    ) -> Finals:
        """What the results registry finalizes ``acc`` of this run from."""
        m = self.model
        return Finals(acc, self.spec, quantiles, levels, m.month_year, m.in_shortage_at_base)

    def new_kept(self, n: int) -> Kept:
        """Zeroed per-path arrays for n paths."""
        r1, t = self.sizes.r1, self.sizes.t
        return np.zeros((n, N_VARS, r1, t)), np.zeros((n, r1), np.int64)

    def record(
        self,
        acc: Accumulators,
        path0: int,
        n: int,
        kept: Kept | None = None,
        flush: bool = True,
        point: bool = False,
    ) -> None:
        """Add paths path0 .. path0+n-1 to ``acc`` (releases the GIL). ``kept``: per-path
        arrays of n rows that receive the paths' values; ``flush=False`` leaves histogram
        counts pending (a loop of records flushes once, at its end)."""
        kv, kt = (np.empty((0, N_VARS, 1, 1)), np.empty((0, 1), np.int64)) if kept is None else kept
        simulate_paths(
            self.model,
            self.group_seed_keys,
            path0,
            n,
            point,
            BLOCK_PATHS,
            self.spec.lo,
            self.spec.inv_width,
            acc.counts,
            acc.pending,
            flush,
            kept is not None,
            kv,
            kt,
        )
        acc.n_paths += n


# Threads above this many per usable core are refused (``validate_run``): the kernels are
# CPU-bound and release the GIL, so more threads than cores never run faster, only hold
# more accumulators (about 25 MB each for the study priors). A few per core stay allowed:
# the numbers do not depend on the thread count, and oversubscribed runs test exactly that.
THREADS_PER_CORE = 4
MIN_THREAD_LIMIT = 8
# NUMBA_NUM_THREADS above this is refused (numba itself starts that many threads when its
# threading layer launches).
_GIB = 2**30


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1  # pragma: no cover


def thread_limit() -> int:
    """The most threads ``validate_run`` accepts: ``THREADS_PER_CORE`` x the usable cores,
    at least ``MIN_THREAD_LIMIT``."""
    return max(MIN_THREAD_LIMIT, THREADS_PER_CORE * usable_cores())


def run_sizes(priors: Priors) -> Sizes:
    """The accumulator sizes of a run of ``priors`` (regions + national, months, calendar
    years), from the priors alone: nothing is compiled or allocated."""
    base = month_number(priors.base_month)
    horizon = month_number(priors.horizon_month)
    return Sizes(len(priors.regions) + 1, horizon - base, horizon // 12 - (base + 1) // 12 + 1)


def estimate_run_bytes(
    sizes: Sizes, threads: int, n_paths: int = 0, *, keep_paths: bool = False, runs: int = 1
) -> int:
    """Bytes a run allocates, before it allocates any: per thread and run one set of
    accumulators (``STATISTICS``, e.g. ``mw_hist`` 3 x R1 x T x 2002 int64) and its uint16
    pending copy of the histograms; with ``keep_paths``, the per-path cubes (4 x R1 x T
    float64 and R1 int64 per path). An upper bound for the histograms (calloc'd zeros a run
    never touches cost no memory), a lower bound for the whole process (the interpreter,
    numba and the result Dataset come on top)."""
    from mcsd.results.accumulators import STATISTICS

    per_acc = 0
    for stat in STATISTICS:
        shape = stat.shape(sizes)
        per_acc += int(np.prod(shape, dtype=np.int64)) * np.dtype(stat.dtype).itemsize
        if stat.name in ("occupancy_hist", "mw_hist"):  # Pending: uint16 copy, touched ranges
            cells = int(np.prod(shape[:-1], dtype=np.int64))
            per_acc += int(np.prod(shape, dtype=np.int64)) * 2 + cells * 2 * 8
    kept = n_paths * (N_VARS * sizes.r1 * sizes.t + sizes.r1) * 8 if keep_paths else 0
    return max(1, threads) * max(1, runs) * per_acc + kept


def available_memory() -> int | None:
    """Bytes this process can still allocate: MemAvailable (/proc/meminfo, else the free
    physical pages), lowered to what is left under a cgroup v2 memory limit; None when
    unknown (the memory check is then skipped)."""
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            avail = None
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            current = int(f.read().strip())
        if limit != "max":
            left = max(0, int(limit) - current)
            avail = left if avail is None else min(avail, left)
    except (OSError, ValueError):
        pass
    return avail


def check_memory(
    sizes: Sizes, threads: int, n_paths: int = 0, *, keep_paths: bool = False, runs: int = 1
) -> int:
    """``estimate_run_bytes``, or ValueError when it exceeds ``available_memory()``: one
    line naming the estimate, its parts and the memory available. Returns the estimate."""
    need = estimate_run_bytes(sizes, threads, n_paths, keep_paths=keep_paths, runs=runs)
    avail = available_memory()
    if avail is not None and need > avail:
        kept = " plus the kept paths" if keep_paths else ""
        raise ValueError(
            f"this run needs about {need / _GIB:.3g} GiB of memory ({max(1, threads)} "
            f"thread(s) x {max(1, runs)} run(s) of accumulators for {sizes.r1 - 1} regions "
            f"and {sizes.t} months{kept}), but only {avail / _GIB:.3g} GiB is available: "
            "use fewer threads, regions or months (or no keep_paths)"
        )
    return need


def validate_run(
    n_paths: object,
    seed: object,
    threads: object,
    *,
    priors: Priors | None = None,
    keep_paths: bool = False,
    runs: int = 1,
) -> tuple[int, int, int]:
    """(n_paths, seed, threads) as ints, or ValueError naming the argument and value.

    ``threads``: an integer from 1 to ``thread_limit()`` (``THREADS_PER_CORE`` = 4 x the
    usable cores, at least 8); more is refused, not capped: a run never speeds up beyond
    the cores, and the thread count never changes the numbers. ``None`` takes
    ``default_threads()`` (NUMBA_NUM_THREADS, else the usable cores; an invalid
    NUMBA_NUM_THREADS is a ValueError naming it, and a valid one above the limit is capped
    to the usable cores, since the user did not ask for it in this call).

    With ``priors``, also the up-front memory check (``check_memory``): the accumulators
    of ``threads`` x ``runs`` plus, with ``keep_paths``, the per-path cubes of n_paths
    paths must fit in the available memory, else ValueError naming both.
    """
    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)):
        raise ValueError(f"n_paths must be an integer in [1, {MAX_PATHS}], got {n_paths!r}")
    if not 1 <= n_paths <= MAX_PATHS:
        raise ValueError(f"n_paths must be an integer in [1, {MAX_PATHS}], got {n_paths!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    if not -(2**63) <= seed < 2**63:
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    limit = thread_limit()
    nthreads: object = threads
    if threads is None:
        env_threads = default_threads()
        nthreads = env_threads if env_threads <= limit else usable_cores()
    if isinstance(nthreads, bool) or not isinstance(nthreads, (int, np.integer)) or nthreads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    if nthreads > limit:
        raise ValueError(
            f"threads must be at most {limit} ({THREADS_PER_CORE} x the {usable_cores()} "
            f"usable cores, at least {MIN_THREAD_LIMIT}; more never runs faster), "
            f"got {threads!r}"
        )
    if priors is not None:
        paths = 1 if not keep_paths else int(n_paths)
        check_memory(run_sizes(priors), int(nthreads), paths, keep_paths=keep_paths, runs=runs)
    return int(n_paths), int(seed), int(nthreads)


def default_threads() -> int:
    """NUMBA_NUM_THREADS when set, else the number of usable cores.

    An invalid NUMBA_NUM_THREADS (not a whole number from 1 to ``MAX_ENV_THREADS``, e.g.
    ``0``, ``-1``, ``abc``, ``1e3``) is a ValueError naming the variable and its value
    (``mcsd.kernels.jit.env_threads``); an empty one counts as unset.
    """
    threads = env_threads()
    return usable_cores() if threads is None else threads


def chunks(n_paths: int, chunk: int = CHUNK_PATHS, first: int = 0) -> list[tuple[int, int]]:
    """(path0, n) pairs covering paths first .. first+n_paths-1."""
    return [(p, min(chunk, first + n_paths - p)) for p in range(first, first + n_paths, chunk)]


def task_paths(n_paths: int, threads: int) -> int:
    """Paths per task: ``CHUNK_PATHS``, or fewer (whole blocks) when that would leave a
    thread idle at the end of a small run: every thread gets at least 4 tasks."""
    if threads <= 1:
        return CHUNK_PATHS
    blocks = max(1, n_paths // (4 * threads * BLOCK_PATHS))
    return min(CHUNK_PATHS, blocks * BLOCK_PATHS)


def execute(
    runs: Sequence[CompiledRun],
    n_paths: int,
    threads: int,
    *,
    first_path: int = 0,
    chunk: int | None = None,
    keep: Kept | None = None,
    on_chunk: ChunkHook | None = None,
    on_progress: Callable[[int], None] | None = None,
    point: bool = False,
) -> tuple[list[Accumulators], list[Any]]:
    """Run paths first_path .. first_path+n_paths-1 of every run in ``runs`` on ``threads``
    threads: the one executor.

    Every run records the same chunks of paths into per-thread accumulators, merged at the
    end (exact: equal bit for bit for any threads and chunking). ``keep`` (one run):
    arrays of n_paths rows that receive the per-path values. ``on_chunk(path0, n, vals,
    turns)``: called in the worker for each chunk with each run's per-path values of the
    chunk (buffers reused by the next chunk: memory threads x runs x chunk, whatever
    n_paths); its returns come back in path order. Returns (accumulators per run, hook
    returns).
    """
    size = task_paths(n_paths, threads) if chunk is None else chunk
    work = chunks(n_paths, size, first_path)
    if keep is not None and len(runs) != 1:
        raise ValueError("keep takes exactly one run")
    lock = threading.Lock()
    queue = iter(enumerate(work))
    returns: list[Any] = [None] * len(work)
    nthreads = max(1, min(threads, len(work)))
    # A run of at most PENDING_MAX_PATHS paths never fills a thread's uint16 pending counts,
    # so no record adds them to the int64 histograms before the end: the threads then
    # count into one set of histograms, each adding its pending counts at its end (under
    # the lock), instead of zeroing and merging ~10 MB per thread.
    share = nthreads > 1 and n_paths <= PENDING_MAX_PATHS
    shared = [Accumulators.empty_statistics(r.sizes, SHARED_STATISTICS) for r in runs if share]

    def worker() -> list[Accumulators]:
        accs = [r.new_accumulators(shared[k] if share else None) for k, r in enumerate(runs)]
        bufs = [r.new_kept(size) for r in runs] if on_chunk is not None and keep is None else []
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                if not share:
                    return [acc.flush() for acc in accs]
                if any(acc.pending_paths != acc.n_paths for acc in accs):  # pragma: no cover
                    raise RuntimeError("a record flushed into shared histograms mid-run")
                with lock:
                    return [acc.flush() for acc in accs]
            i, (path0, n) = item
            vals, turns = [], []
            for k, (run, acc) in enumerate(zip(runs, accs, strict=True)):
                kept: Kept | None = None
                if keep is not None:
                    off = path0 - first_path
                    kept = (keep[0][off : off + n], keep[1][off : off + n])
                elif bufs:
                    kept = (bufs[k][0][:n], bufs[k][1][:n])
                run.record(acc, path0, n, kept, flush=False, point=point)
                if kept is not None:
                    vals.append(kept[0])
                    turns.append(kept[1])
            if on_chunk is not None:
                returns[i] = on_chunk(path0, n, vals, turns)
            if on_progress is not None:
                on_progress(n)

    if nthreads == 1:
        parts = [worker()]
    else:
        with ThreadPoolExecutor(max_workers=nthreads) as pool:
            parts = list(pool.map(lambda _: worker(), range(nthreads)))
    totals = parts[0]
    for part in parts[1:]:
        for total, acc in zip(totals, part, strict=True):
            if share:
                total.add_shared(acc)
            else:
                total += acc  # in place: no new 10 MB histogram per merge
    for part in parts:  # flushed: their zeroed scratch serves the next run
        for acc in part:
            acc.release_pending()
    return totals, returns


def run_paths(
    run: CompiledRun,
    n_paths: int,
    threads: int,
    *,
    first_path: int = 0,
    keep: Kept | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk: int | None = None,
    point: bool = False,
) -> Accumulators:
    """``execute`` for one run: its merged accumulators."""
    accs, _ = execute(
        [run],
        n_paths,
        threads,
        first_path=first_path,
        chunk=chunk,
        keep=keep,
        on_progress=on_progress,
        point=point,
    )
    return accs[0]
