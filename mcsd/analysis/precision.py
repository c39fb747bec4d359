"""Precision-targeted runs: add blocks of paths until the selected probabilities are precise.

``simulate(priors, target_se=0.005)`` (or ``simulate_to_precision``) runs paths 0 .. n1-1,
checks the Monte Carlo standard error of every selected cell, and if one is above the target
runs paths n1 .. n2-1 (``run_paths(first_path=n1)``) and merges: accumulators are integer
counts, so the merged result is *exactly* the fixed-n run at the stopping n, bit for bit.

Stopping rule (honest at p = 0 or 1, where the binomial SE is 0 at any n):

* at least ``min_paths`` paths (default 10,000; rounded up to whole engine chunks), and
* for every selected cell, ``max(binomial SE, Wilson half-width / 1.96) <= target_se``.
  Where 0 < p < 1 and n is large the two agree; at p = 0 or 1 the Wilson term is about
  1.92 / n, so a cell with no shortage on 10,000 paths counts as known to ~2e-4, not to 0.

Cells: every ``p_shortage`` and ``turning_point_cdf`` cell by default; ``se_cells`` selects
``{REGION: [...], TIME: slice("2025", "2026"), "variables": ("p_shortage",)}`` (region
and time take anything ``DataArray.loc`` takes).

Block schedule (deterministic, so the stopping n is a pure function of the inputs): the
next total is the smallest of ``max_paths``, twice the paths done, and the paths the worst
unconverged cell needs at its current p (``p (1 - p) / target**2``, plus 5%), rounded up to
whole chunks and at least one chunk more than done.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from mcsd.dims import REGION, TIME
from mcsd.engine.executor import CHUNK_PATHS, CompiledRun, run_paths
from mcsd.priors.model import Priors
from mcsd.progress import progress_bar
from mcsd.results.accumulators import Accumulators
from mcsd.results.dataset import region_names
from mcsd.results.variables import Z95, Finals, wilson_interval

DEFAULT_MIN_PATHS = 10_000
DEFAULT_MAX_PATHS = 4_194_304  # 1024 chunks
SE_VARIABLES = ("p_shortage", "turning_point_cdf")
MAX_LISTED_CELLS = 200


def _round_chunk(n: int, chunk: int) -> int:
    return int(math.ceil(n / chunk) * chunk)


def cell_mask(priors: Priors, se_cells: Mapping[str, Any] | None) -> tuple[np.ndarray, tuple]:
    """(R+1, T) boolean mask of the selected cells, and the selected variable names."""
    coords = {REGION: region_names(priors), TIME: priors.month_ends.values}
    variables: tuple[str, ...] = SE_VARIABLES
    if se_cells is None:
        return np.ones((len(coords[REGION]), len(coords[TIME])), bool), variables
    unknown = set(se_cells) - {"region", "time", "variables"}
    if unknown:
        raise ValueError(f"se_cells: unknown keys {sorted(unknown)} (region, time, variables)")
    if "variables" in se_cells:
        v = se_cells["variables"]
        variables = (v,) if isinstance(v, str) else tuple(v)
        bad = [x for x in variables if x not in SE_VARIABLES]
        if bad or not variables:
            raise ValueError(f"se_cells: variables must be among {SE_VARIABLES}, got {bad}")
    mask = xr.DataArray(
        np.zeros((len(coords[REGION]), len(coords[TIME])), bool),
        coords=coords,
        dims=(REGION, TIME),
    )
    sel = {k: se_cells[k] for k in (REGION, TIME) if k in se_cells}
    try:
        mask.loc[sel] = True
    except (KeyError, ValueError, TypeError) as err:
        raise ValueError(f"se_cells: cannot select {sel}: {err}") from None
    if not mask.values.any():
        raise ValueError(f"se_cells: the selection {sel} has no cells")
    return mask.values, variables


def guarded_se(k: np.ndarray, n: int) -> np.ndarray:
    """max(binomial SE, Wilson 95% half-width / 1.96) of k successes in n trials."""
    p = k / n
    se = np.sqrt(p * (1.0 - p) / n)
    lo, hi = wilson_interval(k, n)
    return np.maximum(se, (hi - lo) / (2.0 * Z95))


def cell_counts(acc: Accumulators) -> dict[str, np.ndarray]:
    return {
        "p_shortage": acc.shortage,
        "turning_point_cdf": np.cumsum(acc.turning[:, :-1], axis=1),
    }


def run_to_precision(
    priors: Priors,
    run: CompiledRun,
    target_se: float,
    max_paths: int | None = None,
    se_cells: Mapping[str, Any] | None = None,
    threads: int = 1,
    progress: bool | None = None,
    min_paths: int = DEFAULT_MIN_PATHS,
    chunk: int = CHUNK_PATHS,
) -> tuple[Accumulators, dict[str, object]]:
    """Run blocks of paths until every selected cell's SE <= ``target_se`` (module doc).

    Returns the accumulators of the stopping n (paths 0 .. n-1, identical to a fixed-n run)
    and the report attrs ``paths_used``, ``target_se``, ``converged`` (1/0), ``min_paths``,
    ``se_rule``, ``max_selected_se`` and, when ``max_paths`` stopped the run first,
    ``non_converged_cells`` (``"variable[region, YYYY-MM]"`` items joined by ``"; "``, at
    most 200 listed) and ``n_non_converged_cells``.
    """
    target, max_n = _check_target(target_se), _check_max_paths(max_paths)
    mask, variables = cell_mask(priors, se_cells)
    acc = run.new_accumulators()
    done = 0
    goal = min(max_n, _round_chunk(max(min_paths, 1), chunk))
    while True:
        with progress_bar(goal - done, enabled=progress) as bar:
            acc += run_paths(run, goal - done, threads, first_path=done, on_progress=bar)
        done = goal
        counts = cell_counts(acc)
        ses = {v: guarded_se(counts[v], done) for v in variables}
        bad = np.zeros_like(mask)
        for v in variables:
            bad |= mask & (ses[v] > target)
        if not bad.any() or done >= max_n:
            break
        need = 0.0
        for v in variables:
            p = counts[v] / done
            need = max(need, float(np.max(np.where(mask & bad, p * (1 - p), 0.0))))
        wanted = _round_chunk(int(1.05 * need / target**2) + 1, chunk)
        goal = min(max_n, 2 * done, max(wanted, done + chunk))
    return acc, _report(priors, mask, variables, ses, done, target, min_paths, max_n)


def _check_max_paths(max_paths: object) -> int:
    max_n = DEFAULT_MAX_PATHS if max_paths is None else max_paths
    if isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer)) or max_n < 1:
        raise ValueError(f"max_paths must be a positive integer, got {max_paths!r}")
    return int(max_n)


def _check_target(target_se: object) -> float:
    if isinstance(target_se, bool) or not (
        isinstance(target_se, (int, float, np.floating)) and 0 < float(target_se) < 1
    ):
        raise ValueError(f"target_se must be a number in (0, 1), got {target_se!r}")
    return float(target_se)


def _report(
    priors: Priors,
    mask: np.ndarray,
    variables: tuple[str, ...],
    ses: dict[str, np.ndarray],
    done: int,
    target: float,
    min_paths: int,
    max_n: int,
) -> dict[str, object]:
    """The attrs that say how a precision-targeted run ended."""
    listed: list[str] = []
    n_bad = 0
    times = pd.DatetimeIndex(priors.month_ends)
    regions = region_names(priors)
    for v in variables:
        rr, tt = np.nonzero(mask & (ses[v] > target))
        n_bad += rr.size
        for r, t in zip(rr, tt, strict=True):
            if len(listed) < MAX_LISTED_CELLS:
                listed.append(f"{v}[{regions[r]}, {times[t]:%Y-%m}]")
    max_se = max(float(np.max(np.where(mask, ses[v], 0.0))) for v in variables)
    return {
        "paths_used": int(done),
        "target_se": target,
        "converged": int(n_bad == 0),
        "min_paths": int(min_paths),
        "max_paths": int(max_n),
        "max_selected_se": max_se,
        "se_variables": ", ".join(variables),
        "se_rule": "n >= min_paths and max(binomial SE, Wilson 95% half-width / 1.96) "
        "<= target_se in every selected cell",
        "n_non_converged_cells": int(n_bad),
        "non_converged_cells": "; ".join(listed),
    }


def weighted_ses(run: CompiledRun, wacc: Any, variables: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The guarded standard errors of a weighted run's selected variables: max(ratio-
    estimator SE, Wilson half-width at the cell's effective paths / 1.96)."""
    m = run.model
    finals = Finals(
        wacc.estimates(None, None), run.spec, np.zeros(0), np.zeros(0), m.month_year,
        m.in_shortage_at_base, squares=wacc.squares(),
    )  # fmt: skip
    counts: dict[str, Callable[[Finals], np.ndarray]] = {
        "p_shortage": lambda f: f.acc.shortage,
        "turning_point_cdf": lambda f: np.cumsum(f.acc.turning[:, :-1], axis=1),
    }
    out = {}
    for v in variables:
        lo, hi = finals.wilson(counts[v])
        out[v] = np.maximum(finals.proportion_se(counts[v]), (hi - lo) / (2.0 * Z95))
    return out


def weighted_run_to_precision(
    priors: Priors,
    run_n: Callable[[int], tuple],
    target_se: float,
    max_paths: int | None = None,
    se_cells: Mapping[str, Any] | None = None,
    min_paths: int = DEFAULT_MIN_PATHS,
    chunk: int = CHUNK_PATHS,
) -> tuple[tuple, dict[str, object]]:
    """``run_to_precision`` for a nowcast: ``run_n(n)`` runs n weighted paths from scratch
    (a weighted run's weights depend on its largest log weight, so rounds do not merge)
    and returns (run, prior run, prior accumulators, accumulators, weighted accumulators).
    Rounds follow the same schedule, with the paths a cell needs taken as n (se /
    target)**2 (its effective paths scale with n). Returns the last round and the report
    attrs (``se_rule`` names the weighted SE)."""
    target, max_n = _check_target(target_se), _check_max_paths(max_paths)
    mask, variables = cell_mask(priors, se_cells)
    n = min(max_n, _round_chunk(max(min_paths, 1), chunk))
    while True:
        result = run_n(n)
        if result[4] is None:  # pins only: equal weights, the unweighted rule
            counts = cell_counts(result[3])
            ses = {v: guarded_se(counts[v], n) for v in variables}
        else:
            ses = weighted_ses(result[0], result[4], variables)
        worst = max(float(np.max(np.where(mask, ses[v], 0.0))) for v in variables)
        if worst <= target or n >= max_n:
            break
        wanted = _round_chunk(int(1.05 * n * (worst / target) ** 2) + 1, chunk)
        n = min(max_n, 2 * n, max(wanted, n + chunk))
    report = _report(priors, mask, variables, ses, n, target, min_paths, max_n)
    report["se_rule"] = (
        "n >= min_paths and max(weighted ratio-estimator SE, Wilson 95% half-width at the "
        "cell's effective paths / 1.96) <= target_se in every selected cell; each round a "
        "new weighted run of n paths"
    )
    return result, report
