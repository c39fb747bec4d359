"""Quadrature reference for nowcast tests: the exact posterior of a two-year toy.

The toy (independent of the engine; numpy and scipy only): one region with demand stock
``d0`` and a constant supply ``s0`` (MW, no projects), one buyer with nominal increments
``inc1`` in year 1 and ``inc2`` in year 2 (MW, uniform monthly profile, exact share) and a
lognormal multiplier ``M_k = exp(sigma z_k)`` whose normals (z1, z2) are standard bivariate
normal with correlation ``phi`` (the buyer's persistence; with one buyer the market loading
does not matter). At the end of month t (1..24) the requested demand stock is

    D_t = d0 + inc1 M1 min(t, 12) / 12 + inc2 M2 max(t - 12, 0) / 12,

served = min(D_t, max_occupancy s0) and occupancy = served / s0. Measurements (Gaussian,
sd) of year-1 months depend on z1 alone; a year-2 target given z1 is a normal tail in z2,
so every posterior quantity is a 1-d integral over z1 (``scipy.integrate.quad``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, stats

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
Z_LIMIT = 12.0  # |z1| beyond this has prior density < 1e-31: outside the integration range


@dataclass(frozen=True)
class TwoYearToy:
    """Parameters of the toy (MW, dimensionless); see the module docstring."""

    d0: float
    s0: float
    inc1: float
    inc2: float
    sigma: float
    phi: float
    threshold: float = 0.8
    max_occupancy: float = 1.0

    @property
    def cap(self) -> float:
        """Largest served demand stock (MW)."""
        return self.max_occupancy * self.s0

    def requested(self, t: int, z1: np.ndarray, z2: np.ndarray | float = 0.0) -> np.ndarray:
        """Requested demand stock D_t (MW) at the end of month t (1..24)."""
        y1 = min(t, 12) / 12.0
        y2 = max(t - 12, 0) / 12.0
        m1 = np.exp(self.sigma * np.asarray(z1, float))
        m2 = np.exp(self.sigma * np.asarray(z2, float))
        return self.d0 + self.inc1 * m1 * y1 + self.inc2 * m2 * y2

    def quantity(self, name: str, t: int, z1: np.ndarray, z2: np.ndarray | float = 0.0):
        """A measured quantity ("occupancy" 1, "demand_mw" or "supply_mw" MW) at month t."""
        served = np.minimum(self.requested(t, z1, z2), self.cap)
        if name == "occupancy":
            return served / self.s0
        if name == "demand_mw":
            return served
        if name == "supply_mw":
            return np.full_like(served, self.s0)
        raise ValueError(f"unknown quantity {name!r}")


@dataclass(frozen=True)
class YearOneMeasurement:
    """A Gaussian measurement of ``quantity`` at the end of month ``t`` (1..12)."""

    t: int
    quantity: str
    value: float
    sd: float

    def __post_init__(self) -> None:
        if not 1 <= self.t <= 12:
            raise ValueError(f"the reference measures year-1 months only, got t={self.t}")


def log_likelihood(toy: TwoYearToy, obs: Sequence[YearOneMeasurement], z1) -> np.ndarray:
    """Sum of -0.5 ((x - value) / sd)**2 over the measurements, x a function of z1."""
    z1 = np.asarray(z1, float)
    out = np.zeros_like(z1)
    for m in obs:
        r = (toy.quantity(m.quantity, m.t, z1) - m.value) / m.sd
        out = out - 0.5 * r * r
    return out


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _z_of_requested(toy: TwoYearToy, t: int, d: float) -> float | None:
    """z1 at which D_t (year 1) equals d, None if never (D_t > d0 always)."""
    rest = d - toy.d0
    if rest <= 0.0:
        return None
    return math.log(rest / (toy.inc1 * min(t, 12) / 12.0)) / toy.sigma


class Posterior:
    """Posterior of z1 given year-1 measurements, and year-2 occupancy functionals.

    Integrals use the likelihood relative to its maximum over a fine grid (so they neither
    underflow nor depend on the normalising constant), with break points where a
    measurement's residual is 0 and where served demand reaches the cap.
    """

    def __init__(self, toy: TwoYearToy, obs: Sequence[YearOneMeasurement] = ()) -> None:
        self.toy = toy
        self.obs = tuple(obs)
        pts = []
        for m in self.obs:
            for d in (m.value * (toy.s0 if m.quantity == "occupancy" else 1.0), toy.cap):
                z = _z_of_requested(toy, m.t, d)
                if z is not None and abs(z) < Z_LIMIT:
                    pts.append(z)
        grid = np.linspace(-Z_LIMIT, Z_LIMIT, 200_001)
        lw = log_likelihood(toy, self.obs, grid) + stats.norm.logpdf(grid)
        self.shift = float(lw.max())
        self.mode = float(grid[np.argmax(lw)])
        # the posterior's bulk: where the density is within e**-40 of its maximum
        bulk = grid[lw - self.shift > -40.0]
        self.lo, self.hi = float(bulk[0]), float(bulk[-1])
        self.points = sorted({p for p in [*pts, self.mode] if self.lo < p < self.hi})
        self.norm = self._integrate(lambda z: 1.0)

    def density(self, z1: float) -> float:
        """Unnormalised posterior density of z1 (its maximum is ~1); scalar math, for quad."""
        toy = self.toy
        lw = -0.5 * z1 * z1 - _LOG_SQRT_2PI
        m1 = math.exp(toy.sigma * z1)
        for m in self.obs:
            served = min(toy.d0 + toy.inc1 * m1 * m.t / 12.0, toy.cap)
            x = served / toy.s0 if m.quantity == "occupancy" else served
            x = toy.s0 if m.quantity == "supply_mw" else x
            r = (x - m.value) / m.sd
            lw -= 0.5 * r * r
        return math.exp(lw - self.shift)

    def _integrate(self, g, extra_points=()) -> float:
        pts = sorted({*self.points, *(p for p in extra_points if self.lo < p < self.hi)})
        edges = [self.lo, *pts, self.hi]
        total = 0.0
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            val, _ = integrate.quad(
                lambda z: self.density(z) * g(z), a, b, epsabs=0.0, epsrel=1e-11, limit=400
            )
            total += val
        return total

    def expect(self, g, extra_points=()) -> float:
        """Posterior mean of g(z1)."""
        return self._integrate(g, extra_points) / self.norm

    # ----------------------------------------------------------- year-2 occupancy
    def _z2_bound(self, t: int, x: float, z1: float) -> float:
        """occupancy_t <= x (x < max_occupancy) <=> z2 <= this (t in 13..24); -inf if
        never."""
        toy = self.toy
        rest = x * toy.s0 - toy.d0 - toy.inc1 * math.exp(toy.sigma * z1)
        if rest <= 0.0:
            return -math.inf
        return math.log(rest / (toy.inc2 * (t - 12) / 12.0)) / toy.sigma

    def _break(self, x: float) -> list[float]:
        """z1 where x s0 - d0 - inc1 M1 crosses 0 (the conditional CDF's kink)."""
        z = _z_of_requested(self.toy, 12, x * self.toy.s0)
        return [] if z is None else [z]

    def cdf(self, t: int, x: float) -> float:
        """P(occupancy at the end of month t <= x | measurements), t in 13..24."""
        if not 13 <= t <= 24:
            raise ValueError(f"year-2 months only, got t={t}")
        if x >= self.toy.max_occupancy:
            return 1.0
        c = math.sqrt(1.0 - self.toy.phi**2)

        def g(z1: float) -> float:
            b = self._z2_bound(t, x, z1)
            return 0.0 if b == -math.inf else _norm_cdf((b - self.toy.phi * z1) / c)

        return self.expect(g, self._break(x))

    def pdf(self, t: int, x: float) -> float:
        """Posterior density of occupancy at month t at x (0 < x < max_occupancy)."""
        toy = self.toy
        c = math.sqrt(1.0 - toy.phi**2)

        def g(z1: float) -> float:
            rest = x * toy.s0 - toy.d0 - toy.inc1 * math.exp(toy.sigma * z1)
            if rest <= 0.0:
                return 0.0
            b = math.log(rest / (toy.inc2 * (t - 12) / 12.0)) / toy.sigma
            # d b / d x = s0 / (sigma rest)
            a = (b - toy.phi * z1) / c
            return math.exp(-0.5 * a * a - _LOG_SQRT_2PI) / c * toy.s0 / (toy.sigma * rest)

        return self.expect(g, self._break(x))

    def p_shortage(self, t: int) -> float:
        """P(occupancy at month t >= threshold | measurements) (continuous below the cap,
        so >= and > agree)."""
        if self.toy.threshold > self.toy.max_occupancy:
            return 0.0
        return 1.0 - self.cdf(t, self.toy.threshold)

    def quantile(self, t: int, q: float) -> float:
        """The q-quantile of occupancy at month t (the cap when P(cap) >= 1 - q)."""
        toy = self.toy
        hi = toy.max_occupancy * (1.0 - 1e-12)
        if self.cdf(t, hi) < q:
            return toy.max_occupancy
        lo = toy.d0 / toy.s0  # occupancy never falls below d0 / s0
        return float(optimize.brentq(lambda x: self.cdf(t, x) - q, lo, hi, xtol=1e-12))


def weighted_cdf_at(values: np.ndarray, weights: np.ndarray, x: float) -> tuple[float, float]:
    """Self-normalised estimate of P(value <= x) and its ratio-estimator standard error,
    sqrt(sum w**2 (1[v <= x] - P)**2) / sum w (weights need not be normalised)."""
    w = np.asarray(weights, float)
    ind = (np.asarray(values) <= x).astype(float)
    p = float(np.sum(w * ind) / np.sum(w))
    se = float(np.sqrt(np.sum(w * w * (ind - p) ** 2)) / np.sum(w))
    return p, se


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose weighted CDF reaches q."""
    v = np.asarray(values, float)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(np.asarray(weights, float)[order])
    k = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(v[order][min(k, v.size - 1)])


def kish_ess(weights: np.ndarray) -> float:
    """(sum w)**2 / sum w**2."""
    w = np.asarray(weights, float)
    return float(np.sum(w) ** 2 / np.sum(w * w))


def log_sum_exp_mean(logw: np.ndarray, x: np.ndarray) -> float:
    """sum exp(logw) x / sum exp(logw), computed relative to max(logw) (no underflow)."""
    lw = np.asarray(logw, float)
    e = np.exp(lw - lw.max())
    return float(np.sum(e * np.asarray(x, float)) / np.sum(e))


def gaussian_log_weights(values: np.ndarray, obs_values, obs_sd) -> np.ndarray:
    """sum_m -0.5 ((values[:, m] - obs_values[m]) / obs_sd[m])**2: values (n, M)."""
    r = (np.asarray(values, float) - np.asarray(obs_values, float)) / np.asarray(obs_sd, float)
    return -0.5 * np.sum(r * r, axis=1)


def randomized_pit(values: np.ndarray, weights: np.ndarray, truth: float, u: float) -> float:
    """Randomised probability integral transform of ``truth`` under the weighted sample:
    F(truth-) + u (F(truth) - F(truth-)), u uniform on (0, 1) (ties, e.g. at the cap,
    stay uniform)."""
    v = np.asarray(values, float)
    w = np.asarray(weights, float)
    total = np.sum(w)
    below = np.sum(w[v < truth]) / total
    at = np.sum(w[v == truth]) / total
    return float(below + u * at)
