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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcsd.engine.arrays import ModelArrays, build_model_arrays, seed_key, stock_bounds
from mcsd.kernels.layout import GROUPS, N_VARS
from mcsd.kernels.paths import simulate_paths
from mcsd.priors.model import Priors
from mcsd.results.accumulators import Accumulators, Sizes
from mcsd.results.histograms import HistogramSpec, histogram_spec
from mcsd.results.variables import DEFAULT_LEVELS, DEFAULT_QUANTILES, Finals

DEFAULT_SEED = 20250101
DEFAULT_PATHS = 50_000
CHUNK_PATHS = 4096  # paths per task: small enough for a smooth progress bar
BLOCK_PATHS = 256  # paths per fold pass: ~5% faster than 128 (fewer loop set-ups), same as 512
# Path indices are int64 and occupancy sums are int64 fixed point: stay far from both limits.
MAX_PATHS = 2**40

Kept = tuple[np.ndarray, np.ndarray]  # per-path values (n, 4, R1, T), turning months (n, R1)
ChunkHook = Callable[[int, int, list[np.ndarray], list[np.ndarray]], Any]


@dataclass(frozen=True)
class CompiledRun:
    """What every chunk of one run shares: kernel arrays, histogram bins, seed keys."""

    model: ModelArrays
    spec: HistogramSpec
    group_seed_keys: np.ndarray  # (G,) uint64

    @classmethod
    def build(
        cls, priors: Priors, seed: int, group_seeds: Sequence[int] | None = None
    ) -> CompiledRun:
        model = build_model_arrays(priors)
        seeds = [seed] * len(GROUPS) if group_seeds is None else list(group_seeds)
        keys = np.array([seed_key(s) for s in seeds], dtype=np.uint64)
        spec = histogram_spec(stock_bounds(priors, model))
        return cls(model=model, spec=spec, group_seed_keys=keys)

    @property
    def sizes(self) -> Sizes:
        return Sizes(self.model.n_regions + 1, self.model.n_months, self.model.n_years)

    def new_accumulators(self) -> Accumulators:
        return Accumulators.empty(self.sizes)

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


def validate_run(n_paths: object, seed: object, threads: object) -> tuple[int, int, int]:
    """(n_paths, seed, threads) as ints, or ValueError naming the argument and value."""
    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)):
        raise ValueError(f"n_paths must be an integer in [1, {MAX_PATHS}], got {n_paths!r}")
    if not 1 <= n_paths <= MAX_PATHS:
        raise ValueError(f"n_paths must be an integer in [1, {MAX_PATHS}], got {n_paths!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    if not -(2**63) <= seed < 2**63:
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    nthreads = default_threads() if threads is None else threads
    if isinstance(nthreads, bool) or not isinstance(nthreads, (int, np.integer)) or nthreads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    return int(n_paths), int(seed), int(nthreads)


def default_threads() -> int:
    """NUMBA_NUM_THREADS when set, else the number of usable cores."""
    env = os.environ.get("NUMBA_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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

    def worker() -> list[Accumulators]:
        accs = [r.new_accumulators() for r in runs]
        bufs = [r.new_kept(size) for r in runs] if on_chunk is not None and keep is None else []
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
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

    nthreads = max(1, min(threads, len(work)))
    if nthreads == 1:
        parts = [worker()]
    else:
        with ThreadPoolExecutor(max_workers=nthreads) as pool:
            parts = list(pool.map(lambda _: worker(), range(nthreads)))
    totals = parts[0]
    for part in parts[1:]:
        for total, acc in zip(totals, part, strict=True):
            total += acc  # in place: no new 10 MB histogram per merge
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
