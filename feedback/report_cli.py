"""``routing-agent report --db URL --out DIR``: the monitoring report, offline from a database.

Writes ``report.json`` and ``report.html`` (the same as ``GET /report`` and ``/report.html``).
Register it on the main CLI with :func:`add_report_parser`; also ``python -m feedback.report_cli``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

DESCRIPTION = (
    "Write the monitoring report (report.json + report.html) from a routing-agent database: "
    "estimated regret, savings, off-policy policy values, traffic share, the posterior per "
    "cluster, feedback mix and drift alarms."
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="database URL, e.g. sqlite:///routing-agent.db (default: $DATABASE_URL)",
    )
    parser.add_argument("--out", metavar="DIR", required=True, help="output directory")
    parser.add_argument(
        "--config", metavar="FILE", help="the service's settings file (.toml or .json)"
    )


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` on a CLI's subparsers; its handler is :func:`run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report", help="write the monitoring report from a database", description=DESCRIPTION
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Build and write the report; returns an exit code (2 on a database without a pool)."""
    from feedback.monitoring.offline import offline_settings, report_from_db, write_report

    try:
        report = report_from_db(offline_settings(db=args.db, config=args.config))
    except ValueError as exc:
        print(f"routing-agent report: {exc}", file=sys.stderr)
        return 2
    js, page = write_report(args.out, report)
    d = report["decisions"]
    print(f"{d['total']:,} decisions; wrote {js} and {page}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routing-agent report", description=DESCRIPTION)
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
