"""One subcommand module run on its own (``python -m mcsd.cli.plot``, ...): the parser
with just that subcommand, as ``mcsd`` would build it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def standalone(register: Callable[[Any], object], argv: list[str] | None = None) -> int:
    """Parse ``argv`` with the subcommand ``register`` adds and run it; its exit code."""
    parser = argparse.ArgumentParser(prog="mcsd")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
