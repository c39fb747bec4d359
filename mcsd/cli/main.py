"""The ``mcsd`` command: ``run``, ``check``, ``plot``.

Exit codes: 0 success; 1 ``check`` ran but point mode differs from the study by more than
1 MW; 2 bad input (priors, arguments, files) with one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from mcsd.dims import REGION, YEAR
from mcsd.engine.executor import DEFAULT_PATHS, DEFAULT_SEED, MAX_PATHS

DEFAULT_OUT = "mcsd_result.nc"
CHECK_TOLERANCE_MW = 1.0


class UsageError(Exception):
    """A wrong command-line argument (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        raise UsageError(f"{self.prog}: error: {message}")


def _number(text: str, convert: Callable[[str], Any], ok: Callable[[Any], bool], what: str) -> Any:
    """``convert(text)`` if it parses and ``ok`` holds, else argparse's error ``must be
    {what}, got {text!r}``."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _number(text, lambda t: int(t.replace("_", "")), lambda v: v >= 1, "a positive integer")
    if value > MAX_PATHS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_PATHS:,}, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    return _number(text, int, lambda v: -(2**63) <= v < 2**63, "a 64-bit integer")


def _probability_open(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < 1, "a number in (0, 1)")


def build_parser() -> argparse.ArgumentParser:
    from mcsd._version import __version__
    from mcsd.cli.plot import register as register_plot

    parser = _Parser(
        prog="mcsd",
        description="Monte Carlo uncertainty engine for compute-centre wholesale capacity.",
    )
    parser.add_argument("--version", action="version", version=f"mcsd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="Monte Carlo run: summary table and a netCDF result")
    run.add_argument("priors", nargs="?", help="priors TOML (default: the study's, cic2025)")
    run.add_argument("--paths", type=_positive_int, default=DEFAULT_PATHS, help="path count")
    run.add_argument("--seed", type=_integer, default=DEFAULT_SEED, help="random seed")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"result file (default {DEFAULT_OUT})")
    run.add_argument("--threads", type=_positive_int, default=None, help="worker threads")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    # --- precision-targeted run (mcsd.precision) ---
    run.add_argument(
        "--target-se",
        type=_probability_open,
        default=None,
        metavar="X",
        help="add paths until every P(short) and turning-point CDF cell has SE <= X "
        "(--paths is then ignored)",
    )
    run.add_argument(
        "--max-paths",
        type=_positive_int,
        default=None,
        metavar="N",
        help="with --target-se: stop at N paths even if not converged",
    )
    # --- end precision-targeted run ---
    # --- dask (mcsd.distributed) ---
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on the Dask scheduler at ADDRESS"
    )
    where.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (started for the run)",
    )
    # --- end dask ---
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate priors; point mode beside the study's table")
    check.add_argument("priors", nargs="?", help="priors TOML (default: the study's, cic2025)")
    check.set_defaults(func=cmd_check)

    register_plot(sub)
    return parser


def _year_end(ds, var: str) -> pd.DataFrame:
    sel = ds[var].sel(time=ds.time.dt.month == 12)
    frame = sel.to_pandas()
    frame.columns = [pd.Timestamp(c).year for c in frame.columns]
    return frame


def cmd_check(args: argparse.Namespace) -> int:
    from mcsd.api import simulate
    from mcsd.priors.loader import load_priors
    from mcsd.study import study_table

    priors = load_priors(args.priors)
    ds = simulate(priors, point=True)
    demand = _year_end(ds.sel(quantile=0.5), "demand")
    supply = _year_end(ds.sel(quantile=0.5), "supply")
    study = study_table()
    rows = []
    for region in demand.index:
        for year in demand.columns:
            hit = study[(study.region == region) & (study.year == year)]
            s_dem = float(hit.demand_stock_mw.iloc[0]) if len(hit) else np.nan
            s_sup = float(hit.supply_stock_mw.iloc[0]) if len(hit) else np.nan
            d, s = float(demand.loc[region, year]), float(supply.loc[region, year])
            rows.append(
                {
                    REGION: region,
                    YEAR: year,
                    "demand_mw": d,
                    "study_demand_mw": s_dem,
                    "diff_demand_mw": d - s_dem,
                    "supply_mw": s,
                    "study_supply_mw": s_sup,
                    "diff_supply_mw": s - s_sup,
                    "occupancy_pct": 100 * d / s if s > 0 else np.nan,
                    "study_occupancy_pct": 100 * s_dem / s_sup,
                }
            )
    table = pd.DataFrame(rows).set_index(["region", "year"])
    print(f"priors {priors.name} ({priors.source_path}): valid")
    print("point mode (every input at its median), year-end stocks beside the study's (MW):")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.round(1).to_string())
    compared = table.dropna(subset=["study_demand_mw"])
    if compared.empty:
        print("no region of these priors is in the study's table: nothing to compare")
        return 0
    worst = float(
        np.max(np.abs(compared[["diff_demand_mw", "diff_supply_mw"]].to_numpy(dtype=float)))
    )
    ok = worst <= CHECK_TOLERANCE_MW
    verdict = "within" if ok else "NOT within"
    print(f"largest difference {worst:.3f} MW: {verdict} {CHECK_TOLERANCE_MW:g} MW of the study")
    return 0 if ok else 1


def summary_table(ds) -> pd.DataFrame:
    """Per region: P(shortage) and P(turning point by) each year end, median turning month,
    P(no turning point by the horizon)."""
    p_short = _year_end(ds, "p_shortage")
    cdf = _year_end(ds, "turning_point_cdf")
    out = pd.DataFrame(index=p_short.index)
    for year in p_short.columns:
        out[f"P(short) {year}"] = p_short[year]
    for year in cdf.columns:
        out[f"P(turn by) {year}"] = cdf[year]
    median = []
    for region in ds.region.values:
        c = ds.turning_point_cdf.sel(region=region)
        hit = np.nonzero(c.values >= 0.5)[0]
        median.append(
            pd.Timestamp(ds.time.values[hit[0]]).strftime("%Y-%m") if hit.size else "none"
        )
    out["median turn"] = median
    out["P(no turn)"] = ds.p_no_turning_point.to_pandas()
    return out


def _check_writable(out: Path) -> None:
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"mcsd run: error: output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"mcsd run: error: output folder is not writable: {folder}")
    if out.is_dir():
        raise UsageError(f"mcsd run: error: --out is a folder: {out}")


@contextmanager
def _dask_client(args: argparse.Namespace) -> Iterator[object]:
    """The Dask client of ``--scheduler`` / ``--workers`` (closed after), else None."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from mcsd.engine.distributed import DistributedError, connect, local_cluster

    cluster = None
    try:
        if args.scheduler is not None:
            client = connect(args.scheduler)
        else:
            cluster, client = local_cluster(args.workers)
    except DistributedError as err:
        raise UsageError(f"mcsd run: error: {err}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def cmd_run(args: argparse.Namespace) -> int:
    from mcsd.api import simulate
    from mcsd.priors.loader import load_priors
    from mcsd.results.io import write_netcdf

    out = Path(args.out)
    _check_writable(out)
    priors = load_priors(args.priors)
    if args.target_se is None and args.max_paths is not None:
        raise UsageError("mcsd run: error: --max-paths needs --target-se")
    if args.target_se is not None and (args.scheduler or args.workers):
        raise UsageError("mcsd run: error: --target-se runs locally (no --scheduler/--workers)")
    if args.target_se is not None:  # --- precision-targeted run (mcsd.precision) ---
        ds = simulate(
            priors,
            seed=args.seed,
            threads=args.threads,
            progress=False if args.quiet else None,
            target_se=args.target_se,
            max_paths=args.max_paths,
        )
        args.paths = int(ds.attrs["paths_used"])
    else:
        with _dask_client(args) as client:  # None unless --scheduler or --workers
            ds = simulate(
                priors,
                n_paths=args.paths,
                seed=args.seed,
                threads=args.threads,
                progress=False if args.quiet else None,
                client=client,
            )
    # --- end precision-targeted run ---
    table = summary_table(ds)
    print(
        f"mcsd run: priors {priors.name}, {args.paths:,} paths, seed {args.seed}, "
        f"threshold {priors.threshold:g}"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    se = float(ds.p_shortage_se.max())
    print(f"largest Monte Carlo standard error of a P(short) cell: {se:.4f}")
    if args.target_se is not None:
        state = "reached" if ds.attrs["converged"] else "NOT reached (--max-paths hit)"
        print(
            f"target SE {args.target_se:g} {state} with {args.paths:,} paths"
            + ("" if ds.attrs["converged"] else f"; {ds.attrs['n_non_converged_cells']} cells")
        )
    write_netcdf(ds, out)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mcsd`` command; returns the exit code."""
    from mcsd.priors.loader import PriorsError
    from mcsd.results.io import ResultFileError

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except (PriorsError, ResultFileError) as err:
        print(f"mcsd: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mcsd: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
