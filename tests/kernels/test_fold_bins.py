"""The fold kernels' histogram bins and extremes against a plain NumPy statement of the
bin definitions, on values placed on and one ulp either side of bin edges (where the
occupancy kernel's fast floor(1000 x) path must hand over to the exact comparison)."""

from __future__ import annotations

import numpy as np

from mcsd.kernels import fold, layout

OCC_TOP = layout.N_OCC_BINS - 1


def _occupancy_values(rng: np.random.Generator) -> np.ndarray:
    edges = np.arange(layout.N_OCC_BINS + 1) / layout.OCC_BINS_PER_UNIT
    k = rng.choice(edges.size, 60, replace=False)
    on_edge = edges[k]
    near = np.concatenate([on_edge, np.nextafter(on_edge, -np.inf), np.nextafter(on_edge, np.inf)])
    extra = np.array([0.0, 1.0, 1.0 + 1e-12, 1.7, 0.8, 0.7999999999999999])
    x = np.concatenate([near[near >= 0.0], extra, rng.uniform(0.0, 1.0, 200)])
    return rng.permutation(x)


def _fold_occupancy(x: np.ndarray):
    nb = x.size
    work = np.zeros((layout.N_WORK_ROWS, 1, nb))
    work[layout.ROW_SUPPLY, 0] = 1.0  # occupancy = served / supply = x exactly
    work[layout.ROW_SERVED, 0] = x
    work[layout.ROW_REQUESTED, 0] = x
    pend = np.zeros((1, layout.N_OCC_BINS), np.uint16)
    touch = np.empty((1, 1, 2), np.int64)
    touch[..., 0], touch[..., 1] = layout.N_OCC_BINS, -1
    vmin, vmax = np.full((4, 1, 1), np.inf), np.full((4, 1, 1), -np.inf)
    shortage, fixed = np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64)
    run, tm = np.zeros((1, nb), np.int64), np.zeros((1, nb), np.int64)
    kbuf, xbuf = np.empty(nb, np.uint32), np.empty(nb)
    fold.fold_occupancy(
        work, 0, nb, 0.8, 1, shortage, fixed, pend, touch, vmin, vmax, run, tm, kbuf, xbuf,
        np.zeros((1, nb), np.int64), 1.0, False,
    )  # fmt: skip
    return pend[0], touch[0, 0], vmin[0, 0, 0], vmax[0, 0, 0], shortage[0, 0]


def test_occupancy_bins_match_their_edges_exactly():
    rng = np.random.default_rng(11)
    for _ in range(5):
        x = _occupancy_values(rng)[:255]
        counts, touch, lo, hi, n_short = _fold_occupancy(x)
        # bin k holds [k / 1000, (k + 1) / 1000), edges as k / 1000.0; the top bin [1, inf)
        edges = np.arange(layout.N_OCC_BINS) / layout.OCC_BINS_PER_UNIT
        expected = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, OCC_TOP)
        np.testing.assert_array_equal(counts, np.bincount(expected, minlength=counts.size))
        assert (touch[0], touch[1]) == (expected.min(), expected.max())
        assert (lo, hi) == (x.min(), x.max())
        assert n_short == np.count_nonzero(x >= 0.8)


def test_occupancy_block_on_one_value():
    counts, touch, lo, hi, _ = _fold_occupancy(np.full(100, 0.9))
    assert counts[900] == 100 and counts.sum() == 100
    assert (lo, hi) == (0.9, 0.9) and tuple(touch) == (900, 900)


def test_mw_bins_and_extremes():
    rng = np.random.default_rng(5)
    n_bins = 50
    base, width = 100.0, 2.0
    x = np.concatenate(
        [
            rng.uniform(90.0, 210.0, 150),
            base + width * np.arange(n_bins + 1),  # every edge, and the top
            np.nextafter(base, -np.inf) * np.ones(3),  # just below: underflow
            np.full(40, 0.0),  # a run in the lowest bin, counted at once
        ]
    )
    x = rng.permutation(x)[:250]
    nb = x.size
    R1, T = 1, 1
    work = np.zeros((layout.N_WORK_ROWS, R1, nb))
    rows = {1: layout.ROW_SERVED, 2: layout.ROW_SUPPLY, 3: layout.ROW_UNMET, 4: layout.ROW_DEFERRED}
    V = layout.N_MW_VARS
    for v in range(1, V + 1):  # demand, supply, unmet and deferred demand
        work[rows[v], 0] = x * v
    lo = np.array([base * v for v in range(1, V + 1)]).reshape(V, 1, 1)
    inv_width = np.array([1.0 / (width * v) for v in range(1, V + 1)]).reshape(V, 1, 1)
    pend = np.zeros((V * R1 * T, n_bins + 2), np.uint16)
    touch = np.empty((V, R1, T, 2), np.int64)
    touch[..., 0], touch[..., 1] = n_bins + 2, -1
    vmin, vmax = np.full((V + 1, R1, T), np.inf), np.full((V + 1, R1, T), -np.inf)
    kbuf = np.empty(nb, np.uint32)
    some = np.ones((R1, T), np.int64)  # deferred demand on some path: fold every value
    fold.fold_mw(work, 0, nb, lo, inv_width, pend, touch, vmin, vmax, kbuf, some)
    for v in range(1, V + 1):
        xv = x * v
        y = (xv - lo[v - 1, 0, 0]) * inv_width[v - 1, 0, 0]
        expected = np.where(
            xv < lo[v - 1, 0, 0], 0, np.minimum(np.floor(y).astype(np.int64) + 1, n_bins + 1)
        )
        np.testing.assert_array_equal(
            pend[v - 1], np.bincount(expected, minlength=n_bins + 2), err_msg=str(v)
        )
        assert (vmin[v, 0, 0], vmax[v, 0, 0]) == (xv.min(), xv.max())
        assert tuple(touch[v - 1, 0, 0]) == (expected.min(), expected.max())


def test_a_nan_goes_to_the_lowest_bin_and_is_counted():
    # never produced from valid priors; if it were, it must not be lost or index out of range
    x = np.array([0.5, np.nan, 0.9, 0.2])
    counts, touch, _, _, _ = _fold_occupancy(x)
    assert counts[0] == 1 and counts.sum() == 4
    assert tuple(touch) == (0, 900)
