"""The two-level quantile search equals the one-level search it replaced, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from mcsd.results.histograms import _hist_quantiles_flat, hist_quantiles

QUANTILES = np.round(np.arange(1, 20) * 0.05, 2)


def _bins(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return k * 0.5, np.full(k.shape, 0.5)


@pytest.mark.parametrize("n_bins", [1001, 2002, 30])
@pytest.mark.parametrize("scale", [1, 2**40])  # 2**40: weighted counts (past the shift trick)
def test_two_level_search_is_the_flat_search(n_bins: int, scale: int) -> None:
    rng = np.random.default_rng(n_bins + scale % 97)
    cells = 60
    counts = np.zeros((cells, n_bins), np.int64)
    for c in range(cells):
        kind = c % 4
        if kind == 0:  # every path in one bin
            counts[c, rng.integers(n_bins)] = rng.integers(1, 5000)
        elif kind == 1:  # a narrow band
            band = min(40, n_bins // 2)
            lo = rng.integers(n_bins - band)
            counts[c, lo : lo + band] = rng.integers(0, 300, band)
        elif kind == 2:  # spread, with empty bins between
            idx = rng.integers(0, n_bins, 200)
            np.add.at(counts[c], idx, rng.integers(1, 50, 200))
        else:  # both ends (under- and overflow bins)
            counts[c, 0], counts[c, -1] = rng.integers(1, 100, 2)
    counts *= scale
    vmin, vmax = np.full(cells, -1e9), np.full(cells, 1e9)
    got = hist_quantiles(counts, _bins, vmin, vmax, QUANTILES)
    ref = _hist_quantiles_flat(counts, _bins, vmin, vmax, QUANTILES)
    np.testing.assert_array_equal(got, ref)
