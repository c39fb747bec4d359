"""mcsd: Monte Carlo uncertainty engine for compute-centre wholesale capacity in China.

The public API is loaded on first use (PEP 562), so importing one submodule, or ``mcsd``
itself, loads only what it needs: ``import mcsd`` imports no numba, dask, matplotlib or
scipy.stats until a name below is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mcsd._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from mcsd.analysis.compare import compare
    from mcsd.analysis.sensitivity import sensitivity
    from mcsd.api import simulate, simulate_to_precision
    from mcsd.priors.loader import PriorsError, load_priors
    from mcsd.priors.model import Priors
    from mcsd.results.frames import to_frames
    from mcsd.results.io import ResultFileError, read_result, write_netcdf

# public name -> the module that defines it
_EXPORTS = {
    "simulate": "mcsd.api",
    "simulate_to_precision": "mcsd.api",
    "compare": "mcsd.analysis.compare",
    "sensitivity": "mcsd.analysis.sensitivity",
    "load_priors": "mcsd.priors.loader",
    "PriorsError": "mcsd.priors.loader",
    "Priors": "mcsd.priors.model",
    "ResultFileError": "mcsd.results.io",
    "read_result": "mcsd.results.io",
    "write_netcdf": "mcsd.results.io",
    "to_frames": "mcsd.results.frames",
}
_SUBMODULES = ("plot", "study", "testing", "dims")

__all__ = [
    "Priors",
    "PriorsError",
    "ResultFileError",
    "__version__",
    "compare",
    "load_priors",
    "read_result",
    "sensitivity",
    "simulate",
    "simulate_to_precision",
    "to_frames",
    "write_netcdf",
]
assert sorted(__all__) == sorted(["__version__", *_EXPORTS])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"mcsd.{name}")
    raise AttributeError(f"module 'mcsd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
