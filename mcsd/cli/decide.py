"""Decision tools on the command line: ``mcsd compare``, ``mcsd sensitivity`` and what-ifs.

``mcsd compare A [B] [--set FIELD=VALUE] [--scale FIELD=FACTOR] [--paths N] [--seed S]
[--out RESULT.nc] [--plot FILE]``: paired (common-random-number) comparison of B against A
(:func:`mcsd.analysis.compare.compare`). The what-ifs change B; without B, B is A with the
what-ifs (``mcsd compare cic2025 --set settings.threshold=0.85``). Prints, per region and
year end, P(shortage) and P(turning point by then) of A and B, the difference B - A and its
paired standard error.

``mcsd sensitivity [PRIORS] [--paths N] [--boot N] [--out RESULT.nc] [--plot FILE]``:
grouped Sobol indices (:func:`mcsd.analysis.sensitivity.sensitivity`); prints the
first-order and total index of each input group per region (and year end), and draws the
tornado chart of one region (``--region``, default national).

``add_whatif_arguments(parser)`` adds the repeatable ``--set`` / ``--scale`` options to any
subcommand and ``priors_from_args(args)`` loads its priors with them applied
(:mod:`mcsd.priors.changes`: the scenario files' selectors and validation).

Wire the subcommands into the main parser with ``register(subparsers)``. Handlers return
the exit status: 0, or 2 after one ``mcsd compare: error: ...`` line on stderr. Output files
follow :mod:`mcsd.cli.outputs` (checked before the run) and are written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mcsd.engine.defaults import DEFAULT_PATHS, DEFAULT_SEED

FIGURE_FORMATS = ("png", "svg", "pdf")  # mcsd.plot.FIGURE_FORMATS (no matplotlib to parse)
SENSITIVITY_PATHS = 20_000
SENSITIVITY_BOOT = 200
_FROM_ARGS = object()


# ----------------------------------------------------------------------------- what-ifs


def add_whatif_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--set FIELD=VALUE`` and ``--scale FIELD=FACTOR`` (each repeatable) to
    ``parser``; they land in ``args.set_changes`` / ``args.scale_changes`` (lists of str)."""
    group = parser.add_argument_group(
        "what-ifs",
        "change the priors without writing a scenario file: the fields, selectors and "
        "checks of scenario files' [[scenario.set]] / [[scenario.scale]] entries; all sets "
        "are applied first, then all scales; results are named '<priors>+what-if'",
    )
    group.add_argument(
        "--set",
        dest="set_changes",
        action="append",
        default=None,
        metavar="FIELD=VALUE",
        help="replace a field, VALUE a TOML value: --set settings.threshold=0.85, "
        "--set buyers.bytedance.persistence=0.5, --set 'settings.turning_point=\"year_end\"'",
    )
    group.add_argument(
        "--scale",
        dest="scale_changes",
        action="append",
        default=None,
        metavar="FIELD=FACTOR",
        help="multiply every number under a field: --scale buyers.*.increments_mw=0.8",
    )


def priors_from_args(args: argparse.Namespace, source: object = _FROM_ARGS):
    """The priors of ``source`` (default ``args.priors``; None: the study's) with the
    ``--set`` / ``--scale`` what-ifs of ``args`` applied. Raises PriorsError (one line,
    naming the ``--set`` text of a what-if that is refused)."""
    from mcsd.priors.changes import apply_changes, parse_change
    from mcsd.priors.loader import load_priors

    path: Any = getattr(args, "priors", None) if source is _FROM_ARGS else source
    sets = [parse_change("set", t) for t in getattr(args, "set_changes", None) or ()]
    scales = [parse_change("scale", t) for t in getattr(args, "scale_changes", None) or ()]
    if not sets and not scales:
        return load_priors(path)
    return apply_changes(path, sets, scales)


# ----------------------------------------------------------------------------- parsers


def _positive_int(text: str) -> int:
    from mcsd.engine.defaults import MAX_PATHS

    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if not 1 <= value <= MAX_PATHS:
        raise argparse.ArgumentTypeError(f"must be in 1..{MAX_PATHS:,}, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"must be in 0..1,000,000, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not -(2**63) <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be a 64-bit integer, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser, paths: int) -> None:
    parser.add_argument(
        "--paths", type=_positive_int, default=paths, help=f"path count (default {paths:,})"
    )
    parser.add_argument("--seed", type=_seed, default=DEFAULT_SEED, help="random seed")
    parser.add_argument("--threads", type=_positive_int, default=None, help="worker threads")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="RESULT.nc", help="also write the result"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="FILE",
        help="draw the figure to FILE (.png, .svg or .pdf)",
    )


def register(subparsers) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Add ``compare`` and ``sensitivity`` to an ``argparse`` subparsers object; return
    both subparsers."""
    compare = subparsers.add_parser(
        "compare",
        help="paired comparison of two priors (or of priors and a what-if)",
        description=(
            "Run priors A and B with common random numbers (same seed, draws keyed by item) "
            "and print, per region and year end, P(shortage) and P(turning point by then) "
            "of each, the difference B - A and its paired standard error. --set/--scale "
            "change B; without B, B is A with the what-ifs."
        ),
    )
    compare.add_argument("priors_a", metavar="A", help="priors TOML or built-in name")
    compare.add_argument(
        "priors_b", metavar="B", nargs="?", default=None, help="priors TOML (default: A)"
    )
    _common(compare, DEFAULT_PATHS)
    add_whatif_arguments(compare)
    compare.set_defaults(func=run_compare)

    sens = subparsers.add_parser(
        "sensitivity",
        help="which input groups drive shortage and timing (Sobol indices, tornado chart)",
        description=(
            "Grouped first-order and total Sobol indices of the year-end shortage and of "
            "the turning-point month per region, with 95% bootstrap intervals; --plot "
            "draws the tornado chart of one region."
        ),
    )
    sens.add_argument("priors", nargs="?", help="priors TOML (default: the study's, cic2025)")
    _common(sens, SENSITIVITY_PATHS)
    sens.add_argument(
        "--boot",
        type=_count,
        default=SENSITIVITY_BOOT,
        metavar="N",
        help=f"bootstrap resamples for the intervals (default {SENSITIVITY_BOOT}; 0: none)",
    )
    sens.add_argument(
        "--region", default=None, help="only this region in the table; the tornado's region"
    )
    sens.add_argument(
        "--year", type=int, default=None, help="the tornado's year end (default: the first)"
    )
    sens.add_argument(
        "--output",
        dest="tornado_output",
        choices=("shortage", "turning_month"),
        default="shortage",
        help="the tornado's output (default: shortage)",
    )
    add_whatif_arguments(sens)
    sens.set_defaults(func=run_sensitivity)
    return compare, sens


# ----------------------------------------------------------------------------- tables


def year_end_times(ds) -> list:
    """The time values at year ends (December months; the last month if there is none)."""
    import pandas as pd

    times = pd.DatetimeIndex(ds.time.values)
    picked = [t for t in times if t.month == 12] or [times[-1]]
    return list(picked)


def compare_table(ds, variable: str = "p_shortage"):
    """Per (region, year end): A, B, B - A, its paired and its unpaired standard error of
    ``variable`` (``p_shortage`` or ``turning_point_cdf``) from a ``compare`` Dataset."""
    import pandas as pd

    from mcsd.cli.text import safe

    times = year_end_times(ds)
    sub = ds.sel(time=times)
    columns = {
        "A": f"{variable}_a",
        "B": f"{variable}_b",
        "B - A": f"diff_{variable}",
        "paired SE": f"diff_{variable}_se",
        "unpaired SE": f"diff_{variable}_se_unpaired",
    }
    rows = []
    for region in sub.region.values:
        for t in times:
            cell = sub.sel(region=region, time=t)
            row = {"region": safe(region), "year": pd.Timestamp(t).year}
            row.update({k: float(cell[v]) for k, v in columns.items()})
            rows.append(row)
    return pd.DataFrame(rows).set_index(["region", "year"])


def sensitivity_table(sens, output: str = "shortage", region: str | None = None):
    """Per (region[, year], group): first-order index S and total index ST, with their 95%
    bootstrap bounds when ``sens`` has them, and whether the output has no variance there."""
    import pandas as pd

    from mcsd.cli.text import safe

    regions = [region] if region is not None else [str(r) for r in sens.region.values]
    years = [int(y) for y in sens.year.values] if output == "shortage" else [None]
    labels = (
        [str(v) for v in sens["group_label"].values]
        if "group_label" in sens
        else [str(g) for g in sens.group.values]
    )
    parts = [("S", "first_order"), ("ST", "total")]
    rows = []
    for r in regions:
        for y in years:
            sel = {"region": r} if y is None else {"region": r, "year": y}
            cell = sens.sel(sel)
            for k, label in enumerate(labels):
                row: dict[str, object] = {"region": safe(r)}
                if y is not None:
                    row["year"] = y
                row["group"] = label
                for short, key in parts:
                    name = f"{output}_{key}"
                    row[short] = float(cell[name].values[k])
                    if f"{name}_lo" in cell:
                        row[f"{short} lo"] = float(cell[f"{name}_lo"].values[k])
                        row[f"{short} hi"] = float(cell[f"{name}_hi"].values[k])
                row["no variance"] = bool(cell[f"{output}_no_variance"].values)
                rows.append(row)
    index = ["region", "group"] if output != "shortage" else ["region", "year", "group"]
    return pd.DataFrame(rows).set_index(index)


def _print_table(title: str, frame, digits: int) -> None:
    import pandas as pd

    print(title)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        # every row names its region and year (no blank, "sparsified" index cells)
        print(frame.to_string(float_format=lambda v: f"{v:.{digits}f}", sparsify=False))


# ----------------------------------------------------------------------------- handlers


def _error(prog: str, message: str) -> int:
    from mcsd.cli.text import safe

    line = " ".join(safe(message).split())
    try:
        print(f"{prog}: error: {line}", file=sys.stderr)
    except (OSError, ValueError):  # stderr gone too: nothing left to tell
        pass
    return 2


class _Refused(Exception):
    """A bad input or output: one line, exit 2."""


def _figure_format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise _Refused(f"--plot {path} must end in .png, .svg or .pdf")
    return fmt


def _check_outputs(args: argparse.Namespace, priors_list=()) -> None:
    """The output rules of :mod:`mcsd.cli.outputs` for --out and --plot (before any work)."""
    from mcsd.cli.outputs import OutputError, check_output, priors_chain

    inputs = [path for p in priors_list for path in priors_chain(p)]
    targets = [("--out", args.out), ("--plot", args.plot)]
    for option, path in targets:
        if path is None:
            continue
        if option == "--plot":
            _figure_format(path)
        try:
            check_output(path, inputs, atomic=True)
        except OutputError as err:
            raise _Refused(str(err).replace("--out", option)) from None
    if args.out is not None and args.plot is not None:
        if Path(args.out).resolve() == Path(args.plot).resolve():
            raise _Refused(f"--out and --plot name the same file: {args.out}")


def _write_result(ds, path: Path) -> None:
    from mcsd.cli.outputs import write_error
    from mcsd.results.io import write_netcdf

    try:
        write_netcdf(ds, path)
    except OSError as err:
        raise _Refused(write_error(path, err)) from None


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    from mcsd.cli.outputs import write_error
    from mcsd.plot import save_figure

    try:
        save_figure(fig, path, _figure_format(path))
    except OSError as err:
        raise _Refused(write_error(path, err)) from None
    finally:
        plt.close(fig)


def _use_agg() -> None:
    import matplotlib

    # A command line never needs a window: draw off-screen unless a backend is already set.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def difference_figure(ds, label_a: str, label_b: str):
    """``mcsd.plot.scenario_comparison(kind="difference")`` of a ``compare`` Dataset, its
    band the *paired* SE: scenario_comparison's band is sqrt(se_a**2 + se_b**2), so A is
    given SE 0 and B the paired SE of the difference."""
    import xarray as xr

    from mcsd.plot import scenario_comparison

    if label_a == label_b:
        label_a, label_b = f"{label_a} (A)", f"{label_b} (B)"
    a = xr.Dataset(
        {"p_shortage": ds["p_shortage_a"], "p_shortage_se": xr.zeros_like(ds["p_shortage_a"])}
    )
    b = xr.Dataset({"p_shortage": ds["p_shortage_b"], "p_shortage_se": ds["diff_p_shortage_se"]})
    a.attrs.update(ds.attrs)
    b.attrs.update(ds.attrs)
    return scenario_comparison({label_a: a, label_b: b}, kind="difference")


def _handle(prog: str, body, args: argparse.Namespace) -> int:
    from mcsd.priors.loader import PriorsError
    from mcsd.results.io import ResultFileError

    try:
        return body(args)
    except _Refused as err:
        return _error(prog, str(err))
    except (PriorsError, ResultFileError) as err:
        return _error(prog, str(err))
    except ValueError as err:  # the API's argument checks (regions differ, path limits)
        return _error(prog, str(err))


def run_compare(args: argparse.Namespace) -> int:
    """Run ``mcsd compare`` with parsed arguments; return the exit status."""
    return _handle("mcsd compare", _compare, args)


def _compare(args: argparse.Namespace) -> int:
    from mcsd.analysis.compare import compare
    from mcsd.cli.text import safe
    from mcsd.priors.loader import load_priors

    _check_outputs(args)  # folders, names, target kinds: before loading anything
    what_ifs = bool(args.set_changes or args.scale_changes)
    if args.priors_b is None and not what_ifs:
        raise _Refused("give priors B, or what-ifs (--set/--scale) that make B from A")
    pa = load_priors(args.priors_a)
    b_source = args.priors_a if args.priors_b is None else args.priors_b
    pb = priors_from_args(args, b_source)
    _check_outputs(args, [pa, pb])  # and not one of the priors' files
    ds = compare(pa, pb, n_paths=args.paths, seed=args.seed, threads=args.threads)
    if args.out is not None:
        _write_result(ds, args.out)
    if args.plot is not None:
        _use_agg()
        _save(difference_figure(ds, pa.name, pb.name), args.plot)
    n = int(ds.attrs["n_paths"])
    print(
        f"mcsd compare: B {safe(pb.name)} minus A {safe(pa.name)}, {n:,} paths, seed "
        f"{args.seed}, common random numbers (SE: paired, per-path joint counts)"
    )
    _print_table("P(shortage) at year end:", compare_table(ds, "p_shortage"), digits=4)
    _print_table("P(turning point by year end):", compare_table(ds, "turning_point_cdf"), digits=4)
    for path in (args.out, args.plot):
        if path is not None:
            print(f"wrote {safe(path)}")
    return 0


def run_sensitivity(args: argparse.Namespace) -> int:
    """Run ``mcsd sensitivity`` with parsed arguments; return the exit status."""
    return _handle("mcsd sensitivity", _sensitivity, args)


def _sensitivity(args: argparse.Namespace) -> int:
    from mcsd.analysis.sensitivity import sensitivity
    from mcsd.cli.text import safe
    from mcsd.results.dataset import region_names

    _check_outputs(args)
    priors = priors_from_args(args)
    _check_outputs(args, [priors])
    regions = list(region_names(priors))
    if args.region is not None and args.region not in regions:
        raise _Refused(
            f"--region {args.region} is not a region of {priors.name} ({', '.join(regions)})"
        )
    years = sorted({t.year for t in priors.month_ends if t.month == 12}) or [
        priors.month_ends[-1].year
    ]
    if args.year is not None and args.year not in years:
        raise _Refused(
            f"--year {args.year} is not a year end of the run ({', '.join(map(str, years))})"
        )
    sens = sensitivity(
        priors, n_paths=args.paths, seed=args.seed, n_boot=args.boot, threads=args.threads
    )
    if args.out is not None:
        _write_result(sens, args.out)
    if args.plot is not None:
        _use_agg()
        from mcsd.plot import tornado_chart

        fig = tornado_chart(
            sens,
            region=args.region or regions[-1],
            output=args.tornado_output,
            year=args.year,
        )
        _save(fig, args.plot)
    n = int(sens.attrs["n_paths"])
    print(
        f"mcsd sensitivity: priors {safe(priors.name)}, {n:,} paths x {int(sens.attrs['n_runs'])} "
        f"runs, seed {args.seed}, {args.boot} bootstrap resamples"
    )
    print("S: first-order Sobol index, ST: total (share of the output's variance)")
    _print_table(
        "shortage at year end (1{occupancy >= threshold}):",
        sensitivity_table(sens, "shortage", args.region),
        digits=3,
    )
    _print_table(
        "turning-point month (no turning point by the horizon: n_months + 1):",
        sensitivity_table(sens, "turning_month", args.region),
        digits=3,
    )
    for path in (args.out, args.plot):
        if path is not None:
            print(f"wrote {safe(path)}")
    return 0
