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

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
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

    @property
    def clean(self) -> bool:
        """No counts pending: every touched range empty (a flush leaves it so, zeroed)."""
        return (
            int(self.paths[0]) == 0
            and bool((self.occupancy_touched[..., 1] < 0).all())
            and bool((self.mw_touched[..., 1] < 0).all())
        )

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self)


# Flushed Pending scratch, kept for the next run of the same shapes: a flush leaves it
# zeroed, so a run takes it as is instead of allocating (and faulting in) ~2.4 MB per
# thread. Bounded in bytes; a thread that finds none allocates a new one.
PENDING_POOL_BYTES = 64 * 2**20
_pending_pool: dict[tuple[tuple[int, ...], tuple[int, ...]], list[Pending]] = {}
_pending_pool_lock = threading.Lock()


def take_pending(counts: Any) -> Pending:
    """A clean ``Pending`` for ``counts``: a pooled one when there is one, else new."""
    key = (counts.occupancy_hist.shape, counts.mw_hist.shape)
    with _pending_pool_lock:
        free = _pending_pool.get(key)
        if free:
            return free.pop()
    return Pending.like(counts)


def give_back_pending(pend: Pending) -> None:
    """Return a clean ``pend`` to the pool (dropped when the pool is full or it is not)."""
    if not pend.clean:
        return
    key = (pend.occupancy.shape, pend.mw.shape)
    with _pending_pool_lock:
        held = sum(p.nbytes for free in _pending_pool.values() for p in free)
        if held + pend.nbytes <= PENDING_POOL_BYTES:
            _pending_pool.setdefault(key, []).append(pend)


_MERGE = {"sum": np.add, "min": np.minimum, "max": np.maximum}


class Accumulators:
    """Sufficient statistics of a set of paths (``STATISTICS``), merged by ``+`` / ``+=``."""

    def __init__(self, n_paths: int, counts: Any) -> None:
        self.n_paths = int(n_paths)
        self.counts = counts  # Counts
        self._pending: Pending | None = None

    @classmethod
    def empty(cls, sizes: Sizes, shared: Mapping[str, np.ndarray] | None = None) -> Accumulators:
        """No paths yet. ``shared``: arrays, by statistic name, to count into instead of
        new ones (shared with other accumulators: see ``add_shared``)."""
        shared = shared or {}
        # zeros come from calloc: pages of the 10 MB histograms a run never touches stay free
        arrays: list[np.ndarray] = [
            shared[s.name]
            if s.name in shared
            else np.zeros(s.shape(sizes), s.dtype)
            if s.fill == 0
            else np.full(s.shape(sizes), s.fill, s.dtype)
            for s in STATISTICS
        ]
        return cls(0, Counts(*arrays))

    @staticmethod
    def empty_statistics(sizes: Sizes, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Initial arrays of the statistics ``names`` (for ``empty(sizes, shared=...)``)."""
        return {
            s.name: np.full(s.shape(sizes), s.fill, s.dtype)
            if s.fill
            else np.zeros(s.shape(sizes), s.dtype)
            for s in STATISTICS
            if s.name in names
        }

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
        """The uint16 scratch the kernels count into (taken on first use, ``take_pending``)."""
        if self._pending is None:
            self._pending = take_pending(self.counts)
        return self._pending

    @property
    def pending_paths(self) -> int:
        """Paths whose histogram counts are pending (not yet flushed)."""
        return 0 if self._pending is None else int(self._pending.paths[0])

    def release_pending(self) -> None:
        """Flush, and give the (now zeroed) pending scratch back to the pool for the next
        run; a later record takes one again."""
        self.flush()
        pend, self._pending = self._pending, None
        if pend is not None:
            give_back_pending(pend)

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

    def add_shared(self, other: Accumulators) -> Accumulators:
        """``+=`` for accumulators that count some statistics into the same arrays (made
        with ``empty(sizes, shared=...)``): those already hold both sets of paths and are
        left as they are; every other statistic merges as in ``+=``."""
        self.flush()
        other.flush()
        self.n_paths += other.n_paths
        for stat, mine, theirs in zip(STATISTICS, self.counts, other.counts, strict=True):
            if mine is not theirs:
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
