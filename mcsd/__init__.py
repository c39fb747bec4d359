"""mcsd: Monte Carlo uncertainty engine for compute-centre wholesale capacity in China."""

__version__ = "0.1.0"

from mcsd.cpu import prefer_full_width_vectors  # noqa: E402

prefer_full_width_vectors()  # before anything below imports numba

from mcsd.api import simulate  # noqa: E402
from mcsd.compare import compare  # noqa: E402
from mcsd.priors import PriorsError, load_priors  # noqa: E402
from mcsd.priors_model import Priors  # noqa: E402
from mcsd.results import ResultFileError, read_result, write_netcdf  # noqa: E402
from mcsd.sensitivity import sensitivity  # noqa: E402  (the function shadows the module name)

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
    "write_netcdf",
]


def __getattr__(name: str):
    # Submodules loaded on first use, so `import mcsd` stays fast (no matplotlib).
    if name in ("plot", "study", "reference"):
        import importlib

        return importlib.import_module(f"mcsd.{name}")
    raise AttributeError(f"module 'mcsd' has no attribute {name!r}")
