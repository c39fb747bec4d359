"""Weighted accumulators of a nowcast run: integer-weighted counts, merged by ``+=``.

Each path carries an integer weight ``w = round(2**S exp(logw - L))`` and its square's
counterpart ``w2 = round(2**S exp(2 (logw - L)))`` (``mcsd.engine.weighting``). Every
statistic is an int64 sum of them (the occupancy sum in two words), so merging is exact
and order-free, as for the unweighted ``Accumulators``. ``estimates`` and ``squares`` give
the views the results registry finalizes from: the same attribute names as
``Accumulators``, with the path count replaced by the sum of weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mcsd.kernels.layout import MONTHS_PER_YEAR, N_MW_VARS, N_OCC_BINS
from mcsd.kernels.weighted import LO_BITS, LO_MASK
from mcsd.results.accumulators import Sizes
from mcsd.results.histograms import N_MW_BINS

WEIGHTED_SHAPES = {
    "totals": lambda s: (2,),
    "shortage": lambda s: (s.r1, s.t),
    "shortage_sq": lambda s: (s.r1, s.t),
    "turning": lambda s: (s.r1, s.t + 1),
    "turning_sq": lambda s: (s.r1, s.t + 1),
    "occ_hi": lambda s: (s.r1, s.t),
    "occ_lo": lambda s: (s.r1, s.t),
    "occupancy_hist": lambda s: (s.r1, s.t, N_OCC_BINS),
    "mw_hist": lambda s: (N_MW_VARS, s.r1, s.t, N_MW_BINS + 2),
    "short_months": lambda s: (s.r1, s.k, MONTHS_PER_YEAR + 1),
    "short_months_sq": lambda s: (s.r1, s.k, MONTHS_PER_YEAR + 1),
}


@dataclass(frozen=True)
class WeightedView:
    """What finalizing reads, named as on ``Accumulators``: weighted counts, ``n_paths`` =
    the sum of weights (int), ``scale`` = 2**S (weights are in units of 2**-S)."""

    n_paths: int
    shortage: np.ndarray
    short_months: np.ndarray
    scale: float
    turning: Any = None
    occupancy_fixed: Any = None
    occupancy_hist: Any = None
    mw_hist: Any = None
    vmin: Any = None
    vmax: Any = None


class WeightedAccumulators:
    """Integer-weighted sufficient statistics of a set of paths (``WEIGHTED_SHAPES``)."""

    def __init__(self, arrays: dict[str, np.ndarray], scale_bits: int, n_paths: int = 0):
        self.arrays = arrays
        self.scale_bits = int(scale_bits)
        self.n_paths = int(n_paths)  # paths folded (with any weight, zero included)

    @classmethod
    def empty(cls, sizes: Sizes, scale_bits: int) -> WeightedAccumulators:
        return cls(
            {k: np.zeros(shape(sizes), np.int64) for k, shape in WEIGHTED_SHAPES.items()},
            scale_bits,
        )

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name in ("arrays", "scale_bits", "n_paths"):
            raise AttributeError(name)
        try:
            return self.arrays[name]
        except KeyError:
            raise AttributeError(f"WeightedAccumulators has no statistic {name!r}") from None

    def __iadd__(self, other: WeightedAccumulators) -> WeightedAccumulators:
        """Merge ``other`` in place: integer sums, then the occupancy sum's carry."""
        if other.scale_bits != self.scale_bits:
            raise ValueError("weighted accumulators of different weight scales do not merge")
        for k, mine in self.arrays.items():
            np.add(mine, other.arrays[k], out=mine)
        lo = self.arrays["occ_lo"]
        self.arrays["occ_hi"] += lo >> LO_BITS
        np.bitwise_and(lo, LO_MASK, out=lo)
        self.n_paths += other.n_paths
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeightedAccumulators):
            return NotImplemented
        return self.scale_bits == other.scale_bits and all(
            np.array_equal(v, other.arrays[k]) for k, v in self.arrays.items()
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def weight_sum(self) -> int:
        return int(self.arrays["totals"][0])

    @property
    def weight_sq_sum(self) -> int:
        return int(self.arrays["totals"][1])

    @property
    def effective_sample_size(self) -> float:
        """Kish's (sum w)**2 / sum w**2 (0 when no path has weight)."""
        w, w2 = self.weight_sum, self.weight_sq_sum
        return 0.0 if w2 == 0 else float(w) * float(w) / (float(w2) * 2.0**self.scale_bits)

    def occupancy_sum(self) -> np.ndarray:
        """sum w x_fixed per cell (R1, T) as float64: hi * 2**24 + lo."""
        return self.arrays["occ_hi"].astype(np.float64) * 2.0**LO_BITS + self.arrays["occ_lo"]

    def estimates(self, vmin: np.ndarray, vmax: np.ndarray) -> WeightedView:
        """The weighted counts; vmin / vmax (N_VARS, R1, T) from the unweighted run."""
        a = self.arrays
        return WeightedView(
            n_paths=self.weight_sum,
            shortage=a["shortage"],
            short_months=a["short_months"],
            scale=2.0**self.scale_bits,
            turning=a["turning"],
            occupancy_fixed=self.occupancy_sum(),
            occupancy_hist=a["occupancy_hist"],
            mw_hist=a["mw_hist"],
            vmin=vmin,
            vmax=vmax,
        )

    def squares(self) -> WeightedView:
        """The squared-weight counts a probability's ratio-estimator variance needs."""
        a = self.arrays
        return WeightedView(
            n_paths=self.weight_sq_sum,
            shortage=a["shortage_sq"],
            short_months=a["short_months_sq"],
            scale=2.0**self.scale_bits,
            turning=a["turning_sq"],
        )
