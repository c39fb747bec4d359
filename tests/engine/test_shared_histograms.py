"""Small multi-thread runs count into one shared set of histograms (``execute``), larger
ones merge per-thread accumulators: both give the single-thread bits, on either side of the
switch at ``PENDING_MAX_PATHS``."""

from __future__ import annotations

import numpy as np
import pytest

from mcsd.engine.executor import CompiledRun, run_paths
from mcsd.kernels.layout import PENDING_MAX_PATHS
from mcsd.testing.toy import all_mechanisms_priors


@pytest.fixture(scope="module")
def run():
    return CompiledRun.build(all_mechanisms_priors(), 5)


@pytest.mark.parametrize("n", [PENDING_MAX_PATHS, PENDING_MAX_PATHS + 1])
def test_shared_and_merged_histograms_are_the_single_thread_counts(run, n):
    one = run_paths(run, n, 1)
    for threads in (2, 3):
        many = run_paths(run, n, threads)
        assert many == one
    assert one.n_paths == n and int(one.turning.sum()) == n * run.sizes.r1
    # a repeat reuses the pooled scratch: still the same counts
    again = run_paths(run, n, 2)
    assert again == one and np.array_equal(again.mw_hist, one.mw_hist)
