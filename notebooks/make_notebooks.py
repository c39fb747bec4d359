"""Write the example notebooks in this folder (without outputs).

Run from anywhere: ``python notebooks/make_notebooks.py``. The notebooks are the source of
truth once written; this script only saves retyping cells when they are rebuilt. They are
executed top to bottom by ``tests/test_notebooks.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# --- 01 -----------------------------------------------------------------------------------

QUICK_START = [
    md(
        """
# mcsd quick start

mcsd turns the CIC 2025 study's single forecast of China's third-party custom-wholesale
compute-centre market into probabilities. This notebook:

1. loads the study's priors,
2. runs **point mode** (every uncertain input at its median) and checks it against the
   study's own year-end table,
3. runs a modest **Monte Carlo** (20,000 paths, fixed seed),
4. draws fan charts per region,
5. shows how to read quantiles and the provenance attributes,
6. saves the result to netCDF and reads it back.

Everything here uses the public API: `mcsd.load_priors`, `mcsd.simulate`, `mcsd.plot`,
`mcsd.write_netcdf`, `mcsd.read_result` (and `mcsd.study.study_table` for the study's table).
The first `simulate` call in a fresh process may take 15-25 s while numba compiles the
kernels; later calls (and later processes, thanks to the cache) are fast.
"""
    ),
    code(
        """
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import mcsd
import mcsd.plot
from mcsd.study import study_table

pd.set_option("display.precision", 3)
mcsd.__version__
"""
    ),
    md(
        """
## 1. The priors

`mcsd.load_priors()` with no argument (or `"cic2025"`) loads the study's priors shipped with
the package; a path loads your own TOML file. Loading validates everything, so a bad file
fails here with one clear message instead of inside a kernel.
"""
    ),
    code(
        """
priors = mcsd.load_priors("cic2025")
print(priors.name, "| regions:", ", ".join(priors.region_ids))
print("sha256:", priors.sha256[:16], "...")
"""
    ),
    md(
        """
## 2. Point mode against the study

`point=True` runs one path with every input at its nominal value (= its median). With the
study's priors it must reproduce the study's year-end demand and supply stocks. A point-mode
result has the same layout as a Monte Carlo one, so all its quantiles are equal: take the
median.
"""
    ),
    code(
        """
point = mcsd.simulate(priors, point=True)
year_ends = point.time.dt.month == 12

model = (
    point[["demand", "supply", "occupancy"]]
    .sel(quantile=0.5, time=year_ends)
    .drop_vars("quantile")
    .to_dataframe()
    .reset_index()
)
model["year"] = model["time"].dt.year

study = study_table()
both = model.merge(study, on=["region", "year"])
both["demand_diff_mw"] = both["demand"] - both["demand_stock_mw"]
both["supply_diff_mw"] = both["supply"] - both["supply_stock_mw"]
both["occupancy_diff_pts"] = 100 * (both["occupancy_x"] - both["occupancy_y"])
comparison = both.set_index(["region", "year"])[
    ["demand", "demand_stock_mw", "supply", "supply_stock_mw", "demand_diff_mw",
     "supply_diff_mw", "occupancy_diff_pts"]
]
comparison.round(1)
"""
    ),
    code(
        """
worst = comparison[["demand_diff_mw", "supply_diff_mw"]].abs().to_numpy().max()
print(f"largest stock difference from the study: {worst:.3g} MW (tolerance 1 MW)")
assert worst < 1.0
"""
    ),
    md(
        """
## 3. A Monte Carlo run

20,000 paths is enough for figures and for probabilities to about ±0.4 points (one standard
error at p = 0.5); use more for tables you publish. The result is a pure function of
(priors, `n_paths`, `seed`, mcsd version): the same call gives the same numbers on any
machine and any number of threads.
"""
    ),
    code(
        """
N_PATHS, SEED = 20_000, 2025
ds = mcsd.simulate(priors, n_paths=N_PATHS, seed=SEED, progress=False)
ds
"""
    ),
    md(
        """
## 4. Fan charts

`mcsd.plot.fan_chart` draws nine nested bands (5-95%, 10-90%, ...) around the median, the
80% shortage threshold, and, for the study's priors, the study's own year-end forecast as
diamonds. Each function returns a matplotlib `Figure`; close it when done.
"""
    ),
    code(
        """
fig = mcsd.plot.fan_chart(ds)
plt.show()
plt.close(fig)
"""
    ),
    code(
        """
# Any quantile variable, any subset of regions: supply stock in MW for two regions.
fig = mcsd.plot.fan_chart(ds, regions=["jingjin", "yangtze"], variable="supply")
plt.show()
plt.close(fig)
"""
    ),
    md(
        """
## 5. Reading quantiles and attributes

The quantile variables (`occupancy`, `demand`, `supply`, `unmet_demand`) have dims
(region, time, quantile), with quantiles 0.05, 0.10, ..., 0.95. Select with xarray.
Quantiles come from fixed-bin histograms: the largest error from binning is in the attrs.
"""
    ),
    code(
        """
# Occupancy at end 2026: 5%, median and 95% per region, in percent.
end_2026 = ds["occupancy"].sel(time="2026-12-31", quantile=[0.05, 0.5, 0.95])
(100 * end_2026.to_pandas()).round(1)
"""
    ),
    code(
        """
# Median served demand and supply at each year end (MW).
ye = ds.time.dt.month == 12
med = ds[["demand", "supply"]].sel(quantile=0.5, time=ye).drop_vars("quantile")
med.to_dataframe().unstack("time").round(0)
"""
    ),
    code(
        """
# Units and meaning live on each variable; the run's provenance on the dataset.
for name in ["occupancy", "demand", "unmet_demand", "p_shortage"]:
    a = ds[name].attrs
    print(f"{name:14s} units={a['units']!r:6s} {a['long_name']}")
print("occupancy quantile error at most", ds["occupancy"].attrs["max_quantile_error"])
print()
for key in ["priors_name", "priors_sha256", "n_paths", "seed", "threshold",
            "base_month", "horizon_month", "mcsd_version", "point_mode"]:
    print(f"{key:14s} {ds.attrs[key]}")
"""
    ),
    md(
        """
## 6. Save and read back

`mcsd.write_netcdf` writes atomically (a temporary file, then a rename);
`mcsd.read_result` checks that the file is an mcsd result this version can read.
The round trip is lossless.
"""
    ),
    code(
        """
path = mcsd.write_netcdf(ds, "quick_start.nc")
back = mcsd.read_result(path)
print(path, f"{path.stat().st_size / 1024:.0f} kB")
for name in ds.data_vars:
    np.testing.assert_array_equal(back[name].values, ds[name].values)
assert back.attrs["priors_sha256"] == ds.attrs["priors_sha256"]
assert back.attrs["n_paths"] == N_PATHS and back.attrs["seed"] == SEED
print("round trip OK")
"""
    ),
]

# --- 02 -----------------------------------------------------------------------------------

SHORTAGE = [
    md(
        """
# Shortage probabilities and turning points

The questions a risk team asks: how likely is each region to be short of capacity
(occupancy at or above 80%) at each year end, how sure are we of that number, and *when*
does the price turning point (the first month in shortage) come?

We use the study's priors with 20,000 paths and a fixed seed.
"""
    ),
    code(
        """
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import mcsd
import mcsd.plot

N_PATHS, SEED = 20_000, 2025
ds = mcsd.simulate("cic2025", n_paths=N_PATHS, seed=SEED, progress=False)
threshold = ds.attrs["threshold"]
year_ends = ds.time.dt.month == 12
print(f"{ds.attrs['priors_name']}: {ds.attrs['n_paths']:,} paths, seed {ds.attrs['seed']}, "
      f"shortage = occupancy >= {threshold:.0%}")
"""
    ),
    md(
        """
## 1. P(shortage) at year ends, with errors

`p_shortage` is the share of paths with occupancy >= threshold; `p_shortage_se` its binomial
Monte Carlo standard error; `p_shortage_lo`/`p_shortage_hi` the Wilson 95% interval, which
stays informative where p is 0 or 1 (where the standard error collapses to 0).
"""
    ),
    code(
        """
cols = ["p_shortage", "p_shortage_se", "p_shortage_lo", "p_shortage_hi"]
table = ds[cols].sel(time=year_ends).to_dataframe()[cols].reset_index()
table["year"] = table.pop("time").dt.year
table = table.set_index(["region", "year"])
(100 * table).round(2).rename(columns=lambda c: c + " (%)")
"""
    ),
    code(
        """
# The same as a compact region x year grid: "p% [lo, hi]".
def fmt(row):
    lo, hi = 100 * row.p_shortage_lo, 100 * row.p_shortage_hi
    return f"{100 * row.p_shortage:5.1f}% [{lo:.1f}, {hi:.1f}]"

regions = [str(r) for r in ds.region.values]
table.apply(fmt, axis=1).unstack("year").reindex(regions)
"""
    ),
    md(
        """
## 2. Heat map

Every month and region at once. Cells whose standard error is above `se_tolerance` (one
point by default) are hatched: read them with care or run more paths.
"""
    ),
    code(
        """
fig = mcsd.plot.shortage_heatmap(ds)
plt.show()
plt.close(fig)
"""
    ),
    md(
        """
## 3. Turning points

`turning_point_cdf[region, t]` is P(turning point at or before month t). Paths that never
reach the threshold by the horizon are **censored**, not given a made-up date: their share is
`p_no_turning_point`, and the CDF ends at `1 - p_no_turning_point`. A region already in
shortage at the base would be flagged in `in_shortage_at_base`.
"""
    ),
    code(
        """
fig = mcsd.plot.turning_point_plot(ds)
plt.show()
plt.close(fig)
"""
    ),
    code(
        """
cdf = ds["turning_point_cdf"]
# P(turning point in year y) = CDF at end of y minus CDF at end of y-1 (0 before the base).
at_ends = cdf.sel(time=year_ends).to_pandas()
at_ends.columns = at_ends.columns.year
by_year = at_ends.diff(axis=1)
by_year[at_ends.columns[0]] = at_ends[at_ends.columns[0]]
by_year["never (censored)"] = ds["p_no_turning_point"].to_pandas()
by_year["already at base"] = ds["in_shortage_at_base"].to_pandas()
by_year.round(3).rename_axis(columns="P(turning point in)")
"""
    ),
    code(
        """
# Median turning month per region (the first month the CDF reaches 0.5), or none if more
# than half of the paths are censored.
def median_turning_month(region):
    c = cdf.sel(region=region)
    hit = c.where(c >= 0.5, drop=True)
    if hit.size == 0:
        return "censored (> 50% never turn)"
    return pd.Timestamp(hit.time[0].values).strftime("%Y-%m")

pd.Series({str(r): median_turning_month(r) for r in ds.region.values}, name="median turning month")
"""
    ),
    md(
        """
## 4. The occupancy probability cube

`occupancy_exceedance[region, time, level]` is P(occupancy >= level) for levels 0.50, 0.55,
..., 1.00. At the level equal to the threshold it is `p_shortage`. Tight markets (say 90%
occupancy, where buyers find almost no free halls) are one selection away:
"""
    ),
    code(
        """
exc = ds["occupancy_exceedance"]
p90 = exc.sel(level=0.9, time=year_ends).to_pandas()
p90.columns = p90.columns.year
(100 * p90).round(1).rename_axis(columns="P(occupancy >= 90%), % at end of")
"""
    ),
    code(
        """
# The whole exceedance curve for one region and year end.
curve = exc.sel(region="yangtze", time="2026-12-31").to_pandas()
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(100 * curve.index, 100 * curve.values, marker="o")
ax.axvline(100 * threshold, color="0.3", ls="--", lw=1)
ax.set_xlabel("occupancy level (%)")
ax.set_ylabel("P(occupancy >= level) (%)")
ax.set_title("Yangtze River Delta, end 2026")
plt.show()
plt.close(fig)

# consistency: the cube at the threshold is p_shortage
np.testing.assert_allclose(
    exc.sel(level=threshold).values, ds["p_shortage"].values, atol=1e-12
)
"""
    ),
    md(
        """
## 5. A reading for a risk team

The numbers below are computed from this run, so they stay true when the priors change.
"""
    ),
    code(
        """
def p(var, region, when):
    return float(ds[var].sel(region=region, time=when))

y25 = p("turning_point_cdf", "yangtze", "2025-12-31")
y26 = p("turning_point_cdf", "yangtze", "2026-12-31")
never = float(ds["p_no_turning_point"].sel(region="yangtze"))
lo, hi = p("p_shortage_lo", "yangtze", "2026-12-31"), p("p_shortage_hi", "yangtze", "2026-12-31")
print(f"yangtze turns by end 2025 on {y25:.0%} of paths, in 2026 on a further {y26 - y25:.0%}, "
      f"and not by the horizon on {never:.0%}.")
print(f"P(yangtze short at end 2026) = {p('p_shortage', 'yangtze', '2026-12-31'):.1%} "
      f"(Wilson 95%: {lo:.1%} to {hi:.1%}).")
jj = p("turning_point_cdf", "jingjin", "2025-12-31")
print(f"jingjin turns by end 2025 on {jj:.0%} of paths; "
      f"gba never turns on {float(ds['p_no_turning_point'].sel(region='gba')):.0%}.")
"""
    ),
    code(
        """
# The study's single forecast (point mode) against the Monte Carlo, per region.
point = mcsd.simulate("cic2025", point=True)


def first_month(cdf_region):
    hit = cdf_region.where(cdf_region >= 0.5, drop=True)
    return None if hit.size == 0 else pd.Timestamp(hit.time[0].values)


rows = {}
for r in ds.region.values:
    study_turn = first_month(point["turning_point_cdf"].sel(region=r))
    row = {
        "study turning month": "none" if study_turn is None else study_turn.strftime("%Y-%m"),
        "MC median turning month": median_turning_month(r),
    }
    if study_turn is not None:
        end_of_year = pd.Timestamp(f"{study_turn.year}-12-31")
        before = pd.Timestamp(f"{study_turn.year - 1}-12-31")
        p_before = float(cdf.sel(region=r, time=before)) if before in cdf.indexes["time"] else 0.0
        row["P(turn before the study's year)"] = f"{p_before:.1%}"
        p_by = float(cdf.sel(region=r, time=end_of_year))
        row["P(turn by end of the study's year)"] = f"{p_by:.1%}"
    rows[str(r)] = row
pd.DataFrame(rows).T.fillna("")
"""
    ),
    md(
        """
**How to read it** (written from the study's priors at 20,000 paths and seed 2025; the
printed numbers above are the ones to quote):

- **jingjin** is the near-certain case: it starts just under the threshold and turns in the
  first months of 2025 on almost every path. Plan for tight supply and rising prices there.
- **yangtze: 2025 or 2026?** The study's single forecast puts the turning point in early
  2026 (occupancy 79% at end 2025, 87% at end 2026). The Monte Carlo makes it close to a
  coin flip between the two years: about half the paths turn by the end of 2025, most of the
  rest during 2026, very few never. The reason is one-sided: the study's schedule assumes
  halls open on time, delivery delays only ever push supply later, and later supply brings
  the turning point *forward*. By end 2026 shortage is the likely state (about 9 paths in
  10). A risk team should treat 2025 as a live case, not a tail, and budget for 2026 as
  the base case at the latest.
- **gba** almost never reaches 80% by 2028: its risk is oversupply, not shortage.
- **southwest_other** turns on fewer than half of the paths by 2028, mostly those where
  jingjin's unmet demand spills over to it: its fan is wide and skewed upwards.
- **national** occupancy crosses 80% well before the study's 2027 in the median path, but
  the national number still hides the regional picture: a national average below the
  threshold is compatible with two regions in shortage.
- The standard errors at 20,000 paths are below half a point; the Wilson interval matters
  only near 0 and 1 (gba, jingjin), where it is still a fraction of a point wide. The timing
  is driven by the delay priors, so read these numbers together with `priors/cic2025.toml`.
"""
    ),
]

# --- 03 -----------------------------------------------------------------------------------

SCENARIOS = [
    md(
        """
# Scenarios

The study's priors are the base case. Three scenario files change only what differs from it:

| scenario | what changes |
| --- | --- |
| `deepseek_efficiency` | efficiency gains (DeepSeek) lower demand growth, wider multipliers |
| `ai_capex_boom` | an AI capex boom raises every buyer's increments |
| `power_constrained` | power and approval constraints: lateness the rule, more cancellations |

We run all four with the **same seed and path count**, then compare fans, the change in
P(shortage), and a table at end 2026. The ±2 standard-error band in the difference plot
assumes independent runs; runs with the same seed share random numbers, which usually makes
their difference *more* precise than that, so read the band as conservative.
"""
    ),
    code(
        """
%matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd

import mcsd
import mcsd.plot

N_PATHS, SEED = 20_000, 2025
NAMES = ["cic2025", "deepseek_efficiency", "ai_capex_boom", "power_constrained"]

runs = {}
for name in NAMES:
    priors = mcsd.load_priors(name)
    runs[name] = mcsd.simulate(priors, n_paths=N_PATHS, seed=SEED, progress=False)
    print(f"{name:22s} sha256 {runs[name].attrs['priors_sha256'][:12]}  "
          f"horizon {runs[name].attrs['horizon_month']}")
"""
    ),
    md(
        """
## 1. Fans side by side

Median and 5-95% band of occupancy per scenario, one colour each (the first is the base).
"""
    ),
    code(
        """
fig = mcsd.plot.scenario_comparison(runs, kind="fan")
plt.show()
plt.close(fig)
"""
    ),
    code(
        """
# Supply stock: the power-constrained scenario delivers later and cancels more.
fig = mcsd.plot.scenario_comparison(
    {k: runs[k] for k in ["cic2025", "power_constrained"]},
    regions=["jingjin", "yangtze", "national"],
    variable="supply",
)
plt.show()
plt.close(fig)
"""
    ),
    md(
        """
## 2. Change in P(shortage) against the base

Each scenario minus `cic2025`, month by month, in percentage points.
"""
    ),
    code(
        """
fig = mcsd.plot.scenario_comparison(runs, kind="difference")
plt.show()
plt.close(fig)
"""
    ),
    md(
        """
## 3. P(shortage) at end 2026 per region and scenario
"""
    ),
    code(
        """
END = "2026-12-31"
p26 = pd.DataFrame(
    {name: ds["p_shortage"].sel(time=END).to_pandas() for name, ds in runs.items()}
)
se26 = pd.DataFrame(
    {name: ds["p_shortage_se"].sel(time=END).to_pandas() for name, ds in runs.items()}
)
(100 * p26).round(1).rename_axis(columns="P(shortage) at end 2026, %")
"""
    ),
    code(
        """
# Differences from the base in points, with the (conservative) 2-SE half-width.
delta = 100 * p26.sub(p26["cic2025"], axis=0).drop(columns="cic2025")
half = 200 * (se26.drop(columns="cic2025") ** 2).add(se26["cic2025"] ** 2, axis=0) ** 0.5
delta.round(1).astype(str) + " ± " + half.round(1).astype(str)
"""
    ),
    code(
        """
# Turning point by end 2026 and never (censored), per scenario.
tp = pd.concat(
    {
        name: pd.DataFrame(
            {
                "turned by end 2026": ds["turning_point_cdf"].sel(time=END).to_pandas(),
                "never by horizon": ds["p_no_turning_point"].to_pandas(),
            }
        )
        for name, ds in runs.items()
    },
    axis=1,
)
(100 * tp).round(1)
"""
    ),
    md(
        """
**Reading.** Compare each column with `cic2025`: demand-side scenarios
(`deepseek_efficiency`, `ai_capex_boom`) move every region's shortage probability in the
direction of the demand shock, while `power_constrained` works through supply, so it bites
hardest where a lot of new capacity is scheduled. Regions already near 100% or 0% in the base
case move little in any scenario; the informative cells are the ones in between.
"""
    ),
]

# --- 04 -----------------------------------------------------------------------------------

DECISIONS = [
    md(
        """
# Decision tools: precision, paired comparisons, sensitivity

Three questions that come after a first run:

1. **How many paths do I need?** `mcsd.simulate(..., target_se=...)` adds blocks of paths
   until every shortage probability (and turning-point CDF cell) is known to the target
   standard error, and returns exactly the fixed-n run at the n it stopped at.
2. **Is scenario b really different from a?** `mcsd.compare(a, b, ...)` runs both with
   common random numbers and gives the difference with its *paired* standard error.
3. **Which input drives the answer?** `mcsd.sensitivity(priors, ...)` splits the variance
   of the shortage indicator and of the turning month between the input groups (grouped
   Sobol indices, pick-freeze), with bootstrap intervals.
"""
    ),
    code(
        """
%matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import mcsd
import mcsd.plot

SEED = 2025
priors = mcsd.load_priors("cic2025")
"""
    ),
    md(
        """
## 1. A precision target

The stopping rule needs at least 10,000 paths and, in every selected cell,
max(binomial SE, Wilson half-width / 1.96) <= target: a cell with p = 0 has binomial SE 0 at
any n, which must not count as "known exactly". Here only yangtze's cells in 2025-2026.
"""
    ),
    code(
        """
ds = mcsd.simulate(
    priors, seed=SEED, target_se=0.003, max_paths=200_000,
    se_cells={"region": ["yangtze"], "time": slice("2025-01", "2026-12")}, progress=False,
)
print({k: ds.attrs[k] for k in ["paths_used", "target_se", "converged", "max_selected_se"]})
ds["p_shortage_se"].sel(region="yangtze", time=ds.time.dt.month == 12).to_pandas().round(4)
"""
    ),
    md(
        """
## 2. A paired comparison

Both scenarios draw the same random numbers for every buyer, provider and project they share,
so on each path they differ only by what the scenario changes. The paired standard error uses
the per-path joint counts (both short, only a, only b); the unpaired one is what two
independent runs would give.
"""
    ),
    code(
        """
cmp = mcsd.compare("cic2025", "power_constrained", n_paths=20_000, seed=SEED)
END = cmp.time.dt.month == 12
table = pd.DataFrame({
    "diff (pts)": 100 * cmp.diff_p_shortage.sel(region="yangtze", time=END).to_pandas(),
    "paired SE (pts)": 100 * cmp.diff_p_shortage_se.sel(region="yangtze", time=END).to_pandas(),
    "unpaired SE (pts)": 100
    * cmp.diff_p_shortage_se_unpaired.sel(region="yangtze", time=END).to_pandas(),
})
table["SE ratio"] = table["paired SE (pts)"] / table["unpaired SE (pts)"]
table.round(3)
"""
    ),
    md(
        """
A ratio r means the paired run is as precise as independent runs with 1/r^2 times the
paths. Where the scenario moves p a lot the gain is bounded: no coupling of the two runs can
give a variance below |d| (1 - |d|) / n, d the difference.

## 3. Sensitivity: which input group matters?

Groups: market factor, buyer-specific demand, third-party share, delivery delays (provider,
regional factors, on-time and late draws), cancellations. First-order index: the share of the
output's variance explained by the group alone; total index: including its interactions.
Cost: (2 + 5) runs of `n_paths`. The turning month of a path that never turns is censored at
one month past the horizon.
"""
    ),
    code(
        """
sens = mcsd.sensitivity(priors, n_paths=10_000, seed=SEED, n_boot=100)
y = sens.sel(region="yangtze")
pd.DataFrame({
    "first order (end 2025 shortage)": y.shortage_first_order.sel(year=2025).to_pandas(),
    "total (end 2025 shortage)": y.shortage_total.sel(year=2025).to_pandas(),
    "first order (turning month)": y.turning_month_first_order.to_pandas(),
    "total (turning month)": y.turning_month_total.to_pandas(),
}).round(3)
"""
    ),
    code(
        """
fig = mcsd.plot.tornado_chart(sens, region="yangtze", output="shortage", year=2025)
plt.show()
plt.close(fig)
fig = mcsd.plot.tornado_chart(sens, region="yangtze", output="turning_month")
plt.show()
plt.close(fig)
"""
    ),
]


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    path = HERE / name
    nbformat.write(nb, path)
    return path


def main() -> None:
    paths = [
        write(name, cells)
        for name, cells in [
            ("01_quick_start.ipynb", QUICK_START),
            ("02_shortage_and_turning_points.ipynb", SHORTAGE),
            ("03_scenarios.ipynb", SCENARIOS),
            ("04_decisions.ipynb", DECISIONS),
        ]
    ]
    # The repository's ruff settings lint and format notebooks too: format the cells.
    try:
        subprocess.run([sys.executable, "-m", "ruff", "format", *map(str, paths)], check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"ruff format skipped: {err}")
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
