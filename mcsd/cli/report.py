"""The ``mcsd report`` subcommand: one self-contained HTML report of a result file.

``mcsd report RESULT.nc [-o FILE]``

Writes :func:`mcsd.report.html_report` of the result (summary tables, fans per region, the
heat map, turning-point CDFs, provenance; the difference views of a comparison): one HTML
file with every figure embedded, that opens with no network. The default FILE is RESULT
with the suffix ``.html``, next to it. The output rules of ``mcsd run``
(``mcsd.cli.outputs``) hold, checked before anything is drawn: the folder must exist (never
created), an existing target must be a regular file and not the result file read. The
file is written atomically (a temporary file in its folder, renamed when complete): an
error, Ctrl-C or SIGTERM leaves an earlier report intact. Prints the path written.

Wire it into the main parser with ``register(subparsers)``; its ``func`` returns 0, or 2
after one ``mcsd report: error: ...`` line on stderr (never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROG = "mcsd report"


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to an ``argparse`` subparsers object and return it."""
    parser = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report (tables, figures, provenance) of a result",
        description=(
            "Write an HTML report of a result file (netCDF written by 'mcsd run'): the "
            "summary tables, occupancy fans per region, the P(shortage) heat map, the "
            "turning-point CDFs and the provenance; for a comparison the difference views. "
            "One file, figures embedded, no network needed to open it. Prints the path "
            "written."
        ),
    )
    parser.add_argument("result", type=Path, metavar="RESULT.nc", help="result file (netCDF)")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="the HTML file to write (default: RESULT with the suffix .html, next to it)",
    )
    parser.set_defaults(func=run_report)
    return parser


def _error(message: str) -> int:
    from mcsd.cli.text import error_line

    return error_line(PROG, message)


def default_output(result: Path) -> Path:
    """RESULT with its suffix replaced by ``.html`` (``run.nc`` -> ``run.html``)."""
    return result.with_suffix(".html") if result.suffix else result.with_name(result.name + ".html")


def run_report(args: argparse.Namespace) -> int:
    """Run ``mcsd report`` with parsed arguments; return the exit status."""
    import matplotlib

    # A command line never needs a window: draw off-screen unless a backend is already set.
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    from mcsd.cli.outputs import OutputError, check_output, write_error
    from mcsd.cli.text import safe
    from mcsd.report import write_report
    from mcsd.results.io import ResultFileError, read_result

    result = Path(args.result)
    out = Path(args.out) if args.out is not None else default_output(result)
    try:  # the output rules first: a bad -o costs no reading and no drawing
        check_output(out, [result], atomic=True)
    except OutputError as err:
        return _error(str(err))
    try:
        ds = read_result(result)
    except ResultFileError as err:
        return _error(str(err))
    try:  # the page is drawn (and the Dataset validated) before anything touches the disk
        write_report(ds, out)
    except OSError as err:
        return _error(write_error(out, err))
    except ValueError as err:
        return _error(str(err))
    print(safe(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m mcsd.cli.report``); ``mcsd report`` is the usual one."""
    from mcsd.cli.standalone import standalone

    return standalone(register, argv)


if __name__ == "__main__":
    raise SystemExit(main())
