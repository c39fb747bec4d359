"""Numba kernels: sample the random inputs of a block of paths.

A path's inputs are its demand scales (buyer x calendar year: the demand multiplier times
the third-party share over its nominal) and its projects' delivery months. Every draw is a
pure function of (group seed key, path index, slot hash) (``kernels_random``), so a path's
inputs do not depend on the block, thread or process that samples it.

The sampler is block-vectorized: loops run over inputs outside and paths innermost, on
(..., LANES) scratch rows, so LLVM vectorizes the hot transforms (uniforms, the normal
quantile, exp, log). Every lane does the same IEEE operations in the same order as a lone
path would (no fastmath, no FMA contraction, no libm call whose vector and scalar versions
could differ), so a path's numbers do not depend on its position in the block either.

Kernels take plain arrays (``ModelArrays``) and know nothing of TOML, scipy or xarray.
"""

from __future__ import annotations

import math

import numpy as np

from mcsd.kernels_random import (
    fast_exp,
    fast_log,
    jit,
    ndtri_central,
    ndtri_row,
    ndtri_tails,
    path_key,
    ppf_row,
    quantile_of_normal_row,
    truncnorm_centre_arg,
    uniform,
)
from mcsd.model_arrays import G_BUYER, G_CANCEL, G_DELAY, G_MARKET, G_SHARE, NO_DIST

LANES = 128  # paths per pass over the inputs: scratch rows stay in L1/L2
_LOGNORM = 1
_TRUNCNORM = 6


# --------------------------------------------------------------------------------------
@jit
def _normal_row(keys, h, n, w, idx, z):
    """z[i] = ndtri(uniform(keys[i], h)) for i < n: keys (LANES,) uint64 path keys, h the
    slot hash; w (2, LANES) gets the uniforms in w[0], idx (LANES,) int64 is scratch.
    Central formula on every lane (vectorized), then the tail lanes (``ndtri_tails``)."""
    u = w[0]
    for i in range(n):
        u[i] = uniform(keys[i], h)
    # a separate loop: fused with the uniforms it ran 1.5x slower (the loop body's long
    # dependency chains fill the out-of-order window)
    for i in range(n):
        z[i] = ndtri_central(u[i])
    ndtri_tails(z, n, u, idx, w[1])


@jit
def _factor_rows(code, params, hashes, keys, n, w, idx, out):
    """out[p, i] = the delay factor of item p (provider or region) on lane i, 1 if none.

    code (P,), params (P, NP), hashes (P,) uint64, keys (LANES,) delay-group path keys,
    w (2, LANES) and idx (LANES,) scratch, out (P, LANES).
    """
    for p in range(code.shape[0]):
        c = code[p]
        row = out[p]
        if c == _LOGNORM:  # the usual factor: ppf_row's own formula, vectorized
            _normal_row(keys, hashes[p], n, w, idx, row)
            s = params[p, 0]
            loc = params[p, 2]
            scale = params[p, 3]
            for i in range(n):
                row[i] = loc + scale * fast_exp(s * row[i])
        elif c == NO_DIST:
            for i in range(n):
                row[i] = 1.0
        else:
            for i in range(n):
                row[i] = ppf_row(c, params, p, uniform(keys[i], hashes[p]))


@jit
def _share_ratio_row(code, params, nominal, b, h, keys, n, w, idx, ratio):
    """ratio[i] = buyer b's third-party share on lane i over its nominal; w (3, LANES) and
    idx (LANES,) scratch.

    A two-sided truncnorm (the usual share) is ppf_row's formula split into vectorized passes.
    """
    c = code[b]
    loc = params[b, 2]
    scale = params[b, 3]
    if c == _TRUNCNORM and params[b, 0] < 0.0 < params[b, 1]:
        u = w[0]
        v = w[2]
        for i in range(n):
            ui = uniform(keys[i], h)
            u[i] = ui
            v[i] = truncnorm_centre_arg(params, b, ui)
        ndtri_row(v, ratio, n, idx, w[1])
        for i in range(n):
            z = ratio[i] if u[i] < 0.5 else -ratio[i]
            ratio[i] = (loc + scale * z) / nominal[b]
    else:
        for i in range(n):
            ratio[i] = ppf_row(c, params, b, uniform(keys[i], h)) / nominal[b]


@jit
def _demand_scales(m, pk, n, col0, zm, z, w, idx, scale_out):
    """Market factor zm (K, LANES) and demand scales scale_out[b, k, col0 + i] of n lanes.

    pk (G, LANES) path keys; z (B, K, LANES), w (4, LANES) and idx (LANES,) scratch.
    """
    K = m.n_years
    for k in range(K):
        _normal_row(pk[G_MARKET], m.h_market[k], n, w, idx, zm[k])
    for b in range(m.market_loading.shape[0]):
        load = m.market_loading[b]
        own = m.own_loading[b]
        phi = m.persistence[b]
        innov = m.innovation[b]
        zb = z[b]
        for k in range(K):
            _normal_row(pk[G_BUYER], m.h_buyer[b, k], n, w, idx, zb[k])
        # the Gaussian copula's AR(1): z[b, k] from the buyer's own and the market's normals
        for i in range(n):
            zb[0, i] = load * zm[0, i] + own * zb[0, i]
        for k in range(1, K):
            for i in range(n):
                zb[k, i] = phi * zb[k - 1, i] + innov * (load * zm[k, i] + own * zb[k, i])
        ratio = w[3]
        _share_ratio_row(
            m.share_code,
            m.share_params,
            m.share_nominal,
            b,
            m.h_share[b],
            pk[G_SHARE],
            n,
            w,
            idx,
            ratio,
        )
        code = m.mult_code[b]
        if code == _LOGNORM:  # the usual multiplier: quantile_of_normal's own formula
            s = m.mult_params[b, 0]
            loc = m.mult_params[b, 2]
            scale = m.mult_params[b, 3]
            for k in range(K):
                for i in range(n):
                    scale_out[b, k, col0 + i] = (loc + scale * fast_exp(s * zb[k, i])) * ratio[i]
        else:
            for k in range(K):
                for i in range(n):
                    q = quantile_of_normal_row(code, m.mult_params, b, zb[k, i])
                    scale_out[b, k, col0 + i] = q * ratio[i]


@jit
def _delivery_months(m, pk, n, col0, pf, rf, w, idx, delivery_out):
    """Delivery month (1-based, 0 if cancelled) of every project on n lanes, into
    delivery_out[j, col0 + i]. pk (G, LANES) path keys; pf (P, LANES), rf (R, LANES),
    w (3, LANES) and idx (LANES,) int64 scratch.

    Integer-shape gamma delays (the usual ones), -scale log(U1 ... Ua), exact in
    distribution, are computed on every lane and selected: the loops have no branch and
    vectorize, which is faster than drawing only on the late lanes (~40%) one at a time or
    packing them. Other delays are drawn only for late lanes, one at a time.
    """
    kd = pk[G_DELAY]
    kc = pk[G_CANCEL]
    _factor_rows(m.prov_factor_code, m.prov_factor_params, m.h_prov_factor, kd, n, w, idx, pf)
    _factor_rows(m.region_factor_code, m.region_factor_params, m.h_region_factor, kd, n, w, idx, rf)
    u_on_time = w[0]
    u_cancel = w[1]
    late = w[2]
    for j in range(m.proj_provider.shape[0]):
        p = m.proj_provider[j]
        r = m.proj_region[j]
        cancel = m.cancel_prob[p]
        on_time = m.p_on_time[p]
        sched = m.proj_scheduled[j]
        h_cancel = m.h_cancel[j]
        h_on_time = m.h_on_time[j]
        h_late = m.h_late[j]
        for i in range(n):
            u_on_time[i] = uniform(kd[i], h_on_time)
            u_cancel[i] = uniform(kc[i], h_cancel)
        a = m.late_int_shape[p]
        if a > 0:
            neg_scale = -m.late_params[p, 3]
            if a >= 2:  # the usual shape: U1 U2 in one pass (the same product as 1.0 U1 U2)
                for i in range(n):
                    late[i] = uniform(kd[i], h_late[0]) * uniform(kd[i], h_late[1])
            else:
                for i in range(n):
                    late[i] = uniform(kd[i], h_late[0])
            for t in range(2, a):
                for i in range(n):
                    late[i] *= uniform(kd[i], h_late[t])
            for i in range(n):  # log in its own loop: ~5% faster than fused (see _normal_row)
                late[i] = fast_log(late[i])
            for i in range(n):
                dev = neg_scale * late[i] * pf[p, i] * rf[r, i]
                shift = np.int64(math.floor(dev + 0.5))
                d = max(1, sched + shift if u_on_time[i] >= on_time else sched)
                delivery_out[j, col0 + i] = 0 if u_cancel[i] < cancel else d
        else:
            for i in range(n):
                shift = 0
                if u_on_time[i] >= on_time:
                    x = ppf_row(m.late_code[p], m.late_params, p, uniform(kd[i], h_late[0]))
                    shift = int(math.floor(x * pf[p, i] * rf[r, i] + 0.5))
                d = max(1, sched + shift)
                delivery_out[j, col0 + i] = 0 if u_cancel[i] < cancel else d


@jit
def _sample_paths(m, group_seed_keys, path0, n, zm_out, scale_out, delivery_out):
    """Inputs of paths path0 .. path0+n-1 into columns 0..n-1 of scale_out (B, K, >= n)
    and delivery_out (J, >= n); the market factor into zm_out (K, >= n) unless it has no
    columns. Paths go LANES at a time."""
    B = m.market_loading.shape[0]
    K = m.n_years
    G = group_seed_keys.shape[0]
    pk = np.empty((G, LANES), dtype=np.uint64)
    zm = np.empty((K, LANES))
    z = np.empty((B, K, LANES))
    w = np.empty((4, LANES))
    idx = np.empty(LANES, dtype=np.int64)
    pf = np.empty((m.cancel_prob.shape[0], LANES))
    rf = np.empty((m.n_regions, LANES))
    keep_z = zm_out.shape[1] > 0
    for c0 in range(0, n, LANES):
        nb = min(LANES, n - c0)
        for g in range(G):
            gk = group_seed_keys[g]
            for i in range(nb):
                pk[g, i] = path_key(gk, path0 + c0 + i)
        _demand_scales(m, pk, nb, c0, zm, z, w, idx, scale_out)
        _delivery_months(m, pk, nb, c0, pf, rf, w, idx, delivery_out)
        if keep_z:
            for k in range(K):
                for i in range(nb):
                    zm_out[k, c0 + i] = zm[k, i]


@jit
def sample_block(m, group_seed_keys, path0, n, scale_out, delivery_out):
    """Inputs of paths path0 .. path0+n-1 into columns 0..n-1 of scale_out (B, K, block)
    (demand scale: multiplier x share / nominal) and delivery_out (J, block) (delivery
    month, 1-based; 0 when cancelled).

    group_seed_keys: (G,) uint64, one seed key per input group (``model_arrays.GROUPS``).
    """
    _sample_paths(m, group_seed_keys, path0, n, np.empty((m.n_years, 0)), scale_out, delivery_out)


@jit
def nominal_block(m, n, scale_out, delivery_out):
    """Point mode: every input at its nominal (median) value, in columns 0..n-1."""
    for i in range(n):
        scale_out[:, :, i] = 1.0
        for j in range(delivery_out.shape[0]):
            delivery_out[j, i] = max(1, m.proj_scheduled[j])


@jit
def draw_inputs(m, group_seed_keys, path0, n, scale_out, delivery_out, z_out):
    """Sampled inputs of n paths, for tests: scale (n, B, K), delivery (n, J), market
    factor z (n, K)."""
    zm = np.empty((m.n_years, n))
    sc = np.empty((m.market_loading.shape[0], m.n_years, n))
    de = np.empty((m.proj_capacity_mw.shape[0], n), dtype=np.int64)
    _sample_paths(m, group_seed_keys, path0, n, zm, sc, de)
    for i in range(n):
        z_out[i] = zm[:, i]
        scale_out[i] = sc[:, :, i]
        delivery_out[i] = de[:, i]
