"""The engine: splits paths into chunks, runs them on threads, merges the accumulators.

A run is a pure function of (priors, n_paths, seed, mcsd version). Each path draws its
inputs from keys derived from (seed, path index) alone, and accumulators are integers, so
the result is identical for any number of threads and any chunking.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from mcsd.accumulators import Accumulators, HistogramSpec, histogram_spec
from mcsd.model_arrays import GROUPS, ModelArrays, build_model_arrays, seed_key
from mcsd.priors_model import Priors

DEFAULT_SEED = 20250101
DEFAULT_PATHS = 50_000
CHUNK_PATHS = 4096  # paths per task: small enough for a smooth progress bar
BLOCK_PATHS = 256  # paths per fold pass: ~5% faster than 128 (fewer loop set-ups), same as 512


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
        return cls(model=model, spec=histogram_spec(priors, model), group_seed_keys=keys)

    def new_accumulators(self) -> Accumulators:
        return Accumulators.empty(self.model.n_regions, self.model.n_months)

    def record(
        self,
        acc: Accumulators,
        path0: int,
        n: int,
        kept: tuple[np.ndarray, np.ndarray] | None = None,
        flush: bool = True,
        point: bool = False,
    ) -> None:
        """Add paths path0 .. path0+n-1 to ``acc`` (``kept``: per-path value and turning-month
        arrays of n rows; ``flush=False`` leaves histogram counts pending, see
        ``Accumulators.record``)."""
        kv, kt = (None, None) if kept is None else kept
        acc.record(
            self.model,
            self.spec,
            self.group_seed_keys,
            path0,
            n,
            point,
            BLOCK_PATHS,
            kv,
            kt,
            flush=flush,
        )

    def run_chunk(self, path0: int, n: int, point: bool = False) -> Accumulators:
        """Accumulators of paths path0 .. path0+n-1 (a Dask task calls exactly this)."""
        acc = self.new_accumulators()
        self.record(acc, path0, n, point=point)
        return acc


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


def run_local(
    run: CompiledRun,
    n_paths: int,
    threads: int,
    first_path: int = 0,
    keep: tuple[np.ndarray, np.ndarray] | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk: int | None = None,
) -> Accumulators:
    """Run ``n_paths`` paths on ``threads`` threads; per-thread accumulators, then merged.

    ``keep``: arrays (n_paths, 4, R+1, T) and (n_paths, R+1) that receive per-path values.
    """
    work = chunks(n_paths, task_paths(n_paths, threads) if chunk is None else chunk, first_path)
    lock = threading.Lock()
    queue = iter(work)

    def worker() -> Accumulators:
        acc = run.new_accumulators()
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return acc.flush()
            path0, n = item
            kept = None
            if keep is not None:
                off = path0 - first_path
                kept = (keep[0][off : off + n], keep[1][off : off + n])
            run.record(acc, path0, n, kept, flush=False)
            if on_progress is not None:
                on_progress(n)

    threads = max(1, min(threads, len(work)))
    if threads == 1:
        parts = [worker()]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(lambda _: worker(), range(threads)))
    total = parts[0]
    for part in parts[1:]:
        total.merge_in_place(part)  # no new 10 MB histogram per merge
    return total
