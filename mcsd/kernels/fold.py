"""Numba kernels: fold a month of a block of paths into the accumulators' arrays.

All accumulators are integers (counts, fixed-point sums) or min/max, so merging them is
exact and order-free. Month by month, the block's stocks per region (and their national
sums) sit in a small buffer (``work``, rows ``ROW_*``) that stays in L1 and are folded at
once, occupancy computed on the fly: no path's full trajectory is written out.

Histogram counts go first to ``uint16`` pending histograms (a quarter of the cache lines of
int64 counts), which are added to the int64 histograms over the bins actually touched,
before any count could reach 2**16. Minima and maxima are reduced as integer keys in the
IEEE total order, which vectorizes where a float min/max chain does not.
"""

from __future__ import annotations

import numpy as np

from mcsd.kernels.jit import bits_float, float_bits, jit, jit_inline
from mcsd.kernels.layout import (
    FIXED_POINT_SCALE,
    N_MW_VARS,
    OCC_BINS_PER_UNIT,
    ROW_ACCEPT,
    ROW_DEFERRED,
    ROW_INFLOW,
    ROW_REQUESTED,
    ROW_SERVED,
    ROW_SUPPLY,
    ROW_UNMET,
    VAR_DEFERRED,
    VAR_OCCUPANCY,
)
from mcsd.kernels.stock import occupancy

# --------------------------------------------------------------------------------------
# folding a month of the block into the accumulators
# --------------------------------------------------------------------------------------
_SIGN_OFF = np.int64(0x7FFFFFFFFFFFFFFF)
_NEAR_EDGE = 1e-9
_KEY_POS_INF = np.int64(0x7FF0000000000000)  # order key of +inf
_KEY_NEG_INF = np.int64(-0x7FF0000000000001)  # order key of -inf
_S63 = np.int64(63)
_TWO_31 = 2147483648.0
_MW_ROWS = (ROW_SERVED, ROW_SUPPLY, ROW_UNMET, ROW_DEFERRED)  # work rows of the MW variables


@jit_inline
def _order_key(x):
    """An int64 whose order is the IEEE total order of the float64 x. Integer min/max
    reductions vectorize; float ones in a fixed order do not."""
    bits = float_bits(x)
    return bits ^ ((bits >> _S63) & _SIGN_OFF)


@jit_inline
def _from_order_key(key):
    """The float64 whose order key is ``key`` (the map is its own inverse on the bits)."""
    return bits_float(key ^ ((key >> _S63) & _SIGN_OFF))


@jit_inline
def _occupancy_bin(x, top):
    """Bin k of occupancy x: [k/1000, (k+1)/1000) with edges rounded as ``k / 1000.0``;
    NaN to 0 and anything >= 1 to ``top``."""
    y = x * OCC_BINS_PER_UNIT
    # compare before int(): int() of NaN or inf is undefined
    k = 0 if not y >= 0.0 else (top if y >= top else int(y))
    if k > 0 and x < k / OCC_BINS_PER_UNIT:
        k -= 1
    elif k < top and x >= (k + 1) / OCC_BINS_PER_UNIT:
        k += 1
    return k


@jit_inline
def _mw_bin(x, base, inv_width, n_bins):
    """MW bin of x: 0 below ``base`` (and NaN), 1..n_bins equal width, n_bins + 1 above.

    Clamped by selects before the cast (undefined for NaN, inf and out-of-range values),
    so the loop vectorizes; y is in [-1, n_bins], where a cast to int32 truncates as one to
    int64 does (AVX2 has a vector double -> int32 cast, none to int64). x - base has the
    sign of the exact difference.
    """
    d = x - base
    y = d * inv_width if d >= 0.0 else -1.0
    y = y if y < n_bins else float(n_bins)
    return np.int64(np.int32(y)) + 1


@jit_inline
def _count_bins(pend, c, kbuf, nb, k_lo, k_hi):
    """Add the block's bins kbuf[:nb] (lowest k_lo, highest k_hi) to row c of pend (cells,
    bins).

    Paths at the lowest bin (no unmet demand, supply before any delivery: often most of
    the block) are counted in one vectorized pass and added at once; the rest are
    compacted and scattered. Long runs of increments to one counter would otherwise wait
    on each other's stores.
    """
    if k_lo == k_hi:
        pend[c, k_lo] += nb
        return
    n_lo = 0
    for i in range(nb):
        n_lo += np.int64(kbuf[i] == k_lo)
    if 8 * n_lo < nb:
        for i in range(nb):
            pend[c, kbuf[i]] += 1
        return
    pend[c, k_lo] += n_lo
    j = 0
    for i in range(nb):
        k = kbuf[i]
        kbuf[j] = k
        j += np.int64(k != k_lo)
    for i in range(j):
        pend[c, kbuf[i]] += 1


@jit_inline
def _merge_min_max(vmin, vmax, v, r, t, key_lo, key_hi):
    """Lower vmin[v, r, t] and raise vmax[v, r, t] to the block's extremes, given as order
    keys (IEEE total order: for the model's values, never NaN or -0.0, the usual one)."""
    if key_lo < _order_key(vmin[v, r, t]):
        vmin[v, r, t] = _from_order_key(key_lo)
    if key_hi > _order_key(vmax[v, r, t]):
        vmax[v, r, t] = _from_order_key(key_hi)


@jit
def fold_occupancy(
    work,
    t,
    nb,
    threshold,
    sustain,
    shortage,
    occ_fixed,
    occ_pend,
    occ_touch,
    vmin,
    vmax,
    run,
    tm,
    kbuf,
    xbuf,
    full,
    max_occupancy,
    has_spillover,
    can_turn=True,
):
    """Fold month t's occupancy (served / supply from work: (8, R1, block)) into the
    shortage counts, fixed-point sums, pending histogram (occ_pend: (R1 x T, bins)),
    min/max and the turning-point state run, tm (R1, block), in one pass over the block
    per region. xbuf (block,): scratch for the occupancies.

    A cell held at the cap has occupancy exactly max_occupancy: served / supply can round
    a hair below it, which would put the cell one histogram bin low and, with a threshold
    equal to the cap, out of shortage. A region is at the cap when served >= max_occupancy
    x supply (the product ``serve_month`` caps with) or when spillover filled its room
    (demand was offered, accept < 1), and its supply is > 0 (with no supply the occupancy
    rule, 1 if anything is requested, decides); the national row is at the cap when every
    region is (a region with no supply serves 0 = its cap). full (R1, block) int64 receives
    these flags (row R counts the regions at the cap until the national row is folded).
    A path's turning month is set only in months where ``can_turn`` (every month under the
    first-month rule, Decembers under the year-end rule)."""
    top = occ_pend.shape[1] - 1
    f_top = float(top)
    T = occ_touch.shape[1]
    t_turn = t - sustain + 2
    R = occ_touch.shape[0] - 1
    for r in range(R + 1):
        if r < R:
            for i in range(nb):
                s = work[ROW_SUPPLY, r, i]
                at = np.int64(work[ROW_SERVED, r, i] >= max_occupancy * s)
                if has_spillover:
                    at |= np.int64((work[ROW_INFLOW, r, i] > 0.0) & (work[ROW_ACCEPT, r, i] < 1.0))
                full[R, i] = at if r == 0 else full[R, i] + at
                full[r, i] = at & np.int64(s > 0.0)
        else:
            for i in range(nb):
                every = np.int64(full[R, i] == R) if R > 0 else np.int64(0)
                full[R, i] = every & np.int64(work[ROW_SUPPLY, R, i] > 0.0)
        n_short = 0
        fsum = 0
        key_lo = _SIGN_OFF
        key_hi = -_SIGN_OFF - 1
        n_near = 0
        n_wide = 0
        for i in range(nb):
            x = occupancy(work[ROW_SERVED, r, i], work[ROW_SUPPLY, r, i], work[ROW_REQUESTED, r, i])
            x = max_occupancy if full[r, i] != 0 else x
            xbuf[i] = x
            # fixed point by a vector cast to int32 where it is exact (|v| < 2**31: always
            # for occupancies in [0, 1]); any other lane (never from valid priors) is added
            # with the int64 cast after the loop
            v = x * FIXED_POINT_SCALE + 0.5
            ok = (v > -_TWO_31) & (v < _TWO_31)
            fsum += np.int64(np.int32(v if ok else 0.0))
            n_wide += 1 - np.int64(ok)
            is_short = x >= threshold
            n_short += np.int64(is_short)
            rn = run[r, i] + 1 if is_short else np.int64(0)  # a select: AVX2 has no int64 mul
            run[r, i] = rn
            tm_i = tm[r, i]
            tm[r, i] = t_turn if (tm_i == 0) & (rn >= sustain) & can_turn else tm_i
            # floor(1000 x) is the bin unless 1000 x is within 1e-9 of an integer (rounding
            # moves it by < 3e-13): those few take the exact edge comparison below. Clamped
            # into [0, top] first (NaN to 0) by selects, which vectorize, so int() is defined
            y = x * OCC_BINS_PER_UNIT
            y = y if y >= 0.0 else 0.0
            y = y if y <= f_top else f_top
            k = np.int64(np.int32(y))  # y in [0, top]: as int(y), in a vector cast (_mw_bin)
            frac = y - k
            n_near += np.int64((frac < _NEAR_EDGE) | (frac > 1.0 - _NEAR_EDGE))
            kbuf[i] = k
            key = _order_key(x)
            key_lo = min(key_lo, key)
            key_hi = max(key_hi, key)
        if n_wide > 0:
            for i in range(nb):
                v = xbuf[i] * FIXED_POINT_SCALE + 0.5
                if not ((v > -_TWO_31) & (v < _TWO_31)):
                    fsum += np.int64(v)
        shortage[r, t] += n_short
        occ_fixed[r, t] += fsum
        if n_near > 0:
            for i in range(nb):
                x = xbuf[i]
                y = x * OCC_BINS_PER_UNIT
                y = y if y >= 0.0 else 0.0
                y = y if y <= f_top else f_top
                k = np.int64(np.int32(y))
                frac = y - k
                near = (frac < _NEAR_EDGE) | (frac > 1.0 - _NEAR_EDGE)
                # near an edge, 1000 x is within 1e-9 of the integer kr: the bin is kr if x
                # reaches that edge (rounded as kr / 1000.0), else kr - 1 (NaN: -1, then 0)
                kr = k + np.int64(frac > 0.5)
                kn = kr if x >= kr / OCC_BINS_PER_UNIT else kr - 1
                kn = kn if kn >= 0 else 0
                kbuf[i] = kn if near else k
        if _KEY_NEG_INF <= key_lo and key_hi <= _KEY_POS_INF:
            # the bin is non-decreasing in x: the extremes' bins are the block's
            k_lo = _occupancy_bin(_from_order_key(key_lo), top)
            k_hi = _occupancy_bin(_from_order_key(key_hi), top)
        else:  # a NaN (never from valid priors) sorts past the infinities
            k_lo = top
            k_hi = 0
            for i in range(nb):
                k_lo = min(k_lo, np.int64(kbuf[i]))
                k_hi = max(k_hi, np.int64(kbuf[i]))
        _merge_min_max(vmin, vmax, VAR_OCCUPANCY, r, t, key_lo, key_hi)
        _count_bins(occ_pend, r * T + t, kbuf, nb, k_lo, k_hi)
        occ_touch[r, t, 0] = min(occ_touch[r, t, 0], k_lo)
        occ_touch[r, t, 1] = max(occ_touch[r, t, 1], k_hi)


@jit
def fold_mw(work, t, nb, lo, inv_width, mw_pend, mw_touch, vmin, vmax, kbuf, deferred_any):
    """Fold month t's served demand, supply, unmet and deferred demand (rows ``_MW_ROWS`` of
    work: (8, R1, block)) into the pending histograms (mw_pend: (N_MW_VARS x R1 x T, bins))
    and the min/max. Where no path of the block has deferred demand (deferred_any (R1, T)
    int64 is 0: always without pre-leases) it is 0 on every path: counted at once."""
    n_mw = mw_pend.shape[1] - 2
    R1 = mw_touch.shape[1]
    T = mw_touch.shape[2]
    for v in range(N_MW_VARS):
        w = _MW_ROWS[v]
        for r in range(R1):
            base = lo[v, r, t]
            iw = inv_width[v, r, t]
            c = (v * R1 + r) * T + t
            if v == VAR_DEFERRED - 1 and deferred_any[r, t] == 0:
                k0 = _mw_bin(0.0, base, iw, n_mw)
                key0 = _order_key(0.0)
                _merge_min_max(vmin, vmax, v + 1, r, t, key0, key0)
                mw_pend[c, k0] += nb
                mw_touch[v, r, t, 0] = min(mw_touch[v, r, t, 0], k0)
                mw_touch[v, r, t, 1] = max(mw_touch[v, r, t, 1], k0)
                continue
            key_lo = _SIGN_OFF
            key_hi = -_SIGN_OFF - 1
            for i in range(nb):
                x = work[w, r, i]
                kbuf[i] = _mw_bin(x, base, iw, n_mw)
                key = _order_key(x)
                key_lo = min(key_lo, key)
                key_hi = max(key_hi, key)
            _merge_min_max(vmin, vmax, v + 1, r, t, key_lo, key_hi)
            if _KEY_NEG_INF <= key_lo and key_hi <= _KEY_POS_INF:
                # the bin is non-decreasing in x: the extremes' bins are the block's
                k_lo = _mw_bin(_from_order_key(key_lo), base, iw, n_mw)
                k_hi = _mw_bin(_from_order_key(key_hi), base, iw, n_mw)
            else:  # a NaN (never from valid priors) sorts past the infinities
                k_lo = n_mw + 1
                k_hi = 0
                for i in range(nb):
                    k_lo = min(k_lo, np.int64(kbuf[i]))
                    k_hi = max(k_hi, np.int64(kbuf[i]))
            _count_bins(mw_pend, c, kbuf, nb, k_lo, k_hi)
            mw_touch[v, r, t, 0] = min(mw_touch[v, r, t, 0], k_lo)
            mw_touch[v, r, t, 1] = max(mw_touch[v, r, t, 1], k_hi)


@jit
def _flush(pend, touch, hist):
    """Add the pending uint16 counts (cells, bins) to hist over each cell's touched bins,
    zero them and reset the touched range (touch: (cells, 2), empty = (bins, -1))."""
    n_bins = pend.shape[1]
    for c in range(pend.shape[0]):
        for k in range(touch[c, 0], touch[c, 1] + 1):
            hist[c, k] += pend[c, k]
            pend[c, k] = 0
        touch[c, 0] = n_bins
        touch[c, 1] = -1


@jit
def flush_pending(pend, counts):
    """Add both pending histograms of ``pend`` (``Pending``) to the int64 ones of ``counts``
    (``Counts``) and zero them; each cell's touched bin range is reset to empty."""
    occ_pend = pend.occupancy
    mw_pend = pend.mw
    n_occ = occ_pend.shape[0] * occ_pend.shape[1]
    n_mw = mw_pend.shape[0] * mw_pend.shape[1] * mw_pend.shape[2]
    _flush(
        occ_pend.reshape((n_occ, -1)),
        pend.occupancy_touched.reshape((n_occ, 2)),
        counts.occupancy_hist.reshape((n_occ, -1)),
    )
    _flush(
        mw_pend.reshape((n_mw, -1)),
        pend.mw_touched.reshape((n_mw, 2)),
        counts.mw_hist.reshape((n_mw, -1)),
    )


@jit
def fold_short_months(run, t, nb, month_year, year_short, short_months):
    """Count month t's shortage (``run[r, i] > 0``: the path is short this month) towards
    its calendar year; at the year's last month in the horizon, add each path to
    short_months[r, k, months short]. year_short (R1, block): the running counts."""
    T = month_year.shape[0]
    k = month_year[t]
    first = t == 0 or month_year[t - 1] != k
    last = t == T - 1 or month_year[t + 1] != k
    for r in range(run.shape[0]):
        for i in range(nb):
            c = 0 if first else year_short[r, i]
            year_short[r, i] = c + np.int64(run[r, i] > 0)
    if last:
        for r in range(run.shape[0]):
            for i in range(nb):
                short_months[r, k, year_short[r, i]] += 1
