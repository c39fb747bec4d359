"""The ``mcsd plot`` subcommand: figures from a result file written by ``mcsd run``.

``mcsd plot RESULT.nc [--kind fan|shortage|turning|all] [--out PATH] [--format png svg pdf]``

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
FIGURE_KINDS = ("fan", "shortage", "turning", "all")
FIGURE_FORMATS = ("png", "svg", "pdf")


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``plot`` subcommand to an ``argparse`` subparsers object and return it."""
    parser = subparsers.add_parser(
        "plot",
        help="draw fan charts, the shortage heat map or turning-point timing from a result",
        description=(
            "Draw figures from a result file (netCDF written by 'mcsd run'): occupancy fan "
            "charts per region, the probability-of-shortage heat map, and the turning-point "
            "timing. Prints the paths written."
        ),
    )
    parser.add_argument("result", type=Path, metavar="RESULT.nc", help="result file (netCDF)")
    parser.add_argument(
        "--kind",
        choices=FIGURE_KINDS,
        default="fan",
        help="which figure (default: fan); 'all' writes <stem>_fan, _shortage and _turning",
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
    parser.set_defaults(func=run_plot)
    return parser


def _error(message: str) -> int:
    from mcsd.cli.text import error_line

    return error_line(PROG, message)


def output_paths(out: Path, kind: str, formats: tuple[str, ...]) -> list[Path]:
    """The files ``mcsd.plot.save_figures(ds, kind, out, formats)`` writes, in its order
    (a ``.png``/``.svg``/``.pdf`` suffix of ``out`` is replaced by each format's)."""
    stem = out.with_suffix("") if out.suffix.lower().lstrip(".") in FIGURE_FORMATS else out
    kinds = [k for k in FIGURE_KINDS if k != "all"] if kind == "all" else [kind]
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
    from mcsd.plot import save_figures
    from mcsd.results.io import ResultFileError, read_result

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
        for path in output_paths(out, args.kind, formats):
            check_output(path, [result], atomic=True)
    except OutputError as err:
        return _error(str(err))
    try:
        paths = save_figures(ds, args.kind, out, formats=formats)
    except OSError as err:
        return _error(write_error(getattr(err, "filename", None) or out, err))
    except ValueError as err:
        return _error(str(err))
    for path in paths:
        print(safe(path))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m mcsd.cli.plot``); ``mcsd plot`` is the usual one."""
    parser = argparse.ArgumentParser(prog="mcsd")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
