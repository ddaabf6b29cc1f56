"""``routing-agent``: parse the command line, then run one subcommand (imported on demand)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from feedback.prune_cli import add_prune_parser
from feedback.report_cli import add_report_parser
from feedback.serve import add_serve_parser
from simulator.flags import add_simulate_parser, add_sweep_parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; parsing it imports nothing heavy."""
    parser = _Parser(
        prog="routing-agent",
        description="Route prompts to LLMs: replay logs (simulate, sweep), serve the router "
        "(serve), report on a live one (report) and prune its old rows (prune).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_simulate_parser(sub)
    add_sweep_parser(sub)
    add_serve_parser(sub)
    add_report_parser(sub)
    add_prune_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``routing-agent``; a problem the user can fix is one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("simulate", "sweep"):
            from simulator import commands

            return int(getattr(commands, args.command)(args))
        return int(args.func(args))
    except (ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"routing-agent: error: {message}", file=sys.stderr)
        return 2
