"""Numba kernels: sample the random inputs of a block of paths.

A path's inputs are its demand scales (buyer x calendar year: the demand multiplier times
the third-party share over its nominal) and its projects' delivery months. Every draw is a
pure function of (group seed key, path index, slot hash) (``mcsd.kernels.stream``), so a path's
inputs do not depend on the block, thread or process that samples it.

The sampler is block-vectorized: loops run over inputs outside and paths innermost, on
(..., LANES) scratch rows, so LLVM vectorizes the hot transforms (uniforms, the normal
quantile, exp, log). Every lane does the same IEEE operations in the same order as a lone
path would (no fastmath, no FMA contraction, no libm call whose vector and scalar versions
could differ), so a path's numbers do not depend on its position in the block either.
Uniforms are drawn in loops of their own, apart from the transforms that use them: fused,
the loops' long dependency chains filled the out-of-order window and ran ~1.5x slower.

Kernels take plain arrays (``ModelArrays``) and know nothing of TOML, scipy or xarray.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from mcsd.kernels.jit import jit, jit_inline
from mcsd.kernels.layout import (
    DIST_LOGNORM,
    DIST_TRUNCNORM,
    G_BUYER,
    G_CANCEL,
    G_DELAY,
    G_MARKET,
    G_SHARE,
    NO_DIST,
)
from mcsd.kernels.stream import path_key, uniform
from mcsd.kernels.transforms import (
    NDTR_APPROX_ERROR,
    fast_exp,
    fast_log_pos,
    ndtr,
    ndtr_approx,
    ndtri,
    ndtri_row,
    ppf_row,
    quantile_of_normal_row,
    truncnorm_centre_arg,
)

LANES = 128  # paths per pass over the inputs: scratch rows stay in L1/L2
# A delay deviation (months, + 0.5) is clamped to [-MAX_SHIFT, MAX_SHIFT] in float before
# it is floored and cast to int64: any shift that large puts the delivery after any horizon
# (or, early, at month 1, as max(1, ...) does), while floor() and the cast stay exact and
# cannot wrap (an unclamped 1e36 cast to int64 is undefined: INT64_MIN on x86, i.e. month
# 1). NaN (inf x 0) clamps to the late end. Every deviation a horizon can tell apart
# (|shift| < 2**52 months) is left unchanged, so the numbers are those of the unclamped rule.
MAX_SHIFT = 4503599627370496.0  # 2**52
# Shared lateness decides "late" in uniform space (``_late_bounds``): a hall is late iff
# its on-time uniform u exceeds ~Phi((thr - wp Zp - wr Zr) / c), known to within
# NDTR_APPROX_ERROR. Outside a band of LATE_MARGIN around that bound the exact rule
# (wp Zp + wr Zr + c ndtri(u) > thr, float64) agrees: |u - Phi(z*)| > 0.9 LATE_MARGIN puts
# ndtri(u) > 2e-6 from z* (the normal density is < 0.4), which moves c ndtri(u) by more
# than 2e-9 for c >= MIN_OWN_LOADING, while ndtri's and the sum's rounding stay below 1e-13.
# Inside the band (a 2e-6 chance per hall) the exact rule is evaluated: the same bits.
LATE_MARGIN = 1e-6
MIN_OWN_LOADING = 1e-3  # below it (wp**2 + wr**2 near 1) the exact rule runs on every lane
assert NDTR_APPROX_ERROR < 0.1 * LATE_MARGIN


# --------------------------------------------------------------------------------------
@jit
def _uniform_rows(keys, hashes, n, u):
    """u[r, i] = uniform(keys[i], hashes[r]) for i < n: keys (LANES,) uint64 path keys,
    hashes (R,) uint64 slot hashes, u (R, LANES)."""
    for r in range(hashes.shape[0]):
        h = hashes[r]
        for i in range(n):
            u[r, i] = uniform(keys[i], h)


@jit
def _ndtri_rows(u, z, n, idx, t):
    """z[r, i] = ndtri(u[r, i]) for i < n; u, z (R, LANES) C-contiguous, idx (R x LANES,)
    int64 and t (R x LANES,) scratch.

    A full block is done as one flat pass (a central pass, then one tail pass over all
    rows: per-row passes cost ~15% more in loop set-up and short tail loops); the
    columns >= n of a full-width pass must hold valid numbers (the caller's scratch).
    """
    if n == u.shape[1]:
        ndtri_row(u.reshape(-1), z.reshape(-1), u.size, idx, t)
    else:
        for r in range(u.shape[0]):
            ndtri_row(u[r], z[r], n, idx, t)


@jit
def _factor_rows(code, params, u, z, n):
    """z[p, i] = the delay factor of item p (provider or region) on lane i, 1 if none.

    code (P,), params (P, NP); u (P, LANES) the items' uniforms, z (P, LANES) holds
    ndtri(u) on entry.
    """
    for p in range(code.shape[0]):
        c = code[p]
        if c == DIST_LOGNORM:  # the usual factor: ppf_row's own formula, vectorized
            s = params[p, 0]
            loc = params[p, 2]
            scale = params[p, 3]
            for i in range(n):
                z[p, i] = loc + scale * fast_exp(s * z[p, i])
        elif c == NO_DIST:
            for i in range(n):
                z[p, i] = 1.0
        else:
            for i in range(n):
                z[p, i] = ppf_row(c, params, p, u[p, i])


@jit
def _late_bounds(m, zn, n, ub):
    """ub[q, i] = ndtr_approx((thr - wp Zp - wr Zr) / c) for every (provider, region)
    pair q of the halls with shared lateness on lane i: the on-time uniform above which
    its halls are late (to within NDTR_APPROX_ERROR). zn (P + R, LANES): Zp then Zr."""
    P = m.cancel_prob.shape[0]
    for q in range(ub.shape[0]):
        p = m.late_pair_provider[q]
        r = m.late_pair_region[q]
        wp = m.late_provider_loading[p]
        wr = m.late_region_loading[p]
        c = m.late_own_loading[p]
        if (wp == 0.0 and wr == 0.0) or c < MIN_OWN_LOADING:
            continue
        inv_c = 1.0 / c
        thr = m.late_threshold[p]
        for i in range(n):
            a = wp * zn[p, i] + wr * zn[P + r, i]
            ub[q, i] = ndtr_approx((thr - a) * inv_c)


@jit_inline
def _two_sided_truncnorm(code, params, b):
    return code[b] == DIST_TRUNCNORM and params[b, 0] < 0.0 < params[b, 1]


@jit
def _share_on_cycle(m, n, s):
    """Replace the share uniforms of buyers with a market loading rho by
    Phi(rho Zbar + sqrt(1 - rho^2) Eb): Eb = ndtri(u) the buyer's own normal, Zbar the mean
    market factor sum_k Zm[k] / sqrt(K) (s.normal_z[:K], already drawn)."""
    K = m.n_years
    u = s.share_u
    zm = s.normal_z
    zbar = s.w[0]
    own = s.w[1]
    for i in range(n):
        zbar[i] = 0.0
    for k in range(K):
        for i in range(n):
            zbar[i] += zm[k, i]
    for i in range(n):
        zbar[i] *= m.zbar_scale
    for b in range(u.shape[0]):
        rho = m.share_market_loading[b]
        if rho != 0.0:
            ndtri_row(u[b], own, n, s.idx, s.t)
            c = m.share_own_loading[b]
            for i in range(n):
                u[b, i] = ndtr(rho * zbar[i] + c * own[i])


@jit
def _share_ratios(m, keys, n, s, ratio):
    """ratio[b, i] = buyer b's third-party share on lane i over its nominal; keys (LANES,)
    share-group path keys, ratio (B, LANES); s: scratch.

    A two-sided truncnorm (the usual share) is ppf_row's formula split into vectorized
    passes: the ndtri argument of every buyer, one ndtri pass, the sign and scale.
    """
    code = m.share_code
    params = m.share_params
    B = code.shape[0]
    u = s.share_u
    v = s.share_v
    _uniform_rows(keys, m.h_share, n, u)
    if m.has_share_loading:
        _share_on_cycle(m, n, s)
    for b in range(B):
        if _two_sided_truncnorm(code, params, b):
            for i in range(n):
                v[b, i] = truncnorm_centre_arg(params, b, u[b, i])
    _ndtri_rows(v, ratio, n, s.idx, s.t)
    for b in range(B):
        loc = params[b, 2]
        scale = params[b, 3]
        nominal = m.share_nominal[b]
        if _two_sided_truncnorm(code, params, b):
            for i in range(n):
                z = ratio[b, i] if u[b, i] < 0.5 else -ratio[b, i]
                ratio[b, i] = (loc + scale * z) / nominal
        else:
            for i in range(n):
                ratio[b, i] = ppf_row(code[b], params, b, u[b, i]) / nominal


@jit
def _demand_scales(m, pk, n, col0, s, scale_out):
    """Demand scales of n lanes into scale_out[b, k, col0 + i]; the market factor into
    s.z[:K] (K, LANES). pk (G, LANES) path keys; s: scratch."""
    K = m.n_years
    u = s.normal_u
    z = s.normal_z
    # rows 0..K-1: the market's normals; row K + b K + k: buyer b's own normal in year k
    _uniform_rows(pk[G_MARKET], m.h_market, n, u[:K])
    _uniform_rows(pk[G_BUYER], m.h_buyer.reshape(-1), n, u[K:])
    _ndtri_rows(u, z, n, s.idx, s.t)
    ratio = s.ratio
    _share_ratios(m, pk[G_SHARE], n, s, ratio)
    for b in range(m.market_loading.shape[0]):
        load = m.market_loading[b]
        own = m.own_loading[b]
        phi = m.persistence[b]
        innov = m.innovation[b]
        zb = z[K + b * K : K + (b + 1) * K]
        # the Gaussian copula's AR(1): z[b, k] from the buyer's own and the market's normals
        for i in range(n):
            zb[0, i] = load * z[0, i] + own * zb[0, i]
        for k in range(1, K):
            for i in range(n):
                zb[k, i] = phi * zb[k - 1, i] + innov * (load * z[k, i] + own * zb[k, i])
        code = m.mult_code[b]
        if code == DIST_LOGNORM:  # the usual multiplier: quantile_of_normal's own formula
            sh = m.mult_params[b, 0]
            loc = m.mult_params[b, 2]
            scale = m.mult_params[b, 3]
            for k in range(K):
                for i in range(n):
                    q = loc + scale * fast_exp(sh * zb[k, i])
                    scale_out[b, k, col0 + i] = q * ratio[b, i]
        else:
            for k in range(K):
                for i in range(n):
                    q = quantile_of_normal_row(code, m.mult_params, b, zb[k, i])
                    scale_out[b, k, col0 + i] = q * ratio[b, i]


@jit_inline
def _clamped_half_up(dev):
    """dev + 0.5 clamped to [-MAX_SHIFT, MAX_SHIFT] by selects (NaN to MAX_SHIFT), so that
    floor() of it is an exact integer that int64 holds: the shift is floor(dev + 0.5)."""
    y = dev + 0.5
    y = y if y <= MAX_SHIFT else MAX_SHIFT
    return y if y >= -MAX_SHIFT else -MAX_SHIFT


@jit
def _delivery_months(m, pk, n, col0, s, delivery_out, late_out):
    """Delivery month (1-based, 0 if cancelled) of every project on n lanes, into
    delivery_out[j, col0 + i]. pk (G, LANES) path keys; s: scratch.

    Integer-shape gamma delays (the usual ones), -scale log(U1 ... Ua), exact in
    distribution, are computed on every lane and selected: the loops have no branch and
    vectorize, which is faster than drawing only on the late lanes (~40%) one at a time or
    packing them. Other delays are drawn only for late lanes, one at a time.
    """
    kd = pk[G_DELAY]
    kc = pk[G_CANCEL]
    keep_late = late_out.shape[1] > 0
    P = m.cancel_prob.shape[0]
    # rows 0..P-1: the providers' delay factors, rows P..P+R-1: the regions'
    u = s.factor_u
    f = s.factor_z
    _uniform_rows(kd, m.h_prov_factor, n, u[:P])
    _uniform_rows(kd, m.h_region_factor, n, u[P:])
    _ndtri_rows(u, f, n, s.idx, s.t)
    zn = s.factor_n
    if m.has_shared_lateness:  # the factors' normals Zp, Zr, before they become factors
        for p in range(zn.shape[0]):
            for i in range(n):
                zn[p, i] = f[p, i]
        _late_bounds(m, zn, n, s.pair_ub)
    _factor_rows(m.prov_factor_code, m.prov_factor_params, u[:P], f[:P], n)
    _factor_rows(m.region_factor_code, m.region_factor_params, u[P:], f[P:], n)
    pf = f[:P]
    rf = f[P:]
    u_on_time = s.w[0]
    u_cancel = s.w[1]
    late = s.w[2]
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
        wp = m.late_provider_loading[p]
        wr = m.late_region_loading[p]
        on = u_on_time
        if wp != 0.0 or wr != 0.0:
            # late iff wp Zp + wr Zr + c Ej > ndtri(p_on_time), Ej = ndtri(u_on_time): the
            # flags (1 late, 0 on time) replace u_on_time against on_time = 1/2, so the
            # loops below stay as they are
            flags = s.w[3]
            c = m.late_own_loading[p]
            thr = m.late_threshold[p]
            if c >= MIN_OWN_LOADING:  # in uniform space, the exact rule near the bound
                ub = s.pair_ub[m.late_pair[j]]
                n_near = 0
                for i in range(n):
                    u = u_on_time[i]
                    b = ub[i]
                    flags[i] = 1.0 if u > b + LATE_MARGIN else 0.0
                    sure = (u > b + LATE_MARGIN) | (u < b - LATE_MARGIN)
                    n_near += 1 - np.int64(sure)
                if n_near > 0:
                    for i in range(n):
                        u = u_on_time[i]
                        b = ub[i]
                        if not ((u > b + LATE_MARGIN) | (u < b - LATE_MARGIN)):
                            x = wp * zn[p, i] + wr * zn[P + r, i] + c * ndtri(u)
                            flags[i] = 1.0 if x > thr else 0.0
            else:
                ndtri_row(u_on_time, flags, n, s.idx, s.t)
                for i in range(n):
                    x = wp * zn[p, i] + wr * zn[P + r, i] + c * flags[i]
                    flags[i] = 1.0 if x > thr else 0.0
            on = flags
            on_time = 0.5
        if keep_late:
            for i in range(n):
                late_out[j, col0 + i] = on[i] >= on_time
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
            for i in range(n):  # log in its own loop, like the uniforms: ~5% faster
                late[i] = fast_log_pos(late[i])  # U1 ... Ua >= 2**-424
            for i in range(n):
                dev = neg_scale * late[i] * pf[p, i] * rf[r, i]
                shift = np.int64(math.floor(_clamped_half_up(dev)))
                d = max(1, sched + shift if on[i] >= on_time else sched)
                delivery_out[j, col0 + i] = 0 if u_cancel[i] < cancel else d
        else:
            for i in range(n):
                shift = 0
                if on[i] >= on_time:
                    x = ppf_row(m.late_code[p], m.late_params, p, uniform(kd[i], h_late[0]))
                    shift = int(math.floor(_clamped_half_up(x * pf[p, i] * rf[r, i])))
                d = max(1, sched + shift)
                delivery_out[j, col0 + i] = 0 if u_cancel[i] < cancel else d


class _Scratch(NamedTuple):
    """Per-call work arrays of the sampler (rows x LANES)."""

    normal_u: np.ndarray  # (K + B K, LANES) market and buyer uniforms
    normal_z: np.ndarray  # (K + B K, LANES) their normals, then the copula's z
    share_u: np.ndarray  # (B, LANES)
    share_v: np.ndarray  # (B, LANES) ndtri arguments of the shares
    ratio: np.ndarray  # (B, LANES) share / nominal
    factor_u: np.ndarray  # (P + R, LANES) delay-factor uniforms
    factor_z: np.ndarray  # (P + R, LANES) their normals, then the factors
    factor_n: np.ndarray  # (P + R, LANES) the factors' normals (shared lateness)
    pair_ub: np.ndarray  # (Q, LANES) late bounds of the (provider, region) pairs
    w: np.ndarray  # (4, LANES) per-item rows
    idx: np.ndarray  # (rows x LANES,) int64: ndtri tail positions
    t: np.ndarray  # (rows x LANES,) ndtri tail values


@jit
def _new_scratch(m):
    B = m.market_loading.shape[0]
    K = m.n_years
    P = m.cancel_prob.shape[0]
    R = m.n_regions
    rows = max(K + B * K, B, P + R)
    # uniforms start at 1/2: a full-width flat pass reads every column (_ndtri_rows)
    return _Scratch(
        np.full((K + B * K, LANES), 0.5),
        np.empty((K + B * K, LANES)),
        np.full((B, LANES), 0.5),
        np.full((B, LANES), 0.5),
        np.empty((B, LANES)),
        np.full((P + R, LANES), 0.5),
        np.empty((P + R, LANES)),
        np.empty((P + R, LANES)),
        np.empty((m.late_pair_provider.shape[0], LANES)),
        np.empty((4, LANES)),
        np.empty(rows * LANES, dtype=np.int64),
        np.empty(rows * LANES),
    )


@jit
def _events(m, keys, n, col0, s, event_out):
    """event_out[e, col0 + i] = 1.0 when demand event e happens on lane i, else 0.0:
    w Zm[k] + sqrt(1 - w^2) E > ndtri(1 - p), E = ndtri(u) its own normal, Zm[k] the market
    normal of its year (s.normal_z[k]). keys (LANES,) buyer-group path keys."""
    u = s.w[0]
    e_own = s.w[1]
    for e in range(m.event_mw.shape[0]):
        h = m.h_event[e]
        for i in range(n):
            u[i] = uniform(keys[i], h)
        ndtri_row(u, e_own, n, s.idx, s.t)
        w = m.event_loading[e]
        c = m.event_own_loading[e]
        thr = m.event_threshold[e]
        zk = s.normal_z[m.event_year[e]]
        for i in range(n):
            x = w * zk[i] + c * e_own[i]
            event_out[e, col0 + i] = 1.0 if x > thr else 0.0


@jit
def _pin_deliveries(pin_delivery, n, col0, delivery_out):
    """Set the delivery month of every pinned project (pin_delivery (J,) int64: -1 free, 0
    cancelled, d >= 1 opened in month d) on lanes col0 .. col0+n-1. The shared delay
    factors the hall's draw used are left as drawn."""
    for j in range(pin_delivery.shape[0]):
        d = pin_delivery[j]
        if d >= 0:
            for i in range(n):
                delivery_out[j, col0 + i] = d


@jit
def _sample_paths(m, group_seed_keys, path0, n, out):
    """Inputs of paths path0 .. path0+n-1 into columns 0..n-1 of the ``Inputs`` arrays
    ``out``; optional outputs (market factor, late events, share ratios) are skipped when
    they have no columns. Paths go LANES at a time."""
    K = m.n_years
    G = group_seed_keys.shape[0]
    pk = np.empty((G, LANES), dtype=np.uint64)
    s = _new_scratch(m)
    keep_z = out.market_z.shape[1] > 0
    keep_ratio = out.share_ratio.shape[1] > 0
    for c0 in range(0, n, LANES):
        nb = min(LANES, n - c0)
        for g in range(G):
            gk = group_seed_keys[g]
            for i in range(nb):
                pk[g, i] = path_key(gk, path0 + c0 + i)
        _demand_scales(m, pk, nb, c0, s, out.scale)
        _delivery_months(m, pk, nb, c0, s, out.delivery, out.late)
        if m.has_pins:  # observed facts: the hall's own draws are replaced, not weighted
            _pin_deliveries(m.pin_delivery, nb, c0, out.delivery)
        _events(m, pk[G_BUYER], nb, c0, s, out.event_on)
        if keep_z:
            for k in range(K):
                for i in range(nb):
                    out.market_z[k, c0 + i] = s.normal_z[k, i]
        if keep_ratio:
            for b in range(out.share_ratio.shape[0]):
                for i in range(nb):
                    out.share_ratio[b, c0 + i] = s.ratio[b, i]


class Inputs(NamedTuple):
    """A block's sampled inputs (columns = paths in the block)."""

    scale: np.ndarray  # (B, K, block) demand scale: multiplier x share / nominal
    delivery: np.ndarray  # (J, block) int64 delivery month, 1-based; 0 when cancelled
    event_on: np.ndarray  # (E, block) 1.0 when the demand event happens, else 0.0
    market_z: np.ndarray  # (K, block or 0) market normals (tests)
    late: np.ndarray  # (J, block or 0) bool late/on-time events (tests)
    share_ratio: np.ndarray  # (B, block or 0) share / nominal (tests)


def new_inputs(m, block: int, *, diagnostics: bool = False) -> Inputs:
    """Empty ``Inputs`` for blocks of ``block`` paths (diagnostic rows only when asked)."""
    B, K = m.market_loading.shape[0], m.n_years
    J, E = m.proj_capacity_mw.shape[0], m.event_mw.shape[0]
    d = block if diagnostics else 0
    return Inputs(
        np.empty((B, K, block)),
        np.empty((J, block), dtype=np.int64),
        np.empty((E, block)),
        np.empty((K, d)),
        np.empty((J, d), dtype=np.bool_),
        np.empty((B, d)),
    )


@jit
def sample_inputs(m, group_seed_keys, path0, n, out):
    """Inputs of paths path0 .. path0+n-1 into columns 0..n-1 of ``out`` (``Inputs``).

    group_seed_keys: (G,) uint64, one seed key per input group (``mcsd.kernels.layout.GROUPS``).
    """
    _sample_paths(m, group_seed_keys, path0, n, out)


@jit
def sample_block(m, group_seed_keys, path0, n, scale_out, delivery_out):
    """Demand scales (B, K, block) and delivery months (J, block; 0 when cancelled) of
    paths path0 .. path0+n-1 into columns 0..n-1 (the sampler's benchmark entry)."""
    K = m.n_years
    out = Inputs(
        scale_out,
        delivery_out,
        np.empty((m.event_mw.shape[0], scale_out.shape[2])),
        np.empty((K, 0)),
        np.empty((delivery_out.shape[0], 0), dtype=np.bool_),
        np.empty((m.market_loading.shape[0], 0)),
    )
    _sample_paths(m, group_seed_keys, path0, n, out)


@jit
def nominal_block(m, n, out):
    """Point mode: every input at its nominal (median) value, in columns 0..n-1: scales 1,
    scheduled deliveries, the events with p > 0.5."""
    for i in range(n):
        out.scale[:, :, i] = 1.0
        for j in range(out.delivery.shape[0]):
            out.delivery[j, i] = max(1, m.proj_scheduled[j])
        for e in range(out.event_on.shape[0]):
            out.event_on[e, i] = m.event_nominal[e]


@jit
def draw_inputs(m, group_seed_keys, path0, n, scale_out, delivery_out, z_out):
    """Sampled inputs of n paths, for tests: scale (n, B, K), delivery (n, J), market
    factor z (n, K)."""
    sc, de, zm = _draw(m, group_seed_keys, path0, n)[:3]
    for i in range(n):
        z_out[i] = zm[:, i]
        scale_out[i] = sc[:, :, i]
        delivery_out[i] = de[:, i]


@jit
def _draw(m, group_seed_keys, path0, n):
    B, K = m.market_loading.shape[0], m.n_years
    J, E = m.proj_capacity_mw.shape[0], m.event_mw.shape[0]
    out = Inputs(
        np.empty((B, K, n)),
        np.empty((J, n), dtype=np.int64),
        np.empty((E, n)),
        np.empty((K, n)),
        np.empty((J, n), dtype=np.bool_),
        np.empty((B, n)),
    )
    _sample_paths(m, group_seed_keys, path0, n, out)
    return out.scale, out.delivery, out.market_z, out.late, out.share_ratio, out.event_on


def draw_all_inputs(m, group_seed_keys, path0: int, n: int) -> dict[str, np.ndarray]:
    """Every sampled input of n paths, path-major, for tests: ``scale`` (n, B, K),
    ``delivery`` (n, J) int64 (0 = cancelled), ``market_z`` (n, K), ``late`` (n, J) bool,
    ``share_ratio`` (n, B), ``event_on`` (n, E) bool."""
    sc, de, zm, late, ratio, ev = _draw(m, group_seed_keys, path0, n)
    return {
        "scale": np.ascontiguousarray(np.moveaxis(sc, 2, 0)),
        "delivery": np.ascontiguousarray(de.T),
        "market_z": np.ascontiguousarray(zm.T),
        "late": np.ascontiguousarray(late.T),
        "share_ratio": np.ascontiguousarray(ratio.T),
        "event_on": np.ascontiguousarray(ev.T) > 0.5,
    }
