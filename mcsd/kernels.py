"""Numba kernels: run a block of paths through the monthly stock model, fold them into counts.

Kernels take plain arrays (``ModelArrays``) and preallocated outputs, and know nothing of
TOML, scipy or xarray. All accumulators are integers (counts, fixed-point sums) or min/max,
so merging them is exact and order-free: a run's result does not depend on threads or blocks.

Layout: every per-block array has the path in the block as its last, contiguous axis, so
each step of the model is one loop over the block's paths that LLVM vectorizes (every lane
does the same IEEE operations in the same order as a one-path loop would, so a path's
numbers do not depend on its place in a block). Month by month, the block's stocks per
region (and their national sums) sit in a small buffer that stays in L1 and are folded into
the accumulators at once, occupancy computed on the fly: no path's full trajectory is ever
written out unless ``keep`` asks for it (``VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY,
VAR_UNMET`` order its variables).

Histogram counts go first to ``uint16`` pending histograms (a quarter of the cache lines of
int64 counts), which are added to the int64 histograms over the bins actually touched,
before any count could reach 2**16. Minima and maxima are reduced as integer keys in the
IEEE total order, which vectorizes where a float min/max chain does not.
"""

from __future__ import annotations

import numpy as np

from mcsd.kernels_random import bits_float, float_bits, jit, jit_inline
from mcsd.kernels_sampling import nominal_block, sample_block

VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY, VAR_UNMET = 0, 1, 2, 3
N_VARS = 4
# rows of the per-block stock buffer ``work`` (7, R + 1, block); row R is the national sum
ROW_SUPPLY, ROW_REQUESTED, ROW_SERVED, ROW_UNMET = 0, 1, 2, 3
OCC_BINS_PER_UNIT = 1000  # occupancy histogram: bins [k/1000, (k+1)/1000), k = 0..1000
N_OCC_BINS = OCC_BINS_PER_UNIT + 1
# occupancy sums are exact int64 in units of 2**-24: room for 2**63 / 2**24 ~ 5.5e11 paths
# at occupancy 1; each path's occupancy is rounded to 6e-8 (mean error <= 3e-8)
FIXED_POINT_SCALE = 16777216.0
PENDING_MAX_PATHS = 65535  # uint16 pending counts are flushed before they can overflow


# --------------------------------------------------------------------------------------
# the stock model, a block of paths at a time
# --------------------------------------------------------------------------------------
@jit
def _year_requests(inc_year, row_buyer, row_region, profile_group, scale, nb, year_req):
    """year_req (G, R, K, block): requested demand increment per profile group, region,
    calendar year and path (MW), summed over the (buyer, region) rows with increments.

    scale (B, K, block): demand scales. Buyers sharing a profile share the monthly phasing,
    which ``_serve_month`` applies.
    """
    K = year_req.shape[2]
    year_req[:, :, :, :] = 0.0
    for row in range(row_buyer.shape[0]):
        b = row_buyer[row]
        r = row_region[row]
        g = profile_group[b]
        for k in range(K):
            c = inc_year[b, r, k]
            for i in range(nb):
                year_req[g, r, k, i] += c * scale[b, k, i]


@jit
def _additions(proj_region, proj_capacity_mw, delivery, nb, add):
    """add (R, T, block): capacity arriving per region, month and path; delivery (J, block)
    (a delivery after the horizon, or 0 for a cancelled project, adds nothing)."""
    add[:, :, :] = 0.0
    T = add.shape[1]
    for j in range(delivery.shape[0]):
        r = proj_region[j]
        cap = proj_capacity_mw[j]
        for i in range(nb):
            d = delivery[j, i]
            if 1 <= d <= T:
                add[r, d - 1, i] += cap


@jit
def _serve_month(
    supply0,
    demand0,
    max_occupancy,
    spillover,
    has_spillover,
    year_req,
    profiles,
    month_year,
    month_of_year,
    add,
    t,
    nb,
    work,
):
    """Advance the block's regional stocks to month t (0-based) and serve demand.

    The month's requested increment is year_req (G, R, K, block) phased by ``profiles``
    (G, 12); add (R, T, block): capacity arriving. work: (7, >= R, block); rows 0-3 hold
    supply, requested, served and unmet demand (MW) after the month.

    Serving: served = min(requested, max_occupancy x supply); a share spillover[r, r'] of
    r's unmet demand moves to r' within r''s room, pro rata. Terms that are exactly zero
    (no unmet demand, no spillover pair) are skipped or add 0.0, which leaves every sum
    unchanged: the values are those of a one-path loop.
    """
    R = supply0.shape[0]
    sup = work[0]
    req = work[1]
    srv = work[2]
    unm = work[3]
    room = work[4]
    inflow = work[5]
    accept = work[6]
    if t == 0:
        for r in range(R):
            for i in range(nb):
                sup[r, i] = supply0[r]
                req[r, i] = demand0[r]
    k = month_year[t]
    G = year_req.shape[0]
    for r in range(R):
        # `inflow` (free until the spillover) holds the month's requested increment, summed
        # over profile groups from the first one's term (every term is >= +0.0, so this is
        # the sum from 0.0 bit for bit)
        inc = inflow[0]
        c = profiles[0, month_of_year[t]]
        for i in range(nb):
            inc[i] = year_req[0, r, k, i] * c
        for g in range(1, G):
            c = profiles[g, month_of_year[t]]
            for i in range(nb):
                inc[i] += year_req[g, r, k, i] * c
        for i in range(nb):
            s = sup[r, i] + add[r, t, i]
            q = req[r, i] + inc[i]
            cap = max_occupancy * s
            d = min(q, cap)
            sup[r, i] = s
            req[r, i] = q
            srv[r, i] = d
            unm[r, i] = q - d
            room[r, i] = cap - d
    if not has_spillover:
        return
    inflow[:, :nb] = 0.0
    for r in range(R):
        for r2 in range(R):
            f = spillover[r, r2]
            if f != 0.0:
                for i in range(nb):
                    u = unm[r, i]
                    inflow[r2, i] += f * u if u > 0.0 else 0.0
    for r2 in range(R):
        for i in range(nb):
            w = inflow[r2, i]
            accept[r2, i] = min(1.0, room[r2, i] / w) if w > 0.0 else 0.0
    for r in range(R):
        # `room` (no longer needed) holds what leaves region r on each path
        out = room[r]
        out[:nb] = 0.0
        for r2 in range(R):
            f = spillover[r, r2]
            if f != 0.0:
                for i in range(nb):
                    moved = f * unm[r, i] * accept[r2, i]
                    moved = moved if moved > 0.0 else 0.0
                    out[i] += moved
                    req[r2, i] += moved
                    srv[r2, i] += moved
        for i in range(nb):
            req[r, i] -= out[i]
            unm[r, i] -= out[i]


@jit
def _national(work, nb):
    """work[0:4, R, :nb] = the national supply, requested, served and unmet demand: the
    regions' rows 0..R-1 summed in region order. work: (7, R + 1, block)."""
    R = work.shape[1] - 1
    for v in range(4):
        for i in range(nb):
            work[v, R, i] = 0.0
        for r in range(R):
            for i in range(nb):
                work[v, R, i] += work[v, r, i]


@jit_inline
def _occupancy(served, supply, requested):
    """served / supply; with no supply, 1 if anything is requested (all of it unmet), else
    0."""
    return served / supply if supply > 0.0 else (1.0 if requested > 0.0 else 0.0)


# --------------------------------------------------------------------------------------
# folding a month of the block into the accumulators
# --------------------------------------------------------------------------------------
_SIGN_OFF = np.int64(0x7FFFFFFFFFFFFFFF)
_NEAR_EDGE = 1e-9
_KEY_POS_INF = np.int64(0x7FF0000000000000)  # order key of +inf
_KEY_NEG_INF = np.int64(-0x7FF0000000000001)  # order key of -inf
_S63 = np.int64(63)


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

    Clamped by selects before int() (which is undefined for NaN, inf and out-of-range
    values), so the loop vectorizes. x - base has the sign of the exact difference.
    """
    d = x - base
    y = d * inv_width if d >= 0.0 else -1.0
    y = y if y < n_bins else float(n_bins)
    return int(y) + 1


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
def _fold_occupancy(
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
):
    """Fold month t's occupancy (served / supply from work: (7, R1, block)) into the
    shortage counts, fixed-point sums, pending histogram (occ_pend: (R1 x T, bins)),
    min/max and the turning-point state run, tm (R1, block), in one pass over the block
    per region. xbuf (block,): scratch for the occupancies."""
    top = occ_pend.shape[1] - 1
    f_top = float(top)
    T = occ_touch.shape[1]
    t_turn = t - sustain + 2
    for r in range(occ_touch.shape[0]):
        n_short = 0
        fsum = 0
        key_lo = _SIGN_OFF
        key_hi = -_SIGN_OFF - 1
        n_near = 0
        for i in range(nb):
            x = _occupancy(
                work[ROW_SERVED, r, i], work[ROW_SUPPLY, r, i], work[ROW_REQUESTED, r, i]
            )
            xbuf[i] = x
            fsum += np.int64(x * FIXED_POINT_SCALE + 0.5)
            short = np.int64(x >= threshold)
            n_short += short
            rn = (run[r, i] + 1) * short
            run[r, i] = rn
            tm_i = tm[r, i]
            tm[r, i] = t_turn if (tm_i == 0) & (rn >= sustain) else tm_i
            # floor(1000 x) is the bin unless 1000 x is within 1e-9 of an integer (rounding
            # moves it by < 3e-13): those few take the exact edge comparison below. Clamped
            # into [0, top] first (NaN to 0) by selects, which vectorize, so int() is defined
            y = x * OCC_BINS_PER_UNIT
            y = y if y >= 0.0 else 0.0
            y = y if y <= f_top else f_top
            k = int(y)
            frac = y - k
            n_near += np.int64((frac < _NEAR_EDGE) | (frac > 1.0 - _NEAR_EDGE))
            kbuf[i] = k
            key = _order_key(x)
            key_lo = min(key_lo, key)
            key_hi = max(key_hi, key)
        shortage[r, t] += n_short
        occ_fixed[r, t] += fsum
        if n_near > 0:
            for i in range(nb):
                x = xbuf[i]
                y = x * OCC_BINS_PER_UNIT
                y = y if y >= 0.0 else 0.0
                y = y if y <= f_top else f_top
                k = int(y)
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
def _fold_mw(work, t, nb, lo, inv_width, mw_pend, mw_touch, vmin, vmax, kbuf):
    """Fold month t's served demand, supply and unmet demand (rows 2, 0 and 3 of work:
    (7, R1, block)) into the pending histograms (mw_pend: (3 x R1 x T, bins)) and the
    min/max."""
    n_mw = mw_pend.shape[1] - 2
    R1 = mw_touch.shape[1]
    T = mw_touch.shape[2]
    for v in range(3):
        for r in range(R1):
            w = ROW_SERVED if v == 0 else (ROW_SUPPLY if v == 1 else ROW_UNMET)
            base = lo[v, r, t]
            iw = inv_width[v, r, t]
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
            _count_bins(mw_pend, (v * R1 + r) * T + t, kbuf, nb, k_lo, k_hi)
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
def flush_pending(occ_pend, occ_touch, occ_hist, mw_pend, mw_touch, mw_hist):
    """Add both pending histograms to the int64 ones and zero them (touch: (..., 2), each
    cell's touched bin range, reset to empty)."""
    n_occ = occ_pend.shape[0] * occ_pend.shape[1]
    n_mw = mw_pend.shape[0] * mw_pend.shape[1] * mw_pend.shape[2]
    _flush(
        occ_pend.reshape((n_occ, -1)), occ_touch.reshape((n_occ, 2)), occ_hist.reshape((n_occ, -1))
    )
    _flush(mw_pend.reshape((n_mw, -1)), mw_touch.reshape((n_mw, 2)), mw_hist.reshape((n_mw, -1)))


@jit
def simulate_paths(
    m,
    group_seed_keys,
    path0,
    n,
    point,
    block,
    lo,
    inv_width,
    shortage,
    turning,
    occ_fixed,
    occ_hist,
    mw_hist,
    vmin,
    vmax,
    occ_pend,
    mw_pend,
    occ_touch,
    mw_touch,
    pending_paths,
    flush,
    keep,
    kept_vals,
    kept_turn,
):
    """Simulate paths ``path0 .. path0 + n - 1`` and add them to the accumulators.

    group_seed_keys: (G,) uint64, one seed key per input group (all equal in a plain run).
    occ_pend, mw_pend: uint16 counts not yet in occ_hist and mw_hist (same shapes), for
    pending_paths[0] paths; occ_touch (R1, T, 2) and mw_touch (3, R1, T, 2) their touched
    bin ranges. Pending counts are flushed before they could overflow and, when ``flush``,
    on return (a run flushes once at its end: a flush costs about as much as 200 paths).
    When ``keep``, per-path values go to kept_vals[(path - path0), var,
    region, month] and turning months to kept_turn[(path - path0), region].
    """
    R = m.n_regions
    T = m.n_months
    K = m.n_years
    B = m.market_loading.shape[0]
    J = m.proj_capacity_mw.shape[0]
    R1 = R + 1
    scale = np.empty((B, K, block))
    delivery = np.empty((J, block), dtype=np.int64)
    year_req = np.empty((m.profiles.shape[0], R, K, block))
    add = np.empty((R, T, block))
    work = np.empty((7, R1, block))
    xbuf = np.empty(block)
    occ_pend2 = occ_pend.reshape((R1 * T, -1))
    mw_pend2 = mw_pend.reshape((3 * R1 * T, -1))
    run = np.empty((R1, block), dtype=np.int64)
    tm = np.empty((R1, block), dtype=np.int64)
    kbuf = np.empty(block, dtype=np.uint32)  # bins: unsigned indices need no wraparound
    pending = pending_paths[0]
    for b0 in range(0, n, block):
        nb = min(block, n - b0)
        if pending + nb > PENDING_MAX_PATHS:
            flush_pending(occ_pend, occ_touch, occ_hist, mw_pend, mw_touch, mw_hist)
            pending = 0
        if point:
            nominal_block(m, nb, scale, delivery)
        else:
            sample_block(m, group_seed_keys, path0 + b0, nb, scale, delivery)
        _year_requests(
            m.increments_year_mw,
            m.inc_row_buyer,
            m.inc_row_region,
            m.profile_group,
            scale,
            nb,
            year_req,
        )
        _additions(m.proj_region, m.proj_capacity_mw, delivery, nb, add)
        for r in range(R1):
            start = 1 if m.in_shortage_at_base[r] else 0
            for i in range(nb):
                run[r, i] = 0
                tm[r, i] = start
        for t in range(T):
            _serve_month(
                m.supply_stock_mw,
                m.demand_stock_mw,
                m.max_occupancy,
                m.spillover,
                m.has_spillover,
                year_req,
                m.profiles,
                m.month_year,
                m.month_of_year,
                add,
                t,
                nb,
                work,
            )
            _national(work, nb)
            _fold_occupancy(
                work,
                t,
                nb,
                m.threshold,
                m.sustain,
                shortage,
                occ_fixed,
                occ_pend2,
                occ_touch,
                vmin,
                vmax,
                run,
                tm,
                kbuf,
                xbuf,
            )
            _fold_mw(work, t, nb, lo, inv_width, mw_pend2, mw_touch, vmin, vmax, kbuf)
            if keep:
                for r in range(R1):
                    for i in range(nb):
                        s = work[ROW_SUPPLY, r, i]
                        d = work[ROW_SERVED, r, i]
                        q = work[ROW_REQUESTED, r, i]
                        kept_vals[b0 + i, VAR_OCCUPANCY, r, t] = _occupancy(d, s, q)
                        kept_vals[b0 + i, VAR_DEMAND, r, t] = d
                        kept_vals[b0 + i, VAR_SUPPLY, r, t] = s
                        kept_vals[b0 + i, VAR_UNMET, r, t] = work[ROW_UNMET, r, i]
        for r in range(R1):
            for i in range(nb):
                tm_i = tm[r, i]
                turning[r, tm_i - 1 if tm_i > 0 else T] += 1
                if keep:
                    kept_turn[b0 + i, r] = tm_i
        pending += nb
    if flush:
        flush_pending(occ_pend, occ_touch, occ_hist, mw_pend, mw_touch, mw_hist)
        pending = 0
    pending_paths[0] = pending
