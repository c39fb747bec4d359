"""The engine's defaults and limits, importable without loading the kernels (the CLI's
``--help`` and argument parsing need them before any run)."""

from __future__ import annotations

DEFAULT_SEED = 20250101
DEFAULT_PATHS = 50_000
# Path indices are int64 and occupancy sums are int64 fixed point: stay far from both limits.
MAX_PATHS = 2**40
