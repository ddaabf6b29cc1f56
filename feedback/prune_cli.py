"""``routing-agent prune --older-than DURATION``: delete old decisions and feedback now.

What the service does every ``prune_interval`` seconds (:mod:`feedback.retention`), once, for
an operator: the router is rebuilt from the database (as a starting replica rebuilds it), a
snapshot stored, then the rows older than the span deleted in bounded batches. The database is
``--db``, else ``DATABASE_URL`` (and the service's other settings from ``--config`` and the
``ROUTING_AGENT_*`` variables, as for ``serve``).

>>> [parse_duration(t) for t in ("30d", "12h", "90m", "45s", "2w", "1.5h")]
[2592000.0, 43200.0, 5400.0, 45.0, 1209600.0, 5400.0]
>>> parse_duration("30")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: '30' is not a duration: give a number and a unit, e.g. 30d, 12h, \
90m, 45s or 2w
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from typing import Any

#: Seconds per unit of a duration.
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a positive number and a unit (s, m, h, d or w)."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give a number and a unit, e.g. 30d, 12h, 90m, 45s or 2w"
        )
    seconds = float(match.group(1)) * UNITS[match.group(2)]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: it must be more than 0")
    return seconds


def add_prune_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``prune`` on a CLI's subparsers; its handler is :func:`run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "prune",
        help="delete decisions and feedback older than a span (what the posterior learnt stays)",
        description="Delete decisions and feedback older than --older-than, after storing a "
        "snapshot that holds what they taught. The service does the same every "
        "ROUTING_AGENT_PRUNE_INTERVAL seconds with ROUTING_AGENT_RETENTION.",
    )
    parser.add_argument(
        "--older-than",
        metavar="DURATION",
        type=parse_duration,
        required=True,
        help="the span to keep, e.g. 30d, 48h, 2w (at least the decision TTL and the caps' "
        "windows)",
    )
    parser.add_argument(
        "--db", metavar="URL", help="database URL (default: $DATABASE_URL, else the service's)"
    )
    parser.add_argument("--config", metavar="FILE", help="the service's settings file")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Prune once; returns an exit code (2, with the reason, when refused)."""
    from feedback.monitoring.offline import offline_settings, rebuild_service
    from feedback.retention import prune
    from feedback.settings import check_retention

    try:
        settings = offline_settings(db=args.db, config=args.config)
        check_retention(settings, args.older_than, "--older-than")
        service = rebuild_service(settings)
    except ValueError as exc:
        print(f"routing-agent prune: error: {exc}", file=sys.stderr)
        return 2
    try:
        done = prune(service, older_than=args.older_than)
    finally:
        service.close()
        service.engine.dispose()
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(done.cutoff))
    rows = f"{done.feedback:,} feedback rows and {done.decisions:,} decisions"
    print(f"pruned {rows} from before {when}")
    return 0
