"""The ``routing-agent`` command line: ``simulate``, ``sweep``, ``serve`` and ``report``.

It sits above the packages it dispatches to and imports each subcommand's machinery only when
that subcommand runs, so ``routing-agent --help`` answers at once.
"""

from cli.main import build_parser, main

__all__ = ["build_parser", "main"]
