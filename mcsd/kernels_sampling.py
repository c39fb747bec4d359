"""Numba kernels: sample the random inputs of a block of paths.

A path's inputs are its demand scales (buyer x calendar year: the demand multiplier times
the third-party share over its nominal) and its projects' delivery months. Every draw is a
pure function of (group seed key, path index, slot hash) (``kernels_random``), so a path's
inputs do not depend on the block, thread or process that samples it.

Kernels take plain arrays (``ModelArrays``) and know nothing of TOML, scipy or xarray.
"""

from __future__ import annotations

import math

import numpy as np

from mcsd.kernels_random import (
    fast_exp,
    gamma_integer_shape,
    jit,
    normals,
    path_key,
    ppf_row,
    quantile_of_normal_row,
    uniform,
)
from mcsd.model_arrays import G_BUYER, G_CANCEL, G_DELAY, G_MARKET, G_SHARE, NO_DIST


# --------------------------------------------------------------------------------------
@jit
def _demand_scales(
    loading,
    own_loading,
    persistence,
    innovation,
    share_code,
    share_params,
    share_nominal,
    mult_code,
    mult_params,
    h_market,
    h_buyer_flat,
    h_share,
    gk_market,
    gk_buyer,
    gk_share,
    zm,
    zb,
    u_buf,
    scale_bk,
):
    """Fill zm (K,) with the market factor and scale_bk (B, K) with M[b, k] x share / nominal.

    zb (B x K,) gets the buyers' own normals, u_buf (max(B x K, K),) is scratch: the normals
    are drawn in passes (``normals``) before the copula recursion uses them.
    """
    K = zm.shape[0]
    normals(gk_market, h_market, u_buf, zm)
    normals(gk_buyer, h_buyer_flat, u_buf, zb)
    for b in range(loading.shape[0]):
        load = loading[b]
        own = own_loading[b]
        phi = persistence[b]
        innov = innovation[b]
        z = 0.0
        for k in range(K):
            e = load * zm[k] + own * zb[b * K + k]
            z = e if k == 0 else phi * z + innov * e
            zb[b * K + k] = z  # from here on zb holds the copula's z[b, k]
    for b in range(loading.shape[0]):
        share = ppf_row(share_code[b], share_params, b, uniform(gk_share, h_share[b]))
        ratio = share / share_nominal[b]
        code = mult_code[b]
        if code == 1:  # lognorm, the usual multiplier: quantile_of_normal's own formula
            s = mult_params[b, 0]
            loc = mult_params[b, 2]
            scale = mult_params[b, 3]
            for k in range(K):
                scale_bk[b, k] = (loc + scale * fast_exp(s * zb[b * K + k])) * ratio
        else:
            for k in range(K):
                scale_bk[b, k] = quantile_of_normal_row(code, mult_params, b, zb[b * K + k]) * ratio


@jit
def _factors(code, params, hashes, key, u2, out):
    """out[i] = the delay factor of item i (1 when it has none).

    The normals of every item are drawn first (``normals``); lognorm, the usual factor,
    is then ``ppf``'s own formula on them.
    """
    n = out.shape[0]
    normals(key, hashes, u2[0, :n], u2[1, :n])
    for i in range(n):
        c = code[i]
        if c == 1:
            out[i] = params[i, 2] + params[i, 3] * fast_exp(params[i, 0] * u2[1, i])
        elif c == NO_DIST:
            out[i] = 1.0
        else:
            out[i] = ppf_row(c, params, i, u2[0, i])


@jit
def _delivery_months(
    cancel_prob,
    p_on_time,
    late_code,
    late_params,
    late_int_shape,
    prov_factor_code,
    prov_factor_params,
    region_factor_code,
    region_factor_params,
    proj_provider,
    proj_region,
    proj_scheduled,
    h_prov_factor,
    h_region_factor,
    h_cancel,
    h_on_time,
    h_late,
    gk_delay,
    gk_cancel,
    pf,
    rf,
    u2,
    delivery,
):
    """Fill ``delivery`` (J,) with each project's delivery month (1-based), 0 if cancelled.

    u2 (2, max(J, P, R)) scratch: every project's cancellation and on-time uniforms, drawn
    first in a loop that vectorizes, so the branchy loop below only compares.

    pf (P,), rf (R,) get the provider and region delay factors.
    """
    _factors(prov_factor_code, prov_factor_params, h_prov_factor, gk_delay, u2, pf)
    _factors(region_factor_code, region_factor_params, h_region_factor, gk_delay, u2, rf)
    J = delivery.shape[0]
    for j in range(J):
        u2[0, j] = uniform(gk_cancel, h_cancel[j])
        u2[1, j] = uniform(gk_delay, h_on_time[j])
    for j in range(J):
        p = proj_provider[j]
        if u2[0, j] < cancel_prob[p]:
            delivery[j] = 0
            continue
        shift = 0
        if u2[1, j] >= p_on_time[p]:
            a = late_int_shape[p]
            if a > 0:
                late = gamma_integer_shape(a, late_params[p, 3], gk_delay, h_late, j)
            else:
                late = ppf_row(late_code[p], late_params, p, uniform(gk_delay, h_late[j, 0]))
            dev = late * pf[p] * rf[proj_region[j]]
            shift = int(math.floor(dev + 0.5))
        delivery[j] = max(1, proj_scheduled[j] + shift)


@jit
def _sample_paths(m, group_seed_keys, path0, n, zm_out, scale_out, delivery_out):
    """Inputs of paths path0 .. path0+n-1: zm_out (K, n), scale_out (B, K, n), delivery_out
    (J, n); column i is path path0 + i."""
    B = m.market_loading.shape[0]
    K = m.n_years
    J = m.proj_capacity_mw.shape[0]
    P = m.cancel_prob.shape[0]
    R = m.n_regions
    zm = np.empty(K)
    scale_bk = np.empty((B, K))
    h_buyer_flat = m.h_buyer.reshape(-1)
    zb = np.empty(h_buyer_flat.shape[0])
    u_buf = np.empty(max(h_buyer_flat.shape[0], K))
    pf = np.empty(P)
    rf = np.empty(R)
    delivery = np.empty(J, dtype=np.int64)
    u2 = np.empty((2, max(J, P, R)))
    gk_market = group_seed_keys[G_MARKET]
    gk_buyer = group_seed_keys[G_BUYER]
    gk_share = group_seed_keys[G_SHARE]
    gk_delay = group_seed_keys[G_DELAY]
    gk_cancel = group_seed_keys[G_CANCEL]
    for i in range(n):
        path = path0 + i
        _demand_scales(
            m.market_loading,
            m.own_loading,
            m.persistence,
            m.innovation,
            m.share_code,
            m.share_params,
            m.share_nominal,
            m.mult_code,
            m.mult_params,
            m.h_market,
            h_buyer_flat,
            m.h_share,
            path_key(gk_market, path),
            path_key(gk_buyer, path),
            path_key(gk_share, path),
            zm,
            zb,
            u_buf,
            scale_bk,
        )
        _delivery_months(
            m.cancel_prob,
            m.p_on_time,
            m.late_code,
            m.late_params,
            m.late_int_shape,
            m.prov_factor_code,
            m.prov_factor_params,
            m.region_factor_code,
            m.region_factor_params,
            m.proj_provider,
            m.proj_region,
            m.proj_scheduled,
            m.h_prov_factor,
            m.h_region_factor,
            m.h_cancel,
            m.h_on_time,
            m.h_late,
            path_key(gk_delay, path),
            path_key(gk_cancel, path),
            pf,
            rf,
            u2,
            delivery,
        )
        for k in range(K):
            zm_out[k, i] = zm[k]
        for b in range(B):
            for k in range(K):
                scale_out[b, k, i] = scale_bk[b, k]
        for j in range(J):
            delivery_out[j, i] = delivery[j]


@jit
def sample_block(m, group_seed_keys, path0, n, scale_out, delivery_out):
    """Inputs of paths path0 .. path0+n-1 into columns 0..n-1 of scale_out (B, K, block)
    (demand scale: multiplier x share / nominal) and delivery_out (J, block) (delivery
    month, 1-based; 0 when cancelled).

    group_seed_keys: (G,) uint64, one seed key per input group (``model_arrays.GROUPS``).
    """
    _sample_paths(m, group_seed_keys, path0, n, np.empty((m.n_years, n)), scale_out, delivery_out)


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
