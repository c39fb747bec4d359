"""Every kernel with a NumPy reference is also tested through ``.py_func`` where numba allows.

``kernel.py_func`` is the plain Python function under the numba dispatcher: the same source
run by the interpreter on NumPy scalars and arrays (jitted functions it calls still run
compiled). On small inputs each one must equal the compiled kernel and the NumPy / scipy /
pure-Python reference its other tests use: bit for bit where the kernels claim bit-identity
(the stream, the normal quantile and its row version, log, the bins and folds, the stock
model, whose every step does the same IEEE operations as a one-path loop), else to the
tolerance of the existing test (``ppf`` and ``quantile_of_normal``: rtol 1e-13 of scipy).

Not run as Python, because numba does not allow it (``test_what_cannot_run_as_python``
keeps these reasons true):
* ``fast_exp``, ``_log_scaled``, ``_order_key``, ``_from_order_key``: they call the
  ``float_bits`` / ``bits_float`` intrinsics, which exist only in compiled code.
* ``ppf_row`` for gamma and beta, ``quantile_of_normal_row`` for the other families,
  ``ndtr``: they call scipy's compiled special functions through numba
  ``ExternalFunction`` bindings, which Python cannot call (the compiled ``ppf`` and
  ``quantile_of_normal`` wrappers are still run through ``.py_func`` for every family).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import special, stats

from mcsd.engine.arrays import build_model_arrays, dist_params
from mcsd.kernels import fold, stock, stream, transforms
from mcsd.kernels.layout import (
    N_MW_VARS,
    N_OCC_BINS,
    N_WORK_ROWS,
    OCC_BINS_PER_UNIT,
    ROW_DEFERRED,
    ROW_REQUESTED,
    ROW_SERVED,
    ROW_SUPPLY,
    ROW_UNMET,
)
from mcsd.priors.model import Distribution
from mcsd.testing.reference import _increments, _occupancy, _plan, _serve, _supply
from mcsd.testing.toy import buyer, make_priors, project, provider, region


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of doubles between a and b (0 when equal, both nan, or +0 vs -0)."""
    ia = np.where(a.view(np.int64) < 0, np.int64(-(2**63)) - a.view(np.int64), a.view(np.int64))
    ib = np.where(b.view(np.int64) < 0, np.int64(-(2**63)) - b.view(np.int64), b.view(np.int64))
    return np.where(np.isnan(a) & np.isnan(b), 0, np.abs(ia - ib))


def both(kernel, args_list):
    """(py_func results, compiled results) of ``kernel`` on each argument tuple, as arrays."""
    py = np.array([kernel.py_func(*args) for args in args_list])
    jit = np.array([kernel(*args) for args in args_list])
    return py, jit


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------------- not as Python
def test_what_cannot_run_as_python():
    with pytest.raises(NotImplementedError, match="float_bits"):
        transforms.fast_exp.py_func(1.0)
    with pytest.raises(NotImplementedError, match="float_bits"):
        transforms._log_scaled.py_func(1.0, 0)
    with pytest.raises(NotImplementedError, match="float_bits"):
        fold._order_key.py_func(1.0)
    with pytest.raises(NotImplementedError, match="bits_float"):
        fold._from_order_key.py_func(np.int64(0))
    code, p = dist_params(Distribution("gamma", {"a": 2.0}))
    with pytest.raises(TypeError):  # an ExternalFunction is a numba type, not a callable
        transforms.ppf_row.py_func(code, p.reshape(1, -1), 0, 0.3)
    code, p = dist_params(Distribution("expon", {}))
    with pytest.raises(NotImplementedError):
        transforms.quantile_of_normal_row.py_func(code, p.reshape(1, -1), 0, 0.3)


# ---------------------------------------------------------------------- log
LOG_EDGES = [
    0.0,
    -0.0,
    5e-324,
    1e-320,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    0.5,
    1.0,
    2.0,
    np.nextafter(1.0, 0.0),
    np.nextafter(1.0, 2.0),
    1.7976931348623157e308,
    np.inf,
    -1.0,
    -5e-324,
    -np.inf,
    np.nan,
]


def test_fast_log_as_python():
    rng = np.random.default_rng(2)
    x = np.concatenate([LOG_EDGES, np.exp2(rng.uniform(-1074, 1024, 300))])
    py, jit = both(transforms.fast_log, [(v,) for v in x])
    assert same_bits(py, jit)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    assert ulp_distance(py, want).max() <= 1
    special_ = ~np.isfinite(want) | (want == 0.0)
    assert np.array_equal(py[special_], want[special_], equal_nan=True)


def test_fast_log_pos_as_python():
    rng = np.random.default_rng(5)
    x = np.concatenate([[2.2250738585072014e-308, 1.0], np.exp2(rng.uniform(-1022, 1024, 300))])
    py, jit = both(transforms.fast_log_pos, [(v,) for v in x])
    assert same_bits(py, jit)
    assert same_bits(py, np.array([transforms.fast_log(v) for v in x]))
    assert ulp_distance(py, np.log(x)).max() <= 1


# ---------------------------------------------------------------------- normal quantile
def _uniform_probe() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate(
        [
            rng.uniform(0.0, 1.0, 200),
            np.exp2(rng.uniform(-1074, -1, 50)),  # the left tail, subnormals included
            1.0 - np.exp2(rng.uniform(-53, -1, 50)),  # the right tail
            0.5 + np.array([-0.425, 0.425]),  # AS241's branch points
            np.nextafter(0.5 + np.array([-0.425, 0.425]), 0.5),
            np.nextafter(0.5 + np.array([-0.425, 0.425]), np.array([0.0, 1.0])),
            [np.exp(-25.0), 1.0 - 2.0**-53, 2.0**-53, 5e-324],
        ]
    )


NDTRI_EDGES = np.array([0.0, 1.0, np.nan, -0.1, 1.5, 0.5])
NDTRI_EDGE_VALUES = np.array([-np.inf, np.inf, np.nan, np.nan, np.nan, 0.0])


def test_ndtri_as_python():
    u = _uniform_probe()
    py, jit = both(transforms.ndtri, [(v,) for v in u])
    assert same_bits(py, jit)
    centre = u == 0.5
    assert np.all(py[centre] == 0.0)
    assert_allclose(py[~centre], special.ndtri(u[~centre]), rtol=1e-13, atol=0)
    edges = np.array([transforms.ndtri.py_func(v) for v in NDTRI_EDGES])
    assert np.array_equal(edges, NDTRI_EDGE_VALUES, equal_nan=True)


def test_ndtri_pieces_as_python():
    """The central and tail formulas themselves, run as Python (ndtri's py_func calls them
    compiled)."""
    u = _uniform_probe()
    tail = np.abs(u - 0.5) > 0.425
    py, jit = both(transforms.ndtri_central, [(v,) for v in u[~tail]])
    assert same_bits(py, jit)
    assert_allclose(py[u[~tail] != 0.5], special.ndtri(u[~tail][u[~tail] != 0.5]), rtol=1e-13)
    py, jit = both(transforms.ndtri_tail, [(v,) for v in u[tail]])
    assert same_bits(py, jit)
    assert_allclose(py, special.ndtri(u[tail]), rtol=1e-13, atol=0)
    edges = np.array([transforms.ndtri_tail.py_func(v) for v in NDTRI_EDGES[:5]])
    assert np.array_equal(edges, NDTRI_EDGE_VALUES[:5], equal_nan=True)


@pytest.mark.parametrize("n", [1, 7, 130])
def test_ndtri_row_as_python(n):
    u = np.concatenate([_uniform_probe()[:: max(1, 310 // n)][:n], [0.0, 1.0, np.nan]])
    out = []
    for kernel in (transforms.ndtri_row.py_func, transforms.ndtri_row):
        z = np.full(u.size, -7.0)
        kernel(u, z, u.size, np.empty(u.size, np.int64), np.empty(u.size))
        out.append(z)
    assert same_bits(out[0], out[1])
    assert same_bits(out[0], np.array([transforms.ndtri(v) for v in u]))


# ---------------------------------------------------------------------- ppf
U_GRID = np.array([1e-12, 1e-6, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1 - 1e-6, 1 - 1e-12])
CASES = [
    ("norm", {"loc": 2.5, "scale": 0.3}),
    ("lognorm", {"s": 1.5, "loc": 0.1, "scale": 0.5}),
    ("gamma", {"a": 7.3, "loc": 0.2, "scale": 0.25}),
    ("beta", {"a": 2.0, "b": 30.0, "loc": 0.1, "scale": 0.8}),
    ("uniform", {"loc": 0.5, "scale": 0.2}),
    ("triang", {"c": 0.8, "loc": 0.3, "scale": 0.4}),
    ("truncnorm", {"a": -3.0, "b": 3.0, "loc": 0.7, "scale": 0.0823}),
    ("truncnorm", {"a": -5.0, "b": -1.0, "loc": 1.0}),
    ("truncnorm", {"a": 0.0, "b": np.inf, "scale": 2.0}),
    ("expon", {"loc": 1.0, "scale": 0.1}),
    ("weibull_min", {"c": 0.7, "scale": 2.0}),
]
SCIPY_BOUND = ("gamma", "beta")  # ppf_row calls scipy's inverses (ExternalFunction)


def _ids(case):
    name, kw = case
    return name + "(" + ",".join(f"{k}={v:g}" for k, v in kw.items()) + ")"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_ppf_as_python(case):
    name, kw = case
    code, p = dist_params(Distribution(name, kw))
    want = getattr(stats, name)(**kw).ppf(U_GRID)
    # ppf: a wrapper of the compiled ppf_row, so the same bits
    py, jit = both(transforms.ppf, [(code, p, u) for u in U_GRID])
    assert same_bits(py, jit)
    assert_allclose(py, want, rtol=1e-13, atol=0)
    if name in SCIPY_BOUND:
        return
    P = p.reshape(1, -1)
    py, jit = both(transforms.ppf_row, [(code, P, 0, u) for u in U_GRID])
    assert_allclose(py, jit, rtol=1e-13, atol=0)
    assert_allclose(py, want, rtol=1e-13, atol=0)


Z_GRID = np.array([-8.0, -3.0, -0.5, 0.0, 0.3, 1.0, 3.0])


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_quantile_of_normal_as_python(case):
    name, kw = case
    dist = getattr(stats, name)(**kw)
    code, p = dist_params(Distribution(name, kw))
    want = dist.ppf(special.ndtr(Z_GRID))
    py, jit = both(transforms.quantile_of_normal, [(code, p, z) for z in Z_GRID])
    assert same_bits(py, jit)
    assert_allclose(py, want, rtol=1e-13, atol=0)
    if name not in ("norm", "lognorm"):  # the others go through scipy's ndtr binding
        return
    P = p.reshape(1, -1)
    py, jit = both(transforms.quantile_of_normal_row, [(code, P, 0, z) for z in Z_GRID])
    assert_allclose(py, jit, rtol=1e-13, atol=0)
    assert_allclose(py, want, rtol=1e-13, atol=0)


# ---------------------------------------------------------------------- the stream
_MASK = (1 << 64) - 1
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64_py(z: int) -> int:
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _uniform_py(key: int, h: int) -> float:
    return ((_mix64_py(key ^ h) >> 12) + 0.5) / 2.0**52


WORDS = [0, 1, 2, 12345, _GOLDEN, _MASK, 1 << 63, (1 << 11) - 1, _MASK - (1 << 11)]


def test_stream_as_python():
    rng = np.random.default_rng(9)
    words = WORDS + [int(w) for w in rng.integers(0, 2**63, 20, dtype=np.uint64)]
    with np.errstate(over="ignore"):  # NumPy scalars warn on the (intended) uint64 wraparound
        for z in words:
            py = stream.mix64.py_func(np.uint64(z))
            assert type(py) is np.uint64 and int(py) == int(stream.mix64(np.uint64(z)))
            assert int(py) == _mix64_py(z)
            for h in (0, 7, _MASK):
                u = stream.uniform.py_func(np.uint64(z), np.uint64(h))
                assert u == stream.uniform(np.uint64(z), np.uint64(h)) == _uniform_py(z, h)
                assert 0.0 < u < 1.0
            for path in (0, 1, 2**40):
                k = stream.path_key.py_func(np.uint64(z), path)
                assert int(k) == int(stream.path_key(np.uint64(z), path))
                assert int(k) == _mix64_py((z + path * _GOLDEN) & _MASK)


# ---------------------------------------------------------------------- bins and folds
OCC_TOP = N_OCC_BINS - 1


def _occupancy_values(rng: np.random.Generator, n: int = 255) -> np.ndarray:
    edges = np.arange(N_OCC_BINS + 1) / OCC_BINS_PER_UNIT
    on_edge = edges[rng.choice(edges.size, 40, replace=False)]
    near = np.concatenate([on_edge, np.nextafter(on_edge, -np.inf), np.nextafter(on_edge, np.inf)])
    extra = np.array([0.0, 1.0, 1.0 + 1e-12, 1.7, 0.8, 0.7999999999999999])
    x = np.concatenate([near[near >= 0.0], extra, rng.uniform(0.0, 1.0, 200)])
    return rng.permutation(x)[:n]


def _occupancy_bins_numpy(x: np.ndarray) -> np.ndarray:
    """Bin k holds [k / 1000, (k + 1) / 1000), edges as k / 1000.0; the top bin [1, inf)."""
    edges = np.arange(N_OCC_BINS) / OCC_BINS_PER_UNIT
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, OCC_TOP)


def test_occupancy_bin_as_python():
    x = np.concatenate([_occupancy_values(np.random.default_rng(11)), [np.nan, np.inf]])
    py, jit = both(fold._occupancy_bin, [(v, OCC_TOP) for v in x])
    assert same_bits(py, jit)
    want = _occupancy_bins_numpy(x[:-2])
    np.testing.assert_array_equal(py[:-2], want)
    assert py[-2] == 0 and py[-1] == OCC_TOP  # NaN to the lowest bin, inf to the top


def _mw_values(rng, n_bins, base, width):
    return np.concatenate(
        [
            rng.uniform(base - 10.0, base + width * n_bins + 10.0, 100),
            base + width * np.arange(n_bins + 1),  # every edge, and the top
            [np.nextafter(base, -np.inf), 0.0, base],
        ]
    )


def _mw_bins_numpy(x, base, inv_width, n_bins):
    y = (x - base) * inv_width
    return np.where(x < base, 0, np.minimum(np.floor(y).astype(np.int64) + 1, n_bins + 1))


def test_mw_bin_as_python():
    n_bins, base, width = 50, 100.0, 2.0
    x = _mw_values(np.random.default_rng(5), n_bins, base, width)
    py, jit = both(fold._mw_bin, [(v, base, 1.0 / width, n_bins) for v in x])
    assert same_bits(py, jit)
    np.testing.assert_array_equal(py, _mw_bins_numpy(x, base, 1.0 / width, n_bins))
    assert fold._mw_bin.py_func(np.nan, base, 1.0 / width, n_bins) == 0  # NaN: lowest bin


def _fold_occupancy(kernel, x: np.ndarray):
    nb = x.size
    work = np.zeros((N_WORK_ROWS, 1, nb))
    work[ROW_SUPPLY, 0] = 1.0  # occupancy = served / supply = x exactly
    work[ROW_SERVED, 0] = x
    work[ROW_REQUESTED, 0] = x
    pend = np.zeros((1, N_OCC_BINS), np.uint16)
    touch = np.empty((1, 1, 2), np.int64)
    touch[..., 0], touch[..., 1] = N_OCC_BINS, -1
    vmin, vmax = np.full((4, 1, 1), np.inf), np.full((4, 1, 1), -np.inf)
    shortage, fixed = np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64)
    run, tm = np.zeros((1, nb), np.int64), np.zeros((1, nb), np.int64)
    kbuf, xbuf = np.empty(nb, np.uint32), np.empty(nb)
    full = np.zeros((1, nb), np.int64)
    kernel(
        work, 0, nb, 0.8, 1, shortage, fixed, pend, touch, vmin, vmax, run, tm, kbuf, xbuf,
        full, 1.0, False,
    )  # fmt: skip
    return pend, touch, vmin, vmax, shortage, fixed, run, tm


def test_fold_occupancy_as_python():
    # (no NaN here: the fixed-point sum's int() of NaN raises in Python, is undefined compiled)
    rng = np.random.default_rng(11)
    for x in (_occupancy_values(rng), np.full(40, 0.9)):
        py = _fold_occupancy(fold.fold_occupancy.py_func, x)
        jit = _fold_occupancy(fold.fold_occupancy, x)
        for a, b in zip(py, jit, strict=True):
            assert same_bits(a, b)
        pend, touch, vmin, vmax, shortage, fixed, run, tm = py
        want = _occupancy_bins_numpy(x)
        np.testing.assert_array_equal(pend[0], np.bincount(want, minlength=N_OCC_BINS))
        assert tuple(touch[0, 0]) == (want.min(), want.max())
        assert (vmin[0, 0, 0], vmax[0, 0, 0]) == (x.min(), x.max())
        assert shortage[0, 0] == np.count_nonzero(x >= 0.8)
        assert fixed[0, 0] == np.sum(np.floor(x * 2.0**24 + 0.5).astype(np.int64))
        np.testing.assert_array_equal(tm[0], np.where(x >= 0.8, 1, 0))  # sustain 1, month 1


def _fold_mw(kernel, x, base, width, n_bins):
    nb = x.size
    work = np.zeros((N_WORK_ROWS, 1, nb))
    rows = {1: ROW_SERVED, 2: ROW_SUPPLY, 3: ROW_UNMET, 4: ROW_DEFERRED}
    V = N_MW_VARS
    for v in range(1, V + 1):
        work[rows[v], 0] = x * v
    lo = np.array([base * v for v in range(1, V + 1)]).reshape(V, 1, 1)
    inv_width = np.array([1.0 / (width * v) for v in range(1, V + 1)]).reshape(V, 1, 1)
    pend = np.zeros((V, n_bins + 2), np.uint16)
    touch = np.empty((V, 1, 1, 2), np.int64)
    touch[..., 0], touch[..., 1] = n_bins + 2, -1
    vmin, vmax = np.full((V + 1, 1, 1), np.inf), np.full((V + 1, 1, 1), -np.inf)
    some = np.ones((1, 1), np.int64)  # deferred demand on some path: fold every value
    kernel(work, 0, nb, lo, inv_width, pend, touch, vmin, vmax, np.empty(nb, np.uint32), some)
    return pend, touch, vmin, vmax, lo, inv_width


def test_fold_mw_as_python():
    n_bins, base, width = 50, 100.0, 2.0
    rng = np.random.default_rng(5)
    x = rng.permutation(np.concatenate([_mw_values(rng, n_bins, base, width), np.zeros(40)]))
    py = _fold_mw(fold.fold_mw.py_func, x, base, width, n_bins)
    jit = _fold_mw(fold.fold_mw, x, base, width, n_bins)
    for a, b in zip(py, jit, strict=True):
        assert same_bits(a, b)
    pend, touch, vmin, vmax, lo, inv_width = py
    for v in range(1, N_MW_VARS + 1):
        xv = x * v
        want = _mw_bins_numpy(xv, lo[v - 1, 0, 0], inv_width[v - 1, 0, 0], n_bins)
        np.testing.assert_array_equal(pend[v - 1], np.bincount(want, minlength=n_bins + 2))
        assert (vmin[v, 0, 0], vmax[v, 0, 0]) == (xv.min(), xv.max())
        assert tuple(touch[v - 1, 0, 0]) == (want.min(), want.max())


def test_fold_short_months_as_python():
    """Paths by the number of months short in each calendar year, against a NumPy count.
    The horizon starts in October and ends in March: two partial years."""
    rng = np.random.default_rng(4)
    month_year = np.array([0] * 3 + [1] * 12 + [2] * 3, dtype=np.int64)
    T, K, R1, nb = month_year.size, 3, 2, 37
    short = rng.random((T, R1, nb)) < np.linspace(0.1, 0.9, T)[:, None, None]
    out = []
    for kernel in (fold.fold_short_months.py_func, fold.fold_short_months):
        run = np.zeros((R1, nb), np.int64)
        year_short = np.full((R1, nb), -99, np.int64)  # scratch: reset at each year's start
        counts = np.zeros((R1, K, 13), np.int64)
        for t in range(T):
            run = (run + 1) * short[t]  # the kernels' run of shortage months
            kernel(run, t, nb, month_year, year_short, counts)
        out.append(counts)
    assert same_bits(out[0], out[1])
    want = np.zeros((R1, K, 13), np.int64)
    for k in range(K):
        n_short = short[month_year == k].sum(axis=0)  # (R1, nb)
        for r in range(R1):
            want[r, k] = np.bincount(n_short[r], minlength=13)
    np.testing.assert_array_equal(out[0], want)


# ---------------------------------------------------------------------- the stock model
def _stock_priors():
    """Three regions with spillover, two monthly profiles, projects arriving, cancelled or
    past the horizon (20 months from October: three calendar years)."""
    profile = (0.0, 0.0, 3.0, 1.0, 1.0, 1.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0)
    buyers = [
        buyer("b0", {"A": {2025: 48.0, 2026: 30.0}, "B": {2024: 9.0, 2025: 24.0}}),
        buyer("b1", {"B": {2025: 60.0}, "C": {2026: 36.0}}, monthly_profile=profile),
    ]
    projects = [
        project("a1", "A", 20.0, "2025-02"),
        project("b1", "B", 12.5, "2025-06"),
        project("c1", "C", 40.0, "2024-11"),
        project("a2", "A", 7.25, "2026-01"),
    ]
    spill = ((0.0, 0.3, 0.2), (0.5, 0.0, 0.0), (0.0, 0.0, 0.0))
    return make_priors(
        [region("A", 80.0, 100.0), region("B", 40.0, 50.0), region("C", 0.0, 20.0)],
        buyers,
        [provider("p", projects)],
        spill,
        base_month="2024-09",
        horizon_month="2026-05",
        max_occupancy=0.95,
    )


def _stock_run(kernels, m, scale, delivery):
    """The stock model's kernels on one block, as ``simulate_paths`` calls them: yearly
    requests, arrivals, then month by month serve + national sums. Returns year_req, add,
    the first 4 rows of work per month (T, 4, R1, nb) and occupancy (T, R1, nb)."""
    year_requests, additions, serve_month, national, occupancy = kernels
    R, T, K, nb = m.n_regions, m.n_months, m.n_years, scale.shape[2]
    year_req = np.empty((m.profiles.shape[0], R, K, nb))
    add = np.empty((R, T, nb))
    no_firm = np.zeros((R, T, 0))
    work = np.empty((N_WORK_ROWS, R + 1, nb))
    year_requests(
        m.increments_year_mw, m.inc_row_buyer, m.inc_row_region, m.profile_group, scale, nb,
        year_req,
    )  # fmt: skip
    additions(m.proj_region, m.proj_capacity_mw, delivery, nb, add)
    rows = np.empty((T, 4, R + 1, nb))
    occ = np.empty((T, R + 1, nb))
    for t in range(T):
        serve_month(
            m.supply_stock_mw, m.demand_stock_mw, m.max_occupancy, m.spillover,
            m.has_spillover, year_req, m.profiles, m.month_year, m.month_of_year, add, False,
            no_firm, no_firm, t, nb, work,
        )  # fmt: skip
        national(work, nb)
        rows[t] = work[:4]
        for r in range(R + 1):
            for i in range(nb):
                occ[t, r, i] = occupancy(
                    work[ROW_SERVED, r, i], work[ROW_SUPPLY, r, i], work[ROW_REQUESTED, r, i]
                )
    return year_req, add, rows, occ


STOCK_KERNELS = (stock.year_requests, stock.additions, stock.serve_month, stock.national)


def test_stock_model_as_python():
    priors = _stock_priors()
    m = build_model_arrays(priors)
    assert m.has_spillover and m.profiles.shape[0] == 2 and m.n_years == 3
    rng = np.random.default_rng(8)
    nb = 13
    B, J, T = m.market_loading.shape[0], m.proj_capacity_mw.shape[0], m.n_months
    scale = rng.lognormal(0.0, 0.5, (B, m.n_years, nb))
    delivery = rng.integers(0, T + 3, (J, nb))  # 0: cancelled; > T: after the horizon
    delivery[:, 0] = [1, T, 0, T + 1]
    py = _stock_run(
        [k.py_func for k in STOCK_KERNELS] + [stock.occupancy.py_func], m, scale, delivery
    )
    jit = _stock_run([*STOCK_KERNELS, stock.occupancy], m, scale, delivery)
    for a, b in zip(py, jit, strict=True):
        assert same_bits(a, b)
    # the NumPy reference's pieces (time-major (T, n, R)) on the same inputs
    _, _, rows, occ = py
    plan = _plan(priors)
    assert plan.region_ids == priors.region_ids and plan.T == T
    supply = _supply(plan, np.ascontiguousarray(delivery.T))
    inc = _increments(plan, scale.transpose(2, 0, 1), np.ones((nb, B)))
    ref = _serve(plan, supply, inc)

    def tm(a):  # (T, R1, nb) -> the reference's (T, nb, R1)
        return a.transpose(0, 2, 1)

    # supplies are sums of dyadic capacities: exact in any order
    np.testing.assert_array_equal(tm(rows[:, ROW_SUPPLY]), ref["supply"])
    for name, row in (("demand", ROW_SERVED), ("unmet_demand", ROW_UNMET)):
        assert_allclose(tm(rows[:, row]), ref[name], rtol=1e-12, atol=1e-9, err_msg=name)
    assert_allclose(tm(occ), ref["occupancy"], rtol=1e-12, atol=1e-12)
    assert np.any(ref["unmet_demand"] > 0) and np.any(tm(rows[:, ROW_UNMET]) == 0)
    # occupancy itself, against the reference's rule (a single division: the same bits)
    served, sup, req = (tm(rows[:, k]) for k in (ROW_SERVED, ROW_SUPPLY, ROW_REQUESTED))
    assert same_bits(tm(occ), _occupancy(served, sup, req))


def test_occupancy_zero_supply_rule_as_python():
    cases = [(1.0, 2.0, 3.0), (0.0, 0.0, 5.0), (0.0, 0.0, 0.0), (3.0, 4.0, 3.0)]  # (d, s, q)
    py, jit = both(stock.occupancy, cases)
    assert same_bits(py, jit)
    served, supply, requested = (np.array(c) for c in zip(*cases, strict=True))
    assert same_bits(py, _occupancy(served, supply, requested))
    assert py.tolist() == [0.5, 1.0, 0.0, 0.75]  # no supply: 1 if anything is requested
