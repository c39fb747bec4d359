"""Numba kernels: the monthly regional stock model, a block of paths at a time.

Every per-block array has the path in the block as its last, contiguous axis, so each step
of the model is one loop over the block's paths that LLVM vectorizes (every lane does the
same IEEE operations in the same order as a one-path loop would, so a path's numbers do not
depend on its place in a block).
"""

from __future__ import annotations

from mcsd.kernels.jit import jit, jit_inline
from mcsd.kernels.layout import ROW_DEFERRED, STOCK_ROWS


@jit
def year_requests(inc_year, row_buyer, row_region, profile_group, scale, nb, year_req):
    """year_req (G, R, K, block): requested demand increment per profile group, region,
    calendar year and path (MW), summed over the (buyer, region) rows with increments.

    scale (B, K, block): demand scales. Buyers sharing a profile share the monthly phasing,
    which ``serve_month`` applies.
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
def additions(proj_region, proj_capacity_mw, delivery, nb, add):
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
def firm_requests(m, delivery, event_on, nb, firm, deferred, firm_any, deferred_any):
    """firm (R, T, block): MW requested outside the increments per region, month and path;
    deferred (R, T, block): pre-leased MW waiting for a late hall; deferred_any (R + 1, T)
    int64: 1 where some path of the block has deferred demand (row R: the national sum).
    firm_any (R, T) int64: 1 on the rows of firm that can be nonzero. Both flag arrays
    also say which rows the previous block wrote: only those are zeroed again (firm and
    deferred start as zeros).

    A pre-lease is requested in its hall's delivery month d (nothing when d > T); a
    cancelled hall's (delivery 0) at its scheduled month s; from s up to d - 1 it is
    deferred. A demand event adds its MW in its month on the paths where it happens
    (event_on (E, block) 1.0 or 0.0). Lanes without a request or deferral add +0.0, which
    leaves every sum (of MW >= 0, from +0.0, in hall order) unchanged: the loops need no
    branch, and the deferral loop over months runs across the block's lanes.
    """
    T = firm.shape[1]
    R = firm.shape[0]
    for r in range(R):
        for t in range(T):
            if firm_any[r, t] != 0:
                firm[r, t, :] = 0.0
                firm_any[r, t] = 0
            if deferred_any[r, t] != 0:
                deferred[r, t, :] = 0.0
                deferred_any[r, t] = 0
    deferred_any[R, :] = 0
    for j in range(m.pre_lease_mw.shape[0]):
        x = m.pre_lease_mw[j]
        if x > 0.0:
            r = m.proj_region[j]
            s = m.proj_scheduled[j]
            d_max = 0
            for i in range(nb):
                d = delivery[j, i]
                t = (s if d == 0 else d) - 1  # the request's month (cancelled: scheduled)
                ok = t < T
                t = t if ok else T - 1
                firm[r, t, i] += x if ok else 0.0
                firm_any[r, t] = 1
                d_max = max(d_max, d)
            # deferred from s - 1 while t + 1 < d (and t < T); the latest delivery bounds it
            for t in range(s - 1, min(d_max, T + 1) - 1):
                deferred_any[r, t] = 1
                deferred_any[R, t] = 1
                for i in range(nb):
                    deferred[r, t, i] += x if delivery[j, i] > t + 1 else 0.0
    for e in range(m.event_mw.shape[0]):
        r = m.event_region[e]
        t = m.event_month[e] - 1
        x = m.event_mw[e]
        firm_any[r, t] = 1
        for i in range(nb):
            firm[r, t, i] += x * event_on[e, i]


@jit
def serve_month(
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
    has_firm,
    firm,
    deferred,
    t,
    nb,
    work,
):
    """Advance the block's regional stocks to month t (0-based) and serve demand.

    The month's requested increment is year_req (G, R, K, block) phased by ``profiles``
    (G, 12), plus, when ``has_firm``, the firm requests firm (R, T, block); add (R, T,
    block): capacity arriving; deferred (R, T, block): pre-leased MW waiting (when
    ``has_firm``). work: (8, >= R, block); rows 0-3 hold supply, requested, served and
    unmet demand (MW) after the month, row 7 deferred demand.

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
                work[ROW_DEFERRED, r, i] = 0.0
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
        if has_firm:
            for i in range(nb):
                inc[i] += firm[r, t, i]
                work[ROW_DEFERRED, r, i] = deferred[r, t, i]
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
            # a row of shares summing to 1 + rounding can move a hair more than is unmet:
            # never a negative MW (unchanged, bit for bit, whenever the difference is >= 0)
            v = unm[r, i] - out[i]
            unm[r, i] = v if v > 0.0 else 0.0


@jit
def national(work, nb, deferred=True):
    """work[v, R, :nb] = the national supply, requested, served, unmet and deferred demand
    (rows ``STOCK_ROWS``): the regions' rows 0..R-1 summed in region order. work: (8, R + 1,
    block). ``deferred`` False skips the deferred row (no pre-leases: it stays 0)."""
    R = work.shape[1] - 1
    for v in STOCK_ROWS:
        if v == ROW_DEFERRED and not deferred:
            continue
        for i in range(nb):
            work[v, R, i] = 0.0
        for r in range(R):
            for i in range(nb):
                work[v, R, i] += work[v, r, i]


@jit_inline
def occupancy(served, supply, requested):
    """served / supply; with no supply, 1 if anything is requested (all of it unmet), else
    0."""
    return served / supply if supply > 0.0 else (1.0 if requested > 0.0 else 0.0)
