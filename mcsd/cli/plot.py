"""The ``mcsd plot`` subcommand: figures from a result file written by ``mcsd run``.

``mcsd plot RESULT.nc [--kind fan|shortage|turning|nowcast|all] [--out PATH] [--format png svg pdf]
[--region R ...] [--variable occupancy|demand|supply]`` (the last two for ``--kind nowcast``: a
result of ``mcsd run --observe FILE``, its prior against its nowcast)

Wire it into the main parser with ``register(subparsers)``; the subparser's default
``func`` is :func:`run_plot`, which returns the exit status (0, or 2 on bad input, after
one ``mcsd plot: error: ...`` line on stderr). Every figure file is written atomically
(``mcsd.plot.save_figure``): an error, Ctrl-C or SIGTERM while drawing leaves any earlier
file intact and no temporary file behind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "mcsd plot"
# The same tuples as mcsd.plot's; repeated so that building the parser does not import
# matplotlib (tests check they agree).
FIGURE_KINDS = ("fan", "shortage", "turning", "nowcast", "all")
FIGURE_FORMATS = ("png", "svg", "pdf")
NOWCAST_VARIABLES = ("occupancy", "demand", "supply")  # mcsd.plot.NOWCAST_VARIABLES' keys


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``plot`` subcommand to an ``argparse`` subparsers object and return it."""
    parser = subparsers.add_parser(
        "plot",
        help="draw fan charts, the shortage heat map or turning-point timing from a result",
        description=(
            "Draw figures from a result file (netCDF written by 'mcsd run'): occupancy fan "
            "charts per region, the probability-of-shortage heat map, the turning-point "
            "timing and, for a run with observations ('mcsd run --observe'), the prior "
            "against the nowcast. Prints the paths written."
        ),
    )
    parser.add_argument("result", type=Path, metavar="RESULT.nc", help="result file (netCDF)")
    parser.add_argument(
        "--kind",
        choices=FIGURE_KINDS,
        default="fan",
        help=(
            "which figure (default: fan); 'nowcast' draws the prior against the nowcast of a "
            "result of 'mcsd run --observe'; 'all' writes <stem>_fan, _shortage and _turning "
            "(and _nowcast for such a result)"
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="output path or stem (default: RESULT without its suffix, next to it)",
    )
    parser.add_argument(
        "--format",
        dest="formats",
        choices=FIGURE_FORMATS,
        nargs="+",
        action="extend",
        default=None,
        metavar="FMT",
        help="one or more of png, svg, pdf (default: png)",
    )
    parser.add_argument(
        "--region",
        dest="regions",
        nargs="+",
        action="extend",
        default=None,
        metavar="R",
        help=(
            "--kind nowcast: the region(s) to draw, one panel each (default: the regions "
            "with a measurement of the variable)"
        ),
    )
    parser.add_argument(
        "--variable",
        choices=NOWCAST_VARIABLES,
        default=None,
        help="--kind nowcast: occupancy (default), demand (served stock, MW) or supply (MW)",
    )
    parser.set_defaults(func=run_plot)
    return parser


def _error(message: str) -> int:
    from mcsd.cli.text import error_line

    return error_line(PROG, message)


def output_paths(
    out: Path, kind: str, formats: tuple[str, ...], nowcast: bool = False
) -> list[Path]:
    """The files ``mcsd.plot.save_figures(ds, kind, out, formats)`` writes, in its order
    (a ``.png``/``.svg``/``.pdf`` suffix of ``out`` is replaced by each format's);
    ``nowcast``: ``ds`` is a nowcast result (``kind="all"`` adds its nowcast figure)."""
    stem = out.with_suffix("") if out.suffix.lower().lstrip(".") in FIGURE_FORMATS else out
    if kind == "all":
        kinds = [k for k in FIGURE_KINDS if k != "all" and (nowcast or k != "nowcast")]
    else:
        kinds = [kind]
    paths = []
    for k in kinds:
        base = stem.with_name(f"{stem.name}_{k}") if kind == "all" else stem
        paths += [base.with_name(f"{base.name}.{fmt}") for fmt in formats]
    return paths


def run_plot(args: argparse.Namespace) -> int:
    """Run ``mcsd plot`` with parsed arguments; return the exit status."""
    import matplotlib

    # A command line never needs a window: draw off-screen unless a backend is already set.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    from mcsd.plot import is_nowcast_result, save_figures
    from mcsd.results.io import ResultFileError, read_result

    regions = getattr(args, "regions", None)
    variable = getattr(args, "variable", None)
    if args.kind != "nowcast" and (regions is not None or variable is not None):
        return _error(f"--region and --variable apply to --kind nowcast only, not {args.kind}")
    result = Path(args.result)
    try:
        ds = read_result(result)
    except ResultFileError as err:
        return _error(str(err))
    from mcsd.cli.outputs import OutputError, check_output, write_error
    from mcsd.cli.text import safe

    out = Path(args.out) if args.out is not None else result.with_suffix("")
    formats = tuple(dict.fromkeys(args.formats or ("png",)))
    # The same output rules as mcsd run (no folder is created; no input is overwritten;
    # written through a temporary file and renamed), checked for every file before any
    # figure is drawn.
    try:
        for path in output_paths(out, args.kind, formats, is_nowcast_result(ds)):
            check_output(path, [result], atomic=True)
    except OutputError as err:
        return _error(str(err))
    try:
        options = {} if args.kind != "nowcast" else {"region": regions, "variable": variable}
        paths = save_figures(ds, args.kind, out, formats=formats, **options)
    except OSError as err:
        return _error(write_error(getattr(err, "filename", None) or out, err))
    except ValueError as err:
        return _error(str(err))
    for path in paths:
        print(safe(path))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m mcsd.cli.plot``); ``mcsd plot`` is the usual one."""
    from mcsd.cli.standalone import standalone

    return standalone(register, argv)


if __name__ == "__main__":
    raise SystemExit(main())
