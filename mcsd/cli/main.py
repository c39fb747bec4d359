"""The ``mcsd`` command: ``run``, ``check``, ``plot``, ``compare``, ``sensitivity``,
``export``, ``report``, ``priors show|solve``. ``run``, ``check`` and ``compare`` take
what-ifs without a file (``--set FIELD=VALUE``, ``--scale FIELD=FACTOR``: the grammar of
scenario files).

Exit codes:

* 0 success (``check`` of any valid priors file; ``run`` whose target, if any, was met);
* 1 ``check --against-study`` ran but point mode differs from the study by more than 1 MW;
* 2 bad input (priors, arguments, files), an unwritable output or standard output, with
  one line on stderr and no traceback;
* 3 ``run --target-se`` did not reach the target within ``--max-paths`` (the result and
  the summary are still written; one line on stderr says so);
* 130 interrupted (SIGINT, Ctrl-C); 143 terminated (SIGTERM).

A closed standard output (``mcsd run | head``) is a normal end (exit 0, quiet).
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from mcsd.cli.summary import summary_frames, summary_table  # noqa: F401  (re-exported)
from mcsd.cli.text import safe
from mcsd.dims import REGION, YEAR
from mcsd.engine.defaults import DEFAULT_PATHS, DEFAULT_SEED, MAX_PATHS

DEFAULT_OUT = "mcsd_result.nc"
FORMATS = ("table", "csv", "json")
CHECK_TOLERANCE_MW = 1.0


class UsageError(Exception):
    """A wrong command-line argument (exit 2)."""


class Terminated(KeyboardInterrupt):
    """Raised by the CLI's SIGTERM handler, so cleanup (``finally``) runs as for Ctrl-C."""


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


BUILTIN = "{builtin priors}"  # replaced by the built-in priors' names when help is shown
SE_VARIABLES = ("p_shortage", "turning_point_cdf")  # mcsd.analysis.precision's (tested)
SE_KEYS = ("region", "time", "variables")
PRECISION_MAX_PATHS = 4_194_304  # mcsd.analysis.precision.DEFAULT_MAX_PATHS (tested)
_MONTH = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")


def builtin_priors_names() -> list[str]:
    """The names of the priors shipped with mcsd (``priors/*.toml``), sorted."""
    from mcsd.priors.loader import builtin_priors_names as names

    try:
        return names()
    except OSError:  # pragma: no cover
        return []


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written (the epilog's layout kept); the built-in priors' names are
    listed when the help is shown, so parsing a command line never reads the folder."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text and BUILTIN in text:
            text = text.replace(BUILTIN, ", ".join(builtin_priors_names()) or "none found")
        return text


def _se_cells(text: str) -> dict[str, Any]:
    """``--se-cells "region=A,B;time=2025:2026;variables=p_shortage"`` as the ``se_cells``
    mapping of ``mcsd.simulate_to_precision`` (parts separated by ``;`` or spaces)."""
    parts = [p for p in re.split(r"[;\s]+", text.strip()) if p]
    if not parts:
        raise argparse.ArgumentTypeError("is empty; give e.g. 'region=yangtze;time=2025:2026'")
    cells: dict[str, Any] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        if not eq or key not in SE_KEYS:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not KEY=VALUE with KEY one of {', '.join(SE_KEYS)}"
            )
        if key in cells:
            raise argparse.ArgumentTypeError(f"{key} given twice")
        items = [v for v in value.split(",") if v]
        if not items:
            raise argparse.ArgumentTypeError(f"{key}= has no value")
        if key == "variables":
            bad = [v for v in items if v not in SE_VARIABLES]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"variables must be among {', '.join(SE_VARIABLES)}, got {bad[0]!r}"
                )
            cells[key] = tuple(items)
        elif key == "region":
            cells[key] = items
        else:
            ends = value.split(":")
            if len(ends) > 2 or not all(_MONTH.match(e) for e in ends):
                raise argparse.ArgumentTypeError(
                    f"time must be YYYY[-MM] or FROM:TO (each YYYY or YYYY-MM), got {value!r}"
                )
            cells[key] = slice(ends[0], ends[-1])  # inclusive, as DataArray.loc takes it
    return cells


EXIT_CODES = """\
exit status:
  0  success
  1  check --against-study: point mode differs from the study by more than 1 MW
  2  bad input (priors, arguments, files) or an unwritable output: one line on stderr
  3  run --target-se: the target was not reached within --max-paths (result written)
  130/143  interrupted (Ctrl-C) / terminated (SIGTERM)"""


def _describe(text: str) -> str:
    """A description wrapped for the terminal (the help formatter keeps it as written)."""
    import textwrap

    return textwrap.fill(text, width=79)


def build_parser() -> argparse.ArgumentParser:
    from mcsd._version import __version__
    from mcsd.cli.decide import add_whatif_arguments
    from mcsd.cli.decide import register as register_decide
    from mcsd.cli.export import register as register_export
    from mcsd.cli.plot import register as register_plot
    from mcsd.cli.priors_cmd import register as register_priors
    from mcsd.cli.report import register as register_report

    parser = _Parser(
        prog="mcsd",
        description="Monte Carlo uncertainty engine for compute-centre wholesale capacity.",
        epilog=EXIT_CODES,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mcsd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    priors_help = (
        f"priors TOML file, or the name of a built-in one ({BUILTIN}) "
        "(default: cic2025, the study's)"
    )

    run = sub.add_parser(
        "run",
        help="Monte Carlo run: summary table and a netCDF result",
        description=_describe(
            "Monte Carlo run of the priors: writes the result (netCDF) and prints a summary "
            "(P(short) per region and year with Monte Carlo intervals, turning points)."
        ),
        epilog=EXIT_CODES,
        formatter_class=_HelpFormatter,
    )
    run.add_argument("priors", nargs="?", help=priors_help)
    run.add_argument(
        "--paths",
        type=_positive_int,
        default=DEFAULT_PATHS,
        metavar="N",
        help=f"path count (default: {DEFAULT_PATHS:,})",
    )
    run.add_argument(
        "--seed", type=_integer, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    run.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="FILE.nc",
        help=f"result file (default: {DEFAULT_OUT})",
    )
    run.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="summary on stdout: table (text), csv (one row per region and year) or json; "
        "csv and json are machine-readable, full precision (default: table)",
    )
    run.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="worker threads (default: NUMBA_NUM_THREADS, else the usable cores)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar (default: shown)")
    run.add_argument(
        "--observe",
        metavar="FILE",
        default=None,
        help="nowcast: weight every path by these observations (TOML: measurements and "
        "project facts; priors/README.md, 'Observations') and report the conditioned "
        "estimates beside the prior ones (default: none)",
    )
    # --- precision-targeted run (mcsd.precision) ---
    run.add_argument(
        "--target-se",
        type=_probability_open,
        default=None,
        metavar="X",
        help="add paths until every selected P(short) and turning-point CDF cell has SE <= X "
        "(--paths is then ignored); exit 3 if --max-paths stops it first (default: off)",
    )
    run.add_argument(
        "--max-paths",
        type=_positive_int,
        default=None,
        metavar="N",
        help="with --target-se: stop at N paths even if not converged "
        f"(default: {PRECISION_MAX_PATHS:,})",
    )
    run.add_argument(
        "--se-cells",
        type=_se_cells,
        default=None,
        metavar="SPEC",
        help="with --target-se: the cells the target applies to, e.g. "
        "'region=yangtze,national;time=2025:2026' (parts region=, time=, variables=; "
        "time YYYY or YYYY-MM, or FROM:TO inclusive; variables among "
        f"{', '.join(SE_VARIABLES)}) (default: every cell of both)",
    )
    # --- end precision-targeted run ---
    # --- dask (mcsd.distributed) ---
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask scheduler at ADDRESS (default: run locally)",
    )
    where.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (started for the run) "
        "(default: run locally, on threads)",
    )
    # --- end dask ---
    run.set_defaults(func=cmd_run)

    check = sub.add_parser(
        "check",
        help="validate priors; point mode year-end stocks (beside the study's for its priors)",
        description=_describe(
            "Validate a priors file and print its point mode (every input at its median): "
            "year-end stocks per region. For the study's own priors (the built-in cic2025), "
            "or with --against-study, beside the study's table with the difference."
        ),
        epilog=EXIT_CODES,
        formatter_class=_HelpFormatter,
    )
    check.add_argument("priors", nargs="?", help=priors_help)
    check.add_argument(
        "--against-study",
        action="store_true",
        help=f"compare with the study's table whatever the priors; exit 1 when a year-end "
        f"stock differs by more than {CHECK_TOLERANCE_MW:g} MW (default: compare only the "
        "built-in cic2025, never exit 1)",
    )
    check.set_defaults(func=cmd_check)
    add_whatif_arguments(run)
    add_whatif_arguments(check)

    register_plot(sub)
    register_decide(sub)  # compare, sensitivity
    register_export(sub)
    register_report(sub)
    register_priors(sub)  # priors show, priors solve
    return parser


def _year_end(ds, var: str) -> pd.DataFrame:
    sel = ds[var].sel(time=ds.time.dt.month == 12)
    frame = sel.to_pandas()
    frame.columns = [pd.Timestamp(c).year for c in frame.columns]
    return frame


def is_study_priors(priors) -> bool:
    """The study's own priors: named cic2025 and the built-in file (not a copy or an edit
    elsewhere that kept the name)."""
    from mcsd.priors.loader import builtin_priors_dir

    if priors.name != "cic2025" or not priors.source_path:
        return False
    try:
        return Path(priors.source_path).samefile(builtin_priors_dir() / "cic2025.toml")
    except OSError:
        return False


def _mw(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.1f}".replace("-0.0", "0.0")


def _pct(v: float) -> str:
    return "-" if not np.isfinite(v) else f"{v:.1f}"


def cmd_check(args: argparse.Namespace) -> int:
    from mcsd.api import simulate
    from mcsd.cli.decide import priors_from_args
    from mcsd.cli.summary import render_blocks
    from mcsd.progress import compile_notice
    from mcsd.study import study_table

    priors = priors_from_args(args)
    compare = args.against_study or is_study_priors(priors)
    compile_notice()
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
                    "study_occupancy_pct": 100 * s_dem / s_sup if s_sup > 0 else np.nan,
                }
            )
    table = pd.DataFrame(rows)
    print(f"priors {safe(priors.name)} ({safe(priors.source_path)}): valid")
    index = [safe(r) for r in table[REGION]]
    cols: list[tuple[str, list[str]]] = [("year", [str(y) for y in table[YEAR]])]
    if not compare:
        print("point mode (every input at its median), year-end stocks (MW):")
        cols += [
            ("demand", [_mw(v) for v in table.demand_mw]),
            ("supply", [_mw(v) for v in table.supply_mw]),
            ("occupancy %", [_pct(v) for v in table.occupancy_pct]),
        ]
        for line in render_blocks(REGION, index, cols):
            print(line)
        print("not compared with the study's table (not the study's priors; --against-study)")
        return 0
    print("point mode (every input at its median), year-end stocks beside the study's (MW):")
    for what in ("demand", "supply"):
        cols += [
            (what, [_mw(v) for v in table[f"{what}_mw"]]),
            ("study", [_mw(v) for v in table[f"study_{what}_mw"]]),
            ("diff", [_mw(v) for v in table[f"diff_{what}_mw"]]),
        ]
    cols += [
        ("occ. %", [_pct(v) for v in table.occupancy_pct]),
        ("study %", [_pct(v) for v in table.study_occupancy_pct]),
    ]
    for line in render_blocks(REGION, index, cols):
        print(line)
    compared = table.dropna(subset=["study_demand_mw", "study_supply_mw"])
    if compared.empty:
        print("no region and year of these priors is in the study's table: nothing to compare")
        return 0
    worst = float(
        np.max(np.abs(compared[["diff_demand_mw", "diff_supply_mw"]].to_numpy(dtype=float)))
    )
    ok = worst <= CHECK_TOLERANCE_MW
    verdict = "within" if ok else "NOT within"
    print(f"largest difference {worst:.3f} MW: {verdict} {CHECK_TOLERANCE_MW:g} MW of the study")
    return 0 if ok or not args.against_study else 1


def _check_output(out: str, priors=None) -> Path:
    """The output rules of :mod:`mcsd.cli.outputs` (checked before the run starts)."""
    from mcsd.cli.outputs import OutputError, check_output, priors_chain

    inputs = priors_chain(priors) if priors is not None else []
    try:
        return check_output(out, inputs, atomic=True)
    except OutputError as err:
        raise UsageError(f"mcsd run: error: {err}") from None


@contextmanager
def _dask_client(args: argparse.Namespace) -> Iterator[object]:
    """The Dask client of ``--scheduler`` / ``--workers`` (closed after), else None."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    from mcsd.engine.distributed import DistributedError, close_quietly, connect, local_cluster

    cluster = None
    try:
        if args.scheduler is not None:
            client = connect(args.scheduler)
        else:
            cluster, client = local_cluster(args.workers)  # quiet on Ctrl-C while starting
    except DistributedError as err:
        raise UsageError(f"mcsd run: error: {err}") from None
    try:
        yield client
    except BaseException as err:  # Ctrl-C, a failed run: close quietly, no Dask log lines
        close_quietly(client, cluster)
        if isinstance(err, DistributedError):
            raise UsageError(f"mcsd run: error: {err}") from None
        raise
    else:
        client.close()
        if cluster is not None:
            cluster.close()


def _checked_se_cells(priors, cells: dict[str, Any] | None) -> dict[str, Any] | None:
    """``--se-cells`` checked against the priors (regions, horizon): UsageError if not."""
    if cells is None:
        return None
    from mcsd.analysis.precision import cell_mask
    from mcsd.results.dataset import region_names

    names = list(region_names(priors))
    unknown = [r for r in cells.get("region", []) if r not in names]
    if unknown:
        raise UsageError(
            f"mcsd run: error: argument --se-cells: unknown region {safe(unknown[0])!r} "
            f"(regions: {', '.join(safe(n) for n in names)})"
        )
    try:
        cell_mask(priors, cells)
    except ValueError as err:
        raise UsageError(f"mcsd run: error: argument --se-cells: {safe(err)}") from None
    return cells


def cmd_run(args: argparse.Namespace) -> int:
    from mcsd.api import simulate
    from mcsd.cli.decide import priors_from_args
    from mcsd.cli.outputs import write_error
    from mcsd.cli.summary import summary_csv, summary_json, summary_text
    from mcsd.progress import compile_notice
    from mcsd.results.io import write_netcdf

    out = _check_output(args.out)  # folder, name, target kind: before loading anything
    if args.target_se is None and args.max_paths is not None:
        raise UsageError("mcsd run: error: --max-paths needs --target-se")
    if args.target_se is None and args.se_cells is not None:
        raise UsageError("mcsd run: error: --se-cells needs --target-se")
    if args.target_se is not None and (args.scheduler or args.workers):
        raise UsageError("mcsd run: error: --target-se runs locally (no --scheduler/--workers)")
    priors = priors_from_args(args)
    out = _check_output(args.out, priors)  # and not one of the priors' files
    se_cells = _checked_se_cells(priors, args.se_cells)
    observations = None
    if args.observe is not None:
        from mcsd.priors.observations import as_observations

        observations = as_observations(args.observe, priors)
    if not args.quiet:
        compile_notice()  # before the first kernel call, when the numba cache is cold
    if args.target_se is not None:  # --- precision-targeted run (mcsd.precision) ---
        ds = simulate(
            priors,
            seed=args.seed,
            threads=args.threads,
            progress=False if args.quiet else None,
            target_se=args.target_se,
            max_paths=args.max_paths,
            se_cells=se_cells,
            observations=observations,
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
                observations=observations,
            )
    # --- end precision-targeted run ---
    # The result first: a broken or full standard output must not lose it.
    try:
        write_netcdf(ds, out)
    except OSError as err:
        raise UsageError(f"mcsd run: error: {write_error(out, err)}") from None
    missed = args.target_se is not None and not ds.attrs["converged"]
    if args.format == "csv":
        sys.stdout.write(summary_csv(ds))
    elif args.format == "json":
        sys.stdout.write(summary_json(ds) + "\n")
    else:
        title = (
            f"mcsd run: priors {safe(priors.name)}, {args.paths:,} paths, seed {args.seed}, "
            f"threshold {priors.threshold:g}"
        )
        for line in summary_text(ds, title):
            print(line)
        if args.target_se is not None:
            state = "reached" if not missed else "NOT reached (--max-paths hit)"
            print(f"target SE {args.target_se:g} {state} with {args.paths:,} paths")
    if missed:
        listed = str(ds.attrs.get("non_converged_cells", "")).split("; ")[0]
        example = f" (e.g. {safe(listed)})" if listed else ""
        _stderr_line(
            f"mcsd run: target SE {args.target_se:g} not reached within {args.paths:,} paths: "
            f"{ds.attrs['n_non_converged_cells']} cell(s) above it{example}; "
            f"the result of {args.paths:,} paths is in {out}"
        )
    if args.format == "table":
        print(f"wrote {safe(out)}")
    else:
        _stderr_line(f"wrote {out}")
    return 3 if missed else 0


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one Terminated; cleanup is not cut short
    raise Terminated()


@contextmanager
def _signals() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` (cleanup runs, exit 143); SIGXFSZ is ignored, so a
    write past ``ulimit -f`` fails with EFBIG instead of killing the process. The previous
    handlers are restored after (``main`` is also called in-process, by tests)."""
    wanted: dict[int, Any] = {signal.SIGTERM: _on_sigterm}
    if hasattr(signal, "SIGXFSZ"):
        wanted[signal.SIGXFSZ] = signal.SIG_IGN
    previous: dict[int, Any] = {}
    for signum, handler in wanted.items():
        try:
            previous[signum] = signal.signal(signum, handler)
        except (ValueError, OSError):  # not the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            try:
                signal.signal(signum, handler)
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass


class _StdoutError(Exception):
    """Writing to standard output failed (the ``OSError`` is ``__cause__``)."""


class _GuardedStdout:
    """``sys.stdout`` while a command runs: its write errors become :class:`_StdoutError`,
    so they are told apart from any other ``OSError``."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise _StdoutError() from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise _StdoutError() from exc

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point the stdout file descriptor at devnull, so the interpreter's final flush of what
    is still buffered cannot fail again ("Exception ignored ... BrokenPipeError")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests' capture)
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:  # pragma: no cover
        pass


def _stderr_line(line: str) -> None:
    try:
        print(safe(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr gone too: nothing left to tell
        pass


def _reconfigure_streams() -> None:
    """Unencodable characters are escaped, never a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass


def _dispatch(argv: list[str] | None) -> int:
    from mcsd.priors.loader import PriorsError
    from mcsd.results.io import ResultFileError

    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UsageError as err:
        _stderr_line(str(err))
        return 2
    except (PriorsError, ResultFileError) as err:
        _stderr_line(f"mcsd: error: {err}")
        return 2
    except ValueError as err:  # the API's argument, environment and memory checks
        _stderr_line(f"mcsd: error: {safe(str(err))}")
        return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mcsd`` command; returns the exit code."""
    _reconfigure_streams()
    real_stdout = sys.stdout
    sys.stdout = _GuardedStdout(real_stdout)
    try:
        with _signals():
            code = _dispatch(argv)
            sys.stdout.flush()  # a closed or full stdout shows here, not at exit
        return code
    except _StdoutError as err:
        sys.stdout = real_stdout
        _silence_stdout()
        cause = err.__cause__
        if isinstance(cause, BrokenPipeError) or getattr(cause, "errno", None) == errno.EPIPE:
            return 0  # the reader went away (mcsd run | head): a normal end, quiet
        reason = getattr(cause, "strerror", None) or str(cause)
        _stderr_line(f"mcsd: error: cannot write to standard output: {reason}")
        return 2
    except Terminated:
        _stderr_line("mcsd: terminated")
        return 143
    except KeyboardInterrupt:
        _stderr_line("mcsd: interrupted")
        return 130
    finally:
        sys.stdout = real_stdout


if __name__ == "__main__":
    sys.exit(main())
