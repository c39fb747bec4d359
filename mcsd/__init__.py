"""mcsd: Monte Carlo uncertainty engine for compute-centre wholesale capacity in China."""

__version__ = "0.1.0"
