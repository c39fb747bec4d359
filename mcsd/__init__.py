"""mcsd: Monte Carlo uncertainty engine for compute-centre wholesale capacity in China."""

from mcsd.priors import PriorsError, load_priors
from mcsd.priors_model import Priors

__version__ = "0.1.0"

__all__ = ["Priors", "PriorsError", "load_priors", "__version__"]
