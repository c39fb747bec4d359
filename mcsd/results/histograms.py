"""Fixed-bin histograms of the quantile variables: bin layout, quantiles, error bounds.

occupancy has bins of width 0.001 on [0, 1] with edges at k/1000 exactly, so
``occupancy_exceedance`` at levels that are multiples of 0.001 is an exact count. demand,
supply and unmet_demand have ``N_MW_BINS`` equal bins per region and month between bounds
derived from the priors (plus an under- and an overflow bin); a quantile read from a
histogram is within one bin width of the sample quantile (``max_bin_width``).
"""

from __future__ import annotations

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

    @property
    def inv_width(self) -> np.ndarray:
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
    """
    cum = np.cumsum(counts, axis=-1)
    n = cum[..., -1:]
    q = np.asarray(quantiles, dtype=np.float64)
    target = q * n  # (..., nq)
    # the first bin whose cumulative count reaches the target, for every cell in one
    # search: counts are integers, so cum >= target iff cum >= ceil(target), and cell c's
    # cumulative counts (all in [0, n], every cell counts all n paths) shifted by c (n + 1)
    # make one non-decreasing array
    n_bins = counts.shape[-1]
    flat_cum = cum.reshape(-1, n_bins)
    shift = np.arange(flat_cum.shape[0], dtype=np.int64)[:, None] * (int(n.max(initial=0)) + 1)
    need = np.ceil(target.reshape(-1, q.size)).astype(np.int64) + shift
    pos = np.searchsorted((flat_cum + shift).ravel(), need.ravel(), side="left")
    idx = (pos.reshape(need.shape) - np.arange(flat_cum.shape[0])[:, None] * n_bins).reshape(
        target.shape
    )
    idx = np.minimum(idx, n_bins - 1)
    before = np.take_along_axis(cum, idx, axis=-1) - np.take_along_axis(counts, idx, axis=-1)
    in_bin = np.take_along_axis(counts, idx, axis=-1)
    frac = np.where(in_bin > 0, (target - before) / np.maximum(in_bin, 1), 0.0)
    bin_lo, bin_w = bin_at(idx)
    value = bin_lo + frac * bin_w
    return np.clip(value, vmin[..., None], vmax[..., None])


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
