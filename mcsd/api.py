"""The Python API: ``simulate``. Knows priors and results, not numba internals."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from mcsd import __version__
from mcsd.accumulators import max_bin_width
from mcsd.engine import (
    DEFAULT_PATHS,
    DEFAULT_SEED,
    CompiledRun,
    default_threads,
    run_local,
)
from mcsd.priors import load_priors
from mcsd.priors_model import Priors
from mcsd.progress import progress_bar
from mcsd.results import DEFAULT_LEVELS, DEFAULT_QUANTILES, build_dataset

# Path indices are int64 and occupancy sums are int64 fixed point: stay far from both limits.
MAX_PATHS = 2**40


def _as_priors(priors: Priors | str | os.PathLike | None) -> Priors:
    return priors if isinstance(priors, Priors) else load_priors(priors)


def _check_probabilities(name: str, values: Sequence[float], step: float | None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise ValueError(f"{name} must be values in [0, 1], got {list(arr)}")
    if step is not None and not np.allclose(arr / step, np.rint(arr / step), atol=1e-9, rtol=0):
        raise ValueError(f"{name} must be multiples of {step}, got {list(arr)}")
    return np.round(arr, 6) if step is not None else arr


def simulate(
    priors: Priors | str | os.PathLike | None = None,
    n_paths: int = DEFAULT_PATHS,
    seed: int = DEFAULT_SEED,
    point: bool = False,
    keep_paths: bool = False,
    threads: int | None = None,
    quantiles: Sequence[float] = tuple(DEFAULT_QUANTILES),
    levels: Sequence[float] = tuple(DEFAULT_LEVELS),
    progress: bool | None = None,
    client=None,
    keep_paths_store: str | os.PathLike | None = None,
    batch_paths: int | None = None,
    target_se: float | None = None,
    max_paths: int | None = None,
    se_cells: dict | None = None,
) -> xr.Dataset:
    """Monte Carlo (or point-mode) run of the regional stock model.

    Parameters
    ----------
    priors : Priors, path, name or None
        ``None`` runs the study's priors (``cic2025``).
    n_paths : int
        Number of paths (ignored in point mode, which is one path at nominal inputs).
    seed : int
        The result is a pure function of (priors, n_paths, seed, mcsd version).
    point : bool
        Every input at its nominal (median) value; quantiles all equal that path.
    keep_paths : bool
        Add per-path cubes (``path`` dim). Memory: 4 x (regions+1) x months x 8 bytes per
        path (about 7.7 kB for the study priors); everything else is fixed-size.
    threads : int or None
        Worker threads; default NUMBA_NUM_THREADS or the usable cores. Does not change
        the numbers.
    quantiles, levels : sequences of floats
        Quantile probabilities; occupancy levels for ``occupancy_exceedance`` (multiples of
        0.001, exact).
    progress : bool or None
        Progress bar on stderr; None shows one for runs longer than about a second.
    client : dask.distributed.Client or None
        Run the paths as tasks on this Dask cluster (``mcsd.distributed``; needs the
        ``dask`` extra). Same numbers, bit for bit, as a local run.
    keep_paths_store : path or None
        With ``client`` and ``keep_paths``: the zarr store (overwritten) that receives the
        per-path cube, opened lazily in the result; default a new temporary folder.
    batch_paths : int or None
        With ``client``: paths per task (default chosen from n_paths and the worker count).
    target_se, max_paths, se_cells : precision-targeted run (``mcsd.precision``)
        With ``target_se``, ``n_paths`` is ignored: blocks of paths are added until every
        selected p_shortage / turning_point_cdf cell has standard error <= target_se (at
        least 10,000 paths; a Wilson guard where p is 0 or 1), or ``max_paths`` is reached.
        ``se_cells`` selects cells, e.g. ``{"region": ["yangtze"], "time": slice("2025",
        "2026")}``. The result equals the fixed-n run at the stopping n (attrs
        ``paths_used``, ``target_se``, ``converged``, ``non_converged_cells``).

    Returns
    -------
    xarray.Dataset with dims region (incl. national), time (month ends), quantile, level.
    """
    p = _as_priors(priors)
    q = _check_probabilities("quantiles", quantiles, None)
    lv = _check_probabilities("levels", levels, 0.001)
    if (
        isinstance(n_paths, bool)
        or not isinstance(n_paths, (int, np.integer))
        or not 1 <= n_paths <= MAX_PATHS
    ):
        raise ValueError(f"n_paths must be an integer in [1, {MAX_PATHS}], got {n_paths!r}")
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or not -(2**63) <= seed < 2**63
    ):
        raise ValueError(f"seed must be a 64-bit integer, got {seed!r}")
    # --- precision-targeted run (mcsd.precision) ---
    if target_se is not None:
        if point or keep_paths or client is not None:
            raise ValueError("target_se cannot be combined with point, keep_paths or client")
        from mcsd.precision import simulate_to_precision

        nthreads = default_threads() if threads is None else int(threads)
        if nthreads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        return simulate_to_precision(
            p, int(seed), target_se, max_paths, se_cells, nthreads, q, lv, progress
        )
    # --- end precision-targeted run ---
    n = 1 if point else int(n_paths)
    run = CompiledRun.build(p, int(seed))
    r1, t = run.model.n_regions + 1, run.model.n_months
    kept = None
    # --- dask (mcsd.distributed) ---
    distributed_run = client is not None and not point
    path_store = None
    if distributed_run and keep_paths:
        from mcsd.distributed import default_store

        path_store = str(keep_paths_store) if keep_paths_store is not None else default_store()
        # zero-path template carrying the per-path variables' attributes
        kept = (np.zeros((0, 4, r1, t)), np.zeros((0, r1), np.int64))
    # --- end dask ---
    if (keep_paths or point) and not distributed_run:
        kept = (np.zeros((n, 4, r1, t)), np.zeros((n, r1), np.int64))
    if point:
        assert kept is not None
        acc = run.new_accumulators()
        acc.record(run.model, run.spec, run.group_seed_keys, 0, 1, True, 1, kept[0], kept[1])
    elif distributed_run:  # --- dask (mcsd.distributed) ---
        from mcsd.distributed import run_distributed

        with progress_bar(n, enabled=progress) as bar:
            acc = run_distributed(
                client, run, n, batch_paths, on_progress=bar, keep_store=path_store
            )
    else:
        nthreads = default_threads() if threads is None else int(threads)
        if nthreads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        with progress_bar(n, enabled=progress) as bar:
            acc = run_local(run, n, nthreads, keep=kept, on_progress=bar)
    finals = acc.finalize(run.spec, q, lv)
    widths = max_bin_width(run.spec)
    attrs: dict[str, object] = {
        "mcsd_version": __version__,
        "seed": int(seed),
        "n_paths": int(n),
        "point_mode": int(bool(point)),
        "quantile_method": "fixed-bin histograms, linear within the bin",
        **{f"{k}_max_bin_width": v for k, v in widths.items()},
    }
    ds = build_dataset(
        p, finals, run.model.in_shortage_at_base, q, lv, attrs, kept if keep_paths else None
    )
    if path_store is not None:  # --- dask (mcsd.distributed) ---
        from mcsd.distributed import attach_paths

        ds = attach_paths(ds, path_store)
    for k, v in widths.items():
        ds[k].attrs["max_quantile_error"] = v
    return ds
