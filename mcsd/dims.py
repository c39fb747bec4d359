"""Dimension names of every mcsd result, one place: they mean the same in every Dataset.

``region`` holds the priors' regions in file order, then ``national`` (the sum over
regions); ``time`` month ends; ``year`` calendar years; ``quantile`` probabilities over
paths; ``level`` occupancy levels; ``path`` path indices; ``group`` input groups.
"""

from __future__ import annotations

REGION = "region"
REGION_NAME = "region_name"  # non-index coordinate on region: the priors' display names
TIME = "time"
YEAR = "year"
QUANTILE = "quantile"
LEVEL = "level"
PATH = "path"
GROUP = "group"
NATIONAL = "national"  # the last region coordinate: sums over regions
