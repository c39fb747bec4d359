"""Variance-based sensitivity: grouped Sobol indices per input group (pick-freeze).

Input groups (``mcsd.kernels.layout.GROUPS``), each with its own per-path random key:

* ``market``: the common market factor of the buyers' demand multipliers,
* ``buyer``: each buyer's own yearly demand shock,
* ``share``: each buyer's third-party share,
* ``delay``: delivery delays: provider factors, regional factors, on-time and late draws,
* ``cancel``: project cancellations.

Design (Saltelli et al. 2010): run A draws every group from seed sA, run B every group from
seed sB, and for each group g run AB_g is A with group g's seed replaced by sB
(``CompiledRun.build(priors, sA, group_seeds=...)``). With per-path outputs Y:

* first order ``S_g = mean(Y_B (Y_ABg - Y_A)) / V`` (Saltelli 2010),
* total ``ST_g = mean((Y_A - Y_ABg)**2) / 2 / V`` (Jansen),

V the variance of Y over the 2n paths of A and B. Cost: (2 + G) runs of n paths.

Outputs Y, per region (incl. national):

* ``shortage``: 1{occupancy >= threshold} at each year end (December months; the last month
  if the horizon has none),
* ``turning_month``: the turning-point month (1 = first month after the base); paths with no
  turning point by the horizon are *censored* and given T + 1 (one month past the horizon).
  The indices then attribute the variance of this censored month, so they mix "when" with
  "whether by the horizon".

Where Y is constant (V = 0, e.g. a region short on every path, or one path whose A and B
runs agree) there is no variance to attribute: ``sensitivity`` gives indices (and their
bootstrap bounds) of 0.0 there and flags the cell in ``{output}_no_variance``; it never
returns NaN. (``sobol_indices`` itself leaves NaN there.)
95% confidence intervals: percentile bootstrap over paths (the same path indices resampled
in A, B and every AB_g), from the per-path outputs kept for the selected cells only
(n x regions x (years + 1) per run, int8/int16).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from mcsd.dims import GROUP, REGION, YEAR
from mcsd.engine.defaults import DEFAULT_SEED
from mcsd.engine.executor import CHUNK_PATHS, CompiledRun, execute, validate_run
from mcsd.kernels.layout import GROUPS, VAR_OCCUPANCY
from mcsd.priors.loader import PriorsLike, as_priors
from mcsd.priors.model import Priors
from mcsd.results.dataset import region_names, with_region_names
from mcsd.results.io import format_attrs
from mcsd.results.provenance import provenance

GROUP_LABELS = {
    "market": "market factor",
    "buyer": "buyer-specific demand",
    "share": "third-party share",
    "delay": "delivery delays",
    "cancel": "cancellations",
}
SEED_B_OFFSET = 0x5A17E11  # seed of run B = seed + this (mod 2**63)
BOOT_BATCH = 25


def sobol_indices(
    ya: np.ndarray,
    yb: np.ndarray,
    yab: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """First-order and total Sobol indices from pick-freeze samples.

    ya, yb: (n, ...) outputs of runs A and B; yab: (G, n, ...) outputs of A with group g's
    inputs taken from B. ``weights``: optional (W, n) path weights (e.g. bootstrap counts;
    each row summing to n); then every mean is a weighted mean and the results gain a
    leading W axis. Returns (S, ST), each (G, ...) or (W, G, ...):
    ``S_g = mean(YB (YAB_g - YA)) / V``, ``ST_g = mean((YA - YAB_g)**2) / 2 / V``, V the
    variance of the pooled A and B outputs. NaN where V = 0.
    """
    ya = np.asarray(ya, dtype=np.float64)
    yb = np.asarray(yb, dtype=np.float64)
    yab = np.asarray(yab, dtype=np.float64)
    n = ya.shape[0]
    cell_shape = ya.shape[1:]
    g = yab.shape[0]
    a = ya.reshape(n, -1)
    b = yb.reshape(n, -1)
    ab = yab.reshape(g, n, -1)
    cols = [a, b, a * a, b * b]
    cols += [b * (ab[k] - a) for k in range(g)]
    cols += [(a - ab[k]) ** 2 for k in range(g)]
    x = np.concatenate(cols, axis=1)  # (n, (4 + 2G) * m)
    m = a.shape[1]
    if weights is None:
        means = x.mean(axis=0)[None]
    else:
        w = np.asarray(weights, dtype=np.float64)
        means = (w @ x) / w.sum(axis=1, keepdims=True)
    means = means.reshape(means.shape[0], 4 + 2 * g, m)
    mu = 0.5 * (means[:, 0] + means[:, 1])
    var = 0.5 * (means[:, 2] + means[:, 3]) - mu * mu
    with np.errstate(invalid="ignore", divide="ignore"):
        inv = np.where(var > 1e-12, 1.0 / np.where(var > 1e-12, var, 1.0), np.nan)
        s = means[:, 4 : 4 + g] * inv[:, None]
        st = 0.5 * means[:, 4 + g :] * inv[:, None]
    s = s.reshape(s.shape[0], g, *cell_shape)
    st = st.reshape(st.shape[0], g, *cell_shape)
    return (s[0], st[0]) if weights is None else (s, st)


def bootstrap_indices(
    ya: np.ndarray,
    yb: np.ndarray,
    yab: np.ndarray,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Percentile bootstrap over paths: (S_lo, S_hi, ST_lo, ST_hi), each (G, ...)."""
    n = ya.shape[0]
    rng = np.random.default_rng(seed)
    s_all, st_all = [], []
    for start in range(0, n_boot, BOOT_BATCH):
        k = min(BOOT_BATCH, n_boot - start)
        idx = rng.integers(0, n, size=(k, n))
        w = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)
        s, st = sobol_indices(ya, yb, yab, weights=w)
        s_all.append(s)
        st_all.append(st)
    s_b = np.concatenate(s_all)
    st_b = np.concatenate(st_all)
    alpha = 100 * (1 - level) / 2
    with np.errstate(invalid="ignore"):
        q = lambda v: np.nanpercentile(v, [alpha, 100 - alpha], axis=0)  # noqa: E731
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s_lo, s_hi = q(s_b)
            st_lo, st_hi = q(st_b)
    return s_lo, s_hi, st_lo, st_hi


def _year_end_months(priors: Priors) -> tuple[np.ndarray, list[int]]:
    ends = pd.DatetimeIndex(priors.month_ends)
    idx = np.nonzero(ends.month == 12)[0]
    if idx.size == 0:
        idx = np.array([len(ends) - 1])
    return idx, [int(ends[i].year) for i in idx]


def sensitivity(
    priors: PriorsLike,
    n_paths: int = 20_000,
    seed: int = DEFAULT_SEED,
    *,
    groups: Sequence[str] = GROUPS,
    n_boot: int = 200,
    threads: int | None = None,
    seed_b: int | None = None,
) -> xr.Dataset:
    """Grouped first-order and total Sobol indices (module doc) with bootstrap 95% CIs.

    Returns an ``xarray.Dataset`` with coords ``group`` (the groups analysed), ``region``
    (incl. national), ``year`` (year ends) and variables, for output ``shortage`` (dims
    group, region, year) and ``turning_month`` (dims group, region):
    ``{output}_first_order``, ``{output}_total``, their ``_lo``/``_hi`` 95% bootstrap
    bounds, and ``{output}_mean``, ``{output}_variance`` and ``{output}_no_variance``
    (without the group dim). ``{output}_no_variance`` is True where the output is constant
    over the pooled A and B paths (V <= 1e-12, e.g. a region short on every path): the
    indices and their bounds are then 0.0 (no variance to attribute), never NaN. A bound
    whose every bootstrap resample is constant is the point estimate.
    Groups not analysed keep their run-A draws in every run.
    """
    p = as_priors(priors)
    n, sa, nthreads = validate_run(n_paths, seed, threads, priors=p, runs=2 + len(tuple(groups)))
    groups = tuple(groups)
    bad = [x for x in groups if x not in GROUPS]
    if bad or not groups or len(set(groups)) != len(groups):
        raise ValueError(f"groups must be distinct names among {GROUPS}, got {list(groups)}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0, got {n_boot!r}")
    sb = int(seed_b) if seed_b is not None else (sa + SEED_B_OFFSET) % 2**63
    if sb == sa:
        raise ValueError("seed_b must differ from seed")
    G = len(GROUPS)
    runs = [CompiledRun.build(p, sa), CompiledRun.build(p, sb)]
    for g in groups:
        seeds = [sa] * G
        seeds[GROUPS.index(g)] = sb
        runs.append(CompiledRun.build(p, sa, group_seeds=seeds))
    model = runs[0].model
    T = model.n_months
    ye, years = _year_end_months(p)
    threshold = model.threshold

    def short_at_year_ends(v):
        """The kernel's shortage rule on kept paths: occupancy >= threshold (a cell held at
        the cap keeps occupancy exactly max_occupancy: ``mcsd.kernels.fold.fold_occupancy``)."""
        return v[:, VAR_OCCUPANCY][:, :, ye] >= threshold

    def on_chunk(path0, m, vals, turns):
        short = np.stack([short_at_year_ends(v) for v in vals]).astype(np.int8)
        tm = np.stack([np.where(t > 0, t, T + 1) for t in turns]).astype(np.int16)
        return short, tm  # (runs, m, R1, K), (runs, m, R1)

    _, parts = execute(runs, n, nthreads, chunk=CHUNK_PATHS, on_chunk=on_chunk)
    short = np.concatenate([q[0] for q in parts], axis=1)
    turn = np.concatenate([q[1] for q in parts], axis=1)

    coords = {
        GROUP: np.array(groups, dtype=object),
        REGION: np.array(region_names(p), dtype=object),
        YEAR: np.array(years, dtype=np.int64),
    }
    data: dict[str, tuple] = {}
    for name, y, dims in (
        ("shortage", short, (GROUP, REGION, YEAR)),
        ("turning_month", turn, (GROUP, REGION)),
    ):
        ya, yb, yab = y[0], y[1], y[2:]
        s, st = sobol_indices(ya, yb, yab)
        # V = 0 exactly where sobol_indices leaves NaN (the same test on the same V)
        flat = np.isnan(s).all(axis=0) | np.isnan(st).all(axis=0)
        s = np.where(flat, 0.0, s)
        st = np.where(flat, 0.0, st)
        data[f"{name}_first_order"] = (dims, s)
        data[f"{name}_total"] = (dims, st)
        if n_boot > 0:
            bounds = bootstrap_indices(ya, yb, yab, n_boot, seed=sa % 2**32)
            pairs = (("first_order", bounds[:2], s), ("total", bounds[2:], st))
            for key, b, point in pairs:
                for side, v in zip(("lo", "hi"), b, strict=True):
                    data[f"{name}_{key}_{side}"] = (dims, np.where(np.isnan(v), point, v))
        pooled = np.concatenate([ya, yb]).astype(np.float64)
        data[f"{name}_mean"] = (dims[1:], pooled.mean(axis=0))
        data[f"{name}_variance"] = (dims[1:], pooled.var(axis=0))
        data[f"{name}_no_variance"] = (dims[1:], flat)
    ds = with_region_names(xr.Dataset(data, coords=coords), p)
    ds[GROUP].attrs["long_name"] = "input group"
    ds["group_label"] = ("group", np.array([GROUP_LABELS[g] for g in groups], dtype=object))
    ds[YEAR].attrs["long_name"] = "calendar year (output at its last month on the time axis)"
    for name, what in (
        ("shortage", "shortage indicator 1{occupancy >= threshold} at the year end"),
        ("turning_month", "turning-point month (1 = first month after base; censored = T+1)"),
    ):
        ds[f"{name}_first_order"].attrs["long_name"] = f"first-order Sobol index of the {what}"
        ds[f"{name}_total"].attrs["long_name"] = f"total Sobol index of the {what}"
        for k in ("first_order", "total"):
            for end in ("lo", "hi"):
                if f"{name}_{k}_{end}" in ds:
                    ds[f"{name}_{k}_{end}"].attrs["long_name"] = (
                        f"{'lower' if end == 'lo' else 'upper'} bound, 95% percentile bootstrap"
                    )
        ds[f"{name}_mean"].attrs["long_name"] = f"mean of the {what} (runs A and B)"
        ds[f"{name}_variance"].attrs["long_name"] = f"variance of the {what} (runs A and B)"
        ds[f"{name}_no_variance"].attrs["long_name"] = (
            f"True where the {what} is constant over runs A and B (no variance to attribute: "
            "its indices and bounds are 0.0)"
        )
    ds.attrs.update(format_attrs("sensitivity"))
    ds.attrs.update(
        provenance(
            f"mcsd grouped Sobol indices for priors {p.name}",
            p,
            sa,
            n,
            seed_b=sb,
            n_runs=len(runs),
            n_boot=int(n_boot),
            n_months=T,
            estimators="first order: Saltelli et al. 2010, mean(YB (YABg - YA)) / V; "
            "total: Jansen, mean((YA - YABg)^2) / 2 / V; V from the pooled A and B paths",
            censoring="turning_month of a path with no turning point by the horizon = n_months + 1",
        )
    )
    return ds
