"""Weighted (nowcast) runs: paths weighted by the likelihood of what has been observed.

A path's log weight is the sum of its measurements' Gaussian log likelihoods (constants
dropped: they cancel when the weights are normalised), or -inf where a "not opened by"
fact is false on it. "opened" and "cancelled" facts are not weights: they pin the hall's
draw (``ModelArrays.pin_delivery``).

Two passes over the same paths, both pure functions of (priors, observations, n_paths,
seed):

1. the paths as in any run, plus L = the largest log weight (an exact max);
2. the paths again, each folded with the integer weights ``w = round(2**S exp(logw -
   L))`` and ``w2 = round(2**S exp(2 (logw - L)))``, S = ``weight_scale_bits(n_paths)``,
   into int64 sums (``WeightedAccumulators``).

Integer sums merge exactly in any order, so the result is the same bit for bit for any
threads, chunking or Dask workers. A weight below 2**-S of the largest rounds to 0 (it
would change any estimate by less than n_paths x 2**-S / sum w <= 2**-(62 -
bit_length(n))... relative); with constant weights (an uninformative observation) every
estimate equals the unweighted one exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcsd.engine.executor import CompiledRun, Kept, execute
from mcsd.kernels.layout import VAR_DEMAND, VAR_OCCUPANCY, VAR_SUPPLY
from mcsd.kernels.sampling import sample_block
from mcsd.kernels.weighted import exclude_opened, fold_weighted, log_weights, quantize_weights
from mcsd.priors.model import Priors
from mcsd.results.accumulators import Accumulators
from mcsd.results.weighted import WeightedAccumulators

ESS_FLOOR = 1000.0  # below this Kish effective sample size a result carries a warning
WEIGHTED_CHUNK_PATHS = 1024  # per-path buffers of a chunk: 1024 x 5 x R1 x T float64
QUANTITY_VARS = {"occupancy": VAR_OCCUPANCY, "demand_mw": VAR_DEMAND, "supply_mw": VAR_SUPPLY}


def weight_scale_bits(n_paths: int) -> int:
    """S such that n_paths weights of at most 2**S sum below 2**62 (int64 with room)."""
    return 62 - int(n_paths).bit_length()


@dataclass(frozen=True)
class ObservationArrays:
    """The kernels' view of a set of observations: M measurements and F "not opened by"
    facts (region index R = national; months are 0-based column indices)."""

    var: np.ndarray  # (M,) int64 VAR_* of the measured quantity
    region: np.ndarray  # (M,) int64
    t: np.ndarray  # (M,) int64 month column (month index - 1)
    value: np.ndarray  # (M,) float64
    sd: np.ndarray  # (M,) float64
    fact_project: np.ndarray  # (F,) int64 project index (ModelArrays order)
    fact_month: np.ndarray  # (F,) int64 month index m: opened in 1..m is excluded

    @classmethod
    def build(cls, priors: Priors, observations) -> ObservationArrays:  # noqa: ANN001
        """From validated ``Observations`` (``mcsd.priors.observations``)."""
        regions = [*priors.region_ids, "national"]
        ms = observations.measurements
        projects = [proj.id for prov in priors.providers for proj in prov.projects]
        facts = observations.not_opened(priors)
        return cls(
            var=np.array([QUANTITY_VARS[m.quantity] for m in ms], np.int64).reshape(len(ms)),
            region=np.array([regions.index(m.region) for m in ms], np.int64).reshape(len(ms)),
            t=np.array([priors.month_index(m.month) - 1 for m in ms], np.int64).reshape(len(ms)),
            value=np.array([m.value for m in ms], np.float64).reshape(len(ms)),
            sd=np.array([m.sd for m in ms], np.float64).reshape(len(ms)),
            fact_project=np.array([projects.index(p) for p, _ in facts], np.int64).reshape(
                len(facts)
            ),
            fact_month=np.array([m for _, m in facts], np.int64).reshape(len(facts)),
        )


def path_log_weights(
    run: CompiledRun, obs: ObservationArrays, path0: int, vals: np.ndarray, out: np.ndarray
) -> np.ndarray:
    """Log weights (n,) of paths path0 .. path0+n-1 from their kept values vals (n, N_VARS,
    R1, T), into out[:n]."""
    n = vals.shape[0]
    log_weights(vals, n, obs.var, obs.region, obs.t, obs.value, obs.sd, out)
    if obs.fact_project.size:
        m = run.model
        delivery = np.empty((m.proj_capacity_mw.shape[0], n), np.int64)
        scale = np.empty((m.market_loading.shape[0], m.n_years, n))
        sample_block(m, run.group_seed_keys, path0, n, scale, delivery)
        exclude_opened(delivery, n, obs.fact_project, obs.fact_month, out)
    return out[:n]


def quantized(logw: np.ndarray, shift: float, scale_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The integer weights (w, w2) of log weights ``logw`` (module doc)."""
    n = logw.shape[0]
    w, w2 = np.empty(n, np.int64), np.empty(n, np.int64)
    quantize_weights(logw, n, float(shift), 2.0**scale_bits, w, w2)
    return w, w2


def max_log_weight_pass(
    run: CompiledRun,
    obs: ObservationArrays,
    n_paths: int,
    threads: int,
    *,
    first_path: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Accumulators, float]:
    """Pass 1: the accumulators of the paths (unweighted) and their largest log weight."""

    def hook(path0: int, n: int, vals: list[np.ndarray], turns: list[np.ndarray]) -> float:
        lw = path_log_weights(run, obs, path0, vals[0], np.empty(n))
        return float(lw.max()) if n else -np.inf

    (acc,), maxima = execute(
        [run],
        n_paths,
        threads,
        first_path=first_path,
        chunk=WEIGHTED_CHUNK_PATHS,
        on_chunk=hook,
        on_progress=on_progress,
    )
    return acc, max(maxima, default=-np.inf)


def weighted_pass(
    run: CompiledRun,
    obs: ObservationArrays,
    n_paths: int,
    threads: int,
    shift: float,
    scale_bits: int,
    *,
    first_path: int = 0,
    keep: Kept | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[Accumulators, WeightedAccumulators]:
    """Pass 2: the paths' accumulators and their weighted accumulators, with weights
    relative to ``shift`` (pass 1's largest log weight) in units of 2**-scale_bits."""
    lock = threading.Lock()
    per_thread: dict[int, WeightedAccumulators] = {}
    sizes = run.sizes
    m = run.model

    def hook(path0: int, n: int, vals: list[np.ndarray], turns: list[np.ndarray]) -> None:
        me = threading.get_ident()
        wacc = per_thread.get(me)
        if wacc is None:
            wacc = WeightedAccumulators.empty(sizes, scale_bits)
            with lock:
                per_thread[me] = wacc
        lw = path_log_weights(run, obs, path0, vals[0], np.empty(n))
        w, w2 = quantized(lw, shift, scale_bits)
        a = wacc.arrays
        fold_weighted(
            vals[0], turns[0], n, w, w2, m.threshold, m.month_year,
            run.spec.lo, run.spec.inv_width, a["totals"], a["shortage"], a["shortage_sq"],
            a["turning"], a["turning_sq"], a["occ_hi"], a["occ_lo"], a["occupancy_hist"],
            a["mw_hist"], a["short_months"], a["short_months_sq"],
        )  # fmt: skip
        wacc.n_paths += n

    (acc,), _ = execute(
        [run],
        n_paths,
        threads,
        first_path=first_path,
        chunk=WEIGHTED_CHUNK_PATHS if keep is None else None,
        keep=keep,
        on_chunk=hook,
        on_progress=on_progress,
    )
    total = WeightedAccumulators.empty(sizes, scale_bits)
    for part in per_thread.values():
        total += part
    return acc, total


def no_consistent_path(obs_name: str) -> ValueError:
    return ValueError(
        f"observations {obs_name!r}: no simulated path agrees with the 'not_opened' facts "
        "(every path opened one of those halls by its month): check the facts against the "
        "priors' delivery delays"
    )
