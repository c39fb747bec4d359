"""Loops over the engine: paired comparison, Sobol sensitivity, precision-targeted runs."""
