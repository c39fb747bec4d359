"""Result accumulators: create, record (by the engine), merge with ``+=``, finalize.

Each statistic is one row of ``STATISTICS``: its name, its shape from the run's sizes, its
dtype and how two accumulators combine (``sum``, ``min`` or ``max``). Every statistic is an
integer count, an exact fixed-point sum, or a min/max, so merging is exact, associative and
commutative: threads, processes and Dask workers may combine accumulators in any order and
the result is the same to the bit. Memory is fixed by the priors (regions x months x bins),
never by the number of paths.

The kernels receive the arrays as one ``Counts`` named tuple (fields in ``STATISTICS``
order) and fold into them by name; histogram counts pass through ``Pending`` uint16 scratch
first (``mcsd.kernels.fold``).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from mcsd.kernels.fold import flush_pending
from mcsd.kernels.layout import MONTHS_PER_YEAR, N_MW_VARS, N_OCC_BINS, N_VARS
from mcsd.results.histograms import N_MW_BINS


class Sizes(NamedTuple):
    """Sizes of a run's accumulators: R1 regions + national, T months, K calendar years."""

    r1: int
    t: int
    k: int


@dataclass(frozen=True)
class Statistic:
    """One accumulator array: shape from ``Sizes``, dtype, merge rule, initial value."""

    name: str
    shape: Callable[[Sizes], tuple[int, ...]]
    dtype: type
    merge: str  # "sum" | "min" | "max"
    fill: float = 0
    doc: str = ""


STATISTICS: tuple[Statistic, ...] = (
    Statistic("shortage", lambda s: (s.r1, s.t), np.int64, "sum",
              doc="paths with occupancy >= threshold"),
    Statistic("turning", lambda s: (s.r1, s.t + 1), np.int64, "sum",
              doc="paths whose turning month is t; [:, T] none by the horizon"),
    Statistic("occupancy_fixed", lambda s: (s.r1, s.t), np.int64, "sum",
              doc="sum of occupancy in units of 2**-24"),
    Statistic("occupancy_hist", lambda s: (s.r1, s.t, N_OCC_BINS), np.int64, "sum",
              doc="occupancy histogram, bins of 0.001"),
    Statistic("mw_hist", lambda s: (N_MW_VARS, s.r1, s.t, N_MW_BINS + 2), np.int64, "sum",
              doc="demand, supply, unmet, deferred demand histograms (under/overflow bins)"),
    Statistic("vmin", lambda s: (N_VARS, s.r1, s.t), np.float64, "min", np.inf,
              doc="smallest value per variable (occupancy, demand, supply, unmet, deferred)"),
    Statistic("vmax", lambda s: (N_VARS, s.r1, s.t), np.float64, "max", -np.inf,
              doc="largest value per variable"),
    Statistic("short_months", lambda s: (s.r1, s.k, MONTHS_PER_YEAR + 1), np.int64, "sum",
              doc="paths by the number of months short in each calendar year"),
)  # fmt: skip

# The kernels' view of one accumulator: its arrays, by name (a numba-typed named tuple).
Counts = namedtuple("Counts", [s.name for s in STATISTICS])  # type: ignore[misc]


class Pending(NamedTuple):
    """uint16 counts not yet in the histograms, their touched bin ranges and path count."""

    occupancy: np.ndarray  # like occupancy_hist, uint16
    mw: np.ndarray  # like mw_hist, uint16
    occupancy_touched: np.ndarray  # (R1, T, 2) int64: lowest, highest bin; empty (bins, -1)
    mw_touched: np.ndarray  # (N_MW_VARS, R1, T, 2) int64
    paths: np.ndarray  # (1,) int64

    @classmethod
    def like(cls, counts: Any) -> Pending:
        def touched(hist: np.ndarray) -> np.ndarray:
            t = np.empty(hist.shape[:-1] + (2,), np.int64)
            t[..., 0] = hist.shape[-1]
            t[..., 1] = -1
            return t

        return cls(
            np.zeros(counts.occupancy_hist.shape, np.uint16),
            np.zeros(counts.mw_hist.shape, np.uint16),
            touched(counts.occupancy_hist),
            touched(counts.mw_hist),
            np.zeros(1, np.int64),
        )


_MERGE = {"sum": np.add, "min": np.minimum, "max": np.maximum}


class Accumulators:
    """Sufficient statistics of a set of paths (``STATISTICS``), merged by ``+`` / ``+=``."""

    def __init__(self, n_paths: int, counts: Any) -> None:
        self.n_paths = int(n_paths)
        self.counts = counts  # Counts
        self._pending: Pending | None = None

    @classmethod
    def empty(cls, sizes: Sizes) -> Accumulators:
        # zeros come from calloc: pages of the 10 MB histograms a run never touches stay free
        arrays: list[np.ndarray] = [
            np.zeros(s.shape(sizes), s.dtype)
            if s.fill == 0
            else np.full(s.shape(sizes), s.fill, s.dtype)
            for s in STATISTICS
        ]
        return cls(0, Counts(*arrays))

    @classmethod
    def from_arrays(cls, n_paths: int, arrays: dict[str, np.ndarray]) -> Accumulators:
        return cls(n_paths, Counts(**arrays))

    def arrays(self) -> dict[str, np.ndarray]:
        """The statistics by name (flushed)."""
        return dict(zip(self.counts._fields, self.flush().counts, strict=True))

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name in ("counts", "n_paths"):
            raise AttributeError(name)
        try:
            return getattr(self.flush().counts, name)
        except AttributeError:
            raise AttributeError(f"Accumulators has no statistic {name!r}") from None

    @property
    def pending(self) -> Pending:
        """The uint16 scratch the kernels count into (allocated on first use)."""
        if self._pending is None:
            self._pending = Pending.like(self.counts)
        return self._pending

    def flush(self) -> Accumulators:
        """Add counts the kernels left pending to the histograms."""
        pend = self._pending
        if pend is not None and pend.paths[0] > 0:
            flush_pending(pend, self.counts)
            pend.paths[0] = 0
        return self

    def __iadd__(self, other: Accumulators) -> Accumulators:
        """Merge ``other`` in place (exact; order does not matter; allocates nothing)."""
        self.flush()
        other.flush()
        self.n_paths += other.n_paths
        for stat, mine, theirs in zip(STATISTICS, self.counts, other.counts, strict=True):
            _MERGE[stat.merge](mine, theirs, out=mine)
        return self

    def __add__(self, other: Accumulators) -> Accumulators:
        """The accumulator of both sets of paths (exact; order does not matter)."""
        self.flush()
        other.flush()
        arrays = [
            _MERGE[stat.merge](mine, theirs)
            for stat, mine, theirs in zip(STATISTICS, self.counts, other.counts, strict=True)
        ]
        return Accumulators(self.n_paths + other.n_paths, Counts(*arrays))

    merge = __add__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Accumulators):
            return NotImplemented
        mine, theirs = self.arrays(), other.arrays()
        return self.n_paths == other.n_paths and all(
            np.array_equal(mine[k], theirs[k]) for k in mine
        )

    __hash__ = None  # type: ignore[assignment]
