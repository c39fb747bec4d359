"""Numba kernels: a range of paths through sampling, the stock model and the fold.

``simulate_paths`` is the one entry point the engine calls: it samples each block's
inputs (``sampling``), steps the stocks month by month (``stock``) and folds every month
into the accumulators' arrays (``fold``), optionally keeping per-path values.
"""

from __future__ import annotations

import numpy as np

from mcsd.kernels.fold import (
    flush_pending,
    fold_mw,
    fold_occupancy,
    fold_short_months,
)
from mcsd.kernels.jit import jit
from mcsd.kernels.layout import (
    MONTH_DECEMBER,
    N_MW_VARS,
    N_WORK_ROWS,
    PENDING_MAX_PATHS,
    ROW_DEFERRED,
    ROW_REQUESTED,
    ROW_SERVED,
    ROW_SUPPLY,
    ROW_UNMET,
    VAR_DEFERRED,
    VAR_DEMAND,
    VAR_OCCUPANCY,
    VAR_SUPPLY,
    VAR_UNMET,
)
from mcsd.kernels.sampling import Inputs, nominal_block, sample_inputs
from mcsd.kernels.stock import (
    additions,
    firm_requests,
    national,
    occupancy,
    serve_month,
    year_requests,
)


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
    counts,
    pend,
    flush,
    keep,
    kept_vals,
    kept_turn,
):
    """Simulate paths ``path0 .. path0 + n - 1`` and add them to the accumulators.

    m: ``ModelArrays``; group_seed_keys: (G,) uint64, one seed key per input group (all
    equal in a plain run); lo, inv_width (N_MW_VARS, R1, T): the MW histogram bins; counts: the
    accumulator's ``Counts``; pend: its ``Pending`` uint16 histogram counts, for
    pend.paths[0] paths. Pending counts are flushed before they could overflow and, when
    ``flush``, on return (a run flushes once at its end: a flush costs about as much as 200
    paths).
    When ``keep``, per-path values go to kept_vals[(path - path0), var,
    region, month] and turning months to kept_turn[(path - path0), region].
    """
    R = m.n_regions
    T = m.n_months
    K = m.n_years
    B = m.market_loading.shape[0]
    J = m.proj_capacity_mw.shape[0]
    R1 = R + 1
    E = m.event_mw.shape[0]
    inputs = Inputs(
        np.empty((B, K, block)),
        np.empty((J, block), dtype=np.int64),
        np.empty((E, block)),
        np.empty((K, 0)),
        np.empty((J, 0), dtype=np.bool_),
        np.empty((B, 0)),
    )
    scale = inputs.scale
    delivery = inputs.delivery
    fb = block if m.has_firm else 0  # firm requests and deferred demand, when any
    firm = np.zeros((R, T, fb))
    deferred = np.zeros((R, T, fb))
    deferred_any = np.zeros((R1, T), dtype=np.int64)  # per block: some path has deferred MW
    firm_any = np.zeros((R, T), dtype=np.int64)  # per block: rows of firm that can be nonzero
    year_end = m.turning_year_end
    sustain = 1 if year_end else m.sustain
    year_req = np.empty((m.profiles.shape[0], R, K, block))
    add = np.empty((R, T, block))
    work = np.empty((N_WORK_ROWS, R1, block))
    work[ROW_DEFERRED, R] = 0.0  # national deferred demand: 0 unless pre-leases sum it
    xbuf = np.empty(block)
    occ_pend2 = pend.occupancy.reshape((R1 * T, -1))
    mw_pend2 = pend.mw.reshape((N_MW_VARS * R1 * T, -1))
    year_short = np.zeros((R1, block), dtype=np.int64)
    run = np.empty((R1, block), dtype=np.int64)
    tm = np.empty((R1, block), dtype=np.int64)
    kbuf = np.empty(block, dtype=np.uint32)  # bins: unsigned indices need no wraparound
    full = np.empty((R1, block), dtype=np.int64)  # cells held at the cap (fold_occupancy)
    pending = pend.paths[0]
    for b0 in range(0, n, block):
        nb = min(block, n - b0)
        if pending + nb > PENDING_MAX_PATHS:
            flush_pending(pend, counts)
            pending = 0
        if point:
            nominal_block(m, nb, inputs)
        else:
            sample_inputs(m, group_seed_keys, path0 + b0, nb, inputs)
        year_requests(
            m.increments_year_mw,
            m.inc_row_buyer,
            m.inc_row_region,
            m.profile_group,
            scale,
            nb,
            year_req,
        )
        additions(m.proj_region, m.proj_capacity_mw, delivery, nb, add)
        if m.has_firm:
            firm_requests(m, delivery, inputs.event_on, nb, firm, deferred, firm_any, deferred_any)
        for r in range(R1):
            start = 1 if m.in_shortage_at_base[r] else 0
            for i in range(nb):
                run[r, i] = 0
                tm[r, i] = start
        for t in range(T):
            serve_month(
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
                m.has_firm,
                firm,
                deferred,
                t,
                nb,
                work,
            )
            national(work, nb, m.has_pre_lease)
            fold_occupancy(
                work,
                t,
                nb,
                m.threshold,
                sustain,
                counts.shortage,
                counts.occupancy_fixed,
                occ_pend2,
                pend.occupancy_touched,
                counts.vmin,
                counts.vmax,
                run,
                tm,
                kbuf,
                xbuf,
                full,
                m.max_occupancy,
                m.has_spillover,
                (not year_end) or m.month_of_year[t] == MONTH_DECEMBER,
            )
            fold_short_months(run, t, nb, m.month_year, year_short, counts.short_months)
            fold_mw(
                work,
                t,
                nb,
                lo,
                inv_width,
                mw_pend2,
                pend.mw_touched,
                counts.vmin,
                counts.vmax,
                kbuf,
                deferred_any,
            )
            if keep:
                for r in range(R1):
                    for i in range(nb):
                        s = work[ROW_SUPPLY, r, i]
                        d = work[ROW_SERVED, r, i]
                        q = work[ROW_REQUESTED, r, i]
                        x = occupancy(d, s, q)
                        x = m.max_occupancy if full[r, i] != 0 else x
                        kept_vals[b0 + i, VAR_OCCUPANCY, r, t] = x
                        kept_vals[b0 + i, VAR_DEMAND, r, t] = d
                        kept_vals[b0 + i, VAR_SUPPLY, r, t] = s
                        kept_vals[b0 + i, VAR_UNMET, r, t] = work[ROW_UNMET, r, i]
                        kept_vals[b0 + i, VAR_DEFERRED, r, t] = work[ROW_DEFERRED, r, i]
        for r in range(R1):
            for i in range(nb):
                tm_i = tm[r, i]
                counts.turning[r, tm_i - 1 if tm_i > 0 else T] += 1
                if keep:
                    kept_turn[b0 + i, r] = tm_i
        pending += nb
    if flush:
        flush_pending(pend, counts)
        pending = 0
    pend.paths[0] = pending
