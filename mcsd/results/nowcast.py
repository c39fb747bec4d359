"""A nowcast result: the weighted Dataset plus its prior copies, observations and ESS.

The weighted estimates take the usual variable names; ``X_prior`` holds the
unconditioned value of the variables an analyst compares (``PRIOR_VARS``); the
observations are variables on an ``observation`` dimension and the project facts on a
``fact`` dimension, so a plot or report needs nothing but the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from mcsd.dims import PATH
from mcsd.priors.model import Priors
from mcsd.results.variables import VARIABLES, Finals

OBSERVATION = "observation"
FACT = "fact"
PRIOR_VARS = (
    "occupancy",
    "demand",
    "supply",
    "occupancy_mean",
    "p_shortage",
    "p_shortage_year_end",
    "turning_point_cdf",
    "p_no_turning_point",
)
_SE_TEXT = "(weighted: ratio estimator)"


def _month_end(priors: Priors, month: str | None) -> np.datetime64:
    if month is None:
        return np.datetime64("NaT", "ns")
    return np.datetime64(priors.month_ends[priors.month_index(month) - 1], "ns")


def ess_warning(ess: float, floor: float) -> str | None:
    """The warning a result below the ESS floor carries (None above it)."""
    if ess >= floor:
        return None
    return (
        f"effective sample size {ess:.0f} is below {floor:.0f}: the observations leave few "
        "effective paths, so these estimates are noisy; run more paths, give the "
        "measurements a larger sd, or state fewer exact facts"
    )


def with_nowcast(
    ds: xr.Dataset,
    prior: Finals,
    priors: Priors,
    observations: Any,
    *,
    ess: float,
    floor: float,
    scale_bits: int,
    path_weight: np.ndarray | None = None,
) -> xr.Dataset:
    """``ds`` (weighted estimates) with the ``PRIOR_VARS`` of the unweighted ``prior``
    finals as ``X_prior``, the observations (``mcsd.priors.observations.Observations``),
    the ESS attrs and, for keep_paths, ``path_weight`` (path,) normalised weights."""
    ms, facts = observations.measurements, observations.facts
    new: dict[str, tuple] = {}
    for name in PRIOR_VARS:
        v = VARIABLES[name]
        attrs = {"long_name": f"{v.long_name} (prior: before the observations)", "units": v.units}
        new[f"{name}_prior"] = (v.dims, v.finalize(prior), attrs)
    obs_vars = {
        "observation_region": ([m.region for m in ms], object,
                               "observed region (national = sum over regions)"),
        "observation_time": ([_month_end(priors, m.month) for m in ms], "datetime64[ns]",
                             "observed month end"),
        "observation_quantity": ([m.quantity for m in ms], object,
                                 "observed quantity: occupancy | demand_mw | supply_mw"),
        "observation_value": ([m.value for m in ms], np.float64,
                              "observed value (occupancy: 1; demand_mw, supply_mw: MW)"),
        "observation_sd": ([m.sd for m in ms], np.float64,
                           "Gaussian measurement standard deviation (unit of the value)"),
    }  # fmt: skip
    fact_vars = {
        "fact_project": ([f.project for f in facts], object, "project the fact is about"),
        "fact_status": ([f.status for f in facts], object, "opened | not_opened | cancelled"),
        "fact_time": ([_month_end(priors, f.month) for f in facts], "datetime64[ns]",
                      "month of the fact (NaT: cancelled)"),
    }  # fmt: skip
    tables: tuple[tuple[str, dict[str, tuple[list, Any, str]]], ...] = (
        (OBSERVATION, obs_vars),
        (FACT, fact_vars),
    )
    for dim, table in tables:
        for name, (values, dtype, text) in table.items():
            attrs = {"long_name": text}
            if not name.endswith("_time"):
                attrs["units"] = "1"
            new[name] = ((dim,), np.array(values, dtype=dtype), attrs)
    if path_weight is not None:
        new["path_weight"] = (
            (PATH,),
            path_weight,
            {"long_name": "normalised importance weight of the path (sums to 1)", "units": "1"},
        )
    ds = ds.assign({k: xr.Variable(dims, data, attrs) for k, (dims, data, attrs) in new.items()})
    for se_name in [str(v) for v in ds.data_vars if str(v).endswith("_se")]:
        se_text = str(ds[se_name].attrs.get("long_name", "")).replace("(binomial)", _SE_TEXT)
        ds[se_name].attrs["long_name"] = se_text
    ds.attrs.update(
        observations=observations.name,
        observations_sha256=observations.sha256,
        observations_source=observations.source_path,
        effective_sample_size=float(ess),
        ess_floor=float(floor),
        weight_scale_bits=int(scale_bits),
        weighting=(
            "self-normalised importance weights: Gaussian measurement likelihoods; "
            "'opened'/'cancelled' facts pin the hall's draw, 'not_opened' facts are 0/1 "
            "likelihoods"
        ),
    )
    warning = ess_warning(ess, floor)
    if warning is not None:
        ds.attrs["nowcast_warning"] = warning
    return ds
