"""Paired scenario comparison with common random numbers: ``compare(priors_a, priors_b, ...)``.

Both scenarios run with the same seed. Random draws are keyed by (input group, item id, draw)
(``mcsd.model_arrays``), so a buyer, provider or project present in both files draws the same
random numbers on path i of both runs: the two runs are *paired* path by path, and the
difference of their shortage probabilities has a much smaller Monte Carlo error than two
independent runs would give.

The paired standard error needs joint counts per cell, which the accumulators (marginal
counts) do not keep: n11 (both scenarios short on the path), n10 (only a), n01 (only b). They
are computed chunk by chunk from per-path buffers of one chunk (``Accumulators.record`` with
``kept_vals``/``kept_turn``) that are reused for the next chunk, so memory is fixed by the
chunk size, never by ``n_paths``.

With d = p_b - p_a = (n01 - n10) / n, the paired variance of the difference is
``((n10 + n01) / n - d**2) / n`` (the variance of the per-path difference of indicators over
n); the unpaired one, as if the runs were independent, is ``(p_a (1 - p_a) + p_b (1 - p_b)) / n``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import xarray as xr

from mcsd import __version__
from mcsd.accumulators import Accumulators
from mcsd.engine import CHUNK_PATHS, DEFAULT_SEED, CompiledRun, default_threads
from mcsd.priors import load_priors
from mcsd.priors_model import Priors
from mcsd.results import region_names

ChunkFn = Callable[[int, int, list[np.ndarray], list[np.ndarray]], Any]


def as_priors(priors: Priors | str | os.PathLike | None) -> Priors:
    return priors if isinstance(priors, Priors) else load_priors(priors)


def check_run_args(n_paths: object, seed: object, threads: object) -> int:
    """Validate (n_paths, seed, threads) as ``simulate`` does; returns the thread count."""
    if isinstance(n_paths, bool) or not isinstance(n_paths, (int, np.integer)) or n_paths < 1:
        raise ValueError(f"n_paths must be a positive integer, got {n_paths!r}")
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not -(2**63) <= seed < 2**63
    ):
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    nthreads = default_threads() if threads is None else threads
    if isinstance(nthreads, bool) or not isinstance(nthreads, (int, np.integer)) or nthreads < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    return int(nthreads)


def run_paired_chunks(
    runs: Sequence[CompiledRun],
    n_paths: int,
    threads: int,
    on_chunk: ChunkFn,
    chunk: int = CHUNK_PATHS,
) -> tuple[list[Accumulators], list[Any]]:
    """Run every run in ``runs`` over the same paths 0 .. n_paths-1, chunk by chunk.

    For each chunk (path0, n), each run records its paths into a per-thread accumulator and
    into per-thread chunk buffers (vals (n, 4, R+1, T), turn (n, R+1)); then
    ``on_chunk(path0, n, vals_list, turn_list)`` is called (in the worker thread) and its
    return value kept. The buffers are reused by the next chunk: memory is
    threads x len(runs) x chunk x 4 x (R+1) x T x 8 bytes, whatever n_paths.

    Returns the merged accumulators (one per run; equal bit for bit to ``run_local`` over
    the same paths) and the ``on_chunk`` results in path order.
    """
    work = [(p, min(chunk, n_paths - p)) for p in range(0, n_paths, chunk)]
    lock = threading.Lock()
    queue = iter(enumerate(work))
    results: list[Any] = [None] * len(work)

    def worker() -> list[Accumulators]:
        accs = [r.new_accumulators() for r in runs]
        bufs = []
        for r in runs:
            r1, t = r.model.n_regions + 1, r.model.n_months
            bufs.append((np.zeros((chunk, 4, r1, t)), np.zeros((chunk, r1), np.int64)))
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return [acc.flush() for acc in accs]
            i, (path0, n) = item
            vals, turns = [], []
            for r, acc, (bv, bt) in zip(runs, accs, bufs, strict=True):
                kv, kt = bv[:n], bt[:n]
                r.record(acc, path0, n, (kv, kt), flush=False)
                vals.append(kv)
                turns.append(kt)
            results[i] = on_chunk(path0, n, vals, turns)

    nthreads = max(1, min(threads, len(work)))
    if nthreads == 1:
        parts = [worker()]
    else:
        with ThreadPoolExecutor(max_workers=nthreads) as pool:
            parts = list(pool.map(lambda _: worker(), range(nthreads)))
    totals = parts[0]
    for part in parts[1:]:
        totals = [a.merge(b) for a, b in zip(totals, part, strict=True)]
    return totals, results


def _indicators(vals: np.ndarray, turn: np.ndarray, threshold: float, n_months: int):
    """Per-path shortage (n, R1, T) and turned-by-t (n, R1, T) booleans of one chunk."""
    short = vals[:, 0] >= threshold
    months = np.arange(1, n_months + 1)
    turned = (turn[:, :, None] > 0) & (turn[:, :, None] <= months)
    return short, turned


def _joint(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(3, R1, T) int64: n11, n10 (x only), n01 (y only) over the chunk's paths."""
    return np.stack(
        [
            np.count_nonzero(x & y, axis=0),
            np.count_nonzero(x & ~y, axis=0),
            np.count_nonzero(~x & y, axis=0),
        ]
    ).astype(np.int64)


def paired_se(n10: np.ndarray, n01: np.ndarray, n: int) -> np.ndarray:
    """SE of p_b - p_a from paired indicators: sqrt(((n10 + n01)/n - d**2) / n)."""
    d = (n01 - n10) / n
    var = np.maximum((n10 + n01) / n - d * d, 0.0) / n
    return np.sqrt(var)


def unpaired_se(pa: np.ndarray, pb: np.ndarray, n: int) -> np.ndarray:
    """SE of p_b - p_a as if the two runs were independent."""
    return np.sqrt((pa * (1.0 - pa) + pb * (1.0 - pb)) / n)


def compare(
    priors_a: Priors | str | os.PathLike | None,
    priors_b: Priors | str | os.PathLike | None,
    n_paths: int = 50_000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
) -> xr.Dataset:
    """Paired (common-random-number) comparison of scenario b against scenario a.

    Both priors must have the same regions (same order) and the same months. Returns an
    ``xarray.Dataset`` over (region incl. national, time) with, for ``p_shortage`` and
    ``turning_point_cdf`` (X):

    * ``X_a``, ``X_b``: each scenario's probability (equal bit for bit to
      ``simulate(priors, n_paths, seed)[X]``),
    * ``diff_X`` = X_b - X_a,
    * ``diff_X_se``: paired Monte Carlo standard error (joint per-path counts),
    * ``diff_X_se_unpaired``: the standard error two independent runs would have,
    * ``X_n11``, ``X_n10``, ``X_n01``: joint counts (both, only a, only b).

    Also ``p_no_turning_point_a``/``_b`` per region. Memory is fixed by the chunk size.
    """
    pa, pb = as_priors(priors_a), as_priors(priors_b)
    nthreads = check_run_args(n_paths, seed, threads)
    if pa.region_ids != pb.region_ids:
        raise ValueError(
            f"compare: priors {pa.name} and {pb.name} have different regions "
            f"({list(pa.region_ids)} vs {list(pb.region_ids)})"
        )
    if not pa.month_ends.equals(pb.month_ends):
        raise ValueError(f"compare: priors {pa.name} and {pb.name} have different months")
    n = int(n_paths)
    ra, rb = CompiledRun.build(pa, int(seed)), CompiledRun.build(pb, int(seed))
    T = ra.model.n_months
    tha, thb = ra.model.threshold, rb.model.threshold

    def on_chunk(path0, m, vals, turns):
        sa, ca = _indicators(vals[0], turns[0], tha, T)
        sb, cb = _indicators(vals[1], turns[1], thb, T)
        return _joint(sa, sb), _joint(ca, cb)

    (acc_a, acc_b), parts = run_paired_chunks([ra, rb], n, nthreads, on_chunk)
    joint_s = sum(p[0] for p in parts)
    joint_c = sum(p[1] for p in parts)

    fa = acc_a.finalize(ra.spec, np.array([0.5]), np.array([0.8]))
    fb = acc_b.finalize(rb.spec, np.array([0.5]), np.array([0.8]))
    coords = {"region": np.array(region_names(pa), dtype=object), "time": pa.month_ends.values}
    rt = ("region", "time")
    data: dict[str, tuple] = {}
    for name, joint in (("p_shortage", joint_s), ("turning_point_cdf", joint_c)):
        xa, xb = fa[name], fb[name]
        data[f"{name}_a"] = (rt, xa)
        data[f"{name}_b"] = (rt, xb)
        data[f"diff_{name}"] = (rt, xb - xa)
        data[f"diff_{name}_se"] = (rt, paired_se(joint[1], joint[2], n))
        data[f"diff_{name}_se_unpaired"] = (rt, unpaired_se(xa, xb, n))
        for k, label in enumerate(("n11", "n10", "n01")):
            data[f"{name}_{label}"] = (rt, joint[k])
    data["p_no_turning_point_a"] = (("region",), fa["p_no_turning_point"])
    data["p_no_turning_point_b"] = (("region",), fb["p_no_turning_point"])
    ds = xr.Dataset(data, coords=coords)
    long = {
        "p_shortage": "probability of shortage (occupancy >= threshold)",
        "turning_point_cdf": "probability that the turning point is at or before t",
    }
    for name, text in long.items():
        ds[f"{name}_a"].attrs.update(long_name=f"{text}, scenario a", units="1")
        ds[f"{name}_b"].attrs.update(long_name=f"{text}, scenario b", units="1")
        ds[f"diff_{name}"].attrs.update(long_name=f"{text}: b minus a", units="1")
        ds[f"diff_{name}_se"].attrs.update(
            long_name="paired Monte Carlo standard error of the difference (common random "
            "numbers, per-path joint counts)",
            units="1",
        )
        ds[f"diff_{name}_se_unpaired"].attrs.update(
            long_name="standard error of the difference if the runs were independent",
            units="1",
        )
        ds[f"{name}_n11"].attrs["long_name"] = "paths where both a and b hold"
        ds[f"{name}_n10"].attrs["long_name"] = "paths where only a holds"
        ds[f"{name}_n01"].attrs["long_name"] = "paths where only b holds"
    ds.attrs.update(
        {
            "title": f"mcsd paired comparison: {pb.name} minus {pa.name}",
            "priors_a": pa.name,
            "priors_b": pb.name,
            "priors_a_sha256": pa.sha256,
            "priors_b_sha256": pb.sha256,
            "threshold_a": tha,
            "threshold_b": thb,
            "seed": int(seed),
            "n_paths": n,
            "mcsd_version": __version__,
            "pairing": "common random numbers: same seed; draws keyed by input group and "
            "item id, so items shared by both priors draw the same numbers on each path",
        }
    )
    return ds
