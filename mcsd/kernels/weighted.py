"""Numba kernels of weighted (nowcast) runs: log weights of paths and the weighted fold.

Both read the per-path values a chunk keeps (``vals`` (n, N_VARS, R1, T), turning months
``turns`` (n, R1)). Weights arrive as int64 integers (``w = round(2**S exp(logw - L))``),
so every weighted sum is an integer sum: exact, and the same for any merge order. The
weighted occupancy sum needs more than 64 bits and is kept as two words, ``hi * 2**24 +
lo`` with ``0 <= lo < 2**24``.
"""

from __future__ import annotations

import numpy as np

from mcsd.kernels.fold import _mw_bin, _occupancy_bin
from mcsd.kernels.jit import jit
from mcsd.kernels.layout import FIXED_POINT_SCALE, N_MW_VARS, VAR_OCCUPANCY

LO_BITS = 24
LO_MASK = (1 << LO_BITS) - 1


@jit
def log_weights(vals, n, obs_var, obs_region, obs_t, obs_value, obs_sd, out):
    """out[i] = sum over observations o of -((x - value) / sd)**2 / 2, x = vals[i, var,
    region, t] of observation o (the Gaussian log likelihood up to a constant), i < n."""
    for i in range(n):
        s = 0.0
        for o in range(obs_var.shape[0]):
            z = (vals[i, obs_var[o], obs_region[o], obs_t[o]] - obs_value[o]) / obs_sd[o]
            s -= 0.5 * z * z
        out[i] = s


@jit
def exclude_opened(delivery, n, fact_project, fact_month, out):
    """out[i] = -inf where a "not opened by month m" fact is false on path i: project j
    delivered in months 1..m (delivery (J, n), 0 = cancelled)."""
    for f in range(fact_project.shape[0]):
        j = fact_project[f]
        m = fact_month[f]
        for i in range(n):
            d = delivery[j, i]
            if d >= 1 and d <= m:
                out[i] = -np.inf


@jit
def fold_weighted(
    vals,
    turns,
    n,
    w,
    w2,
    threshold,
    month_year,
    lo,
    inv_width,
    totals,
    shortage,
    shortage_sq,
    turning,
    turning_sq,
    occ_hi,
    occ_lo,
    occ_hist,
    mw_hist,
    short_months,
    short_months_sq,
):
    """Add paths 0..n-1 with integer weights w (n,) and squared weights w2 (n,) to the
    weighted counts: totals (2,) = (sum w, sum w2); shortage, shortage_sq, occ_hi, occ_lo
    (R1, T); turning, turning_sq (R1, T + 1); occ_hist (R1, T, bins); mw_hist (N_MW_VARS,
    R1, T, bins); short_months, short_months_sq (R1, K, 13). Bins as the unweighted fold's.

    Cell by cell, the paths inner: one cell's histogram rows take all the chunk's counts
    before the next cell's (path by path, every count would miss the cache)."""
    R1 = vals.shape[2]
    T = vals.shape[3]
    top = occ_hist.shape[2] - 1
    n_mw = mw_hist.shape[3] - 2
    live = np.empty(n, np.int64)  # paths with a weight: w2 <= w, so w = 0 adds nothing
    m = 0
    for i in range(n):
        if w[i] != 0:
            live[m] = i
            m += 1
            totals[0] += w[i]
            totals[1] += w2[i]
    months_short = np.zeros(m, np.int64)
    for r in range(R1):
        for t in range(T):
            year_ends = t == T - 1 or month_year[t + 1] != month_year[t]
            k = month_year[t]
            s_w = np.int64(0)
            s_w2 = np.int64(0)
            hi = np.int64(0)
            low = occ_lo[r, t]
            for a in range(m):
                i = live[a]
                wi = w[i]
                x = vals[i, VAR_OCCUPANCY, r, t]
                short = x >= threshold
                if short:
                    s_w += wi
                    s_w2 += w2[i]
                months_short[a] += np.int64(short)
                xf = np.int64(x * FIXED_POINT_SCALE + 0.5)
                low += (wi & LO_MASK) * xf
                hi += (wi >> LO_BITS) * xf + (low >> LO_BITS)
                low &= LO_MASK
                occ_hist[r, t, _occupancy_bin(x, top)] += wi
                if year_ends:
                    c = months_short[a]
                    short_months[r, k, c] += wi
                    short_months_sq[r, k, c] += w2[i]
                    months_short[a] = 0
            shortage[r, t] += s_w
            shortage_sq[r, t] += s_w2
            occ_hi[r, t] += hi
            occ_lo[r, t] = low
            for v in range(N_MW_VARS):
                base = lo[v, r, t]
                iw = inv_width[v, r, t]
                for a in range(m):
                    i = live[a]
                    mw_hist[v, r, t, _mw_bin(vals[i, v + 1, r, t], base, iw, n_mw)] += w[i]
        for a in range(m):
            i = live[a]
            tm = turns[i, r]
            turning[r, tm - 1 if tm > 0 else T] += w[i]
            turning_sq[r, tm - 1 if tm > 0 else T] += w2[i]


@jit
def quantize_weights(logw, n, shift, scale, w, w2):
    """w[i] = round(scale exp(logw[i] - shift)), w2[i] = round(scale exp(2 (logw[i] -
    shift))) for i < n: int64 weights in units of 1/scale (0 for logw = -inf)."""
    for i in range(n):
        d = logw[i] - shift
        if d == -np.inf:
            w[i] = 0
            w2[i] = 0
        else:
            w[i] = np.int64(np.rint(scale * np.exp(d)))
            w2[i] = np.int64(np.rint(scale * np.exp(2.0 * d)))
