"""The ``mcsd`` command: ``run``, ``check``, ``plot``.

Exit codes: 0 success; 1 ``check`` ran but point mode differs from the study by more than
1 MW; 2 bad input (priors, arguments, files), an unwritable output or standard output, with
one line on stderr and no traceback; 130 interrupted (SIGINT, Ctrl-C); 143 terminated
(SIGTERM). A closed standard output (``mcsd run | head``) is a normal end (exit 0, quiet).
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from mcsd.cli.text import safe
from mcsd.dims import REGION, YEAR
from mcsd.engine.defaults import DEFAULT_PATHS, DEFAULT_SEED, MAX_PATHS

DEFAULT_OUT = "mcsd_result.nc"
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
    table.index = table.index.set_levels(
        [safe(r) for r in table.index.levels[0]], level=0, verify_integrity=False
    )
    print(f"priors {safe(priors.name)} ({safe(priors.source_path)}): valid")
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
    out.index = [safe(r) for r in out.index]  # region ids are user-supplied: no escapes
    out.index.name = REGION
    return out


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


def cmd_run(args: argparse.Namespace) -> int:
    from mcsd.api import simulate
    from mcsd.cli.outputs import write_error
    from mcsd.priors.loader import load_priors
    from mcsd.results.io import write_netcdf

    out = _check_output(args.out)  # folder, name, target kind: before loading anything
    priors = load_priors(args.priors)
    out = _check_output(args.out, priors)  # and not one of the priors' files
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
    # The result first: a broken or full standard output must not lose it.
    try:
        write_netcdf(ds, out)
    except OSError as err:
        raise UsageError(f"mcsd run: error: {write_error(out, err)}") from None
    table = summary_table(ds)
    print(
        f"mcsd run: priors {safe(priors.name)}, {args.paths:,} paths, seed {args.seed}, "
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
    print(f"wrote {safe(out)}")
    return 0


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
