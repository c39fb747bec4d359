"""Numba kernels: sample a path's inputs, step its monthly stock model, fold it into counts.

Kernels take plain arrays (``ModelArrays``) and preallocated outputs, and know nothing of
TOML, scipy or xarray. All accumulators are integers (counts, fixed-point sums) or min/max,
so merging them is exact and order-free: a run's result does not depend on threads or blocks.

Per-path value layout (``vals``): (path-in-block, variable, region + national, month) with
variables ``VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY, VAR_UNMET``: a path's 4 x (R+1) x T values
are contiguous (the stock step writes them in L1; a (variable, region, month)-major layout put
every write 2 kB apart, in the same few L1 sets, and cost 3x the arithmetic).

Speed notes (why the code looks the way it does):
- The hot kernels take the arrays they use, not the ``ModelArrays`` tuple: a non-inlined call
  with the 40-array tuple passes about 300 machine words on every call.
- A path's values are written to a block buffer; the folding then runs over the block one
  (variable, region, month) cell at a time, so each cell's histogram row stays in cache
  while the block's paths land in it, and the binning loop vectorizes.
"""

from __future__ import annotations

import numpy as np

from mcsd.kernels_random import jit
from mcsd.kernels_sampling import nominal_block, sample_block

VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY, VAR_UNMET = 0, 1, 2, 3
N_VARS = 4
OCC_BINS_PER_UNIT = 1000  # occupancy histogram: bins [k/1000, (k+1)/1000), k = 0..1000
N_OCC_BINS = OCC_BINS_PER_UNIT + 1
# occupancy sums are exact int64 in units of 2**-24: room for 2**63 / 2**24 ~ 5.5e11 paths
# at occupancy 1; each path's occupancy is rounded to 6e-8 (mean error <= 3e-8)
FIXED_POINT_SCALE = 16777216.0


# --------------------------------------------------------------------------------------
# the stock model
# --------------------------------------------------------------------------------------
@jit
def _requests(
    inc_year,
    row_buyer,
    row_region,
    profile_group,
    profiles,
    month_year,
    month_of_year,
    scale_bk,
    year_req,
    inc_req,
):
    """inc_req (R, T): requested demand increment per region and month on this path.

    The year's total per (profile group, region) is summed first over the (buyer, region)
    rows that have increments, then phased over the months: G x R x K + G x R x T
    multiply-adds instead of B x R x T (buyers sharing a profile share the phasing).
    year_req: (G, R, K) scratch.
    """
    year_req[:, :, :] = 0.0
    K = year_req.shape[2]
    for row in range(row_buyer.shape[0]):
        b = row_buyer[row]
        r = row_region[row]
        g = profile_group[b]
        for k in range(K):
            year_req[g, r, k] += inc_year[b, r, k] * scale_bk[b, k]
    inc_req[:, :] = 0.0
    for g in range(year_req.shape[0]):
        for r in range(inc_req.shape[0]):
            for t in range(inc_req.shape[1]):
                inc_req[r, t] += year_req[g, r, month_year[t]] * profiles[g, month_of_year[t]]


@jit
def regional_requests(m, scale_bk, inc_req):
    """inc_req (R, T): requested demand increment per region and month on this path."""
    year_req = np.empty((m.profiles.shape[0], m.n_regions, m.n_years))
    _requests(
        m.increments_year_mw,
        m.inc_row_buyer,
        m.inc_row_region,
        m.profile_group,
        m.profiles,
        m.month_year,
        m.month_of_year,
        scale_bk,
        year_req,
        inc_req,
    )


@jit
def _additions(proj_region, proj_capacity_mw, delivery, add):
    """add (R, T): capacity arriving in each region and month (delivery after T is dropped)."""
    add[:, :] = 0.0
    T = add.shape[1]
    for j in range(delivery.shape[0]):
        d = delivery[j]
        if 1 <= d <= T:
            add[proj_region[j], d - 1] += proj_capacity_mw[j]


@jit
def supply_additions(m, delivery, add):
    """add (R, T): capacity arriving in each region and month (delivery after T is dropped)."""
    _additions(m.proj_region, m.proj_capacity_mw, delivery, add)


@jit
def _occupancy(served, supply, requested):
    if supply > 0.0:
        return served / supply
    return 1.0 if requested > 0.0 else 0.0


@jit
def _step(supply0, demand0, max_occupancy, spillover, has_spillover, inc_req, add, work, vals, i):
    """Run one path's monthly stock model; write its values to ``vals[i]``: (4, R+1, T)
    flattened at the start of the row.

    work: (7, R) scratch. Serving: served = min(requested, max_occupancy x supply); a share
    spillover[r, r'] of r's unmet demand moves to r' within r''s room, pro rata.
    """
    R = supply0.shape[0]
    T = inc_req.shape[1]
    # work rows: 0 supply, 1 requested, 2 served, 3 unmet, 4 room, 5 inflow, 6 acceptance.
    # Work rows and output cells are indexed in place: a row view or a reshape costs two
    # atomic reference-count updates per path.
    R1T = (R + 1) * T
    for r in range(R):
        work[0, r] = supply0[r]
        work[1, r] = demand0[r]
    for t in range(T):
        any_unmet = False
        for r in range(R):
            work[0, r] += add[r, t]
            work[1, r] += inc_req[r, t]
            cap = max_occupancy * work[0, r]
            work[2, r] = min(work[1, r], cap)
            work[3, r] = work[1, r] - work[2, r]
            work[4, r] = cap - work[2, r]
            any_unmet |= work[3, r] > 0.0
        # with no unmet demand anywhere nothing moves: skipping the block is exact
        if has_spillover and any_unmet:
            for r2 in range(R):
                work[5, r2] = 0.0
            for r in range(R):
                if work[3, r] > 0.0:
                    for r2 in range(R):
                        work[5, r2] += spillover[r, r2] * work[3, r]
            for r2 in range(R):
                work[6, r2] = min(1.0, work[4, r2] / work[5, r2]) if work[5, r2] > 0.0 else 0.0
            for r in range(R):
                if work[3, r] > 0.0:
                    out = 0.0
                    for r2 in range(R):
                        moved = spillover[r, r2] * work[3, r] * work[6, r2]
                        if moved > 0.0:
                            out += moved
                            work[1, r2] += moved
                            work[2, r2] += moved
                    work[1, r] -= out
                    work[3, r] -= out
        tot_s = 0.0
        tot_d = 0.0
        tot_u = 0.0
        tot_req = 0.0
        for r in range(R):
            vals[i, r * T + t] = _occupancy(work[2, r], work[0, r], work[1, r])
            vals[i, 1 * R1T + r * T + t] = work[2, r]
            vals[i, 2 * R1T + r * T + t] = work[0, r]
            vals[i, 3 * R1T + r * T + t] = work[3, r]
            tot_s += work[0, r]
            tot_d += work[2, r]
            tot_u += work[3, r]
            tot_req += work[1, r]
        vals[i, R * T + t] = _occupancy(tot_d, tot_s, tot_req)
        vals[i, 1 * R1T + R * T + t] = tot_d
        vals[i, 2 * R1T + R * T + t] = tot_s
        vals[i, 3 * R1T + R * T + t] = tot_u


@jit
def step_stock(m, inc_req, add, work, vals, i):
    """Run one path's monthly stock model; write its values to ``vals[i]`` (4, R+1, T)."""
    _step(
        m.supply_stock_mw,
        m.demand_stock_mw,
        m.max_occupancy,
        m.spillover,
        m.has_spillover,
        inc_req,
        add,
        work,
        vals,
        i,
    )


# --------------------------------------------------------------------------------------
# folding a block of paths into the accumulators
# --------------------------------------------------------------------------------------
@jit
def _fold_block(
    vals,
    nb,
    threshold,
    sustain,
    in_shortage_at_base,
    occ_edges,
    lo,
    inv_width,
    shortage,
    turning,
    occ_fixed,
    occ_hist,
    mw_hist,
    vmin,
    vmax,
    run,
    tm,
    kbuf,
    turn_out,
):
    """Fold the first ``nb`` paths of ``vals`` (block, >= 4 x R1 x T) into every accumulator.

    Cell by cell (variable, region, month), paths innermost: the bin indices, counts and
    sums of a cell vectorize, and its histogram row is hot while the block lands in it. A
    cell whose value is the same on every path of the block (supply before any delivery,
    no unmet demand, occupancy at the cap) takes one increment instead of ``nb``.
    Occupancy bins are exact: bin k holds [occ_edges[k], occ_edges[k+1]). MW bins: 0 is
    below ``lo``, 1..NB are equal-width bins, NB+1 is the overflow.
    run, tm, kbuf: (block,) int64 scratch; turn_out (block, R+1) gets each path's turning
    month (1-based, 0 for none).
    """
    R1 = occ_hist.shape[0]
    T = occ_hist.shape[1]
    top = occ_edges.shape[0] - 2
    n_mw = mw_hist.shape[3] - 2
    for r in range(R1):
        start = 1 if in_shortage_at_base[r] else 0
        for i in range(nb):
            run[i] = 0
            tm[i] = start
        for t in range(T):
            c = r * T + t
            b_lo = np.inf
            b_hi = -np.inf
            n_short = 0
            fsum = 0
            t_turn = t - sustain + 2
            for i in range(nb):
                x = vals[i, c]
                b_lo = min(b_lo, x)
                b_hi = max(b_hi, x)
                fsum += np.int64(x * FIXED_POINT_SCALE + 0.5)
                short = np.int64(x >= threshold)
                n_short += short
                rn = (run[i] + 1) * short
                run[i] = rn
                tm_i = tm[i]
                tm[i] = t_turn if (tm_i == 0) & (rn >= sustain) else tm_i
            shortage[r, t] += n_short
            occ_fixed[r, t] += fsum
            vmin[0, r, t] = min(vmin[0, r, t], b_lo)
            vmax[0, r, t] = max(vmax[0, r, t], b_hi)
            hist = occ_hist[r, t]
            n_bin = nb if b_lo == b_hi else 1
            for i in range(nb // n_bin):
                x = vals[i, c]
                y = x * OCC_BINS_PER_UNIT
                # compare before int(): int() of NaN or inf is undefined
                k = 0 if not y >= 0.0 else (top if y >= top else int(y))
                if k > 0 and x < occ_edges[k]:
                    k -= 1
                elif x >= occ_edges[k + 1] and k < top:
                    k += 1
                hist[k] += n_bin
        for i in range(nb):
            turning[r, tm[i] - 1 if tm[i] > 0 else T] += 1
            turn_out[i, r] = tm[i]
    for v in range(3):
        for r in range(R1):
            for t in range(T):
                c = ((v + 1) * R1 + r) * T + t
                base = lo[v, r, t]
                iw = inv_width[v, r, t]
                b_lo = np.inf
                b_hi = -np.inf
                for i in range(nb):
                    x = vals[i, c]
                    b_lo = min(b_lo, x)
                    b_hi = max(b_hi, x)
                    # compare before converting: int() of inf or NaN is undefined (and would
                    # index out of bounds); NaN goes to the underflow bin, inf to the overflow
                    k = 0
                    if x >= base:
                        y = (x - base) * iw
                        k = n_mw + 1 if y >= n_mw else int(y) + 1
                    kbuf[i] = k
                vmin[v + 1, r, t] = min(vmin[v + 1, r, t], b_lo)
                vmax[v + 1, r, t] = max(vmax[v + 1, r, t], b_hi)
                hist = mw_hist[v, r, t]
                if b_lo == b_hi:
                    hist[kbuf[0]] += nb
                else:
                    for i in range(nb):
                        hist[kbuf[i]] += 1


@jit
def simulate_paths(
    m,
    group_seed_keys,
    path0,
    n,
    point,
    block,
    occ_edges,
    lo,
    inv_width,
    shortage,
    turning,
    occ_fixed,
    occ_hist,
    mw_hist,
    vmin,
    vmax,
    keep,
    kept_vals,
    kept_turn,
):
    """Simulate paths ``path0 .. path0 + n - 1`` and add them to the accumulators.

    group_seed_keys: (G,) uint64, one seed key per input group (all equal in a plain run).
    When ``keep``, per-path values go to kept_vals[(path - path0), var, region, month] and
    turning months to kept_turn[(path - path0), region].
    """
    R = m.n_regions
    T = m.n_months
    B = m.market_loading.shape[0]
    J = m.proj_capacity_mw.shape[0]
    scale_bk = np.empty((B, m.n_years))
    delivery = np.empty(J, dtype=np.int64)
    inc_req = np.empty((R, T))
    year_req = np.empty((m.profiles.shape[0], R, m.n_years))
    add = np.empty((R, T))
    work = np.empty((7, R))
    # per path: 4 x (R+1) x T values, padded to an odd number of cache lines so that the
    # fold's strided reads (one path after another) spread over all L1 sets
    n_cells = 4 * (R + 1) * T
    lines = (n_cells + 7) // 8
    vals = np.empty((block, (lines + 1 - lines % 2) * 8))
    run = np.empty(block, dtype=np.int64)
    tm = np.empty(block, dtype=np.int64)
    kbuf = np.empty(block, dtype=np.int64)
    turn_out = np.empty((block, R + 1), dtype=np.int64)
    scale_blk = np.empty((B, m.n_years, block))
    delivery_blk = np.empty((J, block), dtype=np.int64)
    for b0 in range(0, n, block):
        nb = min(block, n - b0)
        if point:
            nominal_block(m, nb, scale_blk, delivery_blk)
        else:
            sample_block(m, group_seed_keys, path0 + b0, nb, scale_blk, delivery_blk)
        for i in range(nb):
            for b in range(B):
                for k in range(m.n_years):
                    scale_bk[b, k] = scale_blk[b, k, i]
            for j in range(J):
                delivery[j] = delivery_blk[j, i]
            _requests(
                m.increments_year_mw,
                m.inc_row_buyer,
                m.inc_row_region,
                m.profile_group,
                m.profiles,
                m.month_year,
                m.month_of_year,
                scale_bk,
                year_req,
                inc_req,
            )
            _additions(m.proj_region, m.proj_capacity_mw, delivery, add)
            _step(
                m.supply_stock_mw,
                m.demand_stock_mw,
                m.max_occupancy,
                m.spillover,
                m.has_spillover,
                inc_req,
                add,
                work,
                vals,
                i,
            )
        _fold_block(
            vals,
            nb,
            m.threshold,
            m.sustain,
            m.in_shortage_at_base,
            occ_edges,
            lo,
            inv_width,
            shortage,
            turning,
            occ_fixed,
            occ_hist,
            mw_hist,
            vmin,
            vmax,
            run,
            tm,
            kbuf,
            turn_out,
        )
        if keep:
            for i in range(nb):
                kept_vals[b0 + i] = vals[i, :n_cells].reshape((4, R + 1, T))
                kept_turn[b0 + i, :] = turn_out[i]
