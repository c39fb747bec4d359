"""Numba kernels: sample a path's inputs, step its monthly stock model, fold it into counts.

Kernels take plain arrays (``ModelArrays``) and preallocated outputs, and know nothing of
TOML, scipy or xarray. All accumulators are integers (counts, fixed-point sums) or min/max,
so merging them is exact and order-free: a run's result does not depend on threads or blocks.

Per-path value layout (``vals``): (variable, region + national, month, path-in-block) with
variables ``VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY, VAR_UNMET``.
"""

from __future__ import annotations

import math

import numpy as np

from mcsd.kernels_random import (
    gamma_integer_shape,
    jit,
    ndtri,
    path_key,
    ppf,
    quantile_of_normal,
    uniform,
)
from mcsd.model_arrays import G_BUYER, G_CANCEL, G_DELAY, G_MARKET, G_SHARE, NO_DIST

VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY, VAR_UNMET = 0, 1, 2, 3
N_VARS = 4
OCC_BINS_PER_UNIT = 1000  # occupancy histogram: bins [k/1000, (k+1)/1000), k = 0..1000
N_OCC_BINS = OCC_BINS_PER_UNIT + 1
FIXED_POINT_SCALE = 4294967296.0  # 2**32: occupancy sums are exact int64 in these units


@jit
def sample_demand_scales(m, gk_market, gk_buyer, gk_share, zm, scale_bk):
    """Fill ``scale_bk`` (B, K) with M[b, k] x share_b / nominal_b for one path."""
    for k in range(m.n_years):
        zm[k] = ndtri(uniform(gk_market, m.h_market[k]))
    for b in range(m.market_loading.shape[0]):
        load = m.market_loading[b]
        own = math.sqrt(1.0 - load * load)
        phi = m.persistence[b]
        innov = math.sqrt(1.0 - phi * phi)
        share = ppf(m.share_code[b], m.share_params[b], uniform(gk_share, m.h_share[b]))
        ratio = share / m.share_nominal[b]
        z = 0.0
        for k in range(m.n_years):
            e = load * zm[k] + own * ndtri(uniform(gk_buyer, m.h_buyer[b, k]))
            z = e if k == 0 else phi * z + innov * e
            scale_bk[b, k] = quantile_of_normal(m.mult_code[b], m.mult_params[b], z) * ratio


@jit
def sample_delivery_months(m, gk_delay, gk_cancel, pf, rf, delivery):
    """Fill ``delivery`` (J,) with each project's delivery month (1-based), 0 if cancelled."""
    for p in range(m.cancel_prob.shape[0]):
        code = m.prov_factor_code[p]
        pf[p] = 1.0
        if code != NO_DIST:
            pf[p] = ppf(code, m.prov_factor_params[p], uniform(gk_delay, m.h_prov_factor[p]))
    for r in range(m.n_regions):
        code = m.region_factor_code[r]
        rf[r] = 1.0
        if code != NO_DIST:
            rf[r] = ppf(code, m.region_factor_params[r], uniform(gk_delay, m.h_region_factor[r]))
    for j in range(m.proj_capacity_mw.shape[0]):
        p = m.proj_provider[j]
        if uniform(gk_cancel, m.h_cancel[j]) < m.cancel_prob[p]:
            delivery[j] = 0
            continue
        shift = 0
        if uniform(gk_delay, m.h_on_time[j]) >= m.p_on_time[p]:
            a = m.late_int_shape[p]
            if a > 0:
                late = gamma_integer_shape(a, m.late_params[p, 3], gk_delay, m.h_late[j], 0)
            else:
                late = ppf(m.late_code[p], m.late_params[p], uniform(gk_delay, m.h_late[j, 0]))
            dev = late * pf[p] * rf[m.proj_region[j]]
            shift = int(math.floor(dev + 0.5))
        delivery[j] = max(1, m.proj_scheduled[j] + shift)


@jit
def nominal_inputs(m, scale_bk, delivery):
    """Point mode: every input at its nominal (median) value."""
    scale_bk[:, :] = 1.0
    for j in range(delivery.shape[0]):
        delivery[j] = max(1, m.proj_scheduled[j])


@jit
def regional_requests(m, scale_bk, inc_req):
    """inc_req (R, T): requested demand increment per region and month on this path."""
    inc_req[:, :] = 0.0
    for b in range(scale_bk.shape[0]):
        for r in range(m.n_regions):
            for t in range(m.n_months):
                inc_req[r, t] += m.increments_month_mw[b, r, t] * scale_bk[b, m.month_year[t]]


@jit
def supply_additions(m, delivery, add):
    """add (R, T): capacity arriving in each region and month (delivery after T is dropped)."""
    add[:, :] = 0.0
    for j in range(delivery.shape[0]):
        d = delivery[j]
        if 1 <= d <= m.n_months:
            add[m.proj_region[j], d - 1] += m.proj_capacity_mw[j]


@jit
def _occupancy(served, supply, requested):
    if supply > 0.0:
        return served / supply
    return 1.0 if requested > 0.0 else 0.0


@jit
def step_stock(m, inc_req, add, work, vals, i):
    """Run one path's monthly stock model; write its values to ``vals[:, :, :, i]``.

    work: (7, R) scratch. Serving: served = min(requested, max_occupancy x supply); a share
    spillover[r, r'] of r's unmet demand moves to r' within r''s room, pro rata.
    """
    R = m.n_regions
    supply, req, served, unmet, room, inflow, accept = (
        work[0],
        work[1],
        work[2],
        work[3],
        work[4],
        work[5],
        work[6],
    )
    for r in range(R):
        supply[r] = m.supply_stock_mw[r]
        req[r] = m.demand_stock_mw[r]
    for t in range(m.n_months):
        for r in range(R):
            supply[r] += add[r, t]
            req[r] += inc_req[r, t]
            cap = m.max_occupancy * supply[r]
            served[r] = min(req[r], cap)
            unmet[r] = req[r] - served[r]
            room[r] = cap - served[r]
        if m.has_spillover:
            for r2 in range(R):
                inflow[r2] = 0.0
            for r in range(R):
                if unmet[r] > 0.0:
                    for r2 in range(R):
                        inflow[r2] += m.spillover[r, r2] * unmet[r]
            for r2 in range(R):
                accept[r2] = min(1.0, room[r2] / inflow[r2]) if inflow[r2] > 0.0 else 0.0
            for r in range(R):
                if unmet[r] > 0.0:
                    out = 0.0
                    for r2 in range(R):
                        moved = m.spillover[r, r2] * unmet[r] * accept[r2]
                        if moved > 0.0:
                            out += moved
                            req[r2] += moved
                            served[r2] += moved
                    req[r] -= out
                    unmet[r] -= out
        tot_s = 0.0
        tot_d = 0.0
        tot_u = 0.0
        tot_req = 0.0
        for r in range(R):
            vals[0, r, t, i] = _occupancy(served[r], supply[r], req[r])
            vals[1, r, t, i] = served[r]
            vals[2, r, t, i] = supply[r]
            vals[3, r, t, i] = unmet[r]
            tot_s += supply[r]
            tot_d += served[r]
            tot_u += unmet[r]
            tot_req += req[r]
        vals[0, R, t, i] = _occupancy(tot_d, tot_s, tot_req)
        vals[1, R, t, i] = tot_d
        vals[2, R, t, i] = tot_s
        vals[3, R, t, i] = tot_u


@jit
def fold_shortage(m, vals, i, shortage, turning, occ_fixed, turn_out):
    """Count shortage months, the turning month and fixed-point occupancy sums of path i.

    turning: (R+1, T+1) counts; column T counts paths with no turning point (censored).
    turn_out[r] gets the 1-based turning month, 0 for none.
    """
    T = m.n_months
    for r in range(m.n_regions + 1):
        tm = 1 if m.in_shortage_at_base[r] else 0
        run = 0
        for t in range(T):
            o = vals[0, r, t, i]
            occ_fixed[r, t] += np.int64(o * FIXED_POINT_SCALE + 0.5)
            if o >= m.threshold:
                shortage[r, t] += 1
                run += 1
            else:
                run = 0
            if tm == 0 and run >= m.sustain:
                tm = t - m.sustain + 2
        turning[r, tm - 1 if tm > 0 else T] += 1
        turn_out[r] = tm


@jit
def fold_histograms(vals, nb, occ_edges, lo, inv_width, occ_hist, mw_hist, vmin, vmax):
    """Fold the first ``nb`` paths of ``vals`` into the fixed-bin histograms and min/max.

    Occupancy bins are exact: bin k holds [occ_edges[k], occ_edges[k+1]). MW bins: 0 is
    below ``lo``, 1..NB are equal-width bins, NB+1 is the overflow.
    """
    R1 = vals.shape[1]
    T = vals.shape[2]
    top = occ_edges.shape[0] - 2
    n_mw = mw_hist.shape[3] - 2
    for r in range(R1):
        for t in range(T):
            lo_v = vmin[0, r, t]
            hi_v = vmax[0, r, t]
            for i in range(nb):
                x = vals[0, r, t, i]
                lo_v = min(lo_v, x)
                hi_v = max(hi_v, x)
                k = int(x * OCC_BINS_PER_UNIT)
                k = max(0, min(k, top))
                if x < occ_edges[k]:
                    k -= 1
                elif x >= occ_edges[k + 1] and k < top:
                    k += 1
                occ_hist[r, t, k] += 1
            vmin[0, r, t] = lo_v
            vmax[0, r, t] = hi_v
    for v in range(3):
        for r in range(R1):
            for t in range(T):
                base = lo[v, r, t]
                iw = inv_width[v, r, t]
                lo_v = vmin[v + 1, r, t]
                hi_v = vmax[v + 1, r, t]
                for i in range(nb):
                    x = vals[v + 1, r, t, i]
                    lo_v = min(lo_v, x)
                    hi_v = max(hi_v, x)
                    if x < base:
                        k = 0
                    else:
                        k = int((x - base) * iw) + 1
                        if k > n_mw:
                            k = n_mw + 1
                    mw_hist[v, r, t, k] += 1
                vmin[v + 1, r, t] = lo_v
                vmax[v + 1, r, t] = hi_v


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
    zm = np.empty(m.n_years)
    scale_bk = np.empty((B, m.n_years))
    pf = np.empty(m.cancel_prob.shape[0])
    rf = np.empty(R)
    delivery = np.empty(J, dtype=np.int64)
    inc_req = np.empty((R, T))
    add = np.empty((R, T))
    work = np.empty((7, R))
    vals = np.empty((4, R + 1, T, block))
    turn_out = np.empty(R + 1, dtype=np.int64)
    for b0 in range(0, n, block):
        nb = min(block, n - b0)
        for i in range(nb):
            path = path0 + b0 + i
            if point:
                nominal_inputs(m, scale_bk, delivery)
            else:
                sample_demand_scales(
                    m,
                    path_key(group_seed_keys[G_MARKET], path),
                    path_key(group_seed_keys[G_BUYER], path),
                    path_key(group_seed_keys[G_SHARE], path),
                    zm,
                    scale_bk,
                )
                sample_delivery_months(
                    m,
                    path_key(group_seed_keys[G_DELAY], path),
                    path_key(group_seed_keys[G_CANCEL], path),
                    pf,
                    rf,
                    delivery,
                )
            regional_requests(m, scale_bk, inc_req)
            supply_additions(m, delivery, add)
            step_stock(m, inc_req, add, work, vals, i)
            fold_shortage(m, vals, i, shortage, turning, occ_fixed, turn_out)
            if keep:
                kept_turn[b0 + i, :] = turn_out
        fold_histograms(vals, nb, occ_edges, lo, inv_width, occ_hist, mw_hist, vmin, vmax)
        if keep:
            for i in range(nb):
                kept_vals[b0 + i] = vals[:, :, :, i]


@jit
def draw_inputs(m, group_seed_keys, path0, n, scale_out, delivery_out, z_out):
    """Sampled inputs of n paths, for tests: scale_bk (n, B, K), delivery (n, J), z (n, K)."""
    B = m.market_loading.shape[0]
    zm = np.empty(m.n_years)
    scale_bk = np.empty((B, m.n_years))
    pf = np.empty(m.cancel_prob.shape[0])
    rf = np.empty(m.n_regions)
    delivery = np.empty(m.proj_capacity_mw.shape[0], dtype=np.int64)
    for i in range(n):
        path = path0 + i
        sample_demand_scales(
            m,
            path_key(group_seed_keys[G_MARKET], path),
            path_key(group_seed_keys[G_BUYER], path),
            path_key(group_seed_keys[G_SHARE], path),
            zm,
            scale_bk,
        )
        sample_delivery_months(
            m,
            path_key(group_seed_keys[G_DELAY], path),
            path_key(group_seed_keys[G_CANCEL], path),
            pf,
            rf,
            delivery,
        )
        scale_out[i] = scale_bk
        delivery_out[i] = delivery
        z_out[i] = zm
