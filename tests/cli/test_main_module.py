"""``python -m mcsd``: the ``mcsd`` command as a module (mcsd/__main__.py)."""

from __future__ import annotations

import argparse
import subprocess
import sys

from mcsd.cli.main import build_parser

SUBCOMMANDS = {"run", "check", "plot", "compare", "sensitivity", "export", "report", "priors"}


def _subcommands() -> set[str]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(action.choices)


def test_parser_has_the_subcommands() -> None:
    assert _subcommands() == SUBCOMMANDS


def test_python_m_mcsd_help_exits_0_and_lists_the_subcommands() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mcsd", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("usage: mcsd ")
    usage = proc.stdout.split("\n\n")[0]  # argparse may wrap the usage over lines
    listed = usage[usage.index("{") + 1 : usage.index("}")].split(",")
    assert set(listed) == SUBCOMMANDS, usage
    for name in sorted(SUBCOMMANDS):  # each with its help line
        assert f"\n    {name} " in proc.stdout, name
