"""The Python API: ``simulate`` and ``simulate_to_precision``.

Knows priors, the engine's contract and results, not numba internals: every run goes
through the engine's one executor and its Dataset through the results registry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from mcsd.engine.defaults import DEFAULT_PATHS, DEFAULT_SEED
from mcsd.engine.executor import (
    CompiledRun,
    Kept,
    run_paths,
    validate_run,
)
from mcsd.priors.loader import PriorsLike, as_priors
from mcsd.priors.model import Priors
from mcsd.progress import progress_bar
from mcsd.results.accumulators import Accumulators
from mcsd.results.dataset import build_dataset
from mcsd.results.histograms import max_bin_width
from mcsd.results.provenance import provenance
from mcsd.results.variables import DEFAULT_LEVELS, DEFAULT_QUANTILES, Finals


def check_probabilities(
    name: str, values: Sequence[float] | np.ndarray, step: float | None
) -> np.ndarray:
    """Values in [0, 1] (multiples of ``step`` when given) as a float64 array."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
        raise ValueError(f"{name} must be values in [0, 1], got {list(arr)}")
    if step is not None and not np.allclose(arr / step, np.rint(arr / step), atol=1e-9, rtol=0):
        raise ValueError(f"{name} must be multiples of {step}, got {list(arr)}")
    return np.round(arr, 6) if step is not None else arr


def result_dataset(
    priors: Priors,
    run: CompiledRun,
    acc: Accumulators,
    quantiles: np.ndarray,
    levels: np.ndarray,
    seed: int,
    point: bool = False,
    kept: Kept | None = None,
) -> xr.Dataset:
    """The ``simulate`` Dataset of the paths in ``acc``."""
    finals = run.finals(acc, quantiles, levels)
    widths = max_bin_width(run.spec)
    attrs = provenance(
        f"mcsd result for priors {priors.name}",
        priors,
        seed,
        acc.n_paths,
        point_mode=int(bool(point)),
        quantile_method="fixed-bin histograms, linear within the bin",
        **{f"{k}_max_bin_width": v for k, v in widths.items()},
    )
    return build_dataset(priors, finals, attrs, kept)


def simulate(
    priors: PriorsLike = None,
    n_paths: int = DEFAULT_PATHS,
    seed: int = DEFAULT_SEED,
    *,
    point: bool = False,
    keep_paths: bool = False,
    threads: int | None = None,
    quantiles: Sequence[float] = tuple(DEFAULT_QUANTILES),
    levels: Sequence[float] = tuple(DEFAULT_LEVELS),
    progress: bool | None = None,
    client: Any = None,
    keep_paths_store: str | os.PathLike | None = None,
    batch_paths: int | None = None,
    target_se: float | None = None,
    max_paths: int | None = None,
    se_cells: Mapping[str, Any] | None = None,
    observations: Any = None,
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
        Worker threads, 1 to 4 x the usable cores (at least 8; more is refused); default
        NUMBA_NUM_THREADS (an invalid value is a ValueError naming it) or the usable cores.
        Does not change the numbers. Before running, the memory the run needs is estimated
        and a run that cannot fit in the available memory is refused with both figures.
    quantiles, levels : sequences of floats
        Quantile probabilities; occupancy levels for ``occupancy_exceedance`` (multiples of
        0.001, exact).
    progress : bool or None
        Progress bar on stderr; None shows one for runs longer than about a second.
    client : dask.distributed.Client or None
        Run the paths as tasks on this Dask cluster (``mcsd.engine.distributed``; needs the
        ``dask`` extra). Same numbers, bit for bit, as a local run. Every worker must run
        the client's mcsd version and kernel sources; otherwise ``DistributedError`` names
        the worker.
    keep_paths_store : path or None
        With ``client`` and ``keep_paths``: the zarr store that receives the per-path cube,
        opened lazily in the result. It must be a new path, an empty folder, or a store mcsd
        wrote (marked ``mcsd_store = 1``), which is overwritten; anything else raises
        ``PathStoreError`` and is left untouched. Default: a new temporary folder owned by
        mcsd, removed when the result is closed (``ds.close()`` or ``with simulate(...) as
        ds:``), once nothing derived from the result references it, or at interpreter exit,
        whichever comes first; ``.load()`` what you want to keep before closing. It is also
        removed if the run fails.
    batch_paths : int or None
        With ``client``: paths per task (default chosen from n_paths and the worker count).
    target_se, max_paths, se_cells
        A precision-targeted run: ``simulate_to_precision(priors, target_se, ...)``;
        ``n_paths`` is then ignored.
    observations : Observations, path, name or None
        A nowcast (``mcsd.priors.observations``): every estimate is weighted by the
        likelihood of these measurements, project facts pin their halls' draws; the result
        adds ``X_prior`` copies, the observations, ``effective_sample_size`` and, below
        ``ESS_FLOOR`` (1000), a ``nowcast_warning`` attr. Costs two passes over the paths
        (three with pinned facts). Not with ``point``.

    Returns
    -------
    xarray.Dataset with dims region (incl. national), time (month ends), year, quantile,
    level (``mcsd.results.variables`` lists every variable).
    """
    p = as_priors(priors)
    q = check_probabilities("quantiles", quantiles, None)
    lv = check_probabilities("levels", levels, 0.001)
    local = client is None or point
    n, seed, nthreads = validate_run(
        n_paths, seed, threads, priors=p if local else None, keep_paths=keep_paths and not point
    )
    if observations is not None:
        from mcsd.priors.observations import as_observations

        obs = as_observations(observations, p)
        if point:
            raise ValueError("observations cannot be combined with point mode")
        if obs is not None:
            if target_se is not None:
                if keep_paths or client is not None:
                    raise ValueError("target_se cannot be combined with keep_paths or client")
                return _nowcast_to_precision(
                    p, obs, target_se, seed, max_paths, se_cells, nthreads, q, lv, progress
                )
            return nowcast(p, obs, n, seed, nthreads, q, lv, keep_paths, progress, client)
    if target_se is not None:
        if point or keep_paths or client is not None:
            raise ValueError("target_se cannot be combined with point, keep_paths or client")
        return simulate_to_precision(
            p, target_se, seed=seed, max_paths=max_paths, se_cells=se_cells,
            threads=nthreads, quantiles=q, levels=lv, progress=progress,
        )  # fmt: skip
    run = CompiledRun.build(p, seed)
    if client is not None and not point:
        return _simulate_distributed(
            p, run, n, seed, q, lv, client, keep_paths, keep_paths_store, batch_paths, progress
        )
    n = 1 if point else n
    kept = run.new_kept(n) if keep_paths or point else None
    with progress_bar(n, enabled=False if point else progress) as bar:
        acc = run_paths(run, n, 1 if point else nthreads, keep=kept, on_progress=bar, point=point)
    return result_dataset(p, run, acc, q, lv, seed, point, kept if keep_paths else None)


def _simulate_distributed(
    p: Priors,
    run: CompiledRun,
    n: int,
    seed: int,
    q: np.ndarray,
    lv: np.ndarray,
    client: Any,
    keep_paths: bool,
    keep_paths_store: str | os.PathLike | None,
    batch_paths: int | None,
    progress: bool | None,
) -> xr.Dataset:
    """``simulate`` on a Dask cluster (``mcsd.engine.distributed``)."""
    from mcsd.engine.distributed import attach_paths, default_store, run_distributed

    store = None
    if keep_paths:
        store = str(keep_paths_store) if keep_paths_store is not None else default_store()
    with progress_bar(n, enabled=progress) as bar:
        acc = run_distributed(client, run, n, batch_paths, on_progress=bar, keep_store=store)
    # a zero-path template carries the per-path variables' attributes
    ds = result_dataset(p, run, acc, q, lv, seed, False, run.new_kept(0) if store else None)
    return ds if store is None else attach_paths(ds, store)


def simulate_to_precision(
    priors: PriorsLike,
    target_se: float,
    *,
    seed: int = DEFAULT_SEED,
    max_paths: int | None = None,
    se_cells: Mapping[str, Any] | None = None,
    threads: int | None = None,
    quantiles: Sequence[float] | np.ndarray = tuple(DEFAULT_QUANTILES),
    levels: Sequence[float] | np.ndarray = tuple(DEFAULT_LEVELS),
    progress: bool | None = None,
    min_paths: int | None = None,
) -> xr.Dataset:
    """Add blocks of paths until every selected P(shortage) / turning-point cell has a
    standard error <= ``target_se`` (``mcsd.analysis.precision`` has the rule), or
    ``max_paths`` is reached.

    ``se_cells`` selects cells, e.g. ``{"region": ["yangtze"], "time": slice("2025",
    "2026")}``. The result equals ``simulate(priors, n_paths=paths_used, seed=seed)`` bit
    for bit (apart from ``created``), with attrs ``paths_used``, ``target_se``,
    ``converged``, ``non_converged_cells``.
    """
    from mcsd.analysis.precision import DEFAULT_MIN_PATHS, run_to_precision

    p = as_priors(priors)
    q = check_probabilities("quantiles", quantiles, None)
    lv = check_probabilities("levels", levels, 0.001)
    _, seed, nthreads = validate_run(1, seed, threads, priors=p)
    run = CompiledRun.build(p, seed)
    acc, report = run_to_precision(
        p, run, target_se, max_paths, se_cells, nthreads, progress,
        DEFAULT_MIN_PATHS if min_paths is None else min_paths,
    )  # fmt: skip
    ds = result_dataset(p, run, acc, q, lv, seed)
    ds.attrs.update(report)
    return ds


def _nowcast_accumulators(
    p: Priors,
    obs: Any,
    n: int,
    seed: int,
    threads: int,
    keep: Kept | None,
    progress: bool | None,
    client: Any = None,
) -> tuple[CompiledRun, CompiledRun, Accumulators, Accumulators, Any]:
    """(pinned run, prior run, prior accumulators, weighted run's accumulators, weighted
    accumulators) of a nowcast (``mcsd.engine.weighting``)."""
    from mcsd.engine.weighting import (
        ObservationArrays,
        max_log_weight_pass,
        no_consistent_path,
        weight_scale_bits,
        weighted_pass,
    )

    pins = obs.pins(p)
    run = CompiledRun.build(p, seed, pins=pins)
    prior_run = CompiledRun.build(p, seed) if pins else run
    arrays = ObservationArrays.build(p, obs)
    bits = weight_scale_bits(n)
    passes = 3 if pins else 2
    if arrays.var.size == 0 and arrays.fact_project.size == 0:
        # pins only: every weight is equal, so the pinned run itself is the answer, exactly
        with progress_bar(2 * n, enabled=progress) as bar:
            if client is not None:
                from mcsd.engine.distributed import run_distributed

                acc = run_distributed(client, run, n, on_progress=bar)
                prior_acc = run_distributed(client, prior_run, n, on_progress=bar)
            else:
                acc = run_paths(run, n, threads, keep=keep, on_progress=bar)
                prior_acc = run_paths(prior_run, n, threads, on_progress=bar)
        return run, prior_run, prior_acc, acc, None
    if client is not None:
        from mcsd.engine.distributed import run_distributed, run_distributed_weighted

        with progress_bar(passes * n, enabled=progress) as bar:
            acc, shift = run_distributed_weighted(client, run, arrays, n, on_progress=bar)
            if not np.isfinite(shift):
                raise no_consistent_path(obs.name)
            prior_acc = acc if not pins else run_distributed(client, prior_run, n, on_progress=bar)
            acc, wacc = run_distributed_weighted(
                client, run, arrays, n, shift=shift, scale_bits=bits, on_progress=bar
            )
        return run, prior_run, prior_acc, acc, wacc
    with progress_bar(passes * n, enabled=progress) as bar:
        acc, shift = max_log_weight_pass(run, arrays, n, threads, on_progress=bar)
        if not np.isfinite(shift):
            raise no_consistent_path(obs.name)
        prior_acc = acc if not pins else run_paths(prior_run, n, threads, on_progress=bar)
        acc, wacc = weighted_pass(run, arrays, n, threads, shift, bits, keep=keep, on_progress=bar)
    return run, prior_run, prior_acc, acc, wacc


def nowcast(
    p: Priors,
    obs: Any,
    n: int,
    seed: int,
    threads: int,
    q: np.ndarray,
    lv: np.ndarray,
    keep_paths: bool = False,
    progress: bool | None = None,
    client: Any = None,
) -> xr.Dataset:
    """``simulate`` with observations: the weighted Dataset (``mcsd.results.nowcast``)."""
    if keep_paths and client is not None:
        raise ValueError("observations with a client cannot keep paths (keep_paths)")
    run = CompiledRun.build(p, seed)
    kept = run.new_kept(n) if keep_paths else None
    run, prior_run, prior_acc, acc, wacc = _nowcast_accumulators(
        p, obs, n, seed, threads, kept, progress, client
    )
    return nowcast_dataset(p, obs, run, prior_run, prior_acc, acc, wacc, q, lv, seed, kept)


def nowcast_dataset(
    p: Priors,
    obs: Any,
    run: CompiledRun,
    prior_run: CompiledRun,
    prior_acc: Accumulators,
    acc: Accumulators,
    wacc: Any,
    q: np.ndarray,
    lv: np.ndarray,
    seed: int,
    kept: Kept | None = None,
    extra_attrs: Mapping[str, object] | None = None,
) -> xr.Dataset:
    """The nowcast Dataset of weighted accumulators ``wacc`` (see ``nowcast``)."""
    from mcsd.engine.weighting import ESS_FLOOR, ObservationArrays, path_log_weights, quantized
    from mcsd.results.nowcast import with_nowcast

    m = run.model
    if wacc is None:  # pins only (``_nowcast_accumulators``): equal weights, exact counts
        finals = run.finals(acc, q, lv)
        ess, bits = float(acc.n_paths), 0
    else:
        finals = Finals(
            wacc.estimates(acc.vmin, acc.vmax), run.spec, q, lv, m.month_year,
            m.in_shortage_at_base, squares=wacc.squares(),
        )  # fmt: skip
        ess, bits = wacc.effective_sample_size, wacc.scale_bits
    widths = max_bin_width(run.spec)
    attrs = provenance(
        f"mcsd nowcast for priors {p.name} given observations {obs.name}",
        p,
        seed,
        acc.n_paths,
        point_mode=0,
        quantile_method="fixed-bin weighted histograms, linear within the bin",
        **{f"{k}_max_bin_width": v for k, v in widths.items()},
        **(extra_attrs or {}),
    )
    ds = build_dataset(p, finals, attrs, kept)
    prior = prior_run.finals(prior_acc, q, lv)
    weights = None
    if kept is not None and wacc is None:
        weights = np.full(kept[0].shape[0], 1.0 / kept[0].shape[0])
    elif kept is not None:
        arrays = ObservationArrays.build(p, obs)
        lw = path_log_weights(run, arrays, 0, kept[0], np.empty(kept[0].shape[0]))
        w, _ = quantized(lw, float(np.max(lw)), bits)
        weights = w / float(w.sum())
    return with_nowcast(
        ds, prior, p, obs, ess=ess, floor=ESS_FLOOR, scale_bits=bits, path_weight=weights
    )


def _nowcast_to_precision(
    p: Priors,
    obs: Any,
    target_se: float,
    seed: int,
    max_paths: int | None,
    se_cells: Mapping[str, Any] | None,
    threads: int,
    q: np.ndarray,
    lv: np.ndarray,
    progress: bool | None,
) -> xr.Dataset:
    """A nowcast with the fewest paths whose selected weighted SEs are <= ``target_se``
    (``mcsd.analysis.precision.weighted_run_to_precision``)."""
    from mcsd.analysis.precision import weighted_run_to_precision

    def run_n(n: int) -> tuple:
        return _nowcast_accumulators(p, obs, n, seed, threads, None, progress)

    (run, prior_run, prior_acc, acc, wacc), report = weighted_run_to_precision(
        p, run_n, target_se, max_paths, se_cells
    )
    return nowcast_dataset(
        p, obs, run, prior_run, prior_acc, acc, wacc, q, lv, seed, extra_attrs=report
    )
