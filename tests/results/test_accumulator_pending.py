"""Pending histogram counts: ``record(..., flush=False)`` defers adding the uint16 pending
counts to the int64 histograms; flushing, merging, finalizing (the results registry) and
packing must give exactly what flushing after every record gives. Also the one-search
quantile lookup of ``mcsd.results.histograms.hist_quantiles`` against a plain per-cell
search, and that building a result never imports dask."""

from __future__ import annotations

import importlib.util
import operator
import subprocess
import sys

import numpy as np
import pytest

from mcsd.engine.distributed import pack
from mcsd.engine.executor import CompiledRun
from mcsd.kernels.layout import PENDING_MAX_PATHS
from mcsd.results.accumulators import Accumulators
from mcsd.results.histograms import hist_quantiles
from mcsd.results.variables import RESULT_VARIABLES

QUANTILES = np.array([0.0, 0.05, 0.5, 0.95, 1.0])
LEVELS = np.array([0.5, 0.8, 1.0])


@pytest.fixture(scope="module")
def run(study_priors) -> CompiledRun:
    return CompiledRun.build(study_priors, 17)


def _record(run: CompiledRun, sizes: list[int], flush: bool) -> Accumulators:
    acc = run.new_accumulators()
    p0 = 0
    for n in sizes:
        run.record(acc, p0, n, flush=flush)
        p0 += n
    return acc


def _fields(acc: Accumulators) -> dict[str, object]:
    """n_paths and the statistics' arrays as they are (``acc.counts``: no flush)."""
    return {"n_paths": acc.n_paths, **dict(zip(acc.counts._fields, acc.counts, strict=True))}


def _finalize(run: CompiledRun, acc: Accumulators) -> dict[str, np.ndarray]:
    """Every result variable of ``acc`` (the results registry), finalized as it is."""
    finals = run.finals(acc, QUANTILES, LEVELS)
    return {v.name: v.finalize(finals) for v in RESULT_VARIABLES}


def _assert_same(a: Accumulators, b: Accumulators) -> None:
    fa, fb = _fields(a), _fields(b)
    for name in fa:
        np.testing.assert_array_equal(fa[name], fb[name], err_msg=name)


def test_deferred_flush_equals_flushing_every_record(run) -> None:
    sizes = [1000, 333, 4096, 1]
    eager = _record(run, sizes, flush=True)
    lazy = _record(run, sizes, flush=False)
    # the counts are still pending: the int64 histograms do not hold them yet
    assert lazy.pending.paths[0] == sum(sizes)
    assert lazy.counts.mw_hist.sum() < eager.counts.mw_hist.sum()
    _assert_same(lazy.flush(), eager)
    assert lazy.flush() is lazy  # a second flush adds nothing
    _assert_same(lazy, eager)


def test_pending_counts_never_overflow_across_records(run) -> None:
    # more paths than a uint16 pending count can hold, spread over unflushed records: the
    # kernel must flush on its own between records, or some counter would wrap
    sizes = [30_000, 30_000, 10_000]
    assert sum(sizes) > PENDING_MAX_PATHS
    eager = _record(run, sizes, flush=True)
    lazy = _record(run, sizes, flush=False).flush()
    _assert_same(lazy, eager)
    # every cell counts every path once: a wrapped uint16 counter would break the totals
    assert (lazy.occupancy_hist.sum(axis=-1) == sum(sizes)).all()
    assert (lazy.mw_hist.sum(axis=-1) == sum(sizes)).all()


def test_merge_finalize_and_pack_flush_first(run) -> None:
    eager = _record(run, [2000, 2000], flush=True)
    other = _record(run, [500], flush=True)
    want = _finalize(run, eager.merge(other))
    got = _record(run, [2000, 2000], flush=False).merge(_record(run, [500], flush=False))
    out = _finalize(run, got)
    for name in want:
        np.testing.assert_array_equal(out[name], want[name], err_msg=name)
    fin = _finalize(run, _record(run, [2000, 2000], flush=False))
    fin_eager = _finalize(run, eager)
    for name in fin_eager:
        np.testing.assert_array_equal(fin[name], fin_eager[name], err_msg=name)
    packed = pack(_record(run, [2000, 2000], flush=False))
    np.testing.assert_array_equal(packed["mw_hist"][1], eager.mw_hist)
    np.testing.assert_array_equal(packed["occupancy_hist"][1], eager.occupancy_hist)


def test_in_place_merge_equals_merge(run) -> None:
    a, b = _record(run, [1500], flush=False), _record(run, [700, 64], flush=False)
    want = _record(run, [1500], flush=True).merge(_record(run, [700, 64], flush=True))
    arrays = {name: id(v) for name, v in _fields(a).items() if isinstance(v, np.ndarray)}
    assert operator.iadd(a, b) is a  # a += b
    _assert_same(a, want)
    assert {name: id(v) for name, v in _fields(a).items() if name in arrays} == arrays


def _naive_quantiles(counts, bin_lo, bin_w, vmin, vmax, q):
    """Per cell: the first bin whose cumulative count reaches q n, linear within it."""
    out = np.empty(counts.shape[:-1] + (q.size,))
    for c in np.ndindex(counts.shape[:-1]):
        cum = np.cumsum(counts[c])
        for j, qq in enumerate(q):
            target = qq * cum[-1]
            k = min(int(np.searchsorted(cum, target, side="left")), counts.shape[-1] - 1)
            before = cum[k] - counts[c][k]
            frac = (target - before) / counts[c][k] if counts[c][k] > 0 else 0.0
            out[c + (j,)] = min(max(bin_lo[c][k] + frac * bin_w[c][k], vmin[c]), vmax[c])
    return out


def test_one_search_quantiles_match_a_per_cell_search() -> None:
    rng = np.random.default_rng(5)
    # cells with different totals, empty bins, all mass in one bin, a zero-count cell
    counts = rng.integers(0, 4, size=(3, 7, 50)) * (rng.random((3, 7, 50)) < 0.3)
    counts[0, 0] = 0
    counts[0, 0, 17] = 9
    counts[1, 2] = 0
    counts[2, 3, -1] = 1000
    lo = np.cumsum(rng.random((3, 7, 50)), axis=-1)
    w = rng.random((3, 7, 50)) + 0.1
    vmin = np.full((3, 7), -np.inf)
    vmax = np.full((3, 7), np.inf)
    q = np.array([0.0, 0.01, 0.1, 1 / 3, 0.5, 0.9, 0.999, 1.0])
    got = hist_quantiles(
        counts,
        lambda k: (np.take_along_axis(lo, k, -1), np.take_along_axis(w, k, -1)),
        vmin,
        vmax,
        q,
    )
    np.testing.assert_array_equal(got, _naive_quantiles(counts, lo, w, vmin, vmax, q))


@pytest.mark.skipif(importlib.util.find_spec("dask") is None, reason="dask not installed")
def test_a_run_does_not_import_dask() -> None:
    # importing dask costs ~0.4 s of start-up, and a local run never needs it
    code = (
        "import sys, mcsd\n"
        "mcsd.simulate(None, n_paths=300, seed=1, threads=1, progress=False)\n"
        "print(sorted(m for m in sys.modules if m == 'dask' or m.startswith('dask.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
