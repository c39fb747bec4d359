"""The ``mcsd`` command: ``main`` parses and dispatches; one module per command group."""

from mcsd.cli.main import main

__all__ = ["main"]
