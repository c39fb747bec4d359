"""The ``mcsd export`` subcommand: tidy CSV or XLSX tables from a result file.

``mcsd export RESULT.nc (--csv DIR | --xlsx FILE) [--no-paths]``

Writes the tables of ``mcsd.to_frames`` (``mcsd.results.frames``): one long table per set
of dims (``region_time``, ``region_time_quantile``, ``region_year``, ...), the year-end
summary and the provenance table; with ``--csv`` one file per table in DIR
(``region_time.csv``, ..., ``summary_year_end.csv``, ``provenance.csv``), with ``--xlsx``
one workbook, a sheet per table. Per-path cubes of a ``keep_paths`` result are exported
too (``path_region_time``, ``path_region``) unless ``--no-paths``. XLSX needs the optional
package openpyxl (``pip install mcsd[xlsx]``).

The output rules of ``mcsd run`` (``mcsd.cli.outputs``) hold for every file, checked before
anything is written: DIR (or FILE's folder) must exist (never created), an existing target
must be a regular file and not the result file read. Each file is written atomically
(a temporary file in its folder, renamed when complete). Files of an earlier export that
this one does not write are left as they are. Wire it into the main parser with
``register(subparsers)``; its ``func`` returns 0, or 2 after one ``mcsd export: error: ...``
line on stderr.
"""

from __future__ import annotations

import argparse
from pathlib import Path

PROG = "mcsd export"
XLSX_MISSING = "--xlsx needs the optional package openpyxl: pip install mcsd[xlsx]"


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``export`` subcommand to an ``argparse`` subparsers object and return it."""
    parser = subparsers.add_parser(
        "export",
        help="write a result's tables as tidy CSV files or an XLSX workbook",
        description=(
            "Export a result file (netCDF written by 'mcsd run') as tidy long tables: one "
            "per set of dims (region x time, region x time x quantile, region x year, ...), "
            "a year-end summary and a provenance table (version, seed, paths, priors and "
            "their sha256, rule, threshold, units). Prints the paths written."
        ),
    )
    parser.add_argument("result", type=Path, metavar="RESULT.nc", help="result file (netCDF)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--csv",
        type=Path,
        metavar="DIR",
        help="write one CSV file per table into DIR (an existing folder)",
    )
    where.add_argument(
        "--xlsx",
        type=Path,
        metavar="FILE",
        help="write one XLSX workbook, a sheet per table (needs: pip install mcsd[xlsx])",
    )
    parser.add_argument(
        "--no-paths",
        dest="paths",
        action="store_false",
        help="leave out the per-path tables of a keep_paths result",
    )
    parser.set_defaults(func=run_export)
    return parser


def _error(message: str) -> int:
    from mcsd.cli.text import error_line

    return error_line(PROG, message)


def _check_folder(folder: Path) -> str | None:
    """Why ``--csv`` refuses ``folder`` (it must be an existing folder), or None."""
    from mcsd.cli.text import safe

    if not folder.exists():
        return f"--csv folder does not exist: {safe(folder)} (mcsd never creates folders)"
    if not folder.is_dir():
        return f"--csv {safe(folder)} is not a folder"
    return None


def _read(path: Path, read_result, error: type[Exception]):
    """``read_result(path)``; or, for a netCDF file written by ``mcsd compare`` or ``mcsd
    sensitivity`` (mcsd's provenance attributes, no ``mcsd_format`` marker, perhaps no
    time axis), that Dataset as it is. Anything else: ``read_result``'s refusal."""
    try:
        return read_result(path)
    except error as refused:
        import xarray as xr

        try:
            ds = xr.open_dataset(path, engine="h5netcdf").load()
        except Exception:  # noqa: BLE001 - not readable: read_result's message stands
            raise refused from None
        if "mcsd_format" in ds.attrs or "mcsd_version" not in ds.attrs:
            raise refused from None
        if not ds.dims or any(size == 0 for size in ds.sizes.values()):
            raise refused from None
        return ds


def run_export(args: argparse.Namespace) -> int:
    """Run ``mcsd export`` with parsed arguments; return the exit status."""
    from mcsd.results import frames as fr

    option = "--csv" if args.csv is not None else "--xlsx"
    if args.xlsx is not None:
        try:
            fr._openpyxl()
        except ImportError:
            return _error(XLSX_MISSING)
    if args.csv is not None and (why := _check_folder(Path(args.csv))) is not None:
        return _error(why)
    from mcsd.cli.outputs import OutputError, check_output, write_error
    from mcsd.cli.text import safe
    from mcsd.results.io import ResultFileError, read_result

    result = Path(args.result)
    try:
        ds = _read(result, read_result, ResultFileError)
    except ResultFileError as err:
        return _error(str(err))
    targets = fr.csv_paths(ds, args.csv, paths=args.paths) if args.csv is not None else [args.xlsx]
    try:
        for path in targets:
            check_output(path, [result], atomic=True)
        if args.xlsx is not None:
            fr.check_xlsx_rows(fr.table_rows(ds, paths=args.paths), "use --no-paths", "use --csv")
    except OutputError as err:
        text = str(err)
        return _error(option + text[len("--out") :] if text.startswith("--out") else text)
    except ValueError as err:
        return _error(f"--xlsx {safe(args.xlsx)}: {err}")
    written: list[Path] = []
    try:
        frames = fr.to_frames(ds, paths=args.paths)
        if args.csv is not None:
            written = fr.write_csv(frames, args.csv)
        else:
            written = [fr.write_xlsx(frames, args.xlsx)]
    except OSError as err:
        return _error(write_error(getattr(err, "filename", None) or targets[0], err))
    except (ValueError, TypeError) as err:
        return _error(str(err))
    for path in written:
        print(safe(path))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m mcsd.cli.export``); ``mcsd export`` is the usual one."""
    from mcsd.cli.standalone import standalone

    return standalone(register, argv)


if __name__ == "__main__":
    raise SystemExit(main())
