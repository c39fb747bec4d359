"""Named layout constants shared by the kernels and the code that builds their arrays.

Plain integers and floats, no imports: the priors' distribution registry, the engine's
array builder and the results' accumulators read them without loading numba.
"""

from __future__ import annotations

# Distribution codes (``mcsd.priors.distributions`` maps each family name to one).
DIST_NORM = 0
DIST_LOGNORM = 1
DIST_GAMMA = 2
DIST_BETA = 3
DIST_UNIFORM = 4
DIST_TRIANG = 5
DIST_TRUNCNORM = 6
DIST_EXPON = 7
DIST_WEIBULL_MIN = 8
NO_DIST = -1  # an absent optional distribution (e.g. no delay factor): the value is 1

# Parameter vector of a distribution: [shape0, shape1, loc, scale, derived0..2, unused].
N_PARAMS = 8
PARAM_SHAPE0, PARAM_SHAPE1, PARAM_LOC, PARAM_SCALE, PARAM_DERIVED = 0, 1, 2, 3, 4

# Input groups: each has its own per-path key, so a group's draws can be swapped between
# runs (pick-freeze sensitivity) without touching the others.
GROUPS = ("market", "buyer", "share", "delay", "cancel")
G_MARKET, G_BUYER, G_SHARE, G_DELAY, G_CANCEL = range(len(GROUPS))
MAX_FAST_GAMMA_SHAPE = 8  # integer gamma shapes up to this use -log(U1...Ua)

# Per-path variables (``keep`` arrays and the min/max accumulators), in this order.
VAR_OCCUPANCY, VAR_DEMAND, VAR_SUPPLY, VAR_UNMET, VAR_DEFERRED = 0, 1, 2, 3, 4
N_VARS = 5
N_MW_VARS = 4  # MW histogram rows: demand, supply, unmet, deferred (VAR_* - 1)
# Rows of the per-block stock buffer ``work`` (8, R + 1, block); row R is the national sum.
# Rows 0-3 and 7 are the month's stocks; 4-6 are ``serve_month``'s scratch, of which 5 and 6
# keep its spillover inflow and acceptance for ``fold.fold_occupancy`` (the cap flags).
ROW_SUPPLY, ROW_REQUESTED, ROW_SERVED, ROW_UNMET = 0, 1, 2, 3
ROW_ROOM, ROW_INFLOW, ROW_ACCEPT, ROW_DEFERRED = 4, 5, 6, 7
N_WORK_ROWS = 8
STOCK_ROWS = (ROW_SUPPLY, ROW_REQUESTED, ROW_SERVED, ROW_UNMET, ROW_DEFERRED)  # national sums
MONTH_DECEMBER = 11  # month_of_year of December (0 = January): the year-end turning rule

OCC_BINS_PER_UNIT = 1000  # occupancy histogram: bins [k/1000, (k+1)/1000), k = 0..1000
N_OCC_BINS = OCC_BINS_PER_UNIT + 1
# occupancy sums are exact int64 in units of 2**-24: room for 2**63 / 2**24 ~ 5.5e11 paths
# at occupancy 1; each path's occupancy is rounded to 6e-8 (mean error <= 3e-8)
FIXED_POINT_SCALE = 16777216.0
PENDING_MAX_PATHS = 65535  # uint16 pending counts are flushed before they can overflow
MONTHS_PER_YEAR = 12
