"""Result accumulators: create, record a range of paths, merge by addition, finalize.

Every field is an integer count, an exact fixed-point sum, or a min/max, so ``merge`` is
exact, associative and commutative: threads, processes and Dask workers may combine
accumulators in any order and the result is the same to the bit. Memory is fixed by the
priors (regions x months x bins), never by the number of paths.

Histograms (the quantile variables): occupancy has bins of width 0.001 on [0, 1] with edges
at k/1000 exactly, so ``occupancy_exceedance`` at levels that are multiples of 0.001 is an
exact count. demand, supply and unmet_demand have ``N_MW_BINS`` equal bins per region and
month between bounds derived from the priors (plus an under- and an overflow bin); a quantile
read from a histogram is within one bin width of the sample quantile (``max_bin_width``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mcsd import distributions, kernels
from mcsd.model_arrays import ModelArrays, earliest_delivery
from mcsd.priors_model import Priors

N_MW_BINS = 2000
MW_VARIABLES = ("demand", "supply", "unmet_demand")
OCC_EDGES = np.arange(kernels.N_OCC_BINS + 1, dtype=np.float64) / kernels.OCC_BINS_PER_UNIT


@dataclass(frozen=True)
class HistogramSpec:
    """Bin layout of the MW histograms: lo and width per (variable, region + national, month)."""

    lo: np.ndarray  # (3, R+1, T) MW
    width: np.ndarray  # (3, R+1, T) MW

    @property
    def inv_width(self) -> np.ndarray:
        return 1.0 / self.width


def histogram_spec(priors: Priors, m: ModelArrays) -> HistogramSpec:
    """Bounds of demand, supply and unmet demand per region and month, from the priors.

    supply lies in [S0, S0 + capacity that can have arrived by t]; served demand in
    [min(D0, max_occ S0), max_occ x supply bound]; unmet demand from 0 to a generous bound
    (requested demand with every buyer at its 99.9th percentile), past which an overflow bin
    counts what is left (a quantile there is interpolated up to the observed maximum).
    """
    R, T = m.n_regions, m.n_months
    earliest = earliest_delivery(priors, m)
    sup_hi = np.repeat(m.supply_stock_mw[:, None], T, axis=1).astype(np.float64)
    for j in range(m.proj_capacity_mw.shape[0]):
        if earliest[j] <= T:
            sup_hi[m.proj_region[j], earliest[j] - 1 :] += m.proj_capacity_mw[j]
    sup_lo = np.repeat(m.supply_stock_mw[:, None], T, axis=1)
    dem_lo = np.repeat(
        np.minimum(m.demand_stock_mw, m.max_occupancy * m.supply_stock_mw)[:, None], T, axis=1
    )
    dem_hi = m.max_occupancy * sup_hi

    m_hi = 1.0
    for b in priors.buyers:
        share = distributions.ppf(b.third_party_share, 0.999) / b.third_party_share_nominal
        m_hi = max(m_hi, distributions.ppf(b.demand_multiplier, 0.999) * share)
    cum_inc = np.cumsum(m.increments_month_mw.sum(axis=0), axis=1)  # (R, T)
    total_req = m.demand_stock_mw.sum() + m_hi * cum_inc.sum(axis=0)  # (T,)
    unm_hi_r = np.maximum(
        m.demand_stock_mw[:, None] + m_hi * cum_inc - m.max_occupancy * m.supply_stock_mw[:, None],
        0.0,
    )
    unm_hi_r = np.minimum(np.maximum(unm_hi_r, 0.05 * total_req[None, :]), total_req[None, :])

    def with_national(a: np.ndarray, nat: np.ndarray | None = None) -> np.ndarray:
        return np.concatenate([a, (a.sum(axis=0) if nat is None else nat)[None, :]], axis=0)

    lo = np.stack([with_national(dem_lo), with_national(sup_lo), np.zeros((R + 1, T))], axis=0)
    hi = np.stack(
        [with_national(dem_hi), with_national(sup_hi), with_national(unm_hi_r, total_req)],
        axis=0,
    )
    width = np.maximum(hi - lo, 1.0) / N_MW_BINS
    return HistogramSpec(lo=lo, width=width)


@dataclass(frozen=True)
class _Pending:
    """uint16 counts not yet in the histograms, their touched bin ranges and path count."""

    occupancy: np.ndarray  # like occupancy_hist, uint16
    mw: np.ndarray  # like mw_hist, uint16
    occupancy_touched: np.ndarray  # (R1, T, 2) int64: lowest, highest bin; empty (bins, -1)
    mw_touched: np.ndarray  # (3, R1, T, 2) int64
    paths: np.ndarray  # (1,) int64

    @classmethod
    def like(cls, occupancy_hist: np.ndarray, mw_hist: np.ndarray) -> _Pending:
        def touched(hist: np.ndarray) -> np.ndarray:
            t = np.empty(hist.shape[:-1] + (2,), np.int64)
            t[..., 0] = hist.shape[-1]
            t[..., 1] = -1
            return t

        return cls(
            np.zeros(occupancy_hist.shape, np.uint16),
            np.zeros(mw_hist.shape, np.uint16),
            touched(occupancy_hist),
            touched(mw_hist),
            np.zeros(1, np.int64),
        )


@dataclass
class Accumulators:
    """Sufficient statistics of a set of paths. Shapes: R1 = regions + national, T months."""

    n_paths: int
    shortage: np.ndarray  # (R1, T) int64: paths with occupancy >= threshold
    turning: np.ndarray  # (R1, T+1) int64: paths whose turning month is t; [:, T] none
    occupancy_fixed: np.ndarray  # (R1, T) int64: sum of occupancy in units of 2**-24
    occupancy_hist: np.ndarray  # (R1, T, 1001) int64
    mw_hist: np.ndarray  # (3, R1, T, N_MW_BINS + 2) int64
    vmin: np.ndarray  # (4, R1, T) float64, +inf when empty
    vmax: np.ndarray  # (4, R1, T) float64, -inf when empty
    # counts recorded but not yet added to the histograms (``flush``); allocated by the
    # first ``record``
    _pending: _Pending | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def empty(cls, n_regions: int, n_months: int) -> Accumulators:
        r1, t = n_regions + 1, n_months
        return cls(
            n_paths=0,
            shortage=np.zeros((r1, t), np.int64),
            turning=np.zeros((r1, t + 1), np.int64),
            occupancy_fixed=np.zeros((r1, t), np.int64),
            occupancy_hist=np.zeros((r1, t, kernels.N_OCC_BINS), np.int64),
            mw_hist=np.zeros((3, r1, t, N_MW_BINS + 2), np.int64),
            vmin=np.full((4, r1, t), np.inf),
            vmax=np.full((4, r1, t), -np.inf),
        )

    def record(
        self,
        m: ModelArrays,
        spec: HistogramSpec,
        group_seed_keys: np.ndarray,
        path0: int,
        n: int,
        point: bool = False,
        block: int = 256,
        kept_vals: np.ndarray | None = None,
        kept_turn: np.ndarray | None = None,
        flush: bool = True,
    ) -> None:
        """Simulate paths path0 .. path0+n-1 and add them (releases the GIL).

        ``flush=False`` leaves the histogram counts pending (a loop of records flushes
        once, by ``flush``, or when merged or finalized).
        """
        keep = kept_vals is not None
        if kept_vals is None:
            kept_vals = np.empty((0, 4, 1, 1))
            kept_turn = np.empty((0, 1), np.int64)
        if self._pending is None:
            self._pending = _Pending.like(self.occupancy_hist, self.mw_hist)
        pend = self._pending
        kernels.simulate_paths(
            m,
            group_seed_keys,
            path0,
            n,
            point,
            block,
            spec.lo,
            spec.inv_width,
            self.shortage,
            self.turning,
            self.occupancy_fixed,
            self.occupancy_hist,
            self.mw_hist,
            self.vmin,
            self.vmax,
            pend.occupancy,
            pend.mw,
            pend.occupancy_touched,
            pend.mw_touched,
            pend.paths,
            flush,
            keep,
            kept_vals,
            kept_turn,
        )
        self.n_paths += n

    def flush(self) -> Accumulators:
        """Add counts that ``record(..., flush=False)`` left pending to the histograms."""
        pend = self._pending
        if pend is not None and pend.paths[0] > 0:
            kernels.flush_pending(
                pend.occupancy,
                pend.occupancy_touched,
                self.occupancy_hist,
                pend.mw,
                pend.mw_touched,
                self.mw_hist,
            )
            pend.paths[0] = 0
        return self

    def merge(self, other: Accumulators) -> Accumulators:
        """The accumulator of both sets of paths (exact; order does not matter)."""
        self.flush()
        other.flush()
        return Accumulators(
            n_paths=self.n_paths + other.n_paths,
            shortage=self.shortage + other.shortage,
            turning=self.turning + other.turning,
            occupancy_fixed=self.occupancy_fixed + other.occupancy_fixed,
            occupancy_hist=self.occupancy_hist + other.occupancy_hist,
            mw_hist=self.mw_hist + other.mw_hist,
            vmin=np.minimum(self.vmin, other.vmin),
            vmax=np.maximum(self.vmax, other.vmax),
        )

    __add__ = merge

    def merge_in_place(self, other: Accumulators) -> Accumulators:
        """``merge`` in place: adds into this accumulator's arrays, allocating nothing."""
        self.flush()
        other.flush()
        self.n_paths += other.n_paths
        for name in ("shortage", "turning", "occupancy_fixed", "occupancy_hist", "mw_hist"):
            np.add(getattr(self, name), getattr(other, name), out=getattr(self, name))
        np.minimum(self.vmin, other.vmin, out=self.vmin)
        np.maximum(self.vmax, other.vmax, out=self.vmax)
        return self

    def finalize(
        self, spec: HistogramSpec, quantiles: np.ndarray, levels: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Probabilities, quantiles and means as arrays (national last on the region axis)."""
        self.flush()
        n = self.n_paths
        if n <= 0:
            raise ValueError("no paths were recorded")
        p = self.shortage / n
        se = np.sqrt(p * (1.0 - p) / n)
        lo, hi = wilson_interval(self.shortage, n)
        cdf = np.cumsum(self.turning[:, :-1], axis=1) / n
        out: dict[str, np.ndarray] = {
            "p_shortage": p,
            "p_shortage_se": se,
            "p_shortage_lo": lo,
            "p_shortage_hi": hi,
            "turning_point_cdf": cdf,
            "p_no_turning_point": self.turning[:, -1] / n,
            "occupancy_mean": self.occupancy_fixed / (kernels.FIXED_POINT_SCALE * n),
        }
        level_bins = np.rint(np.asarray(levels) * kernels.OCC_BINS_PER_UNIT).astype(int)
        tail = np.cumsum(self.occupancy_hist[..., ::-1], axis=-1)[..., ::-1]
        out["occupancy_exceedance"] = tail[..., level_bins] / n
        occ_w = np.diff(OCC_EDGES)
        out["occupancy"] = _hist_quantiles(
            self.occupancy_hist,
            lambda k: (OCC_EDGES[k], occ_w[k]),
            self.vmin[0],
            self.vmax[0],
            quantiles,
        )
        for v, name in enumerate(MW_VARIABLES):
            lo = spec.lo[v][..., None]
            width = spec.width[v][..., None]
            # under- and overflow bins stretch to the observed min and max
            under_lo = np.minimum(self.vmin[v + 1], spec.lo[v])[..., None]
            top = lo + N_MW_BINS * width
            over_w = np.maximum(self.vmax[v + 1][..., None] - top, 0.0)

            def mw_bin(k, lo=lo, width=width, under_lo=under_lo, top=top, over_w=over_w):
                bin_lo = np.where(
                    k == 0, under_lo, np.where(k > N_MW_BINS, top, lo + (k - 1) * width)
                )
                bin_w = np.where(k == 0, lo - under_lo, np.where(k > N_MW_BINS, over_w, width))
                return bin_lo, bin_w

            out[name] = _hist_quantiles(
                self.mw_hist[v], mw_bin, self.vmin[v + 1], self.vmax[v + 1], quantiles
            )
        return out


def wilson_interval(k: np.ndarray, n: int, z: float = 1.959963984540054):
    """Wilson score 95% interval for k successes in n trials (arrays)."""
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # the interval always contains p; at p = 0 or 1 rounding can leave it one ulp outside
    lo = np.minimum(np.clip(centre - half, 0.0, 1.0), p)
    hi = np.maximum(np.clip(centre + half, 0.0, 1.0), p)
    return lo, hi


def _hist_quantiles(counts, bin_at, vmin, vmax, quantiles):
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


def max_bin_width(spec: HistogramSpec) -> dict[str, float]:
    """Largest bin width per quantile variable: the worst quantile error."""
    out = {"occupancy": 1.0 / kernels.OCC_BINS_PER_UNIT}
    for v, name in enumerate(MW_VARIABLES):
        out[name] = float(spec.width[v].max())
    return out
