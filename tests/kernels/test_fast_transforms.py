"""The vectorizable transforms of mcsd/kernels/transforms.py: fast_exp, fast_log(_pos) and ndtri.

Deterministic checks (no Monte Carlo):
* fast_exp and fast_log are within 1 ulp of numpy's exp and log on 10^6 random arguments
  spread over their whole finite range (log-uniform magnitudes, subnormals included), and
  equal numpy exactly at the edges: 0, -0, subnormals, the overflow and underflow
  thresholds, +-inf, nan, negative arguments of log. fast_log_pos is fast_log, bit for bit,
  on positive normal arguments.
* ndtri (AS241) equals scipy.special.ndtri to rtol 1e-13 on uniforms from 2**-1074 to
  1 - 2**-53 and at the edges; ndtri_row gives the same bits as ndtri one value at a time
  (the engine's reproducibility depends on it).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import special

from mcsd.kernels.transforms import fast_exp, fast_log, fast_log_pos, ndtri, ndtri_row

N = 1_000_000


@numba.njit
def _exp_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_exp(x[i])
    return out


@numba.njit
def _log_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_log(x[i])
    return out


@numba.njit
def _log_pos_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = fast_log_pos(x[i])
    return out


@numba.njit
def _ndtri_all(u):
    out = np.empty_like(u)
    for i in range(u.shape[0]):
        out[i] = ndtri(u[i])
    return out


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of doubles between a and b (0 when equal, both nan, or +0 vs -0)."""
    ia = a.view(np.int64)
    ib = b.view(np.int64)
    # map the sign-magnitude bit patterns onto a monotonic integer line
    ia = np.where(ia < 0, np.int64(-(2**63)) - ia, ia)
    ib = np.where(ib < 0, np.int64(-(2**63)) - ib, ib)
    d = np.abs(ia - ib)
    return np.where(np.isnan(a) & np.isnan(b), 0, d)


def _log_uniform_magnitudes(rng, lo_exp: float, hi_exp: float, n: int) -> np.ndarray:
    return np.exp2(rng.uniform(lo_exp, hi_exp, n))


# ---------------------------------------------------------------------- exp
def test_fast_exp_within_one_ulp_over_its_range():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(-745.2, 709.78, N),  # the whole finite range, subnormal results included
            rng.uniform(-2.0, 2.0, N),  # the lognorm transform's usual arguments
            _log_uniform_magnitudes(rng, -1074, 0, N // 4) * rng.choice([-1.0, 1.0], N // 4),
        ]
    )
    got, want = _exp_all(x), np.exp(x)
    assert ulp_distance(got, want).max() <= 1


EXP_EDGES = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    1e-300,
    1.0,
    -1.0,
    709.782712893384,  # the largest x with a finite exp
    709.7827128933841,  # the smallest x whose exp overflows
    710.0,
    1e300,
    -708.3964185322641,  # exp(x) near the smallest normal
    -745.1332191019411,  # the smallest x whose exp rounds up to 2**-1074
    -745.1332191019412,  # ... and the largest that rounds to 0
    -746.0,
    -1e300,
    np.inf,
    -np.inf,
    np.nan,
]


def test_fast_exp_edges_equal_numpy():
    x = np.array(EXP_EDGES)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = _exp_all(x)
    assert ulp_distance(got, want).max() <= 1
    # where the result is exact or special, it is the same bits
    special_ = ~np.isfinite(want) | (want == 0.0) | (want == 1.0)
    assert np.array_equal(got[special_], want[special_], equal_nan=True)


# ---------------------------------------------------------------------- log
def test_fast_log_within_one_ulp_over_its_range():
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [
            _log_uniform_magnitudes(rng, -1074, 1024, N),  # subnormals to the largest double
            rng.uniform(0.5, 2.0, N),  # near 1, where log is small
            rng.uniform(0.0, 1.0, N) * rng.uniform(0.0, 1.0, N),  # U1 U2, the gamma delays
            1.0 + rng.uniform(-1e-8, 1e-8, N // 10),
        ]
    )
    got, want = _log_all(x), np.log(x)
    assert ulp_distance(got, want).max() <= 1


LOG_EDGES = [
    0.0,
    -0.0,
    5e-324,
    1e-320,
    2.2250738585072014e-308,  # the smallest normal
    2.225073858507201e-308,  # the largest subnormal
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


def test_fast_log_edges_equal_numpy():
    x = np.array(LOG_EDGES)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    got = _log_all(x)
    assert ulp_distance(got, want).max() <= 1
    special_ = ~np.isfinite(want) | (want == 0.0)
    assert np.array_equal(got[special_], want[special_], equal_nan=True)
    assert _log_all(np.array([1.0]))[0] == 0.0
    assert _log_all(np.array([2.0]))[0] == np.log(2.0)


def test_fast_log_pos_is_fast_log_on_positive_normals():
    rng = np.random.default_rng(5)
    x = np.concatenate(
        [
            _log_uniform_magnitudes(rng, -1022, 1024, N),
            rng.uniform(0.0, 1.0, N) * rng.uniform(0.0, 1.0, N),
            [2.2250738585072014e-308, 1.0, 1.7976931348623157e308],
        ]
    )
    x = x[(x >= 2.2250738585072014e-308) & np.isfinite(x)]
    assert np.array_equal(_log_pos_all(x), _log_all(x))


# ---------------------------------------------------------------------- ndtri
def _uniform_probe(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tiny = _log_uniform_magnitudes(rng, -1074, -1, N // 4)
    return np.concatenate(
        [
            rng.uniform(0.0, 1.0, N),
            tiny,  # the left tail down to the smallest subnormal
            1.0 - _log_uniform_magnitudes(rng, -53, -1, N // 4),  # the right tail
            0.5 + rng.uniform(-1e-3, 1e-3, N // 10),  # near 0, where relative error is hardest
            0.5 + np.array([-0.425, 0.425]),  # AS241's branch points
            np.nextafter(0.5 + np.array([-0.425, 0.425]), 0.5),
            np.nextafter(0.5 + np.array([-0.425, 0.425]), np.array([0.0, 1.0])),
            [np.exp(-25.0), 1.0 - 2.0**-53, 2.0**-53, 5e-324],
        ]
    )


def test_ndtri_matches_scipy():
    u = _uniform_probe(3)
    got, want = _ndtri_all(u), special.ndtri(u)
    centre = u == 0.5
    assert np.all(got[centre] == 0.0)
    assert_allclose(got[~centre], want[~centre], rtol=1e-13, atol=0)


@pytest.mark.parametrize(
    ("u", "want"),
    [(0.0, -np.inf), (1.0, np.inf), (np.nan, np.nan), (-0.1, np.nan), (1.5, np.nan), (0.5, 0.0)],
)
def test_ndtri_edges(u, want):
    got = _ndtri_all(np.array([u]))[0]
    assert np.array_equal(np.array([got]), np.array([want]), equal_nan=True)


@pytest.mark.parametrize("n", [1, 7, 128, 1001])
def test_ndtri_row_is_ndtri_bit_for_bit(n):
    u = _uniform_probe(4)[: n * 997 : 997] if n > 1 else np.array([0.01])
    u = np.concatenate([u, [0.0, 1.0, np.nan]])
    z = np.full(u.size, -7.0)
    ndtri_row(u, z, u.size, np.empty(u.size, np.int64), np.empty(u.size))
    assert np.array_equal(z, _ndtri_all(u), equal_nan=True)
