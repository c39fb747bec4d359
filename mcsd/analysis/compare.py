"""Paired scenario comparison with common random numbers: ``compare(priors_a, priors_b, ...)``.

Both scenarios run with the same seed. Random draws are keyed by (input group, item id, draw)
(``mcsd.engine.arrays``), so a buyer, provider or project present in both files draws the same
random numbers on path i of both runs: the two runs are *paired* path by path, and the
difference of their shortage probabilities has a much smaller Monte Carlo error than two
independent runs would give.

The paired standard error needs joint counts per cell, which the accumulators (marginal
counts) do not keep: n11 (both scenarios short on the path), n10 (only a), n01 (only b). They
are computed chunk by chunk, by the engine's per-chunk hook, from per-path buffers of one
chunk that are reused for the next chunk, so memory is fixed by the chunk size, never by
``n_paths``.

With d = p_b - p_a = (n01 - n10) / n, the paired variance of the difference is
``((n10 + n01) / n - d**2) / n`` (the variance of the per-path difference of indicators over
n); the unpaired one, as if the runs were independent, is ``(p_a (1 - p_a) + p_b (1 - p_b)) / n``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from mcsd.dims import REGION, TIME
from mcsd.engine.defaults import DEFAULT_SEED
from mcsd.engine.executor import CHUNK_PATHS, CompiledRun, execute, validate_run
from mcsd.priors.loader import PriorsLike, as_priors
from mcsd.results.dataset import region_names, with_region_names
from mcsd.results.io import format_attrs
from mcsd.results.provenance import provenance
from mcsd.results.variables import VARIABLES


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
    priors_a: PriorsLike,
    priors_b: PriorsLike,
    n_paths: int = 50_000,
    seed: int = DEFAULT_SEED,
    *,
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
    n, seed, nthreads = validate_run(n_paths, seed, threads, priors=pa, runs=2)
    if pa.region_ids != pb.region_ids:
        raise ValueError(
            f"compare: priors {pa.name} and {pb.name} have different regions "
            f"({list(pa.region_ids)} vs {list(pb.region_ids)})"
        )
    if not pa.month_ends.equals(pb.month_ends):
        raise ValueError(f"compare: priors {pa.name} and {pb.name} have different months")
    ra, rb = CompiledRun.build(pa, seed), CompiledRun.build(pb, seed)
    T = ra.model.n_months
    tha, thb = ra.model.threshold, rb.model.threshold

    def on_chunk(path0, m, vals, turns):
        sa, ca = _indicators(vals[0], turns[0], tha, T)
        sb, cb = _indicators(vals[1], turns[1], thb, T)
        return _joint(sa, sb), _joint(ca, cb)

    (acc_a, acc_b), parts = execute([ra, rb], n, nthreads, chunk=CHUNK_PATHS, on_chunk=on_chunk)
    joint_s = sum(p[0] for p in parts)
    joint_c = sum(p[1] for p in parts)

    names = ("p_shortage", "turning_point_cdf", "p_no_turning_point")
    fa = {k: VARIABLES[k].finalize(ra.finals(acc_a)) for k in names}
    fb = {k: VARIABLES[k].finalize(rb.finals(acc_b)) for k in names}
    coords = {REGION: np.array(region_names(pa), dtype=object), TIME: pa.month_ends.values}
    rt = (REGION, TIME)
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
    data["p_no_turning_point_a"] = ((REGION,), fa["p_no_turning_point"])
    data["p_no_turning_point_b"] = ((REGION,), fb["p_no_turning_point"])
    ds = with_region_names(xr.Dataset(data, coords=coords), pa)
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
    ds.attrs.update(format_attrs("compare"))
    ds.attrs.update(
        provenance(
            f"mcsd paired comparison: {pb.name} minus {pa.name}",
            [pa, pb],
            seed,
            n,
            pairing="common random numbers: same seed; draws keyed by input group and "
            "item id, so items shared by both priors draw the same numbers on each path",
        )
    )
    return ds
