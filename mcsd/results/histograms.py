"""Fixed-bin histograms of the quantile variables: bin layout, quantiles, error bounds.

occupancy has bins of width 0.001 on [0, 1] with edges at k/1000 exactly, so
``occupancy_exceedance`` at levels that are multiples of 0.001 is an exact count. demand,
supply and unmet_demand have ``N_MW_BINS`` equal bins per region and month between bounds
derived from the priors (plus an under- and an overflow bin); a quantile read from a
histogram is within one bin width of the sample quantile (``max_bin_width``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcsd.kernels.layout import N_OCC_BINS, OCC_BINS_PER_UNIT

N_MW_BINS = 2000
# rows of the MW histograms, in order (the kernels' VAR_* - 1)
MW_VARIABLES = ("demand", "supply", "unmet_demand", "deferred_demand")
OCC_EDGES = np.arange(N_OCC_BINS + 1, dtype=np.float64) / OCC_BINS_PER_UNIT


@dataclass(frozen=True)
class HistogramSpec:
    """Bin layout of the MW histograms: lo and width per (variable, region + national, month)."""

    lo: np.ndarray  # (len(MW_VARIABLES), R+1, T) MW
    width: np.ndarray  # (len(MW_VARIABLES), R+1, T) MW

    @functools.cached_property
    def inv_width(self) -> np.ndarray:
        """1 / width (computed once: every chunk of a run passes it to the kernels)."""
        return 1.0 / self.width


@dataclass(frozen=True)
class StockBounds:
    """What the MW bin ranges are derived from (all MW; R regions, T months, J projects)."""

    demand_stock_mw: np.ndarray  # (R,)
    supply_stock_mw: np.ndarray  # (R,)
    max_occupancy: float
    cumulative_increments_mw: np.ndarray  # (R, T) nominal requested increments, cumulated
    project_region: np.ndarray  # (J,) int
    project_capacity_mw: np.ndarray  # (J,)
    earliest_delivery: np.ndarray  # (J,) int, 1-based month; > T never arrives
    demand_scale_hi: float  # a generous upper bound of any demand scale (>= 1)
    # firm requests (pre-leases, demand events) that can have been made by month t, and
    # pre-leased MW that can be waiting at t (halls scheduled by t), cumulated: (R, T)
    cumulative_firm_mw: np.ndarray | None = None
    deferrable_mw: np.ndarray | None = None


def histogram_spec(b: StockBounds) -> HistogramSpec:
    """Bounds of demand, supply and unmet demand per region and month.

    supply lies in [S0, S0 + capacity that can have arrived by t]; served demand in
    [min(D0, max_occ S0), max_occ x supply bound]; unmet demand from 0 to a generous bound
    (requested demand with every buyer at its 99.9th percentile), past which an overflow bin
    counts what is left (a quantile there is interpolated up to the observed maximum).
    """
    R, T = b.cumulative_increments_mw.shape
    sup_hi = np.repeat(b.supply_stock_mw[:, None], T, axis=1).astype(np.float64)
    for j in range(b.project_capacity_mw.shape[0]):
        if b.earliest_delivery[j] <= T:
            sup_hi[b.project_region[j], b.earliest_delivery[j] - 1 :] += b.project_capacity_mw[j]
    sup_lo = np.repeat(b.supply_stock_mw[:, None], T, axis=1)
    dem_lo = np.repeat(
        np.minimum(b.demand_stock_mw, b.max_occupancy * b.supply_stock_mw)[:, None], T, axis=1
    )
    dem_hi = b.max_occupancy * sup_hi
    cum_inc = b.cumulative_increments_mw
    firm = np.zeros((R, T)) if b.cumulative_firm_mw is None else b.cumulative_firm_mw
    total_req = b.demand_stock_mw.sum() + b.demand_scale_hi * cum_inc.sum(axis=0)  # (T,)
    unm_hi_r = np.maximum(
        b.demand_stock_mw[:, None]
        + b.demand_scale_hi * cum_inc
        - b.max_occupancy * b.supply_stock_mw[:, None],
        0.0,
    )
    if b.cumulative_firm_mw is not None:  # (adding zeros would leave the bins unchanged)
        total_req = total_req + firm.sum(axis=0)
        unm_hi_r = unm_hi_r + firm
    def_hi = np.zeros((R, T)) if b.deferrable_mw is None else b.deferrable_mw
    unm_hi_r = np.minimum(np.maximum(unm_hi_r, 0.05 * total_req[None, :]), total_req[None, :])

    def with_national(a: np.ndarray, nat: np.ndarray | None = None) -> np.ndarray:
        return np.concatenate([a, (a.sum(axis=0) if nat is None else nat)[None, :]], axis=0)

    zeros = np.zeros((R + 1, T))
    lo = np.stack([with_national(dem_lo), with_national(sup_lo), zeros, zeros], axis=0)
    hi = np.stack(
        [
            with_national(dem_hi),
            with_national(sup_hi),
            with_national(unm_hi_r, total_req),
            with_national(def_hi),
        ],
        axis=0,
    )
    width = np.maximum(hi - lo, 1.0) / N_MW_BINS
    return HistogramSpec(lo=lo, width=width)


def max_bin_width(spec: HistogramSpec) -> dict[str, float]:
    """Largest bin width per quantile variable: the worst quantile error."""
    out = {"occupancy": 1.0 / OCC_BINS_PER_UNIT}
    for v, name in enumerate(MW_VARIABLES):
        out[name] = float(spec.width[v].max())
    return out


# Quantile search in two levels: sums of blocks of bins (one pass over the histogram)
# locate each quantile's block, and cumulative counts are formed only within the blocks a
# quantile falls in. A cumsum, shift and search over every bin of every cell cost about
# three times more, at any number of paths. Blocks are of a divisor of the bin count near
# ``SEARCH_BLOCK`` (2002 MW bins: 14, 1001 occupancy bins: 13), so they are a free reshape.
SEARCH_BLOCK = 8


def _block_width(n_bins: int) -> int | None:
    """The divisor of ``n_bins`` in [SEARCH_BLOCK / 2, 2 SEARCH_BLOCK] nearest to
    ``SEARCH_BLOCK``; None when there is none (the search is then in one level)."""
    divisors = [w for w in range(SEARCH_BLOCK // 2, 2 * SEARCH_BLOCK + 1) if n_bins % w == 0]
    if n_bins < 2 * SEARCH_BLOCK or not divisors:
        return None
    return min(divisors, key=lambda w: (abs(w - SEARCH_BLOCK), w))


def hist_quantiles(
    counts: np.ndarray,
    bin_at: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    vmin: np.ndarray,
    vmax: np.ndarray,
    quantiles: np.ndarray,
) -> np.ndarray:
    """Quantiles from per-cell histograms by linear interpolation within the bin.

    counts: (..., nbins); bin_at(k) -> (lower edge, width) of bins k (..., nq); vmin, vmax:
    (...). Returns (..., n_quantiles), clamped to the observed [min, max] (exact when every
    path has the same value).

    Quantile q of a cell of n counts is in the first bin whose cumulative count reaches
    ceil(q n) (the last bin when none does), at (q n - counts before it) / (counts in it)
    of its width.
    """
    n_bins = counts.shape[-1]
    flat = counts.reshape(-1, n_bins)
    q = np.asarray(quantiles, dtype=np.float64)
    width = _block_width(n_bins)
    if width is None or flat.dtype != np.int64 or flat.shape[0] == 0:
        return _hist_quantiles_flat(counts, bin_at, vmin, vmax, q)
    cells, nq, n_blocks = flat.shape[0], q.size, n_bins // width
    blocks = flat.reshape(cells, n_blocks, width)
    block_sum = np.einsum("cbw->cb", blocks)  # (cells, n_blocks), exact int64 sums
    block_cum = np.cumsum(block_sum, axis=-1)
    n = block_cum[:, -1:]  # (cells, 1): every bin's count, as cumsum(counts)[..., -1]
    target = q * n  # (cells, nq)
    rows = np.arange(cells)[:, None]
    top = int(n.max(initial=0)) + 1
    need: np.ndarray
    if top <= (2**62) // cells:
        # counts are integers, so cum >= target iff cum >= ceil(target); cell c's block
        # counts (all in [0, n]) shifted by c (n + 1) make one non-decreasing array
        need = np.ceil(target).astype(np.int64)
        shift = rows * top
        pos = np.searchsorted((block_cum + shift).ravel(), (need + shift).ravel(), side="left")
        block = pos.reshape(cells, nq) - rows * n_blocks
    else:  # weighted counts (up to 2**62 per cell): shifted cells would overflow int64
        need = np.ceil(target)
        block = np.count_nonzero(block_cum[:, None, :] < need[:, :, None], axis=-1)
    # the block of the first bin that reaches ``need`` (the last block when none does)
    block = np.minimum(block, n_blocks - 1)
    before_block = np.take_along_axis(block_cum - block_sum, block, axis=-1)  # (cells, nq)
    in_block = blocks[rows, block]  # (cells, nq, width)
    cum = before_block[..., None] + np.cumsum(in_block, axis=-1)
    k = np.count_nonzero(cum < need[..., None], axis=-1)  # cum is non-decreasing
    idx = np.minimum(block * width + k, n_bins - 1)
    k = (idx - block * width)[..., None]
    in_bin = np.take_along_axis(in_block, k, axis=-1)[..., 0]
    before = np.take_along_axis(cum, k, axis=-1)[..., 0] - in_bin
    shape = counts.shape[:-1] + (nq,)
    return _interpolate(
        bin_at,
        idx.reshape(shape),
        target.reshape(shape),
        before.reshape(shape),
        in_bin.reshape(shape),
        vmin,
        vmax,
    )


def _interpolate(
    bin_at: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    idx: np.ndarray,
    target: np.ndarray,
    before: np.ndarray,
    in_bin: np.ndarray,
    vmin: np.ndarray,
    vmax: np.ndarray,
) -> np.ndarray:
    """Quantiles at ``target`` counts in bins ``idx`` holding ``in_bin`` counts after
    ``before`` counts: linear within the bin, clamped to [vmin, vmax]."""
    frac = np.where(in_bin > 0, (target - before) / np.maximum(in_bin, 1), 0.0)
    bin_lo, bin_w = bin_at(idx)
    value = bin_lo + frac * bin_w
    return np.clip(value, vmin[..., None], vmax[..., None])


def _hist_quantiles_flat(
    counts: np.ndarray,
    bin_at: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    vmin: np.ndarray,
    vmax: np.ndarray,
    q: np.ndarray,
) -> np.ndarray:
    """``hist_quantiles`` in one level: cumulative counts over every bin (few bins, other
    dtypes)."""
    cum = np.cumsum(counts, axis=-1)
    n = cum[..., -1:]
    target = q * n  # (..., nq)
    # the first bin whose cumulative count reaches the target, for every cell in one
    # search: counts are integers, so cum >= target iff cum >= ceil(target), and cell c's
    # cumulative counts (all in [0, n], every cell counts all n paths) shifted by c (n + 1)
    # make one non-decreasing array
    n_bins = counts.shape[-1]
    flat_cum = cum.reshape(-1, n_bins)
    top = int(n.max(initial=0)) + 1
    if top <= (2**62) // max(1, flat_cum.shape[0]):
        shift = np.arange(flat_cum.shape[0], dtype=np.int64)[:, None] * top
        need = np.ceil(target.reshape(-1, q.size)).astype(np.int64) + shift
        pos = np.searchsorted((flat_cum + shift).ravel(), need.ravel(), side="left")
        idx = pos.reshape(need.shape) - np.arange(flat_cum.shape[0])[:, None] * n_bins
    else:  # weighted counts (up to 2**62 per cell): shifted cells would overflow int64
        need = np.ceil(target.reshape(-1, q.size))
        idx = np.empty(need.shape, np.int64)
        for j in range(q.size):
            idx[:, j] = np.count_nonzero(flat_cum < need[:, j : j + 1], axis=-1)
    idx = np.minimum(idx.reshape(target.shape), n_bins - 1)
    in_bin = np.take_along_axis(counts, idx, axis=-1)
    before = np.take_along_axis(cum, idx, axis=-1) - in_bin
    return _interpolate(bin_at, idx, target, before, in_bin, vmin, vmax)


def occupancy_quantiles(
    hist: np.ndarray, vmin: np.ndarray, vmax: np.ndarray, quantiles: np.ndarray
) -> np.ndarray:
    """(R1, T, nq) occupancy quantiles from the (R1, T, N_OCC_BINS) histogram."""
    occ_w = np.diff(OCC_EDGES)
    return hist_quantiles(hist, lambda k: (OCC_EDGES[k], occ_w[k]), vmin, vmax, quantiles)


def mw_quantiles(
    spec: HistogramSpec,
    v: int,
    hist: np.ndarray,
    vmin: np.ndarray,
    vmax: np.ndarray,
    quantiles: np.ndarray,
) -> np.ndarray:
    """(R1, T, nq) quantiles of MW variable ``v`` (index into ``MW_VARIABLES``); the under-
    and overflow bins stretch to the observed min and max."""
    lo = spec.lo[v][..., None]
    width = spec.width[v][..., None]
    under_lo = np.minimum(vmin, spec.lo[v])[..., None]
    top = lo + N_MW_BINS * width
    over_w = np.maximum(vmax[..., None] - top, 0.0)

    def mw_bin(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bin_lo = np.where(k == 0, under_lo, np.where(k > N_MW_BINS, top, lo + (k - 1) * width))
        bin_w = np.where(k == 0, lo - under_lo, np.where(k > N_MW_BINS, over_w, width))
        return bin_lo, bin_w

    return hist_quantiles(hist, mw_bin, vmin, vmax, quantiles)
